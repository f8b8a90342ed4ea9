# On a fresh machine with Python 3.11:
#   make demo   - the main job on the bundled data
#   make test   - ruff, mypy and the whole test suite (both cores)
#   make quick  - ruff and the tests but the browser ones, stopping at the first failure
#   make notebook - JupyterLab over notebooks/ (installs the notebook extra)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test quick notebook lint bench clean

$(BIN)/isms-campaigns: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(BIN)/isms-campaigns
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

$(VENV)/.notebook: $(BIN)/isms-campaigns
	$(BIN)/python -m pip install --quiet -e ".[notebook]"
	touch $@

demo: $(BIN)/isms-campaigns
	$(BIN)/isms-campaigns demo

# Jupyter refuses root unless told (containers often run as root).
notebook: $(VENV)/.notebook
	cd notebooks && ../$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

test: $(VENV)/.dev
	$(BIN)/ruff check isms_campaigns tests benchmarks
	$(BIN)/ruff format --check isms_campaigns tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist worksteal

# The quick loop while working: no browser, stop at the first failure.
quick: $(VENV)/.dev
	$(BIN)/ruff check isms_campaigns tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist worksteal -x -q -m "not browser"

bench: $(BIN)/isms-campaigns
	$(BIN)/python benchmarks/plan.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

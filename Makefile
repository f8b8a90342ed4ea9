# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   - the main job on the bundled data
#   make test   - ruff, mypy and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/isms-campaigns: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(BIN)/isms-campaigns
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/isms-campaigns
	$(BIN)/isms-campaigns demo

test: $(VENV)/.dev
	$(BIN)/ruff check isms_campaigns tests benchmarks
	$(BIN)/ruff format --check isms_campaigns tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(BIN)/isms-campaigns
	$(BIN)/python benchmarks/plan.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

from __future__ import annotations

import doctest
import importlib

import pytest

import isms_campaigns as ic


def test_all_is_complete() -> None:
    # Its order is ruff's (RUF022), checked by the lint step.
    assert len(set(ic.__all__)) == len(ic.__all__)
    for name in ic.__all__:
        assert hasattr(ic, name), name


def test_errors_share_one_root() -> None:
    for error in (ic.ContactsError, ic.TemplateError, ic.PlanError, ic.GatewayError, ic.StoreError):
        assert issubclass(error, ic.IsmsError)


# Every module whose docstrings hold examples.
DOCUMENTED = (
    "_html", "analytics", "campaign", "compliance", "contacts", "dlr", "encoding", "errors",
    "formats", "money", "numbers", "optouts", "plots", "render", "report", "store", "variants",
)  # fmt: skip


@pytest.mark.parametrize("name", DOCUMENTED)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"isms_campaigns.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0

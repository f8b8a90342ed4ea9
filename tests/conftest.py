from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path

import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns import schedule

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


@pytest.fixture(autouse=True, scope="session")
def midday_in_malaysia() -> Iterator[None]:
    """The suite runs at any hour: a test not about the marketing window sends at
    midday Malaysian time (the clock still runs), module-scoped fixtures too.
    tests/test_schedule.py sets its own."""
    real = datetime.now(schedule.MALAYSIA)
    shift = datetime.combine(real.date(), time(12), schedule.MALAYSIA) - real
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule, "now", lambda: datetime.now(UTC) + shift)
        yield


@pytest.fixture
def sample_path() -> Path:
    return DATA / "sample_contacts.csv"


@pytest.fixture
def camp() -> ic.Campaign:
    """The sample list as campaign 'nov' (sending and panel tests)."""
    return ic.Campaign(  # compliance=None: the sample's counts as the tests know them
        "nov",
        ic.read_contacts(DATA / "sample_contacts.csv"),
        template="Hi %name%, order %order_id%",
        fallbacks={"name": "Customer"},
        compliance=None,
    )


@pytest.fixture
def contacts() -> pl.DataFrame:
    """A small list with one of each kind of row."""
    return pl.DataFrame(
        {
            "name": ["Ali", None, "陈伟明", "Siti", "Kumar", "  ", "Mary’s"],
            "phone": [
                "012-345 6789",
                "+60 13-222 3333",
                "0060145556666",
                "012-345 6789",  # repeat of the first
                "0123",
                "6019 777 8888",
                "016-888 9999",
            ],
            "order_id": ["A1", "A2", "A3", "A4", "A5", None, "A7"],
        }
    )

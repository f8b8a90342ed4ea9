"""The report's HTML against a snapshot checked into tests/snapshots/ (as great-tables does).

The page is normalised first: plotly.js and each figure's data (a script
block each) become ``<script>…</script>``, figure ids ``ID``, dates and times
``YYYY-MM-DD`` / ``HH:MM``; then one element a line, so a diff reads. The
store is built so that everything else is the same on every run: DLRs of
known status at known delays.

A change to the report shows as a failing diff; when the change is meant,
write the snapshot again and review it in ``git diff``::

    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_report_snapshot.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import polars as pl

import isms_campaigns as ic
from isms_campaigns.simulator import Simulator

from .conftest import DATA

SNAPSHOTS = Path(__file__).parent / "snapshots"


def normalised(page: str) -> str:
    page = re.sub(r"<script.*?</script>", "<script>…</script>", page, flags=re.S)
    page = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", page)
    page = re.sub(r"\d{4}-\d{2}-\d{2}", "YYYY-MM-DD", page)
    page = re.sub(r"\b\d{2}:\d{2}\b", "HH:MM", page)
    return re.sub(r"(</(?:tr|h1|h2|h3|p|dd|thead|table|div|details)>)(?!\n)", r"\1\n", page)


def check(name: str, page: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(page, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}: run with UPDATE_SNAPSHOTS=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert page == expected, f"the HTML differs from {path}: see the diff; UPDATE_SNAPSHOTS=1"


def snapshot_store() -> ic.Store:
    """The sample list and a refused campaign, their DLRs of known status and delay."""
    store, sim = ic.Store(), Simulator(first_sms_id=1_000_000)
    gw = sim.gateway()
    contacts = ic.read_contacts(DATA / "sample_contacts.csv")
    ic.Campaign("promo", contacts, template="Hi %name%, order %order_id% is ready").send(
        gw, store, progress=False
    )
    ic.Campaign("casino", contacts.head(12), template="Casino night, %name%").send(
        gw, store, progress=False
    )
    sent = store.sql(
        "select dstno, sms_id, submitted_at from messages "
        "where campaign = 'promo' and state = 'submitted' order by row"
    )
    pattern = ["DELIVERED"] * 12 + ["UNDELIVERED", "EXPIRED", "PENDING", None]
    statuses = [pattern[i % len(pattern)] for i in range(sent.height)]
    events = (
        sent.with_columns(
            dn_status=pl.Series(statuses, dtype=pl.String),
            time=pl.col("submitted_at") + pl.duration(seconds=pl.int_range(sent.height) % 7),
        )
        .filter(pl.col("dn_status").is_not_null())
        .select(msisdn="dstno", trx_id="sms_id", dn_status="dn_status", time="time")
    )
    store.import_dlr(events)
    return store


def test_the_report_html_matches_its_snapshot(tmp_path: Path) -> None:
    page = ic.write_report(snapshot_store(), tmp_path / "report.html", title="Snapshot")
    check("report.snapshot.html", normalised(page.read_text(encoding="utf-8")))


def test_the_snapshot_check_sees_a_change(tmp_path: Path) -> None:
    store = snapshot_store()
    page = ic.write_report(store, tmp_path / "report.html", title="Snapshot")
    text = normalised(page.read_text(encoding="utf-8"))
    assert text.count(' id="ID"') == 7  # every figure, its id normalised
    expected = (SNAPSHOTS / "report.snapshot.html").read_text(encoding="utf-8")
    assert normalised(text.replace("Undelivered", "Not delivered")) != expected

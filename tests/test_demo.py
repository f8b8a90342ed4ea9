"""The README's main command: ``isms-campaigns demo``, the whole flow on loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import isms_campaigns as ic
from isms_campaigns import cli
from isms_campaigns.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    """The demo as a user runs it: a process, in a folder outside the checkout."""
    out = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "COLUMNS": "120"}
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "isms_campaigns.cli", "demo", "--out", str(out)],
        cwd=out,  # no data/ here: the checkout's sample data is used
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return out, run.stdout, elapsed


def test_demo_plans_sends_receives_and_reports(demo: tuple[Path, str, float]) -> None:
    out, stdout, elapsed = demo
    assert elapsed < 60
    store_path, report_path = out / "campaigns.duckdb", out / "report.html"
    spool = out / cli.DEMO_SPOOL
    # The estimate first, as before anything is sent.
    assert "nothing has been sent" in stdout and "skipped: duplicate" in stdout
    assert re.search(r"Total: [\d,]+ messages, [\d,]+ credits", stdout)
    assert "Send report for 'demo': complete" in stdout
    # It says where its files are, with absolute paths, and what to do next.
    for path in (store_path, report_path):
        assert path.is_file() and f"{path}\n" in stdout
    assert f"{spool}{os.sep}" in stdout and any(spool.glob("dlr-*.jsonl"))
    assert report_path.as_uri() in stdout
    assert f"isms-campaigns report --store {store_path} --out {report_path}" in stdout
    assert "notebooks/" in stdout
    assert "/dlr/<token>" in stdout  # the receiver's URL, its secret token not shown

    with ic.Store(store_path) as store:
        states = dict(store.sql("select state, count(*) from messages group by state").rows())
        sendable = store.sql("select count(*) from messages where problem is null").item()
        assert states["submitted"] == sendable > 250 and states["skipped"] > 0
        assert set(states) == {"submitted", "skipped"}
        dlr = dict(
            store.sql(
                "select dlr_status, count(*) from messages where state = 'submitted' group by 1"
            ).rows()
        )
        assert dlr.get("DELIVERED", 0) > 0.7 * sendable and dlr.get("UNDELIVERED", 0) > 0
        assert dlr.get(None, 0) < 0.15 * sendable  # only those the simulator never reports
        received = int(re.search(r"The receiver got ([\d,]+) callbacks", stdout)[1])  # type: ignore[index]
        assert store.sql("select count(*) from dlr_events").item() == received > sendable
        assert store.sql("select count(*) from dlr_events where campaign is null").item() == 0
        charged = store.sql("select sum(credits_charged) from batches").item()
        assert (
            charged == store.sql("select sum(credits) from messages").item()
        )  # billed as estimated
        summary = ic.delivery_summary(store).row(0, named=True)

    # The figures printed and in the report are the store's.
    rate = f"{summary['delivery_rate'] * 100:.1f} %"
    row = re.search(r"│ demo .*│", stdout)
    assert row is not None
    cells = [c.strip() for c in row[0].strip("│").split("┆")]
    assert cells[:7] == [
        "demo",
        str(summary["messages"]),
        str(summary["skipped"]),
        str(summary["submitted"]),
        str(summary["delivered"]),
        str(summary["undelivered"]),
        str(summary["no_dlr"]),
    ]
    assert cells[7].startswith(rate + " (")
    assert "Delivery summary by original operator" in stdout and "│ Maxis " in stdout
    page = report_path.read_text(encoding="utf-8")
    for figure in ("submitted", "delivered", "undelivered", "no_dlr", "credits_estimated"):
        assert f'<td class="num">{summary[figure]}</td>' in page
    assert "plotly.js v" in page and "demo" in page


def test_the_demo_again_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "DEMO_DLR_DELAY", (0.0, 0.2))  # quicker, same flow
    args = ["demo", "--data", str(ROOT / "data"), "--out", str(tmp_path)]
    counts = []
    for _ in range(2):
        assert main(args) == 0
        capsys.readouterr()
        with ic.Store(tmp_path / "campaigns.duckdb") as store:
            counts.append(
                store.sql(
                    "select (select count(*) from messages where state = 'submitted'), "
                    "(select count(*) from dlr_events), "
                    "(select count(*) from dlr_events where campaign is null)"
                ).row(0)
            )
    (submitted, events, unmatched), again = counts
    assert submitted > 250 and events > submitted and unmatched == 0
    # A fresh store: not twice the messages, and no callbacks of the first run.
    assert again[0] == submitted and again[2] == 0 and again[1] < 2 * submitted
    assert len(list((tmp_path / cli.DEMO_SPOOL).glob("dlr-*.jsonl"))) == 1


def test_the_demo_never_replaces_a_store_of_real_campaigns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import polars as pl

    from isms_campaigns.simulator import Simulator

    store_path = tmp_path / "campaigns.duckdb"
    sim = Simulator()
    with (
        sim.gateway() as gw,
        ic.Store(store_path) as store,
    ):
        phones = pl.DataFrame({"phone": ["0123456789"]})
        ic.Campaign("nov-promo", phones, template="Hi").send(gw, store, progress=False)
    assert main(["demo", "--data", str(ROOT / "data"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {store_path} holds campaigns that are not the demo's")
    assert "--out" in err
    with ic.Store(store_path) as store:  # untouched
        assert store.sql("select campaign, submitted from campaigns").rows() == [("nov-promo", 1)]
    assert not (tmp_path / "report.html").exists()

"""Delivery-report import: every source, status precedence, idempotence, bad lines."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import isms_campaigns as ic
from isms_campaigns.dlr import DlrError, parse_lines
from isms_campaigns.simulator import Simulator


def sent(n: int = 3) -> tuple[ic.Store, list[tuple[str, str]]]:
    """A store with n submitted messages; returns (dstno, sms_id) of each."""
    sim, store = Simulator(), ic.Store()
    t = sim.transport()
    gw = ic.Gateway("demo", "demo", hosts=sim.hosts, transport=t, async_transport=t)
    phones = pl.DataFrame({"phone": [f"0123{i:06d}" for i in range(n)]})
    ic.Campaign("c", phones, template="Hi").send(gw, store, progress=False)
    return store, [(e.dstno, e.sms_id) for e in sim.ledger]


def log_line(msisdn: str, trx: str, status: str, stamp: str = "21/Nov/2026:10:00:00 +0000") -> str:
    query = f"msisdn={msisdn}&trx_id={trx}&dn_status={status}"
    return f'10.0.0.1 - - [{stamp}] "GET /dlr/tok?{query} HTTP/1.1" 200 2 "-" "iSMS"'


def statuses(store: ic.Store) -> dict[str, str | None]:
    rows = store.sql(
        "select sms_id, dlr_status from messages where sms_id is not null order by row"
    ).rows()
    return dict(rows)


def test_an_access_log_sets_status_class_and_time(tmp_path: Path) -> None:
    store, msgs = sent()
    (a, ida), (b, idb), _ = msgs
    log = tmp_path / "access.log"
    log.write_text(
        "\n".join(
            [
                log_line(a, ida, "DELIVERED", "21/Nov/2026:18:00:05 +0800"),
                log_line(b, idb, "undelivered"),
                '10.0.0.1 - - [21/Nov/2026:10:00:00 +0000] "GET /health HTTP/1.1" 200 2',
            ]
        )
        + "\n"
    )
    report = store.import_dlr(log)
    assert (report.read, report.new, report.ignored, report.malformed) == (2, 2, 1, 0)
    rows = store.sql(
        "select sms_id, dlr_status, dlr_class, dlr_at from messages order by row"
    ).rows()
    assert [r[1:3] for r in rows] == [
        ("DELIVERED", "delivered"),
        ("UNDELIVERED", "failed"),
        (None, None),
    ]
    assert rows[0][3].isoformat().startswith("2026-11-21T10:00:05")  # +0800 taken into account
    assert "delivered" in report._repr_html_() and "not that the handset" in report._repr_html_()


def test_callback_urls_csv_tsv_parquet_jsonl_and_a_frame(tmp_path: Path) -> None:
    store, msgs = sent(6)
    urls = tmp_path / "urls.txt"
    urls.write_text(
        f"https://app.example/dlr?msisdn={msgs[0][0]}&trx_id={msgs[0][1]}&dn_status=SENT\n"
    )
    frame = pl.DataFrame(
        {
            "msisdn": [m for m, _ in msgs[1:5]],
            "trx_id": [i for _, i in msgs[1:5]],
            "dn_status": ["DELIVERED", "ACCEPTED", "UNDELIVERED", "PENDING"],
            "time": ["2026-11-21 10:00:00"] * 4,
        }
    )
    frame[0].write_csv(tmp_path / "one.csv")
    frame[1].write_csv(tmp_path / "two.tsv", separator="\t")
    frame[2].write_parquet(tmp_path / "three.parquet")
    (tmp_path / "four.jsonl").write_text(json.dumps(frame.row(3, named=True)) + "\n")
    report = store.import_dlr(tmp_path)  # a folder: every file in it
    assert report.new == 5
    extra = pl.DataFrame(
        {"msisdn": [msgs[5][0]], "trx_id": [msgs[5][1]], "dn_status": ["delivered "]}
    )
    assert store.import_dlr(extra).new == 1
    assert list(statuses(store).values()) == [
        "SENT", "DELIVERED", "ACCEPTED", "UNDELIVERED", "PENDING", "DELIVERED"
    ]  # fmt: skip
    assert store.import_dlr(str(tmp_path / "*.csv")).new == 0  # a glob; already there


def test_a_final_status_never_goes_back_to_pending_and_the_latest_final_wins() -> None:
    store, msgs = sent(2)
    (a, ida), (b, idb) = msgs
    events = pl.DataFrame(
        {
            "msisdn": [a, a, a, b, b],
            "trx_id": [ida, ida, ida, idb, idb],
            "dn_status": ["UNDELIVERED", "DELIVERED", "PENDING", "DELIVERED", "PENDING"],
            "time": ["2026-11-21T10:00:00", "2026-11-21T10:05:00", "2026-11-21T10:09:00",
                     "2026-11-21T10:00:00", "2026-11-21T09:00:00"],
        }
    )  # fmt: skip
    store.import_dlr(events)
    assert statuses(store) == {ida: "DELIVERED", idb: "DELIVERED"}


@settings(max_examples=12, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 3))
def test_any_order_and_any_repeats_give_the_same_statuses(rng: random.Random, copies: int) -> None:
    store, msgs = sent(4)
    words = ["DELIVERED", "UNDELIVERED", "PENDING", "ACCEPTED", "EXPIRED"]
    base = [
        (dstno, sms_id, rng.choice(words), f"2026-11-21T10:{rng.randrange(3):02d}:00")
        for dstno, sms_id in msgs
        for _ in range(3)
    ]
    expected_store, _ = sent(4)
    expected_store.import_dlr(_frame(base))
    shuffled = base * copies
    rng.shuffle(shuffled)
    for start in range(0, len(shuffled), 5):  # arriving in several imports
        store.import_dlr(_frame(shuffled[start : start + 5]))
    assert statuses(store) == statuses(expected_store)


def _frame(events: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(events, schema=["msisdn", "trx_id", "dn_status", "time"], orient="row")


def test_reimport_adds_nothing_and_a_growing_log_adds_only_new_lines(tmp_path: Path) -> None:
    store, msgs = sent(3)
    last = log_line(msgs[1][0], msgs[1][1], "DELIVERED")
    log = tmp_path / "dlr.log"
    log.write_text(log_line(msgs[0][0], msgs[0][1], "PENDING") + "\n")
    assert store.import_dlr(log).new == 1
    again = store.import_dlr(log)
    assert (again.read, again.new) == (0, 0)  # nothing new since the last import
    with log.open("a") as handle:
        handle.write(
            log_line(msgs[0][0], msgs[0][1], "DELIVERED", "21/Nov/2026:10:01:00 +0000") + "\n"
        )
        handle.write(last[:40])  # a line still being written
    grown = store.import_dlr(log)
    assert (grown.read, grown.new) == (1, 1)
    with log.open("a") as handle:
        handle.write(last[40:] + "\n")
    assert store.import_dlr(log).new == 1
    assert statuses(store)[msgs[1][1]] == "DELIVERED"
    fresh = ic.Store()  # and a store that never saw it reads it whole
    assert fresh.import_dlr(log).read == 3


def test_malformed_lines_are_counted_with_file_and_line_numbers(tmp_path: Path) -> None:
    store, msgs = sent(1)
    log = tmp_path / "bad.log"
    log.write_text(
        "\n".join(
            [
                log_line(msgs[0][0], msgs[0][1], "DELIVERED"),
                "GET /dlr?msisdn=60123&dn_status=DELIVERED",
                "GET /dlr?msisdn=60123&trx_id=99&dn_status=",
                "",
            ]
        )
        + "\n"
    )
    report = store.import_dlr(log)
    assert (report.new, report.malformed, report.ignored) == (1, 2, 1)
    assert report.malformed_examples[0].startswith(f"{log}:2: no trx_id")
    assert report.malformed_examples[1].startswith(f"{log}:3: no dn_status")
    assert "could not be read" in str(report)


def test_unmatched_and_mismatched_events_are_kept_and_reported() -> None:
    store, msgs = sent(1)
    events = pl.DataFrame(
        {
            "msisdn": ["60111111111", "60199999999"],
            "trx_id": [msgs[0][1], "424242"],
            "dn_status": ["DELIVERED", "DELIVERED"],
        }
    )
    report = store.import_dlr(events)
    assert (report.new, report.unmatched, report.msisdn_mismatch) == (2, 1, 1)
    kept = store.sql("select trx_id, campaign, msisdn_matches from dlr_events order by trx_id")
    assert kept.rows() == [(msgs[0][1], "c", False), ("424242", None, None)]


def test_sources_that_cannot_be_read_say_why(tmp_path: Path) -> None:
    store = ic.Store()
    with pytest.raises(DlrError, match="No file matches"):
        store.import_dlr(tmp_path / "nothing-*.log")
    (tmp_path / "x.csv").write_text("phone,status\n1,2\n")
    with pytest.raises(DlrError, match="no column msisdn, trx_id, dn_status"):
        store.import_dlr(tmp_path / "x.csv")


def test_query_values_are_decoded_and_cleaned() -> None:
    lines = pl.Series(["/dlr?msisdn=%2B601-2345+6789&trx_id=%2012&dn_status=+Delivered+"])
    row = parse_lines(lines).select("msisdn", "trx_id", "dn_status").row(0)
    assert row == ("60123456789", "12", "DELIVERED")


def test_reports_after_an_ambiguous_request_settle_it_as_sent(tmp_path: Path) -> None:
    """Chunk 0 reached the gateway but its answer was lost; chunk 1 never did."""
    sim, store = Simulator(), ic.Store()
    transport = sim.transport()
    faults = iter(["drop-after", "5xx"])

    class OneFaultPerRequest(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sim.set_fault(0, next(faults, "ok"))
            return await transport.handle_async_request(request)

    gw = ic.Gateway(
        "demo", "demo", hosts=sim.hosts, transport=transport, async_transport=OneFaultPerRequest()
    )
    phones = pl.DataFrame({"phone": [f"0123{i:06d}" for i in range(100)]})
    camp = ic.Campaign("c", phones, template="Hi")
    first = camp.send(gw, store, progress=False, concurrency=1)
    assert first.unknown_chunks == [0, 1] and len(sim.ledger) == 50
    # Reports for 40 of chunk 0's recipients, plus an older report for a
    # chunk 1 recipient (another campaign's): that one is no evidence.
    chunk1 = store.sql("select dstno from messages where chunk = 1 limit 1").item()
    log = tmp_path / "dlr.log"
    lines = [
        log_line(e.dstno, e.sms_id, "DELIVERED", "01/Jan/2099:00:00:00 +0000")
        for e in sim.ledger[:40]
    ]
    lines.append(log_line(chunk1, "999", "DELIVERED", "01/Jan/2020:00:00:00 +0000"))
    log.write_text("\n".join(lines) + "\n")
    assert store.import_dlr(log).unmatched == 41  # nobody knows those sms_ids yet

    again = camp.send(gw, store, progress=False)
    assert any("reached the gateway (40 messages)" in n for n in again.notes)

    settled = store.resolve_unknown("c", resend=True)
    assert settled.select("chunk", "messages", "with_dlr", "settled_as").rows() == [
        (0, 50, 40, "sent (DLR evidence)"),
        (1, 50, 0, "resend"),
    ]
    states = dict(
        store.sql("select state, count(*) from messages where chunk = 0 group by state").rows()
    )
    assert states == {"submitted": 40, "unknown": 10}
    ids = dict(store.sql("select dstno, sms_id from messages where sms_id is not null").rows())
    assert ids == {e.dstno: e.sms_id for e in sim.ledger[:40]}
    assert store.sql("select count(*) from messages where dlr_status = 'DELIVERED'").item() == 40

    final = camp.send(gw, store, progress=False)  # chunk 1 goes out; chunk 0 never again
    assert final.submitted_now == 50 and final.unknown_chunks == []
    assert len(sim.ledger) == 100 and len({e.dstno for e in sim.ledger}) == 100

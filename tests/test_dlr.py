"""Delivery-report import: every source, status precedence, idempotence, bad lines."""

from __future__ import annotations

import gzip
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import isms_campaigns as ic
from isms_campaigns.dlr import DlrError, parse_lines
from isms_campaigns.simulator import Simulator

from .test_store import back_to_before


def sent(n: int = 3) -> tuple[ic.Store, list[tuple[str, str]]]:
    """A store with n submitted messages; returns (dstno, sms_id) of each."""
    sim, store = Simulator(), ic.Store()
    gw = sim.gateway()
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
    soon = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    lines = [log_line(e.dstno, e.sms_id, "DELIVERED", soon) for e in sim.ledger[:40]]
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


# ---------------------------------------------------------------------------
# Nothing the gateway sends is lost, nothing imported is skipped
# ---------------------------------------------------------------------------


def _log(
    path: Path, events: list[tuple[str, str]], stamp: str = "21/Nov/2026:10:00:00 +0000"
) -> None:
    path.write_text("".join(log_line(m, t, "DELIVERED", stamp) + "\n" for m, t in events))


def test_a_log_of_the_same_name_in_another_folder_is_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, msgs = sent(6)
    for folder, part in (("a", msgs[:2]), ("b", msgs[2:])):
        (tmp_path / folder).mkdir()
        _log(tmp_path / folder / "access.log", part)
    monkeypatch.chdir(tmp_path / "a")
    assert store.import_dlr("access.log").new == 2
    monkeypatch.chdir(tmp_path / "b")  # the same name as typed, another file
    report = store.import_dlr("access.log")
    assert (report.read, report.new) == (4, 4)
    assert all(s == "DELIVERED" for s in statuses(store).values())


def test_a_log_truncated_and_refilled_or_replaced_is_read_from_the_start(tmp_path: Path) -> None:
    store, msgs = sent(12)
    log = tmp_path / "access.log"
    _log(log, msgs[:3])
    assert store.import_dlr(log).new == 3
    # Truncated in place (same inode), refilled past the old offset.
    with log.open("w") as handle:
        handle.write("".join(log_line(m, t, "UNDELIVERED") + "\n" for m, t in msgs[3:9]))
    refilled = store.import_dlr(log)
    assert (refilled.read, refilled.new) == (6, 6)
    assert any("rewritten since the last import" in r for r in refilled.restarted)
    assert "read from the start" in str(refilled)
    # Rotated: renamed away and a new, shorter file at the same path.
    log.rename(tmp_path / "access.log.1")
    _log(log, msgs[9:])
    replaced = store.import_dlr(log)
    assert (replaced.read, replaced.new) == (3, 3)
    assert any("replaced" in r for r in replaced.restarted)
    assert sum(s is not None for s in statuses(store).values()) == 12


def test_a_last_line_without_a_newline_is_held_back_then_imported_once(tmp_path: Path) -> None:
    store, msgs = sent(2)
    log = tmp_path / "access.log"
    log.write_text(log_line(*msgs[0], "DELIVERED") + "\n" + log_line(*msgs[1], "DELIVERED"))
    fresh = store.import_dlr(log)  # just written: the writer may not be done with it
    assert (fresh.read, fresh.held_back) == (1, 1)
    assert "held back" in str(fresh)
    settled = time.time() - 60
    os.utime(log, (settled, settled))  # quiet for a minute: the writer is done
    done = store.import_dlr(log)
    assert (done.read, done.new, done.held_back) == (1, 1, 0)
    again = store.import_dlr(log)
    assert (again.read, again.new, again.malformed) == (0, 0, 0)
    with log.open("a") as handle:  # a writer that adds the newline later adds no line
        handle.write("\n")
    assert store.import_dlr(log).read == 0


def test_rotated_gz_logs_are_read_once(tmp_path: Path) -> None:
    store, msgs = sent(4)
    text = "".join(log_line(m, t, "DELIVERED") + "\n" for m, t in msgs)
    (tmp_path / "access.log.2.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "broken.log.gz").write_bytes(b"\x1f\x8b not really gzip")
    report = store.import_dlr(tmp_path)
    assert (report.read, report.new) == (4, 4)
    assert report.malformed == 1 and "cannot decompress" in str(report)
    assert store.import_dlr(tmp_path / "access.log.2.gz").read == 0


def test_unreadable_and_implausible_times_are_malformed_never_a_status(tmp_path: Path) -> None:
    store, msgs = sent(5)
    jsonl = tmp_path / "export.jsonl"
    rows = [
        {"msisdn": msgs[0][0], "trx_id": msgs[0][1], "dn_status": "DELIVERED",
         "received_at": "9999-12-31"},  # the "no date" placeholder
        {"msisdn": msgs[1][0], "trx_id": msgs[1][1], "dn_status": "DELIVERED",
         "received_at": "yesterday noon"},
        {"msisdn": msgs[2][0], "trx_id": msgs[2][1], "dn_status": "DELIVERED",
         "received_at": "1970-01-01T00:00:00Z"},
        {"msisdn": msgs[3][0], "trx_id": None, "dn_status": "DELIVERED"},
        {"msisdn": msgs[4][0], "trx_id": msgs[4][1], "dn_status": None},
    ]  # fmt: skip
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = store.import_dlr(jsonl)
    assert (report.read, report.malformed) == (0, 5)
    text = str(report)
    assert f"{jsonl}:1: implausible time 9999-12-31" in text
    assert f"{jsonl}:2: unreadable time yesterday noon" in text
    assert f"{jsonl}:3: implausible time 1970-01-01" in text
    assert f"{jsonl}:4: no trx_id" in text and f"{jsonl}:5: no dn_status" in text
    assert all(s is None for s in statuses(store).values())
    # A report far in the future is no status either; a CSV time too.
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    late = store.import_dlr(_frame([(*msgs[0], "DELIVERED", future)]))
    assert (late.read, late.malformed) == (0, 1)


def test_naive_times_are_malaysian_by_default(tmp_path: Path) -> None:
    store, msgs = sent(1)
    store.import_dlr(_frame([(*msgs[0], "DELIVERED", "2026-11-21 18:00:05")]))
    (at,) = store.sql("select dlr_at from messages").row(0)
    assert at == datetime(2026, 11, 21, 10, 0, 5, tzinfo=UTC)
    other, msgs = sent(1)
    other.import_dlr(_frame([(*msgs[0], "DELIVERED", "2026-11-21 18:00:05")]), time_zone="UTC")
    assert other.sql("select dlr_at from messages").item() == datetime(
        2026, 11, 21, 18, 0, 5, tzinfo=UTC
    )


def test_the_report_tells_stored_from_repeated_and_names_paths(tmp_path: Path) -> None:
    store, msgs = sent(3)
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    _log(first, msgs[:2])
    assert store.import_dlr(first).new == 2
    _log(second, [msgs[1], msgs[2], msgs[2]])  # one stored before, one twice in the file
    report = store.import_dlr([first, second])
    assert (report.read, report.new, report.already_stored, report.repeated) == (3, 1, 1, 1)
    assert report.source == f"{first}, {second}"
    assert "1 new, 1 already in the store, 1 repeated in these files" in str(report)


_NOW = datetime.now(UTC)
_HOSTILE_TIMES = [
    None,
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2000, 1, 1, tzinfo=UTC),
    _NOW - timedelta(days=400),
    _NOW,
    _NOW + timedelta(hours=23),
    _NOW + timedelta(days=2),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
]
_HOSTILE_WORDS = ["DELIVERED", "PENDING", "UNDELIVERED", "ACCEPTED / SENT", "", " ", "NULL",
                  "ñ" * 300, "<script>alert(1)</script>", "EXPIRED"]  # fmt: skip


@settings(max_examples=8, deadline=None)  # each one writes a whole report
@example(events=[(0, "DELIVERED", _HOSTILE_TIMES[-1], None), (1, "ñ" * 300, None, "abc")])
@given(
    events=st.lists(
        st.tuples(
            st.integers(0, 9),  # which message (or an unknown trx_id for 8, 9)
            st.sampled_from(_HOSTILE_WORDS),
            st.sampled_from(_HOSTILE_TIMES),
            st.sampled_from([None, "", "abc", "6012-3456789", "+60123456789"]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_no_stored_event_value_can_crash_a_summary_plot_or_report(
    tmp_path_factory: pytest.TempPathFactory,
    events: list[tuple[int, str, datetime | None, str | None]],
) -> None:
    """Events as a store written before the import judged times may hold them: the
    next open takes the implausible ones out of every status; every read works."""
    from isms_campaigns import analytics, plots

    path = tmp_path_factory.mktemp("hostile") / "s.duckdb"
    with ic.Store(path) as store:
        _, msgs = _sent_into(store, 8)
        rows = [
            (msisdn, msgs[i][1] if i < 8 else f"x{i}", word, at, _NOW, "old", n)
            for n, (i, word, at, msisdn) in enumerate(events)
        ]
        store.connection.executemany("insert into ic_dlr_events values (?, ?, ?, ?, ?, ?, ?)", rows)
        back_to_before(store.connection, 7)
    with ic.Store(path) as store:  # opened by this version: upgraded, statuses rebuilt
        at = store.sql("select dlr_at from messages where dlr_at is not null")["dlr_at"]
        assert all(datetime(2000, 1, 1, tzinfo=UTC) <= t <= _NOW + timedelta(days=1) for t in at)
        for by in analytics.DIMENSIONS:
            summary = analytics.delivery_summary(store, by=by)
            classes = summary.select(
                pl.sum_horizontal("delivered", "undelivered", "pending", "other_dlr", "no_dlr")
            )
            assert classes.to_series().to_list() == summary["submitted"].to_list()
        plots.time_to_dlr_figure(analytics.dlr_delays(store))
        plots.dlr_arrivals_figure(analytics.dlr_arrival_counts(store))
        plots.failure_codes_figure(analytics.failure_reasons(store))
        ic.write_report(store, path.parent / "report.html")
        assert (path.parent / "report.html").stat().st_size > 10_000


def _sent_into(store: ic.Store, n: int) -> tuple[ic.Store, list[tuple[str, str]]]:
    sim = Simulator()
    gw = sim.gateway()
    phones = pl.DataFrame({"phone": [f"0123{i:06d}" for i in range(n)]})
    ic.Campaign("c", phones, template="Hi").send(gw, store, progress=False)
    return store, [(e.dstno, e.sms_id) for e in sim.ledger]


def test_the_specs_accepted_or_sent_wording_counts_as_delivered() -> None:
    store, msgs = sent(2)
    store.import_dlr(
        pl.DataFrame(
            {
                "msisdn": ["6012-3000000", "+60123000001"],  # as the spec's example writes it
                "trx_id": [msgs[0][1], msgs[1][1]],
                "dn_status": ["accepted / sent", "SENT/ACCEPTED"],
            }
        )
    )
    assert store.sql("select distinct dlr_class from messages").item() == "delivered"
    assert ic.delivery_summary(store)["delivered"].item() == 2


def test_short_offsets_and_numeric_json_times_are_read_or_reported(tmp_path: Path) -> None:
    """Found by a user's files: PostgreSQL writes ``+08``; a JSON time may be a number."""
    store, msgs = sent(4)
    csv = tmp_path / "export.csv"
    csv.write_text(
        "msisdn,trx_id,dn_status,time\n"
        f"{msgs[0][0]},{msgs[0][1]},DELIVERED,2026-11-21 10:00:00+08\n"
        f"{msgs[1][0]},{msgs[1][1]},DELIVERED,2026-11-21 10:00:00+8\n"
    )
    report = store.import_dlr(csv)  # one odd time must not sink the file
    assert (report.read, report.malformed) == (1, 1)
    assert f"{csv}:3: unreadable time 2026-11-21 10:00:00+8" in str(report)
    log = tmp_path / "lines.log"
    numeric = {"msisdn": msgs[3][0], "trx_id": msgs[3][1], "dn_status": "DELIVERED"}
    numeric["received_at"] = 1763700000  # type: ignore[assignment]
    query = f"msisdn={msgs[2][0]}&trx_id={msgs[2][1]}&dn_status=DELIVERED"
    log.write_text(f"2026-11-21 10:00:00-05 https://x/dlr?{query}\n{json.dumps(numeric)}\n")
    report = store.import_dlr(log)
    assert (report.read, report.malformed) == (1, 1)
    assert "unreadable time 1763700000" in str(report)
    at = dict(store.sql("select sms_id, dlr_at from messages where dlr_at is not null").rows())
    assert at == {
        msgs[0][1]: datetime(2026, 11, 21, 2, 0, tzinfo=UTC),  # +08
        msgs[2][1]: datetime(2026, 11, 21, 15, 0, tzinfo=UTC),  # -05, not Malaysian time
    }

"""Benchmark: import 1,000,000 access-log lines of delivery reports vs a naive loop.

    .venv/bin/python benchmarks/dlr.py [--lines 1000000] [--naive 20000]

Setup (not timed): a store file holding 1,000,000 submitted messages, written
straight into its tables, and an nginx-style access log with one line per
event: ~10 % of messages report PENDING first, every message a final status
(DELIVERED, UNDELIVERED, ACCEPTED), ~5 % of finals repeated, shuffled so
events arrive out of order, until the log has ``--lines`` lines.

Timed: ``store.import_dlr(log)``, end to end (reading, parsing, keys,
de-duplication, the durable insert). The naive way, in the same run on a
sample: a Python loop over lines with a regex each and one parameterised
INSERT per line into a DuckDB table, as integrations usually write it.
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from pathlib import Path

import duckdb

import isms_campaigns as ic

FIRST_ID = 1_143_007_207


def setup_store(path: Path, messages: int) -> None:
    with ic.Store(path) as store:
        con = store.connection  # setup only: the benchmark times the import, not this
        con.execute(
            """
            insert into ic_campaigns (campaign, kind, created_at, rows, sendable,
                                      credits_estimated)
            values ('bench', 'campaign', now(), ?, ?, ?)
            """,
            [messages, messages, messages],
        )
        con.execute(
            """
            insert into ic_messages (campaign, row, dstno, msg, type, parts, credits, chunk)
            select 'bench', range, '6012' || lpad(range::varchar, 7, '0'), 'Hi', 1, 1, 1,
                   range // 50
            from range(?)
            """,
            [messages],
        )
        con.execute(
            """
            insert into ic_sends (seq, request, kind, campaign, chunk, recorded_at, row, dstno,
                                  code, sms_id)
            select range + 1, 0, 'result', 'bench', range // 50, now(), range,
                   '6012' || lpad(range::varchar, 7, '0'), 2000, (? + range)::varchar
            from range(?)
            """,
            [FIRST_ID, messages],
        )


def write_log(path: Path, lines: int, rng: random.Random) -> int:
    """Events for as many messages as fit in ``lines``; returns how many messages."""
    events: list[tuple[int, str]] = []
    n = 0
    finals = ["DELIVERED"] * 86 + ["UNDELIVERED"] * 6 + ["ACCEPTED"] * 8
    while len(events) < lines:
        if rng.random() < 0.10:
            events.append((n, "PENDING"))
        final = rng.choice(finals)
        events.append((n, final))
        if rng.random() < 0.05:
            events.append((n, final))
        n += 1
    events = events[:lines]
    rng.shuffle(events)
    with path.open("w", encoding="utf-8") as handle:
        for i, (m, status) in enumerate(events):
            second = i * 86_400 // lines
            stamp = f"21/Nov/2026:{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
            handle.write(
                f'203.0.113.9 - - [{stamp} +0800] "GET /dlr/tok?msisdn=6012{m:07d}'
                f'&trx_id={FIRST_ID + m}&dn_status={status} HTTP/1.1" 200 2 "-" "iSMS"\n'
            )
    return n


def naive(log: Path, sample: int) -> float:
    pattern = re.compile(r"msisdn=([^&\s]*)&trx_id=([^&\s]*)&dn_status=([^&\s]*)")
    con = duckdb.connect()
    con.execute("create table dlr (msisdn varchar, trx_id varchar, dn_status varchar)")
    started = time.perf_counter()
    with log.open(encoding="utf-8") as handle:
        for count, line in enumerate(handle):
            if count == sample:
                break
            m = pattern.search(line)
            if m:
                con.execute("insert into dlr values (?, ?, ?)", [m[1], m[2], m[3].upper()])
    return (time.perf_counter() - started) / sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--naive", type=int, default=20_000, help="naive sample size")
    args = parser.parse_args()
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = folder / "access.log"
        messages = write_log(log, args.lines, rng)
        setup_store(folder / "store.duckdb", max(messages, args.lines))
        with ic.Store(folder / "store.duckdb") as store:
            started = time.perf_counter()
            report = store.import_dlr(log)
            elapsed = time.perf_counter() - started
            final = store.sql("select dlr_class, count(*) as n from messages group by all")
        assert report.read == args.lines and report.malformed == 0, report
        assert report.unmatched == 0, report
        per_line = naive(log, args.naive)
    print(repr(report))
    print(dict(final.iter_rows()))
    print(
        f"import_dlr: {args.lines:,} lines in {elapsed:.2f} s = {args.lines / elapsed:,.0f} "
        f"lines/s (target: the million in 5 s or less)"
    )
    print(f"naive loop with one INSERT per line: {1 / per_line:,.0f} lines/s "
          f"(sample of {args.naive:,})")  # fmt: skip
    print(f"ratio: {per_line * args.lines / elapsed:.0f}x")


if __name__ == "__main__":
    main()

"""Benchmark: the reads of a big store (issue 12's targets), each in a fresh process.

    .venv/bin/python benchmarks/store.py [--messages 10000000] [--campaigns 100]
        [--store big.duckdb] [--only campaigns summary-one …] [--runs 3]

Setup (not timed): :func:`bulk_load` writes a store of ``--messages``
messages in ``--campaigns`` campaigns of equal size straight into the
store's tables, in the shape the sender and the importer leave them:

- every campaign one plan version, 1 % of its rows skipped (invalid
  number), the rest in 50-number chunks, each chunk a request that went
  ``in_flight`` then ``sent`` an hour apart per campaign;
- per message one result row: 2000 with an sms_id (97 %) or -1008, each
  round's results recorded at one moment to the microsecond (as a send
  records them), delivery reports at whole seconds (as a log has them), so
  delays are as distinct as real ones;
- delivery reports for the submitted ones: 86 % DELIVERED, 6 %
  UNDELIVERED, 3 % ACCEPTED, 5 % none; 10 % report PENDING first and 5 %
  repeat their final status (about 1.1 reports per message);
- operators by prefix (Maxis, CelcomDigi, U Mobile) and an access log of
  1,000,000 *new* lines (reports for the newest campaigns' messages, at new
  times) for the import read.

The loader writes the append-only logs only and then calls
``store.rebuild()``, which derives the current-state tables from them, as
an upgrade from an older store does. ``--store PATH`` keeps the store (and
reuses it when it exists). Each read runs in a child process (its own peak RSS, no warm
cache from another read), ``--runs`` times; the best time is printed beside
the issue's target. The import read works on a fresh copy of the store each
run. The naive way, in the same run: the ``campaigns`` view and the summary
by campaign with every campaign marked not current (in a transaction never
committed), so each message's state is derived from the logs at the read,
as every read did before the kept state; printed with the ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import isms_campaigns as ic

FIRST_ID = 1_000_000_000
# read: (target seconds, what it does)
READS: dict[str, tuple[float | None, str]] = {
    "campaigns": (0.3, "`campaigns` view"),
    "summary-campaign": (1.0, "delivery_summary over everything, by campaign"),
    "summary-operator": (1.0, "delivery_summary over everything, by operator"),
    "summary-hour": (1.0, "delivery_summary over everything, by hour"),
    "summary-one": (0.1, "delivery_summary of one campaign"),
    "report-one": (2.0, "write_report of one campaign"),
    "report-all": (10.0, "write_report of all"),
    "dashboard": (1.0, "Dashboard open and one redraw"),
    "import": (5.0, "import 1M new access-log lines"),
    # The naive way, in the same run: each message's state derived from the logs
    # at every read (what every read did before the kept state), for two reads.
    "campaigns-derived": (None, "`campaigns` view, derived from the logs"),
    "summary-campaign-derived": (None, "summary by campaign, derived from the logs"),
}
RSS_TARGET_MB = 2_048


def bulk_load(path: Path, messages: int, campaigns: int) -> None:
    """A store of ``messages`` messages, written straight into its tables (setup only)."""
    per = messages // campaigns
    with ic.Store(path) as store:
        con = store.connection
        con.execute("begin")
        con.execute(
            """
            insert into ic_campaigns (campaign, kind, created_at, template, region,
                                      smart_ascii, rows, sendable, credits_estimated, version)
            select 'c' || lpad(c::varchar, 3, '0'), 'campaign',
                   timestamptz '2026-01-01 00:00:00+00' + to_hours(c), 'Hi %name%', 'MY',
                   false, $per, $per - $per // 100, $per - $per // 100, 1
            from range($n) t(c)
            """,
            {"per": per, "n": campaigns},
        )
        con.execute(
            """
            insert into ic_plans select campaign, 1, created_at, template, sender_id,
                send_later, message_type, region, smart_ascii, rows, sendable,
                credits_estimated, 'new' from ic_campaigns
            """
        )
        con.execute(
            """
            insert into ic_messages (campaign, row, number, dstno, country, operator, msg,
                                     type, length, parts, credits, problem, chunk, version)
            select 'c' || lpad((i // $per)::varchar, 3, '0'), i % $per,
                   '0' || p || lpad((i % 10000000)::varchar, 7, '0'),
                   case when i % 100 = 99 then null
                        else '60' || p || lpad((i % 10000000)::varchar, 7, '0') end,
                   'MY', case p when '12' then 'Maxis' when '13' then 'CelcomDigi'
                                else 'U Mobile' end,
                   'Hi customer ' || i, 1, 20, 1,
                   case when i % 100 = 99 then null else 1 end,
                   case when i % 100 = 99 then 'invalid number' end,
                   case when i % 100 = 99 then null
                        else ((i % $per) - (i % $per) // 100) // 50 end,
                   1
            from (select range as i, ['12', '13', '18'][range % 3 + 1] as p
                  from range($m))
            """,
            {"per": per, "m": per * campaigns},
        )
        con.execute(
            """
            insert into ic_chunks (campaign, chunk, type, numbers, messages,
                                   credits_estimated, version)
            select campaign, chunk, 1, count(*), count(*), count(*), 1
            from ic_messages where chunk is not null group by all
            """
        )
        # Each chunk: in_flight, then sent; then one result per message.
        con.execute(
            """
            create temp table bench_chunks as
            select campaign, chunk, row_number() over (order by campaign, chunk) as k,
                   -- A round's results are recorded at one moment, to the microsecond.
                   c.created_at + to_seconds(chunk)
                       + to_microseconds((hash(chunk) % 1000000)::bigint) as moment
            from ic_chunks join ic_campaigns c using (campaign)
            """
        )
        con.execute(
            """
            insert into ic_sends (seq, kind, campaign, chunk, recorded_at, state, started_at,
                                  outcome, code)
            select 2 * k - 1, 'state', campaign, chunk, moment, 'in_flight', null, null, null
            from bench_chunks
            union all
            select 2 * k, 'state', campaign, chunk, moment + interval 1 second, 'sent', moment,
                   'sent', 2000
            from bench_chunks
            """
        )
        con.execute(
            """
            insert into ic_sends (seq, request, kind, campaign, chunk, recorded_at, row, dstno,
                                  code, status, sms_id)
            select (select max(seq) from ic_sends) + row_number() over (), 2 * b.k,
                   'result', m.campaign, m.chunk, b.moment + interval 1 second, m.row, m.dstno,
                   r.code, r.code::varchar, case when r.code = 2000 then r.id end
            from ic_messages m join bench_chunks b using (campaign, chunk),
                 lateral (select case when hash(m.dstno) % 100 < 3 then -1008 else 2000 end
                                 as code,
                                 ($first + b.k * 1000 + m.row % 1000)::varchar as id) r
            """,
            {"first": FIRST_ID},
        )
        con.execute(
            """
            insert into ic_dlr_events
            with sent as (
                select dstno, sms_id, recorded_at as moment, hash(sms_id) % 1000 as h
                from ic_sends where kind = 'result' and code = 2000
            ),
            finals as (
                select dstno, sms_id, moment, h,
                       case when h < 860 then 'DELIVERED' when h < 920 then 'UNDELIVERED'
                            when h < 950 then 'ACCEPTED' end as status
                from sent
            )
            -- Report times are whole seconds (the telco's, in an access log).
            select dstno, sms_id, status, date_trunc('second', moment + to_seconds(5 + h)),
                   now(), 'bench', null
            from finals where status is not null
            union all
            select dstno, sms_id, 'PENDING', date_trunc('second', moment + to_seconds(2)),
                   now(), 'bench', null
            from finals where h % 10 = 0
            union all
            select dstno, sms_id, status, date_trunc('second', moment + to_seconds(5 + h)),
                   now(), 'bench-repeat', null
            from finals where status is not null and h % 20 = 1
            """
        )
        con.execute("drop table bench_chunks")
        con.execute("commit")
        store.rebuild()  # the current-state tables, from the logs just written
        con.execute("checkpoint")


def write_log(store_path: Path, log: Path, lines: int) -> None:
    """``lines`` access-log lines of new reports: the newest messages, at new times."""
    with ic.Store(store_path) as store:
        store.connection.execute(
            f"""
            copy (
                select '127.0.0.1 - - [' || strftime(now(), '%d/%b/%Y:%H:%M:%S +0000')
                       || '] "GET /dlr?msisdn=' || dstno || '&trx_id=' || sms_id
                       || '&dn_status=DELIVERED HTTP/1.1" 200 2'
                from (select dstno, sms_id from ic_sends
                      where kind = 'result' and code = 2000
                      order by seq desc limit {int(lines)})
            ) to '{log}' (header false, quote '', delimiter '\t')
            """
        )


# --------------------------------------------------------------------------
# The reads, as a child process runs them
# --------------------------------------------------------------------------


def _read(name: str, store_path: Path, folder: Path) -> Callable[[], object]:
    middle = "c050"
    if name == "import":
        log = folder / "new-dlr.log"

        def run_import() -> object:
            copy = folder / "import-copy.duckdb"
            shutil.copy(store_path, copy)
            with ic.Store(copy) as store:
                started = time.perf_counter()
                report = store.import_dlr(log)
                took = time.perf_counter() - started
            copy.unlink()
            assert report.new > 0, report
            return took

        return run_import
    store = ic.Store(store_path)
    if name.endswith("-derived"):
        # Every campaign marked not current, in a transaction never committed.
        store.connection.execute("begin")
        store.connection.execute("update ic_campaigns set state_current = false")
        name = name.removesuffix("-derived")
    if name == "campaigns":
        return lambda: store.campaigns()
    if name.startswith("summary-") and name != "summary-one":
        by = name.removeprefix("summary-")
        return lambda: ic.delivery_summary(store, by=by)
    if name == "summary-one":
        return lambda: ic.delivery_summary(store, campaigns=middle)
    if name == "report-one":
        return lambda: ic.write_report(store, folder / "one.html", campaigns=middle)
    if name == "report-all":
        return lambda: ic.write_report(store, folder / "all.html")
    if name == "dashboard":

        def open_and_redraw() -> object:
            dash = ic.widgets.Dashboard(store, delay=0)
            dash.by.value = "operator"
            dash.flush()
            return dash

        return open_and_redraw
    raise SystemExit(f"unknown read {name!r}; the reads: {', '.join(READS)}")


def child(name: str, store_path: Path, folder: Path, runs: int) -> None:
    read = _read(name, store_path, folder)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        took = read()
        times.append(took if isinstance(took, float) else time.perf_counter() - started)
    print(json.dumps({"read": name, "times": times, "rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM starts afresh at exec;
    ru_maxrss would carry the parent's peak (the loader's) into a child."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--store", type=Path, help="keep (or reuse) the store here")
    parser.add_argument("--only", nargs="+", choices=list(READS), help="run only these reads")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per read")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.store, args.folder, args.runs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = args.store or folder / "big.duckdb"
        if not path.exists():
            started = time.perf_counter()
            bulk_load(path, args.messages, args.campaigns)
            print(f"bulk load: {time.perf_counter() - started:.1f} s")
        with ic.Store(path) as store:
            n = store.sql("select count(*) as n from ic_messages")["n"].item()
            events = store.sql("select count(*) as n from ic_dlr_events")["n"].item()
        size = path.stat().st_size / 2**30
        print(
            f"store: {n:,} messages in {args.campaigns} campaigns, {events:,} delivery "
            f"reports, {size:.1f} GB; {args.runs} runs per read, best shown"
        )
        write_log(path, folder / "new-dlr.log", 1_000_000)
        print(f"{'read':<50} {'best':>9} {'target':>8} {'peak RSS':>10}")
        bests: dict[str, float] = {}
        for name in args.only or list(READS):
            target, what = READS[name]
            command = [
                sys.executable,
                __file__,
                "--child",
                name,
                "--store",
                str(path),
                "--folder",
                str(folder),
                "--runs",
                str(args.runs),
            ]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                print(f"{what:<50} {'> ' + str(int(args.timeout)) + ' s':>9} {target:>7} s")
                continue
            if done.returncode:
                print(f"{what:<50} failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            best = bests[name] = min(result["times"])
            if target is None:  # the naive way: how much slower than the kept state
                kept = bests.get(name.removesuffix("-derived"))
                ratio = f"{best / kept:.0f}x the kept state's time" if kept else ""
                print(f"{what:<50} {best:>8.2f}s {'-':>8} {result['rss_mb']:>7,.0f} MB  {ratio}")
                continue
            verdict = "met" if best <= target and result["rss_mb"] <= RSS_TARGET_MB else "NOT met"
            print(f"{what:<50} {best:>8.2f}s {target:>7}s {result['rss_mb']:>7,.0f} MB  {verdict}")


if __name__ == "__main__":
    main()

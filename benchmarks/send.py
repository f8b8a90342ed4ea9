"""Benchmark: send 200,000 messages durably vs the naive per-recipient way, in one run.

    .venv/bin/python benchmarks/send.py [--messages 200000] [--naive 2000]

Three figures, end to end (``Campaign.send``: saving the plan, chunking,
the balance check, every request, and one durable DuckDB commit per round
of requests, into a store file in a temporary folder):

1. in-process: the simulator as an httpx transport, concurrency 4, so the
   figure is what the client and the store can do, with no network at all
   (best of three runs, each into a new store file);
2. loopback: the simulator serving real HTTP on 127.0.0.1 in its own
   process (``isms-campaigns simulator``), concurrency 4;
3. naive: what integrations usually do, one classic-API request per
   recipient, sequential, a fresh connection each time (``urllib`` from the
   standard library), nothing recorded, on a sample, against the same
   loopback simulator.

Prints messages per second for each and the ratio loopback / naive. Checks
that every message was submitted exactly once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

import polars as pl

import isms_campaigns as ic
from isms_campaigns.simulator import Account, Simulator


def contacts(n: int) -> pl.DataFrame:
    i = pl.int_range(n, dtype=pl.Int64)
    seq = (i * 7_919_993 + 12_345) % 10_000_000  # unique, not sequential
    return pl.select(
        phone=pl.lit("012") + seq.cast(pl.String).str.zfill(7),
        name=pl.lit("Customer"),
        order_id=pl.lit("ORD-") + i.cast(pl.String).str.zfill(7),
    )


def campaign(name: str, n: int) -> ic.Campaign:
    return ic.Campaign(
        name,
        contacts(n),
        template="Hi %name%, order %order_id% is ready.",
        purpose="transactional",  # an order notice: the benchmark runs at any hour
    )


def in_process(n: int, folder: Path, run: int) -> float:
    camp = campaign("bench-in-process", n)
    sim = Simulator([Account(balance=10 * n)])
    gateway = ic.Gateway("demo", "demo", hosts=sim.hosts, transport=sim.transport())
    with ic.Store(folder / f"in_process_{run}.duckdb") as store:
        started = time.perf_counter()
        report = camp.send(gateway, store, progress=False)
        elapsed = time.perf_counter() - started
    assert report.complete and report.states == {"submitted": n}, report
    assert len(sim.ledger) == n and len({(e.dstno, e.msg) for e in sim.ledger}) == n
    return n / elapsed


def serve_simulator(n: int) -> tuple[subprocess.Popen[str], list[str]]:
    command = [sys.executable, "-m", "isms_campaigns.cli", "simulator", "--port", "0"]
    server = subprocess.Popen(
        [*command, "--balance", str(10 * n)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    urls: list[str] = []
    for line in server.stdout:
        if line.strip().startswith("http://"):
            urls.append(line.strip())
        if line.startswith("account:"):
            return server, urls
    raise RuntimeError("the simulator did not start")


def loopback(n: int, urls: list[str], folder: Path) -> float:
    camp = campaign("bench-loopback", n)
    with (
        ic.Gateway("demo", "demo", hosts=urls) as gateway,
        ic.Store(folder / "loopback.duckdb") as store,
    ):
        started = time.perf_counter()
        report = camp.send(gateway, store, progress=False)
        elapsed = time.perf_counter() - started
    assert report.complete and report.states == {"submitted": n}, report
    return n / elapsed


def naive(n: int, urls: list[str]) -> float:
    """A plain script: the standard library, one POST per recipient, a new connection each."""
    rows = campaign("naive", n).sendable.select("dstno", "msg").rows()
    started = time.perf_counter()
    for dstno, msg in rows:
        form = {"un": "demo", "pwd": "demo", "dstno": dstno, "msg": msg, "type": "1"}
        body = urlencode({**form, "agreedterm": "YES"}).encode()
        with urlopen(urls[0] + "/isms_send_all_id.php", data=body, timeout=30) as reply:
            text = reply.read().decode()
        assert text.startswith("2000"), text
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--naive", type=int, default=2_000, help="naive sample size")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {args.messages:,} messages, concurrency 4")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = [in_process(args.messages, folder, run) for run in range(3)]
        rate = max(runs)
        print(
            f"in-process transport + durable store : {rate:>9,.0f} messages/s "
            f"(best of {', '.join(f'{r:,.0f}' for r in runs)})"
        )
        server, urls = serve_simulator(args.messages + args.naive)
        try:
            fast = loopback(args.messages, urls, folder)
            print(f"loopback HTTP + durable store        : {fast:>9,.0f} messages/s")
            slow = naive(args.naive, urls)
            print(f"naive, 1 classic request per number  : {slow:>9,.0f} messages/s "
                  f"(sample of {args.naive:,})")  # fmt: skip
        finally:
            server.terminate()
            server.communicate()
    print(f"ratio loopback / naive: {fast / slow:.1f}x")
    print(f"in-process target 20,000 messages/s: {'met' if rate >= 20_000 else 'NOT met'}")


if __name__ == "__main__":
    main()

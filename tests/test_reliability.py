"""Sending against the simulator over real loopback sockets, with real processes killed.

The simulator runs here; the sender runs in a child process that is killed
with SIGKILL at random moments and started again. The simulator's ledger is
the truth of what went out.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl

import isms_campaigns as ic
from isms_campaigns.simulator import Simulator

from .send_worker import contacts

WORKER = Path(__file__).with_name("send_worker.py")
CONCURRENCY = 4  # the default of Campaign.send, which the worker uses


def test_killed_and_resumed_sends_every_message_at_most_once_and_loses_none(
    tmp_path: Path,
) -> None:
    n, kills, rng = 20_000, 0, random.Random(20261121)
    path = tmp_path / "kill.duckdb"
    sim = Simulator()
    with sim.serve() as urls:
        while True:
            start = len(sim.ledger)
            child = subprocess.Popen(
                [sys.executable, str(WORKER), str(path), ",".join(urls), str(n)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            if kills < 5:
                target = start + rng.randint(300, 2_500)
                deadline = time.monotonic() + 120
                while len(sim.ledger) < target and child.poll() is None:
                    assert time.monotonic() < deadline, "the sender made no progress"
                    time.sleep(rng.uniform(0.001, 0.02))
                if child.poll() is None:
                    child.kill()  # SIGKILL: no cleanup, no flush, mid-request
                    child.communicate()  # reap it and close its pipes
                    kills += 1
                    continue
            out, err = child.communicate(timeout=600)
            assert child.returncode == 0, err
            break
    assert kills == 5

    plan = ic.Campaign("kill-test", contacts(n), template="Your code is %ref%").sendable
    with ic.Store(path) as store:
        messages = store.sql("select dstno, msg, state, sms_id from messages")
        unknown_chunks = store.sql(
            "select count(distinct chunk) as n from messages where state = 'unknown'"
        )["n"].item()
    ledger = Counter((e.dstno, e.msg) for e in sim.ledger)
    assert max(ledger.values()) == 1  # no message went out twice
    assert set(ledger) <= set(plan.select("dstno", "msg").iter_rows())
    states = messages.group_by("state").len()
    assert dict(states.iter_rows()).keys() <= {"submitted", "unknown"}  # nothing left planned
    assert messages.height == n
    assert unknown_chunks <= CONCURRENCY * kills
    submitted = messages.filter(pl.col("state") == "submitted")
    # Every message recorded as submitted went out, with the id the gateway gave it.
    by_pair = {(e.dstno, e.msg): e.sms_id for e in sim.ledger}
    assert all(by_pair.get((d, m)) == i for d, m, _, i in submitted.iter_rows())
    # Every message not in the ledger belongs to a chunk the store calls unknown.
    missing = set(plan.select("dstno", "msg").iter_rows()) - set(ledger)
    unknown = set(messages.filter(pl.col("state") == "unknown").select("dstno", "msg").iter_rows())
    assert missing <= unknown
    assert "unknown" in out or unknown_chunks == 0


def test_host_one_refusing_sends_everything_through_host_two_once(sample_path: Path) -> None:
    sim = Simulator()
    sim.set_fault(0, "refuse")
    camp = ic.Campaign("refused", sample_path, template="Hi %name%", fallbacks={"name": "you"})
    store = ic.Store()
    with sim.serve() as urls, ic.Gateway("demo", "demo", hosts=urls) as gateway:
        report = camp.send(gateway, store, progress=False)
    assert report.complete
    assert {e.host for e in sim.ledger} == {urls[1]}
    assert Counter((e.dstno, e.msg) for e in sim.ledger) == Counter(
        camp.sendable.select("dstno", "msg").iter_rows()
    )
    tries = store.sql("select distinct tries, host from batches").rows()
    assert tries == [(2, urls[1])]


def test_a_host_that_acts_then_drops_leaves_the_chunk_unknown_not_resent() -> None:
    sim = Simulator()
    for host in range(4):
        sim.set_fault(host, "drop-after")
    phones = pl.DataFrame({"phone": [f"0123{i:06d}" for i in range(30)]})
    camp = ic.Campaign("dropped", phones, template="Hi")
    store = ic.Store()
    with sim.serve() as urls:
        gateway = ic.Gateway("demo", "demo", hosts=urls)
        report = camp.send(gateway, store, progress=False, check_balance=False)
        assert report.unknown_chunks == [0]
        assert "unknown" in str(report) and "closed without a complete answer" in str(
            store.sql("select cause from batches")["cause"].to_list()
        )
        for host in range(4):
            sim.set_fault(host, "ok")
        again = camp.send(gateway, store, progress=False)
        gateway.close()
    assert again.requests == 0 and again.unknown_chunks == [0]
    assert len(sim.ledger) == 30  # acted on once, never again
    assert len({e.host for e in sim.ledger}) == 1  # no failover after the request arrived

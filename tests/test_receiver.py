"""The delivery-report receiver: answers, durability under load and SIGKILL, fuzzing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import isms_campaigns as ic
from isms_campaigns.receiver import MAX_QUERY, Receiver, ReceiverError, Spool, running
from isms_campaigns.simulator import DlrPlan, Simulator

TOKEN = "tok-0123456789abcdef"


def call(app: Receiver, path: str, query: bytes = b"", method: str = "GET", **kw: Any) -> tuple:
    """One request straight into the ASGI app: (status, body)."""
    headers = [(k.encode(), v.encode()) for k, v in kw.get("headers", {}).items()]
    scope = {"type": "http", "method": method, "path": path, "query_string": query}
    scope["headers"] = headers
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"].decode()


def spooled(folder: Path) -> list[dict[str, str]]:
    return [
        json.loads(line)
        for path in sorted(folder.glob("dlr-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def q(msisdn: str = "60123456789", trx: str = "1143007207", status: str = "DELIVERED") -> bytes:
    return f"msisdn={msisdn}&trx_id={trx}&dn_status={status}".encode()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Receiver]:
    app = Receiver(TOKEN, tmp_path / "spool")
    yield app
    app.close()


def test_answers(app: Receiver, tmp_path: Path) -> None:
    assert call(app, f"/dlr/{TOKEN}", q()) == (200, "OK")
    assert call(app, "/dlr/tok-0123456789abcdeX", q()) == (403, "forbidden")
    assert call(app, "/dlr/", q())[0] == 403
    assert call(app, f"/dlr/{TOKEN}", q(), method="POST")[0] == 405
    assert call(app, f"/dlr/{TOKEN}", b"msisdn=60123456789&trx_id=1") == (400, "missing dn_status")
    assert call(app, f"/dlr/{TOKEN}", q(msisdn="60-12x")) == (400, "malformed msisdn")
    assert call(app, f"/dlr/{TOKEN}", q() + b"&trx_id=2") == (400, "trx_id given 2 times")
    assert call(app, f"/dlr/{TOKEN}", q() + b"&x=" + b"a" * MAX_QUERY)[0] == 414
    assert call(app, f"/dlr/{TOKEN}", q(), headers={"content-length": "5"})[0] == 413
    assert call(app, "/elsewhere")[0] == 404
    status, body = call(app, "/health")
    assert status == 200 and json.loads(body)["received"] == 1
    # Only the one good callback was spooled, with its receive time.
    (event,) = spooled(tmp_path / "spool")
    assert event["msisdn"] == "60123456789" and event["dn_status"] == "DELIVERED"
    assert event["received_at"].endswith("+00:00")
    assert TOKEN not in repr(app)


def test_bad_token_and_a_folder_in_use_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ReceiverError, match="12 to 128"):
        Receiver("short", tmp_path)
    first = Receiver(TOKEN, tmp_path)
    with pytest.raises(ReceiverError, match="in use by another receiver"):
        Receiver(TOKEN, tmp_path)
    first.close()
    Receiver(TOKEN, tmp_path).close()  # free again


def test_a_line_cut_short_by_a_crash_is_trimmed_and_rotation(tmp_path: Path) -> None:
    (tmp_path / "dlr-1.jsonl").write_bytes(b'{"msisdn":"1","trx_id":"1","dn_status":"X"}\n{"msi')
    spool = Spool(tmp_path, max_bytes=200)
    assert (tmp_path / "dlr-1.jsonl").read_bytes().endswith(b'"X"}\n')
    for i in range(10):
        spool.write([b'{"msisdn":"60123456789","trx_id":"%d","dn_status":"SENT"}\n' % i])
    spool.close()
    assert len(spool.files()) >= 3  # rotated past 200 bytes
    assert [e["trx_id"] for e in spooled(tmp_path)][1:] == [str(i) for i in range(10)]


_CHARS = st.sampled_from(list("=&%+;?#/ \t\x00\xff'\"") + list("azAZ09_-.") + ["msisdn", "trx_id"])


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=300)
    | st.lists(_CHARS, max_size=40).map(lambda parts: "".join(parts).encode("utf-8")),
    good=st.booleans(),
)
def test_fuzzed_query_strings_never_crash_it(tmp_path_factory: Any, raw: bytes, good: bool) -> None:
    app = Receiver(TOKEN, tmp_path_factory.mktemp("spool"))
    query = q() + b"&" + raw if good else raw
    status, body = call(app, f"/dlr/{TOKEN}", query)
    assert status in (200, 400, 414), (status, body)
    events = spooled(app.spool.folder)
    app.close()
    assert len(events) == (status == 200)
    for event in events:  # what is spooled is always a well-formed report
        assert set(event) == {"msisdn", "trx_id", "dn_status", "received_at"}


def stop_receiver(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    if proc.stdout:
        proc.stdout.close()


def start_receiver(spool: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "ISMS_DLR_TOKEN": TOKEN}
    args = ["receiver", "--port", "0", "--spool", str(spool)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "isms_campaigns.cli", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "receiving delivery reports on http://127.0.0.1:PORT/dlr/…"
    base = line.split(" on ")[1].split("/dlr/")[0]
    return proc, f"{base}/dlr/{TOKEN}"


def blast(url: str, ids: list[int], acked: list[int], stop: threading.Event) -> None:
    """One client: a keep-alive connection, recording every callback answered 200."""
    with httpx.Client(timeout=10) as client:
        for i in ids:
            if stop.is_set():
                return
            try:
                r = client.get(
                    url, params={"msisdn": "60123456789", "trx_id": i, "dn_status": "DELIVERED"}
                )
            except httpx.HTTPError:
                return  # the receiver is gone
            if r.status_code == 200:
                acked.append(i)


def load(
    url: str,
    ids: range,
    clients: int = 8,
    stop: threading.Event | None = None,
    acked: list[int] | None = None,
) -> list[int]:
    acked = [] if acked is None else acked
    stop = stop or threading.Event()
    threads = [
        threading.Thread(target=blast, args=(url, list(ids[k::clients]), acked, stop))
        for k in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acked


def test_ten_thousand_callbacks_from_eight_clients_are_all_spooled(tmp_path: Path) -> None:
    proc, url = start_receiver(tmp_path / "spool")
    try:
        acked = load(url, range(10_000))
    finally:
        stop_receiver(proc)
    assert sorted(acked) == list(range(10_000))
    assert sorted(int(e["trx_id"]) for e in spooled(tmp_path / "spool")) == list(range(10_000))
    # ... and they import, incrementally: a second import adds nothing.
    store = ic.Store()
    first = store.import_dlr(tmp_path / "spool")
    assert (first.read, first.new, first.malformed) == (10_000, 10_000, 0)
    again = store.import_dlr(tmp_path / "spool")
    assert (again.read, again.new) == (0, 0)


def test_killed_mid_load_every_acknowledged_callback_is_in_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    proc, url = start_receiver(spool)
    stop = threading.Event()
    acked: list[int] = []
    loader = threading.Thread(target=load, args=(url, range(50_000), 8, stop, acked))
    loader.start()
    while len(acked) < 2_000 and loader.is_alive():  # well under way
        threading.Event().wait(0.005)
    proc.kill()  # SIGKILL: no chance to flush anything
    stop_receiver(proc)
    stop.set()
    loader.join()
    before_restart = len(acked)
    assert 0 < before_restart < 50_000

    proc, url = start_receiver(spool)  # the same folder: the lock died with the process
    try:
        after = load(url, range(100_000, 100_100))
    finally:
        stop_receiver(proc)
    assert len(after) == 100
    spooled_ids = {int(e["trx_id"]) for e in spooled(spool)}  # every line parses
    assert set(acked) <= spooled_ids
    assert set(after) <= spooled_ids


def test_the_simulators_callbacks_through_the_receiver_into_the_store(
    app: Receiver, tmp_path: Path
) -> None:
    store = ic.Store()
    with running(app) as url:
        sim = Simulator(dlr=DlrPlan(), callback_url=url)
        t = sim.transport()
        gw = ic.Gateway("demo", "demo", hosts=sim.hosts, transport=t, async_transport=t)
        phones = pl.DataFrame({"phone": [f"0123{i:06d}" for i in range(200)]})
        ic.Campaign("c", phones, template="Hi").send(gw, store, progress=False)
        sim.close()  # every callback delivered
    report = store.import_dlr(tmp_path / "spool")
    assert report.read == app.received > 150 and report.unmatched == 0
    got = store.sql("select count(*) as n from messages where dlr_status is not null").item()
    assert got == len({e["trx_id"] for e in spooled(tmp_path / "spool")})

"""Benchmark: delivery-report callbacks per second, the receiver vs a naive one.

    .venv/bin/python benchmarks/receiver.py [--callbacks 20000] [--clients 8]

Both servers run in this process on loopback and get the same load: --clients
threads, each with a keep-alive httpx client, sending callbacks one after the
other and counting the 200s. Both make every acknowledged callback durable
before answering (flush + fsync).

- ours: ``isms_campaigns.receiver`` on uvicorn; callbacks arriving together
  share one fsync (group commit).
- naive: the standard library's ThreadingHTTPServer (HTTP/1.1 keep-alive, so
  connections are not the difference), and per request: parse the query,
  open the spool file, append one line, flush, fsync, close. This is how a
  callback endpoint is usually written by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from isms_campaigns.receiver import Receiver, running

TOKEN = "bench-token-0123456789"


def load(url: str, callbacks: int, clients: int) -> tuple[int, float]:
    ok = [0] * clients

    def client(k: int) -> None:
        with httpx.Client(timeout=30) as http:
            for i in range(k, callbacks, clients):
                params = {"msisdn": "60123456789", "trx_id": i, "dn_status": "DELIVERED"}
                ok[k] += http.get(url, params=params).status_code == 200

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(ok), time.perf_counter() - started


def naive_server(spool: Path) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            event = {k: query[k][0] for k in ("msisdn", "trx_id", "dn_status")}
            event["received_at"] = datetime.now(UTC).isoformat()
            with (spool / "naive.jsonl").open("a") as handle:
                handle.write(json.dumps(event) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callbacks", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = Receiver(TOKEN, Path(tmp) / "ours")
        with running(app) as url:
            ok, ours = load(url, args.callbacks, args.clients)
        assert ok == args.callbacks == app.spool.written, (ok, app.spool.written)
        rate = ok / ours
        print(f"ours:  {ok:,} callbacks in {ours:.2f} s = {rate:,.0f}/s ({args.clients} clients)")

        server = naive_server(Path(tmp))
        url = f"http://127.0.0.1:{server.server_address[1]}/dlr/{TOKEN}"
        ok, naive = load(url, args.callbacks, args.clients)
        server.shutdown()
        server.server_close()
        lines = len((Path(tmp) / "naive.jsonl").read_text().splitlines())
        assert ok == args.callbacks == lines, (ok, lines)
        naive_rate = ok / naive
        print(f"naive: {ok:,} callbacks in {naive:.2f} s = {naive_rate:,.0f}/s")
        print(f"ratio: {rate / naive_rate:.1f}x")


if __name__ == "__main__":
    main()

"""Sends the kill-and-resume campaign; test_reliability runs it in a process it kills.

usage: python tests/send_worker.py STORE HOST,HOST,... MESSAGES [REQUESTS_PER_SECOND]
"""

from __future__ import annotations

import sys

import polars as pl

import isms_campaigns as ic


def contacts(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"phone": [f"012{i:07d}" for i in range(n)], "ref": [f"R{i}" for i in range(n)]}
    )


def main() -> None:
    store_path, hosts, n = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else None
    camp = ic.Campaign(
        "kill-test", contacts(n), template="Your code is %ref%", purpose="transactional"
    )
    with ic.Store(store_path) as store:
        gateway = ic.Gateway("demo", "demo", hosts=hosts)
        report = camp.send(gateway, store, progress=False, requests_per_second=rate)
    print(repr(report))


if __name__ == "__main__":
    main()

"""Benchmark: plan 1,000,000 contacts whose every row has its own template.

    .venv/bin/python benchmarks/template_column.py [--rows 1000000] [--naive-rows 50000]

The contacts are benchmarks/plan.py's ``template_column_contacts`` (the
same list as its ``template_column`` row): the column ``text`` holds a
distinct template per row ("messages written elsewhere"). Before
issue 13 this was one when/then branch per distinct text: 96 s for 2,000 rows.
The naive way is a per-row Python loop (``phonenumbers`` and ``str.replace``
per token of the row's own template) on a sample. Best of three, both ways
interleaved; prints the target beside the result.
"""

from __future__ import annotations

import argparse
import time

from plan import naive_plan, peak_rss_mb, template_column_contacts

import isms_campaigns as ic

TARGET_S = 3.0


def naive(rows: list[dict[str, str]]) -> list[str]:
    """The per-row loop, with each row's own template."""
    out = []
    for row in rows:
        dstno = naive_plan([row])[0][0]  # the number checked as plan.py's naive way does
        msg = row["text"]
        for token in ("name", "order_id", "outlet"):
            msg = msg.replace(f"%{token}%", row[token] or dstno or "")
        out.append(msg)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    contacts = template_column_contacts(args.rows)
    sample = contacts.head(args.naive_rows).to_dicts()
    timings, slow_timings = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        camp = ic.Campaign("bench", contacts, template_column="text")
        timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        expected = naive(sample)
        slow_timings.append(time.perf_counter() - start)
    fast, slow = min(timings), min(slow_timings)
    fast_us, naive_us = fast / args.rows * 1e6, slow / len(sample) * 1e6
    m = camp.messages
    distinct = m["variant"].n_unique()
    verdict = "ok" if fast <= TARGET_S or args.rows != 1_000_000 else "MISSED"
    print(
        f"template_column, {args.rows:,} rows, {distinct:,} distinct texts: {fast:.3f} s "
        f"best of {args.repeat} (target ≤ {TARGET_S:.0f} s: {verdict}) = {fast_us:.3f} µs/row"
    )
    print(f"naive per-row loop: {slow:.3f} s for {len(sample):,} rows = {naive_us:.2f} µs/row")
    assert m.head(len(sample))["msg"].to_list() == expected  # same answers
    print(f"ratio: {naive_us / fast_us:.1f}x faster per row")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()

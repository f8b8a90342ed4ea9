"""Benchmark: plan 1,000,000 contacts vs the naive per-row way, in one run.

    .venv/bin/python benchmarks/plan.py [--rows 1000000] [--naive-rows 20000]

The contacts are synthetic: 3 tokens (name, order_id, outlet), ~20 % names in
Chinese script (type 2), ~5 % messily written numbers, ~1 % repeated numbers,
otherwise unique valid Malaysian mobiles. The naive way is what integrations
usually do: a Python loop with ``phonenumbers.parse``/``is_valid_number`` and
``str.replace`` per token, on a sample. Prints per-row costs, their ratio and
the process's peak RSS.
"""

from __future__ import annotations

import argparse
import math
import resource
import time

import phonenumbers
import polars as pl

import isms_campaigns as ic

TEMPLATE = "Hi %name%, order %order_id% is ready at %outlet%. Reply STOP to stop."
LATIN = ["Ahmad", "Siti Aisyah", "Tan Wei Ming", "Kumar", "Nurul Huda", "Lim Mei Ling", "Rajesh"]
HAN = ["陈伟明", "林美玲", "黄志强", "李俊欣"]
OUTLETS = ["Mid Valley", "Sunway Pyramid", "Penang Gurney", "Ipoh Parade", "Kuching Vivacity"]


def synthetic_contacts(rows: int) -> pl.DataFrame:
    """Built with polars expressions too: generating must not dominate the run."""
    i = pl.int_range(rows, dtype=pl.Int64)
    # A bijection of 0..9,999,999 so numbers are unique but not sequential.
    seq = (i * 7_919_993 + 12_345) % 10_000_000
    prefix = pl.lit("01") + (pl.lit("269").str.slice((i % 3).cast(pl.Int64), 1))
    national = prefix + seq.cast(pl.String).str.zfill(7)
    messy = (
        pl.lit("+60 ")
        + national.str.slice(1, 2)
        + "-"
        + national.str.slice(3, 3)
        + " "
        + national.str.slice(6)
    )
    frame = pl.select(
        phone=pl.when(i % 20 == 7).then(messy).otherwise(national),
        name=pl.when(i % 5 == 3)
        .then(pl.lit(pl.Series(HAN)).gather(i % len(HAN)))
        .otherwise(pl.lit(pl.Series(LATIN)).gather(i % len(LATIN))),
        order_id=pl.lit("ORD-") + i.cast(pl.String).str.zfill(7),
        outlet=pl.lit(pl.Series(OUTLETS)).gather(i % len(OUTLETS)),
    )
    # ~1 % repeats: every 100th row reuses the number of the row before it.
    return frame.with_columns(
        phone=pl.when(i % 100 == 99).then(pl.col("phone").shift(1)).otherwise(pl.col("phone"))
    )


def naive_plan(rows: list[dict[str, str]]) -> list[tuple[str | None, str, int, int, int]]:
    """The usual per-row integration code."""
    out = []
    seen = set()
    for row in rows:
        try:
            number = phonenumbers.parse(row["phone"], "MY")
            valid = phonenumbers.is_valid_number(number)
        except phonenumbers.NumberParseException:
            valid = False
        dstno = (
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
            if valid
            else None
        )
        msg = TEMPLATE
        for token in ("name", "order_id", "outlet"):
            msg = msg.replace(f"%{token}%", row[token] or dstno or "")
        kind = 1 if msg.isascii() else 2
        length = len(msg) if kind == 1 else len(msg.encode("utf-16-le")) // 2
        parts = math.ceil(length / (153 if kind == 1 else 63))
        duplicate = dstno in seen
        seen.add(dstno)
        out.append((dstno, msg, kind, parts, 0 if duplicate or not valid else parts))
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    contacts = synthetic_contacts(args.rows)
    print(f"{args.rows:,} synthetic contacts, template with 3 tokens")

    sample = contacts.head(args.naive_rows).to_dicts()
    # Interleaved, best of N for both: the machine is shared and noisy, and
    # both ways should see the same conditions.
    timings, slow_timings, unchecked_timings = [], [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        camp = ic.Campaign("bench", contacts, template=TEMPLATE)
        timings.append(time.perf_counter() - start)
        start = time.perf_counter()  # what the compliance checks (on by default) cost
        ic.Campaign("bench", contacts, template=TEMPLATE, compliance=None)
        unchecked_timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        naive = naive_plan(sample)
        slow_timings.append(time.perf_counter() - start)
    rss = peak_rss_mb()
    fast, slow = min(timings), min(slow_timings)
    fast_us, naive_us = fast / args.rows * 1e6, slow / len(sample) * 1e6
    m = camp.messages
    print(
        f"isms_campaigns: {fast:.3f} s best of {args.repeat} (first {timings[0]:.3f} s) "
        f"= {fast_us:.3f} µs/row; "
        f"{m['problem'].is_null().sum():,} sendable, {(m['type'] == 2).sum():,} type 2, "
        f"{(m['problem'] == 'duplicate').sum():,} duplicates, {camp.credits:,} credits"
    )
    unchecked = min(unchecked_timings)
    print(
        f"  of which compliance checks: {fast - unchecked:.3f} s "
        f"(compliance=None: {unchecked:.3f} s = {unchecked / args.rows * 1e6:.3f} µs/row)"
    )
    print(
        f"naive per-row loop: {slow:.3f} s best of {args.repeat} for {len(sample):,} rows "
        f"= {naive_us:.2f} µs/row"
    )

    # Same answers on the sample: the speed is not bought with different results.
    head = m.head(len(sample))
    assert head["dstno"].to_list() == [r[0] for r in naive]
    assert head["msg"].to_list() == [r[1] for r in naive]
    assert head["parts"].to_list() == [r[3] for r in naive]

    print(f"ratio: {naive_us / fast_us:.1f}x faster per row")
    print(f"peak RSS: {rss:,.0f} MB (whole process, data generation included)")


if __name__ == "__main__":
    main()

"""A/B variants: ``split`` gives every contact a variant label, reproducibly.

>>> import polars as pl
>>> contacts = pl.DataFrame({"phone": [f"01234567{n:02d}" for n in range(10)]})
>>> split(contacts, {"A": 0.3, "B": 0.7}, seed=7)["variant"].to_list()
['B', 'A', 'B', 'A', 'B', 'B', 'B', 'B', 'B', 'A']

A campaign reads the labels from the contacts' ``variant`` column: each
message carries its variant (``Campaign.messages``, the store's ``messages``
view), and ``delivery_summary(by="variant")``, the figures and the report
compare them. ``Campaign(…, template={"A": "…", "B": "…"})`` gives each
variant its own text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

from .errors import PlanError

__all__ = ["VARIANT", "split"]

VARIANT = "variant"  # the contacts column a campaign reads its A/B labels from

# splitmix64 (Steele, Lea and Flood 2014): a fixed, well-mixed function of
# (seed, row), so an assignment is the same on every machine and polars
# version, unlike a library shuffle whose algorithm may change.
_GAMMA = 0x9E3779B97F4A7C15
_MIX = ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB))
_LAST_SHIFT = 31
_SPAN = 1 << 64


def split(
    contacts: pl.DataFrame,
    weights: Mapping[str, float],
    *,
    seed: int = 0,
) -> pl.DataFrame:
    """``contacts`` with a ``variant`` column: each row's label, drawn by ``weights``.

    ``weights`` maps each label to its share (``{"A": 0.5, "B": 0.5}``,
    ``{"control": 0.2, "offer": 0.8}``); they must add up to 1. The counts
    are as close to the shares as whole rows allow (largest remainder: each
    count is within one row of share × rows, and they add up to the rows),
    and which rows get which label is a fixed function of ``seed`` and the
    row's position: the same contacts and seed give the same assignment on
    every run and machine; another seed gives another draw. Rows are split
    as they are: a number listed twice may get two variants (the campaign
    sends it once, on its first sendable row).

    A ``variant`` column already there is an error: drop it to split again
    (``contacts.drop("variant")``), or keep it and give it to the campaign.
    """
    if not isinstance(contacts, pl.DataFrame):
        raise PlanError(
            f"split takes a polars DataFrame of contacts, not {type(contacts).__name__}: "
            f"read the file first with ic.read_contacts(path)."
        )
    if VARIANT in contacts.columns:
        raise PlanError(
            f"The contacts already have a {VARIANT!r} column: drop it to split them again "
            f"(contacts.drop({VARIANT!r})), or plan the campaign with the one they have."
        )
    labels, shares = _checked(weights)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise PlanError(f"seed must be a whole number, not {seed!r}.")
    counts = _counts(shares, contacts.height)
    # Each row's place in the seeded order, then the labels in blocks of their counts.
    ends = pl.Series([sum(counts[: i + 1]) for i in range(len(counts))], dtype=pl.Int64)
    place = contacts.select(
        _mixed(pl.int_range(pl.len(), dtype=pl.UInt64), seed).rank("ordinal").cast(pl.Int64) - 1
    ).to_series()
    index = ends.search_sorted(place, side="right")
    label = pl.Series(VARIANT, labels, dtype=pl.String).gather(index)
    return contacts.with_columns(label)


def _checked(weights: Mapping[str, float]) -> tuple[list[str], list[float]]:
    """The labels and shares of ``weights``; a :class:`PlanError` saying what is wrong."""
    if not isinstance(weights, Mapping) or not weights:
        raise PlanError(
            f"weights must map each variant to its share, e.g. {{'A': 0.5, 'B': 0.5}}, "
            f"not {weights!r}."
        )
    labels = list(weights)
    bad_labels = [x for x in labels if not isinstance(x, str) or not x.strip()]
    if bad_labels:
        raise PlanError(f"Variant labels must be non-empty text, not {bad_labels[0]!r}.")
    shares = list(weights.values())
    for label, share in weights.items():
        if (
            isinstance(share, bool)
            or not isinstance(share, (int, float))
            or not math.isfinite(share)
            or share < 0
        ):
            raise PlanError(
                f"The share of variant {label!r} is {share!r}: give a number between 0 and 1."
            )
    total = math.fsum(shares)
    if not math.isclose(total, 1.0, rel_tol=0, abs_tol=1e-9):
        raise PlanError(
            f"The shares add up to {total:g}, not 1: {dict(weights)!r}. Give shares of the "
            f"whole, e.g. {{'A': 0.5, 'B': 0.5}} or {{'A': 0.2, 'B': 0.8}}."
        )
    return labels, [float(s) for s in shares]


def _counts(shares: list[float], rows: int) -> list[int]:
    """Whole rows per label, largest remainder first (ties: the label given first)."""
    exact = [s * rows for s in shares]
    counts = [math.floor(x) for x in exact]
    left = rows - sum(counts)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[:left]:
        counts[i] += 1
    return counts


def _mixed(row: pl.Expr, seed: int) -> pl.Expr:
    """splitmix64 of the ``seed``-th stream at ``row`` (UInt64, wrapping arithmetic)."""
    start = (seed * _GAMMA) % _SPAN
    z = pl.lit(start, pl.UInt64) + (row + 1) * pl.lit(_GAMMA, pl.UInt64)
    for shift, factor in _MIX:
        z = z.xor(z // (1 << shift)) * pl.lit(factor, pl.UInt64)
    return z.xor(z // (1 << _LAST_SHIFT))


def mixed_reference(seed: int, row: int) -> int:
    """:func:`_mixed` of one row in plain Python: what the tests check it against."""
    z = (seed * _GAMMA + (row + 1) * _GAMMA) % _SPAN
    for shift, factor in _MIX:
        z = ((z ^ (z >> shift)) * factor) % _SPAN
    return z ^ (z >> _LAST_SHIFT)

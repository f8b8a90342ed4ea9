"""Ringgit: credits times the price per credit, shown with two decimals.

>>> cost_rm(1234, 0.08), ringgit(98.72), ringgit(None)
(98.72, 'RM 98.72', 'unknown')

The price per credit (RM) is the account's: ``BillingRule(price_per_credit=…)``
for the estimate, kept with each campaign the store saves (the
``campaigns`` view's ``price_per_credit``) so that the SendReport, the
delivery summary (``cost_estimated_rm``, ``cost_charged_rm``), the report and
the Dashboard turn credits into money. No price is an unknown cost, shown as
``unknown``, never as ``RM 0.00``.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from .errors import PlanError

__all__ = ["UNKNOWN", "check_price", "cost_rm", "ringgit", "ringgit_text"]

UNKNOWN = "unknown"  # a cost without a price per credit
_CENT = Decimal("0.01")


def check_price(price: float | None) -> float | None:
    """``price`` (RM per credit) if it is one; a :class:`PlanError` saying what to give."""
    if price is None:
        return None
    if (
        isinstance(price, bool)
        or not isinstance(price, (int, float))
        or not math.isfinite(price)
        or price < 0
    ):
        raise PlanError(
            f"price_per_credit is {price!r}: give the ringgit one credit costs your account "
            f"(e.g. 0.08), or None when it is not known."
        )
    return float(price)


def cost_rm(credits: int | None, price: float | None) -> float | None:
    """``credits`` × ``price`` in RM, to the sen (half up); None when either is unknown."""
    if credits is None or price is None:
        return None
    return float((Decimal(credits) * Decimal(str(price))).quantize(_CENT, ROUND_HALF_UP))


def ringgit(amount: float | None) -> str:
    """``RM 1,234.50``, or ``unknown`` for None."""
    return UNKNOWN if amount is None else f"RM {amount:,.2f}"


def ringgit_text(amount: pl.Expr) -> pl.Expr:
    """:func:`ringgit` as a polars expression (amounts ≥ 0; null stays null)."""
    sen = (amount * 100).round(0).cast(pl.Int64)
    # Thousands separators: groups of three from the right, on the reversed digits.
    whole = (
        (sen // 100)
        .cast(pl.String)
        .str.reverse()
        .str.replace_all(r"(\d{3})", "$1,")
        .str.strip_chars_end(",")
        .str.reverse()
    )
    return pl.format("RM {}.{}", whole, (sen % 100).cast(pl.String).str.zfill(2))

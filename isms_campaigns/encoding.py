"""Encoding, length, parts and credits: what each message will cost.

The spec's billing rule, kept in one place users can change:

- ``type`` 1 when every character is ASCII (0–127), else 2 (Unicode);
- ``length`` counts characters for type 1 and UTF-16 code units for type 2
  (an emoji is 2);
- ``parts`` = ceil(length / 153) for type 1, ceil(length / 63) for type 2;
- ``credits`` = parts × the destination's rate from the rate card.

Integrations in the wild disagree (/152, /62): compare against the invoice —
the store records the credits the gateway charged for every request.

>>> import polars as pl
>>> df = pl.DataFrame({"msg": ["Hi Ali", "你好 Ali", "a" * 154]})
>>> encode(df).select("type", "length", "parts").rows()
[(1, 6, 1), (2, 6, 1), (1, 154, 2)]
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import polars as pl

from .errors import PlanError
from .money import check_price

NON_ASCII = r"[^\x00-\x7F]"
ASTRAL = r"[\x{10000}-\x{10FFFF}]"  # two UTF-16 code units each

# Typographic characters with a plain ASCII twin. One of them in a message
# turns the whole message into Unicode, which costs about 2.4 times as much.
SMART_ASCII: dict[str, str] = {
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’
    "\u201a": "'",  # ‚
    "\u201b": "'",  # ‛
    "\u2032": "'",  # ′
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u2033": '"',  # ″
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    "\u2010": "-",  # ‐
    "\u2011": "-",  # ‑
    "\u2012": "-",  # ‒
    "\u2013": "-",  # –
    "\u2014": "-",  # —
    "\u2015": "-",  # ―
    "\u2212": "-",  # −
    "\u2026": "...",  # …
    "\u00a0": " ",  # no-break space
    "\u2007": " ",  # figure space
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u200b": "",  # zero-width space
    "\ufeff": "",  # byte-order mark
    "\u2022": "*",  # •
    "\u00b7": "*",  # ·
    "\u2122": "TM",  # ™
    "\u00ae": "(R)",  # ®
    "\u00a9": "(C)",  # ©
    "\u00d7": "x",  # ×
}


@dataclass(frozen=True)
class BillingRule:
    """How iSMS turns a message into credits (the spec's numbers by default).

    ``rates`` maps a country calling code to credits per SMS part; use
    :meth:`with_rate_card` to load an account's own rate list.
    ``price_per_credit`` (RM, None when not known) turns credits into money in
    the estimate; a send keeps it with the campaign, for the SendReport, the
    delivery summary, the report and the Dashboard (see :mod:`.money`).
    """

    ascii_part: int = 153
    unicode_part: int = 63
    max_length: int = 700
    rates: dict[int, int] = field(default_factory=lambda: {60: 1})
    price_per_credit: float | None = None

    def __post_init__(self) -> None:
        for code, rate in self.rates.items():
            if not isinstance(rate, int) or rate < 1:
                raise PlanError(
                    f"Rate for +{code} is {rate!r}: credits per part must be a whole "
                    f"number of at least 1."
                )
        if self.ascii_part < 1 or self.unicode_part < 1:
            raise PlanError("ascii_part and unicode_part must be at least 1.")
        check_price(self.price_per_credit)

    def with_rate_card(self, path: str | Path) -> BillingRule:
        """A copy of this rule whose rates come from a CSV rate card.

        The card has columns ``country_code`` and ``credits_per_part`` (other
        columns such as ``country`` or ``note`` are ignored).
        """
        return replace(self, rates=read_rate_card(path))


def read_rate_card(path: str | Path) -> dict[int, int]:
    """Country calling code → credits per part, from a CSV file.

    Lines starting with ``#`` are comments. A calling code listed twice is an
    error naming both lines: which rate was meant is for the reader to say.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PlanError(f"Cannot read rate card {name!r}: {exc.strerror or exc}.") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # codes and rates are digits: other columns may be cp1252
        text = data.decode("cp1252", errors="replace")
    try:
        rows = [
            (n, cells)
            for n, line in enumerate(re.split(r"\r\n|\r|\n", text), 1)
            if line.strip() and not line.lstrip().startswith("#")
            for cells in csv.reader([line])
        ]
    except csv.Error as exc:
        raise PlanError(f"Cannot read rate card {name!r}: {exc}.") from None
    header = [c.strip() for c in rows[0][1]] if rows else []
    missing = {"country_code", "credits_per_part"} - set(header)
    if missing:
        raise PlanError(
            f"Rate card {name!r} lacks column(s) {sorted(missing)}; "
            f"it has {header}. Expected: country_code,credits_per_part."
        )
    at_code, at_rate = header.index("country_code"), header.index("credits_per_part")
    rates: dict[int, int] = {}
    first_line: dict[int, int] = {}
    bad: list[str] = []
    twice: list[str] = []
    for n, cells in rows[1:]:
        code = cells[at_code].strip().removeprefix("+") if at_code < len(cells) else ""
        rate = cells[at_rate].strip() if at_rate < len(cells) else ""
        if (
            len(cells) != len(header)
            or not re.fullmatch(r"[0-9]{1,3}", code)
            or not (re.fullmatch(r"[0-9]+", rate))
        ):
            bad.append(f"line {n} {tuple(cells)}")
            continue
        key = int(code)
        if key in rates:
            twice.append(
                f"+{key} on line {first_line[key]} ({rates[key]}) and line {n} ({int(rate)})"
            )
            continue
        rates[key], first_line[key] = int(rate), n
    if bad:
        raise PlanError(
            f"Rate card {name!r} has rows that are not 'calling code, whole credits' "
            f"(with as many cells as its header): {'; '.join(bad[:3])}"
            f"{f' and {len(bad) - 3} more' if len(bad) > 3 else ''}. Fix them or remove them."
        )
    if twice:
        raise PlanError(
            f"Rate card {name!r} lists a calling code twice: {'; '.join(twice[:5])}"
            f"{f' and {len(twice) - 5} more' if len(twice) > 5 else ''}. Keep one line per "
            f"code, with your account's rate."
        )
    return rates


def non_ascii_expr(msg: pl.Expr) -> pl.Expr:
    """The non-ASCII characters of a message, in order: what makes it type 2."""
    return msg.str.extract_all(NON_ASCII + "+").list.join("")


def smart_ascii_expr(msg: pl.Expr) -> pl.Expr:
    """Replace typographic characters by their ASCII twins (vectorised)."""
    return msg.str.replace_many(list(SMART_ASCII), list(SMART_ASCII.values()))


FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def encode(
    frame: FrameT, rule: BillingRule | None = None, forced_type: int | None = None
) -> FrameT:
    """Add ``type``, ``length`` and ``parts`` for the ``msg`` column."""
    rule = rule or BillingRule()
    msg = pl.col("msg")
    # Byte length differs from character length exactly when a character is
    # not ASCII: far cheaper than a regex over every message.
    is_unicode = msg.str.len_bytes() != msg.str.len_chars()
    kind = (
        pl.lit(forced_type, pl.Int8)
        if forced_type
        else pl.when(is_unicode).then(pl.lit(2, pl.Int8)).otherwise(pl.lit(1, pl.Int8))
    )
    # Surrogate pairs only matter for type 2: count them on those rows alone.
    unicode_msg = pl.when(pl.col("type") == 2).then(msg)
    chars = msg.str.len_chars().cast(pl.Int32)
    astral = unicode_msg.str.count_matches(ASTRAL).cast(pl.Int32).fill_null(0)
    # Each stage is materialised once: polars does not share subexpressions
    # between when/then branches.
    return (
        frame.with_columns(type=kind)
        .with_columns(length=chars + astral)
        .with_columns(parts=parts_of(pl.col("length"), rule).cast(pl.Int32))
    )


def parts_of(length: pl.Expr, rule: BillingRule) -> pl.Expr:
    """SMS parts of a message of ``length`` and the row's ``type`` (1 or 2)."""
    per_part = pl.when(pl.col("type") == 2).then(rule.unicode_part).otherwise(rule.ascii_part)
    return (length + per_part - 1) // per_part


def message_problem(
    msg: pl.Expr, length: pl.Expr, control: pl.Expr, rule: BillingRule, forced_type: int | None
) -> pl.Expr:
    """Why the gateway would reject this message, or null.

    ``control`` flags rows where a control character got in (see
    ``render.Rendered``): checking the short inputs is cheaper than the output.
    """
    expr = (
        pl.when(msg.is_null() | (msg.str.strip_chars() == ""))
        .then(pl.lit("empty message"))
        .when(length > rule.max_length)
        .then(pl.lit(f"too long (>{rule.max_length})"))
        .when(control)
        .then(pl.lit("control characters"))
    )
    if forced_type == 1:
        expr = expr.when(msg.str.contains(NON_ASCII)).then(
            pl.lit("non-ASCII text in a type 1 message")
        )
    return expr.otherwise(None)

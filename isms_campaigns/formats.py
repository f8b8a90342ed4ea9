"""How a contact value becomes message text: the default, and ``formats=``.

Without a format a value is written as a person would read it:

- text exactly as written (``49.90`` typed in a CSV stays ``49.90``);
- whole numbers as digits; other floats as the shortest decimal at Excel's
  15 significant digits, so there is no float noise (``0.1 + 0.2`` → ``0.3``,
  ``12.0`` → ``12``, ``49.9`` → ``49.9``), written out between 1e-20 and 1e21
  and as ``1.5e+300`` beyond; NaN is a missing value;
- a decimal column with its scale (``49.90``);
- dates as ``1990-05-23``; a datetime column as ``1990-05-23 14:30:00``, or as
  dates when every value is at midnight (an Excel date cell read by
  ``pl.read_excel``); times as ``14:30:00``; booleans ``true``/``false``.

``formats={"amount": "{:.2f}", "dob": "%d/%m/%Y"}`` picks the text per token:

- ``{:…}`` (or ``{}``) is a Python format spec, for numbers: ``{:.2f}``,
  ``{:,}``, ``{:,.2f}``, ``{:.0%}``, ``{:+d}``, ``{:>8}``. The number formatted
  is the decimal the value shows (a float at 15 significant digits, text and
  decimals as written), rounded half to even as Python does for a decimal:
  ``2.675`` → ``2.68`` (Python's float format gives ``2.67``: it sees the binary
  ``2.67499…``). ``{:d}`` takes whole values (Excel's ``12.0`` is ``12``). No
  type (``{:,}``) writes the value as it shows, grouped.
- anything else is a strftime pattern, for dates and datetimes (``%d/%m/%Y``,
  ``%d %b %Y``, ``%H:%M``).
- a text column (CSV) is read for the format: numbers written ``-1234.5``,
  ``1,234.50`` or ``1e3``; dates written ISO (``1990-05-23``,
  ``1990-05-23 14:30:00``). A value that does not read is a row problem
  naming the token, the value and the format; a blank one is missing.

Everything runs as polars expressions over whole columns. Specs outside the
common set (types ``e g n x o b c``, ``#``, zero padding with grouping or an
explicit alignment) are applied by Python's ``format`` once per distinct value
of the column, not per row.

>>> s = pl.Series([49.9, 0.1 + 0.2, 1234567.0, None])
>>> column_text(s, None, "amount").text.to_list()
['49.9', '0.3', '1234567', None]
>>> column_text(s, "{:,.2f}", "amount").text.to_list()
['49.90', '0.30', '1,234,567.00', None]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any, NamedTuple

import polars as pl

from .errors import TemplateError, spelled

SIGNIFICANT = 15  # Excel's precision: a float shows at most this many digits
_LOW, _HIGH = -20, 21  # floats written out between 1e-20 and 1e21, else 1.5e+300
_MAX_DIGITS = 18  # exact integer arithmetic on Int64
_MAX_ZEROS = 400  # digits before the point a number may have (a float's 1e308 fits)
_MAX_PLACES = 50  # decimals a format may ask for
_FEW = 10_000  # above this many rows, repeated values are formatted once
_ZEROS = "0" * (_MAX_ZEROS + _MAX_PLACES + 1)

# A number written as text: sign, digits (optionally grouped by commas), fraction, exponent.
_NUMBER_TEXT = (
    r"^\s*(?<sign>[+-]?)(?<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.(?<frac>[0-9]*))?"
    r"(?:[eE](?<exp>[+-]?[0-9]+))?\s*$"
)
# What polars writes for a float: -12.5, 1e+20, 5.9e-7, NaN, inf.
_NUMBER_TEXT_PY = (  # the same, for Python's re (the reference)
    r"\s*([+-]?)([0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?\s*"
)
_FLOAT_TEXT = r"^(?<sign>-?)(?<int>[0-9]+)(?:\.(?<frac>[0-9]+))?(?:e(?<exp>[+-]?[0-9]+))?$"
_ISO_DATETIMES = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_ISO_PY = (  # the same, for Python's strptime
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
_SPEC = re.compile(
    r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?(?P<z>z)?(?P<alt>\#)?(?P<zero>0)?"
    r"(?P<width>\d+)?(?P<grouping>[,_])?(?:\.(?P<precision>\d+))?(?P<type>[bcdeEfFgGnosxX%])?",
    re.S,
)
_INTEGER_TYPES = set("bcdoxX")
_CONTEXT = Context(prec=SIGNIFICANT, rounding=ROUND_HALF_EVEN)
_WIDE = Context(prec=_MAX_ZEROS + _MAX_PLACES + 10, rounding=ROUND_HALF_EVEN)


class ColumnText(NamedTuple):
    """A column as message text: ``text`` (null when missing), ``missing``
    (null, blank text or NaN: the fallback applies) and ``bad`` (a value that
    the format could not read, or None when every value reads)."""

    text: pl.Series
    missing: pl.Series
    bad: pl.Series | None


@dataclass(frozen=True)
class NumberSpec:
    """A parsed Python format spec (the part after ``{:``)."""

    spec: str
    fill: str | None
    align: str | None
    sign: str
    z: bool
    alt: bool
    zero: bool
    width: int | None
    grouping: str | None
    precision: int | None
    type: str | None

    @property
    def vectorised(self) -> bool:
        """Within the set done by expressions (the rest: Python per distinct value)."""
        return (
            self.type in (None, "d", "f", "F", "%")
            and not self.alt
            and not (self.zero and (self.grouping or self.align))
            and not (self.type is None and self.precision is not None)
        )


def is_number_format(fmt: str) -> bool:
    """``{…}`` is a Python number spec; anything else a strftime pattern."""
    return fmt.startswith("{")


def number_spec(fmt: str, token: str) -> NumberSpec:
    """Parse ``{:.2f}`` (or ``{}``); a clear TemplateError otherwise."""
    m = re.fullmatch(r"\{0?(?::(.*))?\}", fmt, re.S)
    inner = m.group(1) or "" if m else None
    parsed = _SPEC.fullmatch(inner) if inner is not None else None
    if inner is None or parsed is None:
        raise TemplateError(
            f"{_named(token)} = {fmt!r} is not a Python format spec for a number: write "
            f"it like '{{:.2f}}', '{{:,}}' or '{{:,.2f}}' (or a date pattern like '%d/%m/%Y')."
        )
    g = parsed.groupdict()
    spec = NumberSpec(
        spec=inner,
        fill=g["fill"],
        align=g["align"],
        sign=g["sign"] or "-",
        z=bool(g["z"]),
        alt=bool(g["alt"]),
        zero=bool(g["zero"]),
        width=int(g["width"]) if g["width"] else None,
        grouping=g["grouping"],
        precision=int(g["precision"]) if g["precision"] is not None else None,
        type=g["type"],
    )
    if spec.precision is not None and spec.precision > _MAX_PLACES:
        raise TemplateError(f"{_named(token)} = {fmt!r}: at most {_MAX_PLACES} decimals, please.")
    sample: Any = 1 if spec.type in _INTEGER_TYPES else Decimal("1.5")
    try:
        _format(sample, spec)
    except (ValueError, TypeError) as exc:
        raise TemplateError(
            f"{_named(token)} = {fmt!r} is not a valid Python format spec: {exc}."
        ) from None
    return spec


def check_format(fmt: str, dtype: pl.DataType, token: str, column: str) -> None:
    """Raise a TemplateError when ``fmt`` cannot apply to a column of ``dtype``."""
    if not isinstance(fmt, str) or not fmt:
        raise TemplateError(f"{_named(token)} must be a non-empty string, not {fmt!r}.")
    if _is_nested(dtype):
        raise TemplateError(f"%{token}% reads column {column!r} of {dtype}, which has no text.")
    if dtype == pl.Null:  # every value missing: any format is fine
        return
    kind = _kind(dtype)
    if is_number_format(fmt):
        number_spec(fmt, token)  # raises when not a spec
        if kind not in ("number", "text"):
            raise TemplateError(
                f"{_named(token)} = {fmt!r} is a number format, but %{token}% reads "
                f"column {column!r} of {dtype}: give a strftime pattern like '%d/%m/%Y'."
            )
        return
    if "%" not in fmt:
        raise TemplateError(
            f"{_named(token)} = {fmt!r} is neither a number format ('{{:.2f}}') nor a "
            f"date pattern ('%d/%m/%Y', with % directives)."
        )
    if kind not in ("date", "text"):
        raise TemplateError(
            f"{_named(token)} = {fmt!r} is a date pattern, but %{token}% reads column "
            f"{column!r} of {dtype}: give a number format like '{{:.2f}}'."
        )
    sample = pl.Series([datetime(2001, 2, 3, 4, 5, 6)])
    if dtype == pl.Date:
        sample = sample.cast(pl.Date)
    elif dtype == pl.Time:
        sample = sample.dt.time()
    try:
        sample.dt.strftime(fmt)
    except Exception as exc:  # polars raises several kinds for a bad pattern
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TemplateError(
            f"{_named(token)} = {fmt!r} is not a date pattern for {dtype}: {first}"
        ) from None


def column_text(values: pl.Series, fmt: str | None, token: str) -> ColumnText:
    """The column as message text, with ``fmt`` (checked first) or the default."""
    dtype = values.dtype
    if dtype.is_float():  # -0.0 is 0: no message says "-0" (and one value, not two)
        zero = values.to_frame().select(pl.when(pl.first() == 0).then(0.0).otherwise(pl.first()))
        values = zero.to_series().cast(dtype)
    if fmt is not None:
        check_format(fmt, dtype, token, values.name)
    elif _is_nested(dtype):
        raise TemplateError(
            f"%{token}% reads column {values.name!r} of {dtype}, which has no text."
        )
    if values.len() > _FEW and dtype != pl.String and not dtype.is_integer():
        # Amounts and dates repeat: do the work once per distinct value.
        distinct = values.unique()
        if distinct.len() * 4 < values.len():
            once = column_text(distinct, fmt, token)
            texts = values.replace_strict(distinct, once.text, default=None)
            bad = None
            if once.bad is not None:
                bad = values.replace_strict(distinct, once.bad, default=False)
            missing_s = values.is_null() | (values.is_nan() if dtype.is_float() else False)
            return ColumnText(texts.rename(values.name), missing_s, bad)
    frame = values.rename("v").to_frame()
    v = pl.col("v")
    missing: pl.Expr = v.is_null()
    if dtype == pl.String:
        missing = missing | (v.str.strip_chars() == "")
    elif dtype.is_float():
        missing = missing | v.is_nan()
    missing_s = frame.select(missing.fill_null(True)).to_series()
    if fmt is None:
        text = _default_text(frame, dtype)
    elif is_number_format(fmt):
        spec = number_spec(fmt, token)
        if spec.vectorised:
            text = _number_text(frame, dtype, spec)
        else:
            text = _per_distinct(values, lambda x: python_number(x, dtype, spec))
    else:
        text = _date_text(frame, dtype, fmt)
    if missing_s.any():
        text = pl.select(pl.when(~missing_s).then(text)).to_series()
    if fmt is None:
        return ColumnText(text.rename(values.name), missing_s, None)
    bad = text.is_null() & ~missing_s
    return ColumnText(text.rename(values.name), missing_s, bad if bad.any() else None)


# --------------------------------------------------------------------------
# The default text
# --------------------------------------------------------------------------


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "text"
    if dtype.is_numeric():
        return "number"
    if dtype in (pl.Date, pl.Time) or isinstance(dtype, pl.Datetime):
        return "date"
    return "other"


def _is_nested(dtype: pl.DataType) -> bool:
    return dtype.is_nested() or dtype in (pl.Binary, pl.Object)


def _default_text(frame: pl.DataFrame, dtype: pl.DataType) -> pl.Series:
    v = pl.col("v")
    if dtype.is_float():
        return _float_default(frame)
    if dtype == pl.Date:
        text = v.dt.strftime("%Y-%m-%d")
    elif isinstance(dtype, pl.Datetime):
        midnight = (v.dt.time() == time(0)).all()
        text = (
            pl.when(midnight)
            .then(v.dt.strftime("%Y-%m-%d"))
            .otherwise(v.dt.strftime("%Y-%m-%d %H:%M:%S"))
        )
    elif dtype == pl.Time:
        text = v.dt.strftime("%H:%M:%S")
    else:
        text = v.cast(pl.String)
    return frame.select(text).to_series()


# A number is worked on as columns of a frame: value = (-1 if neg) × int(digits)
# × 10**exp, digits without leading zeros ("0" for zero), ok = it read. Each
# step materialises its columns: nesting the expressions instead would make
# polars plan an expression tree that doubles at every step.
D = pl.col("digits")
E = pl.col("exp")


def _float_default(frame: pl.DataFrame) -> pl.Series:
    """Shortest decimal at 15 significant digits: written out, or 1.5e+300."""
    d = _float_decimal(frame).with_columns(
        lead=D.str.len_chars().cast(pl.Int64) + E - 1  # power of ten of the first digit
    )
    lead, tail = pl.col("lead"), D.str.slice(1)
    scientific = pl.concat_str(
        D.str.slice(0, 1),
        pl.when(tail != "").then("." + tail).otherwise(pl.lit("")),
        pl.lit("e"),
        pl.when(lead < 0).then(pl.lit("-")).otherwise(pl.lit("+")),
        lead.abs().cast(pl.String),
    )
    body = pl.when((lead >= _LOW) & (lead < _HIGH)).then(_positional()).otherwise(scientific)
    sign = pl.when(pl.col("neg") & (D != "0")).then(pl.lit("-")).otherwise(pl.lit(""))
    v = pl.col("v")
    return d.select(
        pl.when(v.is_finite()).then(sign + body).otherwise(v.cast(pl.String))
    ).to_series()


def _parse(
    frame: pl.DataFrame, text: pl.Expr, pattern: str, *, scale: bool = False
) -> pl.DataFrame:
    """Read numbers written as text (``pattern``'s groups: sign, int, frac, exp);
    ``scale``: a zero keeps the places it was written with (``0.00``), as a Decimal."""
    g = frame.with_columns(__g=text.str.extract_groups(pattern)).unnest("__g")
    frac = pl.col("frac").fill_null("")
    whole = pl.col("int").str.replace_all(",", "", literal=True)
    written = pl.col("exp").str.strip_prefix("+")
    g = g.with_columns(
        raw=(whole.fill_null("") + frac).str.strip_chars_start("0"),
        power=written.cast(pl.Int64, strict=False).fill_null(0) - frac.str.len_chars(),
        ok=(
            pl.col("int").is_not_null()
            & ((whole != "") | (frac != ""))
            & (written.is_null() | (written.str.len_chars() < 7))
        ).fill_null(False),
        neg=(pl.col("sign") == "-").fill_null(False),
    )
    zero = pl.col("raw") == ""
    return g.select(
        "v",
        "neg",
        "ok",
        digits=pl.when(zero).then(pl.lit("0")).otherwise(pl.col("raw")),
        exp=pl.when(zero & (not scale)).then(pl.lit(0, pl.Int64)).otherwise(pl.col("power")),
    )


def _float_decimal(frame: pl.DataFrame) -> pl.DataFrame:
    """A float's shortest round-trip decimal, rounded half to even at 15 digits,
    trailing zeros moved into the exponent."""
    v = pl.col("v")
    d = _parse(frame, v.cast(pl.String), _FLOAT_TEXT)
    extra = (D.str.len_chars().cast(pl.Int64) - SIGNIFICANT).clip(lower_bound=0)
    d = _round_digits(d, E + extra)
    return _strip_zeros(d).with_columns(ok=pl.col("ok") & v.is_finite())


def _round_digits(d: pl.DataFrame, to: pl.Expr) -> pl.DataFrame:
    """The value rounded (half to even) to a multiple of 10**to; exp becomes ``to``."""
    d = d.with_columns(shift=to - E, to=to)
    shift = pl.col("shift")
    widen = pl.lit(_ZEROS).str.slice(0, (-shift).clip(lower_bound=0))
    exact = pl.when(D == "0").then(D).otherwise(D + widen)
    n = D.cast(pl.Int64, strict=False)
    d = d.with_columns(p10=pl.lit(10, pl.Int64).pow(shift.clip(1, _MAX_DIGITS)))
    p10 = pl.col("p10")
    d = d.with_columns(quo=n // p10, rem=n % p10)
    quo, rem, half = pl.col("quo"), pl.col("rem"), p10 // 2
    up = (rem > half) | ((rem == half) & (quo % 2 == 1))
    rounded = pl.when(shift > _MAX_DIGITS).then(0).otherwise(quo + up.cast(pl.Int64))
    d = d.with_columns(
        digits=pl.when(shift <= 0).then(exact).otherwise(rounded.cast(pl.String)), exp="to"
    )
    return d.drop("shift", "to", "p10", "quo", "rem")


def _strip_zeros(d: pl.DataFrame) -> pl.DataFrame:
    d = d.with_columns(stripped=D.str.strip_chars_end("0"))
    stripped = pl.col("stripped")
    zeros = (D.str.len_chars() - stripped.str.len_chars()).cast(pl.Int64)
    is_zero = stripped == ""
    return d.with_columns(
        digits=pl.when(is_zero).then(pl.lit("0")).otherwise(stripped),
        exp=pl.when(is_zero).then(pl.lit(0, pl.Int64)).otherwise(E + zeros),
    ).drop("stripped")


def _positional(places: pl.Expr | None = None) -> pl.Expr:
    """``digits × 10**exp`` written out with ``places`` decimals (default: -exp, ≥ 0);
    ``exp >= -places`` (round first)."""
    places = (-E).clip(lower_bound=0) if places is None else places
    zeros = pl.lit(_ZEROS).str.slice(0, (E + places).clip(lower_bound=0))
    n = pl.when(D == "0").then(D).otherwise(D + zeros).str.zfill(places + 1)
    cut = n.str.len_chars().cast(pl.Int64) - places
    return pl.when(places > 0).then(n.str.slice(0, cut) + "." + n.str.slice(cut)).otherwise(n)


# --------------------------------------------------------------------------
# Number formats
# --------------------------------------------------------------------------


def _number_text(frame: pl.DataFrame, dtype: pl.DataType, spec: NumberSpec) -> pl.Series:
    v = pl.col("v")
    if dtype.is_integer():
        text = v.cast(pl.String)
        d = frame.select(
            "v",
            neg=text.str.starts_with("-").fill_null(False),
            digits=text.str.strip_prefix("-"),
            exp=pl.lit(0, pl.Int64),
            ok=pl.lit(True),
        )
    elif dtype.is_float():
        d = _float_decimal(frame)
    else:  # decimals and text: as written
        d = _parse(frame, v.cast(pl.String), _NUMBER_TEXT, scale=True)
    if spec.type == "%":
        d = d.with_columns(exp=E + 2)
    if spec.type == "d":
        d = _strip_zeros(d).with_columns(ok=pl.col("ok") & (E >= 0))
    size = D.str.len_chars().cast(pl.Int64)
    # Beyond 400 digits before the point is not a number anyone sends.
    d = d.with_columns(ok=pl.col("ok") & ((D == "0") | (size + E <= _MAX_ZEROS)))
    places: pl.Expr
    if spec.type in ("f", "F", "%"):
        places = pl.lit(6 if spec.precision is None else spec.precision, pl.Int64)
        # Rounding is exact integer arithmetic: at most 18 digits (text may have more).
        d = d.with_columns(ok=pl.col("ok") & ((-places <= E) | (size <= _MAX_DIGITS)))
        d = _round_digits(d, -places)
    elif spec.type == "d":
        places = pl.lit(0, pl.Int64)
    else:  # no type: as the value shows
        places = (-E).clip(lower_bound=0)
    d = d.with_columns(written=_positional(places)).with_columns(
        whole=pl.col("written").str.split(".").list.first(),
        frac=pl.col("written").str.split(".").list.get(1, null_on_oob=True),
    )
    whole = pl.col("whole")
    if spec.grouping:
        sep = spec.grouping
        grouped = whole.str.reverse().str.replace_all(r"([0-9]{3})", "${1}" + sep).str.reverse()
        whole = grouped.str.strip_prefix(sep)
    frac = pl.col("frac")
    body = whole + pl.when(frac.is_not_null()).then("." + frac).otherwise(pl.lit(""))
    if spec.type == "%":
        body = body + "%"
    neg = pl.col("neg")
    is_zero = ~pl.col("written").str.contains("[1-9]")
    negative = neg & ~is_zero if spec.z or spec.type == "d" else neg
    positive = {"-": "", "+": "+", " ": " "}[spec.sign]
    d = d.with_columns(
        sign=pl.when(negative).then(pl.lit("-")).otherwise(pl.lit(positive)), body=body
    )
    text = _pad(pl.col("sign"), pl.col("body"), spec)
    return d.select(pl.when(pl.col("ok")).then(text)).to_series()


def _pad(sign: pl.Expr, body: pl.Expr, spec: NumberSpec) -> pl.Expr:
    if not spec.width:
        return sign + body
    fill = spec.fill or ("0" if spec.zero else " ")
    align = spec.align or ("=" if spec.zero else ">")
    width = spec.width
    if align == "=":
        inner = (width - sign.str.len_chars()).cast(pl.Int64)
        return sign + body.str.pad_start(inner, fill)
    whole = sign + body
    if align == "<":
        return whole.str.pad_end(width, fill)
    if align == ">":
        return whole.str.pad_start(width, fill)
    size = whole.str.len_chars().cast(pl.Int64)
    left = ((width - size).clip(lower_bound=0) // 2) + size
    return whole.str.pad_start(left, fill).str.pad_end(width, fill)


def _per_distinct(values: pl.Series, render: Any) -> pl.Series:
    """Python's ``format`` once per distinct value (specs outside the vectorised set)."""
    distinct = values.drop_nulls().unique()
    mapping = {value: render(value) for value in distinct.to_list()}
    keys = pl.Series(list(mapping), dtype=values.dtype)
    texts = pl.Series(list(mapping.values()), dtype=pl.String)
    return values.replace_strict(keys, texts, default=None, return_dtype=pl.String)


def python_number(value: object, dtype: pl.DataType, spec: NumberSpec) -> str | None:
    """Python's format of the value as it shows; None when it cannot apply.

    This is the definition the vectorised path follows (tests compare them).
    """
    number = as_decimal(value, dtype)
    if number is None or not number.is_finite():
        return None
    target: Any = number
    if spec.type in _INTEGER_TYPES or spec.type == "d":
        if number != number.to_integral_value():
            return None
        target = int(number)
    elif spec.type is None and spec.precision is None:
        return _format(number, spec, "f")
    elif spec.type in ("f", "F", "%"):
        places = 6 if spec.precision is None else spec.precision
        exponent = int(number.as_tuple().exponent) + (2 if spec.type == "%" else 0)
        if exponent < -places and len(number.as_tuple().digits) > _MAX_DIGITS:
            return None  # the vectorised rounding is exact up to 18 digits
    try:
        return _format(target, spec)
    except (ValueError, TypeError, OverflowError):
        return None


def _format(value: Any, spec: NumberSpec, suffix: str = "") -> str:
    """``format``, with ``_`` grouping for decimals too (Decimal knows only ``,``)."""
    if spec.grouping == "_" and isinstance(value, Decimal):
        return format(value, spec.spec.replace("_", ",") + suffix).replace(",", "_")
    return format(value, spec.spec + suffix)


def as_decimal(value: object, dtype: pl.DataType) -> Decimal | None:
    """The decimal a value shows: a float at 15 significant digits, text as written."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value:
            return None
        if value in (float("inf"), float("-inf")):
            return Decimal(value)
        d = _CONTEXT.create_decimal(repr(value)).normalize(_CONTEXT)
        if int(d.as_tuple().exponent) > 0:  # 1E+2 → 100: whole numbers written out
            d = d.quantize(Decimal(1), context=_WIDE)
        return d
    if isinstance(value, Decimal):
        return value
    text = str(value)
    m = re.fullmatch(_NUMBER_TEXT_PY, text)
    if not m or not (m.group(2) or m.group(3)):
        return None
    try:
        number = Decimal(m.group(0).strip().replace(",", ""))
    except InvalidOperation:
        return None
    return None if number and number.adjusted() >= _MAX_ZEROS else number


# --------------------------------------------------------------------------
# Date formats
# --------------------------------------------------------------------------


def _date_text(frame: pl.DataFrame, dtype: pl.DataType, fmt: str) -> pl.Series:
    v = pl.col("v")
    if _kind(dtype) == "text":
        text = v.cast(pl.String).str.strip_chars()
        v = pl.coalesce(
            [text.str.strptime(pl.Datetime("us"), f, strict=False) for f in _ISO_DATETIMES]
        )
    return frame.select(v.dt.strftime(fmt)).to_series()


def python_date(value: object, fmt: str) -> str | None:
    """The reference for date patterns: Python's strftime (ISO text is read first)."""
    if isinstance(value, str):
        text, value = value.strip(), None
        for pattern in _ISO_PY:
            try:
                value = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
    if isinstance(value, (date, datetime, time)):
        return value.strftime(fmt)
    return None


def default_reference(values: pl.Series) -> list[str | None]:
    """The default text, value by value in Python (tests compare it to the columns)."""
    dtype = values.dtype
    out: list[str | None] = []
    items = values.to_list()
    midnight = (
        all(v.time() == time(0) for v in items if v is not None)
        if isinstance(dtype, pl.Datetime)
        else False
    )
    for value in items:
        if value is None or (isinstance(value, float) and value != value):
            out.append(None)
        elif isinstance(value, str):
            out.append(None if not value.strip() else value)
        elif isinstance(value, bool):
            out.append("true" if value else "false")
        elif isinstance(value, float):
            out.append(_float_reference(value))
        elif isinstance(value, datetime):
            out.append(value.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S"))
        elif isinstance(value, date):
            out.append(value.strftime("%Y-%m-%d"))
        elif isinstance(value, time):
            out.append(value.strftime("%H:%M:%S"))
        else:
            out.append(str(value))
    return out


def _float_reference(value: float) -> str:
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    d = _CONTEXT.create_decimal(repr(value)).normalize(_CONTEXT)
    if d == 0:
        return "0"
    lead = d.adjusted()
    if _LOW <= lead < _HIGH:
        return format(d, "f")
    digits = "".join(map(str, d.as_tuple().digits))
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if d < 0 else ''}{mantissa}e{'-' if lead < 0 else '+'}{abs(lead)}"


def format_reference(values: pl.Series, fmt: str | None, token: str = "x") -> list[str | None]:
    """``column_text`` value by value in Python (None: missing or unreadable)."""
    if fmt is None:
        return default_reference(values)
    dtype = values.dtype
    missing = default_reference(values) if dtype == pl.String else None
    out: list[str | None] = []
    for i, value in enumerate(values.to_list()):
        blank = missing is not None and missing[i] is None
        if value is None or blank or (isinstance(value, float) and value != value):
            out.append(None)
        elif is_number_format(fmt):
            value = 0.0 if isinstance(value, float) and value == 0 else value  # -0.0 is 0
            out.append(python_number(value, dtype, number_spec(fmt, token)))
        else:
            out.append(python_date(value, fmt))
    return out


def resolve_formats(formats: Mapping[str, str] | None, resolve: Any) -> dict[str, tuple[str, str]]:
    """``{column: (spec, key)}`` from ``formats={token: spec}``; keys resolve like tokens."""
    out: dict[str, tuple[str, str]] = {}
    for key, fmt in (formats or {}).items():
        if not isinstance(fmt, str) or not fmt:
            raise TemplateError(f"{_named(key)} must be a non-empty string, not {fmt!r}.")
        column = resolve(key)
        if column is None:
            raise TemplateError(
                f"{_named(key)}: %{key}% is the recipient's number, which takes no format."
            )
        if column in out and out[column][0] != fmt:
            raise TemplateError(
                f"formats gives column {column!r} two formats: {out[column][1]!r} -> "
                f"{out[column][0]!r} and {key!r} -> {fmt!r}."
            )
        out[column] = (fmt, key)
    return out


def _named(token: str) -> str:
    """A token's format as the user set it: in Python, or with --format on the command line."""
    return spelled(f"formats[{token!r}]", f"--format {token}=…")

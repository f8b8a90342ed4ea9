"""Phone numbers → ``dstno``: normalise, validate, country, original operator.

The rules are phonenumbers' own (the ecosystem's standard), but a contact list
has up to millions of unique numbers and ``phonenumbers.parse`` costs ~20 µs
each. So the common shapes (``012-345 6789``, ``+60 12-345 6789``,
``0060…``, ``6012…``) are handled by polars expressions built from
phonenumbers' numbering-plan metadata: its per-region national-number
patterns, possible lengths, national prefixes and carrier prefix tables. Only
the rows that fast path cannot *accept* (invalid numbers, letters, odd
prefixes, countries that share a calling code) go through
:func:`normalise_one`, which is the per-number reference and the definition
of right. A test checks that both agree.

>>> import polars as pl
>>> normalise_numbers(pl.Series(["012-345 6789", "+65 9123 4567", "123"]))["dstno"].to_list()
['60123456789', '6591234567', None]
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers
import polars as pl
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType

from .errors import ContactsError, setting

MISSING = "missing number"
INVALID = "invalid number"
NOT_MOBILE = "not a mobile number"
EXCEL_DAMAGED = "number damaged by Excel (digits lost)"
SUPPRESSED = "suppressed"
DUPLICATE = "duplicate"

# Column names people give to the number column, best first (compared after
# lower-casing and dropping spaces, dashes and underscores).
NUMBER_COLUMN_NAMES = (
    "dstno",
    "msisdn",
    "hpno",
    "mobile",
    "mobileno",
    "mobilenumber",
    "phone",
    "phoneno",
    "phonenumber",
    "hp",
    "handphone",
    "handphoneno",
    "cellphone",
    "cell",
    "number",
    "contactno",
    "contactnumber",
    "tel",
    "telephone",
    "telno",
    "whatsapp",
)

# Carrier names as phonenumbers spells them, where one operator has two
# spellings in its tables (grouping by operator would otherwise split it).
_OPERATOR_ALIASES = {"Celecom": "Celcom"}

_SEPARATORS = r"[\s\-./()\[\]]"  # what people put between digits
_FAST_SEPARATORS = [" ", "-", "(", ")", "/", "[", "]", "\t"]  # the common ones, no regex
_EXCEL_FLOAT = r"^(\d+)\.0+$"  # 60123456789.0
_EXCEL_SCI = r"^\+?(\d)[.,](\d+)[eE]\+?(\d+)$"  # 6.0123456789E10
_EXCEL_FRACTION = r"^\d{9,}\.\d+$"  # 60123456789.5: a float, not a number
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _squash(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", name).lower()


def column_named(columns: Sequence[str], names: Sequence[str]) -> str | None:
    """The column named one of ``names`` (best first), compared lower-cased without
    spaces, dots, ``_`` or ``-``; of columns named alike, the first."""
    by_squashed = {_squash(c): c for c in reversed(columns)}
    return next((by_squashed[_squash(n)] for n in names if _squash(n) in by_squashed), None)


def find_number_column(columns: Sequence[str]) -> str:
    """The column that holds phone numbers, found by its name.

    >>> find_number_column(["Name", "Mobile No", "email"])
    'Mobile No'
    """
    found = column_named(columns, NUMBER_COLUMN_NAMES)
    if found is not None:
        return found
    raise ContactsError(
        f"No phone-number column found among {list(columns)}. Name it one of "
        f"'phone', 'mobile', 'hp', 'hpno', 'dstno', 'msisdn', 'number', "
        f"or pass {setting('number_column', '<your column>', option='--number-column COLUMN')}."
    )


# --------------------------------------------------------------------------
# The per-number reference (and the fallback for rare shapes)
# --------------------------------------------------------------------------


def _repair_excel(text: str) -> tuple[str, str | None]:
    """Undo what Excel does to long numbers, only when nothing was lost."""
    if m := re.match(_EXCEL_FLOAT, text):
        return m.group(1), None
    if m := re.match(_EXCEL_SCI, text):
        lead, fraction, exponent = m.group(1), m.group(2), int(m.group(3))
        if len(fraction) == exponent:
            return lead + fraction, None
        if len(fraction) < exponent:  # trailing digits were rounded away
            return text, EXCEL_DAMAGED
        return text, INVALID  # not a whole number
    if re.match(_EXCEL_FRACTION, text):
        return text, INVALID
    return text, None


NumberResult = tuple[str | None, str | None, int | None, str | None]


def normalise_one(raw: str | None, region: str = "MY") -> NumberResult:
    """Normalise one number the plain way: ``(dstno, country, country_code, problem)``.

    This is the reference the vectorised path must agree with: phonenumbers'
    ``parse`` in ``region``, then, for bare digits that are no number there,
    the same digits read as international (``6591234567`` is Singapore).

    >>> normalise_one("+60 12-345 6789")
    ('60123456789', 'MY', 60, None)
    """
    if raw is None or not raw.strip():
        return None, None, None, MISSING
    text, problem = _repair_excel(raw.strip())
    if problem:
        return None, None, None, problem
    number = _parse(text, region)
    if number is None or not phonenumbers.is_valid_number(number):
        digits = re.sub(_SEPARATORS, "", text)
        if digits.isascii() and digits.isdigit():
            number = _parse("+" + digits, region)
    if number is None or not phonenumbers.is_valid_number(number):
        return None, None, None, INVALID
    dstno = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    country = phonenumbers.region_code_for_number(number)
    is_mobile = phonenumbers.number_type(number) in _MOBILE_TYPES
    return dstno, country, number.country_code, None if is_mobile else NOT_MOBILE


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


# --------------------------------------------------------------------------
# Metadata turned into regular expressions and lookup tables
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Home:
    """What the fast path needs of the default region's numbering plan."""

    code: str
    country_code: str
    national_prefix: str  # "" when none
    idd: str  # international dialling prefix ("" unless plain digits)
    general: str  # anchored regex of every valid national number
    general_max: int
    simple: bool  # plain-digit national prefix and no transform rule


@functools.cache
def _home(code: str) -> _Home:
    meta = PhoneMetadata.metadata_for_region(code.upper())
    if meta is None:
        raise ContactsError(
            f"Unknown region {code!r}: use a two-letter country code such as 'MY', 'SG', 'ID'."
        )
    prefix = meta.national_prefix_for_parsing or ""
    idd = meta.international_prefix or ""
    general = meta.general_desc
    assert general is not None, code  # every region phonenumbers knows has one
    return _Home(
        code=code.upper(),
        country_code=str(meta.country_code),
        national_prefix=prefix,
        idd=idd if idd.isdigit() else "",
        general=f"^(?:{general.national_number_pattern})$",
        general_max=max(general.possible_length),
        simple=(prefix == "" or prefix.isdigit()) and not meta.national_prefix_transform_rule,
    )


@dataclass(frozen=True)
class _Mobiles:
    """The mobile numbering of one calling code that the fast path accepts."""

    code: int
    region: str
    pattern: str  # national-number pattern of mobile numbers (unanchored)
    lengths: tuple[int, ...]
    national_prefix: str


@functools.cache
def _mobiles(code: int) -> _Mobiles | None:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    # Codes shared by several regions (+1, +7, +44 …) need phonenumbers'
    # region rules; they are rare in Malaysian lists and take the slow path.
    if len(regions) != 1 or regions[0] == "001":
        return None
    meta = PhoneMetadata.metadata_for_region(regions[0])
    if meta is None or meta.mobile is None or meta.mobile.national_number_pattern is None:
        return None
    prefix = meta.national_prefix_for_parsing or ""
    if meta.national_prefix_transform_rule or not (prefix == "" or prefix.isdigit()):
        return None
    lengths = meta.mobile.possible_length or (
        meta.general_desc.possible_length if meta.general_desc else ()
    )
    return _Mobiles(code, regions[0], meta.mobile.national_number_pattern, lengths, prefix)


@functools.cache
def _calling_code_table() -> pl.Series:
    """Calling code for every 3-digit start: calling codes are prefix-free."""
    table: list[int | None] = [None] * 1000
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        digits = str(code)
        width = 10 ** (3 - len(digits))
        start = int(digits) * width
        table[start : start + width] = [code] * width
    return pl.Series(table, dtype=pl.Int32)


@functools.cache
def _operator_intervals(codes: frozenset[int]) -> tuple[pl.Series, pl.Series]:
    """phonenumbers' carrier prefixes for ``codes`` as sorted intervals.

    Prefix ``p`` of length ``L`` covers the ``_PREFIX_DIGITS``-digit integers
    ``[p·10^(K-L), (p+1)·10^(K-L))``; painting longer prefixes over shorter
    ones makes longest-prefix match a binary search (``search_sorted``).
    """
    from phonenumbers.carrierdata import CARRIER_DATA

    starts = tuple(str(c) for c in codes)
    names = {
        p: _OPERATOR_ALIASES.get(n["en"], n["en"])
        for p, n in CARRIER_DATA.items()
        if p.startswith(starts) and n.get("en") and len(p) <= _PREFIX_DIGITS
    }
    bounds = sorted(
        {int(p.ljust(_PREFIX_DIGITS, "0")) for p in names}
        | {(int(p) + 1) * 10 ** (_PREFIX_DIGITS - len(p)) for p in names}
    )
    labels: list[str | None] = []
    for bound in bounds:
        digits = str(bound).zfill(_PREFIX_DIGITS)
        labels.append(
            next(
                (names[digits[:n]] for n in range(_PREFIX_DIGITS, 0, -1) if digits[:n] in names),
                None,
            )
        )
    return pl.Series(bounds, dtype=pl.Int64), pl.Series(labels, dtype=pl.String)


_PREFIX_DIGITS = 9  # longer than any carrier prefix phonenumbers has


# --------------------------------------------------------------------------
# The vectorised path
# --------------------------------------------------------------------------


def _candidate(cleaned: pl.Expr, home: _Home) -> pl.Expr:
    """International digits under the likeliest reading, null for odd shapes.

    A reading is only a candidate: it is accepted when it is a valid mobile
    number, and each reading is chosen so that phonenumbers, given the same
    text, would read it the same way whenever it is valid (see the checks in
    ``normalise_numbers``); anything else goes to :func:`normalise_one`.
    """
    plus = cleaned.str.starts_with("+")
    body = cleaned.str.strip_prefix("+")
    cc, np_ = home.country_code, home.national_prefix
    expr: Any = pl.when(~body.str.contains(r"^[0-9]+$").fill_null(False)).then(None)
    expr = expr.when(plus).then(body)
    if home.idd:
        expr = expr.when(body.str.starts_with(home.idd)).then(body.str.slice(len(home.idd)))
    if not home.simple:
        return expr.otherwise(None)  # type: ignore[no-any-return]
    expr = expr.when(body.str.starts_with(cc)).then(body)
    if np_:
        expr = expr.when(body.str.starts_with(np_)).then(pl.lit(cc) + body.str.slice(len(np_)))
    return expr.otherwise(pl.lit(cc) + body)  # type: ignore[no-any-return]


def normalise_numbers(
    numbers: pl.Series | Iterable[str | None],
    region: str = "MY",
    *,
    suppress: pl.Series | Iterable[str | None] | None = None,
) -> pl.DataFrame:
    """Normalise a column of phone numbers, one output row per input row.

    Returns ``dstno`` (international digits, no ``+``), ``country`` (region
    code), ``country_code``, ``operator`` (the *original* operator of the
    number's range: numbers get ported) and ``number_problem``: null when the
    number can be sent to, else ``missing number``, ``invalid number``,
    ``number damaged by Excel (digits lost)``, ``not a mobile number``,
    ``suppressed`` (in ``suppress``, numbers spelled any way) or
    ``duplicate`` (the first row with a number is kept).
    """
    series = numbers if isinstance(numbers, pl.Series) else pl.Series(list(numbers))
    series = series.cast(pl.String).rename("raw")
    home = _home(region)

    # Each stage is its own column: polars does not share subexpressions
    # between the branches of one when/then chain.
    frame = (
        pl.LazyFrame(series)
        .with_columns(text=pl.col("raw").str.strip_chars())
        .with_columns(
            cleaned=pl.col("text").str.replace_many(_FAST_SEPARATORS, [""] * len(_FAST_SEPARATORS)),
            # Excel damage (6.01E10, …0.0) is for the reference to judge, and
            # with it the rare numbers written with dots.
            plain=~pl.col("text").str.contains_any(["e", "E", "."]).fill_null(True),
            missing=pl.col("text").fill_null("") == "",
        )
        .with_columns(intl=pl.when("plain").then(_candidate(pl.col("cleaned"), home)))
        .with_columns(
            cc=pl.lit(_calling_code_table()).gather(
                pl.col("intl").str.slice(0, 3).str.to_integer(strict=False)
            )
        )
        .collect()
    )
    codes = [m for c in frame["cc"].drop_nulls().unique().to_list() if (m := _mobiles(c))]
    # Lazy, so the streaming engine spreads each pass over the cores.
    frame = (
        frame.lazy()
        .with_columns(dstno=pl.when(_is_home_reading_safe(home)).then(_accept(codes)))
        .with_columns(country_code=pl.when(pl.col("dstno").is_not_null()).then("cc"))
        .collect()
    )

    # Everything the fast path did not accept goes through the reference,
    # once per distinct spelling.
    rest = frame.filter(pl.col("dstno").is_null() & ~pl.col("missing"))["raw"].unique()
    reference = pl.DataFrame(
        [normalise_one(raw, region) for raw in rest.to_list()],
        schema={
            "r_dstno": pl.String,
            "r_country": pl.String,
            "r_cc": pl.Int32,
            "problem": pl.String,
        },
        orient="row",
    ).with_columns(raw=rest)
    if reference.height:
        frame = frame.join(reference, on="raw", how="left", maintain_order="left").with_columns(
            dstno=pl.coalesce("dstno", "r_dstno"),
            country_code=pl.coalesce("country_code", "r_cc"),
            country=pl.coalesce(_country_expr(codes), "r_country"),
        )
    else:
        frame = frame.with_columns(country=_country_expr(codes), problem=pl.lit(None, pl.String))

    blocked = pl.lit(False)
    if suppress is not None:
        blocked_keys = normalise_numbers(suppress, region)["dstno"].drop_nulls()
        blocked = pl.col("key").is_in(blocked_keys.str.to_integer().unique().implode())
    present = frozenset(frame["country_code"].drop_nulls().unique().to_list())
    return (
        frame.lazy()
        # dstno as an integer: hashing and prefix search on it are several
        # times faster than on strings.
        .with_columns(key=pl.col("dstno").str.to_integer(strict=False))
        .select(
            "dstno",
            "country",
            "country_code",
            operator=_operator_expr(present),
            number_problem=pl.coalesce(
                pl.when("missing").then(pl.lit(MISSING)),
                "problem",
                pl.when(blocked).then(pl.lit(SUPPRESSED)),
                pl.when(pl.col("key").is_not_null() & ~pl.col("key").is_first_distinct()).then(
                    pl.lit(DUPLICATE)
                ),
            ),
        )
        .collect()
    )


def _accept(codes: Sequence[_Mobiles]) -> pl.Expr:
    """``intl`` when it is a mobile number of its calling code, else null."""
    if not codes:
        return pl.lit(None, pl.String)
    intl = pl.col("intl")
    # One regex pass: every calling code followed by its mobile pattern.
    mobile = "^(?:" + "|".join(f"{m.code}(?:{m.pattern})" for m in codes) + ")$"
    # phonenumbers strips a national prefix written after the calling code
    # (+60 0123…); those spellings are left to the reference.
    prefixed = [f"{m.code}{m.national_prefix}" for m in codes if m.national_prefix]
    lengths = {m.code * 100 + len(str(m.code)) + n for m in codes for n in m.lengths}
    ok = (pl.col("cc") * 100 + intl.str.len_chars().cast(pl.Int32)).is_in(
        sorted(lengths)
    ) & intl.str.contains(mobile)
    if prefixed:
        ok &= ~intl.str.contains("^(?:" + "|".join(prefixed) + ")")
    return pl.when(ok.fill_null(False)).then(intl)


def _is_home_reading_safe(home: _Home) -> pl.Expr:
    """False where phonenumbers would read bare digits as a national number.

    Bare digits that start with the home calling code are read as
    international only when, as a national number, they are too long or
    invalid. Only when a national number can be as long as calling code +
    mobile number does that take a regex pass.
    """
    raw = pl.col("text")
    if not home.simple:
        return pl.lit(True)
    bare = ~raw.str.starts_with("+") & ~raw.str.starts_with(home.idd or "+")
    mobiles = _mobiles(int(home.country_code))
    lengths = mobiles.lengths if mobiles else ()
    if min((len(home.country_code) + n for n in lengths), default=0) > home.general_max:
        return pl.lit(True)
    digits = pl.col("cleaned")
    read_as_national = (
        bare
        & digits.str.starts_with(home.country_code)
        & digits.str.contains(home.general).fill_null(False)
        & (digits.str.len_chars() <= home.general_max)
        & pl.col("intl").is_not_null()
    )
    return ~read_as_national


def _country_expr(codes: Sequence[_Mobiles]) -> pl.Expr:
    regions = {m.code: m.region for m in codes}
    if not regions:
        return pl.lit(None, pl.String)
    return pl.col("country_code").replace_strict(regions, default=None, return_dtype=pl.String)


def _operator_expr(codes: frozenset[int]) -> pl.Expr:
    """Longest carrier-prefix match, as one binary search per number."""
    bounds, labels = _operator_intervals(codes)
    if bounds.is_empty():
        return pl.lit(None, pl.String)
    # The first _PREFIX_DIGITS digits of the number, by integer arithmetic.
    digits = pl.col("dstno").str.len_bytes().cast(pl.Int64)
    powers = pl.lit(pl.Series([10**k for k in range(19)], dtype=pl.Int64))
    head = (pl.col("key") // powers.gather((digits - _PREFIX_DIGITS).clip(0, 18))) * powers.gather(
        (_PREFIX_DIGITS - digits).clip(0, 18)
    )
    slot = pl.lit(bounds).search_sorted(head, side="right")
    # slot 0 is before the first interval: map it to a null label.
    padded = pl.concat([pl.Series([None], dtype=pl.String), labels])
    return pl.lit(padded).gather(slot)

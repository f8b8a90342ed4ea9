"""Phone numbers → ``dstno``: normalise, validate, country, original operator.

The rules are phonenumbers' own (the ecosystem's standard), but a contact list
has up to millions of unique numbers and ``phonenumbers.parse`` costs ~20 µs
each (~90 µs with the validation). So the vectorised path decides every shape
the numbering-plan metadata can decide with polars: Excel damage, several
numbers or letters in a cell, and, for digits with separators and an optional
``+``, a single lookup per number in a table of digit ranges built from the
metadata (:mod:`._numbering`): valid mobile, landline or other type, invalid,
foreign, whichever reading (``012…``, ``6012…``, ``0060…``, ``+60 (0)12…``).
Only what the tables do not model (calling codes shared by several regions
such as +1, +7, +44; letters or symbols phonenumbers would interpret) goes
through :func:`normalise_one`, once per distinct spelling. ``normalise_one``
is the per-number reference and the definition of right; a property test
checks that both agree.

>>> import polars as pl
>>> normalise_numbers(pl.Series(["012-345 6789", "+65 9123 4567", "123"]))["dstno"].to_list()
['60123456789', '6591234567', None]
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import phonenumbers
import polars as pl
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType

from ._numbering import (
    INTL_KEY,
    MAX_HOME,
    MAX_INTL,
    MIN_DIGITS,
    International,
    Outcome,
    Reference,
    Valid,
    lookup_table,
    operator_of,
)
from ._numbering import INVALID as INVALID_OUTCOME
from ._numbering import REFERENCE as REFERENCE_OUTCOME
from .errors import ContactsError, setting

MISSING = "missing number"
INVALID = "invalid number"
NOT_MOBILE = "not a mobile number"
EXCEL_DAMAGED = "number damaged by Excel (digits lost)"
SEVERAL_NUMBERS = "several numbers in one cell"
LETTERS = "letters in the number (vanity numbers are not converted)"
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

_SEPARATORS = r"[\s\-./()\[\]]"  # what people put between digits
# The separators both phonenumbers and the reference skip (a row with one
# "." may be Excel's float, 60123456789.0, and takes a closer look).
_FAST_SEPARATORS = [" ", "-", "(", ")", "/", "[", "]", ".", "\xa0"]
_PLAIN_SEPARATORS = r"[ \-./()\[\]\x{A0}]"
# Between several numbers in one cell: these, or (numbers written one after
# the other) whitespace; a part counts as a number from 7 digits on. As
# regex class bodies, for Python's re and polars alike.
_BETWEEN = r";,/|&\n"
_BETWEEN_OR_SPACE = r";,/|&\s"
_NUMBER_DIGITS = 7
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

    This is the reference the vectorised path must agree with: Excel damage,
    several numbers in one cell and letters are problems of their own; then
    phonenumbers' ``parse`` in ``region`` and, for bare digits that are no
    number there, the same digits read as international (``6591234567`` is
    Singapore).

    >>> normalise_one("+60 12-345 6789")
    ('60123456789', 'MY', 60, None)
    """
    if raw is None or not raw.strip():
        return None, None, None, MISSING
    text, problem = _repair_excel(raw.strip())
    if problem:
        return None, None, None, problem
    if _several_numbers(text):
        return None, None, None, SEVERAL_NUMBERS
    if re.search(r"\d", text) and any(char.isalpha() for char in text):
        # phonenumbers would read 1-800-FLOWERS as digits (or drop stray
        # letters): a guess at a number nobody wrote.
        return None, None, None, LETTERS
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


def _several_numbers(text: str) -> bool:
    """Two parts of 7 digits or more, split by ``; , / | &`` or a line break, or by spaces."""
    return any(
        sum(len(re.findall(r"\d", part)) >= _NUMBER_DIGITS for part in re.split(f"[{b}]", text))
        >= 2
        for b in (_BETWEEN, _BETWEEN_OR_SPACE)
    )


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


# --------------------------------------------------------------------------
# The vectorised path
# --------------------------------------------------------------------------

# What a row's label is, as a small integer.
_VALID, _INVALID, _REFERENCE, _INTERNATIONAL, _ANSWERED = 0, 1, 2, 3, 4
_POWERS = pl.Series([10**k for k in range(19)], dtype=pl.Int64)
_LONGEST_INPUT = 250  # phonenumbers refuses longer strings (_MAX_INPUT_STRING_LENGTH)


def _check_region(region: str) -> str:
    if PhoneMetadata.metadata_for_region(region.upper()) is None:
        raise ContactsError(
            f"Unknown region {region!r}: use a two-letter country code such as 'MY', 'SG', 'ID'."
        )
    return region.upper()


@dataclass(frozen=True)
class _Problem:
    """A row settled before any table: missing, Excel damage, several numbers, letters."""

    text: str


_LABEL_SCHEMA = {
    "kind": pl.UInt8,
    "prefix": pl.Int64,  # the calling code; for answered rows, the whole dstno
    "skip": pl.Int64,
    "country": pl.String,
    "country_code": pl.Int32,
    "operator": pl.String,
    "problem": pl.String,
}
_LabelRow = tuple[int, int | None, int | None, str | None, int | None, str | None, str | None]


class _Labels:
    """Every label seen so far (table outcomes, problems), by id, and what a row gets."""

    def __init__(self) -> None:
        self.ids: dict[Outcome | _Problem, int] = {}
        self.all: list[Outcome | _Problem] = []
        self._lock = threading.Lock()  # the Composer plans on a timer thread

    def id(self, label: Outcome | _Problem) -> int:
        found = self.ids.get(label)
        if found is None:
            with self._lock:
                found = self.ids.setdefault(label, len(self.all))
                if found == len(self.all):
                    self.all.append(label)
        return found

    def columns(self) -> pl.DataFrame:
        return self._columns(len(self.all))

    @functools.lru_cache(maxsize=4)  # noqa: B019 - one instance, for the module's life
    def _columns(self, count: int) -> pl.DataFrame:
        rows: list[_LabelRow] = []
        for label in self.all[:count]:
            if isinstance(label, Valid):
                problem = None if label.mobile else NOT_MOBILE
                code, skip = int(label.prefix), label.skip
                rows.append(
                    (_VALID, code, skip, label.region, label.country_code, label.operator, problem)
                )
            elif isinstance(label, International):
                rows.append((_INTERNATIONAL, None, label.skip, None, None, None, None))
            elif isinstance(label, Reference):
                rows.append((_REFERENCE, None, None, None, None, None, None))
            elif isinstance(label, _Problem):
                rows.append((_INVALID, None, None, None, None, None, label.text))
            else:
                rows.append((_INVALID, None, None, None, None, None, INVALID))
        return pl.DataFrame(rows, schema=_LABEL_SCHEMA, orient="row")


_LABELS = _Labels()
_INVALID_ID = _LABELS.id(INVALID_OUTCOME)
_REFERENCE_ID = _LABELS.id(REFERENCE_OUTCOME)


@functools.lru_cache(maxsize=16)
def _lookup_table(
    region: str, home_lengths: frozenset[int], codes: frozenset[tuple[int, int]]
) -> tuple[pl.Series, pl.Series]:
    starts, outcomes = lookup_table(region, home_lengths, codes)
    ids = [_LABELS.id(o) for o in outcomes]
    return pl.Series(starts, dtype=pl.Int64), pl.Series(ids, dtype=pl.UInt32)


def _codes(value: pl.Series, length: pl.Series) -> frozenset[tuple[int, int]]:
    """(calling code, length) of international digits given as integers and lengths."""
    head = value // _POWERS.gather((length - MIN_DIGITS).clip(0, 18))
    pairs = (
        pl.DataFrame({"code": _calling_code_table().gather(head.clip(0, 999)), "length": length})
        .drop_nulls()
        .unique()
    )
    return frozenset(zip(pairs["code"].to_list(), pairs["length"].to_list(), strict=True))


def _look_up(digits: pl.DataFrame, region: str) -> pl.DataFrame:
    """Each number's outcome id, and the digits it applies to (value, length).

    ``digits`` holds per row the ``value`` and ``length`` of its digits
    (null value: not for the tables), whether a ``+`` came first and whether
    ``+0`` did. International outcomes (the reading after an IDD, or the
    reference's ``+digits`` retry) take a second lookup, on those rows only.
    """
    frame = (
        digits.lazy()
        .with_columns(
            # "+0…": phonenumbers finds no calling code and retries the digits
            # as written at home, where only an IDD reading can succeed.
            intl=pl.col("plus") & ~pl.col("plus0"),
        )
        .with_columns(
            key=pl.when("intl")
            .then(pl.col("value") + INTL_KEY)
            .otherwise(pl.col("value") + pl.lit(_POWERS).gather(pl.col("length").clip(0, 18)))
            .fill_null(0)
        )
        .collect()
    )
    intl, value, length = frame["intl"], frame["value"], frame["length"]
    home = length.filter(~intl & value.is_not_null())
    lo, hi = home.min(), home.max()  # the national tables of every length in between
    home_lengths = (
        frozenset(range(lo, hi + 1)) if isinstance(lo, int) and isinstance(hi, int) else frozenset()
    )
    codes = _codes(value.filter(intl), length.filter(intl))
    starts, ids = _lookup_table(region, home_lengths, codes)
    label = ids.gather(starts.search_sorted(frame["key"], side="right") - 1)

    columns = _LABELS.columns()
    kind = columns["kind"].gather(label)
    if (frame["plus0"] | (length > MAX_HOME)).any():
        skip = columns["skip"].gather(label)
        idd = ((kind == _INTERNATIONAL) & (skip > 0)) | (kind == _REFERENCE)
        label = pl.select(
            pl.when(~intl & (length > MAX_HOME))  # beyond the national tables
            .then(pl.lit(_REFERENCE_ID, pl.UInt32))
            .when(frame["plus0"] & ~idd)
            .then(pl.lit(_INVALID_ID, pl.UInt32))
            .otherwise(label)
        ).to_series()
        kind = columns["kind"].gather(label)

    again = (kind == _INTERNATIONAL).arg_true()
    if again.len():
        skip = columns["skip"].gather(label.gather(again))
        length2 = length.gather(again) - skip
        value2 = value.gather(again) % _POWERS.gather(length2)
        codes |= _codes(value2, length2)
        starts, ids = _lookup_table(region, home_lengths, codes)
        label2 = ids.gather(starts.search_sorted(value2 + INTL_KEY, side="right") - 1)
        label = label.scatter(again, label2)
        value = value.clone().scatter(again, value2)
        length = length.clone().scatter(again, length2)
    return pl.DataFrame({"label": label, "value": value, "length": length})


def _several_numbers_regex(between: str) -> str:
    number = rf"\d(?:[^\d{between}]*\d){{{_NUMBER_DIGITS - 1}}}"
    return rf"(?s){number}[^{between}]*[{between}].*{number}"


def _look_closer(raw: pl.Series) -> pl.DataFrame:
    """The rows with more than digits, fast separators and a ``+``: Excel, several, letters.

    Returns per row either a ``preset`` label (a problem, or the reference
    for characters beyond ASCII and the no-break space, where Python's and
    polars' rules could differ, and for shapes the tables do not model) or
    digits for the tables (``value``, ``length``, ``plus``, ``plus0``, as
    :func:`_look_up` takes them).
    """
    sci = pl.col("sci")
    fraction, exponent = sci.struct.field("2"), sci.struct.field("3")
    return (
        pl.LazyFrame({"raw": raw})
        .with_columns(text=pl.col("raw").str.strip_chars())
        .with_columns(
            missing=pl.col("text").fill_null("") == "",
            ours=pl.col("text").str.contains(r"^[\x20-\x7E\t\n\r\x0B\x0C\x{A0}]*$"),
            float=pl.col("text").str.extract(r"^([0-9]+)\.0+$", 1),
            sci=pl.col("text").str.extract_groups(r"^\+?([0-9])[.,]([0-9]+)[eE]\+?([0-9]+)$"),
            fraction=pl.col("text").str.contains(r"^[0-9]{9,}\.[0-9]+$"),
        )
        .with_columns(
            is_sci=pl.col("float").is_null() & sci.struct.field("1").is_not_null(),
            fraction_digits=fraction.str.len_chars().cast(pl.Int64),
            exponent=exponent.str.to_integer(strict=False),
        )
        .with_columns(
            repaired=pl.coalesce(
                "float",
                pl.when(pl.col("is_sci") & (pl.col("fraction_digits") == pl.col("exponent"))).then(
                    sci.struct.field("1") + fraction
                ),
            ),
            excel=pl.when(
                pl.col("is_sci")
                & (pl.col("exponent").is_null() | (pl.col("fraction_digits") < pl.col("exponent")))
            )
            .then(pl.lit(EXCEL_DAMAGED))
            .when(pl.col("is_sci") & (pl.col("fraction_digits") > pl.col("exponent")))
            .then(pl.lit(INVALID))
            .when(pl.col("float").is_null() & ~pl.col("is_sci") & pl.col("fraction"))
            .then(pl.lit(INVALID)),
        )
        .with_columns(after=pl.coalesce("repaired", "text"))
        .with_columns(cleaned=pl.col("after").str.replace_all(_PLAIN_SEPARATORS, ""))
        .with_columns(
            problem=pl.when("missing")
            .then(pl.lit(MISSING))
            .when(~pl.col("ours"))
            .then(None)
            # No digit (N/A, TBA, -): phonenumbers finds nothing to start a number.
            .when(~pl.col("text").str.contains("[0-9]"))
            .then(pl.lit(INVALID))
            .when(pl.col("excel").is_not_null())
            .then("excel")
            .when(
                pl.col("after").str.contains(_several_numbers_regex(_BETWEEN))
                | pl.col("after").str.contains(_several_numbers_regex(_BETWEEN_OR_SPACE))
            )
            .then(pl.lit(SEVERAL_NUMBERS))
            .when(pl.col("after").str.contains("[0-9]") & pl.col("after").str.contains("[A-Za-z]"))
            .then(pl.lit(LETTERS)),
            plain=pl.col("cleaned").str.contains(
                rf"^(?:[0-9]{{{MIN_DIGITS},{MAX_HOME}}}"
                rf"|\+[0-9]{{{MIN_DIGITS},{MAX_INTL}}})$"
            )
            & (pl.col("after").str.len_chars() <= _LONGEST_INPUT),
        )
        .with_columns(
            text=pl.when(pl.col("problem").is_null() & pl.col("ours") & pl.col("plain")).then(
                "cleaned"
            )
        )
        .select(
            preset=pl.when(pl.col("problem").is_not_null())
            .then(pl.col("problem").replace_strict(_PROBLEM_IDS, return_dtype=pl.UInt32))
            .when(pl.col("text").is_null())
            .then(pl.lit(_REFERENCE_ID, pl.UInt32)),
            value=pl.col("text").str.to_integer(strict=False),
            length=pl.col("text").str.len_bytes().cast(pl.Int64)
            - pl.col("text").str.starts_with("+").cast(pl.Int64),
            plus=pl.col("text").str.starts_with("+").fill_null(False),
            plus0=pl.col("text").str.starts_with("+0").fill_null(False),
        )
        .collect()
    )


_PROBLEM_IDS = {
    text: _LABELS.id(_Problem(text))
    for text in (MISSING, INVALID, EXCEL_DAMAGED, SEVERAL_NUMBERS, LETTERS)
}


def _normalise(raw: pl.Series, region: str) -> pl.DataFrame:
    """dstno, country, country_code, operator, problem and dstno as an integer (key), per row."""
    digits = (
        pl.LazyFrame({"raw": raw})
        .with_columns(
            cleaned=pl.col("raw").str.replace_many(_FAST_SEPARATORS, [""] * len(_FAST_SEPARATORS)),
            # One dot may be Excel's (60123456789.0, 60123456789.5).
            dots=pl.col("raw").str.count_matches(".", literal=True),
            long=pl.col("raw").str.len_bytes() > _LONGEST_INPUT,
        )
        .with_columns(
            value=pl.col("cleaned").str.to_integer(strict=False),
            plus=pl.col("cleaned").str.starts_with("+").fill_null(False),
            plus0=pl.col("cleaned").str.starts_with("+0").fill_null(False),
            length=pl.col("cleaned").str.len_bytes().cast(pl.Int64),
        )
        .with_columns(length=pl.col("length") - pl.col("plus").cast(pl.Int64))
        .with_columns(
            # At most 13 digits: two numbers of 7 digits cannot hide in them.
            simple=pl.col("value").is_not_null()
            & pl.col("length").is_between(MIN_DIGITS, 13)
            & (pl.col("dots") != 1)
            & ~pl.col("long")
        )
        .select("length", "plus", "plus0", "simple", value=pl.when("simple").then("value"))
        .collect()
    )
    looked = _look_up(digits, region)
    label, value, length = looked["label"], looked["value"], looked["length"]

    # The rest (Excel, dots, several numbers, letters …) is looked at closer.
    closer = (~digits["simple"]).arg_true()
    if closer.len():
        found = _look_closer(raw.gather(closer))
        also = _look_up(found, region)
        label = label.scatter(closer, pl.coalesce(found["preset"], also["label"], eager=True))
        value = value.scatter(closer, also["value"])
        length = length.scatter(closer, also["length"])

    # What the tables leave to the reference, once per distinct spelling;
    # its answers become labels of this call only.
    columns = _LABELS.columns()
    rows = (columns["kind"].gather(label) == _REFERENCE).arg_true()
    if rows.len():
        spellings = raw.gather(rows)
        distinct = spellings.unique(maintain_order=True)
        answers = [normalise_one(r, region) for r in distinct.to_list()]
        answered = pl.DataFrame(
            [
                (_ANSWERED, None if d is None else int(d), None, country, code, op, problem)
                for d, country, code, problem in answers
                for op in [None if d is None or code is None else operator_of(d, code)]
            ],
            schema=_LABEL_SCHEMA,
            orient="row",
        )
        ids = (
            pl.DataFrame({"raw": spellings})
            .join(
                pl.DataFrame({"raw": distinct}).with_row_index("id"),
                on="raw",
                how="left",
                maintain_order="left",
                nulls_equal=True,
            )["id"]
            .cast(pl.UInt32)
        )
        label = label.scatter(rows, ids + columns.height)
        columns = pl.concat([columns, answered], rechunk=True)

    return (
        pl.LazyFrame(
            {
                "kind": columns["kind"].gather(label),
                "prefix": columns["prefix"].gather(label),
                "rest": length - columns["skip"].gather(label),
                "value": value,
                "country": columns["country"].gather(label),
                "country_code": columns["country_code"].gather(label),
                "operator": columns["operator"].gather(label),
                "problem": columns["problem"].gather(label),
            }
        )
        .with_columns(
            key=pl.when(pl.col("kind") == _VALID)
            .then(
                pl.col("value") % pl.lit(_POWERS).gather(pl.col("rest"))
                + pl.col("prefix") * pl.lit(_POWERS).gather(pl.col("rest"))
            )
            .when(pl.col("kind") == _ANSWERED)
            .then("prefix")
        )
        .select(
            dstno=pl.col("key").cast(pl.String),
            country="country",
            country_code="country_code",
            operator="operator",
            problem="problem",
            key="key",
        )
        .collect()
    )


def normalise_numbers(
    numbers: pl.Series | Iterable[str | None],
    region: str = "MY",
    *,
    suppress: pl.Series | Iterable[str | None] | None = None,
    mark_duplicates: bool = True,
) -> pl.DataFrame:
    """Normalise a column of phone numbers, one output row per input row.

    Returns ``dstno`` (international digits, no ``+``), ``country`` (region
    code), ``country_code``, ``operator`` (the *original* operator of the
    number's range: numbers get ported) and ``number_problem``: null when the
    number can be sent to, else ``missing number``, ``invalid number``,
    ``number damaged by Excel (digits lost)``, ``several numbers in one
    cell``, ``letters in the number …``, ``not a mobile number``,
    ``suppressed`` (in ``suppress``, numbers spelled any way) or
    ``duplicate`` (the first row with a number is kept; with
    ``mark_duplicates=False`` repeats are left for the caller to judge).
    """
    series = numbers if isinstance(numbers, pl.Series) else pl.Series(list(numbers))
    series = series.cast(pl.String).rename("raw")
    frame = _normalise(series, _check_region(region))

    blocked = pl.lit(False)
    if suppress is not None:
        blocked_keys = normalise_numbers(suppress, region)["dstno"].drop_nulls()
        blocked = pl.col("key").is_in(blocked_keys.str.to_integer().unique().implode())
    problems = [pl.col("problem"), pl.when(blocked).then(pl.lit(SUPPRESSED))]
    if mark_duplicates:
        problems.append(
            pl.when(pl.col("key").is_not_null() & ~pl.col("key").is_first_distinct()).then(
                pl.lit(DUPLICATE)
            )
        )
    return (
        frame.lazy()
        .select(
            "dstno",
            "country",
            "country_code",
            "operator",
            number_problem=pl.coalesce(*problems),
        )
        .collect()
    )


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

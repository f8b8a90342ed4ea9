"""Reading contact lists (CSV, TSV, Excel, Parquet, JSON → a polars frame) and number lists.

Every column of a text file is read as text, exactly as written: a phone
number never becomes a float (losing its leading 0) and ``49.90`` renders as
``49.90``. Binary formats keep their types, except that the number column is
made text.

Number lists (opt-outs to suppress) are read so that no entry is lost: with
or without a header, one number per line or a column of a table, a note
beside a number (``0191234567 (Siti)``) or several numbers in one entry; an
entry that holds no readable number is an error naming it, never skipped.

>>> df = read_contacts("data/sample_contacts.csv")  # doctest: +SKIP
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import fastexcel
import polars as pl

from .errors import ContactsError, setting
from .numbers import INVALID, find_number_column, normalise_numbers

_TEXT = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
_EXCEL = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
_JSON = {".json", ".jsonl", ".ndjson"}


def read_contacts(
    path: str | Path,
    *,
    number_column: str | None = None,
    sheet: str | int | None = None,
    encoding: str = "utf-8",
) -> pl.DataFrame:
    """Read a contact list; the number column is found by name or given.

    ``sheet`` picks an Excel sheet (its name, or its 0-based position; the
    first by default). ``encoding`` is for text files not saved as UTF-8
    (a byte-order mark, UTF-8 or UTF-16, is recognised whatever it says).
    """
    return as_text_numbers(read_table(Path(path), sheet, encoding), number_column)


def read_table(path: Path, sheet: str | int | None = None, encoding: str = "utf-8") -> pl.DataFrame:
    """Any table file we read (contacts, suppression lists, delivery-report exports)."""
    if not path.exists():
        raise ContactsError(f"Contact file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    if sheet is not None and suffix not in _EXCEL:
        raise ContactsError(
            f"{path.name!r} is not an Excel file: {setting('sheet', sheet)} is only for "
            f"{', '.join(sorted(_EXCEL))}."
        )
    try:
        if suffix in _TEXT:
            return _read_text(path, _TEXT[suffix], encoding)
        if suffix in _EXCEL:
            return _read_excel(path, sheet)
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix in _JSON:
            return _read_json(path, suffix)
    except ContactsError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError, fastexcel.FastExcelError) as exc:
        raise ContactsError(f"Cannot read {path.name!r}: {_first_line(exc)}") from None
    raise ContactsError(
        f"Cannot read {path.name!r}: use .csv, .tsv, .xlsx, .parquet, .json or .jsonl."
    )


def as_text_numbers(frame: pl.DataFrame, number_column: str | None = None) -> pl.DataFrame:
    """Check the number column exists and make it text (floats only when whole)."""
    if frame.width == 0:
        raise ContactsError("The contact list has no columns.")
    column = find_number_column(frame.columns) if number_column is None else number_column
    if column not in frame.columns:
        raise ContactsError(
            f"{setting('number_column', column)} is not a column; the columns are {frame.columns}."
        )
    dtype = frame.schema[column]
    if dtype.is_nested():
        example = frame[column].drop_nulls().head(1).to_list()
        raise ContactsError(
            f"Column {column!r} holds {dtype} values (e.g. {example[0] if example else None!r}), "
            f"not one phone number per row: write one number per row."
        )
    if dtype.is_float():
        # Excel stored the number as a float: keep whole values exactly and let
        # anything with a fraction show up as an invalid number.
        values = pl.col(column)
        as_int = values.cast(pl.Int64, strict=False).cast(pl.String)
        frame = frame.with_columns(
            pl.when(values == values.round()).then(as_int).otherwise(values.cast(pl.String))
        )
    elif dtype != pl.String:
        frame = frame.with_columns(pl.col(column).cast(pl.String))
    return frame


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _decode(data: bytes, encoding: str, name: str) -> str:
    """Text of a file: its byte-order mark decides, else ``encoding``."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")  # Excel's "Unicode Text" is UTF-16 with a BOM
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    try:
        return data.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise ContactsError(
            f"{name!r} is not {encoding} text (byte {exc.start}). In Excel use "
            f"'Save As → CSV UTF-8', or pass {setting('encoding', 'cp1252')} (or the "
            f"file's encoding)."
        ) from None
    except LookupError:
        raise ContactsError(
            f"{setting('encoding', encoding)} is not a text encoding Python knows: "
            f"use e.g. utf-8, cp1252 or utf-16."
        ) from None


def _read_text(path: Path, separator: str | None, encoding: str) -> pl.DataFrame:
    text = _decode(path.read_bytes(), encoding, path.name)
    if separator is None:  # .txt: tab if the header has one, else comma
        header = text.split("\n", 1)[0]
        separator = "\t" if "\t" in header else ","
    return pl.read_csv(
        text.encode(),
        separator=separator,
        infer_schema=False,
        truncate_ragged_lines=False,
    )


def _read_excel(path: Path, sheet: str | int | None) -> pl.DataFrame:
    names = fastexcel.read_excel(str(path)).sheet_names
    position = sheet or 0
    if isinstance(sheet, str) and sheet not in names:
        if not sheet.strip().isdigit():
            raise ContactsError(
                f"{path.name!r} has no sheet {sheet!r}; its sheets are {names}. Give a "
                f"sheet's name or its position ({setting('sheet', 0)} for the first)."
            )
        position = int(sheet)  # a position typed on the command line
    if isinstance(position, int) and not 0 <= position < len(names):
        raise ContactsError(
            f"{path.name!r} has {len(names)} sheet(s) ({names}): there is no sheet at "
            f"position {position} ({setting('sheet', 0)} is the first)."
        )
    name = names[position] if isinstance(position, int) else position
    return _dates_as_dates(pl.read_excel(path, sheet_name=name, infer_schema_length=0))


_MIDNIGHT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} 00:00:00$"


def _dates_as_dates(frame: pl.DataFrame) -> pl.DataFrame:
    """Excel date cells come as text ``1990-05-23 00:00:00``: a column whose every
    value is such a midnight is a column of dates, written ``1990-05-23``."""
    dates = frame.select(
        pl.col(pl.String).str.contains(_MIDNIGHT).all() & pl.col(pl.String).is_not_null().any()
    )
    columns = [c for c in dates.columns if dates[c][0]]
    return frame.with_columns(pl.col(columns).str.slice(0, 10)) if columns else frame


def _read_json(path: Path, suffix: str) -> pl.DataFrame:
    if suffix in {".jsonl", ".ndjson"}:
        return pl.read_ndjson(path)
    return pl.read_json(path)


# --------------------------------------------------------------------------
# Number lists: suppression (opt-out) files, frames, Series, lists
# --------------------------------------------------------------------------

# A number written inside other text: digits with what people put between
# them, after an optional + or (. A run of fewer digits than any phone number
# has (a year, a count) is part of a note.
_NUMBER_IN_TEXT = re.compile(r"[+(]?\d[\d \t().\-]*\d")
_PHONE_DIGITS = 7
_SHOWN = 5  # unreadable entries quoted in an error; the rest are located only
_LOCATED = 20


def read_numbers(source: object, region: str = "MY", *, what: str = "suppress list") -> pl.Series:
    """The phone numbers of a number list, as ``+`` and international digits.

    ``source`` is a file (CSV/TSV/TXT with or without a header, Excel,
    Parquet, JSON), a polars frame or Series, or any iterable of numbers.
    A file with one column (or no recognised header) is read one entry per
    line; a table's number column is found by name. Blank entries are not
    entries. An entry may hold a note beside its number (``0191234567
    (Siti)``) or several numbers (``0123456789; 0191234567``): each number in
    it is read. An entry without a readable number, or with a run of digits
    that is not a phone number (``6.01912346E10``: Excel rounded it), raises
    :class:`ContactsError` naming every such entry: nothing is skipped, so no
    one on an opt-out list is messaged because their line could not be read.

    >>> read_numbers(["012-345 6789", "0191234567 (Siti)", None]).to_list()
    ['+60123456789', '+60191234567']
    """
    entries, name = _number_entries(source)
    label = f"{what} {name!r}" if name else what
    return _read_entries(entries, region, label)


def _entries(where: pl.Expr, entry: pl.Series, at: pl.Series | None = None) -> pl.DataFrame:
    """The non-blank entries of a list: where each is (``line 3``) and its text."""
    frame = pl.DataFrame({"entry": entry.cast(pl.String)})
    frame = frame.with_columns(at=at) if at is not None else frame.with_row_index("at")
    return frame.filter(pl.col("entry").str.strip_chars() != "").select(where=where, entry="entry")


def _number_entries(source: object) -> tuple[pl.DataFrame, str | None]:
    """Each entry with where it is ('line 3', 'row 4', 'item 0'), and the file's name."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise ContactsError(f"Number list {str(path)!r} does not exist.")
        suffix = path.suffix.lower()
        try:
            if suffix in _TEXT:
                return _text_entries(path), path.name
            if suffix in _EXCEL:
                return _excel_entries(path), path.name
        except ContactsError:
            raise
        except (
            pl.exceptions.PolarsError,
            OSError,
            ValueError,
            csv.Error,
            fastexcel.FastExcelError,
        ) as exc:
            raise ContactsError(f"Cannot read {path.name!r}: {_first_line(exc)}") from None
        return _frame_entries(read_table(path), path.name), path.name
    if isinstance(source, pl.Series):
        return _frame_entries(source.to_frame(), None), None
    if isinstance(source, pl.DataFrame):
        return _frame_entries(source, None), None
    if isinstance(source, Iterable):
        items = pl.Series([None if v is None else str(v) for v in source], dtype=pl.String)
        return _entries(pl.format("item {}", "at"), items), None
    raise ContactsError(
        f"Cannot read numbers from {type(source).__name__}: give a list, a polars "
        f"Series or frame, or a file path."
    )


def _text_entries(path: Path) -> pl.DataFrame:
    data = path.read_bytes()
    try:
        text = _decode(data, "utf-8", path.name)
    except ContactsError:
        # Only the digits matter, and they are the same bytes in every 8-bit
        # Windows encoding: read the rest (names, notes) as Windows Latin.
        text = data.decode("cp1252", errors="replace")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    line = pl.format("line {}", "at")
    entries = _entries(line, pl.Series(lines), pl.int_range(1, len(lines) + 1, eager=True))
    if entries.is_empty():
        return entries
    first_no = int(entries["where"][0].removeprefix("line "))
    first = lines[first_no - 1]
    separator = "\t" if "\t" in first else ";" if ";" in first and "," not in first else ","
    cells = next(csv.reader([first], delimiter=separator))
    if not _is_header(cells):
        return entries
    if len(cells) == 1:
        return entries.slice(1)
    column = _header_column(cells, path.name)
    at, cell = [], []
    reader = csv.reader(lines[first_no:], delimiter=separator)
    for row in reader:
        # A row that does not match the header is read whole: its number may be
        # in any cell.
        at.append(first_no + reader.line_num)
        cell.append(row[column] if len(row) == len(cells) else separator.join(row))
    return _entries(line, pl.Series(cell, dtype=pl.String), pl.Series(at, dtype=pl.Int64))


def _excel_entries(path: Path) -> pl.DataFrame:
    # The first sheet as text from its row 1, so that positions are Excel's row numbers.
    sheet = fastexcel.read_excel(str(path)).load_sheet(
        0, header_row=None, skip_rows=0, dtypes="string"
    )
    rows = [
        (n, [c if c is not None else "" for c in row])
        for n, row in enumerate(sheet.to_polars().rows(), 1)
        if any(c is not None and c.strip() for c in row)
    ]
    column = None
    if rows and _is_header(rows[0][1]):
        header = rows.pop(0)[1]
        if sum(bool(c.strip()) for c in header) > 1 or _number_cell(header) is not None:
            column = _header_column(header, path.name)
    cells = [" ".join(c for c in r if c.strip()) if column is None else r[column] for _, r in rows]
    at = pl.Series([n for n, _ in rows], dtype=pl.Int64)
    return _entries(pl.format("row {}", "at"), pl.Series(cells, dtype=pl.String), at)


def _frame_entries(frame: pl.DataFrame, name: str | None) -> pl.DataFrame:
    if frame.width == 0:
        raise ContactsError(f"The number list {f'{name!r} ' if name else ''}has no columns.")
    column = frame.columns[0 if frame.width == 1 else _header_column(frame.columns, name)]
    values = as_text_numbers(frame.select(column), column)[column]
    entries = _entries(pl.format("item {}", "at"), values)
    if frame.width == 1 and _phone_like(column):
        # Read without a header, its first number became the column's name.
        named = pl.DataFrame({"where": ["the column name"], "entry": [column]})
        entries = pl.concat([named, entries])
    return entries


def _is_header(cells: Sequence[str]) -> bool:
    """A first line is a header when it names the number column, or when it is
    words with no number in it ('Opt-outs', 'No. Telefon'); a note beside a
    number ('0191234567 (Siti)') or Excel's notation ('6.0191234567E10') is not."""
    if _number_cell(cells) is not None:
        return True
    text = " ".join(cells)
    return any(c.isalpha() for c in text) and not _phone_like(text)


def _number_cell(cells: Sequence[str]) -> int | None:
    try:
        return list(cells).index(find_number_column([c.strip() for c in cells]).strip())
    except (ContactsError, ValueError):
        return None


def _header_column(cells: Sequence[str], name: str | None) -> int:
    found = _number_cell(cells)
    if found is None:
        raise ContactsError(
            f"The number list {f'{name!r} ' if name else ''}has columns {list(cells)} and none "
            f"is named like a phone-number column: name it 'phone' (or 'mobile', 'hp', "
            f"'msisdn' …), or give a list with one number per line."
        )
    return found


def _phone_like(text: str) -> bool:
    return any(
        sum(c.isdigit() for c in m.group()) >= _PHONE_DIGITS for m in _NUMBER_IN_TEXT.finditer(text)
    )


def _read_entries(entries: pl.DataFrame, region: str, label: str) -> pl.Series:
    whole = normalise_numbers(entries["entry"], region).with_row_index("i")
    failed = whole.filter(pl.col("dstno").is_null()).select("i", "number_problem")
    texts = entries["entry"].gather(failed["i"]).to_list()
    # Second chance: the numbers written inside each entry's text.
    owners: list[int] = []
    found: list[str] = []
    for i, text in zip(failed["i"].to_list(), texts, strict=True):
        for match in _NUMBER_IN_TEXT.finditer(text):
            owners.append(i)
            found.append(match.group())
    inside = pl.DataFrame(
        {
            "i": pl.Series(owners, dtype=pl.UInt32),
            "text": pl.Series(found, dtype=pl.String),
            "dstno": normalise_numbers(pl.Series(found, dtype=pl.String), region)["dstno"],
        }
    )
    read = set(inside.filter(pl.col("dstno").is_not_null())["i"].to_list())
    wrong: dict[int, str] = {}
    for i, text, dstno in inside.iter_rows():
        if dstno is None and sum(c.isdigit() for c in text) >= _PHONE_DIGITS:
            wrong.setdefault(i, f"{text.strip()!r} is not a phone number")
    unreadable: list[tuple[int, str]] = []
    for (i, problem), text in zip(failed.iter_rows(), texts, strict=True):
        if i in wrong and i in read:
            unreadable.append((i, wrong[i]))
        elif i not in read:
            words = any(c.isalpha() for c in text) and not _phone_like(text)
            unreadable.append((i, "no number" if words else problem))
    if unreadable:
        raise ContactsError(_unreadable_message(label, entries, unreadable))
    numbers = pl.concat([whole.select("i", "dstno"), inside.select("i", "dstno")])
    return (
        numbers.filter(pl.col("dstno").is_not_null())
        .sort("i", maintain_order=True)
        .select(number="+" + pl.col("dstno"))
        .to_series()
    )


def _unreadable_message(
    label: str, entries: pl.DataFrame, unreadable: list[tuple[int, str]]
) -> str:
    n = len(unreadable)
    where = entries["where"].gather([i for i, _ in unreadable[: _SHOWN + _LOCATED]]).to_list()
    text = entries["entry"].gather([i for i, _ in unreadable[:_SHOWN]]).to_list()
    shown = "; ".join(
        f"{w} {t.strip()!r} ({why})"
        for w, t, (_, why) in zip(where, text, unreadable[:_SHOWN], strict=False)
    )
    rest = where[_SHOWN:]
    if rest:
        more = n - _SHOWN
        shown += f"; and {more:,} more: {', '.join(rest)}{' …' if more > len(rest) else ''}"
    foreign = any(why == INVALID for _, why in unreadable)
    return (
        f"The {label} has {n:,} {'entry' if n == 1 else 'entries'} without a readable phone "
        f"number: {shown}. Nothing is planned until every entry is read, so that no one on "
        f"the list is messaged by mistake: correct {'it' if n == 1 else 'them'} (a note "
        f"beside a number, like '0191234567 (Siti)', is fine"
        f"{'; a number of another country needs its code, like +65 9123 4567' if foreign else ''}"
        f") or delete what is not a number."
    )

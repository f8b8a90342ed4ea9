"""Reading contact lists: CSV, TSV, Excel, Parquet, JSON → a polars frame.

Every column of a text file is read as text, exactly as written: a phone
number never becomes a float (losing its leading 0) and ``49.90`` renders as
``49.90``. Binary formats keep their types, except that the number column is
made text.

>>> df = read_contacts("data/sample_contacts.csv")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from .errors import ContactsError
from .numbers import find_number_column

_TEXT = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
_EXCEL = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}


def read_contacts(
    path: str | Path,
    *,
    number_column: str | None = None,
    sheet: str | int | None = None,
    encoding: str = "utf-8",
) -> pl.DataFrame:
    """Read a contact list; the number column is found by name or given.

    ``sheet`` picks an Excel sheet (name or 0-based position; the first by
    default). ``encoding`` is for text files not saved as UTF-8.
    """
    return as_text_numbers(read_table(Path(path), sheet, encoding), number_column)


def read_table(path: Path, sheet: str | int | None = None, encoding: str = "utf-8") -> pl.DataFrame:
    """Any table file we read (contacts, suppression lists, delivery-report exports)."""
    if not path.exists():
        raise ContactsError(f"Contact file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in _TEXT:
            return _read_text(path, _TEXT[suffix], encoding)
        if suffix in _EXCEL:
            return _read_excel(path, sheet)
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix in {".json", ".jsonl", ".ndjson"}:
            return _read_json(path, suffix)
    except ContactsError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContactsError(f"Cannot read {path.name!r}: {first}") from None
    raise ContactsError(
        f"Cannot read {path.name!r}: use .csv, .tsv, .xlsx, .parquet, .json or .jsonl."
    )


def as_text_numbers(frame: pl.DataFrame, number_column: str | None = None) -> pl.DataFrame:
    """Check the number column exists and make it text (floats only when whole)."""
    if frame.width == 0:
        raise ContactsError("The contact list has no columns.")
    column = number_column or find_number_column(frame.columns)
    if column not in frame.columns:
        raise ContactsError(
            f"number_column={column!r} is not a column; the columns are {frame.columns}."
        )
    dtype = frame.schema[column]
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


def _read_text(path: Path, separator: str | None, encoding: str) -> pl.DataFrame:
    data = path.read_bytes()
    try:
        text = data.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise ContactsError(
            f"{path.name!r} is not {encoding} text (byte {exc.start}). In Excel use "
            f"'Save As → CSV UTF-8', or pass encoding='cp1252' (or the file's encoding)."
        ) from None
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
    if isinstance(sheet, str):
        frame = pl.read_excel(path, sheet_name=sheet, infer_schema_length=0)
    else:
        frame = pl.read_excel(path, sheet_id=(sheet or 0) + 1, infer_schema_length=0)
    return _dates_as_dates(frame)


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


def read_numbers(source: object) -> pl.Series:
    """Phone numbers from a list, Series, frame or file (a suppression list)."""
    if isinstance(source, pl.Series):
        return source.cast(pl.String)
    if isinstance(source, pl.DataFrame):
        if source.width == 1:
            return source.to_series().cast(pl.String)
        return source[find_number_column(source.columns)].cast(pl.String)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if _is_plain_list(path):
            lines = path.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()
            return pl.Series("number", [line for line in lines if line.strip()], pl.String)
        return read_numbers(read_table(path))
    if isinstance(source, Iterable):
        return pl.Series("number", [None if v is None else str(v) for v in source], pl.String)
    raise ContactsError(
        f"Cannot read numbers from {type(source).__name__}: give a list, a polars "
        f"Series or frame, or a file path."
    )


def _is_plain_list(path: Path) -> bool:
    """A file with one number per line and no header."""
    if not path.exists() or path.suffix.lower() not in _TEXT:
        return False
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline().strip().lstrip("\ufeff")
    return bool(first) and not any(c.isalpha() for c in first)

"""Delivery reports: read them from any source into one frame of events.

Sources: callback URLs or any text log whose lines hold the callback's query
string (nginx/Apache access logs included: their ``[timestamp]`` is the
event time), JSON lines (the receiver's spool, or any JSONL with those keys),
CSV/TSV/Parquet/JSON with ``msisdn``, ``trx_id``, ``dn_status`` and
optionally a time column, a polars frame, a directory or a glob of any of
these. Text files, JSON lines included, are read from where the last import
stopped. Everything is parsed with polars expressions: no Python loop over
lines.

>>> line = '1.2.3.4 - - [21/Nov/2026:10:00:00 +0000] "GET /dlr?msisdn=60123456789&trx_id=7&dn_status=delivered HTTP/1.1" 200 2'
>>> parse_lines(pl.Series([line])).select("msisdn", "trx_id", "dn_status").row(0)
('60123456789', '7', 'DELIVERED')
"""  # noqa: E501

from __future__ import annotations

import glob
import gzip
import hashlib
import html
import os
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from ._html import STYLE, div, notes_html, table
from .analytics import DEFAULT_TIME_ZONE  # times without an offset: the gateway's
from .contacts import read_table
from .errors import ContactsError, IsmsError

EVENT_COLUMNS = ("msisdn", "trx_id", "dn_status", "event_at", "source", "line")
# JSON lines are read as text: line by line, incrementally, a bad line reported.
TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".json"}
# A report's time before this, or more than a day after its import, is a
# placeholder or a broken clock (9999-12-31, 1970-01-01): never a status.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=1)
# A last line without a newline is read once its file has been quiet this long.
SETTLE_SECONDS = 5.0
# A file is known by the hash of its first bytes too (a log recreated in place).
HEAD_BYTES = 4096
TIME_COLUMNS = ("event_at", "time", "timestamp", "received_at", "datetime", "date")
_EVENT_SCHEMA = {
    "msisdn": pl.String,
    "trx_id": pl.String,
    "dn_status": pl.String,
    "event_at": pl.Datetime("us", "UTC"),
    "source": pl.String,
    "line": pl.Int64,
}


class DlrError(IsmsError, ValueError):
    """A delivery-report source that cannot be read at all."""


@dataclass(frozen=True)
class Taken:
    """How far an import read a text file, and which file that was: its resolved
    path, device and inode, and the hash of its first ``head_bytes`` bytes."""

    source: str
    bytes: int
    lines: int
    device: int
    inode: int
    head: str
    head_bytes: int


@dataclass
class Parsed:
    """Events read from sources, and the lines that were not events."""

    events: pl.DataFrame
    malformed: pl.DataFrame  # source, line, text, reason
    ignored: int = 0  # lines with no callback parameters (other requests, blanks)
    offsets: list[Taken] = field(default_factory=list)
    held_back: int = 0  # last lines without a newline, in files still being written
    restarted: list[str] = field(default_factory=list)  # files read again from the start


# The callback's own query, as iSMS writes it: the three fields in one pass.
_CANONICAL = r"[?&\s]msisdn=(?P<msisdn>[^&\s\"']*)&trx_id=(?P<trx_id>[^&\s\"']*)" + (
    r"&dn_status=(?P<dn_status>[^&\s\"']*)"
)


def _param(canonical: pl.Expr, plain: pl.Expr, json: pl.Expr, name: str) -> pl.Expr:
    """A callback field: from the canonical query (one regex for all three), else from
    a line of text in another order (``plain``: null where the canonical query was
    found) or a JSON line (``json``); a regex skips nulls."""
    # A query value runs to the next &, space or quote; '+' and %20 are spaces
    # in a query. A JSON line has "name": "value" or a bare number (null is
    # no value).
    raw = pl.coalesce(
        canonical.struct.field(name), plain.str.extract(rf"(?:^|[?&\s]){name}=([^&\s\"']*)", 1)
    )
    query = raw.str.replace_all(r"\+|%20", " ").str.replace_all("%2B", "+")
    quoted = json.str.extract(rf'"{name}"\s*:\s*"([^"\\]*)"', 1)
    number = json.str.extract(rf'"{name}"\s*:\s*(-?[0-9][0-9.eE+-]*)', 1)
    return pl.coalesce(query, quoted, number)


def _clean(events: pl.LazyFrame) -> pl.LazyFrame:
    """Normalise the three fields; flag what makes an event unusable."""
    msisdn = pl.col("msisdn").str.replace_all(r"\D", "")
    status = pl.col("dn_status").str.strip_chars().str.to_uppercase()
    trx = pl.col("trx_id").str.strip_chars()
    return events.with_columns(
        msisdn=pl.when(msisdn != "").then(msisdn),
        dn_status=pl.when(status != "").then(status),
        trx_id=pl.when(trx != "").then(trx),
    ).with_columns(
        reason=pl.when(pl.col("trx_id").is_null())
        .then(pl.lit("no trx_id"))
        .when(pl.col("dn_status").is_null())
        .then(pl.lit("no dn_status"))
    )


_ISO = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"


def _judge_time(events: pl.LazyFrame, now: datetime) -> pl.LazyFrame:
    """A time given but unreadable, or implausible, makes the event malformed: it
    must never become a message's status (``time_text``: the time as written)."""
    at = pl.col("event_at")
    given = pl.col("time_text").str.strip_chars().fill_null("") != ""
    return events.with_columns(
        reason=pl.coalesce(
            "reason",
            pl.when(given & at.is_null()).then(
                pl.format("unreadable time {}", pl.col("time_text").str.slice(0, 40))
            ),
            pl.when((at < EARLIEST) | (at > now + LATEST_AHEAD)).then(
                pl.format(
                    "implausible time {}",
                    pl.coalesce(
                        pl.col("time_text").str.slice(0, 40), at.dt.strftime("%Y-%m-%d %H:%M:%S")
                    ),
                )
            ),
        )
    )


def parse_lines(
    lines: pl.Series,
    source: str = "lines",
    first_line: int = 1,
    time_zone: str = DEFAULT_TIME_ZONE,
    now: datetime | None = None,
) -> pl.DataFrame:
    """Callback URLs, log lines or JSON lines -> events (``reason`` set on unusable ones).

    The event time is an access log's ``[timestamp]``, an ISO time opening
    the line, or a JSON line's time key (``received_at``, ``event_at``…).
    Lines that hold none of the callback's parameters get reason ``ignored``;
    a time that cannot be read, or is before 2000 or more than a day after
    ``now``, makes the line malformed.
    """
    text, plain, json = pl.col("text"), pl.col("plain"), pl.col("json")
    stamp = plain.str.extract(r"\[(\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]", 1)
    # An ISO time opening the line, or a JSON time key's value, whatever it holds.
    iso = pl.coalesce(
        plain.str.extract(rf"^\s*({_ISO})", 1),
        # A quoted value, or a bare number (no ISO time: reported as unreadable).
        json.str.extract(rf'"(?:{"|".join(TIME_COLUMNS)})"\s*:\s*"([^"]*)"', 1),
        json.str.extract(rf'"(?:{"|".join(TIME_COLUMNS)})"\s*:\s*(-?[0-9][0-9.eE+-]*)', 1),
    )
    frame = pl.DataFrame({"text": lines.cast(pl.String)}).with_row_index("line", offset=first_line)
    is_json = text.str.starts_with("{")
    canonical = pl.col("canonical")
    parsed = (
        frame.lazy()
        .with_columns(plain=pl.when(~is_json).then(text), json=pl.when(is_json).then(text))
        .with_columns(canonical=plain.str.extract_groups(_CANONICAL))
        .with_columns(rest=pl.when(canonical.struct.field("msisdn").is_null()).then(plain))
        .with_columns(
            msisdn=_param(canonical, pl.col("rest"), json, "msisdn"),
            trx_id=_param(canonical, pl.col("rest"), json, "trx_id"),
            dn_status=_param(canonical, pl.col("rest"), json, "dn_status"),
            event_at=pl.coalesce(
                stamp.str.strptime(pl.Datetime("us", "UTC"), "%d/%b/%Y:%H:%M:%S %z", strict=False),
                _to_utc(iso, time_zone),
            ),
            time_text=pl.coalesce(stamp, iso),
            source=pl.lit(source),
            line=pl.col("line").cast(pl.Int64),
        )
    )
    # A line is ignored when it names none of the fields (read only where none was found).
    found = pl.any_horizontal(pl.col(f).is_not_null() for f in ("msisdn", "trx_id", "dn_status"))
    names = pl.when(~found).then(text).str.contains(r"(?:msisdn|trx_id|dn_status)(?:=|\"\s*:)")
    cleaned = (
        parsed.with_columns(named=found | names.fill_null(True))
        .pipe(_clean)
        .pipe(_judge_time, now or datetime.now(UTC))
        .with_columns(
            reason=pl.when(~pl.col("named")).then(pl.lit("ignored")).otherwise(pl.col("reason"))
        )
    )
    return cleaned.drop("time_text", "plain", "json", "canonical", "rest", "named").collect()


_AWARE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?[+-]\d{2}:\d{2}$"
_NAIVE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?$"


def _to_utc(text: pl.Expr, time_zone: str = DEFAULT_TIME_ZONE) -> pl.Expr:
    """ISO-8601 text with or without an offset; without one it is in ``time_zone``.
    A date alone is its midnight; an offset may be ``Z``, ``+08``, ``+0800`` or
    ``+08:00``. Anything else is null (the caller reports it as unreadable)."""
    value = (
        text.str.strip_chars()
        .str.replace(" ", "T")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})$", "${1}T00:00:00")
        .str.replace(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})([+Z-]|$)", "${1}:00${2}")
        .str.replace(r"Z$", "+00:00")
        .str.replace(r"([+-]\d{2})(\d{2})$", "${1}:${2}")
        .str.replace(r"([+-]\d{2})$", "${1}:00")
    )
    # Each branch parses only its own, strictly shaped kind: polars infers one
    # format per column, and a stray shape must not reach the other branch.
    aware = (
        pl.when(value.str.contains(_AWARE))
        .then(value)
        .str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
    )
    naive = (
        pl.when(value.str.contains(_NAIVE))
        .then(value)
        .str.to_datetime(strict=False, time_unit="us")
        .dt.replace_time_zone(time_zone, non_existent="null", ambiguous="earliest")
        .dt.convert_time_zone("UTC")
    )
    return pl.coalesce(aware, naive)


def column_to_utc(frame: pl.DataFrame, time: str, time_zone: str = DEFAULT_TIME_ZONE) -> pl.Expr:
    """The times of column ``time`` in UTC: datetimes, dates or ISO-8601 text; those
    without an offset are in ``time_zone``; text that is no time becomes null."""
    dtype = frame.schema[time]
    if isinstance(dtype, pl.Datetime):
        return (
            pl.col(time).dt.convert_time_zone("UTC")
            if dtype.time_zone
            else pl.col(time).dt.replace_time_zone(time_zone).dt.convert_time_zone("UTC")
        ).dt.cast_time_unit("us")
    return _to_utc(pl.col(time).cast(pl.String), time_zone)


def parse_table(
    frame: pl.DataFrame,
    source: str,
    time_zone: str = DEFAULT_TIME_ZONE,
    now: datetime | None = None,
) -> pl.DataFrame:
    """A frame with msisdn, trx_id, dn_status (and perhaps a time) -> events."""
    columns = {c.lower().strip(): c for c in frame.columns}
    missing = [c for c in ("msisdn", "trx_id", "dn_status") if c not in columns]
    if missing:
        raise DlrError(
            f"{source}: no column {', '.join(missing)}; a delivery-report table needs "
            f"msisdn, trx_id and dn_status (its columns are {frame.columns})."
        )
    time = next((columns[c] for c in TIME_COLUMNS if c in columns), None)
    time_text = pl.lit(None, pl.String)
    if time is None:
        event_at = pl.lit(None, pl.Datetime("us", "UTC"))
    else:
        event_at = column_to_utc(frame, time, time_zone)
        if not isinstance(frame.schema[time], (pl.Date, pl.Datetime)):
            time_text = pl.col(time).cast(pl.String)
    first = 2 if Path(source).suffix.lower() in (".csv", ".tsv") else 1  # after a header
    events = frame.lazy().select(
        msisdn=pl.col(columns["msisdn"]).cast(pl.String),
        trx_id=pl.col(columns["trx_id"]).cast(pl.String),
        dn_status=pl.col(columns["dn_status"]).cast(pl.String),
        event_at=event_at,
        time_text=time_text,
        source=pl.lit(source),
        line=pl.int_range(pl.len(), dtype=pl.Int64) + first,
        text=pl.concat_str(
            [pl.col(columns[c]).cast(pl.String) for c in ("msisdn", "trx_id", "dn_status")],
            separator=",",
            ignore_nulls=True,
        ),
    )
    return _judge_time(_clean(events), now or datetime.now(UTC)).drop("time_text").collect()


def read_sources(
    source: Any,
    *,
    offsets: dict[str, Taken] | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> Parsed:
    """Every event in ``source``: a frame, a file, a directory, a glob, or a list of them.

    ``offsets`` maps a text file (its resolved path) to how far an earlier
    import read it: only what was appended since is read. A file replaced,
    truncated or rewritten since is read again from the start (and said
    so). ``.gz`` files (rotated logs) are read whole, once.
    """
    offsets = offsets or {}
    now = datetime.now(UTC)
    parts: list[pl.DataFrame] = []
    parsed = Parsed(pl.DataFrame(), pl.DataFrame())
    for item in _expand(source):
        if isinstance(item, pl.DataFrame):
            parts.append(parse_table(item, "frame", time_zone, now))
        elif item.suffix.lower() in TABLE_SUFFIXES:
            parts.append(parse_table(_read_table(item), str(item), time_zone, now))
        else:
            parts.append(_read_text(item, offsets, time_zone, now, parsed))
    if not parts:
        raise DlrError(f"No delivery reports found in {source!r}.")
    every = pl.concat(
        [p.select(*EVENT_COLUMNS, "text", "reason") for p in parts], how="vertical_relaxed"
    )
    bad = every.filter(pl.col("reason").is_not_null() & (pl.col("reason") != "ignored"))
    parsed.events = (
        every.filter(pl.col("reason").is_null()).select(EVENT_COLUMNS).cast(_EVENT_SCHEMA)  # type: ignore[arg-type]
    )
    parsed.malformed = bad.select("source", "line", "text", "reason")
    parsed.ignored = int((every["reason"] == "ignored").sum())
    return parsed


def describe_source(source: Any) -> str:
    """A source as people read it: its paths (a frame is "a frame")."""
    if isinstance(source, pl.DataFrame):
        return "a frame"
    if isinstance(source, (list, tuple)):
        return ", ".join(describe_source(s) for s in source)
    return str(source)


def _expand(source: Any) -> list[pl.DataFrame | Path]:
    if isinstance(source, pl.DataFrame):
        return [source]
    if isinstance(source, (list, tuple)):
        return [item for s in source for item in _expand(s)]
    if not isinstance(source, (str, Path)):
        raise DlrError(
            f"Cannot read delivery reports from a {type(source).__name__}: give a file, a "
            f"folder, a glob such as 'logs/*.log', or a polars DataFrame."
        )
    path = Path(source)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if path.is_file():
        return [path]
    matches = sorted(Path(p) for p in glob.glob(str(source), recursive=True))
    files: list[pl.DataFrame | Path] = [p for p in matches if p.is_file()]
    if not files:
        raise DlrError(f"No file matches {str(source)!r}: check the path.")
    return files


def _read_table(path: Path) -> pl.DataFrame:
    try:
        return read_table(path)
    except ContactsError as exc:  # the same reader as contact lists; our error type
        raise DlrError(str(exc)) from None


def _read_text(
    path: Path, offsets: dict[str, Taken], time_zone: str, now: datetime, parsed: Parsed
) -> pl.DataFrame:
    """The lines of a text file not read before (recording how far it was read in
    ``parsed``). A last line without a newline waits until the file has been
    quiet for :data:`SETTLE_SECONDS`: it may still be being written."""
    where = str(path.resolve())
    stat = path.stat()
    before = offsets.get(where)
    if before is not None:
        changed = _changed(path, stat, before)
        if changed:
            parsed.restarted.append(
                f"{where}: {changed} since the last import, read from the start"
            )
            before = None
    gz = path.suffix.lower() == ".gz"
    if gz and before is not None and before.bytes == stat.st_size:
        return parse_lines(pl.Series("text", [], pl.String), where, 1, time_zone, now)
    start, first_line = (before.bytes, before.lines) if before and not gz else (0, 0)
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read()
    if gz:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            unreadable = pl.DataFrame(
                {"text": [f"{path.name}: {exc}"], "line": [0]}, schema_overrides={"line": pl.Int64}
            )
            return unreadable.with_columns(
                source=pl.lit(where), reason=pl.lit("cannot decompress"),
                **{c: pl.lit(None) for c in EVENT_COLUMNS if c not in ("source", "line")},
            )  # fmt: skip
    end = data.rfind(b"\n") + 1  # whole lines
    if end < len(data):
        if gz or time.time() - stat.st_mtime >= SETTLE_SECONDS:
            end = len(data)  # the writer is done: its last line is whole
        else:
            parsed.held_back += 1
    text = data[:end].decode("utf-8", errors="replace")
    lines = text.removesuffix("\n").split("\n") if text else []
    series = pl.Series("text", lines, dtype=pl.String)
    read = stat.st_size if gz else start + end
    head_bytes = min(HEAD_BYTES, read)
    parsed.offsets.append(
        Taken(
            where,
            read,
            first_line + len(lines),
            stat.st_dev,
            stat.st_ino,
            _head(path, head_bytes),
            head_bytes,
        )
    )
    return parse_lines(series, where, first_line + 1, time_zone, now)


def _head(path: Path, size: int) -> str:
    with path.open("rb") as handle:
        return hashlib.sha256(handle.read(size)).hexdigest()


def _changed(path: Path, stat: os.stat_result, before: Taken) -> str | None:
    """Why the file at ``path`` is not the one read before, or None if it is."""
    if (stat.st_dev, stat.st_ino) != (before.device, before.inode):
        return "replaced"
    if stat.st_size < before.bytes:
        return "truncated"
    if _head(path, before.head_bytes) != before.head:
        return "rewritten"
    return None


@dataclass
class ImportReport:
    """What one ``store.import_dlr`` call read and kept."""

    source: str
    read: int  # events read (usable ones)
    new: int  # added to the store
    duplicate: int  # already_stored + repeated
    unmatched: int  # trx_id matching no submitted message (kept all the same)
    msisdn_mismatch: int  # matched, but the msisdn is not the message's dstno
    malformed: int
    ignored: int  # lines without callback parameters
    by_status: pl.DataFrame
    malformed_examples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    already_stored: int = 0  # imported before
    repeated: int = 0  # the same event more than once in this import's sources
    held_back: int = 0  # last lines of files still being written: the next import takes them
    restarted: list[str] = field(default_factory=list)  # files read again from the start

    def _lines(self) -> list[str]:
        lines = [
            f"{self.read:,} events read from {self.source}: {self.new:,} new, "
            f"{self.already_stored:,} already in the store"
            + (f", {self.repeated:,} repeated in these files" if self.repeated else ""),
        ]
        lines += self.restarted
        if self.held_back:
            lines.append(
                f"{self.held_back:,} last lines without a newline held back: their files "
                f"are still being written; the next import takes them"
            )
        if self.unmatched:
            lines.append(f"{self.unmatched:,} match no submitted message (kept, as unmatched)")
        if self.msisdn_mismatch:
            lines.append(f"{self.msisdn_mismatch:,} have an msisdn that is not the message's dstno")
        if self.malformed:
            lines.append(f"{self.malformed:,} lines could not be read, e.g.:")
            lines += [f"  {e}" for e in self.malformed_examples]
        if self.ignored:
            lines.append(f"{self.ignored:,} lines hold no delivery report (other requests, blanks)")
        return lines

    def __str__(self) -> str:
        statuses = ", ".join(f"{s} {n:,}" for s, _, n in self.by_status.iter_rows())
        return "\n".join([*self._lines(), f"by status: {statuses or 'none'}"])

    def __repr__(self) -> str:
        return (
            f"<ImportReport {self.source}: read {self.read:,}, new {self.new:,}, "
            f"duplicate {self.duplicate:,}, unmatched {self.unmatched:,}, "
            f"malformed {self.malformed:,}>"
        )

    def _repr_html_(self) -> str:
        return STYLE + div(
            "<h3>Delivery reports imported</h3><ul>",
            "".join(f"<li>{html.escape(line)}</li>" for line in self._lines()),
            "</ul>",
            table(["dn_status", "class", "events"], self.by_status.rows()),
            notes_html(
                [
                    "DELIVERED, ACCEPTED and SENT mean the telco SMSC acknowledged the "
                    "message, not that the handset received it."
                ],
                kind="muted",
            ),
        )

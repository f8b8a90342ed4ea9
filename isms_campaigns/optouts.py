"""The do-not-contact list: numbers a store never messages, every change kept.

This module owns the table ``ic_optouts``, an append-only log of changes
(``suppress`` or ``unsuppress`` a number, with a reason, a source and the
time it happened), and the public view ``suppressions`` over it: the numbers
listed now. The latest change of a number wins, by when it happened (an
opt-out reply's own time), ties going to ``suppress``; ``since`` is when the
current listing began. Numbers are kept as ``messages.dstno`` spells them
(international digits, no ``+``), so the two join.

Every send through a store skips the listed numbers (the outbox calls
:func:`skip_listed` before each first send and resume), and a ``Campaign``
given the store shows them in its estimate (:func:`problems`): the row stays,
with the problem ``do-not-contact: <reason> since <date>``.

Replies (:func:`read_replies`): STOP, BATAL, HENTI or UNSUBSCRIBE as a word
anywhere in the text, any case, is an opt-out; START lifts it only when it
is later than the opt-out, so it needs a time; a START without one changes
nothing (an opt-out is never lifted on a guess).

>>> import polars as pl
>>> replies = pl.DataFrame({"mobile": ["0123456789", "0191234567", "0171112222"],
...                         "message": ["stop la", "Tolong BATAL", "ok terima kasih"]})
>>> read_replies(replies, "replies").select("dstno", "word").rows()
[('60123456789', 'stop'), ('60191234567', 'stop'), ('60171112222', None)]
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from ._html import STYLE, div, notes_html, table
from ._sql import registered, retrying
from .analytics import DEFAULT_TIME_ZONE, instant
from .contacts import read_numbers, read_table
from .dlr import TIME_COLUMNS, column_to_utc
from .errors import ContactsError
from .numbers import NUMBER_COLUMN_NAMES, column_named, normalise_numbers

DO_NOT_CONTACT = "do-not-contact: "  # how every row problem of the list begins
OPT_OUT_WORDS = ("STOP", "BATAL", "HENTI", "UNSUBSCRIBE")
RESUME_WORDS = ("START",)
MALAYSIA = "Asia/Kuala_Lumpur"

TABLES = """
-- The do-not-contact list, append-only (optouts.py): each change of a number.
create table ic_optouts (
    number varchar not null,           -- international digits, as messages.dstno
    action varchar not null,           -- 'suppress' or 'unsuppress'
    reason varchar not null,
    source varchar,
    happened_at timestamptz not null,  -- a reply's own time, else when it was recorded
    recorded_at timestamptz not null
);
"""

VIEW = """
create or replace view suppressions as
    with last as (
        select number, max(happened_at) filter (where action = 'unsuppress') as lifted_at,
               max(happened_at) filter (where action = 'suppress') as listed_at
        from ic_optouts group by number
    )
    -- The listing began at the first suppress since the last lift.
    select o.number, arg_min(o.reason, o.happened_at) as reason,
           arg_min(o.source, o.happened_at) as source, min(o.happened_at) as since
    from ic_optouts o join last l on l.number = o.number
    where o.action = 'suppress'
      and (l.lifted_at is null or (l.listed_at >= l.lifted_at and o.happened_at >= l.lifted_at))
    group by o.number;
"""

# Column names of a reply export, best first (compared lower-cased, without
# spaces, dots, _ or -).
_SENDER_COLUMNS = ("from", "sender", "originator", "source", "source_addr", "from_number")
_TEXT_COLUMNS = ("message", "text", "reply", "body", "content", "msg", "sms", "keyword")
_TIME_COLUMNS = (*TIME_COLUMNS, "received", "replied_at", "created_at", "sent_at")
_OPT_OUT = r"(?i)\b(" + "|".join(OPT_OUT_WORDS) + r")\b"
_RESUME = r"(?i)\b(" + "|".join(RESUME_WORDS) + r")\b"
_EXAMPLES = 5


def now() -> datetime:
    """The time a change is recorded at (tests replace it)."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------
# Reading the list
# --------------------------------------------------------------------------


def listed(con: duckdb.DuckDBPyConnection, numbers: pl.Series) -> pl.DataFrame:
    """The rows of ``suppressions`` (number, reason, source, since) of ``numbers``
    (digits, as dstno)."""
    wanted = pl.DataFrame({"number": numbers.cast(pl.String)}).drop_nulls().unique()
    with registered(con, "ic_wanted_numbers", wanted):
        return pl.DataFrame(
            con.sql(
                "select s.* from suppressions s join ic_wanted_numbers w on w.number = s.number"
            ).pl()
        )


def problems(con: duckdb.DuckDBPyConnection, dstno: pl.Series) -> pl.Series:
    """Each number's row problem if it is listed now, else null (one per element)."""
    day = pl.col("since").dt.convert_time_zone(MALAYSIA).dt.strftime("%Y-%m-%d")
    found = listed(con, dstno).select(
        dstno="number", problem=pl.format(DO_NOT_CONTACT + "{} since {}", "reason", day)
    )
    numbers = pl.DataFrame({"dstno": dstno.cast(pl.String)})
    return numbers.join(found, on="dstno", how="left", maintain_order="left")["problem"]


def skip_listed(con: duckdb.DuckDBPyConnection, messages: pl.DataFrame) -> pl.DataFrame:
    """``messages`` with the open rows of listed numbers skipped (their credits kept,
    as the outbox's other guards keep them)."""
    return messages.with_columns(problem=pl.coalesce("problem", problems(con, messages["dstno"])))


def is_listed_problem(problem: pl.Expr) -> pl.Expr:
    """Whether a row problem is the do-not-contact list's."""
    return problem.str.starts_with(DO_NOT_CONTACT).fill_null(False)


# --------------------------------------------------------------------------
# Changing it
# --------------------------------------------------------------------------


def digits(numbers: Any, region: str) -> pl.Series:
    """Numbers in any spelling (a list, Series, frame or file) as dstno digits.

    Raises :class:`ContactsError` naming every entry without a readable number.
    """
    return read_numbers(numbers, region, what="do-not-contact list").str.strip_prefix("+")


def as_time(at: date | datetime | str | None) -> datetime:
    """When a change happened: now, or ``at`` (naive times and ISO text without an
    offset are Malaysian)."""
    return instant(at, ZoneInfo(MALAYSIA), "at") or now()


def changes(
    numbers: pl.Series, action: str, reason: str, source: str | None, at: datetime
) -> pl.DataFrame:
    """One change per number, all alike."""
    return pl.DataFrame({"number": numbers.unique(maintain_order=True)}).select(
        "number",
        action=pl.lit(action),
        reason=pl.lit(reason),
        source=pl.lit(source, pl.String),
        happened_at=pl.lit(at, pl.Datetime("us", "UTC")),
    )


def append(con: duckdb.DuckDBPyConnection, events: pl.DataFrame) -> None:
    """Append the changes (number, action, reason, source, happened_at) not in the log yet, in
    one transaction: the same number, action and time is the same change."""
    rows = events.unique(["number", "action", "happened_at"], keep="first", maintain_order=True)
    rows = rows.with_columns(recorded_at=pl.lit(now(), pl.Datetime("us", "UTC")))

    def write() -> None:
        con.begin()
        with registered(con, "ic_incoming_optouts", rows):
            con.execute(
                """
                insert into ic_optouts by name
                select i.* from ic_incoming_optouts i
                anti join ic_optouts o
                  on o.number = i.number and o.action = i.action and o.happened_at = i.happened_at
                """
            )
        con.commit()

    retrying(con, write)


def change(
    con: duckdb.DuckDBPyConnection,
    numbers: pl.Series,
    action: str,
    reason: str,
    source: str | None,
    at: datetime,
) -> pl.DataFrame:
    """Suppress (or unsuppress) ``numbers``; only a change is recorded: a listed
    number is not suppressed again, one not listed is not unsuppressed.

    Returns the numbers given with ``listed_before`` and ``listed`` (after).
    """
    if not reason or not reason.strip():
        raise ContactsError(f"Give a reason for the change (reason={reason!r}): e.g. 'opt-out'.")
    before = set(listed(con, numbers)["number"].to_list())
    suppressing = action == "suppress"
    todo = numbers.filter(numbers.is_in(list(before)) != suppressing)
    append(con, changes(todo, action, reason.strip(), source, at))
    return outcome(con, numbers, before)


def outcome(con: duckdb.DuckDBPyConnection, numbers: pl.Series, before: set[str]) -> pl.DataFrame:
    after = listed(con, numbers)["number"]
    given = pl.DataFrame({"number": numbers.unique(maintain_order=True)})
    return given.with_columns(
        listed_before=pl.col("number").is_in(list(before)),
        listed=pl.col("number").is_in(after.implode()),
    )


# --------------------------------------------------------------------------
# Importing opt-outs: number lists and reply exports
# --------------------------------------------------------------------------


def reply_columns(frame: pl.DataFrame) -> tuple[str, str, str | None] | None:
    """The number, text and time columns of a reply export; None for a number list."""
    columns = frame.columns
    text = column_named(columns, _TEXT_COLUMNS)
    if text is None:
        return None
    number = column_named(columns, NUMBER_COLUMN_NAMES + _SENDER_COLUMNS)
    if number is None:
        raise ContactsError(
            f"The replies have a text column {text!r} but no number column (the columns "
            f"are {columns}): name the sender's number 'mobile', 'msisdn' or 'from'."
        )
    return number, text, column_named(columns, _TIME_COLUMNS)


def read_replies(
    frame: pl.DataFrame,
    name: str,
    *,
    region: str = "MY",
    time_zone: str = DEFAULT_TIME_ZONE,
    first_line: int = 1,
) -> pl.DataFrame:
    """One row per reply: ``where`` it is, the ``number`` as written, ``dstno`` (null
    when unreadable), its ``text``, ``word`` (``stop``, ``start`` or null) and ``at``
    (null without a readable time). ``first_line`` is the line of the first row (2
    for a text file with a header; 1 counts rows of a frame)."""
    found = reply_columns(frame)
    if found is None:
        raise ContactsError(f"{name!r} has no text column: its columns are {frame.columns}.")
    number, text, time = found
    at = (
        pl.lit(None, pl.Datetime("us", "UTC"))
        if time is None
        else column_to_utc(frame, time, time_zone)
    )
    message = pl.col(text).cast(pl.String).fill_null("")
    where = "line" if first_line > 1 else "row"
    return frame.select(
        where=pl.format(f"{{}} {where} {{}}", pl.lit(name), pl.int_range(pl.len()) + first_line),
        number=pl.col(number).cast(pl.String),
        dstno=normalise_numbers(frame[number].cast(pl.String), region)["dstno"],
        text=message,
        # An opt-out word wins over START in the same reply: the safe reading.
        word=pl.when(message.str.contains(_OPT_OUT))
        .then(pl.lit("stop"))
        .when(message.str.contains(_RESUME))
        .then(pl.lit("start")),
        at=at.alias("at"),
    )


@dataclass
class OptOutReport:
    """What an import of opt-outs did; each line read is counted once.

    ``lines`` = ``opt_outs`` + ``starts`` + ``ignored`` + ``unreadable``. Of the
    numbers: ``suppressed`` (newly listed), ``already_listed``, ``resubscribed``
    (a START later than the opt-out took it off, or cancelled an opt-out of
    the same file); ``starts_without_effect`` counts START replies that lifted
    nothing (earlier than the opt-out, without a time, or for a number never
    listed).
    """

    source: str
    lines: int
    opt_outs: int = 0
    starts: int = 0
    ignored: int = 0
    unreadable: int = 0
    suppressed: int = 0
    already_listed: int = 0
    resubscribed: int = 0
    starts_without_effect: int = 0
    unreadable_examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every line was read."""
        return not self.unreadable

    def _lines(self) -> list[str]:
        out = [
            f"{self.lines:,} lines: {self.opt_outs:,} opt-outs, {self.starts:,} START, "
            f"{self.ignored:,} other replies (ignored), {self.unreadable:,} unreadable",
            f"numbers: {self.suppressed:,} suppressed, {self.already_listed:,} already listed, "
            f"{self.resubscribed:,} re-subscribed; {self.starts_without_effect:,} START "
            f"replies lifted nothing (earlier than the opt-out, without a time, or not listed)",
        ]
        return out + [f"unreadable: {e}" for e in self.unreadable_examples]

    def __str__(self) -> str:
        return "\n".join([f"Opt-outs from {self.source}:", *(f"  {x}" for x in self._lines())])

    def __repr__(self) -> str:
        return (
            f"<OptOutReport {self.source}: {self.lines:,} lines, {self.suppressed:,} suppressed, "
            f"{self.resubscribed:,} re-subscribed, {self.unreadable:,} unreadable>"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("opt-out replies (STOP, BATAL, HENTI, UNSUBSCRIBE)", self.opt_outs),
            ("START replies", self.starts),
            ("other replies (ignored)", self.ignored),
            ("unreadable lines", self.unreadable),
            ("numbers suppressed now", self.suppressed),
            ("numbers already listed", self.already_listed),
            ("numbers re-subscribed", self.resubscribed),
            ("START replies that lifted nothing", self.starts_without_effect),
        ]
        return STYLE + div(
            f"<h3>Opt-outs from {html.escape(self.source)}</h3>",
            table(["", "count"], rows),
            notes_html(self.unreadable_examples),
        )


def describe(source: Any) -> str:
    return Path(source).name if isinstance(source, (str, Path)) else type(source).__name__


def reply_frame(source: Any) -> tuple[pl.DataFrame, int] | None:
    """A reply export as a frame and the line of its first row; None for a number list."""
    if isinstance(source, pl.DataFrame):
        return (source, 1) if reply_columns(source) is not None else None
    if not isinstance(source, (str, Path)) or not Path(source).is_file():
        return None
    path = Path(source)
    try:
        frame = read_table(path)
    except ContactsError:
        return None  # not a table: read as a number list, which names what is wrong
    if frame.width < 2 or reply_columns(frame) is None:
        return None
    return frame, 2 if path.suffix.lower() in (".csv", ".tsv", ".tab", ".txt") else 1


def import_opt_outs(
    con: duckdb.DuckDBPyConnection,
    source: Any,
    *,
    region: str = "MY",
    time_zone: str = DEFAULT_TIME_ZONE,
) -> OptOutReport:
    """See :meth:`Store.import_opt_outs`."""
    name = describe(source)
    replies = reply_frame(source)
    if replies is None:  # a number list: every entry must be read
        numbers = digits(source, region)
        done = change(con, numbers, "suppress", "opt-out", name, now())
        newly = int((done["listed"] & ~done["listed_before"]).sum())
        return OptOutReport(
            name, numbers.len(), numbers.len(), suppressed=newly, already_listed=done.height - newly
        )
    frame, first_line = replies
    read = read_replies(frame, name, region=region, time_zone=time_zone, first_line=first_line)
    readable = read.filter(pl.col("dstno").is_not_null())
    before = set(listed(con, readable["dstno"])["number"].to_list())
    stops = readable.filter(pl.col("word") == "stop")
    untimed = stops.filter(pl.col("at").is_null() & ~pl.col("dstno").is_in(list(before)))
    source_of = pl.format("{}: {}", "where", pl.col("text").str.slice(0, 60))
    events = pl.concat(
        [
            stops.filter(pl.col("at").is_not_null()).select(
                number="dstno", action=pl.lit("suppress"), reason=pl.lit("opt-out"),
                source=source_of, happened_at="at",
            ),
            # Without a time an opt-out counts from now; once per number, so that
            # importing the file again adds nothing.
            untimed.unique("dstno", keep="first", maintain_order=True).select(
                number="dstno", action=pl.lit("suppress"), reason=pl.lit("opt-out"),
                source=source_of, happened_at=pl.lit(now(), pl.Datetime("us", "UTC")),
            ),
            readable.filter((pl.col("word") == "start") & pl.col("at").is_not_null()).select(
                number="dstno", action=pl.lit("unsuppress"), reason=pl.lit("START reply"),
                source=source_of, happened_at="at",
            ),
        ]
    )  # fmt: skip
    append(con, events)
    after = set(listed(con, readable["dstno"])["number"].to_list())
    stopped = set(stops["dstno"].to_list())
    starts = readable.filter(pl.col("word") == "start")
    # A START lifted something when its number was listed before or stopped in this
    # file, is not listed now, and the START has a time.
    lifted = (
        pl.col("at").is_not_null()
        & pl.col("dstno").is_in(list(before | stopped))
        & ~pl.col("dstno").is_in(list(after))
    )
    unreadable = read.filter(pl.col("dstno").is_null())
    return OptOutReport(
        name,
        read.height,
        opt_outs=stops.height,
        starts=starts.height,
        ignored=readable.filter(pl.col("word").is_null()).height,
        unreadable=unreadable.height,
        suppressed=len(after - before),
        already_listed=len(stopped & before & after),
        resubscribed=starts.filter(lifted)["dstno"].n_unique(),
        starts_without_effect=starts.filter(~lifted).height,
        unreadable_examples=_unreadable_examples(unreadable),
    )


def _unreadable_examples(unreadable: pl.DataFrame) -> list[str]:
    """The first unreadable lines, an opt-out among them said so (it is not applied)."""
    shown = [
        f"{where} {number!r}: "
        + ("an opt-out that could not be applied: correct the number and import again"
           if word == "stop" else "no readable number")
        for where, number, word in unreadable.head(_EXAMPLES).select(
            "where", "number", "word"
        ).rows()
    ]  # fmt: skip
    if unreadable.height > _EXAMPLES:
        shown.append(f"and {unreadable.height - _EXAMPLES:,} more")
    return shown


# --------------------------------------------------------------------------
# Suggestions
# --------------------------------------------------------------------------


def suggest(con: duckdb.DuckDBPyConnection, min_campaigns: int) -> pl.DataFrame:
    """See :meth:`Store.suggest_suppressions`."""
    return pl.DataFrame(
        con.sql(
            """
            with bad as (  -- messages that came back undelivered or refused as invalid
                select m.dstno as number, m.campaign,
                       case when m.code = -1008 then coalesce(m.status, '-1008')
                            else m.dlr_status end as status,
                       coalesce(m.dlr_at, m.submitted_at, c.created_at) as seen_at
                from messages m join ic_campaigns c on c.campaign = m.campaign
                where c.kind = 'campaign' and m.dstno is not null
                  and (m.dlr_status = 'UNDELIVERED' or m.code = -1008)
            )
            select number, count(distinct campaign) as campaigns,
                   arg_max(status, seen_at) as last_status, max(seen_at) as last_at
            from bad anti join suppressions s on s.number = bad.number
            group by number having count(distinct campaign) >= $n
            order by campaigns desc, last_at desc, number
            """,
            params={"n": min_campaigns},
        ).pl()
    )

"""The outbox: a campaign's plan versions, its chunks and its send log, and the
rules that keep a message from going out twice.

This module owns the tables ``ic_campaigns``, ``ic_plans``, ``ic_messages``,
``ic_chunks``, ``ic_sends`` and ``ic_leases`` (the store creates them in its
migrations and reads them in its views; only this module writes them). The
sender speaks to it through :class:`Outbox` and typed rows: :class:`Chunk`
to send, :class:`Record` for what happened.

The rules:

1. One sender per campaign per store at a time, across threads, ``Store``
   objects and processes (:meth:`Outbox.lease`); a second one gets a
   :class:`SendError` naming the holder and sends nothing.
2. The plan and its chunks are written before anything is sent. A plan from
   which nothing has left is simply replaced by a new one; once something
   has left, a different plan needs ``amend=True``, and numbers already
   submitted, unknown, in flight or marked for resending under the campaign
   are skipped as ``already sent in this campaign``. Credits alone are not a
   change: the new estimate is recorded. Cancelled stays cancelled in every
   later version; only ``amend=True`` sends the failed again. Every version
   is kept (``ic_plans``).
3. The do-not-contact list (:mod:`.optouts`), at every first send and
   resume: a listed number's row is skipped, in test sends too. The repeat
   guard, at every first send and resume: a number that another
   campaign sent the same text lately, may have sent it, or is sending it
   right now is skipped, unless ``allow_repeats`` (a follow-up's parent
   campaign does not count: see ``Store.follow_up``). Plans are saved one at a
   time per database so that campaigns sent at once see each other. The
   frequency cap (``max_per_number``), when given, is applied alike.
4. A chunk is committed ``in_flight`` right before its request leaves (after
   any pacing wait); its results are committed after the answer. A chunk
   still ``in_flight`` when a send starts was interrupted: it becomes
   ``unknown``, and is never sent again on its own.
5. A delivery report proves an unknown request went out only when no other
   unknown request to that number (of any campaign) could have caused it.

Chunk states, in ``ic_sends``: ``planned`` (never written: a chunk with no
state row is planned; also written after a refusal that sent nothing),
``in_flight``, ``sent``, ``refused`` (refused as a whole with a
per-recipient code: its messages failed), ``unknown``, ``resend`` and
``settled`` (a user's or the evidence's decision), ``cancelled``, and
``superseded`` (a planned or cancelled chunk of an older plan version,
carried over by the newer one).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pyarrow as pa

from . import schedule
from ._sql import first_line, registered, rollback, scalar
from .errors import PlanChanged, SendError, StoreError, setting
from .gateway.client import Attempt
from .optouts import DO_NOT_CONTACT, is_listed_problem, problems, skip_listed
from .schedule import SEND_LATER_FORMAT, FrequencyCap
from .state import keep_campaign, mark_not_current, writing

ChunkState = Literal[
    "planned",
    "in_flight",
    "sent",
    "refused",
    "unknown",
    "resend",
    "settled",
    "cancelled",
    "superseded",
]
PlanAction = Literal["new", "same", "replaced", "amended", "re-estimated", "guarded"]

REPEAT_DAYS = 7  # the repeat guard looks this far back
ALREADY_SENT = "already sent in this campaign"
FAILED_BEFORE = "failed in this campaign"  # re-sent only by amend=True
MALAYSIA = ZoneInfo("Asia/Kuala_Lumpur")
CAPPED = "frequency cap: "  # how the problems the frequency cap sets start

# Problems the outbox adds to a plan (not the planner's): not plan differences.
_REPEAT = (
    "starts_with(problem, 'already sent by campaign') or starts_with(problem, 'being sent by')"
)
_LISTED = f"starts_with(problem, '{DO_NOT_CONTACT}')"
_GUARDED = (
    f"{_REPEAT} or {_LISTED} or starts_with(problem, '{CAPPED}') "
    f"or problem in ('{ALREADY_SENT}', '{FAILED_BEFORE}', 'cancelled')"
)
# What makes two plans different (credits alone do not, nor the price per credit).
_COMPARED = ("dstno", "msg", "type", "problem", "variant")
_HEADER = ("sender_id", "send_later", "message_type")

_TIME = pa.timestamp("us", tz="UTC")
SENDS_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("request", pa.int64()),
        ("kind", pa.string()),
        ("campaign", pa.string()),
        ("chunk", pa.int32()),
        ("recorded_at", _TIME),
        ("state", pa.string()),
        ("started_at", _TIME),
        ("outcome", pa.string()),
        ("code", pa.int32()),
        ("message", pa.string()),
        ("cause", pa.string()),
        ("credits_charged", pa.int32()),
        ("host", pa.string()),
        ("elapsed_ms", pa.float64()),
        ("http_status", pa.int32()),
        ("error", pa.string()),
        ("row", pa.uint32()),
        ("dstno", pa.string()),
        ("status", pa.string()),
        ("sms_id", pa.string()),
    ]
)


# --------------------------------------------------------------------------
# Typed rows
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRecord:
    """The header of a plan: what ``ic_campaigns`` and ``ic_plans`` hold besides counts."""

    campaign: str
    kind: Literal["campaign", "test"]
    parent: str | None
    template: str | None
    sender_id: str | None
    send_later: str | None
    message_type: int | None
    region: str
    smart_ascii: bool
    settings: str | None = None  # Campaign.plan_settings() as JSON: plans it again
    price_per_credit: float | None = None  # RM; None: not known


@dataclass(frozen=True)
class Chunk:
    """One request to make: its messages and the plan row of each number."""

    chunk: int
    type: int
    sendid: str | None
    sendlater: str | None
    credits: int
    state: ChunkState
    messages: list[dict[str, str]]
    rows: list[int]  # the plan row of each destination number, in order


@dataclass(frozen=True)
class Results:
    """Per-number results of a request, as columns of equal length."""

    row: list[int]
    dstno: list[str]
    code: list[int]
    status: list[str]
    sms_id: list[str | None]


@dataclass(frozen=True)
class Record:
    """A chunk's new state: a request's outcome, or a decision about the chunk."""

    chunk: int
    state: ChunkState
    started_at: datetime | None = None
    outcome: str | None = None
    code: int | None = None
    message: str | None = None
    cause: str | None = None
    credits_charged: int | None = None
    attempts: Sequence[Attempt] = ()  # the gateway client's, one per HTTP try
    results: Results | None = None


@dataclass(frozen=True)
class Holder:
    """Who is sending a campaign."""

    pid: int
    thread: str
    host: str
    since: datetime
    doing: str = "send"  # or cancel, resolve

    def __str__(self) -> str:
        here = (
            "this process"
            if self.pid == os.getpid() and self.host == _HOST
            else (f"process {self.pid} on {self.host}")
        )
        when = self.since.astimezone(MALAYSIA).strftime("%Y-%m-%d %H:%M:%S")
        return f"{here} (thread {self.thread!r}) since {when} Malaysian time"


@dataclass(frozen=True)
class PlanDiff:
    """How a new plan differs from the stored one."""

    header: list[str]
    added: int
    removed: int
    changed: int
    examples: list[str]

    def __bool__(self) -> bool:
        return bool(self.header or self.added or self.removed or self.changed)

    def __str__(self) -> str:
        lines = [f"  {h}" for h in self.header]
        lines += [
            f"  {n:,} rows {what}"
            for what, n in (("added", self.added), ("removed", self.removed))
            if n
        ]
        if self.changed:
            lines.append(f"  {self.changed:,} rows changed")
        return "\n".join(lines + [f"  {e}" for e in self.examples])


@dataclass
class Prepared:
    """What saving a plan will do: keep the stored version, or write a new one."""

    action: PlanAction
    version: int
    messages: pl.DataFrame  # the plan to store, guards applied (for a new version)
    first_chunk: int  # chunk numbers of a new version start here
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# What one process shares between the Store objects of one database
# --------------------------------------------------------------------------

_HOST = socket.gethostname()


class _Shared:
    """Per database: the next ``seq`` of ``ic_sends`` and the campaigns being sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_seq: int | None = None
        self.sending: dict[str, Holder] = {}
        self.planning = threading.Lock()


_SHARED: dict[str, _Shared] = {}
_SHARED_LOCK = threading.Lock()


def database_opened(db_id: str) -> None:
    """A Store opened the database: the send log may have grown in another process."""
    shared = _shared(db_id)
    with shared.lock:
        shared.next_seq = None


def _shared(db_id: str) -> _Shared:
    with _SHARED_LOCK:
        return _SHARED.setdefault(db_id, _Shared())


# --------------------------------------------------------------------------
# The outbox of one campaign
# --------------------------------------------------------------------------


class Outbox:
    """The send log of one campaign in one store (``store.outbox(campaign)``)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, db_id: str, campaign: str) -> None:
        self.con = con
        self.db_id = db_id
        self.campaign = campaign
        self._shared = _shared(db_id)

    def for_thread(self) -> Outbox:
        """The same outbox through a cursor of its own (DuckDB: one cursor per thread)."""
        return Outbox(self.con.cursor(), self.db_id, self.campaign)

    def close(self) -> None:
        self.con.close()

    # -- reading --------------------------------------------------------------------

    def _frame(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> pl.DataFrame:
        values = params if isinstance(params, dict) else list(params)
        return pl.DataFrame(self.con.sql(query, params=values).pl())

    def _scalar(self, query: str, params: Sequence[Any] = ()) -> Any:
        return scalar(self.con, query, list(params))

    def exists(self) -> bool:
        return bool(
            self._scalar("select count(*) from ic_campaigns where campaign = ?", [self.campaign])
        )

    def tests_made(self) -> int:
        """How many test sends this campaign has had."""
        return int(
            self._scalar(
                "select count(*) from ic_campaigns where parent = ? and kind = 'test'",
                [self.campaign],
            )
        )

    def state_counts(self) -> dict[str, int]:
        """The campaign's messages by state (the ``messages`` view's)."""
        return {state: n for state, (n, _) in self.state_totals().items()}

    def state_totals(self) -> dict[str, tuple[int, int]]:
        """The campaign's messages and their credits, by state."""
        rows = self.con.execute(
            "select state, count(*), coalesce(sum(credits), 0) from messages "
            "where campaign = ? group by state",
            [self.campaign],
        ).fetchall()
        return {str(state): (int(n), int(c)) for state, n, c in rows}

    def chunks(self, states: Sequence[ChunkState]) -> pl.DataFrame:
        """Chunks in one of ``states`` (a chunk with no state row is ``planned``)."""
        return self._frame(
            """
            select c.chunk, c.version, c.type, c.sendid, c.sendlater, c.numbers, c.messages,
                   c.credits_estimated, coalesce(s.state, 'planned') as state
            from ic_chunks c
            left join ic_chunk_state s on s.campaign = c.campaign and s.chunk = c.chunk
            where c.campaign = ? and list_contains(?, coalesce(s.state, 'planned'))
            order by c.chunk
            """,
            [self.campaign, list(states)],
        )

    def to_send(self) -> list[Chunk]:
        """The requests still to make: planned chunks and those marked for resending."""
        pending = self.chunks(("planned", "resend"))
        rows = self._frame(
            """
            select chunk, row, dstno, msg from ic_messages
            where campaign = ? and list_contains(?, chunk)
            order by chunk, row
            """,
            [self.campaign, pending["chunk"].to_list()],
        )
        return build_chunks(pending, rows)

    # -- the lease --------------------------------------------------------------------

    def holder(self) -> Holder | None:
        """Who is sending this campaign now, if anyone."""
        with self._shared.lock:
            if held := self._shared.sending.get(self.campaign):
                return held
        row = self.con.execute(
            "select pid, thread, host, since, doing from ic_leases where campaign = ?",
            [self.campaign],
        ).fetchall()
        if not row:
            return None
        held = Holder(*row[0])
        return None if _stale(held) else held

    @contextmanager
    def lease(self, doing: str = "send") -> Iterator[Holder]:
        """Hold the right to send (or cancel, resolve) this campaign, or raise
        :class:`SendError` naming who has it."""
        me = Holder(os.getpid(), threading.current_thread().name, _HOST, datetime.now(UTC), doing)
        with self._shared.lock:
            held = self._shared.sending.get(self.campaign)
            if held is None:
                self._shared.sending[self.campaign] = me
        if held is not None:
            raise _busy(self.campaign, held, doing)
        try:
            self._take_lease_row(me, doing)
        except BaseException:
            with self._shared.lock:
                self._shared.sending.pop(self.campaign, None)
            raise
        try:
            yield me
        finally:
            # What this holder wrote to the log becomes the campaign's kept state.
            # If that fails the campaign stays marked not current: reads derive
            # it from the log until the next holder or store.rebuild().
            with suppress(duckdb.Error):
                keep_campaign(self.con, self.db_id, self.campaign)
            with suppress(duckdb.Error):
                self.con.execute(
                    "delete from ic_leases where campaign = ? and pid = ? and host = ?",
                    [self.campaign, me.pid, me.host],
                )
            with self._shared.lock:
                self._shared.sending.pop(self.campaign, None)

    def _take_lease_row(self, me: Holder, doing: str) -> None:
        """The lease as a row, for other processes sharing the database."""
        con = self.con
        try:
            self._take_lease_row_locked(me, doing)
        except duckdb.TransactionException as exc:  # another process took it meanwhile
            rollback(con)
            raise SendError(
                f"Campaign {self.campaign!r} is being sent from elsewhere ({first_line(exc)}): "
                f"cannot {doing} it now. Wait for that send to finish."
            ) from None
        except duckdb.Error as exc:
            rollback(con)
            raise StoreError(
                f"Cannot {doing} {self.campaign!r}: the store cannot be written "
                f"({first_line(exc)}). Open it again with ic.Store(path)."
            ) from None
        except BaseException:
            rollback(con)
            raise

    def _take_lease_row_locked(self, me: Holder, doing: str) -> None:
        # Under the kept state's lock: marking the campaign not current must not
        # race a rebuild or an import writing the same rows.
        con = self.con
        with writing(self.db_id):
            con.begin()
            row = con.execute(
                "select pid, thread, host, since, doing from ic_leases where campaign = ?",
                [self.campaign],
            ).fetchall()
            if row and not _stale(Holder(*row[0])):
                raise _busy(self.campaign, Holder(*row[0]), doing)
            con.execute("delete from ic_leases where campaign = ?", [self.campaign])
            con.execute(
                "insert into ic_leases values (?, ?, ?, ?, ?, ?)",
                [self.campaign, me.pid, me.thread, me.host, me.since, me.doing],
            )
            mark_not_current(con, self.campaign)  # before this holder writes its log
            con.commit()

    # -- planning -----------------------------------------------------------------------

    def prepare(
        self,
        record: PlanRecord,
        messages: pl.DataFrame,
        *,
        amend: bool = False,
        allow_repeats: bool = False,
        cap: FrequencyCap | None = None,
    ) -> Prepared:
        """Decide what saving ``messages`` does; reads only (a dry run uses it too).

        Raises :class:`PlanChanged` when the plan differs from one that has
        already sent something and ``amend`` is False.
        """
        guard = not allow_repeats and record.kind != "test"
        if record.kind == "test":  # test sends go to the sender's own numbers
            cap = None
        stored = self.con.execute(
            "select version, price_per_credit, sender_id, send_later, message_type "
            "from ic_campaigns where campaign = ?",
            [self.campaign],
        ).fetchall()
        if not stored:
            listed = skip_listed(self.con, messages)
            guarded = self._cap(self._guard(listed, record.parent) if guard else listed, cap)
            about = (
                self._similar_names()
                + _listed_note(messages, listed)
                + _repeat_note(guarded)
                + _cap_note(guarded, cap)
            )
            return Prepared("new", 1, guarded, 0, about)
        version, price, *header = stored[0]
        diff, credits_differ = self._diff(record, header, version, messages)
        credits_differ |= price != record.price_per_credit  # a new estimate in ringgit
        changed = bool(diff) or credits_differ
        held = self._repeats_held(version) if allow_repeats and not diff else 0
        # A resume is "before sending" too: other campaigns may have sent these since,
        # and the do-not-contact list may have changed.
        repeats = self._guard_changed(version, record.parent) if guard and not changed else 0
        repeats += self._cap_changed(version, cap) if not changed else 0
        relisted = self._listed_changed(version, messages) if not changed else 0
        if not (changed or held or repeats or relisted):
            return Prepared("same", version, messages, 0, [])
        counts = self.state_counts()
        resend = int(self.chunks(("resend",))["messages"].sum() or 0)
        left = sum(counts.get(s, 0) for s in ("submitted", "failed", "unknown")) + resend
        if diff and left and not amend:
            raise PlanChanged(
                f"Campaign {self.campaign!r} has already sent {left:,} messages with a "
                f"different plan:\n{diff}\nPass {setting('amend')} to "
                f"send this plan to the recipients not yet sent under that name (those already "
                f"sent are skipped), or give it a new campaign name."
            )
        notes: list[str] = []
        action: PlanAction = "amended"
        if held:
            notes.append(
                f"allow_repeats: the {held:,} recipients the repeat guard held back "
                f"are planned again."
            )
        elif repeats or relisted:
            action = "guarded"
        elif not diff:
            action = "re-estimated"
            notes.append("Only the credits or their price changed: the new estimate is recorded.")
        elif not left:
            action = "replaced"
            notes.append("Nothing had been sent under this name: the new plan replaces the old.")
        # Only an amendment sends the failed again; cancelled rows stay cancelled.
        failed_too = action != "amended" or bool(held)
        guarded = self._already_sent(messages, failed_too) if left else messages
        guarded = self._still_cancelled(guarded)
        listed = skip_listed(self.con, guarded)
        notes += _listed_note(guarded, listed)
        guarded = self._guard(listed, record.parent) if guard else listed
        guarded = self._cap(guarded, cap)
        if action == "amended" and not held:
            skipped = int((guarded["problem"] == ALREADY_SENT).sum())
            notes.append(
                f"Amended: plan version {version + 1}; {skipped:,} recipients already sent "
                f"under this name are skipped."
            )
        first = int(
            self._scalar(
                "select coalesce(max(chunk), -1) + 1 from ic_chunks where campaign = ?",
                [self.campaign],
            )
        )
        notes += _repeat_note(guarded) + _cap_note(guarded, cap)
        return Prepared(action, version + 1, guarded, first, notes)

    @contextmanager
    def planning(self) -> Iterator[None]:
        """One plan saved at a time per database, so the repeat guard sees the others'."""
        with self._shared.planning:
            yield

    def _diff(
        self, record: PlanRecord, header: Sequence[Any], version: int, messages: pl.DataFrame
    ) -> tuple[PlanDiff, bool]:
        headers = [
            f"{key}: {old!r} -> {new!r}"
            for key, old, new in zip(
                _HEADER,
                header,
                (record.sender_id, record.send_later, record.message_type),
                strict=True,
            )
            if old != new
        ]
        differ = " or ".join(f"o.{c} is distinct from n.{c}" for c in _COMPARED)
        # The list's skips are the outbox's on both sides (a Campaign given the store
        # makes them too); the credits of a skipped row are no difference.
        listed = is_listed_problem(pl.col("problem"))
        new = messages.select(
            "row",
            "dstno",
            "msg",
            "type",
            "credits",
            problem=pl.when(~listed).then("problem"),
            listed=listed,
            variant=pl.col("variant") if "variant" in messages.columns else pl.lit(None, pl.String),
        )
        with registered(self.con, "ic_new_plan", new):
            diff = self._frame(
                f"""
                with o as (  -- the stored plan, its guards taken off
                    select row, dstno, msg, type, credits, variant,
                           coalesce({_LISTED}, false) as listed,
                           case when {_GUARDED} then null else problem end as problem
                    from ic_messages where campaign = ? and version = ?
                )
                select coalesce(o.row, n.row) as row,
                       case when o.row is null then 'added' when n.row is null then 'removed'
                            when {differ} then 'changed' else 'credits' end as change,
                       o.dstno as old_dstno, n.dstno as new_dstno,
                       o.msg as old_msg, n.msg as new_msg
                from o full join ic_new_plan n on o.row = n.row
                where o.row is null or n.row is null or {differ}
                      or (o.credits is distinct from n.credits and not (o.listed or n.listed))
                order by row
                """,
                [self.campaign, version],
            )
        real = diff.filter(pl.col("change") != "credits")
        count = dict(real.group_by("change").len().rows())
        examples = [
            f"row {r['row']}: {r['old_dstno']} {r['old_msg']!r} -> {r['new_dstno']} "
            f"{r['new_msg']!r}"
            for r in real.head(3).iter_rows(named=True)
        ]
        plan_diff = PlanDiff(
            headers,
            count.get("added", 0),
            count.get("removed", 0),
            count.get("changed", 0),
            examples,
        )
        return plan_diff, diff.height > real.height

    def _already_sent(self, messages: pl.DataFrame, failed_too: bool) -> pl.DataFrame:
        """Rows whose number this campaign may have reached: submitted, unknown, in
        flight, or in a request marked for resending (which reports may yet prove sent);
        with ``failed_too``, also those whose message failed."""
        done = self._frame(
            """
            select dstno, state = 'failed' as failed from messages
            where campaign = $c and state in ('submitted', 'unknown', 'failed')
            union all
            select m.dstno, false from ic_messages m
            join ic_chunk_state s on s.campaign = m.campaign and s.chunk = m.chunk
            where m.campaign = $c and s.state = 'resend'
            """,
            {"c": self.campaign},
        )
        sent = done.filter(~pl.col("failed"))["dstno"]
        failed = done.filter(pl.col("failed"))["dstno"] if failed_too else sent.clear()
        open_row = pl.col("problem").is_null()
        return messages.with_columns(
            problem=pl.when(open_row & pl.col("dstno").is_in(sent.implode()))
            .then(pl.lit(ALREADY_SENT))
            .when(open_row & pl.col("dstno").is_in(failed.implode()))
            .then(pl.lit(FAILED_BEFORE))
            .otherwise("problem")
        )

    def _repeats_held(self, version: int) -> int:
        """Rows of the stored plan that the repeat guard skipped."""
        return int(
            self._scalar(
                f"select count(*) from ic_messages where campaign = ? and version = ? "
                f"and ({_REPEAT})",
                [self.campaign, version],
            )
        )

    def _guard_changed(self, version: int, parent: str | None) -> int:
        """Rows whose repeat guard differs now: still to send but a repeat now, or held
        back because another campaign was sending them and it no longer is."""
        pending = self._frame(
            """
            select m.row, m.dstno, m.msg, null::varchar as problem from ic_messages m
            left join ic_chunk_state s on s.campaign = m.campaign and s.chunk = m.chunk
            where m.campaign = ? and m.chunk is not null
              and coalesce(s.state, 'planned') = 'planned'
            """,
            [self.campaign],
        )
        held = self._frame(
            """
            select row, dstno, msg, null::varchar as problem from ic_messages
            where campaign = ? and version = ? and starts_with(problem, 'being sent by')
            """,
            [self.campaign, version],
        )
        now_repeats = int(self._guard(pending, parent)["problem"].is_not_null().sum())
        released = int(self._guard(held, parent)["problem"].is_null().sum())
        return now_repeats + released

    def _listed_changed(self, version: int, messages: pl.DataFrame) -> int:
        """Rows the do-not-contact list decides otherwise now: still to send but listed
        since, or skipped as listed and taken off since (unless the plan skips them)."""
        rows = self._frame(
            f"""
            select m.row, m.dstno, coalesce({_LISTED}, false) as skipped from ic_messages m
            left join ic_chunk_state s on s.campaign = m.campaign and s.chunk = m.chunk
            where m.campaign = $c
              and ((m.chunk is not null and coalesce(s.state, 'planned') = 'planned')
                   or (m.version = $v and {_LISTED}))
            """,
            {"c": self.campaign, "v": version},
        )
        open_rows = messages.filter(pl.col("problem").is_null())["row"].cast(pl.UInt32)
        rows = rows.filter(~pl.col("skipped") | pl.col("row").is_in(open_rows.implode()))
        now_listed = problems(self.con, rows["dstno"]).is_not_null()
        return int((now_listed != rows["skipped"]).sum())

    def _still_cancelled(self, messages: pl.DataFrame) -> pl.DataFrame:
        """Rows whose number's message was cancelled stay cancelled."""
        cancelled = self._frame(
            "select distinct dstno from messages where campaign = ? and state = 'cancelled'",
            [self.campaign],
        )["dstno"]
        hit = pl.col("problem").is_null() & pl.col("dstno").is_in(cancelled.implode())
        return messages.with_columns(
            problem=pl.when(hit).then(pl.lit("cancelled")).otherwise("problem")
        )

    def _busy(self) -> list[str]:
        """The other campaigns being sent now (their planned rows are about to go out)."""
        with self._shared.lock:
            here = {c for c, held in self._shared.sending.items() if held.doing == "send"}
        rows = self.con.execute(
            "select pid, thread, host, since, doing, campaign from ic_leases where doing = 'send'"
        ).fetchall()
        elsewhere = {r[5] for r in rows if not _stale(Holder(*r[:5]))}
        return sorted((here | elsewhere) - {self.campaign})

    def _guard(self, messages: pl.DataFrame, parent: str | None) -> pl.DataFrame:
        """The repeat guard: the same text to the same number by another campaign lately,
        or by one being sent right now. A follow-up's ``parent`` (and the parent's, for a
        follow-up of a follow-up) is not another: messaging its recipients again is what
        the follow-up is for."""
        new = messages.filter(pl.col("problem").is_null()).select("row", "dstno", "msg")
        if new.is_empty():
            return messages
        with registered(self.con, "ic_new_plan", new):
            repeats = self._frame(
                f"""
                with recursive followed(campaign) as (  -- the parent, its parent, …
                    select $parent::varchar
                    union
                    select c.parent from ic_campaigns c join followed f on c.campaign = f.campaign
                    where c.parent is not null
                ),
                same as (  -- other campaigns' messages with the same number and text
                    select m.campaign, m.chunk, m.row, n.row as new_row
                    from ic_messages m join ic_new_plan n on m.dstno = n.dstno and m.msg = n.msg
                    join ic_campaigns c on c.campaign = m.campaign and c.kind = 'campaign'
                    where m.campaign <> $c
                      and m.campaign not in (select * from followed where campaign is not null)
                ),
                sent as (  -- possibly sent (a request marked for resending too), or going now
                    select s.new_row, v.campaign,
                           v.state = 'planned' and k.state is distinct from 'resend' as sending,
                           coalesce(v.submitted_at, a.sent_at, now()) as sent_at
                    from same s
                    join messages v on v.campaign = s.campaign and v.chunk = s.chunk
                     and v.row = s.row
                    left join ic_chunk_state k on k.campaign = s.campaign and k.chunk = s.chunk
                    left join (
                        select campaign, chunk, max(recorded_at) as sent_at from ic_sends
                        where kind = 'state' and state = 'in_flight' group by all
                    ) a on a.campaign = s.campaign and a.chunk = s.chunk
                    where v.state in ('submitted', 'unknown') or k.state = 'resend'
                       or (v.state = 'planned' and list_contains($busy, v.campaign))
                )
                select new_row as row, arg_max(campaign, sent_at) as earlier,
                       max(sent_at) as sent_at, arg_max(sending, sent_at) as sending
                from sent where sent_at >= now() - to_days({REPEAT_DAYS})
                group by new_row
                """,
                {"c": self.campaign, "parent": parent, "busy": self._busy()},
            )
        if repeats.is_empty():
            return messages
        day = pl.col("sent_at").dt.convert_time_zone(MALAYSIA.key).dt.strftime("%Y-%m-%d")
        reason = (
            pl.when(pl.col("sending"))
            .then(pl.format("being sent by campaign '{}' now", pl.col("earlier")))
            .otherwise(pl.format("already sent by campaign '{}' on {}", pl.col("earlier"), day))
        )
        found = repeats.select(pl.col("row").cast(pl.UInt32), repeat=reason)
        return (
            messages.with_columns(pl.col("row").cast(pl.UInt32))
            .join(found, on="row", how="left", maintain_order="left")
            .with_columns(problem=pl.coalesce("problem", "repeat"))
            .drop("repeat")
        )

    def _cap(self, messages: pl.DataFrame, cap: FrequencyCap | None) -> pl.DataFrame:
        """The frequency cap: numbers other campaigns sent (or may have sent, or are
        sending now) ``cap.messages`` messages within ``cap.period`` are skipped."""
        if cap is None:
            return messages
        new = messages.filter(pl.col("problem").is_null()).select("dstno").unique()
        if new.is_empty():
            return messages
        moment = schedule.now()
        with registered(self.con, "ic_new_numbers", new):
            over = self._frame(
                """
                with reached as (  -- when each reached its number: sent, or held until
                    select v.dstno, v.campaign,
                           greatest(coalesce(v.submitted_at, k.updated_at, $now),
                                    timezone($zone, try_strptime(h.sendlater, $format)))
                               as sent_at
                    from messages v
                    join ic_campaigns c on c.campaign = v.campaign and c.kind = 'campaign'
                    left join ic_chunk_state k on k.campaign = v.campaign and k.chunk = v.chunk
                    left join ic_chunks h on h.campaign = v.campaign and h.chunk = v.chunk
                    where v.campaign <> $c and v.dstno in (select dstno from ic_new_numbers)
                      and (v.state in ('submitted', 'unknown') or k.state = 'resend'
                           or (v.state = 'planned' and list_contains($busy, v.campaign)))
                )
                select dstno, arg_max(campaign, sent_at) as last_campaign, max(sent_at) as last_at
                from reached where sent_at >= $since
                group by dstno having count(*) >= $most
                """,
                {
                    "c": self.campaign,
                    "now": moment,
                    "since": moment - cap.period,
                    "busy": self._busy(),
                    "most": cap.messages,
                    "zone": MALAYSIA.key,
                    "format": SEND_LATER_FORMAT,
                },
            )
        if over.is_empty():
            return messages
        at = pl.col("last_at").dt.convert_time_zone(MALAYSIA.key).dt.strftime("%Y-%m-%d %H:%M")
        reason = pl.format(f"{CAPPED}{cap} (last from '{{}}' at {{}})", pl.col("last_campaign"), at)
        found = over.select("dstno", capped=reason)
        open_row = pl.col("problem").is_null()
        return (
            messages.join(found, on="dstno", how="left", maintain_order="left")
            .with_columns(problem=pl.when(open_row).then("capped").otherwise("problem"))
            .drop("capped")
        )

    def _cap_changed(self, version: int, cap: FrequencyCap | None) -> int:
        """Rows whose frequency cap differs now: still to send but over the cap now, or
        held back by it and no longer over (or the cap is off)."""
        rows = self._frame(
            f"""
            select m.row, m.dstno, null::varchar as problem,
                   coalesce(starts_with(m.problem, '{CAPPED}'), false) as held
            from ic_messages m
            left join ic_chunk_state s on s.campaign = m.campaign and s.chunk = m.chunk
            where m.campaign = ? and m.version = ?
              and ((m.chunk is not null and coalesce(s.state, 'planned') = 'planned')
                   or starts_with(m.problem, '{CAPPED}'))
            """,
            [self.campaign, version],
        )
        if rows.is_empty():
            return 0
        capped = self._cap(rows.drop("held"), cap)["problem"].is_not_null()
        return int((capped != rows["held"]).sum())

    def _similar_names(self) -> list[str]:
        def key(name: str) -> str:
            return "".join(name.split()).casefold()

        names = self._frame("select campaign from ic_campaigns where kind = 'campaign'")
        similar = [n for n in names["campaign"] if key(n) == key(self.campaign)]
        return [
            f"Campaign {self.campaign!r} is new, but {n!r} exists: if this is the same campaign, "
            f"use that name, or the recipients already sent get the message again."
            for n in similar
        ]

    def save(self, record: PlanRecord, prepared: Prepared, chunks: pl.DataFrame) -> None:
        """Write a new plan version (nothing to do when the stored one is the same).

        ``prepared.messages`` carries the ``chunk`` of every sendable row;
        ``chunks`` one row per chunk (chunk, type, numbers, messages,
        credits_estimated). The older version's planned chunks are superseded.
        """
        if prepared.action == "same":
            return
        messages = prepared.messages
        sendable = messages.filter(pl.col("problem").is_null())
        # The plan's columns are the table's (Campaign.messages, its chunk); by name.
        plan_rows = messages.with_columns(
            campaign=pl.lit(self.campaign),
            chunk=pl.col("chunk").cast(pl.Int32),
            version=pl.lit(prepared.version, pl.Int32),
        )
        plan_chunks = chunks.select(
            pl.lit(self.campaign).alias("campaign"),
            pl.col("chunk").cast(pl.Int32),
            "type",
            pl.lit(record.sender_id, pl.String).alias("sendid"),
            pl.lit(record.send_later, pl.String).alias("sendlater"),
            "numbers",
            "messages",
            "credits_estimated",
            pl.lit(prepared.version, pl.Int32).alias("version"),
        )
        now = datetime.now(UTC)
        head = [
            record.template,
            record.sender_id,
            record.send_later,
            record.message_type,
            record.region,
            record.smart_ascii,
            messages.height,
            sendable.height,
            int(sendable["credits"].sum() or 0),
            record.price_per_credit,
        ]
        # Chunks marked for resending stay: their numbers are skipped in the new
        # version, and reports may yet prove they went out. Cancelled ones carry
        # over as the new version's cancelled rows.
        superseded = (
            self.chunks(("planned", "cancelled"))["chunk"].to_list() if prepared.version > 1 else []
        )
        con = self.con
        try:
            con.begin()
            if prepared.version == 1:
                con.execute(
                    "insert into ic_campaigns (campaign, kind, parent, created_at, template, "
                    "sender_id, send_later, message_type, region, smart_ascii, rows, sendable, "
                    "credits_estimated, price_per_credit, version) "
                    "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    [record.campaign, record.kind, record.parent, now, *head],
                )
            else:
                con.execute(
                    "update ic_campaigns set template = ?, sender_id = ?, send_later = ?, "
                    "message_type = ?, region = ?, smart_ascii = ?, rows = ?, sendable = ?, "
                    "credits_estimated = ?, price_per_credit = ?, version = ? where campaign = ?",
                    [*head, prepared.version, self.campaign],
                )
            con.execute(
                "insert into ic_plans (campaign, version, created_at, template, sender_id, "
                "send_later, message_type, region, smart_ascii, rows, sendable, "
                "credits_estimated, price_per_credit, action) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [self.campaign, prepared.version, now, *head, prepared.action],
            )
            with registered(con, "ic_incoming", plan_rows):
                if "contact" in plan_rows.columns:  # a struct: kept as JSON, with its type
                    con.execute(
                        "insert into ic_messages by name select * replace "
                        "(to_json(contact)::varchar as contact) from ic_incoming"
                    )
                    con.execute(
                        "update ic_plans set contact_type = "
                        "(select any_value(typeof(contact)) from ic_incoming) "
                        "where campaign = ? and version = ?",
                        [self.campaign, prepared.version],
                    )
                else:
                    con.execute("insert into ic_messages by name select * from ic_incoming")
            con.execute(
                "update ic_plans set settings = ? where campaign = ? and version = ?",
                [record.settings, self.campaign, prepared.version],
            )
            with registered(con, "ic_incoming", plan_chunks):
                con.execute("insert into ic_chunks by name select * from ic_incoming")
            self._append_locked_in_transaction(
                [
                    Record(c, "superseded", cause=f"plan version {prepared.version} replaces it")
                    for c in superseded
                ]
            )
            con.commit()
        except duckdb.Error as exc:
            rollback(con)
            raise StoreError(f"Could not save the plan of {self.campaign!r}: {exc}") from None

    # -- recording -------------------------------------------------------------------

    def record(self, finished: Sequence[Record], starting: Sequence[int] = ()) -> None:
        """One transaction: what finished, then ``in_flight`` for the requests about to leave."""
        rows = [*finished, *(Record(c, "in_flight") for c in starting)]
        if not rows:
            return
        con = self.con
        try:
            con.begin()
            self._append_locked_in_transaction(rows)
            con.commit()
        except duckdb.Error as exc:
            rollback(con)  # the seqs it took stay unused: gaps are harmless
            raise StoreError(f"Could not record the send: {exc}") from None

    def _append_locked_in_transaction(self, rows: Sequence[Record]) -> None:
        if not rows:
            return
        with self._shared.lock:  # seq orders every write to ic_sends of this database
            if self._shared.next_seq is None:
                self._shared.next_seq = int(
                    self._scalar("select coalesce(max(seq), 0) + 1 from ic_sends")
                )
            seq = self._shared.next_seq
            table, seq = _send_rows(self.campaign, rows, seq)
            # DuckDB reads this local by its name (a replacement scan): a
            # millisecond cheaper per commit than register(), on the hot path.
            ic_incoming_sends = table  # noqa: F841
            self.con.execute("insert into ic_sends select * from ic_incoming_sends")
            self._shared.next_seq = seq

    def mark_interrupted(self) -> int:
        """Requests left ``in_flight`` by a send that died become ``unknown``."""
        stuck = self.chunks(("in_flight",))["chunk"].to_list()
        self.record(
            [
                Record(c, "unknown", cause="the send stopped while this request was in flight")
                for c in stuck
            ]
        )
        return len(stuck)

    def cancel(self) -> pl.DataFrame:
        """The chunks still to send become ``cancelled``: never sent. Returns them."""
        pending = self.chunks(("planned", "resend"))
        self.record(
            [Record(c, "cancelled", cause="cancelled by the user") for c in pending["chunk"]]
        )
        return pending.select("chunk", "messages", "credits_estimated")

    # -- evidence and resolving ---------------------------------------------------------

    def evidence(self, chunks: Sequence[int] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Delivery reports that prove, or cannot prove, this campaign's unknown requests.

        A report whose trx_id belongs to no known message, for a number of a
        possibly-sent message (unknown, settled or marked for resend), dated
        from that request on, is *evidence* when it is the only such
        request to that number in any campaign, else *ambiguous*.
        Returns (evidence, ambiguous), each with chunk, row, dstno, trx_id, dlr_at.
        """
        found = self._frame(
            """
            with asked as (  -- when each possibly-sent chunk's request last left
                select s.campaign, s.chunk, max(s.recorded_at) as sent_at
                from ic_sends s join ic_chunk_state c on c.campaign = s.campaign
                 and c.chunk = s.chunk
                where s.kind = 'state' and s.state = 'in_flight'
                  and c.state in ('in_flight', 'unknown', 'settled', 'resend')
                group by all
            ),
            open as (  -- their messages without a result
                select m.campaign, m.chunk, m.row, m.dstno, a.sent_at
                from ic_messages m join asked a on a.campaign = m.campaign and a.chunk = m.chunk
                anti join ic_latest_result r
                  on r.campaign = m.campaign and r.chunk = m.chunk and r.row = m.row
            ),
            reports as (  -- reports that belong to no message we know of
                select msisdn, trx_id, min(coalesce(event_at, imported_at)) as dlr_at
                from ic_dlr_events e
                anti join (select sms_id from ic_sends where kind = 'result'
                           and sms_id is not null) k on k.sms_id = e.trx_id
                group by all
            ),
            candidates as (
                -- log times are whole seconds: a report in the request's second counts
                select o.*, r.trx_id, r.dlr_at,
                       count(*) over (partition by r.trx_id) as could_be
                from open o join reports r on r.msisdn = o.dstno
                where r.dlr_at >= date_trunc('second', o.sent_at)
            )
            select chunk, row, dstno, trx_id, dlr_at, could_be > 1 as ambiguous
            from candidates where campaign = ?
            order by chunk, row, dlr_at
            """,
            [self.campaign],
        )
        if chunks is not None:
            found = found.filter(pl.col("chunk").is_in(list(chunks)))
        proof = found.filter(~pl.col("ambiguous")).unique(
            ["chunk", "row"], keep="first", maintain_order=True
        )
        ambiguous = found.filter(pl.col("ambiguous")).join(
            proof.select("chunk", "row"), on=["chunk", "row"], how="anti"
        )
        columns = ["chunk", "row", "dstno", "trx_id", "dlr_at"]
        return proof.select(columns), ambiguous.unique(["chunk", "row"]).select(columns)

    def settle_with_evidence(self, evidence: pl.DataFrame, chunks: Sequence[int]) -> list[Record]:
        """Records that settle ``chunks`` as sent, their proven messages ``submitted``."""
        records = []
        for (chunk,), found in evidence.filter(pl.col("chunk").is_in(list(chunks))).group_by(
            "chunk", maintain_order=True
        ):
            n = found.height
            records.append(
                Record(
                    int(chunk),
                    "settled",
                    cause=f"DLR evidence: reports for {n} recipients dated after the request: "
                    f"it reached the gateway",
                    results=Results(
                        found["row"].to_list(),
                        found["dstno"].to_list(),
                        [2000] * n,
                        ["reconciled from DLR"] * n,
                        found["trx_id"].to_list(),
                    ),
                )
            )
        return records

    def in_doubt(self, *, use_dlr: bool = True) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The chunks that may or may not have gone out, and what the reports say of them.

        One row per chunk in doubt (in flight, unknown, marked for resending)
        or settled with new evidence: chunk, state, messages, with_dlr,
        ambiguous, first_dlr_at; and the evidence itself (see :meth:`evidence`).
        """
        evidence, ambiguous = self.evidence() if use_dlr else (_NO_EVIDENCE, _NO_EVIDENCE)
        proven = evidence.group_by("chunk").agg(
            with_dlr=pl.len().cast(pl.Int64), first_dlr_at=pl.col("dlr_at").min()
        )
        unclear = ambiguous.group_by("chunk").agg(ambiguous=pl.len().cast(pl.Int64))
        chunks = (
            self.chunks(("in_flight", "unknown", "resend", "settled"))
            .join(proven, on="chunk", how="left")
            .join(unclear, on="chunk", how="left")
            .with_columns(pl.col("with_dlr", "ambiguous").fill_null(0))
            .filter((pl.col("state") != "settled") | (pl.col("with_dlr") > 0))
            .select("chunk", "state", "messages", "with_dlr", "ambiguous", "first_dlr_at")
        )
        return chunks, evidence

    def resolve(self, *, resend: bool, use_dlr: bool = True) -> pl.DataFrame:
        """See :meth:`Store.resolve_unknown`."""
        chunks, evidence = self.in_doubt(use_dlr=use_dlr)
        chunks = chunks.with_columns(
            settled_as=pl.when(pl.col("with_dlr") > 0)
            .then(pl.lit("sent (DLR evidence)"))
            .otherwise(pl.lit("resend" if resend else "settled")),
        )
        with_proof = chunks.filter(pl.col("with_dlr") > 0)["chunk"].to_list()
        records = self.settle_with_evidence(evidence, with_proof)
        cause = (
            "resolved by the user: send again"
            if resend
            else "resolved by the user: possibly sent, not sent again"
        )
        records += [
            Record(c, "resend" if resend else "settled", cause=cause)
            for c in chunks.filter(pl.col("with_dlr") == 0)["chunk"]
        ]
        self.record(records)
        return chunks.select(
            "chunk", "messages", "with_dlr", "ambiguous", "first_dlr_at", "settled_as"
        )


_NO_EVIDENCE = pl.DataFrame(
    schema={
        "chunk": pl.Int32,
        "row": pl.UInt32,
        "dstno": pl.String,
        "trx_id": pl.String,
        "dlr_at": pl.Datetime("us", "UTC"),
    }
)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def build_chunks(pending: pl.DataFrame, rows: pl.DataFrame) -> list[Chunk]:
    """The requests to make: ``rows`` (chunk, row, dstno, msg) hold the messages of
    ``pending`` (one row per chunk), in chunk order."""
    rows = rows.with_columns(numbers=number_count(pl.col("dstno")))
    messages = rows.select("dstno", "msg").to_dicts()
    # A dstno with several numbers gets one result per number: its row repeats.
    number_rows = rows["row"].repeat_by(rows["numbers"]).explode().drop_nulls().to_list()
    # Where each chunk's messages and numbers end in those two lists.
    ends = (
        rows.group_by("chunk", maintain_order=True)
        .agg(m=pl.len(), n=pl.col("numbers").sum())
        .with_columns(m_end=pl.col("m").cum_sum(), n_end=pl.col("n").cum_sum())
    )
    state = "state" in pending.columns
    return [  # one per request
        Chunk(
            c["chunk"],
            c["type"],
            c["sendid"],
            c["sendlater"],
            c["credits_estimated"],
            c["state"] if state else "planned",
            messages[c["m_end"] - c["m"] : c["m_end"]],
            number_rows[c["n_end"] - c["n"] : c["n_end"]],
        )
        for c in pending.join(ends, on="chunk", maintain_order="left").iter_rows(named=True)
    ]


def number_count(dstno: pl.Expr) -> pl.Expr:
    """How many numbers a dstno holds, as the gateway client's ``split_numbers`` counts."""
    return dstno.str.extract_all(r"[^;,]*[^;,\s][^;,]*").list.len()


def _send_rows(campaign: str, rows: Sequence[Record], seq: int) -> tuple[pa.Table, int]:
    """``ic_sends`` rows for ``rows``: a state row each, then its attempts and results."""
    now = datetime.now(UTC)
    columns: dict[str, list[Any]] = {name: [] for name in SENDS_SCHEMA.names}

    def extend(n: int, values: dict[str, Any]) -> None:
        """n rows: a list in ``values`` gives each row's value, anything else all rows'."""
        for name, column in columns.items():
            value = values.get(name)
            column.extend(value if isinstance(value, list) else [value] * n)

    for r in rows:
        request = seq
        extend(
            1,
            {
                "seq": seq,
                "kind": "state",
                "campaign": campaign,
                "chunk": r.chunk,
                "recorded_at": now,
                "state": r.state,
                "started_at": r.started_at,
                "outcome": r.outcome,
                "code": r.code,
                "message": r.message,
                "cause": r.cause,
                "credits_charged": r.credits_charged,
            },
        )
        seq += 1
        common = {"request": request, "campaign": campaign, "chunk": r.chunk, "recorded_at": now}
        for a in r.attempts:
            extend(
                1,
                {
                    **common,
                    "seq": seq,
                    "kind": "attempt",
                    "host": a.host,
                    "elapsed_ms": a.elapsed * 1000,
                    "http_status": a.http_status,
                    "error": a.error,
                },
            )
            seq += 1
        if (res := r.results) is not None:
            n = len(res.row)
            extend(
                n,
                {
                    **common,
                    "seq": list(range(seq, seq + n)),
                    "kind": "result",
                    "row": res.row,
                    "dstno": res.dstno,
                    "code": res.code,
                    "status": res.status,
                    "sms_id": res.sms_id,
                },
            )
            seq += n
    return pa.Table.from_pydict(columns, schema=SENDS_SCHEMA), seq


def _repeat_note(messages: pl.DataFrame) -> list[str]:
    problem = pl.col("problem")
    repeats = messages.filter(
        problem.str.starts_with("already sent by campaign")
        | problem.str.starts_with("being sent by")
    )
    if repeats.is_empty():
        return []
    return [
        f"{repeats.height:,} recipients got this same text from another campaign in the last "
        f"{REPEAT_DAYS} days, or are getting it now: skipped (send(..., allow_repeats=True) "
        f"or --allow-repeats sends them anyway)."
    ]


def _listed_note(before: pl.DataFrame, after: pl.DataFrame) -> list[str]:
    """What the do-not-contact list skipped at sending (a Campaign given the store
    has said so already for the rows it skipped)."""
    listed = pl.col("problem").str.starts_with(DO_NOT_CONTACT).sum()
    n = int(after.select(listed).item() - before.select(listed).item())
    if not n:
        return []
    return [
        f"{n:,} recipients are on the store's do-not-contact list: skipped (see the "
        f"suppressions view; store.unsuppress takes a number off, with the reason)."
    ]


def _cap_note(messages: pl.DataFrame, cap: FrequencyCap | None) -> list[str]:
    if cap is None:
        return []
    capped = int(messages["problem"].str.starts_with(CAPPED).sum())
    if not capped:
        return []
    return [
        f"{capped:,} recipients already got {cap} from other campaigns: skipped by the "
        f"frequency cap (see their problem)."
    ]


def _stale(held: Holder) -> bool:
    """A lease row whose process is gone (on this machine) holds nothing.

    A process id can be reused: a process that started after the lease was
    taken is not its holder.
    """
    if held.host != _HOST:
        return False
    if held.pid == os.getpid():  # ours, yet not in the registry: left by a failed release
        return True
    try:
        os.kill(held.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    with suppress(OSError):  # Linux: /proc/PID appears when the process starts
        started = os.stat(f"/proc/{held.pid}").st_ctime
        return started > held.since.timestamp() + 1
    return False


def _busy(campaign: str, held: Holder, doing: str) -> SendError:
    if doing == "send":
        return SendError(
            f"Campaign {campaign!r} is being sent by {held}; nothing was sent. Wait for that "
            f"send to finish (or stop it), then call send again: it resumes where it stopped."
        )
    return SendError(
        f"Campaign {campaign!r} is being sent by {held}: cannot {doing} it now. Stop that "
        f"send or wait for it to finish, then {doing} again."
    )

"""``Store``: every plan, request, result and delivery report, in DuckDB.

>>> store = Store(":memory:")
>>> store.sql("select count(*) as n from messages")["n"].item()
0

What users query are four views with stable names and columns, documented
in the README: ``campaigns``, ``messages``, ``batches`` and ``dlr_events``
(the last from schema version 2). The tables behind them (``ic_*``) are ours
and may change between versions; the schema is upgraded in place when an
older file is opened.

Writes are append-only and bulk: a plan is one insert of its messages, and
every state change of a request (``in_flight`` before it leaves, its results
after) is a row of ``ic_sends`` written with the others of the same moment
in one transaction. A message's state is derived from those rows, never
updated in place, so the history of every request stays in the file.

Only this module runs SQL; every query is parameterised. Passwords never
reach it: nothing the gateway client holds is written.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
import pyarrow as pa

from .campaign import MESSAGE_COLUMNS
from .errors import PlanError, StoreError

if TYPE_CHECKING:
    from .dlr import ImportReport

# Each migration takes the schema from version i to i + 1. Never edit one
# that has shipped: add the next.
MIGRATIONS: tuple[str, ...] = (
    """
    create table ic_campaigns (
        campaign varchar primary key,
        kind varchar not null,            -- 'campaign' or 'test'
        parent varchar,                   -- for a test send: the campaign it tests
        created_at timestamptz not null,
        template varchar,
        sender_id varchar,
        send_later varchar,
        message_type tinyint,
        region varchar,
        smart_ascii boolean,
        rows bigint not null,
        sendable bigint not null,
        credits_estimated bigint not null
    );
    create table ic_messages (
        campaign varchar not null,
        row uinteger not null,
        number varchar,
        dstno varchar,
        country varchar,
        operator varchar,
        msg varchar,
        type tinyint,
        length integer,
        parts integer,
        credits integer,
        problem varchar,
        warning varchar,
        variant varchar,
        chunk integer                     -- null for rows that are skipped
    );
    create table ic_chunks (
        campaign varchar not null,
        chunk integer not null,
        type tinyint not null,
        sendid varchar,
        sendlater varchar,
        numbers integer not null,
        messages integer not null,
        credits_estimated integer not null
    );
    -- The outbox log, append-only and flat (flat rows commit twice as fast
    -- as nested ones). Three kinds of row:
    --   'state'   a chunk's state changes: 'in_flight' before its request,
    --             then 'sent' / 'unknown' / 'planned' (refused: nothing sent)
    --             with what the gateway said; 'resend' / 'settled' when a
    --             user resolves an unknown chunk;
    --   'attempt' one HTTP try of that request (host, timing, status);
    --   'result'  one destination number's result in that request.
    -- 'attempt' and 'result' rows point at their 'state' row by `request`.
    create table ic_sends (
        seq bigint not null,
        request bigint,
        kind varchar not null,
        campaign varchar not null,
        chunk integer not null,
        recorded_at timestamptz not null,
        state varchar,
        started_at timestamptz,
        outcome varchar,
        code integer,
        message varchar,
        cause varchar,
        credits_charged integer,
        host varchar,
        elapsed_ms double,
        http_status integer,
        error varchar,
        row uinteger,
        dstno varchar,
        status varchar,
        sms_id varchar
    );
    """,
    """
    -- Delivery reports, append-only. An event is its content (msisdn,
    -- trx_id, dn_status, event_at): importing the same events again adds nothing.
    create table ic_dlr_events (
        msisdn varchar,
        trx_id varchar not null,
        dn_status varchar not null,
        event_at timestamptz,
        imported_at timestamptz not null,
        source varchar not null,
        line bigint
    );
    -- How far each text file (log, spool) has been read, to read only what is new.
    create table ic_dlr_offsets (
        source varchar not null,
        bytes bigint not null,
        lines bigint not null,
        imported_at timestamptz not null
    );
    """,
)

# Views are not data: they are replaced on every open, so they always match
# this version of the code.
VIEWS = """
create or replace view ic_chunk_state as
    select campaign, chunk, arg_max(state, seq) as state, max(recorded_at) as updated_at
    from ic_sends where kind = 'state' group by campaign, chunk;

create or replace view ic_latest_result as
    select campaign, row, arg_max(code, seq) as code, arg_max(status, seq) as status,
           arg_max(sms_id, seq) as sms_id, arg_max(recorded_at, seq) as recorded_at
    from ic_sends where kind = 'result'
    group by campaign, row;

-- The class of a DLR word: DELIVERED, ACCEPTED and SENT all mean "the telco
-- SMSC acknowledged it".
create or replace macro ic_dlr_class(status) as
    case when status in ('DELIVERED', 'ACCEPTED', 'SENT') then 'delivered'
         when status = 'UNDELIVERED' then 'failed'
         when status = 'PENDING' then 'pending'
         else 'unknown' end;

create or replace view ic_dlr_current as
    -- A message's status: a final one never goes back to PENDING; among
    -- finals the latest wins; ties by status, so arrival order never matters.
    select trx_id, dn_status, dlr_class, event_at from (
        select trx_id, dn_status, event_at,
               ic_dlr_class(dn_status) as dlr_class,
               row_number() over (
                   partition by trx_id
                   order by (dn_status <> 'PENDING') desc, event_at desc nulls last,
                            dn_status desc
               ) as pick
        from ic_dlr_events
    ) where pick = 1;

create or replace view messages as
    select m.campaign, m.row, m.dstno, m.msg, m.type, m.parts, m.credits, m.operator,
           m.country, m.problem, m.warning, m.chunk,
           case when m.problem is not null then 'skipped'
                when r.code = 2000 then 'submitted'
                when r.code is not null then 'failed'
                when s.state in ('in_flight', 'unknown', 'settled') then 'unknown'
                else 'planned' end as state,
           r.code, r.status, r.sms_id,
           case when r.code = 2000 then r.recorded_at end as submitted_at,
           d.dn_status as dlr_status, d.dlr_class, d.event_at as dlr_at
    from ic_messages m
    left join ic_chunk_state s on s.campaign = m.campaign and s.chunk = m.chunk
    left join ic_latest_result r on r.campaign = m.campaign and r.row = m.row
    left join ic_dlr_current d on d.trx_id = r.sms_id;

create or replace view dlr_events as
    select e.msisdn, e.trx_id, e.dn_status,
           ic_dlr_class(e.dn_status) as dlr_class,
           e.event_at, e.imported_at, e.source, e.line, m.campaign, m.row,
           case when m.dstno is not null and e.msisdn is not null
                then m.dstno = e.msisdn end as msisdn_matches
    from ic_dlr_events e
    left join (
        select r.sms_id, r.campaign, r.row, x.dstno
        from ic_latest_result r
        join ic_messages x on x.campaign = r.campaign and x.row = r.row
        where r.sms_id is not null
    ) m on m.sms_id = e.trx_id;

create or replace view batches as
    select s.campaign, s.chunk, s.seq as batch, s.started_at, s.recorded_at as finished_at,
           a.host, a.tries, a.http_status, s.outcome, s.code, s.message, s.cause,
           c.type, c.numbers, c.credits_estimated, s.credits_charged, a.latency_ms, a.attempts
    from ic_sends s
    join ic_chunks c on c.campaign = s.campaign and c.chunk = s.chunk
    left join (
        select request, count(*) as tries, arg_max(host, seq) as host,
               arg_max(http_status, seq) as http_status, sum(elapsed_ms) as latency_ms,
               list({'host': host, 'elapsed_ms': elapsed_ms, 'http_status': http_status,
                     'error': error} order by seq) as attempts
        from ic_sends where kind = 'attempt' group by request
    ) a on a.request = s.seq
    where s.kind = 'state' and s.outcome is not null;

create or replace view campaigns as
    select c.campaign, c.kind, c.parent, c.created_at, c.template, c.sender_id, c.send_later,
           c.rows, c.sendable, c.credits_estimated,
           count(m.row) filter (where m.state = 'planned') as planned,
           count(m.row) filter (where m.state = 'submitted') as submitted,
           count(m.row) filter (where m.state = 'failed') as failed,
           count(m.row) filter (where m.state = 'unknown') as unknown,
           count(m.row) filter (where m.state = 'skipped') as skipped,
           (select sum(b.credits_charged) from ic_sends b
            where b.campaign = c.campaign and b.kind = 'state')::bigint as credits_charged
    from ic_campaigns c left join messages m on m.campaign = c.campaign
    group by all;
"""

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

# The plan columns compared when a campaign is sent again under the same name.
_COMPARED = ("dstno", "msg", "type", "credits", "problem")


@dataclass(frozen=True)
class CampaignRecord:
    """What the ``ic_campaigns`` row of a plan holds."""

    campaign: str
    kind: str
    parent: str | None
    template: str | None
    sender_id: str | None
    send_later: str | None
    message_type: int | None
    region: str
    smart_ascii: bool


_NO_EVIDENCE = pl.DataFrame(
    schema={
        "chunk": pl.Int32,
        "row": pl.UInt32,
        "dstno": pl.String,
        "trx_id": pl.String,
        "dlr_at": pl.Datetime("us", "UTC"),
    }
)


class _Sequence:
    """The next ``seq`` of ``ic_sends``, shared by a store and its cursor twins."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next: int | None = None


class Store:
    """The campaign store: a DuckDB file, ``":memory:"``, or your own connection.

    ``store.sql(query, params)`` returns a polars frame. One process at a time
    may write a file (DuckDB's own lock); a second one gets a
    :class:`StoreError` saying the store is in use.
    """

    def __init__(self, path: str | Path | duckdb.DuckDBPyConnection = ":memory:") -> None:
        if isinstance(path, duckdb.DuckDBPyConnection):
            self.path = "<connection>"
            self._con = path
            self._owned = False
        else:
            self.path = str(path)
            self._con = _connect(self.path)
            self._owned = True
        self._seq = _Sequence()
        self._migrate()

    @classmethod
    def _cursor_of(cls, store: Store) -> Store:
        """The same database through a new cursor, for another thread."""
        twin = cls.__new__(cls)
        twin.path, twin._con, twin._owned = store.path, store._con.cursor(), True
        twin._seq = store._seq  # one counter: seq orders every write to ic_sends
        return twin

    # -- opening -----------------------------------------------------------------

    def _migrate(self) -> None:
        con = self._con
        try:
            con.execute(
                "create table if not exists ic_schema_version "
                "(version integer not null, applied_at timestamptz not null)"
            )
            version = int(_scalar(con, "select coalesce(max(version), 0) from ic_schema_version"))
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"The store {self.path} was written by a newer isms_campaigns (schema "
                    f"{version}; this one knows up to {len(MIGRATIONS)}). Upgrade isms_campaigns."
                )
            for number in range(version, len(MIGRATIONS)):
                con.begin()
                con.execute(MIGRATIONS[number])
                con.execute("insert into ic_schema_version values (?, ?)", [number + 1, _now()])
                con.commit()
            con.execute(VIEWS)
        except duckdb.Error as exc:
            _rollback(con)
            raise StoreError(
                f"Cannot set up the store {self.path}: {_first_line(exc)}. If this database "
                f"already has tables named campaigns, messages or batches, use another file."
            ) from None

    @property
    def schema_version(self) -> int:
        return int(_scalar(self._con, "select coalesce(max(version), 0) from ic_schema_version"))

    def close(self) -> None:
        """Close the file (only a connection the store opened itself)."""
        if self._owned:
            self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        try:
            count = f"{_scalar(self._con, 'select count(*) from ic_campaigns')} campaigns"
        except duckdb.Error:
            count = "closed"
        return f"<Store {self.path}: {count}>"

    # -- what users call ------------------------------------------------------------

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        """Run a query (with ``?`` or ``$name`` parameters) and return a polars frame."""
        try:
            relation = self._con.sql(query, params=params)
        except duckdb.Error as exc:
            raise StoreError(f"The query failed: {exc}") from None
        return pl.DataFrame() if relation is None else pl.DataFrame(relation.pl())

    def campaigns(self) -> pl.DataFrame:
        """Every campaign with its messages counted by state."""
        return self.sql("select * from campaigns order by created_at")

    def resolve_unknown(self, campaign: str, *, resend: bool, use_dlr: bool = True) -> pl.DataFrame:
        """Settle the chunks of ``campaign`` whose requests may or may not have gone out.

        First the evidence (``use_dlr=True``): a delivery report for a
        recipient of such a chunk, not matching any known sms_id and dated
        from the attempt on, shows the request reached the gateway. That
        message becomes ``submitted`` with the report's trx_id as its sms_id,
        and its chunk is settled as sent: never sent again, whatever
        ``resend`` says. Its other messages stay ``unknown`` (nobody knows),
        and a later call can still match their reports.

        The chunks without evidence: ``resend=True`` makes the next ``send``
        send them again (a recipient may get the message twice);
        ``resend=False`` settles them as possibly sent, never sent again.

        Returns one row per chunk: chunk, messages, with_dlr (the messages
        matched now), first_dlr_at, settled_as (``sent (DLR evidence)``,
        ``resend`` or ``settled``).
        """
        self._require(campaign)
        evidence = self._dlr_evidence(campaign) if use_dlr else _NO_EVIDENCE
        unknown = self._chunks_in(campaign, ("in_flight", "unknown"))["chunk"]
        proven = evidence.group_by("chunk").agg(
            with_dlr=pl.len().cast(pl.Int64), first_dlr_at=pl.col("dlr_at").min()
        )
        # Chunks settled before whose messages have reports now come back too.
        involved = pl.concat([unknown.cast(pl.Int64), proven["chunk"].cast(pl.Int64)])
        chunks = (
            self.sql("select chunk, messages from ic_chunks where campaign = ?", [campaign])
            .filter(pl.col("chunk").is_in(involved.implode()))
            .join(proven, on="chunk", how="left")
            .with_columns(
                with_dlr=pl.col("with_dlr").fill_null(0),
                settled_as=pl.when(pl.col("with_dlr") > 0)
                .then(pl.lit("sent (DLR evidence)"))
                .otherwise(pl.lit("resend" if resend else "settled")),
            )
            .sort("chunk")
        )
        by_chunk = evidence.partition_by("chunk", as_dict=True)
        rows = []
        for chunk, n, matched in chunks.select("chunk", "messages", "with_dlr").iter_rows():
            row: dict[str, Any] = {"campaign": campaign, "chunk": chunk}
            if matched:
                found = by_chunk[(chunk,)]
                row |= {
                    "state": "settled",
                    "cause": f"DLR evidence: reports for {matched} of {n} recipients dated "
                    f"after the request: it reached the gateway",
                    "results": {
                        "row": found["row"].to_list(),
                        "dstno": found["dstno"].to_list(),
                        "code": [2000] * found.height,
                        "status": ["reconciled from DLR"] * found.height,
                        "sms_id": found["trx_id"].to_list(),
                    },
                }
            elif resend:
                row |= {"state": "resend", "cause": "resolved by the user: send again"}
            else:
                row |= {
                    "state": "settled",
                    "cause": "resolved by the user: possibly sent, not sent again",
                }
            rows.append(row)
        self._append_sends(rows)
        return chunks.select("chunk", "messages", "with_dlr", "first_dlr_at", "settled_as")

    def _dlr_evidence(self, campaign: str) -> pl.DataFrame:
        """Unknown messages with a delivery report from their request's time on."""
        return self.sql(
            """
            with asked as (  -- when each chunk's request last went out
                select chunk, max(recorded_at) as sent_at from ic_sends
                where kind = 'state' and state = 'in_flight' and campaign = ?
                group by chunk
            ),
            open as (
                select m.row, m.dstno, m.chunk, a.sent_at from messages m
                join asked a on a.chunk = m.chunk
                where m.campaign = ? and m.state = 'unknown'
            ),
            reports as (  -- reports that belong to no message we know of
                select e.msisdn, e.trx_id, coalesce(e.event_at, e.imported_at) as dlr_at
                from ic_dlr_events e
                anti join (select sms_id from ic_sends where kind = 'result') k
                  on k.sms_id = e.trx_id
            )
            select o.chunk, o.row, o.dstno, arg_min(r.trx_id, r.dlr_at) as trx_id,
                   min(r.dlr_at) as dlr_at
            from open o join reports r on r.msisdn = o.dstno
            -- log times are whole seconds: a report in the request's second counts
            where r.dlr_at >= date_trunc('second', o.sent_at)
            group by all order by o.chunk, o.row
            """,
            [campaign, campaign],
        )

    def import_dlr(self, source: Any, *, time_zone: str = "UTC") -> ImportReport:
        """Import delivery reports: logs, callback URLs, CSV/TSV/Parquet/JSONL, a frame,
        a folder or a glob (see :mod:`isms_campaigns.dlr`).

        Idempotent: events already in the store are not added again, and a text
        file read before is read only from where the last import stopped.
        Times without an offset are taken to be in ``time_zone``.
        """
        from .dlr import ImportReport, read_sources

        started = time.perf_counter()
        offsets = {
            str(src): (int(size), int(lines))
            for src, size, lines in self._con.execute(
                "select source, bytes, lines from ic_dlr_offsets"
            ).fetchall()
        }
        parsed = read_sources(source, offsets=offsets, time_zone=time_zone)
        con, now = self._con, _now()
        taken = pl.DataFrame(
            parsed.offsets, schema=["source", "bytes", "lines"], orient="row"
        ).with_columns(imported_at=pl.lit(now))
        try:
            con.begin()
            with _registered(con, "ic_incoming_dlr", parsed.events):
                # One row per distinct event, the first place it was seen.
                con.execute(
                    """
                    create or replace temp table ic_dlr_batch as
                    select msisdn, trx_id, dn_status, event_at,
                           arg_min(source, line) as source, min(line) as line, count(*) as seen
                    from ic_incoming_dlr group by msisdn, trx_id, dn_status, event_at
                    """
                )
            (new,) = con.execute(
                """
                insert into ic_dlr_events
                select b.msisdn, b.trx_id, b.dn_status, b.event_at, ?, b.source, b.line
                from ic_dlr_batch b
                anti join ic_dlr_events e
                  on e.trx_id = b.trx_id and e.dn_status = b.dn_status
                 and e.msisdn is not distinct from b.msisdn
                 and e.event_at is not distinct from b.event_at
                """,
                [now],
            ).fetchall()[0]  # an INSERT answers with the rows it added
            with _registered(con, "ic_incoming_offsets", taken):
                con.execute(
                    "delete from ic_dlr_offsets where source in "
                    "(select source from ic_incoming_offsets)"
                )
                con.execute("insert into ic_dlr_offsets select * from ic_incoming_offsets")
            unmatched, mismatch = con.execute(
                """
                select coalesce(sum(b.seen) filter (where m.sms_id is null), 0),
                       coalesce(sum(b.seen) filter (where m.dstno <> b.msisdn), 0)
                from ic_dlr_batch b
                left join (
                    select distinct sms_id, dstno from ic_sends
                    where kind = 'result' and code = 2000
                ) m on m.sms_id = b.trx_id
                """
            ).fetchall()[0]
            by_status = con.sql(
                """
                select dn_status, ic_dlr_class(dn_status) as class, sum(seen)::uinteger as events
                from ic_dlr_batch group by all order by events desc, dn_status
                """
            ).pl()
            con.execute("drop table ic_dlr_batch")
            con.commit()
        except duckdb.Error as exc:
            _rollback(con)
            raise StoreError(f"Could not import the delivery reports: {exc}") from None
        bad = parsed.malformed
        return ImportReport(
            source=str(source) if not isinstance(source, pl.DataFrame) else "a frame",
            read=parsed.events.height,
            new=int(new),
            duplicate=parsed.events.height - int(new),
            unmatched=int(unmatched),
            msisdn_mismatch=int(mismatch),
            malformed=bad.height,
            ignored=parsed.ignored,
            by_status=by_status,
            malformed_examples=[
                f"{src}:{line}: {reason}: {text[:120]!r}"
                for src, line, text, reason in bad.head(5).iter_rows()
            ],
            elapsed=time.perf_counter() - started,
        )

    # -- used by the sender ------------------------------------------------------------

    def _require(self, campaign: str) -> None:
        if not self._has(campaign):
            known = self.sql("select campaign from ic_campaigns order by created_at")["campaign"]
            raise StoreError(
                f"No campaign {campaign!r} in the store {self.path}; it has: "
                f"{', '.join(known) or 'none yet'}."
            )

    def _has(self, campaign: str) -> bool:
        return bool(
            _scalar(self._con, "select count(*) from ic_campaigns where campaign = ?", [campaign])
        )

    def _save_plan(
        self, record: CampaignRecord, messages: pl.DataFrame, chunks: pl.DataFrame
    ) -> bool:
        """Write a new plan (True) or check a stored one is the same (False).

        A different plan under the same name is a :class:`PlanError` showing
        the difference: mixing two plans would send some recipients the old
        text and others the new.
        """
        if self._has(record.campaign):
            self._check_same_plan(record, messages)
            return False
        sendable = messages.filter(pl.col("problem").is_null())
        plan_rows = messages.select(  # the columns of ic_messages, in order
            pl.lit(record.campaign).alias("campaign"),
            *MESSAGE_COLUMNS,
            (pl.col("variant") if "variant" in messages.columns else pl.lit(None, pl.String)).alias(
                "variant"
            ),
            "chunk",
        )
        plan_chunks = chunks.select(
            pl.lit(record.campaign).alias("campaign"),
            "chunk",
            "type",
            pl.lit(record.sender_id, pl.String).alias("sendid"),
            pl.lit(record.send_later, pl.String).alias("sendlater"),
            "numbers",
            "messages",
            "credits_estimated",
        )
        con = self._con
        try:
            con.begin()
            con.execute(
                "insert into ic_campaigns values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    record.campaign,
                    record.kind,
                    record.parent,
                    _now(),
                    record.template,
                    record.sender_id,
                    record.send_later,
                    record.message_type,
                    record.region,
                    record.smart_ascii,
                    messages.height,
                    sendable.height,
                    int(sendable["credits"].sum() or 0),
                ],
            )
            with _registered(con, "ic_incoming", plan_rows):
                con.execute("insert into ic_messages select * from ic_incoming")
            with _registered(con, "ic_incoming", plan_chunks):
                con.execute("insert into ic_chunks select * from ic_incoming")
            con.commit()
        except duckdb.Error as exc:
            _rollback(con)
            raise StoreError(f"Could not save the plan of {record.campaign!r}: {exc}") from None
        return True

    def _check_same_plan(self, record: CampaignRecord, messages: pl.DataFrame) -> None:
        stored = self.sql(
            "select template, sender_id, send_later, message_type from ic_campaigns "
            "where campaign = ?",
            [record.campaign],
        ).row(0, named=True)
        changes = [
            f"{key}: {stored[key]!r} -> {new!r}"
            for key, new in (
                ("sender_id", record.sender_id),
                ("send_later", record.send_later),
                ("message_type", record.message_type),
            )
            if stored[key] != new
        ]
        differ = " or ".join(f"o.{c} is distinct from n.{c}" for c in _COMPARED)
        with _registered(self._con, "ic_new_plan", messages.select("row", *_COMPARED)):
            diff = self.sql(
                f"""
                select coalesce(o.row, n.row) as row,
                       case when o.row is null then 'added' when n.row is null then 'removed'
                            else 'changed' end as change,
                       o.dstno as old_dstno, n.dstno as new_dstno,
                       o.msg as old_msg, n.msg as new_msg
                from (select * from ic_messages where campaign = ?) o
                full join ic_new_plan n on o.row = n.row
                where o.row is null or n.row is null or {differ}
                order by row
                """,
                [record.campaign],
            )
        if not changes and diff.is_empty():
            return
        counts = diff.group_by("change").len().sort("change").rows()
        lines = [f"  {key}" for key in changes]
        lines += [f"  {n:,} rows {change}" for change, n in counts]
        for r in diff.head(3).iter_rows(named=True):
            lines.append(
                f"  row {r['row']}: {r['old_dstno']} {r['old_msg']!r} -> "
                f"{r['new_dstno']} {r['new_msg']!r}"
            )
        raise PlanError(
            f"Campaign {record.campaign!r} is already in the store with a different plan:\n"
            + "\n".join(lines)
            + "\nSending it would mix two plans. Give the new plan a new campaign name."
        )

    def _chunks_in(self, campaign: str, states: Sequence[str]) -> pl.DataFrame:
        """Chunks of ``campaign`` in one of ``states`` (a chunk never sent is planned)."""
        return self.sql(
            """
            select c.chunk, c.type, c.sendid, c.sendlater, c.numbers, c.messages,
                   c.credits_estimated, coalesce(s.state, 'planned') as state
            from ic_chunks c
            left join ic_chunk_state s on s.campaign = c.campaign and s.chunk = c.chunk
            where c.campaign = ? and list_contains(?, coalesce(s.state, 'planned'))
            order by c.chunk
            """,
            [campaign, list(states)],
        )

    def _chunk_messages(self, campaign: str, chunks: Sequence[int]) -> pl.DataFrame:
        """The rows to send for ``chunks``, in chunk then row order."""
        return self.sql(
            """
            select chunk, row, dstno, msg from ic_messages
            where campaign = ? and list_contains(?, chunk)
            order by chunk, row
            """,
            [campaign, list(chunks)],
        )

    def _append_sends(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append chunk state changes, all in one transaction.

        Each row is a chunk's new state. Its ``attempts`` (a list of dicts)
        and ``results`` (a dict of equal-length lists: row, dstno, code,
        status, sms_id), when given, become rows of their own pointing at it.
        """
        if not rows:
            return
        with self._seq.lock:  # one writer per file; its threads take turns here
            self._append_sends_locked(rows)

    def _append_sends_locked(self, rows: Sequence[dict[str, Any]]) -> None:
        if self._seq.next is None:
            self._seq.next = int(
                _scalar(self._con, "select coalesce(max(seq), 0) + 1 from ic_sends")
            )
        seq, now = self._seq.next, _now()
        columns: dict[str, list[Any]] = {name: [] for name in SENDS_SCHEMA.names}

        def extend(n: int, values: dict[str, Any]) -> None:
            """n rows: a list in ``values`` gives each row's value, anything else all rows'."""
            for name, column in columns.items():
                value = values.get(name)
                column.extend(value if isinstance(value, list) else [value] * n)

        for row in rows:
            request = seq
            head = {k: v for k, v in row.items() if k not in ("attempts", "results")}
            extend(1, {**head, "seq": seq, "kind": "state", "recorded_at": now})
            seq += 1
            common = {"request": request, "campaign": row["campaign"], "chunk": row["chunk"]}
            for attempt in row.get("attempts") or ():
                extend(1, {**attempt, **common, "seq": seq, "kind": "attempt", "recorded_at": now})
                seq += 1
            if results := row.get("results"):
                n = len(results["row"])
                numbered = {"seq": list(range(seq, seq + n)), "kind": "result", "recorded_at": now}
                extend(n, {**results, **common, **numbered})
                seq += n
        # The hot path of a send: DuckDB reads this local by its name (a
        # replacement scan), a millisecond cheaper per commit than register().
        ic_incoming_sends = pa.Table.from_pydict(columns, schema=SENDS_SCHEMA)  # noqa: F841
        con = self._con
        try:
            con.begin()
            con.execute("insert into ic_sends select * from ic_incoming_sends")
            con.commit()
            self._seq.next = seq
        except duckdb.Error as exc:
            _rollback(con)
            raise StoreError(f"Could not record the send: {exc}") from None

    def _state_counts(self, campaign: str) -> dict[str, int]:
        rows = self._con.execute(
            "select state, count(*) from messages where campaign = ? group by state", [campaign]
        ).fetchall()
        return {str(state): int(n) for state, n in rows}

    def _test_count(self, campaign: str) -> int:
        return int(
            _scalar(
                self._con,
                "select count(*) from ic_campaigns where parent = ? and kind = 'test'",
                [campaign],
            )
        )


def _connect(path: str) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(path)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" not in text.lower():
            raise StoreError(f"Cannot open the store {path}: {_first_line(exc)}") from None
        pid = re.search(r"PID (\d+)", text)
        holder = f" (process {pid.group(1)})" if pid else ""
        raise StoreError(
            f"The store {path} is in use by another process{holder}: DuckDB lets one process "
            f"write a file at a time. Close it there (store.close(), or let that send finish), "
            f"or use another file."
        ) from None
    except duckdb.Error as exc:
        raise StoreError(f"Cannot open the store {path}: {_first_line(exc)}") from None


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, data: Any) -> Iterator[None]:
    """``data`` (a polars frame or Arrow table) as the view ``name`` for a statement."""
    con.register(name, data)
    try:
        yield
    finally:
        con.unregister(name)


def _scalar(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> Any:
    """The first value of a query; fetchall() so no result stays open (DuckDB 2 streams)."""
    rows = con.execute(query, params).fetchall()
    return rows[0][0] if rows else None


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with suppress(duckdb.Error):  # no transaction was open
        con.rollback()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _now() -> datetime:
    return datetime.now(UTC)

"""``Store``: every plan, request, result and delivery report, in DuckDB.

>>> store = Store(":memory:")
>>> store.sql("select count(*) as n from messages")["n"].item()
0

What users query are views with stable names and columns, documented in
the README: ``campaigns``, ``messages``, ``batches``, ``dlr_events``,
``plans`` and ``suppressions`` (the do-not-contact list, owned by
:mod:`.optouts`). The tables behind them (``ic_*``) are ours
and may change between versions; the schema is upgraded in place when an
older file is opened.

The plan, its chunks and the send log belong to :mod:`.outbox`, which
writes them (the log append-only, so the history of every request stays in
the file); each message's current state, kept so reads need not re-derive
it from the logs, belongs to :mod:`.state`; this module creates the schema,
reads it in the views, and imports delivery reports. Every query is
parameterised. Passwords never reach the store: nothing the gateway client
holds is written.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import polars as pl

from . import optouts
from ._sql import first_line, registered, retrying, rollback, scalar
from .analytics import DEFAULT_TIME_ZONE, check_time_zone
from .errors import SendError, StoreError
from .outbox import Holder, Outbox, database_opened
from .state import (
    ARRIVALS,
    DLR_CLASS,
    DLR_STATE_LINKED,
    EVERY_LINK,
    LINKS,
    MESSAGE_STATE,
    NOT_CURRENT,
    RESULTS,
    STATE_COLUMNS,
    TALLY,
    has_implausible_events,
    keep_dlr,
    keep_tallies,
    rebuild,
    writing,
)

if TYPE_CHECKING:
    from .campaign import Campaign
    from .dlr import ImportReport

T = TypeVar("T")

# A/B variants are counted and the price per credit is kept with each plan.
# Before, a campaign planned with template_column kept each row's template in
# ``variant``: that text moves to a column of its own, so ``variant`` holds
# only labels (one text per row would make a tally group per message).
VARIANTS_AND_PRICE = """
    alter table ic_tally add column variant varchar;
    alter table ic_campaigns add column price_per_credit double;
    alter table ic_plans add column price_per_credit double;
    alter table ic_messages add column row_template varchar;
    update ic_messages set row_template = variant, variant = null where variant is not null;
"""

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
    """
    -- Plan versions: a campaign re-planned after something left keeps its
    -- history. Chunk numbers stay unique within a campaign across versions.
    alter table ic_messages add column version integer default 1;
    alter table ic_chunks add column version integer default 1;
    alter table ic_campaigns add column version integer default 1;
    create table ic_plans (
        campaign varchar not null,
        version integer not null,
        created_at timestamptz not null,
        template varchar,
        sender_id varchar,
        send_later varchar,
        message_type tinyint,
        region varchar,
        smart_ascii boolean,
        rows bigint not null,
        sendable bigint not null,
        credits_estimated bigint not null,
        action varchar not null           -- new, replaced, amended, re-estimated
    );
    insert into ic_plans
        select campaign, 1, created_at, template, sender_id, send_later, message_type, region,
               smart_ascii, rows, sendable, credits_estimated, 'new'
        from ic_campaigns;
    -- Who is sending a campaign now (one sender per campaign).
    create table ic_leases (
        campaign varchar not null,
        pid integer not null,
        thread varchar not null,
        host varchar not null,
        since timestamptz not null,
        doing varchar not null            -- send, cancel, resolve
    );
    -- This database's identity: Store objects on the same database share it.
    create table ic_store (id varchar not null, views varchar);
    insert into ic_store values (uuid()::varchar, null);
    """,
    f"""
    -- Each trx_id's current delivery status, kept by every import (for the
    -- trx_ids it brings) so reads need not rank every event ever imported.
    -- The message a status belongs to is kept with it when known (a report
    -- can come before its result: reconciliation finds those by trx_id).
    create table ic_dlr_state (
        trx_id varchar not null,
        dn_status varchar not null,
        dlr_class varchar not null,
        event_at timestamptz,
        campaign varchar,
        chunk integer,
        row uinteger
    );
    insert into ic_dlr_state select trx_id, dn_status, dlr_class, event_at, campaign, chunk, row
        from ({DLR_STATE_LINKED.format(events="ic_dlr_events", links=EVERY_LINK)});
    """,
    """
    -- Each message's current state, kept in its row (see state.py), and the
    -- number each kept report's message was sent to.
    alter table ic_dlr_state add column dstno varchar;
    alter table ic_messages add column code integer;
    alter table ic_messages add column status varchar;
    alter table ic_messages add column sms_id varchar;
    alter table ic_messages add column submitted_at timestamptz;
    alter table ic_messages add column sent_state varchar;
    alter table ic_messages add column dlr_status varchar;
    alter table ic_messages add column dlr_class varchar;
    alter table ic_messages add column dlr_at timestamptz;
    -- Every campaign starts not current: the store brings each up to date
    -- when it is opened (Store._bring_current), one campaign at a time.
    alter table ic_campaigns add column state_current boolean default false;
    """,
    """
    -- Each current campaign's messages counted by every dimension the analytics
    -- group by, and its reports by second (state.py: TALLY, ARRIVALS); filled
    -- for the stores upgraded once the views exist (Store._migrate).
    create table ic_tally (
        campaign varchar not null,
        operator varchar,
        country varchar,
        type tinyint,
        parts integer,
        slice bigint,                      -- quarter hour of submission (UTC)
        state varchar,
        code integer,
        dlr_status varchar,
        dlr_class varchar,
        seconds bigint,                    -- to the final report
        messages bigint not null,
        credits bigint not null
    );
    create table ic_arrivals (
        campaign varchar not null,
        reported timestamptz,
        dlr_class varchar not null,
        messages bigint not null
    );
    """,
    """
    -- A text file read by an import is known by its resolved path, its device
    -- and inode and the hash of its first bytes, so a file replaced, truncated
    -- or rewritten at the same path is read again from the start.
    alter table ic_dlr_offsets add column device bigint;
    alter table ic_dlr_offsets add column inode bigint;
    alter table ic_dlr_offsets add column head varchar;
    alter table ic_dlr_offsets add column head_bytes bigint;
    """,
    optouts.TABLES,
    """
    -- What plans a campaign's recipients again (store.follow_up, store.export):
    -- each message's contact columns as a JSON object, and per plan version
    -- their DuckDB type (a STRUCT) and the Campaign keywords, as JSON.
    alter table ic_messages add column contact varchar;
    alter table ic_plans add column contact_type varchar;
    alter table ic_plans add column settings varchar;
    """,
    VARIANTS_AND_PRICE,
)

# Views are not data: they are replaced on every open, so they always match
# this version of the code.
VIEWS = """
create or replace view ic_chunk_state as
    select campaign, chunk, arg_max(state, seq) as state, max(recorded_at) as updated_at
    from ic_sends where kind = 'state' group by campaign, chunk;

create or replace view ic_latest_result as
    select campaign, chunk, row, arg_max(code, seq) as code, arg_max(status, seq) as status,
           arg_max(sms_id, seq) as sms_id, arg_max(recorded_at, seq) as recorded_at
    from ic_sends where kind = 'result'
    group by campaign, chunk, row;

create or replace macro ic_dlr_class(status) as {dlr_class};

create or replace view ic_dlr_current as
    select trx_id, dn_status, dlr_class, event_at from ic_dlr_state;

-- Each message with its current state: from its own columns for the
-- campaigns whose state is current (state.py), derived from the logs for a
-- campaign being written now or whose send died.
create or replace view ic_message_now as
    select m.* from ic_messages m join ic_campaigns c on c.campaign = m.campaign
    where c.state_current
    union all by name
    select m.* exclude ({state_columns}), x.* exclude (campaign, chunk, row)
    from ic_messages m join ic_campaigns c on c.campaign = m.campaign
    left join ({message_state}) x
      on x.campaign = m.campaign and x.chunk = m.chunk and x.row = m.row
    where c.state_current is not true;

create or replace view messages as
    -- Every row of the campaign's current plan version, and the rows of older
    -- versions that left (so each recipient shows once: a number sent under
    -- an older version is skipped as already sent in the newer one).
    select m.campaign, m.row, m.dstno, m.msg, m.type, m.parts, m.credits, m.operator,
           m.country, m.problem, m.warning, m.chunk, m.version, m.variant,
           case when m.problem = 'cancelled' then 'cancelled'
                when m.problem is not null then 'skipped'
                when m.code = 2000 then 'submitted'
                when m.code is not null then 'failed'
                when m.sent_state in ('in_flight', 'unknown', 'settled') then 'unknown'
                when m.sent_state = 'cancelled' then 'cancelled'
                else 'planned' end as state,
           m.code, m.status, m.sms_id, m.submitted_at, m.dlr_status, m.dlr_class, m.dlr_at
    from ic_message_now m
    join ic_campaigns c on c.campaign = m.campaign
    where (m.version = c.version
           and m.problem is distinct from 'already sent in this campaign'
           and m.problem is distinct from 'failed in this campaign')
       or (m.version < c.version
           and (m.code is not null
                or m.sent_state in ('in_flight', 'unknown', 'settled', 'resend', 'cancelled')));

-- The tallies of every campaign: kept for the current ones, counted from
-- their messages for the others.
create or replace view ic_tally_now as
    select t.* from ic_tally t join ic_campaigns c on c.campaign = t.campaign
    where c.state_current
    union all by name
    {tally_not_current};

create or replace view ic_arrivals_now as
    select t.* from ic_arrivals t join ic_campaigns c on c.campaign = t.campaign
    where c.state_current
    union all by name
    {arrivals_not_current};

-- The campaign and number of a report come from the kept status of its
-- trx_id, which names its message once a result does.
create or replace view dlr_events as
    select e.msisdn, e.trx_id, e.dn_status,
           ic_dlr_class(e.dn_status) as dlr_class,
           e.event_at, e.imported_at, e.source, e.line, s.campaign, s.row,
           case when s.dstno is not null and e.msisdn is not null
                then s.dstno = e.msisdn end as msisdn_matches
    from ic_dlr_events e
    left join ic_dlr_state s on s.trx_id = e.trx_id;

create or replace view plans as
    select campaign, version, created_at, action, template, sender_id, send_later, rows,
           sendable, credits_estimated, price_per_credit
    from ic_plans;

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
           coalesce(n.planned, 0) as planned, coalesce(n.submitted, 0) as submitted,
           coalesce(n.failed, 0) as failed, coalesce(n.unknown, 0) as unknown,
           coalesce(n.skipped, 0) as skipped, coalesce(n.cancelled, 0) as cancelled,
           c.version, b.credits_charged, c.price_per_credit
    from ic_campaigns c
    -- Counted per campaign first: a join carries 100 rows, not 10 million.
    left join (
        select campaign,
               count(*) filter (where state = 'planned') as planned,
               count(*) filter (where state = 'submitted') as submitted,
               count(*) filter (where state = 'failed') as failed,
               count(*) filter (where state = 'unknown') as unknown,
               count(*) filter (where state = 'skipped') as skipped,
               count(*) filter (where state = 'cancelled') as cancelled
        from messages group by campaign
    ) n on n.campaign = c.campaign
    left join (
        select campaign, sum(credits_charged)::bigint as credits_charged
        from ic_sends where kind = 'state' group by campaign
    ) b on b.campaign = c.campaign;
"""

# Opening a database sets up its schema and views: one opening at a time in
# this process, so two threads opening one file never race on its catalog.
_OPENING = threading.Lock()
VIEWS = (
    (VIEWS + optouts.VIEW)
    .replace("{dlr_class}", DLR_CLASS.format("status"))
    .replace("{state_columns}", ", ".join(STATE_COLUMNS))
    .replace("{message_state}", MESSAGE_STATE.format(where=NOT_CURRENT))
    .replace(
        "{tally_not_current}", TALLY.format(source=f"select * from messages where {NOT_CURRENT}")
    )
    .replace(
        "{arrivals_not_current}",
        ARRIVALS.format(source=f"select * from messages where {NOT_CURRENT}"),
    )
)
VIEWS_KEY = hashlib.sha256(VIEWS.encode()).hexdigest()[:16]


class Store:
    """The campaign store: a DuckDB file, ``":memory:"``, or your own connection.

    ``store.sql(query, params)`` returns a polars frame. One process at a time
    may write a file (DuckDB's own lock); a second one gets a
    :class:`StoreError` saying the store is in use. A store may be used from
    several threads at once (a send in one, queries in another): each thread
    gets a DuckDB cursor of its own.
    """

    def __init__(self, path: str | Path | duckdb.DuckDBPyConnection = ":memory:") -> None:
        if isinstance(path, duckdb.DuckDBPyConnection):
            self.path = "<connection>"
            self._start(path, owned=False)
        else:
            self.path = str(path)
            self._start(_connect(self.path), owned=True)
        with _OPENING:
            self._db_id = self._migrate()
        # Another process may have written the file since this one last had it.
        database_opened(self._db_id)
        self._bring_current()

    def _start(self, con: duckdb.DuckDBPyConnection, *, owned: bool) -> None:
        self._root, self._owned = con, owned
        self._thread = threading.get_ident()  # the thread that uses _root itself
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()

    @property
    def _con(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection: DuckDB refuses one connection used by two threads."""
        if threading.get_ident() == self._thread:
            return self._root
        con: duckdb.DuckDBPyConnection | None = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._root.cursor()
            with self._cursors_lock:
                self._cursors.append(con)
        return con

    def cursor(self) -> Store:
        """The same database through a connection of its own (``with store.cursor() as c:``)."""
        twin = Store.__new__(Store)
        twin.path, twin._db_id = self.path, self._db_id
        twin._start(self._con.cursor(), owned=True)
        return twin

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """This thread's DuckDB connection (for your own queries; the ``ic_*`` tables are ours)."""
        return self._con

    # -- opening -----------------------------------------------------------------

    def _migrate(self) -> str:
        """Bring the schema up to date; returns the database's identity in this process."""
        con = self._con
        try:
            con.execute(
                "create table if not exists ic_schema_version "
                "(version integer not null, applied_at timestamptz not null)"
            )
            version = int(scalar(con, "select coalesce(max(version), 0) from ic_schema_version"))
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
            db_id, views = con.execute("select id, views from ic_store").fetchall()[0]
            if views != VIEWS_KEY:  # views are replaced only when this code's differ
                con.begin()
                con.execute(VIEWS)
                con.execute("update ic_store set views = ?", [VIEWS_KEY])
                con.commit()
            if 0 < version < 6:  # the tallies of a store from before schema 6 (it has views)
                con.begin()
                keep_tallies(con)
                con.commit()
            # A copied file carries its id: the file's own path tells the copies apart.
            (where,) = con.execute(
                "select path from duckdb_databases() where database_name = current_database()"
            ).fetchall()[0]
            identity = f"{db_id}@{os.path.realpath(where)}" if where else str(db_id)
            if 0 < version < 7 and has_implausible_events(con):  # imported before schema 7
                with writing(identity):
                    con.begin()
                    rebuild(con)
                    con.commit()
            return identity
        except duckdb.Error as exc:
            rollback(con)
            raise StoreError(
                f"Cannot set up the store {self.path}: {first_line(exc)}. If this database "
                f"already has tables named campaigns, messages or batches, use another file."
            ) from None

    def _bring_current(self) -> None:
        """Bring up to date the campaigns whose kept state is behind their log: all of
        them once after the upgrade to schema 5, else a campaign whose send died.

        Each under its lease (whose release does it), so a campaign being sent
        now is left to its sender. One campaign at a time keeps memory small:
        about 0.1 s per 100,000 messages.
        """
        behind = self._con.execute(
            "select campaign from ic_campaigns where state_current is not true order by created_at"
        ).fetchall()
        for (campaign,) in behind:
            with suppress(SendError, StoreError), self.outbox(campaign).lease("update"):
                pass

    @property
    def schema_version(self) -> int:
        return int(scalar(self._con, "select coalesce(max(version), 0) from ic_schema_version"))

    def close(self) -> None:
        """Close the file (only a connection the store opened itself)."""
        with self._cursors_lock:
            cursors, self._cursors = self._cursors, []
        for con in cursors:
            with suppress(duckdb.Error):
                con.close()
        if self._owned:
            self._root.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        try:
            count = f"{scalar(self._con, 'select count(*) from ic_campaigns')} campaigns"
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

    def data_version(self) -> tuple[int, ...]:
        """A value that changes whenever a plan, a send or a delivery report is written
        (what a cache of figures over this store is keyed by)."""
        row = self._con.execute(
            "select (select coalesce(max(seq), 0) from ic_sends), "
            "(select count(*) from ic_dlr_events), (select count(*) from ic_plans)"
        ).fetchall()[0]
        return tuple(int(v) for v in row)

    def campaigns(self) -> pl.DataFrame:
        """Every campaign with its messages counted by state."""
        return self.sql("select * from campaigns order by created_at")

    def rebuild(self) -> None:
        """Recompute the current state from the append-only logs, which are the truth.

        Sends and imports keep it up to date as they go (see :mod:`.state`);
        this recomputes all of it in one transaction: each trx_id's delivery
        status and each message's state.
        """
        con = self._con

        def recompute() -> None:
            con.begin()
            rebuild(con)
            con.commit()

        try:
            with writing(self._db_id):
                retrying(con, recompute)
        except duckdb.Error as exc:
            rollback(con)
            raise StoreError(
                f"Could not rebuild the store {self.path}: {first_line(exc)}"
            ) from None

    def outbox(self, campaign: str) -> Outbox:
        """The send log of ``campaign`` (what the sender uses; see :mod:`.outbox`)."""
        return Outbox(self._con, self._db_id, campaign)

    def sending(self, campaign: str) -> Holder | None:
        """Who is sending ``campaign`` right now (this or another thread or process), or None."""
        return self.outbox(campaign).holder()

    def resolve_unknown(self, campaign: str, *, resend: bool, use_dlr: bool = True) -> pl.DataFrame:
        """Settle the chunks of ``campaign`` whose requests may or may not have gone out.

        First the evidence (``use_dlr=True``): a delivery report for a
        recipient of such a chunk, not matching any known sms_id, dated from
        the request on, and with no other possibly-sent request to that
        number (in any campaign) that could have caused it, shows the request
        reached the gateway. That message becomes ``submitted`` with the
        report's trx_id as its sms_id, and its chunk is settled as sent:
        never sent again, whatever ``resend`` says. Reports that more than
        one request could explain are counted as ``ambiguous`` and settle
        nothing.

        The chunks without evidence: ``resend=True`` makes the next ``send``
        send them again (it looks for evidence once more right before), a
        recipient may get the message twice; ``resend=False`` settles them as
        possibly sent, never sent again.

        Returns one row per chunk: chunk, messages, with_dlr (messages
        matched now), ambiguous, first_dlr_at, settled_as (``sent (DLR
        evidence)``, ``resend`` or ``settled``).
        """
        box = self.outbox(campaign)
        with box.lease("resolve"):
            self._require(box)
            return box.resolve(resend=resend, use_dlr=use_dlr)

    def unknown_evidence(self, campaign: str) -> pl.DataFrame:
        """What the delivery reports say about ``campaign``'s unknown requests, per chunk.

        One row per chunk still in doubt (or with new evidence): chunk,
        messages, with_dlr, ambiguous, first_dlr_at. Reads only.
        """
        box = self.outbox(campaign)
        self._require(box)
        return box.in_doubt()[0]

    def cancel(self, campaign: str) -> pl.DataFrame:
        """Cancel what ``campaign`` has still to send: those chunks are never sent.

        Refused while the campaign is being sent (stop that send first).
        Returns the cancelled chunks: chunk, messages, credits_estimated.
        """
        box = self.outbox(campaign)
        with box.lease("cancel"):  # first: a send that just started may not have saved yet
            self._require(box)
            return box.cancel()

    def _require(self, box: Outbox) -> None:
        campaign = box.campaign
        if not box.exists():
            known = self.sql("select campaign from ic_campaigns order by created_at")["campaign"]
            # Case first (NOV for nov), then spelling.
            same = [k for k in known if k.casefold() == campaign.casefold()]
            close = same or difflib.get_close_matches(campaign, known.to_list(), n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise StoreError(
                f"No campaign {campaign!r} in the store {self.path}.{hint} It has: "
                f"{', '.join(known) or 'none yet'}."
            )

    # -- follow-ups and exports (see :mod:`.followup`) ---------------------------------

    def follow_up(
        self, campaign: str, name: str, where: str, template: str | None = None
    ) -> Campaign:
        """A new campaign ``name`` to the recipients of ``campaign`` that ``where`` selects,
        planned as ``campaign`` was and linked to it (``parent`` in the ``campaigns`` view).

        ``where``: ``"undelivered"`` (submitted, delivery report UNDELIVERED),
        ``"failed"`` (refused by the gateway, e.g. -1008), ``"no_dlr"`` (submitted, no
        report imported yet), or an SQL condition on the ``messages`` view and the
        contact columns the plan kept. The recipients keep their contact rows (those
        columns); the plan keeps the first's template (or ``template=``), sender ID,
        prefix, brand, purpose, window, compliance and billing. Not ``send_later``: it
        goes out when sent (``camp.rescheduled(…)`` to schedule it). Sending it works
        as for any campaign: the do-not-contact list, the repeat guard (which does not
        count ``campaign``'s own messages: re-messaging them is the point) and a resume
        under the same name, which sends nobody twice.

        Raises :class:`StoreError` for an unknown campaign, a ``where`` that is not a
        condition or selects nobody (a follow-up of nobody is not made), or a campaign
        planned by an older isms_campaigns that kept no contact columns.
        """
        from .followup import follow_up

        self._require(self.outbox(campaign))
        return follow_up(self, campaign, name, where, template)

    def export(self, campaign: str, path: str | Path) -> Path:
        """Write one row per message of ``campaign`` to ``path``: its kept contact
        columns, then the ``messages`` view's (state, code, delivery status, times).

        The extension chooses the format: ``.csv``, ``.parquet`` or ``.xlsx``. Times are
        Malaysian: with their offset in CSV, instants in Parquet, wall-clock in Excel. The
        file appears only once complete. Returns the path.
        """
        from .followup import export

        self._require(self.outbox(campaign))
        return export(self, campaign, path)

    def import_dlr(self, source: Any, *, time_zone: str = DEFAULT_TIME_ZONE) -> ImportReport:
        """Import delivery reports: logs, callback URLs, CSV/TSV/Parquet/JSONL, a frame,
        a folder or a glob (see :mod:`isms_campaigns.dlr`).

        Idempotent: events already in the store are not added again, and a text
        file read before is read only from where the last import stopped (from
        the start if it was replaced, truncated or rewritten since). Times
        without an offset are taken to be in ``time_zone`` (by default the
        gateway's, Malaysian time).
        """
        from .dlr import ImportReport, Taken, describe_source, read_sources

        check_time_zone(time_zone)  # a clear error before anything is read
        started = time.perf_counter()
        try:
            read_before = self._con.execute(
                "select source, bytes, lines, device, inode, head, head_bytes from ic_dlr_offsets "
                "where device is not null"  # older rows: by the path as typed, read again
            ).fetchall()
        except duckdb.Error as exc:
            raise StoreError(
                f"Cannot import into the store {self.path}: {first_line(exc)}"
            ) from None
        offsets = {str(row[0]): Taken(*row) for row in read_before}
        parsed = read_sources(source, offsets=offsets, time_zone=time_zone)
        con, now = self._con, _now()
        taken = pl.DataFrame(
            [vars(t) for t in parsed.offsets],
            schema={
                "source": pl.String,
                "bytes": pl.Int64,
                "lines": pl.Int64,
                "device": pl.Int64,
                "inode": pl.Int64,
                "head": pl.String,
                "head_bytes": pl.Int64,
            },
        ).with_columns(imported_at=pl.lit(now))
        try:
            with writing(self._db_id):
                new, distinct, unmatched, mismatch, by_status = retrying(
                    con, lambda: self._write_import(parsed.events, taken, now)
                )
        except duckdb.Error as exc:
            raise StoreError(f"Could not import the delivery reports: {exc}") from None
        bad = parsed.malformed
        read = parsed.events.height
        return ImportReport(
            source=describe_source(source),
            read=read,
            new=int(new),
            duplicate=read - int(new),
            already_stored=int(distinct) - int(new),
            repeated=read - int(distinct),
            held_back=parsed.held_back,
            restarted=parsed.restarted,
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

    # -- the do-not-contact list (see :mod:`.optouts`) ------------------------------

    def suppress(
        self,
        numbers: Any,
        reason: str = "opt-out",
        *,
        source: str | None = None,
        at: date | datetime | str | None = None,
        region: str = "MY",
    ) -> pl.DataFrame:
        """Put ``numbers`` on the do-not-contact list: every send through this store
        skips them (row problem ``do-not-contact: <reason> since <date>``).

        ``numbers`` in any spelling: a list, Series, frame or file (an entry
        without a readable number is an error naming it, and nothing is
        recorded). ``at`` is when the opt-out happened (default now; naive
        times are Malaysian). A number already listed stays listed as it was.
        Returns each number (dstno digits) with ``listed_before`` and ``listed``.

        >>> store = Store()
        >>> store.suppress(["012-345 6789"], source="call centre").rows()
        [('60123456789', False, True)]
        >>> store.sql("select number, reason, source from suppressions").rows()
        [('60123456789', 'opt-out', 'call centre')]
        """
        found, when = optouts.digits(numbers, region), optouts.as_time(at)
        return self._optouts(
            lambda: optouts.change(self._con, found, "suppress", reason, source, when)
        )

    def unsuppress(
        self,
        numbers: Any,
        reason: str,
        *,
        source: str | None = None,
        at: date | datetime | str | None = None,
        region: str = "MY",
    ) -> pl.DataFrame:
        """Take ``numbers`` off the do-not-contact list, saying why (the change is kept
        with the earlier ones). A listing later than ``at`` stays. Returns each number
        with ``listed_before`` and ``listed``."""
        found, when = optouts.digits(numbers, region), optouts.as_time(at)
        return self._optouts(
            lambda: optouts.change(self._con, found, "unsuppress", reason, source, when)
        )

    def import_opt_outs(
        self, source: Any, *, region: str = "MY", time_zone: str = DEFAULT_TIME_ZONE
    ) -> optouts.OptOutReport:
        """Suppress the opt-outs of a number list or a reply export.

        A number list (any spelling, a file, frame or list) is suppressed
        whole; an entry without a readable number is an error and nothing is
        recorded. A reply export (a frame or file with a number column, e.g.
        ``mobile``/``msisdn``/``from``, and a text column, e.g.
        ``message``/``text``/``reply``): a reply holding STOP, BATAL, HENTI or
        UNSUBSCRIBE as a word (any case, other words around it) suppresses its
        number from the reply's time (a ``time``/``received_at``/``date``
        column, naive times in ``time_zone``), or from now without one. START
        takes a number off only when its time is later than the opt-out: a
        START without a time changes nothing. Importing again adds nothing.
        Returns an :class:`~isms_campaigns.optouts.OptOutReport` that counts
        every line (unreadable ones located).
        """
        check_time_zone(time_zone)
        return self._optouts(
            lambda: optouts.import_opt_outs(self._con, source, region=region, time_zone=time_zone)
        )

    def suggest_suppressions(self, min_campaigns: int = 2) -> pl.DataFrame:
        """Numbers worth listing: not listed, and UNDELIVERED (by delivery report) or
        refused with -1008 in at least ``min_campaigns`` campaigns (test sends aside).

        For you to confirm: ``store.suppress(s["number"], reason="undeliverable")``.
        Columns: number, campaigns, last_status, last_at.
        """
        if not isinstance(min_campaigns, int) or min_campaigns < 1:
            raise StoreError(f"min_campaigns must be a whole number ≥ 1, not {min_campaigns!r}.")
        return self._optouts(lambda: optouts.suggest(self._con, min_campaigns))

    def do_not_contact(self, dstno: pl.Series) -> pl.Series:
        """Each number's ``do-not-contact: …`` problem if it is listed now, else null."""
        return self._optouts(lambda: optouts.problems(self._con, dstno))

    def _optouts(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except duckdb.Error as exc:
            rollback(self._con)
            raise StoreError(
                f"The do-not-contact list of {self.path} cannot be used: {first_line(exc)}"
            ) from None

    def _write_import(
        self, events: pl.DataFrame, taken: pl.DataFrame, now: datetime
    ) -> tuple[int, int, int, int, pl.DataFrame]:
        """One import's transaction: the new events, the kept status of their trx_ids,
        the offsets read; returns new, distinct, unmatched, msisdn mismatches and counts by
        status."""
        con = self._con
        con.begin()
        with registered(con, "ic_incoming_dlr", events):
            # One row per distinct event, the first place it was seen.
            con.execute(
                """
                create or replace temp table ic_dlr_batch as
                select msisdn, trx_id, dn_status, event_at,
                       arg_min(source, line) as source, min(line) as line, count(*) as seen
                from ic_incoming_dlr group by msisdn, trx_id, dn_status, event_at
                """
            )
        con.execute(
            """
            create or replace temp table ic_dlr_new as
            select b.* from ic_dlr_batch b
            -- The stored events of the batch's trx_ids only: a hash table of the
            -- batch, not of every event ever imported.
            anti join (select * from ic_dlr_events
                       where trx_id in (select trx_id from ic_dlr_batch)) e
              on e.trx_id = b.trx_id and e.dn_status = b.dn_status
             and e.msisdn is not distinct from b.msisdn
             and e.event_at is not distinct from b.event_at
            """
        )
        (new,) = con.execute(
            "insert into ic_dlr_events select msisdn, trx_id, dn_status, event_at, ?, "
            "source, line from ic_dlr_new",
            [now],
        ).fetchall()[0]  # an INSERT answers with the rows it added
        # The current status of the trx_ids that got new events, and only those.
        # The messages this batch's trx_ids belong to, read once for the
        # kept status and the counts below.
        batch_results = RESULTS.format(results="and sms_id in (select trx_id from ic_dlr_batch)")
        con.execute(f"create or replace temp table ic_dlr_results as {batch_results}")
        batch_links = LINKS.format(results="select * from ic_dlr_results")
        con.execute(f"create or replace temp table ic_dlr_link as {batch_links}")
        keep_dlr(con, new="ic_dlr_new", results="ic_dlr_results", links="ic_dlr_link")
        con.execute("drop table ic_dlr_new")
        with registered(con, "ic_incoming_offsets", taken):
            con.execute(
                "delete from ic_dlr_offsets where source in "
                "(select source from ic_incoming_offsets)"
            )
            con.execute("insert into ic_dlr_offsets by name select * from ic_incoming_offsets")
        unmatched, mismatch = con.execute(
            """
            select coalesce(sum(b.seen) filter (where m.trx_id is null), 0),
                   coalesce(sum(b.seen) filter (where m.dstno <> b.msisdn), 0)
            from ic_dlr_batch b
            left join (select * from ic_dlr_link where code = 2000) m
              on m.trx_id = b.trx_id
            """
        ).fetchall()[0]
        by_status = con.sql(
            """
            select dn_status, ic_dlr_class(dn_status) as class, sum(seen)::uinteger as events
            from ic_dlr_batch group by all order by events desc, dn_status
            """
        ).pl()
        distinct = scalar(con, "select count(*) from ic_dlr_batch")
        con.execute("drop table ic_dlr_batch")
        con.execute("drop table ic_dlr_link")
        con.execute("drop table ic_dlr_results")
        con.commit()
        return int(new), int(distinct), int(unmatched), int(mismatch), by_status


def _connect(path: str) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(path)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" not in text.lower():
            raise StoreError(f"Cannot open the store {path}: {first_line(exc)}") from None
        pid = re.search(r"PID (\d+)", text)
        holder = f" (process {pid.group(1)})" if pid else ""
        raise StoreError(
            f"The store {path} is in use by another process{holder}: DuckDB lets one process "
            f"write a file at a time. Close it there (store.close(), or let that send finish), "
            f"or use another file."
        ) from None
    except duckdb.Error as exc:
        raise StoreError(f"Cannot open the store {path}: {first_line(exc)}") from None


def _now() -> datetime:
    return datetime.now(UTC)

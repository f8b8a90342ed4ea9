"""Current state: what the append-only logs say now, kept so reads need not re-derive it.

The logs are the truth: the send log ``ic_sends`` (written by :mod:`.outbox`)
and the delivery reports ``ic_dlr_events`` (written by the store's import).
Deriving each message's state from them means ranking every result and
every report ever written: seconds at ten million messages. This module owns
what is kept instead, and the SQL that keeps it:

- ``ic_dlr_state``: each trx_id's current delivery status, with the message
  it belongs to when a result names it. Every import updates it for the
  trx_ids it brings, in the import's transaction (:func:`keep_dlr`).
- the state columns of ``ic_messages`` (:data:`STATE_COLUMNS`): each
  message's latest result, its request's state and its delivery status.
  They are current for every campaign whose ``ic_campaigns.state_current``
  is true. Whoever writes a campaign's log (a send, a cancel, a resolve)
  first marks it not current, in the transaction that takes its lease, and
  brings it up to date once when letting go (:func:`keep_campaign`): a send
  pays nothing per request, and a send that dies leaves the campaign marked
  not current, which reads handle by deriving that campaign from its logs
  (``ic_message_now``). An import updates the delivery columns of the
  current campaigns' messages it touches, in its own transaction.
- the tallies ``ic_tally`` and ``ic_arrivals``: each current campaign's
  messages counted by every dimension the analytics group by (:data:`TALLY`)
  and its delivery reports by second (:data:`ARRIVALS`), recomputed for a
  campaign whenever its state columns are written. The summaries, the
  report and the Dashboard read these thousands of rows instead of scanning
  millions of messages.

:func:`rebuild` recomputes everything from the logs; a property test checks
that what is kept equals it after any history.
"""

from __future__ import annotations

import threading

import duckdb

from ._sql import retrying

# The class of a DLR word: DELIVERED, ACCEPTED and SENT all mean "the telco
# SMSC acknowledged it" (the spec's table writes "ACCEPTED / SENT", and so
# may a callback); that regex comes last, so only rare words pay for it.
DLR_CLASS = """
    case when {0} in ('DELIVERED', 'ACCEPTED', 'SENT') then 'delivered'
         when {0} = 'UNDELIVERED' then 'failed'
         when {0} = 'PENDING' then 'pending'
         when regexp_full_match({0}, '(ACCEPTED|SENT)( */ *(ACCEPTED|SENT))+') then 'delivered'
         else 'unknown' end"""

# A message's delivery status from its events: a final one never goes back to
# PENDING; among finals the latest wins; ties by status, so the order events
# arrive in never matters. ``{events}``: the events (trx_id, dn_status,
# event_at). The rule picks the greatest by one order, so the kept status
# and an import's new events give what all the events would.
DLR_STATE = f"""
    select trx_id, dn_status, {DLR_CLASS.format("dn_status")} as dlr_class, event_at from (
        select trx_id, dn_status, event_at,
               row_number() over (
                   partition by trx_id
                   order by (dn_status <> 'PENDING') desc, event_at desc nulls last,
                            dn_status desc
               ) as pick
        from {{events}}
    ) where pick = 1"""

# Every result naming an sms_id (``{results}`` narrows them).
RESULTS = """
    select sms_id as trx_id, campaign, chunk, row, dstno, code, seq
    from ic_sends where kind = 'result' and sms_id is not null {results}"""

# The events that may decide a status: a time before 2000 or more than a day
# after its import is a placeholder or a broken clock (an import refuses them
# since schema 7; a store written before may hold some).
PLAUSIBLE = """event_at is null
    or (event_at >= timestamptz '2000-01-01' and event_at <= imported_at + interval 1 day)"""
PLAUSIBLE_EVENTS = f"(select * from ic_dlr_events where {PLAUSIBLE})"

# The message a trx_id belongs to in dlr_events: the latest result naming it
# (``{results}``: RESULTS rows).
LINKS = """
    select trx_id, arg_max(campaign, seq) as campaign, arg_max(chunk, seq) as chunk,
           arg_max(row, seq) as row, arg_max(dstno, seq) as dstno, arg_max(code, seq) as code
    from ({results}) group by trx_id"""
RESULT_LINKS = LINKS.format(results=RESULTS)  # still takes {results}

# The status with the message each trx_id belongs to (when a result names it),
# so that a report's campaign and number are known without ranking results.
DLR_STATE_LINKED = f"""
    select s.trx_id, s.dn_status, s.dlr_class, s.event_at, l.campaign, l.chunk, l.row, l.dstno
    from ({DLR_STATE}) s left join ({{links}}) l on l.trx_id = s.trx_id"""
EVERY_LINK = RESULT_LINKS.format(results="")

# The state columns of ic_messages, in the order MESSAGE_STATE gives them.
STATE_COLUMNS: tuple[str, ...] = (
    "code",
    "status",
    "sms_id",
    "submitted_at",
    "sent_state",
    "dlr_status",
    "dlr_class",
    "dlr_at",
)

# Each sendable message's state from the logs: its latest result, the latest
# state of its chunk (request), and the kept delivery status of its sms_id.
# ``{where}`` is a condition on ``campaign`` choosing the campaigns.
MESSAGE_STATE = """
    select m.campaign, m.chunk, m.row, r.code, r.status, r.sms_id,
           case when r.code = 2000 then r.recorded_at end as submitted_at,
           s.state as sent_state, d.dn_status as dlr_status, d.dlr_class, d.event_at as dlr_at
    from (select campaign, chunk, row from ic_messages
          where chunk is not null and ({where})) m
    left join (
        select campaign, chunk, row, arg_max(code, seq) as code, arg_max(status, seq) as status,
               arg_max(sms_id, seq) as sms_id, arg_max(recorded_at, seq) as recorded_at
        from ic_sends where kind = 'result' and ({where}) group by campaign, chunk, row
    ) r on r.campaign = m.campaign and r.chunk = m.chunk and r.row = m.row
    left join (
        select campaign, chunk, arg_max(state, seq) as state
        from ic_sends where kind = 'state' and ({where}) group by campaign, chunk
    ) s on s.campaign = m.campaign and s.chunk = m.chunk
    left join ic_dlr_state d on d.trx_id = r.sms_id"""

NOT_CURRENT = "campaign in (select campaign from ic_campaigns where state_current is not true)"
CURRENT = "campaign in (select campaign from ic_campaigns where state_current)"

# The messages of ``{source}`` (rows of the ``messages`` view) counted by every
# dimension the analytics group by: the submission's quarter-hour UTC slice
# (every zone's offset is whole quarter hours, so local hours and dates follow
# from it) and the seconds from submission to the final report, to the second
# as reports are (a report a fraction of a second before its submission is
# clock resolution: 0). Delay quantiles come from these counts exactly.
TALLY = """
    select campaign, operator, country, type, parts, variant,
           epoch_us(submitted_at) // 900000000 as slice, state, code, dlr_status, dlr_class,
           case when state = 'submitted' and dlr_status <> 'PENDING' and dlr_at is not null
                then round(greatest(epoch(dlr_at) - epoch(submitted_at), 0))::bigint
           end as seconds,
           count(*) as messages, coalesce(sum(credits), 0)::bigint as credits
    from ({source}) group by all"""

# The submitted messages of ``{source}`` by the second of their current report.
ARRIVALS = """
    select campaign, date_trunc('second', dlr_at) as reported, dlr_class, count(*) as messages
    from ({source}) where state = 'submitted' and dlr_class is not null group by all"""


def _keep_tallies(campaign: str) -> tuple[str, ...]:
    """SQL recomputing the tallies of the chosen campaigns (``campaign``: a condition on
    the column ``campaign``) from their messages' kept state."""
    chosen = f"select * from messages where {campaign}"
    return (
        f"delete from ic_tally where {campaign}",
        f"insert into ic_tally by name {TALLY.format(source=chosen)}",
        f"delete from ic_arrivals where {campaign}",
        f"insert into ic_arrivals {ARRIVALS.format(source=chosen)}",
    )


def _keep_messages(campaign: str) -> tuple[str, ...]:
    """SQL writing the state columns of the chosen campaigns' messages (``campaign``: a
    condition on the column ``campaign``), only the rows whose state changed. The
    new state goes through a temp table: DuckDB updates from a table in a
    fraction of the time it takes from the join."""
    assignments = ", ".join(f"{c} = x.{c}" for c in STATE_COLUMNS)
    changed = " or ".join(f"m.{c} is distinct from x.{c}" for c in STATE_COLUMNS)
    return (
        f"create or replace temp table ic_state_new as {MESSAGE_STATE.format(where=campaign)}",
        f"""
        update ic_messages m set {assignments} from ic_state_new x
        where m.campaign = x.campaign and m.chunk = x.chunk and m.row = x.row
          and ({changed})""",
        "drop table ic_state_new",
    )


def _tie_reports(campaign: str) -> tuple[str, ...]:
    """SQL tying kept reports to the chosen campaigns' messages that now name them
    (a rebuild ties every report as it inserts it, so it needs none of this)."""
    elsewhere = f"""
        select d.trx_id from ic_dlr_state d
        join (select * from ic_messages where {campaign}) x on x.sms_id = d.trx_id
        where d.campaign <> x.campaign or d.chunk <> x.chunk or d.row <> x.row"""
    return (
        # Reports kept before their result: tied to the message now naming them.
        f"""
        update ic_dlr_state d set campaign = x.campaign, chunk = x.chunk, row = x.row,
                                  dstno = x.dstno
        from (select campaign, chunk, row, dstno, sms_id from ic_messages
              where sms_id is not null and ({campaign})) x
        where d.trx_id = x.sms_id
          and (d.campaign is null  -- or tied by an older version, without its number
               or (d.dstno is null and d.campaign = x.campaign and d.chunk = x.chunk
                   and d.row = x.row))""",
        # A trx_id tied to another message too (the gateway gave one id twice, as
        # a reset sandbox does): the latest result naming it wins, as in a rebuild.
        f"""
        update ic_dlr_state d set campaign = l.campaign, chunk = l.chunk, row = l.row,
                                  dstno = l.dstno
        from ({RESULT_LINKS.format(results=f"and sms_id in ({elsewhere})")}) l
        where d.trx_id = l.trx_id""",
    )


# Everything kept, recomputed from the logs.
REBUILD = f"""
    delete from ic_dlr_state;
    insert into ic_dlr_state {DLR_STATE_LINKED.format(events=PLAUSIBLE_EVENTS, links=EVERY_LINK)};
    {";".join(_keep_messages("true"))};
    -- A campaign someone holds now stays derived: its holder is writing its log.
    update ic_campaigns set state_current = true
    where campaign not in (select campaign from ic_leases);
    {";".join(_keep_tallies(CURRENT))};
"""
_ONE = "campaign = $campaign"
_KEEP_ONE = (*_keep_messages(_ONE), *_tie_reports(_ONE))


_WRITING: dict[str, threading.Lock] = {}
_WRITING_LOCK = threading.Lock()


def writing(db_id: str) -> threading.Lock:
    """Held by every writer of one database's kept state for its whole transaction.

    DuckDB lets a transaction overwrite a row that another one changed and
    committed after it began: a state computed from the older snapshot would
    silently win (an import's new status lost at the end of a send). One
    process writes a database file at a time, so a lock per database in this
    process serialises them all.
    """
    with _WRITING_LOCK:
        return _WRITING.setdefault(db_id, threading.Lock())


def mark_not_current(con: duckdb.DuckDBPyConnection, campaign: str) -> None:
    """``campaign``'s log is about to be written: reads derive it from the log meanwhile.
    Inside the transaction that takes the campaign's lease."""
    con.execute("update ic_campaigns set state_current = false where campaign = ?", [campaign])


def keep_campaign(con: duckdb.DuckDBPyConnection, db_id: str, campaign: str) -> None:
    """Bring ``campaign``'s state columns up to date with its log, and mark it current."""

    def keep() -> None:
        con.begin()
        for statement in _KEEP_ONE:
            con.execute(statement, {"campaign": campaign} if "$campaign" in statement else None)
        con.execute("update ic_campaigns set state_current = true where campaign = ?", [campaign])
        for statement in _keep_tallies(_ONE):
            con.execute(statement, {"campaign": campaign})
        con.commit()

    with writing(db_id):
        retrying(con, keep)


def keep_dlr(con: duckdb.DuckDBPyConnection, new: str, results: str, links: str) -> None:
    """An import's part, inside its transaction (under :func:`writing`): the current
    status of the trx_ids in the table ``new`` (those that got new events), tied to
    their message by ``links`` (:data:`LINKS` of the import's trx_ids), and copied
    into the state columns of every message whose sms_id it is (``results``:
    :data:`RESULTS` of the import's trx_ids), where their campaign is current."""
    touched = f"where trx_id in (select trx_id from {new})"
    # The kept status with the new events: not every event of these trx_ids.
    events = f"""(select trx_id, dn_status, event_at from {new} union all
                  select trx_id, dn_status, event_at from ic_dlr_state {touched})"""
    linked = DLR_STATE_LINKED.format(events=events, links=f"select * from {links}")
    con.execute(f"create or replace temp table ic_dlr_kept as {linked}")
    con.execute(f"delete from ic_dlr_state {touched}")
    con.execute("insert into ic_dlr_state select * from ic_dlr_kept")
    con.execute(
        f"""
        update ic_messages m set dlr_status = s.dn_status, dlr_class = s.dlr_class,
                                 dlr_at = s.event_at
        from (select distinct r.campaign, r.chunk, r.row, k.trx_id, k.dn_status, k.dlr_class,
                              k.event_at
              from ic_dlr_kept k join {results} r on r.trx_id = k.trx_id) s
        where m.campaign = s.campaign and m.chunk = s.chunk and m.row = s.row
          and m.sms_id = s.trx_id
        """
    )
    # The counts of the campaigns whose messages the import's trx_ids name (a
    # table of their names: DuckDB plans a filter on it better than a subquery).
    con.execute(
        f"create or replace temp table ic_dlr_campaigns as select distinct campaign from {results}"
    )
    for statement in _keep_tallies(
        f"campaign in (select campaign from ic_dlr_campaigns) and {CURRENT}"
    ):
        con.execute(statement)
    con.execute("drop table ic_dlr_campaigns")
    con.execute("drop table ic_dlr_kept")


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute all current state from the logs. Inside a transaction, under
    :func:`writing`."""
    con.execute(REBUILD)


def has_implausible_events(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store holds events no status may come from (written before schema 7):
    then a :func:`rebuild` takes them out of every status."""
    row = con.execute(f"select count(*) from ic_dlr_events where not ({PLAUSIBLE})").fetchone()
    return bool(row and row[0])


def keep_tallies(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute the tallies of every current campaign (a store upgraded to schema 6).
    Inside a transaction."""
    for statement in _keep_tallies(CURRENT):
        con.execute(statement)

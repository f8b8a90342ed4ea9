"""Every analytics query over the store, as polars frames.

>>> from isms_campaigns import Store
>>> delivery_summary(Store(), by=["campaign", "operator"]).height
0

This module owns the SQL behind the numbers people read: the summaries,
the report's tables and the data of every figure (:mod:`.plots` turns these
frames into figures, :mod:`.report` into a page, the Dashboard into both).
Each query reads the store through ``store.sql``: the campaigns table
``ic_campaigns`` for the list of campaigns, the counts :mod:`.state` keeps
per campaign (``ic_tally_now``, ``ic_arrivals_now``: thousands of rows
where the messages are millions), and the public views (``messages``,
``batches``) for what those do not answer: a summary over a period counts
the period's messages with the same :data:`~.state.TALLY` query. What the
words mean:

- ``submitted``: the gateway accepted the message (code 2000) and pushed it
  to the telco SMSC;
- ``delivered``: its current delivery report is DELIVERED, ACCEPTED or SENT,
  i.e. the telco SMSC acknowledged it. That is not proof the handset got it;
- ``delivery_rate`` = delivered ÷ submitted, with a Wilson 95 % interval
  (``rate_low``, ``rate_high``) so a rate over 12 messages is not read like
  one over 12,000.

Test sends (``campaign.send(..., test_numbers=[...])``) go to your own
phones, so they are left out unless named in ``campaigns``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from .errors import IsmsError
from .gateway.codes import CODES, describe
from .money import UNKNOWN, ringgit_text
from .state import TALLY

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "DEFAULT_TIME_ZONE",
    "DELIVERED_NOTE",
    "DIMENSIONS",
    "DIMENSION_LABELS",
    "GLOSSARY",
    "MIN_GROUP",
    "STATE_WORDS",
    "SUMMARY_COLUMNS",
    "ReportError",
    "breakdown",
    "campaign_info",
    "campaign_list",
    "campaigns_without_dlr",
    "check_campaigns",
    "check_dimensions",
    "check_time_zone",
    "delivery_summary",
    "dlr_arrival_counts",
    "dlr_delays",
    "failure_reasons",
    "group_label",
    "key_text",
    "not_delivered",
    "rates_in_percent",
    "readable_summary",
    "skipped_reasons",
]

DEFAULT_TIME_ZONE = "Asia/Kuala_Lumpur"
# 97.5th percentile of the standard normal: a two-sided 95 % interval.
Z95 = 1.959963984540054


class ReportError(IsmsError, ValueError):
    """A report asked for something the store cannot answer (unknown campaign, dimension…)."""


# Each dimension as an expression over a message row (m) and over a request
# row (b, joined to its campaign c). A request holds messages of one campaign
# and one type, sent at one moment, so the credits the gateway charged for it
# belong wholly to one value of those dimensions; None marks the dimensions a
# request mixes (operators, countries, part counts, A/B variants), whose
# charged credits cannot be attributed and are shown as null.
_DIMENSIONS: dict[str, tuple[str, str | None]] = {
    "campaign": ("m.campaign", "b.campaign"),
    "operator": ("m.operator", None),
    "country": ("m.country", None),
    "type": ("m.type", "b.type"),
    "parts": ("m.parts", None),
    "variant": ("m.variant", None),
    "sender_id": ("m.sender_id", "c.sender_id"),
    # z.local: the message's submission in $tz, from its quarter-hour slice (below).
    "hour": ("hour(z.local)", "hour(timezone($tz, b.finished_at))"),
    "date": ("z.local::date", "timezone($tz, b.finished_at)::date"),
}
DIMENSIONS: tuple[str, ...] = tuple(_DIMENSIONS)

# How each dimension is named where people read it: operators are the
# numbering plan's original ones, and numbers get ported.
DIMENSION_LABELS: dict[str, str] = {
    "campaign": "Campaign",
    "operator": "Original operator",
    "country": "Country",
    "type": "Type (1 = ASCII, 2 = Unicode)",
    "parts": "Parts per message",
    "variant": "Variant (A/B)",
    "sender_id": "Sender ID",
    "hour": "Hour of day submitted",
    "date": "Date submitted",
}

# What "delivered" means, said under every table of delivery figures.
DELIVERED_NOTE = (
    "“Delivered” means the telco's SMSC acknowledged the message: its delivery report (DLR) "
    "is DELIVERED, ACCEPTED or SENT. That is the most iSMS reports; it is not proof that the "
    "handset received it. The delivery rate is delivered ÷ submitted; the interval is a "
    "Wilson 95 % interval, wide where few messages were sent. “No DLR yet” are submitted "
    "messages with no report imported yet. Operators are the numbering plan's original "
    "operators: numbers get ported."
)

# The campaigns asked for: the named ones, else every campaign except test sends.
# With one campaign asked for, a filter DuckDB pushes into the scans (a list
# parameter it does not): a report of one campaign reads only its rows.
_ONE = "($one::varchar is null or {}.campaign = $one)"
_CHOSEN = """
    select campaign, sender_id, created_at, price_per_credit from ic_campaigns
    where case when $campaigns::varchar[] is null then kind <> 'test'
               else list_contains($campaigns, campaign) end
"""

SUMMARY_COLUMNS: tuple[str, ...] = (
    "messages",
    "planned",
    "skipped",
    "submitted",
    "failed",
    "unknown",
    "delivered",
    "undelivered",
    "pending",
    "other_dlr",
    "no_dlr",
    "delivery_rate",
    "rate_low",
    "rate_high",
    "credits_estimated",
    "credits_submitted",
    "credits_charged",
    "cost_estimated_rm",
    "cost_charged_rm",
    "dlr_seconds_median",
    "dlr_seconds_p90",
)

# Steps of a campaign's time-to-DLR curve kept: a curve, not every distinct second.
DELAY_POINTS = 300

# Bucket widths (seconds) for DLR arrivals: the smallest giving <= 150 buckets.
ARRIVAL_BUCKETS: tuple[int, ...] = (
    1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400,
)  # fmt: skip


# ---------------------------------------------------------------------------
# The campaigns
# ---------------------------------------------------------------------------


def campaign_list(store: Store) -> pl.DataFrame:
    """Every campaign in the store, test sends included, oldest first.

    Columns ``campaign``, ``kind``, ``created_at``: the names to choose
    from (what the Dashboard lists), without counting any message.

    >>> from isms_campaigns import Store
    >>> campaign_list(Store()).columns
    ['campaign', 'kind', 'created_at']
    """
    return store.sql("select campaign, kind, created_at from ic_campaigns order by created_at")


def campaign_info(store: Store, campaigns: str | Sequence[str] | None = None) -> pl.DataFrame:
    """The campaigns asked for, oldest first: ``campaign kind created_at template sender_id``.

    ``campaigns``: a name or a list; by default every campaign except test sends.
    """
    return _run(
        store,
        f"""
        select c.campaign, c.kind, c.created_at, c.template, c.sender_id
        from ic_campaigns c join ({_CHOSEN}) x on x.campaign = c.campaign
        order by c.created_at
        """,
        _chosen(store, campaigns),
    )


def campaigns_without_dlr(
    store: Store, campaigns: str | Sequence[str] | None = None
) -> pl.DataFrame:
    """The campaigns asked for that have submitted messages but no delivery report yet.

    One column, ``campaign``, oldest campaign first: their submitted
    messages all show as "no DLR yet", most likely because their delivery
    reports have not been imported.
    """
    return _run(
        store,
        f"""
        select t.campaign from ic_tally_now t join ({_CHOSEN}) c on c.campaign = t.campaign
        where {_ONE.format("t")}
        group by t.campaign, c.created_at
        having {_counted("t.state = 'submitted'", "t.messages")} > 0
           and count(*) filter (where t.dlr_class is not null) = 0
        order by c.created_at
        """,
        _chosen(store, campaigns),
    )


# ---------------------------------------------------------------------------
# Delivery summary
# ---------------------------------------------------------------------------


def delivery_summary(
    store: Store,
    by: str | Sequence[str] = "campaign",
    campaigns: str | Sequence[str] | None = None,
    since: date | datetime | str | None = None,
    *,
    until: date | datetime | str | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> pl.DataFrame:
    """Counts, delivery rate with its interval, credits and time to DLR, grouped ``by``.

    ``by``: one of :data:`DIMENSIONS` or a list of them (``"variant"`` is the
    A/B label, null for messages of campaigns without variants; ``"hour"`` and
    ``"date"`` are of ``submitted_at`` in ``time_zone``; null for messages
    never submitted). ``campaigns``: a name or a list; by default every
    campaign except test sends. ``since`` / ``until`` (a date, datetime or
    ISO string; without an offset, in ``time_zone``) keep the messages whose
    latest send event is in ``[since, until)``: the submission for submitted
    messages; else the latest request that carried them (failed, unknown,
    or refused and still planned); else the campaign's creation (skipped,
    or never tried). Credits charged are those of the requests in the window.

    Columns: the ``by`` columns, then ``messages`` and its states
    (``planned skipped submitted failed unknown``); the submitted ones by
    their current delivery report: ``delivered`` (DELIVERED / ACCEPTED /
    SENT: the telco SMSC acknowledged it), ``undelivered``, ``pending``,
    ``other_dlr`` (a word outside the spec, e.g. EXPIRED) and ``no_dlr`` (no
    report yet), which add up to ``submitted``; ``delivery_rate`` =
    delivered ÷ submitted with its Wilson 95 % interval ``rate_low`` /
    ``rate_high`` (null when nothing was submitted); ``credits_estimated``
    (every sendable message), ``credits_submitted`` (the estimate for the
    submitted ones: what the gateway should have charged) and
    ``credits_charged`` (what the gateway reported charging: exact by
    campaign, type, sender ID, hour and date, since each request is of one
    of those; null when ``by`` includes operator, country, parts or
    variant, which a request mixes, or when the gateway did not report it);
    ``cost_estimated_rm`` and ``cost_charged_rm``: those credits in ringgit at
    each campaign's price per credit, to the sen (null when a campaign of the
    group has no price: unknown, not free);
    ``dlr_seconds_median`` / ``dlr_seconds_p90``: seconds from submission to
    the final report (each message's delay in whole seconds, as report
    times are; a report a fraction of a second early counts 0).

    >>> from isms_campaigns import Store
    >>> delivery_summary(Store(), by=["operator", "hour"]).columns[:3]
    ['operator', 'hour', 'messages']
    """
    dims = check_dimensions(by)
    params = _params(store, campaigns, since, until, time_zone)
    keys = ", ".join(f"{_DIMENSIONS[d][0]} as {d}" for d in dims)
    columns = ", ".join(dims)
    order = ", ".join(
        "k.first_created, k.campaign" if d == "campaign" else f"k.{d} nulls last" for d in dims
    )
    batch_dims = [_DIMENSIONS[d][1] for d in dims]
    if all(batch_dims):
        charged_cte = f"""
            , charged as (
                select {", ".join(f"{e} as {d}" for d, e in zip(dims, batch_dims, strict=True))},
                       sum(b.credits_charged)::bigint as credits_charged,
                       case when sum(b.credits_charged) is not null
                            then {_ringgit("b.credits_charged", "c.price_per_credit")}
                       end as cost_charged_rm
                from batches b join chosen c on c.campaign = b.campaign
                where {_ONE.format("b")}
                  and ($since::timestamptz is null or b.finished_at >= $since)
                  and ($until::timestamptz is null or b.finished_at < $until)
                group by all
            )"""
        charged_join = f"left join charged g on {_same('g', 'k', dims)}"
        charged, charged_cost = "g.credits_charged", "g.cost_charged_rm"
    else:
        charged_cte, charged_join = "", ""
        charged, charged_cost = "null::bigint", "null::double"
    # Wilson score interval for delivered out of submitted.
    p, n, z2 = "(k.delivered / k.submitted)", "k.submitted", Z95 * Z95
    centre = f"({p} + {z2} / (2 * {n})) / (1 + {z2} / {n})"
    half = f"{Z95} / (1 + {z2} / {n}) * sqrt({p} * (1 - {p}) / {n} + {z2} / (4 * {n} * {n}))"
    if since is None and until is None:  # the kept tallies: thousands of rows, not millions
        tally = f"select t.* from ic_tally_now t where {_ONE.format('t')}"
    else:  # the messages of the period, counted the same way
        tally = TALLY.format(
            source=f"""
            select m.* from messages m join chosen c on c.campaign = m.campaign
            left join (
                select campaign, chunk, max(finished_at) as finished_at
                from batches b where {_ONE.format("b")} group by campaign, chunk
            ) d on d.campaign = m.campaign and d.chunk = m.chunk
            where {_ONE.format("m")}
              and ($since::timestamptz is null
                   or coalesce(m.submitted_at, d.finished_at, c.created_at) >= $since)
              and ($until::timestamptz is null
                   or coalesce(m.submitted_at, d.finished_at, c.created_at) < $until)"""
        )
    # Local hours and dates: each quarter-hour slice of submissions converted to
    # local time once (every zone's offset is whole quarter hours).
    slices, slices_join = "", ""
    if {"hour", "date"} & set(dims):
        slices = """
        slices as (
            select slice, timezone($tz, make_timestamptz(slice * 900000000)) as local
            from (select distinct slice from picked where slice is not null)
        ),"""
        slices_join = "left join slices z on z.slice = m.slice"
    # The delay quantiles from the counts of each whole second, exactly as
    # quantile_cont over the messages: the values at ranks floor and ceil of
    # (n - 1) q, interpolated.
    quantiles = ", ".join(
        f"""min(seconds) filter (where reached > floor((total - 1) * {q})) as q{i}_low,
            min(seconds) filter (where reached > ceil((total - 1) * {q})) as q{i}_high,
            any_value((total - 1) * {q} - floor((total - 1) * {q})) as q{i}_part"""
        for i, q in enumerate((0.5, 0.9))
    )
    quantile = "(q.q{0}_low + q.q{0}_part * (q.q{0}_high - q.q{0}_low))::double"
    query = f"""
        with chosen as ({_CHOSEN}),
        picked as (
            select t.*, c.sender_id, c.created_at, c.price_per_credit
            from ({tally}) t join chosen c on c.campaign = t.campaign
        ),{slices}
        keyed as (
            select {keys}, m.state, m.dlr_class, m.seconds, m.messages, m.credits, m.created_at,
                   m.price_per_credit
            from picked m {slices_join}
        ),
        counts as (
            select {columns},
                   sum(messages)::bigint as messages,
                   {_counted("state = 'planned'")} as planned,
                   {_counted("state = 'skipped'")} as skipped,
                   {_counted("state = 'submitted'")} as submitted,
                   {_counted("state = 'failed'")} as failed,
                   {_counted("state = 'unknown'")} as unknown,
                   {_counted("state = 'submitted' and dlr_class = 'delivered'")} as delivered,
                   {_counted("state = 'submitted' and dlr_class = 'failed'")} as undelivered,
                   {_counted("state = 'submitted' and dlr_class = 'pending'")} as pending,
                   {_counted("state = 'submitted' and dlr_class = 'unknown'")} as other_dlr,
                   {_counted("state = 'submitted' and dlr_class is null")} as no_dlr,
                   {_counted("state <> 'skipped'", "credits")} as credits_estimated,
                   {_counted("state = 'submitted'", "credits")} as credits_submitted,
                   {_ringgit("credits", "price_per_credit", "state <> 'skipped'")}
                       as cost_estimated_rm,
                   min(created_at) as first_created
            from keyed group by {columns}
        ),
        ranked as (
            select {columns}, seconds,
                   sum(n) over (partition by {columns} order by seconds) as reached,
                   sum(n) over (partition by {columns}) as total
            from (select {columns}, seconds, sum(messages) as n from keyed
                  where seconds is not null group by all)
        ),
        delays as (select {columns}, {quantiles} from ranked group by {columns}){charged_cte}
        select {", ".join(f"k.{d}" for d in dims)},
               k.messages, k.planned, k.skipped, k.submitted, k.failed, k.unknown,
               k.delivered, k.undelivered, k.pending, k.other_dlr, k.no_dlr,
               case when k.submitted > 0 then {p} end::double as delivery_rate,
               -- At 0 or 100 % the interval ends exactly at 0 or 1 (not 1e-16 short).
               case when k.submitted = 0 then null when k.delivered = 0 then 0
                    else greatest({centre} - {half}, 0) end::double as rate_low,
               case when k.submitted = 0 then null when k.delivered = k.submitted then 1
                    else least({centre} + {half}, 1) end::double as rate_high,
               k.credits_estimated, k.credits_submitted, {charged} as credits_charged,
               k.cost_estimated_rm, {charged_cost} as cost_charged_rm,
               {quantile.format(0)} as dlr_seconds_median, {quantile.format(1)} as dlr_seconds_p90
        from counts k left join delays q on {_same("q", "k", dims)} {charged_join}
        order by {order}
    """
    return _run(store, query, params)


def readable_summary(summary: pl.DataFrame, dim: str | Sequence[str]) -> pl.DataFrame:
    """A :func:`delivery_summary` by ``dim`` (one or a list) as people read it:
    labelled, rates in %, money in ringgit.

    The columns get the words of :data:`STATE_WORDS` (explained in
    :data:`GLOSSARY`), the rarer states (planned, unknown, pending, other
    DLR) show only where they occur, and so does ``skipped`` (a
    :func:`breakdown` has none); the rate becomes a percentage beside its
    likely range, seconds are rounded and costs read ``RM 1,234.50``
    (``unknown`` without a price per credit; no cost columns when no row has one). A row folded by
    :func:`breakdown` reads "other: N groups". This is the table of the
    report and of the Dashboard.
    """

    def pct(c: str) -> pl.Expr:
        return (pl.col(c) * 100).round(1).cast(pl.String)

    def cost(credits: str, rm: str) -> pl.Expr:
        """Null where the credits are (not attributable), else RM or unknown."""
        return pl.when(pl.col(credits).is_not_null()).then(
            ringgit_text(pl.col(rm)).fill_null(UNKNOWN)
        )

    dims = check_dimensions(dim)
    folded = pl.col(OTHER_GROUPS).is_not_null() if OTHER_GROUPS in summary.columns else False
    keys = [
        (group_label(summary, [d]) if i == 0 else pl.when(folded).then(None).otherwise(key_text(d)))
        .fill_null("")
        .alias(DIMENSION_LABELS[d])
        for i, d in enumerate(dims)
    ]
    # The rarer states only where they occur: the table is wide enough.
    optional = ["skipped", "planned", "unknown", "failed", "pending", "other_dlr"]
    present = summary.select(pl.col(optional).sum() > 0).row(0, named=True)
    states = [c for c in _SHOWN_STATES if present.get(c, True)]
    # Unknown for a whole breakdown by operator, country or parts: no column.
    charged = summary.is_empty() or summary["credits_charged"].null_count() < summary.height
    # Ringgit once a price per credit is known somewhere: else columns of "unknown".
    priced = summary["cost_estimated_rm"].null_count() < summary.height
    return summary.select(
        *keys,
        pl.col("messages").alias(STATE_WORDS["messages"]),
        *(pl.col(c).alias(STATE_WORDS[c]) for c in states),
        pl.when(pl.col("submitted") > 0).then(pct("delivery_rate") + " %").alias("Delivery rate"),
        pl.when(pl.col("submitted") > 0)
        .then(pct("rate_low") + "–" + pct("rate_high") + " %")
        .alias("Likely range"),
        pl.col("credits_estimated").alias("Credits estimated"),
        *([pl.col("credits_charged").alias("Credits charged")] if charged else []),
        *(
            [cost("credits_estimated", "cost_estimated_rm").alias("Cost estimated")]
            if priced
            else []
        ),
        *(
            [cost("credits_charged", "cost_charged_rm").alias("Cost charged")]
            if priced and charged
            else []
        ),
        pl.col("dlr_seconds_median").round(1).alias("Median time to DLR (s)"),
    )


# One word for each state, everywhere people read them (the report, the
# Dashboard, the figures' legends); GLOSSARY says what each means.
STATE_WORDS: dict[str, str] = {
    "messages": "Messages",
    "skipped": "Skipped",
    "planned": "Planned",
    "unknown": "Unknown",
    "failed": "Failed",
    "submitted": "Submitted",
    "delivered": "Delivered",
    "undelivered": "Undelivered",
    "pending": "Pending",
    "other_dlr": "Other DLR",
    "no_dlr": "No DLR yet",
}
_SHOWN_STATES = [c for c in STATE_WORDS if c != "messages"]

GLOSSARY: tuple[tuple[str, str], ...] = (
    ("Messages", "one per recipient in the plan, sent or not."),
    (
        "Skipped",
        "never sent: a problem in the plan (invalid or duplicate number, on the "
        "do-not-contact list…); the reasons are counted under “Skipped, by reason”.",
    ),
    ("Planned", "sendable but not sent yet (e.g. the account ran out of credits)."),
    (
        "Unknown",
        "the request got no answer: the message may have gone out. Settle it with "
        "isms-campaigns resolve before sending again.",
    ),
    ("Failed", "the gateway refused it (an iSMS error code): not sent, not charged."),
    ("Submitted", "the gateway accepted it and passed it to the telco."),
    (
        "Delivered",
        "the telco's SMSC acknowledged it: its delivery report (DLR) is DELIVERED, ACCEPTED "
        "or SENT. That is the most iSMS reports; it is not proof that the handset received it.",
    ),
    ("Undelivered", "the telco reported it was not delivered (DLR UNDELIVERED)."),
    ("Pending", "its latest report is PENDING: a final one should follow."),
    ("Other DLR", "a report word outside the iSMS spec (e.g. EXPIRED), kept as reported."),
    ("No DLR yet", "submitted, but no delivery report imported yet."),
    (
        "Delivery rate",
        "delivered ÷ submitted. The likely range is a Wilson 95 % interval: wide where few "
        "messages were sent.",
    ),
    (
        "Credits",
        "estimated: what the plan costs (every sendable message); charged: what the gateway "
        "reported charging, known per campaign, type, hour and date only.",
    ),
    ("Original operator", "the numbering plan's operator of the number: numbers get ported."),
    ("Country", "of the number, as its ISO code (MY Malaysia, SG Singapore, ID Indonesia…)."),
)

# A breakdown folds groups smaller than this: a rate over 2 messages is noise.
MIN_GROUP = 10
OTHER_GROUPS = "other_groups"

# The columns of a summary a fold cannot add up: it computes them again.
_RECOMPUTED = ("delivery_rate", "rate_low", "rate_high", "dlr_seconds_median", "dlr_seconds_p90")


def breakdown(
    summary: pl.DataFrame, by: str | Sequence[str], minimum: int = MIN_GROUP
) -> pl.DataFrame:
    """A :func:`delivery_summary` as a breakdown of what was sent: skipped messages left out
    (they have no operator, hour or date to speak of, and their own table), biggest group
    first, groups under ``minimum`` messages folded into one last row.

    The folded row has null keys, ``other_groups`` = the number of groups in it
    (null elsewhere), its counts and credits summed and its rate and interval
    recomputed; its delay quantiles are null (they do not add up).

    >>> from isms_campaigns import Store
    >>> breakdown(delivery_summary(Store(), by="operator"), "operator").columns[-1]
    'other_groups'
    """
    dims = check_dimensions(by)
    sent = summary.with_columns(
        messages=pl.col("messages") - pl.col("skipped"), skipped=pl.lit(0, pl.Int64)
    ).filter(pl.col("messages") > 0)
    if not {"hour", "date"} & set(dims):  # a time keeps its order
        sent = sent.sort("messages", descending=True, maintain_order=True)
    small = pl.col("messages") < minimum
    kept = sent.filter(~small).with_columns(pl.lit(None, pl.Int64).alias(OTHER_GROUPS))
    folded = sent.filter(small)
    if folded.is_empty():
        return kept
    n, k = pl.col("submitted"), pl.col("delivered")
    p, z2 = k / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 / (1 + z2 / n) * (p * (1 - p) / n + z2 / (4 * n * n)).sqrt()
    summed = [c for c in summary.columns if c not in (*dims, *_RECOMPUTED)]
    other = folded.select(
        *(pl.lit(None, summary.schema[d]).alias(d) for d in dims),
        # A sum of nothing known (credits charged by operator) stays unknown.
        *(pl.when(pl.col(c).is_not_null().any()).then(pl.col(c).sum()).alias(c) for c in summed),
        pl.len().cast(pl.Int64).alias(OTHER_GROUPS),
    ).with_columns(
        delivery_rate=pl.when(n > 0).then(p),
        rate_low=pl.when(n > 0).then(pl.when(k == 0).then(0.0).otherwise(centre - half).clip(0)),
        rate_high=pl.when(n > 0).then(
            pl.when(k == n).then(1.0).otherwise(centre + half).clip(0, 1)
        ),
        dlr_seconds_median=pl.lit(None, pl.Float64),
        dlr_seconds_p90=pl.lit(None, pl.Float64),
    )
    return pl.concat([kept, other.select(kept.columns)], how="vertical_relaxed")


def group_label(summary: pl.DataFrame, dims: Sequence[str]) -> pl.Expr:
    """Each row's group as people read it (the ``dims`` joined by " · "), and the row
    :func:`breakdown` folds as "other: N groups"."""
    key = pl.concat_str([key_text(d) for d in dims], separator=" · ")
    if OTHER_GROUPS not in summary.columns:
        return key
    return (
        pl.when(pl.col(OTHER_GROUPS).is_not_null())
        .then(
            pl.format(
                "other: {} group{}",
                pl.col(OTHER_GROUPS),
                pl.when(pl.col(OTHER_GROUPS) == 1).then(pl.lit("")).otherwise(pl.lit("s")),
            )
        )
        .otherwise(key)
    )


def key_text(dim: str) -> pl.Expr:
    """A dimension's values as people read them (in a table, on an axis)."""
    col = pl.col(dim)
    if dim == "hour":
        return pl.format("{}:00", col.cast(pl.String).str.zfill(2)).fill_null("not submitted")
    if dim == "date":
        return col.cast(pl.String).fill_null("not submitted")
    if dim == "type":
        return col.replace_strict(
            {1: "1 ASCII", 2: "2 Unicode"}, default=col.cast(pl.String), return_dtype=pl.String
        ).fill_null("not known")
    if dim == "variant":
        return col.cast(pl.String).fill_null("no variant")
    return col.cast(pl.String).fill_null("not known")


def skipped_reasons(store: Store, campaigns: str | Sequence[str] | None = None) -> pl.DataFrame:
    """Why messages were skipped (never sent), most common first: ``problem``, ``messages``.

    >>> from isms_campaigns import Store
    >>> skipped_reasons(Store()).columns
    ['problem', 'messages']
    """
    return _run(
        store,
        f"""
        with chosen as ({_CHOSEN})
        select m.problem, count(*) as messages
        from messages m join chosen c on c.campaign = m.campaign
        where m.state = 'skipped' and {_ONE.format("m")}
        group by m.problem order by messages desc, m.problem
        """,
        _chosen(store, campaigns),
    )


def not_delivered(store: Store, campaigns: str | Sequence[str] | None = None) -> pl.DataFrame:
    """The recipients who did not get their message: failed (refused by the gateway),
    undelivered, or an other DLR word; campaign by campaign, in plan order. A
    recipient a follow-up (``store.follow_up``) tried again is listed by that try
    only, if it failed too.

    Columns ``campaign dstno country operator state code dlr_status reason``:
    ``state`` in the words of :data:`STATE_WORDS`, ``reason`` the gateway
    code's meaning or the delivery report's status.

    >>> from isms_campaigns import Store
    >>> not_delivered(Store()).columns[:3]
    ['campaign', 'dstno', 'country']
    """
    found = _run(
        store,
        f"""
        with recursive chosen as ({_CHOSEN}),
        later(campaign, follow_up) as (  -- each campaign's follow-ups, theirs too
            select parent, campaign from ic_campaigns where parent is not null
            union
            select l.campaign, c.campaign from later l join ic_campaigns c
            on c.parent = l.follow_up
        )
        select m.campaign, m.dstno, m.country, m.operator,
               case when m.state = 'failed' then 'failed'
                    when m.dlr_class = 'failed' then 'undelivered' else 'other_dlr' end as state,
               m.code, m.dlr_status
        from messages m join chosen c on c.campaign = m.campaign
        where {_ONE.format("m")}
          and (m.state = 'failed'
               or (m.state = 'submitted' and m.dlr_class in ('failed', 'unknown')))
          -- a follow-up tried them again: that try's outcome is the one that counts
          and not exists (
              select 1 from later l join messages f on f.campaign = l.follow_up
              where l.campaign = m.campaign and f.dstno = m.dstno
                and f.state in ('submitted', 'failed'))
        order by c.created_at, m.campaign, m.row
        """,
        _chosen(store, campaigns),
    )
    meanings = pl.DataFrame(
        {"code": list(CODES), "meaning": [c.meaning for c in CODES.values()]},
        schema_overrides={"code": found.schema["code"]},
    )
    return (
        found.join(meanings, on="code", how="left", maintain_order="left")
        .with_columns(
            reason=pl.when(pl.col("state") == "failed")
            .then(pl.format("{} {}", "code", pl.col("meaning").fill_null(describe(0).meaning)))
            .otherwise(pl.format("DLR {}", "dlr_status")),
        )
        .with_columns(state=pl.col("state").replace_strict(STATE_WORDS))
        .drop("meaning")
    )


def rates_in_percent(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its rate columns as people read them, 0.871287 → ``87.1 %``, and its
    costs in ringgit, 12.5 → ``RM 12.50`` (``unknown`` without a price per credit).

    For showing a :func:`delivery_summary` (the notebooks do); the rates
    and costs become text, so compute on the summary itself.

    >>> rates_in_percent(pl.DataFrame({"delivery_rate": [0.871287, None]})).to_series().to_list()
    ['87.1 %', None]
    """
    rates = [c for c in ("delivery_rate", "rate_low", "rate_high") if c in frame.columns]
    costs = [c for c in ("cost_estimated_rm", "cost_charged_rm") if c in frame.columns]
    return frame.with_columns(
        (pl.col(rates) * 100).round(1).cast(pl.String) + " %",
        *(ringgit_text(pl.col(c)).fill_null(UNKNOWN) for c in costs),
    )


# ---------------------------------------------------------------------------
# Delivery reports
# ---------------------------------------------------------------------------


def dlr_delays(store: Store, campaigns: str | Sequence[str] | None = None) -> pl.DataFrame:
    """Time from submission to the final delivery report, as a CDF per campaign.

    One row per campaign and distinct delay, to the second (at most about
    :data:`DELAY_POINTS` per campaign: beyond that every k-th, and the
    last, which is enough to draw it): ``campaign``, ``seconds``,
    ``submitted`` (the campaign's submitted messages) and ``share``: the
    share of them with a final report (not PENDING) within ``seconds``.
    Campaigns in order of creation, delays ascending; empty when no final
    report is imported.

    >>> from isms_campaigns import Store
    >>> dlr_delays(Store()).columns
    ['campaign', 'seconds', 'submitted', 'share']
    """
    return _run(
        store,
        f"""
        with chosen as ({_CHOSEN}),
        -- One pass: submitted messages per campaign and final delay (null: none
        -- yet), to the second: the reports' own times are.
        counts as (
            select t.campaign, t.seconds, {_counted("t.state = 'submitted'", "t.messages")} as n
            from ic_tally_now t join chosen c on c.campaign = t.campaign and {_ONE.format("t")}
            group by all
        ),
        steps as (
            select k.campaign, k.seconds, sum(k.n) over (partition by k.campaign) as submitted,
                   sum(k.n) over (partition by k.campaign order by k.seconds nulls last)
                       / submitted as share,
                   row_number() over (partition by k.campaign order by k.seconds) as step,
                   count(k.seconds) over (partition by k.campaign) as steps
            from counts k
        )
        -- At most about $points steps per campaign: every k-th, and the last.
        select s.campaign, s.seconds, s.submitted, s.share
        from steps s join chosen c on c.campaign = s.campaign
        where s.seconds is not null and (s.step % ceil(s.steps / $points)::bigint = 0
                                         or s.step = s.steps)
        order by c.created_at, s.campaign, s.seconds
        """,
        {**_params(store, campaigns, None, None, DEFAULT_TIME_ZONE), "points": DELAY_POINTS},
    )


def dlr_arrival_counts(
    store: Store,
    campaigns: str | Sequence[str] | None = None,
    *,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> pl.DataFrame:
    """When the submitted messages got their current delivery report, per time bucket
    and status class.

    Each submitted message counts once, by its current report (a PENDING
    followed by DELIVERED counts as delivered, at the DELIVERED report's
    time), so the bars add up to the summary's delivered, undelivered,
    pending and other-DLR counts; reports without a time of their own are
    counted in rows whose ``bucket`` is null. The bucket is the narrowest of
    :data:`ARRIVAL_BUCKETS` giving at most 150.

    Columns: ``bucket`` (its start, local time in ``time_zone``), ``class``
    (``delivered undelivered pending other_dlr``), ``messages`` and
    ``bucket_seconds`` (the bucket's width, the same on every row).

    >>> from isms_campaigns import Store
    >>> dlr_arrival_counts(Store()).columns
    ['bucket', 'class', 'messages', 'bucket_seconds']
    """
    params = _params(store, campaigns, None, None, time_zone)
    # The kept counts of reports by second: buckets are whole seconds.
    events = f"""
        with chosen as ({_CHOSEN})
        select a.reported, a.messages,
               case a.dlr_class when 'failed' then 'undelivered'
                                when 'unknown' then 'other_dlr' else a.dlr_class end as class
        from ic_arrivals_now a join chosen c on c.campaign = a.campaign and {_ONE.format("a")}
    """
    span = _run(
        store,
        f"select min(reported) as first, max(reported) as last, count(*) as n from ({events})",
        params,
    )
    first, last, rows = span.row(0)
    if rows == 0:
        return pl.DataFrame(
            schema={
                "bucket": pl.Datetime("us"),
                "class": pl.String,
                "messages": pl.Int64,
                "bucket_seconds": pl.Int64,
            }
        )
    seconds = 0.0 if first is None else (last - first).total_seconds()
    bucket = next((b for b in ARRIVAL_BUCKETS if seconds / b <= 150), ARRIVAL_BUCKETS[-1])
    # Counted first in UTC slices no local bucket boundary falls inside (every
    # zone's offset is a whole number of quarter hours), then only the slices
    # are converted to local time: a few thousand conversions.
    unit = bucket if 900 % bucket == 0 else 900 if bucket % 900 == 0 else 60
    counts = _run(
        store,
        f"""
        with slices as (
            select epoch_us(reported) // $unit as slice, class, sum(messages) as messages
            from ({events}) group by all
        )
        select time_bucket(to_seconds($bucket), timezone($tz, make_timestamptz(slice * $unit)))
                   as bucket, class, sum(messages)::bigint as messages
        from slices group by all order by bucket nulls last, class
        """,
        {**params, "bucket": bucket, "unit": unit * 1_000_000},
    )
    return counts.with_columns(bucket_seconds=pl.lit(bucket, pl.Int64))


def failure_reasons(store: Store, campaigns: str | Sequence[str] | None = None) -> pl.DataFrame:
    """Why messages failed, most common first, with what each reason means and what to do.

    One row per reason: ``source`` is ``gateway`` (rejected by the gateway,
    by its ``code``: not sent, not charged) or ``dlr`` (submitted, then an
    UNDELIVERED report or a word outside the spec, by ``dlr_status``);
    ``messages``; ``meaning`` and ``what_to_do`` from the iSMS codes table.

    >>> from isms_campaigns import Store
    >>> failure_reasons(Store()).columns
    ['source', 'code', 'dlr_status', 'messages', 'meaning', 'what_to_do']
    """
    reasons = _run(
        store,
        f"""
        with chosen as ({_CHOSEN}),
        m as (select t.* from ic_tally_now t join chosen c on c.campaign = t.campaign
              where {_ONE.format("t")})
        select 'gateway' as source, code, null::varchar as dlr_status,
               sum(messages)::bigint as messages
        from m where state = 'failed' group by code
        union all
        select 'dlr', null, dlr_status, sum(messages)::bigint
        from m where state = 'submitted' and dlr_class in ('failed', 'unknown')
        group by dlr_status
        order by messages desc, code, dlr_status
        """,
        _params(store, campaigns, None, None, DEFAULT_TIME_ZONE),
    )
    # 0 is not an iSMS code: its description is the one for any unlisted code.
    unlisted = describe(0)
    table = pl.DataFrame(
        {
            "code": list(CODES),
            "meaning": [c.meaning for c in CODES.values()],
            "what_to_do": [c.what_to_do for c in CODES.values()],
        },
        schema_overrides={"code": reasons.schema["code"]},
    )
    gateway = pl.col("source") == "gateway"
    return reasons.join(table, on="code", how="left").with_columns(
        meaning=pl.when(gateway)
        .then(pl.coalesce("meaning", pl.lit(unlisted.meaning)))
        .when(pl.col("dlr_status") == "UNDELIVERED")
        .then(pl.lit("the telco reported it was not delivered"))
        .otherwise(pl.lit("a delivery-report word outside the spec, kept as reported")),
        what_to_do=pl.when(gateway)
        .then(pl.coalesce("what_to_do", pl.lit(unlisted.what_to_do)))
        .otherwise(
            pl.lit(
                "The number may be inactive, switched off or barred; "
                "iSMS support can ask the telco why."
            )
        ),
    )


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


def check_dimensions(by: str | Sequence[str]) -> list[str]:
    """``by`` as a list of :data:`DIMENSIONS`, each once; a :class:`ReportError` otherwise.

    >>> check_dimensions(["operator", "hour", "operator"])
    ['operator', 'hour']
    """
    names = [by] if isinstance(by, str) else list(by)
    if not names:
        raise ReportError(f"by is empty: give one or more of {', '.join(DIMENSIONS)}.")
    bad = [n for n in names if n not in _DIMENSIONS]
    if bad:
        raise ReportError(
            f"Cannot group by {', '.join(map(repr, bad))}: choose from {', '.join(DIMENSIONS)}."
        )
    return list(dict.fromkeys(names))  # a name given twice is one column


def check_campaigns(store: Store, campaigns: str | Sequence[str] | None) -> list[str] | None:
    """The names asked for, each checked against the store (None: the default set).

    A name the store does not hold is a :class:`ReportError` listing the
    ones it does.
    """
    if campaigns is None:
        return None
    names = [campaigns] if isinstance(campaigns, str) else list(campaigns)
    known = campaign_list(store)["campaign"].to_list()
    stored = set(known)
    missing = [n for n in names if n not in stored]
    if missing:
        shown = ", ".join(map(repr, known[:20])) + (" …" if len(known) > 20 else "")
        raise ReportError(
            f"No campaign {', '.join(map(repr, missing))} in the store; it has: "
            f"{shown or 'none yet'}."
        )
    return names


def check_time_zone(time_zone: str) -> tzinfo:
    """The zone of an IANA name; a :class:`ReportError` saying what to use otherwise.

    >>> check_time_zone("UTC")
    zoneinfo.ZoneInfo(key='UTC')
    """
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(
            f"Unknown time zone {time_zone!r}: use an IANA name such as 'Asia/Kuala_Lumpur' "
            f"or 'UTC'."
        ) from None


def _params(
    store: Store,
    campaigns: str | Sequence[str] | None,
    since: date | datetime | str | None,
    until: date | datetime | str | None,
    time_zone: str,
) -> dict[str, Any]:
    """The named query parameters every analytics query shares, checked."""
    zone = check_time_zone(time_zone)
    return {
        **_chosen(store, campaigns),
        "since": instant(since, zone, "since"),
        "until": instant(until, zone, "until"),
        "tz": time_zone,
    }


def _chosen(store: Store, campaigns: str | Sequence[str] | None) -> dict[str, Any]:
    """The campaigns parameters: the list (None: all but test sends) and, when it
    names one campaign, that one."""
    names = check_campaigns(store, campaigns)
    return {"campaigns": names, "one": names[0] if names and len(names) == 1 else None}


def instant(value: date | datetime | str | None, zone: tzinfo, name: str) -> datetime | None:
    """A moment in UTC; a date is its midnight and a naive time is local, in ``zone``."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ReportError(
                f"{name}={value!r} is not a date or time: use ISO form such as '2026-11-21' "
                f"or '2026-11-21T09:00' (local to the time zone) or '2026-11-21T01:00Z'."
            ) from None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        raise ReportError(f"{name} must be a date, datetime or ISO string, not {value!r}.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _counted(condition: str, column: str = "messages") -> str:
    """The sum of a tally's ``column`` over its rows meeting ``condition`` (0 if none)."""
    return f"coalesce(sum({column}) filter (where {condition}), 0)::bigint"


def _ringgit(credits: str, price: str, condition: str = "true") -> str:
    """The sum of ``credits`` × ``price`` over the rows meeting ``condition``, in RM to
    the sen; null when a campaign of the group has no price (an unknown cost, not 0).
    Decimal arithmetic: a half sen rounds up, as on a bill."""
    return f"""(case when bool_or({price} is null) then null
                     else round(coalesce(sum({credits} * {price}::decimal(18, 6))
                                         filter (where {condition}), 0), 2) end)::double"""


def _same(a: str, b: str, dims: Sequence[str]) -> str:
    """Rows ``a`` and ``b`` are of the same group (a null key matches a null key)."""
    return " and ".join(f"{a}.{d} is not distinct from {b}.{d}" for d in dims)


def _run(store: Store, query: str, params: dict[str, Any]) -> pl.DataFrame:
    """``store.sql`` with the named parameters ``query`` uses (DuckDB refuses extra ones)."""
    used = set(re.findall(r"\$(\w+)", query))
    return store.sql(query, {k: v for k, v in params.items() if k in used})

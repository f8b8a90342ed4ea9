"""Delivery metrics from the store, and the self-contained HTML report.

>>> from isms_campaigns import Store
>>> delivery_summary(Store(), by=["campaign", "operator"]).height
0

Every number here is one SQL query over the store's public views, returned
as a polars frame. What the words mean:

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

import html
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from .errors import IsmsError

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "DIMENSIONS",
    "DIMENSION_LABELS",
    "ReportError",
    "delivery_summary",
    "write_report",
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
# request mixes (operators, countries, part counts), whose charged credits
# cannot be attributed and are shown as null.
_DIMENSIONS: dict[str, tuple[str, str | None]] = {
    "campaign": ("m.campaign", "b.campaign"),
    "operator": ("m.operator", None),
    "country": ("m.country", None),
    "type": ("m.type", "b.type"),
    "parts": ("m.parts", None),
    "sender_id": ("m.sender_id", "c.sender_id"),
    "hour": ("hour(timezone($tz, m.submitted_at))", "hour(timezone($tz, b.finished_at))"),
    "date": ("timezone($tz, m.submitted_at)::date", "timezone($tz, b.finished_at)::date"),
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
    "sender_id": "Sender ID",
    "hour": "Hour of day submitted",
    "date": "Date submitted",
}

# Seconds from submission to the final delivery report. The report's time
# comes from the telco's or the web server's clock, to the second, so a
# report can appear to precede its submission by a fraction of a second:
# that is clock resolution, counted as 0.
SECONDS_TO_DLR = """
    case when m.state = 'submitted' and m.dlr_status <> 'PENDING' and m.dlr_at is not null
         then greatest(epoch(m.dlr_at) - epoch(m.submitted_at), 0) end
"""

# The campaigns asked for: the named ones, else every campaign except test sends.
CHOSEN = """
    select campaign, sender_id, created_at from ic_campaigns
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
    "dlr_seconds_median",
    "dlr_seconds_p90",
)


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

    ``by``: one of :data:`DIMENSIONS` or a list of them (``"hour"`` and
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
    of those; null when ``by`` includes operator, country or parts, which a
    request mixes, or when the gateway did not report it);
    ``dlr_seconds_median`` / ``dlr_seconds_p90``: seconds from submission to
    the final report.

    >>> from isms_campaigns import Store
    >>> delivery_summary(Store(), by=["operator", "hour"]).columns[:3]
    ['operator', 'hour', 'messages']
    """
    dims = _dimensions(by)
    params = _params(store, campaigns, since, until, time_zone)
    keys = ", ".join(f"{_DIMENSIONS[d][0]} as {d}" for d in dims)
    order = ", ".join(
        "k.first_created, k.campaign" if d == "campaign" else f"k.{d} nulls last" for d in dims
    )
    batch_dims = [_DIMENSIONS[d][1] for d in dims]
    if all(batch_dims):
        charged_cte = f"""
            , charged as (
                select {", ".join(f"{e} as {d}" for d, e in zip(dims, batch_dims, strict=True))},
                       sum(b.credits_charged)::bigint as credits_charged
                from batches b join chosen c on c.campaign = b.campaign
                where ($since::timestamptz is null or b.finished_at >= $since)
                  and ($until::timestamptz is null or b.finished_at < $until)
                group by all
            )"""
        same = " and ".join(f"g.{d} is not distinct from k.{d}" for d in dims)
        charged_join = f"left join charged g on {same}"
        charged = "g.credits_charged"
    else:
        charged_cte, charged_join, charged = "", "", "null::bigint"
    # Wilson score interval for delivered out of submitted.
    p, n, z2 = "(k.delivered / k.submitted)", "k.submitted", Z95 * Z95
    centre = f"({p} + {z2} / (2 * {n})) / (1 + {z2} / {n})"
    half = f"{Z95} / (1 + {z2} / {n}) * sqrt({p} * (1 - {p}) / {n} + {z2} / (4 * {n} * {n}))"
    query = f"""
        with chosen as ({CHOSEN}),
        chunk_done as (
            select campaign, chunk, max(finished_at) as finished_at
            from batches group by campaign, chunk
        ),
        picked as (
            select m.*, c.sender_id, c.created_at,
                   {SECONDS_TO_DLR} as dlr_seconds
            from messages m
            join chosen c on c.campaign = m.campaign
            left join chunk_done d on d.campaign = m.campaign and d.chunk = m.chunk
            where ($since::timestamptz is null
                   or coalesce(m.submitted_at, d.finished_at, c.created_at) >= $since)
              and ($until::timestamptz is null
                   or coalesce(m.submitted_at, d.finished_at, c.created_at) < $until)
        ),
        counts as (
            select {keys},
                   count(*) as messages,
                   count(*) filter (where m.state = 'planned') as planned,
                   count(*) filter (where m.state = 'skipped') as skipped,
                   count(*) filter (where m.state = 'submitted') as submitted,
                   count(*) filter (where m.state = 'failed') as failed,
                   count(*) filter (where m.state = 'unknown') as unknown,
                   count(*) filter (where m.state = 'submitted' and m.dlr_class = 'delivered')
                       as delivered,
                   count(*) filter (where m.state = 'submitted' and m.dlr_class = 'failed')
                       as undelivered,
                   count(*) filter (where m.state = 'submitted' and m.dlr_class = 'pending')
                       as pending,
                   count(*) filter (where m.state = 'submitted' and m.dlr_class = 'unknown')
                       as other_dlr,
                   count(*) filter (where m.state = 'submitted' and m.dlr_class is null)
                       as no_dlr,
                   coalesce(sum(m.credits) filter (where m.state <> 'skipped'), 0)::bigint
                       as credits_estimated,
                   coalesce(sum(m.credits) filter (where m.state = 'submitted'), 0)::bigint
                       as credits_submitted,
                   quantile_cont(m.dlr_seconds, 0.5) as dlr_seconds_median,
                   quantile_cont(m.dlr_seconds, 0.9) as dlr_seconds_p90,
                   min(m.created_at) as first_created
            from picked m
            group by all
        ){charged_cte}
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
               k.dlr_seconds_median, k.dlr_seconds_p90
        from counts k {charged_join}
        order by {order}
    """
    return _run(store, query, params)


def _run(store: Store, query: str, params: dict[str, Any]) -> pl.DataFrame:
    """``store.sql`` with the named parameters ``query`` uses (DuckDB refuses extra ones)."""
    used = set(re.findall(r"\$(\w+)", query))
    return store.sql(query, {k: v for k, v in params.items() if k in used})


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


def _dimensions(by: str | Sequence[str]) -> list[str]:
    names = [by] if isinstance(by, str) else list(by)
    if not names:
        raise ReportError(f"by is empty: give one or more of {', '.join(DIMENSIONS)}.")
    bad = [n for n in names if n not in _DIMENSIONS]
    if bad:
        raise ReportError(
            f"Cannot group by {', '.join(map(repr, bad))}: choose from {', '.join(DIMENSIONS)}."
        )
    return list(dict.fromkeys(names))  # a name given twice is one column


def _params(
    store: Store,
    campaigns: str | Sequence[str] | None,
    since: date | datetime | str | None,
    until: date | datetime | str | None,
    time_zone: str,
) -> dict[str, Any]:
    """The named query parameters every report query shares, checked."""
    zone = _zone(time_zone)
    return {
        "campaigns": _campaigns(store, campaigns),
        "since": _instant(since, zone, "since"),
        "until": _instant(until, zone, "until"),
        "tz": time_zone,
    }


def _zone(time_zone: str) -> tzinfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(
            f"Unknown time zone {time_zone!r}: use an IANA name such as 'Asia/Kuala_Lumpur' "
            f"or 'UTC'."
        ) from None


def _campaigns(store: Store, campaigns: str | Sequence[str] | None) -> list[str] | None:
    """The names asked for, each checked against the store (None: the default set)."""
    if campaigns is None:
        return None
    names = [campaigns] if isinstance(campaigns, str) else list(campaigns)
    known = store.sql("select campaign from ic_campaigns order by created_at")["campaign"].to_list()
    stored = set(known)
    missing = [n for n in names if n not in stored]
    if missing:
        shown = ", ".join(map(repr, known[:20])) + (" …" if len(known) > 20 else "")
        raise ReportError(
            f"No campaign {', '.join(map(repr, missing))} in the store; it has: "
            f"{shown or 'none yet'}."
        )
    return names


def _instant(value: date | datetime | str | None, zone: tzinfo, name: str) -> datetime | None:
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


# ---------------------------------------------------------------------------
# The HTML report
# ---------------------------------------------------------------------------

DELIVERED_NOTE = (
    "“Delivered” means the telco's SMSC acknowledged the message: its delivery report (DLR) "
    "is DELIVERED, ACCEPTED or SENT. That is the most iSMS reports; it is not proof that the "
    "handset received it. The delivery rate is delivered ÷ submitted; the interval is a "
    "Wilson 95 % interval, wide where few messages were sent. “No DLR yet” are submitted "
    "messages with no report imported yet. Operators are the numbering plan's original "
    "operators: numbers get ported."
)

# The tables of the report: (dimension, heading).
_TABLES: tuple[tuple[str, str], ...] = (
    ("campaign", "By campaign"),
    ("operator", "By original operator"),
    ("type", "By message type"),
    ("parts", "By parts per message"),
    ("date", "By date submitted"),
)


def write_report(
    store: Store,
    path: str | Path = "report.html",
    campaigns: str | Sequence[str] | None = None,
    title: str | None = None,
    *,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> Path:
    """Write one self-contained HTML file (works offline) with the tables and figures.

    plotly.js is embedded once, in the first figure. Campaigns as in
    :func:`delivery_summary`. Returns the path written.

    >>> import tempfile
    >>> from isms_campaigns import Store
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_report(Store(), Path(folder) / "report.html").name
    'report.html'
    """
    from . import plots  # here, not at the top: plots imports this module

    names = _campaigns(store, campaigns)
    zone = _zone(time_zone)
    chosen = _run(
        store,
        f"""
        select c.campaign, c.kind, c.created_at, c.template, c.sender_id
        from ic_campaigns c join ({CHOSEN}) x on x.campaign = c.campaign
        order by c.created_at
        """,
        {"campaigns": names},
    )
    now = datetime.now(UTC)
    local = now.astimezone(zone)
    heading = title or "SMS campaign report"
    parts = [
        f"<h1>{html.escape(heading)}</h1>",
        f'<p class="meta">Generated {local:%Y-%m-%d %H:%M} ({html.escape(time_zone)}), '
        f"{now:%Y-%m-%d %H:%M} UTC, from {html.escape(Path(store.path).name)}.</p>",
        f'<p class="note">{html.escape(DELIVERED_NOTE)}</p>',
    ]
    if chosen.is_empty():
        parts.append(
            '<p class="empty">No campaigns to report yet: plan and send a campaign '
            "(<code>campaign.send(gateway, store)</code>), then write the report again.</p>"
        )
    else:
        section, summaries = _campaign_section(store, chosen, names, time_zone)
        parts += section
        figures = [  # the summaries of the tables serve the figures drawn from them too
            plots.status_figure(summaries["campaign"]),
            plots.rate_figure(summaries["operator"], "operator"),
            plots.delivery_rate(store, by="hour", campaigns=names, time_zone=time_zone),
            plots.time_to_dlr(store, campaigns=names),
            plots.dlr_arrivals(store, campaigns=names, time_zone=time_zone),
            plots.credits_figure(summaries["campaign"]),
            plots.failure_codes(store, campaigns=names),
        ]
        parts.append("<h2>Figures</h2>")
        for i, fig in enumerate(figures):
            snippet = fig.to_html(
                full_html=False,
                include_plotlyjs=i == 0,  # the whole bundle once; the rest reuse it
                default_width="100%",
                default_height="460px",
                config={"displaylogo": False, "responsive": True},
            )
            parts.append(f'<div class="figure">{snippet}</div>')
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_page(heading, "\n".join(parts)), encoding="utf-8")
    return out


def _campaign_section(
    store: Store, chosen: pl.DataFrame, names: list[str] | None, time_zone: str
) -> tuple[list[str], dict[str, pl.DataFrame]]:
    """The campaigns, their tables, and the summary behind each table (by dimension)."""
    parts = ["<h2>Campaigns</h2>"]
    info = chosen.select(
        pl.col("campaign").alias("Campaign"),
        pl.col("kind").alias("Kind"),
        pl.col("created_at")
        .dt.convert_time_zone(time_zone)
        .dt.strftime("%Y-%m-%d %H:%M")
        .alias("Created"),
        pl.col("sender_id").alias("Sender ID"),
        pl.col("template").alias("Template"),
    )
    parts.append(_html_table(info))
    no_dlr = store.sql(
        """
        select campaign from messages
        where list_contains($names, campaign)
        group by campaign
        having count(*) filter (where state = 'submitted') > 0
           and count(*) filter (where dlr_class is not null) = 0
        """,
        {"names": chosen["campaign"].to_list()},
    )["campaign"]
    if no_dlr.len():
        parts.append(
            '<p class="warn">No delivery reports imported yet for '
            f"{html.escape(', '.join(no_dlr.to_list()))}: their submitted messages show as "
            "“no DLR yet”. Import the callbacks with <code>store.import_dlr(…)</code> or "
            "<code>isms-campaigns import-dlr</code>.</p>"
        )
    summaries = {}
    for dim, heading in _TABLES:
        summaries[dim] = delivery_summary(store, by=dim, campaigns=names, time_zone=time_zone)
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        parts.append(_html_table(_readable(summaries[dim], dim)))
    return parts, summaries


def _readable(summary: pl.DataFrame, dim: str) -> pl.DataFrame:
    """The summary as people read it: labelled, rates as percentages, seconds rounded."""

    def pct(c: str) -> pl.Expr:
        return (pl.col(c) * 100).round(1).cast(pl.String) + "%"

    label = DIMENSION_LABELS[dim]
    if dim in ("hour", "date"):
        key = pl.col(dim).cast(pl.String).fill_null("not submitted")
    else:
        key = pl.col(dim).cast(pl.String).fill_null("(none)")
    states = [
        ("skipped", "Skipped"),
        ("planned", "Planned"),
        ("unknown", "Unknown"),
        ("failed", "Rejected"),
        ("submitted", "Submitted"),
        ("delivered", "Delivered (SMSC ack.)"),
        ("undelivered", "Undelivered"),
        ("pending", "Pending"),
        ("other_dlr", "Other DLR"),
        ("no_dlr", "No DLR yet"),
    ]
    # The rarer states only where they occur: the table is wide enough.
    rare = ["planned", "unknown", "pending", "other_dlr"]
    present = summary.select(pl.col(rare).sum() > 0).row(0, named=True)
    return summary.select(
        key.alias(label),
        pl.col("messages").alias("Messages"),
        *(pl.col(c).alias(name) for c, name in states if present.get(c, True)),
        pl.when(pl.col("submitted") > 0)
        .then(pct("delivery_rate") + " (" + pct("rate_low") + "–" + pct("rate_high") + ")")
        .alias("Delivery rate (95 % CI)"),
        pl.col("credits_estimated").alias("Credits est."),
        pl.col("credits_charged").alias("Credits charged"),
        pl.col("dlr_seconds_median").round(1).alias("DLR median s"),
        pl.col("dlr_seconds_p90").round(1).alias("DLR p90 s"),
    )


def _html_table(frame: pl.DataFrame) -> str:
    """A frame as an HTML table, built with polars expressions (no loop over rows)."""

    def escaped(expr: pl.Expr) -> pl.Expr:
        text = expr.cast(pl.String).fill_null("–")
        for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
            text = text.str.replace_all(char, entity, literal=True)
        return text

    if frame.is_empty():
        return '<p class="empty">No messages.</p>'
    numeric = {c for c, t in frame.schema.items() if t.is_numeric()}
    cells = [
        pl.format(
            '<td class="{}">{}</td>', pl.lit("num" if c in numeric else "txt"), escaped(pl.col(c))
        )
        for c in frame.columns
    ]
    body = frame.select(
        pl.concat_str([pl.lit("<tr>"), *cells, pl.lit("</tr>")]).str.join("")
    ).item()
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    return (
        f'<div class="table"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: .2rem; } .meta { color: #666; margin-top: 0; }
.note { background: #f1f8e9; border-left: 4px solid #2e7d32; padding: .6rem .9rem; }
.warn { background: #fff8e1; border-left: 4px solid #f9a825; padding: .6rem .9rem; }
.empty { color: #666; font-style: italic; }
.table { overflow-x: auto; margin: .5rem 0 1.5rem; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { border-bottom: 1px solid #e0e0e0; padding: .3rem .6rem; }
td { white-space: nowrap; }
th { background: #fafafa; text-align: left; } td.num { text-align: right; }
.figure { margin: 1rem 0 2rem; }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )

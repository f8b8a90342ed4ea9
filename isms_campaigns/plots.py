"""Delivery figures (plotly), returned not shown, so you can restyle them.

>>> from isms_campaigns import Store, plots
>>> fig = plots.delivery_rate(Store(), by="operator")
>>> fig.layout.annotations[0].text.startswith("No data yet")
True

Every figure takes the store and ``campaigns`` (a name, a list, or None for
every campaign except test sends) and has one look: the same template,
fonts and a colour per status (:data:`COLOURS`). "Delivered" is what iSMS
can report: the telco SMSC acknowledged the message (DELIVERED, ACCEPTED
or SENT), and the titles say so. With nothing to show, a figure says why
in an annotation instead of raising.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import polars as pl

from .gateway.codes import CODES, describe
from .report import (
    CHOSEN,
    DEFAULT_TIME_ZONE,
    DIMENSION_LABELS,
    SECONDS_TO_DLR,
    _dimensions,
    _params,
    _run,
    delivery_summary,
)

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "COLOURS",
    "LABELS",
    "credits",
    "credits_figure",
    "delivery_rate",
    "dlr_arrivals",
    "failure_codes",
    "rate_figure",
    "status_breakdown",
    "status_figure",
    "time_to_dlr",
]

# One colour per status class, the same in every figure.
COLOURS: dict[str, str] = {
    "delivered": "#2e7d32",  # green
    "undelivered": "#c62828",  # red
    "pending": "#f9a825",  # amber
    "other_dlr": "#8e24aa",  # purple: a DLR word outside the spec
    "no_dlr": "#9e9e9e",  # grey
    "failed": "#e65100",  # deep orange: refused by the gateway, never sent
    "unknown": "#5d4037",  # brown: may or may not have gone out
    "planned": "#90caf9",  # light blue: not sent yet
    "skipped": "#cfd8dc",  # blue grey: a problem in the plan
    "credits_estimated": "#1565c0",
    "credits_submitted": "#64b5f6",
    "credits_charged": "#00897b",
}
LABELS: dict[str, str] = {
    "delivered": "Delivered (SMSC acknowledged)",
    "undelivered": "Undelivered (DLR)",
    "pending": "Pending (DLR)",
    "other_dlr": "Other DLR status",
    "no_dlr": "Submitted, no DLR yet",
    "failed": "Rejected by the gateway",
    "unknown": "Unknown (may have gone out)",
    "planned": "Planned, not sent yet",
    "skipped": "Skipped (problem in the plan)",
    "credits_estimated": "Estimated, all sendable",
    "credits_submitted": "Estimated, submitted messages",
    "credits_charged": "Charged by the gateway",
}
# Order of the stacked segments: what reached the telco first.
_STATES = (
    "delivered",
    "undelivered",
    "pending",
    "other_dlr",
    "no_dlr",
    "unknown",
    "failed",
    "planned",
    "skipped",
)
_DELIVERED_NOTE = "delivered = the telco SMSC acknowledged it (DELIVERED / ACCEPTED / SENT)"


def status_breakdown(store: Store, campaigns: str | Sequence[str] | None = None) -> go.Figure:
    """One stacked bar per campaign: its messages by state and delivery report."""
    return status_figure(delivery_summary(store, by="campaign", campaigns=campaigns))


def status_figure(summary: pl.DataFrame) -> go.Figure:
    """:func:`status_breakdown` from a ``delivery_summary(by="campaign")`` already at hand."""
    title = "Messages per campaign, by state and delivery report"
    if summary.is_empty():
        return _no_data(title, "no campaigns in the store")
    fig = go.Figure()
    names = summary["campaign"].to_list()
    for state in _STATES:
        values = summary[state]
        if values.sum() == 0:
            continue  # a legend entry for nothing is noise
        fig.add_trace(
            go.Bar(
                name=LABELS[state],
                y=names,
                x=values.to_list(),
                orientation="h",
                marker_color=COLOURS[state],
                hovertemplate="%{y}: %{x:,} messages<extra>" + LABELS[state] + "</extra>",
            )
        )
    _style(fig, _titled(title, _DELIVERED_NOTE), x="Messages", y="Campaign")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed", type="category")  # first campaign on top
    return fig


def delivery_rate(
    store: Store,
    by: str | Sequence[str] = "operator",
    campaigns: str | Sequence[str] | None = None,
    since: date | datetime | str | None = None,
    *,
    until: date | datetime | str | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> go.Figure:
    """Delivery rate by any dimension(s), with Wilson 95 % error bars and n under each bar."""
    dims = _dimensions(by)
    summary = delivery_summary(
        store, by=dims, campaigns=campaigns, since=since, until=until, time_zone=time_zone
    )
    return rate_figure(summary, dims)


def rate_figure(summary: pl.DataFrame, by: str | Sequence[str]) -> go.Figure:
    """:func:`delivery_rate` from a ``delivery_summary(by=by)`` already at hand."""
    dims = _dimensions(by)
    label = " × ".join(DIMENSION_LABELS[d] for d in dims)
    title = f"Delivery rate by {label[0].lower()}{label[1:]}"
    summary = summary.filter(pl.col("submitted") > 0)
    if summary.is_empty():
        return _no_data(title, "no submitted messages")
    shown = summary.with_columns(
        key=pl.concat_str([_key_text(d) for d in dims], separator=" · ")
    ).with_columns(tick=pl.format("{}<br>n={}", "key", "submitted"))
    keys = shown["key"].to_list()
    delivered, submitted = int(shown["delivered"].sum()), int(shown["submitted"].sum())
    fig = go.Figure(
        go.Bar(
            x=keys,
            y=shown["delivery_rate"].to_list(),
            marker_color=COLOURS["delivered"],
            name=LABELS["delivered"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (shown["rate_high"] - shown["delivery_rate"]).to_list(),
                "arrayminus": (shown["delivery_rate"] - shown["rate_low"]).to_list(),
                "color": "#333",
                "thickness": 1.2,
            },
            customdata=shown.select("submitted", "delivered", "rate_low", "rate_high").rows(),
            hovertemplate=(
                "%{x}<br>%{y:.1%} delivered (%{customdata[1]:,} of %{customdata[0]:,})"
                "<br>95 % interval %{customdata[2]:.1%} – %{customdata[3]:.1%}<extra></extra>"
            ),
        )
    )
    _style(
        fig,
        _titled(title, f"{_DELIVERED_NOTE}; bars: Wilson 95 % interval; n = submitted"),
        x=label,
        y="Delivered ÷ submitted",
    )
    fig.update_xaxes(
        type="category",
        categoryorder="array",
        categoryarray=keys,
        tickmode="array",
        tickvals=keys,
        ticktext=shown["tick"].to_list(),
    )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    overall = delivered / submitted
    fig.add_hline(
        y=overall,
        line={"dash": "dot", "color": "#555", "width": 1},
        annotation_text=f"all: {overall:.1%} of {submitted:,}",
        annotation_position="top right",
    )
    fig.update_layout(showlegend=False)
    return fig


def time_to_dlr(store: Store, campaigns: str | Sequence[str] | None = None) -> go.Figure:
    """CDF of the time from submission to the final delivery report, per campaign."""
    title = "Time from submission to the final delivery report"
    params = _params(store, campaigns, None, None, DEFAULT_TIME_ZONE)
    steps = _run(
        store,
        f"""
        with chosen as ({CHOSEN}),
        m as (
            select m.campaign, m.state, c.created_at, {SECONDS_TO_DLR} as seconds
            from messages m join chosen c on c.campaign = m.campaign
        ),
        totals as (
            select campaign, count(*) filter (where state = 'submitted') as submitted,
                   min(created_at) as created_at
            from m group by campaign
        )
        select m.campaign, m.seconds, t.submitted,
               sum(count(*)) over (partition by m.campaign order by m.seconds)
                   / t.submitted as share
        from m join totals t on t.campaign = m.campaign
        where m.seconds is not null
        group by m.campaign, m.seconds, t.submitted, t.created_at
        order by t.created_at, m.campaign, m.seconds
        """,
        params,
    )
    if steps.is_empty():
        return _no_data(title, "no final delivery reports imported")
    longest = float(steps.select(pl.col("seconds").max()).item())
    unit, size = (
        ("seconds", 1.0) if longest < 180 else ("minutes", 60.0) if longest < 3 * 3600 else
        ("hours", 3600.0)
    )  # fmt: skip
    fig = go.Figure()
    for (campaign,), part in steps.group_by("campaign", maintain_order=True):
        # From (0, 0) to the right edge: where a curve levels off is the point.
        xs = [0.0, *(part["seconds"] / size).to_list(), longest / size]
        ys = [0.0, *part["share"].to_list(), part["share"][-1]]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=str(campaign),
                mode="lines",
                line_shape="hv",
                hovertemplate=(
                    f"%{{y:.1%}} of {part['submitted'][0]:,} submitted had a final DLR within "
                    f"%{{x:.1f}} {unit}<extra>{campaign}</extra>"
                ),
            )
        )
    _style(
        fig,
        _titled(
            title,
            "share of submitted messages with a final DLR (not PENDING) by then; "
            "a curve tops out below 100 % while reports are missing",
        ),
        x=f"Time to final DLR ({unit})",
        y="Share of submitted messages",
    )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    # A little room left of 0, so a curve rising at 0 is not hidden by the axis line.
    right = max(longest / size, 1.0) * 1.05
    fig.update_xaxes(range=[-0.02 * right, right])
    return fig


# Bucket widths (seconds) for DLR arrivals: the smallest giving <= 150 bars.
_BUCKETS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
_BUCKET_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day", 7 * 86400: "week"}


def dlr_arrivals(
    store: Store,
    campaigns: str | Sequence[str] | None = None,
    *,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> go.Figure:
    """Delivery-report events over time, stacked by status class.

    Every imported event counts (a PENDING followed by DELIVERED is two);
    an event without a time of its own is placed at its import time.
    Reports matching no message of the chosen campaigns are left out.
    """
    title = "Delivery reports received over time"
    params = _params(store, campaigns, None, None, time_zone)
    events = f"""
        with chosen as ({CHOSEN})
        select timezone($tz, coalesce(e.event_at, e.imported_at)) as reported,
               case e.dlr_class when 'failed' then 'undelivered'
                                when 'unknown' then 'other_dlr' else e.dlr_class end as class
        from dlr_events e join chosen c on c.campaign = e.campaign
    """
    span = _run(
        store,
        f"select min(reported) as first, max(reported) as last from ({events})",
        params,
    )
    first, last = span.row(0)
    if first is None:
        return _no_data(title, "no delivery reports imported")
    seconds = (last - first).total_seconds()
    bucket = next((b for b in _BUCKETS if seconds / b <= 150), _BUCKETS[-1])
    counts = _run(
        store,
        f"""
        select time_bucket(to_seconds($bucket), reported) as bucket, class, count(*) as events
        from ({events}) group by all order by bucket
        """,
        {**params, "bucket": bucket},
    )
    fig = go.Figure()
    for key in ("delivered", "undelivered", "pending", "other_dlr"):
        part = counts.filter(pl.col("class") == key)
        if part.is_empty():
            continue
        fig.add_trace(
            go.Bar(
                name=LABELS[key],
                x=part["bucket"].to_list(),
                y=part["events"].to_list(),
                marker_color=COLOURS[key],
                offset=0,  # each bar starts where its bucket starts
                width=bucket * 1000,  # milliseconds on a date axis
                hovertemplate="%{x}: %{y:,} events<extra>" + LABELS[key] + "</extra>",
            )
        )
    per = _BUCKET_NAMES.get(bucket, f"{bucket:,} s")
    _style(
        fig,
        _titled(title, f"every event imported, repeats included; one bar per {per}"),
        x=f"Time reported ({time_zone})",
        y=f"DLR events per {per}",
    )
    fig.update_layout(barmode="stack", bargap=0)
    return fig


def credits(store: Store, campaigns: str | Sequence[str] | None = None) -> go.Figure:
    """Credits per campaign: estimated (all sendable, and the submitted ones) vs charged."""
    return credits_figure(delivery_summary(store, by="campaign", campaigns=campaigns))


def credits_figure(summary: pl.DataFrame) -> go.Figure:
    """:func:`credits` from a ``delivery_summary(by="campaign")`` already at hand."""
    title = "Credits per campaign: estimated vs charged"
    if summary.is_empty():
        return _no_data(title, "no campaigns in the store")
    names = summary["campaign"].to_list()
    fig = go.Figure()
    for key in ("credits_estimated", "credits_submitted", "credits_charged"):
        values = summary[key].to_list()
        fig.add_trace(
            go.Bar(
                name=LABELS[key],
                x=names,
                y=values,
                marker_color=COLOURS[key],
                text=[None if v is not None else "not reported" for v in values]
                if key == "credits_charged"
                else None,
                hovertemplate="%{x}: %{y:,} credits<extra>" + LABELS[key] + "</extra>",
            )
        )
    _style(
        fig,
        _titled(
            title,
            "charged = what the gateway reported per request; it should equal the estimate "
            "for the submitted messages",
        ),
        x="Campaign",
        y="Credits",
    )
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    return fig


def failure_codes(store: Store, campaigns: str | Sequence[str] | None = None) -> go.Figure:
    """Why messages failed, ranked: gateway codes and undelivered or odd delivery reports."""
    title = "Why messages failed, ranked"
    params = _params(store, campaigns, None, None, DEFAULT_TIME_ZONE)
    reasons = _run(
        store,
        f"""
        with chosen as ({CHOSEN}),
        m as (select m.* from messages m join chosen c on c.campaign = m.campaign)
        select 'gateway' as source, code, null::varchar as dlr_status, count(*) as messages
        from m where state = 'failed' group by code
        union all
        select 'dlr', null, dlr_status, count(*)
        from m where state = 'submitted' and dlr_class in ('failed', 'unknown')
        group by dlr_status
        order by messages desc, code, dlr_status
        """,
        params,
    )
    if reasons.is_empty():
        return _no_data(title, "no message was rejected or reported undelivered")
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
    dlr_meaning = (
        pl.when(pl.col("dlr_status") == "UNDELIVERED")
        .then(pl.lit("the telco reported it was not delivered"))
        .otherwise(pl.lit("a delivery-report word outside the spec, kept as reported"))
    )
    shown = (
        reasons.join(table, on="code", how="left")
        .with_columns(
            meaning=pl.coalesce("meaning", pl.lit(unlisted.meaning)),
            what_to_do=pl.coalesce("what_to_do", pl.lit(unlisted.what_to_do)),
        )
        .with_columns(
            label=pl.when(pl.col("source") == "gateway")
            .then(pl.format("{} · {}", pl.col("code"), pl.col("meaning")))
            .otherwise(pl.format("DLR {} · {}", pl.col("dlr_status"), dlr_meaning)),
            what_to_do=pl.when(pl.col("source") == "gateway")
            .then(pl.col("what_to_do"))
            .otherwise(
                pl.lit(
                    "The number may be inactive, switched off or barred; "
                    "iSMS support can ask the telco why."
                )
            ),
        )
    )
    fig = go.Figure()
    for source, name, colour in (
        ("gateway", "Rejected by the gateway (not sent, not charged)", COLOURS["failed"]),
        ("dlr", "Submitted, then reported not delivered", COLOURS["undelivered"]),
    ):
        part = shown.filter(pl.col("source") == source)
        if part.is_empty():
            continue
        # An UNDELIVERED report in red, a word outside the spec in its own colour.
        colours = part.select(
            pl.when(pl.col("dlr_status").is_null() | (pl.col("dlr_status") == "UNDELIVERED"))
            .then(pl.lit(colour))
            .otherwise(pl.lit(COLOURS["other_dlr"]))
        ).to_series()
        fig.add_trace(
            go.Bar(
                name=name,
                y=part["label"].to_list(),
                x=part["messages"].to_list(),
                orientation="h",
                marker_color=colours.to_list(),
                customdata=part.select("what_to_do").rows(),
                hovertemplate="%{y}<br>%{x:,} messages<br>%{customdata[0]}<extra></extra>",
            )
        )
    _style(fig, _titled(title, "per message; codes from the iSMS documentation"), x="Messages")
    fig.update_yaxes(
        type="category",
        categoryorder="array",
        categoryarray=shown["label"].to_list(),
        autorange="reversed",  # the most common on top
        automargin=True,
    )
    fig.update_layout(barmode="stack")
    return fig


# ---------------------------------------------------------------------------
# One look
# ---------------------------------------------------------------------------


def _style(fig: go.Figure, title: str, x: str | None = None, y: str | None = None) -> go.Figure:
    """The layout every figure shares."""
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.01, "xanchor": "left"},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13},
        margin={"l": 60, "r": 30, "t": 90, "b": 60},
        # On the right, where a long legend cannot cover the title; in trace
        # order (plotly reverses it for stacked bars by default).
        legend={"traceorder": "normal"},
        hoverlabel={"namelength": -1},
    )
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return fig


def _titled(title: str, note: str) -> str:
    return f"{title}<br><sup>{note}</sup>"


def _no_data(title: str, why: str) -> go.Figure:
    """A figure that says there is nothing to show yet, and why."""
    fig = go.Figure()
    _style(fig, title)
    fig.add_annotation(
        text=f"No data yet: {why}.",
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 16, "color": "#666"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _key_text(dim: str) -> pl.Expr:
    """A dimension's values as the text on an axis."""
    col = pl.col(dim)
    if dim == "hour":
        return pl.format("{}:00", col.cast(pl.String).str.zfill(2)).fill_null("not submitted")
    if dim == "date":
        return col.cast(pl.String).fill_null("not submitted")
    if dim == "type":
        return col.replace_strict(
            {1: "1 ASCII", 2: "2 Unicode"}, default=col.cast(pl.String), return_dtype=pl.String
        ).fill_null("(none)")
    return col.cast(pl.String).fill_null("(none)")

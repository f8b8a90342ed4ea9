"""Delivery figures (plotly), returned not shown, so you can restyle them.

>>> from isms_campaigns import Store, plots
>>> fig = plots.delivery_rate(Store(), by="operator")
>>> fig.layout.annotations[0].text.startswith("No data yet")
True

Every figure comes two ways: from the store (``delivery_rate(store, by=…)``,
taking ``campaigns``: a name, a list, or None for every campaign except test
sends), or from a frame of :mod:`isms_campaigns.analytics` already at hand
(``rate_figure(summary, by)``), so a page showing a table and its figure
queries the store once. This module turns frames into figures and runs no
query itself. Every figure has one look: the same template, fonts and a
colour per status (:data:`COLOURS`). "Delivered" is what iSMS can report:
the telco SMSC acknowledged the message (DELIVERED, ACCEPTED or SENT), and
the titles say so. With nothing to show, a figure says why in an annotation
instead of raising.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import polars as pl

from .analytics import (
    DEFAULT_TIME_ZONE,
    DIMENSION_LABELS,
    STATE_WORDS,
    check_dimensions,
    delivery_summary,
    dlr_arrival_counts,
    dlr_delays,
    failure_reasons,
    group_label,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from .store import Store

__all__ = [
    "COLOURS",
    "LABELS",
    "credits",
    "credits_figure",
    "delivery_rate",
    "dlr_arrivals",
    "dlr_arrivals_figure",
    "failure_codes",
    "failure_codes_figure",
    "offline_notebook",
    "rate_figure",
    "status_breakdown",
    "status_figure",
    "time_to_dlr",
    "time_to_dlr_figure",
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
# Each state by its one word (analytics.STATE_WORDS), with a hint for a legend.
LABELS: dict[str, str] = {
    "delivered": f"{STATE_WORDS['delivered']} (SMSC acknowledged)",
    "undelivered": STATE_WORDS["undelivered"],
    "pending": STATE_WORDS["pending"],
    "other_dlr": STATE_WORDS["other_dlr"],
    "no_dlr": STATE_WORDS["no_dlr"],
    "failed": f"{STATE_WORDS['failed']} (refused by the gateway)",
    "unknown": f"{STATE_WORDS['unknown']} (may have gone out)",
    "planned": f"{STATE_WORDS['planned']} (not sent yet)",
    "skipped": f"{STATE_WORDS['skipped']} (problem in the plan)",
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
    import plotly.graph_objects as go  # lazily: see _template

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
    dims = check_dimensions(by)
    summary = delivery_summary(
        store, by=dims, campaigns=campaigns, since=since, until=until, time_zone=time_zone
    )
    return rate_figure(summary, dims)


def rate_figure(summary: pl.DataFrame, by: str | Sequence[str]) -> go.Figure:
    """:func:`delivery_rate` from a ``delivery_summary(by=by)`` already at hand."""
    import plotly.graph_objects as go  # lazily: see _template

    dims = check_dimensions(by)
    label = " × ".join(DIMENSION_LABELS[d] for d in dims)
    title = f"Delivery rate by {label[0].lower()}{label[1:]}"
    summary = summary.filter(pl.col("submitted") > 0)
    if summary.is_empty():
        return _no_data(title, "no submitted messages")
    shown = summary.with_columns(key=group_label(summary, dims)).with_columns(
        tick=pl.format("{}<br>n={}", "key", "submitted")
    )
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
    return time_to_dlr_figure(dlr_delays(store, campaigns=campaigns))


def time_to_dlr_figure(steps: pl.DataFrame) -> go.Figure:
    """:func:`time_to_dlr` from a :func:`~isms_campaigns.analytics.dlr_delays` frame."""
    import plotly.graph_objects as go  # lazily: see _template

    title = "Time from submission to the final delivery report"
    if steps.is_empty():
        return _no_data(title, "no final delivery reports imported")
    longest = float(steps.select(pl.col("seconds").max()).item())
    unit, size = (
        ("seconds", 1.0) if longest < 180 else ("minutes", 60.0) if longest < 3 * 3600 else
        ("hours", 3600.0)
    )  # fmt: skip
    traces = []
    for (campaign,), part in steps.group_by("campaign", maintain_order=True):
        # From (0, 0) to the right edge: where a curve levels off is the point.
        xs = [0.0, *(part["seconds"] / size).to_list(), longest / size]
        ys = [0.0, *part["share"].to_list(), part["share"][-1]]
        traces.append(
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
    fig = go.Figure(data=traces)  # at once: one add_trace per campaign costs ms each
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


# How a bucket width of DLR arrivals is said ("one bar per minute").
_BUCKET_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day", 7 * 86400: "week"}


def dlr_arrivals(
    store: Store,
    campaigns: str | Sequence[str] | None = None,
    *,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> go.Figure:
    """When the submitted messages got their current delivery report, stacked by class.

    Each message counts once, at its current report's time: the bars add up to
    the summary's report counts. Reports without a time of their own are left out.
    """
    counts = dlr_arrival_counts(store, campaigns=campaigns, time_zone=time_zone)
    return dlr_arrivals_figure(counts, time_zone=time_zone)


def dlr_arrivals_figure(counts: pl.DataFrame, time_zone: str = DEFAULT_TIME_ZONE) -> go.Figure:
    """:func:`dlr_arrivals` from a :func:`~isms_campaigns.analytics.dlr_arrival_counts` frame.

    ``time_zone``: the one the counts were made in (it names the time axis).
    """
    import plotly.graph_objects as go  # lazily: see _template

    title = "Delivery reports received over time"
    if counts.is_empty():
        return _no_data(title, "no delivery reports imported")
    timeless = int(counts.filter(pl.col("bucket").is_null())["messages"].sum())
    counts = counts.filter(pl.col("bucket").is_not_null())
    if counts.is_empty():
        return _no_data(title, f"the {timeless:,} delivery reports carry no time of their own")
    bucket = int(counts["bucket_seconds"][0])
    fig = go.Figure()
    for key in ("delivered", "undelivered", "pending", "other_dlr"):
        part = counts.filter(pl.col("class") == key)
        if part.is_empty():
            continue
        fig.add_trace(
            go.Bar(
                name=LABELS[key],
                x=part["bucket"].to_list(),
                y=part["messages"].to_list(),
                marker_color=COLOURS[key],
                offset=0,  # each bar starts where its bucket starts
                width=bucket * 1000,  # milliseconds on a date axis
                hovertemplate="%{x}: %{y:,} messages<extra>" + LABELS[key] + "</extra>",
            )
        )
    per = _BUCKET_NAMES.get(bucket, f"{bucket:,} s")
    _style(
        fig,
        _titled(
            title,
            f"each message once, by its current report; one bar per {per}"
            + (f"; {timeless:,} reports without a time not shown" if timeless else ""),
        ),
        x=f"Time reported ({time_zone})",
        y=f"Messages per {per}",
    )
    fig.update_layout(barmode="stack", bargap=0)
    return fig


def credits(store: Store, campaigns: str | Sequence[str] | None = None) -> go.Figure:
    """Credits per campaign: estimated (all sendable, and the submitted ones) vs charged."""
    return credits_figure(delivery_summary(store, by="campaign", campaigns=campaigns))


def credits_figure(summary: pl.DataFrame) -> go.Figure:
    """:func:`credits` from a ``delivery_summary(by="campaign")`` already at hand."""
    import plotly.graph_objects as go  # lazily: see _template

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
    return failure_codes_figure(failure_reasons(store, campaigns=campaigns))


def failure_codes_figure(reasons: pl.DataFrame) -> go.Figure:
    """:func:`failure_codes` from a :func:`~isms_campaigns.analytics.failure_reasons` frame."""
    import plotly.graph_objects as go  # lazily: see _template

    title = "Why messages failed or were not delivered, ranked"
    if reasons.is_empty():
        return _no_data(title, "no message was rejected or reported undelivered")
    shown = reasons.with_columns(
        label=pl.when(pl.col("source") == "gateway")
        .then(pl.format("{} · {}", pl.col("code"), pl.col("meaning")))
        .otherwise(pl.format("DLR {} · {}", pl.col("dlr_status"), pl.col("meaning")))
    )
    fig = go.Figure()
    for source, name, colour in (
        ("gateway", f"{LABELS['failed']}: not sent, not charged", COLOURS["failed"]),
        (
            "dlr",
            f"{STATE_WORDS['undelivered']} or {STATE_WORDS['other_dlr']}",
            COLOURS["undelivered"],
        ),
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


@cache
def _template() -> Any:
    """Fetched once: naming the template in every figure costs it a fresh lookup.

    plotly is imported on first use, here and in each figure function:
    ``import isms_campaigns`` stays light (plotly takes a second to import)."""
    import plotly.io as pio

    return pio.templates["plotly_white"]


def _style(fig: go.Figure, title: str, x: str | None = None, y: str | None = None) -> go.Figure:
    """The layout every figure shares."""
    fig.update_layout(
        template=_template(),
        title={"text": title, "x": 0.01, "xanchor": "left"},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13},
        margin={"l": 60, "r": 30, "t": 90, "b": 60},
        # Below the plot, so the plot keeps the width of a phone; in trace
        # order (plotly reverses it for stacked bars by default).
        legend={"traceorder": "normal", "orientation": "h", "x": 0, "y": -0.2, "yanchor": "top"},
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
    import plotly.graph_objects as go  # lazily: see _template

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


def offline_notebook() -> None:
    """Figures shown in this notebook from now on also keep an offline HTML copy.

    JupyterLab draws plotly's own output; an exported notebook (nbconvert,
    nbviewer) needs HTML, which plotly's renderers in JupyterLab leave out.
    This renderer adds it, plotly.js embedded once (in the next figure's
    output, 4.8 MB) and nothing loaded from the network (plotly's
    ``notebook`` renderer links MathJax from a CDN; these figures use none).
    A git host that runs no scripts (GitHub) shows no interactive figure.
    """
    import plotly.io as pio
    from plotly.io.base_renderers import NotebookRenderer

    class OfflineHtml(NotebookRenderer):  # type: ignore[misc]
        def to_mimebundle(self, fig_dict: dict[str, object]) -> dict[str, str]:
            html = pio.to_html(
                fig_dict,
                config=self.config,
                include_plotlyjs=False,  # activate() embedded it once
                include_mathjax=False,
                full_html=False,
                default_width="100%",
                default_height=525,
                validate=False,
            )
            return {"text/html": html}

    pio.renderers["isms_offline"] = OfflineHtml()
    pio.renderers.default = "plotly_mimetype+isms_offline"

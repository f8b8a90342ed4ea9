"""The self-contained HTML report: how the campaigns went, and what to do now.

On one page, for whoever has to act on it: headline cards (messages,
delivered %, undelivered, cost), why messages were skipped, who did not get
the message (the first 100, all of them in a CSV file beside the report),
the breakdowns by campaign, country and operator, type, parts and date, the
figures, and a glossary of the words used, the same words as everywhere in
the package (:data:`~isms_campaigns.analytics.STATE_WORDS`). It fits a
phone's width.

The numbers come from :mod:`isms_campaigns.analytics` (each query once: a
table and the figure drawn from it share one frame), the figures from
:mod:`isms_campaigns.plots`, the HTML from the package's one renderer.
:func:`delivery_summary`, :class:`ReportError` and the dimensions are those
of :mod:`isms_campaigns.analytics`, named here too.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import polars as pl

from . import analytics, plots
from ._html import cards_html, figure_html, frame_table, page
from .analytics import (
    DEFAULT_TIME_ZONE,
    DELIVERED_NOTE,
    DIMENSION_LABELS,
    DIMENSIONS,
    GLOSSARY,
    MIN_GROUP,
    STATE_WORDS,
    SUMMARY_COLUMNS,
    ReportError,
    breakdown,
    delivery_summary,
    readable_summary,
)
from .money import ringgit

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "DEFAULT_TIME_ZONE",
    "DELIVERED_NOTE",
    "DIMENSIONS",
    "DIMENSION_LABELS",
    "SUMMARY_COLUMNS",
    "ReportError",
    "delivery_summary",
    "write_report",
]

# The breakdowns of what was sent: (dimensions, heading).
_BREAKDOWNS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("country", "operator"), "By country and original operator"),
    (("type",), "By message type"),
    (("parts",), "By parts per message"),
    (("date",), "By date submitted"),
)
# Recipients listed on the page; the CSV beside it has them all.
LISTED = 100


def write_report(
    store: Store,
    path: str | Path = "report.html",
    campaigns: str | Sequence[str] | None = None,
    title: str | None = None,
    *,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> Path:
    """Write one self-contained HTML file (works offline) with the tables and figures.

    plotly.js is embedded once, in the first figure. The recipients who did not
    get their message (failed, undelivered, other DLR) are all written beside
    it, to ``<name>-not-delivered.csv``, which the page links. Campaigns as in
    :func:`delivery_summary`. Returns the path of the page.

    >>> import tempfile
    >>> from isms_campaigns import Store
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_report(Store(), Path(folder) / "report.html").name
    'report.html'
    """
    names = analytics.check_campaigns(store, campaigns)
    analytics.check_time_zone(time_zone)
    out = Path(path)
    now = datetime.now(UTC)
    local = now.astimezone(analytics.check_time_zone(time_zone))
    heading = title or "SMS campaign report"
    parts = [
        f"<h1>{html.escape(heading)}</h1>",
        f'<p class="meta">Generated {local:%Y-%m-%d %H:%M} ({html.escape(time_zone)}), '
        f"{now:%Y-%m-%d %H:%M} UTC, from {html.escape(Path(store.path).name)}.</p>",
    ]
    csv = out.with_name(f"{out.stem}-not-delivered.csv")
    chosen = analytics.campaign_info(store, names)
    if chosen.is_empty():
        parts.append(
            '<p class="empty">No campaigns to report yet: plan and send a campaign '
            "(<code>campaign.send(gateway, store)</code>), then write the report again.</p>"
        )
        missed = None
    else:
        # Every query once; the tables and the figures drawn from them share its frame.
        def summary(*by: str) -> pl.DataFrame:
            return delivery_summary(store, by=list(by), campaigns=names, time_zone=time_zone)

        per_campaign = summary("campaign")
        sent = {dims: breakdown(summary(*dims), dims) for dims, _ in _BREAKDOWNS}
        by_hour = breakdown(summary("hour"), "hour")
        missed = analytics.not_delivered(store, names)
        parts += _cards(per_campaign)
        no_dlr = analytics.campaigns_without_dlr(store, names)
        if no_dlr.height:
            parts.append(
                '<p class="warn">No delivery reports imported yet for '
                f"{html.escape(', '.join(no_dlr['campaign'].to_list()))}: their submitted "
                "messages show as “no DLR yet”. Import the callbacks with "
                "<code>store.import_dlr(…)</code> or <code>isms-campaigns import-dlr</code>.</p>"
            )
        parts += _campaigns(chosen, per_campaign, time_zone)
        parts += _skipped(analytics.skipped_reasons(store, names))
        parts += _not_delivered(missed, csv.name)
        parts.append("<h2>What was sent, broken down</h2>")
        parts.append(
            '<p class="muted">Skipped messages are left out (they were never sent; see '
            f"“Skipped, by reason”). Groups of fewer than {MIN_GROUP} messages are added up "
            "in one “other” row: a rate over a handful of messages says little.</p>"
        )
        for dims, title_ in _BREAKDOWNS:
            parts.append(f"<h3>{html.escape(title_)}</h3>")
            parts.append(frame_table(readable_summary(sent[dims], dims)))
        ab = breakdown(_ab_tests(store, names, time_zone), _AB, minimum=1)  # skipped left out
        if ab.height:
            parts.append("<h3>By A/B variant</h3>")
            parts.append(frame_table(readable_summary(ab, _AB)))
        figures = [
            plots.status_figure(per_campaign),
            plots.rate_figure(sent["country", "operator"], ["country", "operator"]),
            plots.rate_figure(by_hour, "hour"),
            *([plots.rate_figure(ab, _AB)] if ab.height else []),
            plots.time_to_dlr_figure(analytics.dlr_delays(store, names)),
            plots.dlr_arrivals_figure(
                analytics.dlr_arrival_counts(store, names, time_zone=time_zone), time_zone
            ),
            plots.credits_figure(per_campaign),
            plots.failure_codes_figure(analytics.failure_reasons(store, names)),
        ]
        parts.append("<h2>Figures</h2>")
        # The whole plotly.js bundle once, in the first; the rest reuse it.
        parts += [figure_html(fig, include_plotlyjs=i == 0) for i, fig in enumerate(figures)]
        parts += _glossary()
    out.parent.mkdir(parents=True, exist_ok=True)
    if missed is not None and missed.height:
        missed.write_csv(csv)
    else:
        csv.unlink(missing_ok=True)  # an earlier report's list is not this one's
    out.write_text(page(heading, "\n".join(parts)), encoding="utf-8")
    return out


_AB = ("campaign", "variant")


def _ab_tests(store: Store, names: list[str] | None, time_zone: str) -> pl.DataFrame:
    """The summary by campaign and variant of the campaigns with more than one variant."""
    summary = delivery_summary(store, by=_AB, campaigns=names, time_zone=time_zone)
    return summary.filter((pl.col("variant").is_not_null().sum() > 1).over("campaign"))


def _cards(per_campaign: pl.DataFrame) -> list[str]:
    """The headline: messages, delivered %, undelivered, cost."""
    total = per_campaign.select(pl.exclude("campaign").sum()).row(0, named=True)
    sent, delivered = total["submitted"], total["delivered"]
    rate = f"{delivered / sent:.1%}".replace("%", " %") if sent else "–"
    others = [
        f"{total[s]:,} {_lower(STATE_WORDS[s])}"
        for s in ("failed", "other_dlr", "no_dlr", "unknown", "planned")
        if total[s]
    ]
    cards = [
        (
            "messages",
            f"{total['messages']:,}",
            f"{sent:,} {_lower(STATE_WORDS['submitted'])} · {total['skipped']:,} "
            f"{_lower(STATE_WORDS['skipped'])}",
        ),
        (_lower(STATE_WORDS["delivered"]), rate, f"{delivered:,} of {sent:,} submitted"),
        (_lower(STATE_WORDS["undelivered"]), f"{total['undelivered']:,}", " · ".join(others)),
        _cost_card(per_campaign, total),
    ]
    return [
        cards_html(cards),
        '<p class="muted">The words are those of the glossary at the end: '
        '<a href="#glossary">what the words mean</a>.</p>',
    ]


def _cost_card(per_campaign: pl.DataFrame, total: dict[str, Any]) -> tuple[str, str, str]:
    """Ringgit where the store knows the price per credit, else credits and why not RM."""
    # A sum of nothing is 0 in polars: whether anything was charged is read per campaign.
    reported = per_campaign["credits_charged"].null_count() < per_campaign.height
    credits = f"{total['credits_estimated']:,} credits estimated" + (
        f" · {total['credits_charged']:,} charged" if reported else ""
    )
    unpriced = per_campaign["cost_estimated_rm"].null_count()
    if unpriced == per_campaign.height:
        return "cost: price per credit unknown", f"{total['credits_estimated']:,} credits", credits
    charged = (
        f"{ringgit(total['cost_charged_rm'])} charged" if reported else "charged: not reported"
    )
    left_out = (
        f" · {unpriced:,} campaign{'s' if unpriced > 1 else ''} without a price left out"
        if unpriced
        else ""
    )
    return (
        "cost estimated",
        ringgit(total["cost_estimated_rm"]),
        f"{charged} · {credits}{left_out}",
    )


def _campaigns(chosen: pl.DataFrame, per_campaign: pl.DataFrame, time_zone: str) -> list[str]:
    """The campaigns: what they were, then how each went."""
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
    return [
        "<h2>Campaigns</h2>",
        frame_table(readable_summary(per_campaign, "campaign")),
        "<details><summary>Templates and sender IDs</summary>",
        frame_table(info),
        "</details>",
    ]


def _skipped(reasons: pl.DataFrame) -> list[str]:
    shown = reasons.select(pl.col("problem").alias("Reason"), pl.col("messages").alias("Messages"))
    return [
        "<h2>Skipped, by reason</h2>",
        '<p class="muted">Never sent, never charged: fix these in the contact list and '
        "send a new campaign to them.</p>",
        frame_table(shown, empty="No message was skipped."),
    ]


def _not_delivered(missed: pl.DataFrame, csv_name: str) -> list[str]:
    heading = "<h2>Who did not get the message</h2>"
    if missed.is_empty():
        return [
            heading,
            '<p class="empty">Every submitted message was delivered or is '
            "still waiting for its report; none failed.</p>",
        ]
    shown = missed.head(LISTED).select(
        pl.col("campaign").alias("Campaign"),
        pl.col("dstno").alias("Number"),
        pl.col("country").alias("Country"),
        pl.col("operator").alias("Original operator"),
        pl.col("state").alias("State"),
        pl.col("reason").alias("Reason"),
    )
    first = f"the first {LISTED} of " if missed.height > LISTED else ""
    return [
        heading,
        f"<p>{first}{missed.height:,} recipients: "
        f"{html.escape(_lower(STATE_WORDS['failed']))} (refused by the gateway), "
        f"{html.escape(_lower(STATE_WORDS['undelivered']))} or "
        f"{html.escape(_lower(STATE_WORDS['other_dlr']))}. All of them, with the gateway code and "
        f'report status: <a href="{quote(csv_name)}">{html.escape(csv_name)}</a> '
        "(beside this page). A recipient a follow-up tried again is listed by that try "
        "only, if it did not get through either.</p>",
        frame_table(shown),
    ]


def _glossary() -> list[str]:
    items = "".join(
        f"<dt>{html.escape(word)}</dt><dd>{html.escape(meaning)}</dd>" for word, meaning in GLOSSARY
    )
    return ['<h2 id="glossary">What the words mean</h2>', f"<dl>{items}</dl>"]


def _lower(word: str) -> str:
    """A state's word inside a sentence: "No DLR yet" → "no DLR yet"."""
    return word[:1].lower() + word[1:]

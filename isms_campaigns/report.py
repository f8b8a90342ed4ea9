"""The self-contained HTML report: every table and figure of the store on one page.

The numbers come from :mod:`isms_campaigns.analytics` (each query once: a
table and the figure drawn from it share one frame), the figures from
:mod:`isms_campaigns.plots`. :func:`delivery_summary`, :class:`ReportError`
and the dimensions are those of :mod:`isms_campaigns.analytics`, named here
too.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from . import analytics, plots
from ._html import frame_table
from .analytics import (
    DEFAULT_TIME_ZONE,
    DELIVERED_NOTE,
    DIMENSION_LABELS,
    DIMENSIONS,
    SUMMARY_COLUMNS,
    ReportError,
    delivery_summary,
    readable_summary,
)

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
    names = analytics.check_campaigns(store, campaigns)
    zone = analytics.check_time_zone(time_zone)
    chosen = analytics.campaign_info(store, names)
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
        # Every query once; the tables and the figures drawn from them share its frame.
        summaries = {
            dim: delivery_summary(store, by=dim, campaigns=names, time_zone=time_zone)
            for dim in (*(dim for dim, _ in _TABLES), "hour")
        }
        no_dlr = analytics.campaigns_without_dlr(store, names)
        parts += _campaign_section(chosen, no_dlr, summaries, time_zone)
        ab = _ab_tests(store, names, time_zone)
        if ab.height:
            parts.append("<h3>By A/B variant</h3>")
            parts.append(frame_table(readable_summary(ab, _AB)))
        figures = [
            plots.status_figure(summaries["campaign"]),
            plots.rate_figure(summaries["operator"], "operator"),
            plots.rate_figure(summaries["hour"], "hour"),
            *([plots.rate_figure(ab, _AB)] if ab.height else []),
            plots.time_to_dlr_figure(analytics.dlr_delays(store, names)),
            plots.dlr_arrivals_figure(
                analytics.dlr_arrival_counts(store, names, time_zone=time_zone), time_zone
            ),
            plots.credits_figure(summaries["campaign"]),
            plots.failure_codes_figure(analytics.failure_reasons(store, names)),
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


_AB = ("campaign", "variant")


def _ab_tests(store: Store, names: list[str] | None, time_zone: str) -> pl.DataFrame:
    """The summary by campaign and variant of the campaigns with more than one variant."""
    summary = delivery_summary(store, by=_AB, campaigns=names, time_zone=time_zone)
    return summary.filter((pl.col("variant").is_not_null().sum() > 1).over("campaign"))


def _campaign_section(
    chosen: pl.DataFrame,
    no_dlr: pl.DataFrame,
    summaries: dict[str, pl.DataFrame],
    time_zone: str,
) -> list[str]:
    """The campaigns, a warning for those without delivery reports, and the tables."""
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
    parts.append(frame_table(info))
    if no_dlr.height:
        parts.append(
            '<p class="warn">No delivery reports imported yet for '
            f"{html.escape(', '.join(no_dlr['campaign'].to_list()))}: their submitted messages "
            "show as “no DLR yet”. Import the callbacks with <code>store.import_dlr(…)</code> or "
            "<code>isms-campaigns import-dlr</code>.</p>"
        )
    for dim, heading in _TABLES:
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        parts.append(frame_table(readable_summary(summaries[dim], dim)))
    return parts


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

"""Figures: the traces hold the numbers of the store, empty data says so, one look."""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns import plots
from isms_campaigns.gateway.codes import describe
from isms_campaigns.report import ReportError, delivery_summary

from .test_report import Built, build_store


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_store(tmp_path_factory.mktemp("plots"))


def _trace(fig: go.Figure, name: str) -> go.Bar | go.Scatter:
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def _no_data(fig: go.Figure) -> str | None:
    texts = [a.text for a in fig.layout.annotations or () if a.text.startswith("No data yet")]
    return texts[0] if texts else None


def test_status_breakdown_stacks_each_campaigns_states(built: Built) -> None:
    fig = plots.status_breakdown(built.store)
    summary = delivery_summary(built.store)
    assert fig.layout.barmode == "stack"
    order = ["delivered", "undelivered", "pending", "other_dlr", "no_dlr"]
    order += ["unknown", "failed", "planned", "skipped"]  # reached the telco first
    states = [s for s in order if summary[s].sum() > 0]  # no legend entry for nothing
    assert len(states) == 9  # the store has every one
    assert [t.name for t in fig.data] == [plots.LABELS[s] for s in states]
    for state in states:
        bar = _trace(fig, plots.LABELS[state])
        assert list(bar.y) == summary["campaign"].to_list()
        assert list(bar.x) == summary[state].to_list()
        assert bar.marker.color == plots.COLOURS[state]
    bar = _trace(fig, plots.LABELS["delivered"])
    delivered = dict(zip(bar.y, bar.x, strict=True))
    assert delivered["tiny"] == 8
    assert "SMSC" in fig.layout.title.text


def test_delivery_rate_bars_carry_the_wilson_interval_and_n(built: Built) -> None:
    fig = plots.delivery_rate(built.store, by="operator")
    summary = delivery_summary(built.store, by="operator").filter(pl.col("submitted") > 0)
    (bar,) = fig.data
    assert list(bar.x) == summary["operator"].fill_null("not known").to_list()
    assert list(bar.y) == pytest.approx(summary["delivery_rate"].to_list())
    assert bar.error_y.symmetric is False
    high = (summary["rate_high"] - summary["delivery_rate"]).to_list()
    low = (summary["delivery_rate"] - summary["rate_low"]).to_list()
    assert list(bar.error_y.array) == pytest.approx(high)
    assert list(bar.error_y.arrayminus) == pytest.approx(low)
    assert list(fig.layout.xaxis.ticktext) == [
        f"{k}<br>n={n}"
        for k, n in zip(bar.x, summary["submitted"], strict=True)  # n under each bar
    ]
    assert "original operator" in fig.layout.title.text
    assert "SMSC acknowledged" in fig.layout.title.text
    overall = int(summary["delivered"].sum()) / int(summary["submitted"].sum())
    assert fig.layout.shapes[0].y0 == pytest.approx(overall)


def test_delivery_rate_by_several_dimensions_and_since(built: Built) -> None:
    fig = plots.delivery_rate(built.store, by=["type", "campaign"], campaigns=["promo", "tiny"])
    (bar,) = fig.data
    assert set(bar.x) == {"1 ASCII · promo", "2 Unicode · promo", "1 ASCII · tiny"}
    tiny = list(bar.x).index("1 ASCII · tiny")
    assert bar.y[tiny] == pytest.approx(0.8)
    assert "type" in fig.layout.title.text.lower() and "campaign" in fig.layout.title.text.lower()
    hours = plots.delivery_rate(built.store, by="hour")
    assert all(x.endswith(":00") for x in hours.data[0].x)
    late = plots.delivery_rate(built.store, since="2999-01-01")
    assert _no_data(late) == "No data yet: no submitted messages."


def test_time_to_dlr_is_the_share_of_submitted_with_a_final_dlr(built: Built) -> None:
    fig = plots.time_to_dlr(built.store, campaigns=["reminder", "tiny"])
    unit = fig.layout.xaxis.title.text
    assert unit == "Time to final DLR (seconds)"
    line = _trace(fig, "reminder")
    finals = sorted(d for s, d in built.reminder if s not in (None, "PENDING"))
    # From the origin, a step at each (distinct) delay, level to the longest of all.
    assert list(line.x) == [0.0, *map(float, finals), float(max(finals[-1], 60))]
    assert line.y[-1] == pytest.approx(len(finals) / len(built.reminder))
    assert list(line.y) == sorted(line.y)  # a CDF never goes down
    tiny = _trace(fig, "tiny")
    assert (list(tiny.x), list(tiny.y)) == ([0.0, 60.0, line.x[-1]], [0.0, 1.0, 1.0])
    assert _no_data(plots.time_to_dlr(built.store, campaigns="quiet")) is not None


def test_dlr_arrivals_count_each_submitted_message_by_its_current_report(built: Built) -> None:
    fig = plots.dlr_arrivals(built.store)
    current = built.store.sql(
        "select dlr_class, count(*) as n from messages "
        "where campaign in (select campaign from campaigns where kind = 'campaign') "
        "and state = 'submitted' and dlr_at is not null group by dlr_class"
    )
    expected = dict(current.iter_rows())
    names = {"delivered": "delivered", "failed": "undelivered", "pending": "pending"}
    names["unknown"] = "other_dlr"
    for cls, n in expected.items():
        assert sum(_trace(fig, plots.LABELS[names[cls]]).y) == n
    assert sum(sum(t.y) for t in fig.data) == sum(expected.values())
    assert fig.layout.barmode == "stack"
    assert "Asia/Kuala_Lumpur" in fig.layout.xaxis.title.text
    assert _no_data(plots.dlr_arrivals(built.store, campaigns=["quiet", "unfunded"]))


def test_credits_estimated_vs_charged(built: Built) -> None:
    fig = plots.credits(built.store)
    summary = delivery_summary(built.store)
    for key in ("credits_estimated", "credits_submitted", "credits_charged"):
        bar = _trace(fig, plots.LABELS[key])
        assert list(bar.x) == summary["campaign"].to_list()
        assert list(bar.y) == summary[key].to_list()
    charged = _trace(fig, plots.LABELS["credits_charged"])
    texts = dict(zip(charged.x, charged.text, strict=True))
    assert texts["unfunded"] == "not reported" and texts["promo"] is None


def test_failure_codes_ranked_with_their_meaning(built: Built) -> None:
    fig = plots.failure_codes(built.store)
    gateway = _trace(fig, f"{plots.LABELS['failed']}: not sent, not charged")
    dlr = _trace(fig, "Undelivered or Other DLR")
    casino = delivery_summary(built.store, campaigns="casino").row(0, named=True)
    assert list(gateway.y) == [f"-1009 · {describe(-1009).meaning}"]
    assert list(gateway.x) == [casino["failed"]]
    counts = dict(zip(dlr.y, dlr.x, strict=True))
    totals = delivery_summary(built.store).sum()
    assert counts["DLR UNDELIVERED · the telco reported it was not delivered"] == (
        totals["undelivered"].item()
    )
    expired = [k for k in counts if k.startswith("DLR EXPIRED")]
    assert len(expired) == 1 and counts[expired[0]] == totals["other_dlr"].item()
    colours = dict(zip(dlr.y, dlr.marker.color, strict=True))
    assert colours[expired[0]] == plots.COLOURS["other_dlr"]
    assert set(colours.values()) == {plots.COLOURS["undelivered"], plots.COLOURS["other_dlr"]}
    ranked = list(fig.layout.yaxis.categoryarray)
    sizes = {**counts, **dict(zip(gateway.y, gateway.x, strict=True))}
    assert [sizes[k] for k in ranked] == sorted(sizes.values(), reverse=True)
    assert fig.layout.yaxis.autorange == "reversed"  # the largest on top
    assert "whitelist" not in str(gateway.customdata)  # -1009's own advice, not another's
    assert "Reword the message" in str(gateway.customdata)
    assert _no_data(plots.failure_codes(built.store, campaigns="tiny")) is None
    assert _no_data(plots.failure_codes(built.store, campaigns="quiet"))


EVERY: list[Callable[[ic.Store], go.Figure]] = [
    plots.status_breakdown,
    plots.delivery_rate,
    plots.time_to_dlr,
    plots.dlr_arrivals,
    plots.credits,
    plots.failure_codes,
]


@pytest.mark.parametrize("make", EVERY, ids=lambda f: f.__name__)
def test_an_empty_store_gives_a_figure_that_says_so(make: Callable[[ic.Store], go.Figure]) -> None:
    fig = make(ic.Store())
    assert isinstance(fig, go.Figure) and not fig.data
    assert _no_data(fig)
    assert fig.layout.title.text  # still says what it would show


def test_one_look_for_every_figure(built: Built) -> None:
    figures = [make(built.store) for make in EVERY] + [plots._no_data("t", "why")]
    assert {f.layout.font.family for f in figures} == {figures[0].layout.font.family}
    assert {f.layout.template.layout.paper_bgcolor for f in figures} == {"white"}
    assert {f.layout.legend.traceorder for f in figures} == {"normal"}


def test_bad_input_raises_before_drawing(built: Built) -> None:
    with pytest.raises(ReportError, match="'telco'"):
        plots.delivery_rate(built.store, by="telco")
    for make in EVERY:
        with pytest.raises(ReportError, match="'nope'"):
            make(built.store, campaigns="nope")  # type: ignore[call-arg]


def test_figures_are_returned_not_shown(built: Built) -> None:
    fig = plots.delivery_rate(built.store, by="type")
    fig.update_layout(title_text="Mine")  # users restyle what they get
    assert fig.layout.title.text == "Mine"
    html = fig.to_html(include_plotlyjs=False)
    assert "Mine" in html

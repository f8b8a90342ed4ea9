"""Analytics in one place: the queries live in analytics, figures and pages draw frames.

Checked here: plots and report run no SQL of their own; no module imports
another's private names and the package has no import cycle; the report and
a Dashboard redraw run each query once; a figure drawn from the store is the
one drawn from the frame; the frames of analytics say what they hold.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any, cast

import plotly.graph_objects as go
import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns import analytics, plots, report
from isms_campaigns.gateway.codes import describe

from .test_report import Built, build_store

PACKAGE = Path(ic.__file__).parent


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_store(tmp_path_factory.mktemp("analytics"))


class CountingStore:
    """A store that counts the queries run through it (and through its cursors)."""

    def __init__(self, store: ic.Store, queries: Counter[str] | None = None) -> None:
        self.store = store
        self.queries: Counter[str] = Counter() if queries is None else queries

    @property
    def path(self) -> str:
        return self.store.path

    def sql(self, query: str, params: Any = None) -> pl.DataFrame:
        self.queries[" ".join(query.split())] += 1
        return self.store.sql(query, params)

    def cursor(self) -> CountingStore:
        return CountingStore(self.store.cursor(), self.queries)

    def data_version(self) -> tuple[int, ...]:
        return self.store.data_version()

    def close(self) -> None:
        self.store.close()


def counting(store: ic.Store) -> tuple[ic.Store, Counter[str]]:
    wrapped = CountingStore(store)
    return cast(ic.Store, wrapped), wrapped.queries


def is_name_check(query: str) -> bool:
    """The query that checks the campaign names asked for (it reads no message)."""
    return query == "select campaign, kind, created_at from ic_campaigns order by created_at"


# ---------------------------------------------------------------------------
# Where the SQL is, and who imports what
# ---------------------------------------------------------------------------

SQL = re.compile(
    r"\.sql\(|duckdb|\bic_[a-z]+|\$[a-z]+"
    r"|(?i:\bselect\b[^\n]*\bfrom\b|\bgroup by\b|\border by\b|\bjoin\b[^\n]*\bon\b)"
)


@pytest.mark.parametrize("module", [plots, report], ids=lambda m: m.__name__)
def test_plots_and_report_run_no_sql(module: Any) -> None:
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert not SQL.findall(source)
    assert "analytics" in source  # their frames come from there


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def _package(module: str) -> str:
    """The package a relative import in ``module`` starts from."""
    return module if _is_package(module) else module.rpartition(".")[0]


def _is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    base = _package(module)
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


def test_no_module_imports_another_modules_private_names() -> None:
    private = []
    for module, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                private += [
                    f"{module}: from {'.' * node.level}{node.module or ''} import {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not private


def _imports(module: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The package's modules ``module`` imports, at its top or in a function.

    Imports for type checking only are left out, and so are packages:
    importing one of their modules runs them first anyway.
    """
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and id(node) not in typing_only:
            target = _resolve(module, node)
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in found if m in known and not _is_package(m) and m != module}


def test_no_import_cycles() -> None:
    modules = _modules()
    known = set(modules)
    graph = {m: _imports(m, t, known) for m, t in modules.items() if not _is_package(m)}
    assert "isms_campaigns.report" not in graph["isms_campaigns.plots"]
    cycles = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif len(path) < len(graph):
                walk(nxt, [*path, nxt])

    for start in graph:
        walk(start, [start])
    assert not cycles


# ---------------------------------------------------------------------------
# Each query once
# ---------------------------------------------------------------------------


def test_the_report_runs_each_query_once(built: Built, tmp_path: Path) -> None:
    store, queries = counting(built.store)
    text = report.write_report(store, tmp_path / "r.html").read_text(encoding="utf-8")
    assert text.count('class="plotly-graph-div') == 7
    # Campaigns, 7 summaries (5 tables, by hour, by campaign and A/B variant), no-DLR,
    # delays, 2 for arrivals, failures, skipped reasons, recipients not delivered.
    assert len(queries) == 15
    assert set(queries.values()) == {1}


def test_the_report_of_named_campaigns_runs_each_query_once(built: Built, tmp_path: Path) -> None:
    store, queries = counting(built.store)
    report.write_report(store, tmp_path / "r.html", campaigns=["promo", "quiet"])
    shown = {q: n for q, n in queries.items() if not is_name_check(q)}
    assert len(shown) == 15 and set(shown.values()) == {1}
    # Checking the names asked for reads the list of campaigns, not the messages.
    assert sum(n for q, n in queries.items() if is_name_check(q)) >= 1


def test_the_figures_run_no_query_of_their_own(built: Built) -> None:
    frames = {
        "summary": analytics.delivery_summary(built.store),
        "delays": analytics.dlr_delays(built.store),
        "arrivals": analytics.dlr_arrival_counts(built.store),
        "reasons": analytics.failure_reasons(built.store),
    }
    store, queries = counting(built.store)
    del store  # the frame functions do not take one
    figures = [
        plots.status_figure(frames["summary"]),
        plots.rate_figure(frames["summary"], "campaign"),
        plots.credits_figure(frames["summary"]),
        plots.time_to_dlr_figure(frames["delays"]),
        plots.dlr_arrivals_figure(frames["arrivals"]),
        plots.failure_codes_figure(frames["reasons"]),
    ]
    assert all(isinstance(f, go.Figure) and f.data for f in figures)
    assert not queries


def test_a_dashboard_redraw_runs_each_query_once(built: Built) -> None:
    from isms_campaigns.widgets import Dashboard

    store, queries = counting(built.store)
    dashboard = Dashboard(store, delay=3600)  # redraws only when flushed
    # Opening: the list of campaigns, then one summary serving table, status and credits.
    assert set(queries.values()) == {1}
    # summary, delays, arrivals (their span, then the counts), failures
    assert sum(_counts_messages(q) for q in queries) == 5
    # A new grouping: only the summary runs again (the other figures take no
    # grouping), once. A period: the summary, and the period's summary by
    # campaign for the status and credits figures (the DLR figures take none).
    for field, value, runs in (("by", "operator", 1), ("since", date(2000, 1, 1), 2)):
        queries.clear()
        getattr(dashboard, field).value = value
        dashboard.flush()
        assert set(queries.values()) == {1}
        assert sum(_counts_messages(q) for q in queries) == runs
    dashboard.close()


def _counts_messages(query: str) -> bool:
    """The query counts messages: from the kept tallies, or from the messages themselves."""
    return any(t in query for t in ("from messages m", "ic_tally_now", "ic_arrivals_now"))


# ---------------------------------------------------------------------------
# Store figures are frame figures
# ---------------------------------------------------------------------------


def _same(a: go.Figure, b: go.Figure) -> bool:
    return json.loads(a.to_json()) == json.loads(b.to_json())


@pytest.mark.parametrize("campaigns", [None, ["casino"], ["promo", "tiny"]])
def test_each_store_figure_is_its_frame_figure(built: Built, campaigns: list[str] | None) -> None:
    s = built.store
    summary = analytics.delivery_summary(s, campaigns=campaigns)
    by_hour = analytics.delivery_summary(s, by="hour", campaigns=campaigns, time_zone="UTC")
    pairs = [
        (plots.status_breakdown(s, campaigns), plots.status_figure(summary)),
        (plots.credits(s, campaigns), plots.credits_figure(summary)),
        (
            plots.delivery_rate(s, "hour", campaigns, time_zone="UTC"),
            plots.rate_figure(by_hour, "hour"),
        ),
        (
            plots.time_to_dlr(s, campaigns),
            plots.time_to_dlr_figure(analytics.dlr_delays(s, campaigns)),
        ),
        (
            plots.dlr_arrivals(s, campaigns, time_zone="UTC"),
            plots.dlr_arrivals_figure(
                analytics.dlr_arrival_counts(s, campaigns, time_zone="UTC"), "UTC"
            ),
        ),
        (
            plots.failure_codes(s, campaigns),
            plots.failure_codes_figure(analytics.failure_reasons(s, campaigns)),
        ),
    ]
    for from_store, from_frame in pairs:
        assert _same(from_store, from_frame)


# ---------------------------------------------------------------------------
# The frames
# ---------------------------------------------------------------------------


def test_the_list_of_campaigns_includes_test_sends(built: Built) -> None:
    listed = analytics.campaign_list(built.store)
    view = built.store.campaigns()
    assert listed["campaign"].to_list() == view["campaign"].to_list()
    assert "test" in listed["kind"].to_list()
    info = analytics.campaign_info(built.store)
    assert "test" not in info["kind"].to_list()  # the default set leaves them out
    assert info.columns == ["campaign", "kind", "created_at", "template", "sender_id"]
    assert analytics.campaign_info(built.store, "quiet")["campaign"].to_list() == ["quiet"]


def test_campaigns_without_dlr_are_those_submitted_and_never_reported(built: Built) -> None:
    summary = analytics.delivery_summary(built.store)
    silent = summary.filter((pl.col("submitted") > 0) & (pl.col("submitted") == pl.col("no_dlr")))
    found = analytics.campaigns_without_dlr(built.store)
    assert found["campaign"].to_list() == silent["campaign"].to_list() == ["quiet"]
    assert analytics.campaigns_without_dlr(built.store, "promo").is_empty()


def test_failure_reasons_say_what_each_means(built: Built) -> None:
    reasons = analytics.failure_reasons(built.store)
    assert reasons["messages"].to_list() == sorted(reasons["messages"], reverse=True)
    gateway = reasons.filter(pl.col("source") == "gateway")
    for code, meaning, what in gateway.select("code", "meaning", "what_to_do").rows():
        assert (meaning, what) == (describe(code).meaning, describe(code).what_to_do)
    dlr = reasons.filter(pl.col("source") == "dlr")
    assert set(dlr["dlr_status"]) >= {"UNDELIVERED", "EXPIRED"}
    meanings = dict(dlr.select("dlr_status", "meaning").rows())
    assert meanings["UNDELIVERED"] == "the telco reported it was not delivered"
    assert "outside the spec" in meanings["EXPIRED"]
    assert reasons.null_count().select("meaning", "what_to_do").row(0) == (0, 0)


def test_dlr_arrivals_count_each_message_once_and_add_up_to_the_summary(built: Built) -> None:
    counts = analytics.dlr_arrival_counts(built.store)
    summary = analytics.delivery_summary(built.store)
    by_class = dict(counts.group_by("class").agg(pl.col("messages").sum()).iter_rows())
    expected = {
        c: int(summary[c].sum()) for c in ("delivered", "undelivered", "pending", "other_dlr")
    }
    assert by_class == {k: v for k, v in expected.items() if v}
    timeless = built.store.sql(
        "select count(*) from messages where state = 'submitted' and dlr_status is not null "
        "and dlr_at is null "
        "and campaign in (select campaign from ic_campaigns where kind <> 'test')"
    ).item()
    assert counts.filter(pl.col("bucket").is_null())["messages"].sum() == timeless
    (bucket,) = set(counts["bucket_seconds"])
    assert bucket in analytics.ARRIVAL_BUCKETS
    assert counts["bucket"].n_unique() <= 150
    assert set(counts["class"]) <= {"delivered", "undelivered", "pending", "other_dlr"}
    empty = analytics.dlr_arrival_counts(ic.Store())
    assert empty.is_empty() and empty.columns == counts.columns


@pytest.mark.parametrize("by", ["campaign", "operator", "type", ["hour", "parts"], "date"])
def test_the_kept_tallies_give_what_counting_every_message_gives(
    built: Built, by: str | list[str]
) -> None:
    """The summaries read the kept tallies; with a period they count the messages
    themselves: the same numbers, and delay quantiles exactly as quantile_cont over
    each message's seconds to its final report."""
    store = built.store
    tallied = analytics.delivery_summary(store, by=by)
    assert tallied.equals(analytics.delivery_summary(store, by=by, since="2000-01-01"))
    keys = [by] if isinstance(by, str) else by
    if "hour" in keys or "date" in keys:
        return  # local times: the quantiles are checked by the other groupings
    final = store.sql(
        """
        select m.*, round(greatest(epoch(dlr_at) - epoch(submitted_at), 0)) as seconds
        from messages m join ic_campaigns c using (campaign)
        where c.kind <> 'test' and state = 'submitted' and dlr_status <> 'PENDING'
          and dlr_at is not null
        """
    )
    assert final.height > 40
    expected = final.group_by(keys).agg(
        median=pl.col("seconds").quantile(0.5, interpolation="linear"),
        p90=pl.col("seconds").quantile(0.9, interpolation="linear"),
    )
    got = tallied.join(expected, on=keys, how="left", nulls_equal=True)
    assert got["dlr_seconds_median"].to_list() == pytest.approx(got["median"].to_list())
    assert got["dlr_seconds_p90"].to_list() == pytest.approx(got["p90"].to_list())


def test_readable_summary_words_the_columns(built: Built) -> None:
    summary = analytics.delivery_summary(built.store, by="operator")
    shown = analytics.readable_summary(summary, "operator")
    assert shown.columns[:2] == ["Original operator", "Messages"]
    assert {"Delivery rate", "Likely range"} <= set(shown.columns)
    assert shown.height == summary.height


def test_the_old_import_paths_still_work() -> None:
    from isms_campaigns.report import (
        DEFAULT_TIME_ZONE,
        DIMENSION_LABELS,
        DIMENSIONS,
        SUMMARY_COLUMNS,
        ReportError,
        delivery_summary,
    )

    assert delivery_summary is ic.delivery_summary is analytics.delivery_summary
    assert ReportError is ic.ReportError is analytics.ReportError
    assert DEFAULT_TIME_ZONE == "Asia/Kuala_Lumpur"
    assert DIMENSIONS == analytics.DIMENSIONS and DIMENSION_LABELS is analytics.DIMENSION_LABELS
    assert SUMMARY_COLUMNS is analytics.SUMMARY_COLUMNS


def test_rates_in_percent_and_costs_in_ringgit_for_notebook_tables() -> None:
    summary = pl.DataFrame(
        {
            "delivery_rate": [0.871287, None],
            "rate_low": [0.8, None],
            "cost_estimated_rm": [12.5, None],
            "messages": [10, 0],
        }
    )
    shown = ic.analytics.rates_in_percent(summary)
    assert shown.rows() == [("87.1 %", "80.0 %", "RM 12.50", 10), (None, None, "unknown", 0)]

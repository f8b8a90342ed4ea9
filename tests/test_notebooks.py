"""Notebooks run top to bottom in a real kernel (nbclient + ipykernel)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
N = r"(\d+(?:,\d{3})*)"  # a count as the notebooks show it: 1,234


def test_notebooks_are_stored_without_outputs() -> None:
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel inherits this environment: the notebooks' temporary folders
    # land in tmp_path, and the real-account cell of 02 stays off.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("ISMS_REAL", raising=False)
    before = sorted(p.name for p in path.parent.iterdir())
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    assert sorted(p.name for p in path.parent.iterdir()) == before, "files left next to it"
    assert _html(nb), "the notebook displays nothing rich"
    CHECKS.get(path.name[:2], lambda nb: None)(nb)


# -- what each notebook must show -------------------------------------------------


def _outputs(nb: Any) -> list[Any]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def _data(nb: Any) -> list[dict[str, Any]]:
    return [out["data"] for out in _outputs(nb) if "data" in out]


def _html(nb: Any) -> list[str]:
    return [d["text/html"] for d in _data(nb) if "text/html" in d]


def _stdout(nb: Any) -> str:
    return "".join(o["text"] for o in _outputs(nb) if o["output_type"] == "stream")


def _tables(nb: Any) -> list[list[dict[str, str]]]:
    """The polars frames displayed, as rows of {column: cell text}."""
    tables = []
    for h in _html(nb):
        if 'class="dataframe"' not in h:
            continue
        head, body = h.split("<tbody>", 1)
        columns = re.findall(r"<th>(.*?)</th>", head)
        rows = []
        for row in re.findall(r"<tr>(.*?)</tr>", body):
            cells = [html.unescape(c).strip('"') for c in re.findall(r"<td>(.*?)</td>", row)]
            rows.append(dict(zip(columns, cells, strict=True)))
        tables.append(rows)
    return tables


def _table_with(nb: Any, *columns: str) -> list[dict[str, str]]:
    found = [t for t in _tables(nb) if t and set(columns) <= set(t[0])]
    assert found, f"no table with columns {columns}"
    return found[0]


def _counts(pattern: str, text: str) -> tuple[int, ...] | None:
    """The numbers a pattern's groups match in text (shown as 1,234), or None."""
    found = re.search(pattern, text)
    return tuple(int(g.replace(",", "")) for g in found.groups()) if found else None


def _percent(text: str) -> float:
    """A rate as the notebooks show it: 87.1 %."""
    assert re.fullmatch(r"\d{1,3}\.\d %", text), f"not a percentage: {text!r}"
    return float(text[:-2])


def _widget_state(nb: Any) -> dict[str, Any]:
    state: dict[str, Any] = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]
    return state["state"]


def _check_01(nb: Any) -> None:
    assert any("Campaign nov-promo" in h and "Credits per recipient" in h for h in _html(nb))
    # The compliance checks: the campaign's own, then the draft that breaks the rules.
    found = [t for t in _tables(nb) if t and {"rule", "severity", "rows"} <= set(t[0])]
    assert len(found) == 2
    assert {(r["rule"], r["severity"]) for r in found[0]} == {("phone number", "problem")}
    draft = {r["rule"]: r["severity"] for r in found[1]}
    assert draft == {"link": "problem", "phone number": "problem", "personal details": "warning"}
    # The Composer, with its template editor (the browser tests type into it).
    assert any(WIDGET in d for d in _data(nb))
    editors = [m["state"] for m in _widget_state(nb).values() if m["model_name"] == "AnyModel"]
    assert [e["value"] for e in editors] == [
        "KedaiKita: Hi %name%, your order %order_id% is ready at %outlet%."
    ]
    assert any(
        "Credits per recipient" in str(m["state"].get("value")) for m in _widget_state(nb).values()
    )


def _check_02(nb: Any) -> None:
    shown = _html(nb)
    # The dry run, then the real send: complete, as many messages as the dry
    # run showed, and the gateway charged what was estimated.
    requests, planned = next(
        c for h in shown if (c := _counts(rf"dry run: {N} requests, {N} m", h))
    )
    report = next(h for h in shown if "Send report: nov-promo</h3>" in h and "this run:" in h)
    assert re.search(r"<p[^>]*>complete</p>", report)
    run = _counts(rf"this run: {N} submitted, 0 failed, .*estimated {N} / charged {N},", report)
    assert run is not None
    submitted, estimated, charged = run
    assert submitted == planned and estimated == charged > 0
    test = next(h for h in shown if "Send report: nov-promo [test 1]</h3>" in h)
    assert ">complete</p>" in test and "2 submitted" in test  # one message of each type
    # The store: the campaign and its test send, consistent with the report.
    campaigns = {r["campaign"]: r for r in _table_with(nb, "campaign", "kind", "credits_charged")}
    promo = campaigns["nov-promo"]
    assert campaigns["nov-promo [test 1]"]["kind"] == "test"
    assert int(promo["submitted"]) == int(promo["sendable"]) == submitted
    assert int(promo["rows"]) == int(promo["sendable"]) + int(promo["skipped"])
    assert promo["failed"] == promo["unknown"] == "0"
    assert int(promo["credits_estimated"]) == int(promo["credits_charged"]) == charged
    batches = _table_with(nb, "chunk", "host", "outcome", "latency_ms")
    assert {b["outcome"] for b in batches} == {"sent"} and len(batches) == requests
    assert all(b["host"].startswith("http://127.0.0.1:") for b in batches)  # real loopback HTTP
    # The send panel sent the second campaign.
    assert any(WIDGET in d for d in _data(nb))
    vip = next(h for h in shown if "Send report: vip-preview</h3>" in h)
    assert ">complete</p>" in vip
    assert any(
        "Send report: vip-preview" in str(m["state"].get("value"))
        for m in _widget_state(nb).values()
    )
    # Delivery reports: through the receiver's spool, imported in two goes.
    imported = [c for h in shown if (c := _counts(rf"events read from .*?: {N} new", h))]
    assert len(imported) == 2 and imported[0][0] > 0  # the second: what came in since
    summary = {r["campaign"]: r for r in _table_with(nb, "campaign", "delivery_rate", "no_dlr")}
    row = summary["nov-promo"]
    parts = ("delivered", "undelivered", "pending", "no_dlr")
    assert sum(int(row[p]) for p in parts) == int(row["submitted"]) > int(row["no_dlr"])
    assert 0 < _percent(row["delivery_rate"]) <= 100 and "vip-preview" in summary
    # The password never shows; the real-account cell did nothing.
    everything = html.unescape(json.dumps([_outputs(nb), nb.metadata.get("widgets")]))
    assert "'pwd': '***'" in everything and "password=***" in everything
    assert not re.search(r"pwd\W+demo|password=\W*demo", everything)
    assert "Simulator only" in _stdout(nb)


def _check_03(nb: Any) -> None:
    shown = _html(nb)
    imported = next(h for h in shown if "Delivery reports imported" in h)
    new = _counts(rf"events read from .*?: {N} new", imported)
    assert new and new[0] > 500
    assert all(f"<td>{s}</td>" in imported for s in ("DELIVERED", "SENT", "EXPIRED", "PENDING"))
    # The summary by campaign: every submitted message in exactly one class.
    summary = {r["campaign"]: r for r in _table_with(nb, "campaign", "messages", "delivery_rate")}
    assert set(summary) == {"nov-promo", "raya-sale"}
    classes = ("delivered", "undelivered", "pending", "other_dlr", "no_dlr")
    for row in summary.values():
        assert sum(int(row[c]) for c in classes) == int(row["submitted"]) > 0
        low, rate, high = (_percent(row[c]) for c in ("rate_low", "delivery_rate", "rate_high"))
        assert low <= rate <= high
        assert row["credits_submitted"] == row["credits_charged"] != "0"
    assert int(summary["raya-sale"]["other_dlr"]) > 0  # EXPIRED, kept as reported
    assert _percent(summary["raya-sale"]["delivery_rate"]) < _percent(
        summary["nov-promo"]["delivery_rate"]
    )  # the worse mix shows
    operators = {r["operator"] for r in _table_with(nb, "operator", "delivery_rate")}
    assert {"Maxis", "Celcom", "DiGi"} <= operators
    # The figures, each with data in it.
    figures = [d[PLOTLY] for d in _data(nb) if PLOTLY in d]
    titles = [f["layout"]["title"]["text"].split("<br>")[0] for f in figures]
    assert titles == [
        "Messages per campaign, by state and delivery report",
        "Delivery rate by original operator",
        "Delivery rate by campaign × Parts per message",
        "Time from submission to the final delivery report",
        "Delivery reports received over time",
        "Credits per campaign: estimated vs charged",
        "Why messages failed or were not delivered, ranked",
    ]
    for figure, title in zip(figures, titles, strict=True):
        notes = [a.get("text", "") for a in figure["layout"].get("annotations", [])]
        assert figure["data"] and not any(n.startswith("No data") for n in notes), title
    # Each figure keeps an HTML copy for an exported notebook, plotly.js embedded
    # once before the first, nothing loaded from the network.
    pages = [d["text/html"] for d in _data(nb) if PLOTLY in d or "window.Plotly" in str(d)]
    assert len(pages) == len(figures) + 1 and "window.Plotly = Plotly" in pages[0]
    assert all("Plotly.newPlot" in p and "plotly-graph-div" in p for p in pages[1:])
    assert not any(re.search(r"<script[^>]+src=", p) for p in pages)
    assert sum("plotly.js v" in h for h in _html(nb)) == 1
    # The report file, where the notebook says it is.
    written = re.search(r"Report written to (\S+) \(", _stdout(nb))
    assert written and Path(written[1]).stat().st_size > 1_000_000  # plotly.js embedded
    # The dashboard drew its table and figures.
    assert any(WIDGET in d for d in _data(nb))
    state = _widget_state(nb).values()
    assert any("raya-sale" in str(m["state"].get("value")) for m in state)
    drawn = [
        o
        for m in state
        if m["model_name"] == "OutputModel"
        for o in m["state"].get("outputs", [])
        if PLOTLY in o.get("data", {})
    ]
    assert len(drawn) == 6


CHECKS: dict[str, Callable[[Any], None]] = {"01": _check_01, "02": _check_02, "03": _check_03}

"""The HTML pieces every ``_repr_html_``, widget and the report share.

Private to the package (the module name says so); its names are public so
that the campaign's repr, the report and the widgets render tables and
figures one way, without reaching into each other's internals.

>>> table(["credits", "rows"], [(1, 1200), (2, 3)])
'<table><tr><th>credits</th><th>rows</th></tr><tr><td class="n">1</td>...'
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from .campaign import Campaign

__all__ = ["STYLE", "campaign_cards", "cards_html", "frame_table", "table", "unicode_table"]

# The style of the notebook reprs and widgets: everything inside <div class="icamp">.
STYLE = (
    "<style>.icamp{font-family:system-ui,sans-serif;font-size:13px;line-height:1.4}"
    ".icamp h3{margin:4px 0 8px}.icamp table{border-collapse:collapse;margin:4px 12px 10px 0}"
    ".icamp td,.icamp th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;"
    "vertical-align:top}"
    ".icamp td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".icamp .big{font-size:20px;font-weight:600}.icamp .cards{display:flex;gap:18px;flex-wrap:wrap}"
    ".icamp .note{color:#8a5300}.icamp .flex{display:flex;flex-wrap:wrap;gap:8px}"
    ".icamp .msg{white-space:pre-wrap;max-width:520px}</style>"
)


def table(headers: list[str], rows: list[tuple[Any, ...]]) -> str:
    """A small table of Python rows: numbers right-aligned with thousands separators."""

    def cell(v: Any) -> str:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return f'<td class="n">{v:,}</td>'
        return f"<td>{html.escape('' if v is None else str(v))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def frame_table(frame: pl.DataFrame) -> str:
    """A frame as an HTML table, built with polars expressions (no loop over rows).

    Nulls show as ``–``; an empty frame is a line saying there are no messages.
    """

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


def cards_html(cards: list[tuple[str, str]]) -> str:
    """Big figures in a row: (label, value) each."""
    shown = "".join(f'<div><div class="big">{v}</div>{html.escape(k)}</div>' for k, v in cards)
    return f'<div class="cards">{shown}</div>'


def campaign_cards(camp: Campaign) -> list[tuple[str, str]]:
    """The headline figures of a plan: (label, value)."""
    m, ok = camp.messages, camp.sendable
    cost = "" if camp.cost is None else f" · RM {camp.cost:,.2f}"
    return [
        ("recipients", f"{m.height:,}"),
        ("sendable", f"{ok.height:,}"),
        ("skipped", f"{m.height - ok.height:,}"),
        ("credits", f"{camp.credits:,}{cost}"),
    ]


def unicode_table(chars: pl.DataFrame) -> str:
    """The first characters of :meth:`Campaign.unicode_characters`, as a table."""
    return table(["char", "rows", "ASCII twin"], [_shown(c) for c in chars.head(12).rows()])


def _shown(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A character as it can be read: invisible ones by their code point."""
    char, rows, twin = row
    name = char if char.isprintable() and not char.isspace() else f"U+{ord(char):04X}"
    return name, rows, twin

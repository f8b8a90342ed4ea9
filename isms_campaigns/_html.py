"""The one HTML renderer: every ``_repr_html_``, the widgets and the report.

Private to the package (the module name says so); its names are public so
that the reprs, the report and the widgets render tables, cards, notes and
figures one way, with one stylesheet, without reaching into each other's
internals. Everything sits inside ``<div class="icamp">``, which
:data:`STYLE` styles (the report's page adds its page rules, :func:`page`).

>>> table(["credits", "rows"], [(1, 1200), (2, 3)])
'<div class="table"><table><thead><tr><th>credits</th><th>rows</th></tr></thead><tbody>...'
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

    from .campaign import Campaign

__all__ = [
    "STYLE",
    "campaign_cards",
    "cards_html",
    "div",
    "figure_html",
    "frame_table",
    "notes_html",
    "page",
    "table",
    "unicode_table",
]

# The rules of every piece, scoped to .icamp so a notebook's own styles are untouched.
_RULES = """
.icamp{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:13px;
 line-height:1.4;color:#222}
.icamp h3{margin:4px 0 8px}
.icamp .table{overflow-x:auto;max-width:100%;margin:4px 12px 10px 0}
.icamp table{border-collapse:collapse}
.icamp td,.icamp th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;
 vertical-align:top}
.icamp th{background:#fafafa}
.icamp td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.icamp .cards{display:flex;gap:10px 18px;flex-wrap:wrap;margin:6px 0 10px}
.icamp .card{min-width:8.5em}.icamp .big{font-size:20px;font-weight:600}
.icamp .detail{color:#666;font-size:12px}
.icamp .headline{font-weight:600}.icamp .note{color:#8a5300}.icamp .muted,.icamp .empty{color:#666}
.icamp .err{color:#b00020;white-space:pre-wrap}.icamp .ok{color:#1a7f37}
.icamp .flex{display:flex;flex-wrap:wrap;gap:8px}
.icamp .msg,.icamp .pre td{white-space:pre-wrap;max-width:520px}
.icamp .bars{display:grid;grid-template-columns:auto 220px auto;gap:2px 8px;align-items:center}
.icamp .bar{background:#4c78a8;height:12px}
"""

# What the report's page adds: a readable column, bigger type, boxed notes, a
# layout that fits a 414 px phone (figures and tables never wider than it).
_PAGE_RULES = """
body{margin:0}
.icamp.page{font-size:15px;max-width:1200px;margin:1.5rem auto;padding:0 1rem;
 box-sizing:border-box}
.icamp.page h1{margin:0 0 .2rem;font-size:1.6rem}.icamp.page h2{margin:2rem 0 .5rem}
.icamp.page h3{margin:1.2rem 0 .3rem}.icamp .meta{color:#666;margin-top:0}
.icamp.page table{font-size:13px}.icamp.page td{white-space:nowrap}
.icamp.page .cards{gap:12px}
.icamp.page .card{flex:1 1 10rem;border:1px solid #e0e0e0;border-radius:6px;padding:.6rem .8rem}
.icamp.page .big{font-size:1.6rem}
.icamp .box{background:#f1f8e9;border-left:4px solid #2e7d32;padding:.6rem .9rem}
.icamp .warn{background:#fff8e1;border-left:4px solid #f9a825;padding:.6rem .9rem}
.icamp .figure{margin:.5rem 0 2rem;width:100%;max-width:100%;overflow:hidden}
.icamp .figure h3{margin-bottom:0}.icamp .figure p{margin:.2rem 0 .4rem;color:#555;font-size:13px}
.icamp dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}
.icamp dt{font-weight:600}.icamp dd{margin:0}
@media (max-width:600px){.icamp dl{grid-template-columns:1fr}.icamp dd{margin:0 0 .4rem}
 .icamp.page{padding:0 .6rem}.icamp.page .card{flex:1 1 40%}}
"""

STYLE = f"<style>{_RULES}</style>"


def div(*parts: str, kind: str = "") -> str:
    """The pieces inside the styled container (``kind``: extra classes)."""
    return f'<div class="icamp{" " + kind if kind else ""}">' + "".join(parts) + "</div>"


def page(title: str, body: str) -> str:
    """A whole self-contained HTML page: the stylesheet once, ``body`` in the container."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_RULES}{_PAGE_RULES}</style>\n</head>\n"
        f"<body>\n{div(body, kind='page')}\n</body>\n</html>\n"
    )


def table(headers: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    """Python rows as a table: :func:`frame_table` of them."""
    frame = pl.DataFrame([list(r) for r in rows], schema=list(headers), orient="row", strict=False)
    return frame_table(frame, empty="")


def frame_table(frame: pl.DataFrame, empty: str = "No messages.") -> str:
    """A frame as an HTML table, built with polars expressions (no loop over rows).

    Numbers right-aligned with thousands separators; nulls show as ``–``; an
    empty frame is the line ``empty`` (or an empty table, when ``empty`` is
    empty). Wide tables scroll inside their box, never the page.
    """
    if frame.is_empty() and empty:
        return f'<p class="empty">{html.escape(empty)}</p>'
    numeric = {c for c, t in frame.schema.items() if t.is_numeric()}
    cells = [
        pl.format(
            "<td{}>{}</td>",
            pl.lit(' class="num"' if c in numeric else ""),
            (_grouped(pl.col(c)) if c in numeric else _escaped(pl.col(c))).fill_null("–"),
        )
        for c in frame.columns
    ]
    body = frame.select(
        pl.concat_str([pl.lit("<tr>"), *cells, pl.lit("</tr>")]).str.join("")
    ).item()
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    return (
        f'<div class="table"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body or ''}</tbody></table></div>"
    )


def _escaped(expr: pl.Expr) -> pl.Expr:
    text = expr.cast(pl.String)
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        text = text.str.replace_all(char, entity, literal=True)
    return text


def _grouped(expr: pl.Expr) -> pl.Expr:
    """A number as text with thousands separators: 1234567.5 → ``1,234,567.5``."""
    text = expr.cast(pl.String)
    whole = text.str.extract(r"^(-?\d+)", 1)
    grouped = (
        whole.str.reverse()
        .str.replace_all(r"(\d{3})", "$1,")
        .str.reverse()
        .str.strip_chars_start(",")
        .str.replace("-,", "-", literal=True)
    )
    return pl.concat_str([grouped, text.str.slice(whole.str.len_chars())])


def cards_html(cards: Sequence[tuple[str, ...]]) -> str:
    """Big figures in a row: (label, value) or (label, value, detail) each."""
    shown = "".join(
        f'<div class="card"><div class="big">{html.escape(value)}</div>{html.escape(label)}'
        + (f'<div class="detail">{html.escape(rest[0])}</div>' if rest else "")
        + "</div>"
        for label, value, *rest in cards
    )
    return f'<div class="cards">{shown}</div>'


def notes_html(notes: Sequence[str], kind: str = "note") -> str:
    """Each note a paragraph of class ``kind``."""
    return "".join(f'<p class="{kind}">{html.escape(n)}</p>' for n in notes)


def figure_html(fig: Figure, *, include_plotlyjs: bool, height: int = 440) -> str:
    """A plotly figure as a responsive block: its title and note as HTML above it
    (they wrap on a phone, where a figure's own title is cut off), the figure
    filling the width. ``include_plotlyjs``: embed plotly.js (once per page)."""
    title = str(fig.layout.title.text or "")
    heading, _, note = title.partition("<br><sup>")
    fig = fig.update_layout(title=None, margin={"t": 30})
    snippet = fig.to_html(
        full_html=False,
        include_plotlyjs=include_plotlyjs,
        default_width="100%",
        default_height=f"{height}px",
        config={"displaylogo": False, "responsive": True},
    )
    note = note.removesuffix("</sup>")
    return (
        f'<div class="figure"><h3>{html.escape(heading)}</h3>'
        + (f"<p>{html.escape(note)}</p>" if note else "")
        + f"{snippet}</div>"
    )


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

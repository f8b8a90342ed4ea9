"""Templates with ``%token%`` → one message per contact, as polars expressions.

A token is ``%ident%``. The iSMS tokens ``name hpno email dob desc`` map to
contact columns (``hpno`` is the recipient's number unless mapped), and every
contact column is a token too. A lone ``%`` ("50% off") is text. A token that
is neither an iSMS token nor a column is an error that names the closest
columns, so a typo never reaches thousands of phones.

A missing value (null or blank) becomes the ``fallbacks`` value when one is
given, else what iSMS itself does: the recipient's number. Either way the row
gets a ``warning``.

The template is parsed once and turned into one ``concat_str`` expression:
no Python runs per contact.

>>> import polars as pl
>>> df = pl.DataFrame({"dstno": ["60123456789"], "name": [None], "amount": ["50"]})
>>> msg, warn, _ = render_exprs("Hi %name%, RM%amount% 50% off", df.columns, {"name": "Customer"})
>>> df.select(msg=msg, warning=finish_warnings(msg, warn)).row(0)
('Hi Customer, RM50 50% off', "%name% missing -> 'Customer'")
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import polars as pl

from .errors import TemplateError, setting, spelled

ISMS_TOKENS = ("name", "hpno", "email", "dob", "desc")
TOKEN = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")
# Tokens the gateway itself would substitute if they reached it in a message.
_GATEWAY_TOKEN = r"(?i)%(?:name|hpno|email|dob|desc)%"
CONTROL = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]"  # \t \n \r are allowed


@dataclass(frozen=True)
class Piece:
    """Literal text, or a token (``token`` set: the name between the ``%``)."""

    text: str
    token: str | None = None


def parse_template(template: str) -> list[Piece]:
    """Split a template into literal text and tokens (columns not yet bound).

    >>> [(p.text, p.token) for p in parse_template("Hi %name%, 50% off")]
    [('Hi ', None), ('%name%', 'name'), (', 50% off', None)]
    """
    pieces: list[Piece] = []
    at = 0
    for m in TOKEN.finditer(template):
        if m.start() > at:
            pieces.append(Piece(template[at : m.start()]))
        pieces.append(Piece(m.group(0), token=m.group(1)))
        at = m.end()
    if at < len(template):
        pieces.append(Piece(template[at:]))
    return pieces


def resolve_token(
    token: str, columns: Sequence[str], token_columns: Mapping[str, str] | None = None
) -> str | None:
    """The column a token reads, or None for ``hpno`` without a column (the number).

    Order: an explicit mapping, an exact column name, a unique column name
    that differs only in case, then the iSMS default for ``hpno``.
    """
    mapping = {k.lower(): v for k, v in (token_columns or {}).items()}
    if token.lower() in mapping:
        column = mapping[token.lower()]
        if column not in columns:
            raise TemplateError(
                f"{spelled('token_columns', '--token')} maps %{token}% to column {column!r}, "
                f"which the contacts do not have. Columns: {list(columns)}."
            )
        return column
    if token in columns:
        return token
    same = [c for c in columns if c.lower() == token.lower()]
    if len(same) == 1:
        return same[0]
    if len(same) > 1:
        raise TemplateError(
            f"%{token}% matches several columns {same}: rename the token to the exact "
            f"column name, or pass "
            f"{setting('token_columns', {token: '<column>'}, option=f'--token {token}=COLUMN')}."
        )
    if token.lower() == "hpno":
        return None
    names = list(dict.fromkeys([*columns, *ISMS_TOKENS]))
    close = difflib.get_close_matches(token, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join('%' + c + '%' for c in close)}?" if close else ""
    raise TemplateError(
        f"Unknown token %{token}%: it is neither a contact column nor an iSMS token "
        f"({', '.join('%' + t + '%' for t in ISMS_TOKENS)}).{hint} "
        f"Columns: {list(columns)}."
    )


def _missing(expr: pl.Expr) -> pl.Expr:
    return expr.is_null() | (expr.str.strip_chars() == "")


class Rendered(NamedTuple):
    """Expressions for one template: the message, its warning, and whether a
    control character got in (checked on the short inputs, not the long output)."""

    msg: pl.Expr
    warning: pl.Expr
    control: pl.Expr


def render_exprs(
    template: str,
    columns: Sequence[str],
    fallbacks: Mapping[str, str] | None = None,
    token_columns: Mapping[str, str] | None = None,
    number: pl.Expr | None = None,
) -> Rendered:
    """Expressions for the rendered message, its warning and a control-character flag.

    ``number`` is what iSMS puts in for a missing value and for ``%hpno%``
    without a column; by default the ``dstno`` column.
    """
    number = pl.col("dstno") if number is None else number
    fallbacks = {k.lower(): v for k, v in (fallbacks or {}).items()}
    parts: list[pl.Expr] = []
    warnings: list[pl.Expr] = []
    fixed_text = []  # the template's own text and fallbacks: checked once, here
    controls: list[pl.Expr] = []
    pieces = parse_template(template)
    for piece in pieces:
        if piece.token is None:
            parts.append(pl.lit(piece.text, pl.String))
            fixed_text.append(piece.text)
            continue
        column = resolve_token(piece.token, columns, token_columns)
        if column is None:  # %hpno% with no column: the number itself
            parts.append(number)
            continue
        value = pl.col(column).cast(pl.String)
        fallback = fallbacks.get(piece.token.lower(), fallbacks.get(column.lower()))
        if fallback is None:
            filler, note = number, f"%{piece.token}% missing -> recipient's number"
        else:
            filler, note = pl.lit(fallback, pl.String), f"%{piece.token}% missing -> {fallback!r}"
            fixed_text.append(fallback)
        parts.append(pl.when(_missing(value)).then(filler).otherwise(value))
        warnings.append(pl.when(_missing(value)).then(pl.lit(note)))
        controls.append(value.str.contains(CONTROL).fill_null(False))
    control = pl.any_horizontal(pl.lit(bool(re.search(CONTROL, "".join(fixed_text)))), *controls)
    no_warning = pl.repeat(pl.lit(None, pl.String), pl.len())
    if not any(p.token for p in pieces):  # plain text: the same for every row
        return Rendered(pl.repeat(pl.lit(template, pl.String), pl.len()), no_warning, control)
    msg = pl.concat_str(parts, ignore_nulls=True)
    if not warnings:
        return Rendered(msg, no_warning, control)
    return Rendered(msg, pl.concat_str(warnings, separator="; ", ignore_nulls=True), control)


def finish_warnings(msg: pl.Expr, warning: pl.Expr) -> pl.Expr:
    """Warnings as null-or-text, plus one for tokens iSMS would substitute again.

    A contact value that itself holds ``%name%`` would be replaced by the
    gateway from the account's own contact list.
    """
    gateway = pl.when(msg.str.contains(_GATEWAY_TOKEN)).then(
        pl.lit("message contains an iSMS token that the gateway would replace")
    )
    joined = pl.concat_str(
        [pl.when(warning != "").then(warning), gateway], separator="; ", ignore_nulls=True
    )
    return pl.when(joined != "").then(joined)


def render_reference(
    template: str,
    row: Mapping[str, object],
    fallbacks: Mapping[str, str] | None = None,
    token_columns: Mapping[str, str] | None = None,
) -> str:
    """Render one row the plain way (tests compare the vectorised path to it)."""
    fallbacks = {k.lower(): v for k, v in (fallbacks or {}).items()}
    columns = list(row)
    number = "" if row.get("dstno") is None else str(row["dstno"])
    out = []
    for piece in parse_template(template):
        if piece.token is None:
            out.append(piece.text)
            continue
        column = resolve_token(piece.token, columns, token_columns)
        if column is None:
            out.append(number)
            continue
        value = row[column]
        if value is None or not str(value).strip():
            fallback = fallbacks.get(piece.token.lower(), fallbacks.get(column.lower()))
            out.append(number if fallback is None else fallback)
        else:
            out.append(str(value))
    return "".join(out)

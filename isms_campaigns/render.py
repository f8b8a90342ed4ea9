"""Templates with ``%token%`` → one message per contact, as polars operations.

**What is a token.** A ``%…%`` span is a token when what is between the two
``%`` is a name — a letter or ``_``, then letters, digits and ``_``, words
joined by single spaces, dots or dashes, perhaps a final dot (``%name%``,
``%Order ID%``, ``%Mobile No.%``, ``%Tarikh-Lahir%``) — or is exactly a contact
column name or a ``token_columns`` key, in any case (``%名字%``). Otherwise the
first ``%`` is text and the search goes on from the second one, so a lone
``%`` stays text: ``Save 50% on %Order ID%, 20% more`` has one token. Text
that reads as ``%word word%`` is a token even when no such column exists: it
must resolve, or the template is refused (write ``50% dan 20%``, not
``50%dan 20%``).

**What a token reads.** In order: a ``token_columns`` mapping (by name, any
case), the column of that exact name, the one column equal in any case, the
one column equal once squashed (lower case, ASCII spaces and punctuation
dropped, so
``%order_id%`` reads ``Order ID``), then ``%hpno%``: the recipient's number.
Two columns that match equally well are an error, as is a name that matches
nothing; the error suggests only spellings that resolve.

**Missing values** (null, blank, NaN) become the ``fallbacks`` value when one
is given, else what iSMS itself does: the recipient's number. Either way the
row gets a ``warning``. Values become text as :mod:`isms_campaigns.formats`
says, with ``formats={token: spec}``.

**Never a wrong message.** A message that after rendering still holds a token
(a value containing ``%Order ID%`` or ``%name%``, which the gateway would
replace from its own contact list) gets a row ``problem`` and is not sent;
see :func:`leftover_problem`.

One template is turned into one ``concat_str`` over whole columns. A
``template_column`` (each row its own text) is rendered in one pass whatever
the number of distinct texts: every template is split at ``%``, the pieces
are decided as tokens or text with column operations, token pieces gather
their row's value from the referenced columns, and each row's pieces are
joined back. No Python runs per contact.

>>> import polars as pl
>>> df = pl.DataFrame({"dstno": ["60123456789"], "name": [None], "Order ID": ["A7"]})
>>> out = render(df, "Hi %name%, order %order_id%: 50% off", fallbacks={"name": "Customer"})
>>> out.row(0)
('Hi Customer, order A7: 50% off', "%name% missing -> 'Customer'", False, None)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from .errors import TemplateError, setting, spelled
from .formats import ColumnText, check_format, column_text, is_number_format, resolve_formats

ISMS_TOKENS = ("name", "hpno", "email", "dob", "desc")
# A name between two %: words of letters, digits and _, joined by one space, dot or dash.
NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:[ .\-][A-Za-z0-9_]+)*\.?"
_NAME = re.compile(NAME)
CONTROL = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]"  # \t \n \r are allowed
_SQUASH = r"[\x00-\x2F\x3A-\x40\x5B-\x60\x7B-\x7F]"  # ASCII but letters and digits
# Codes of what a token reads, besides a column's position.
NUMBER, AMBIGUOUS, UNKNOWN = -1, -2, -3
# Rows in a problem text: the columns, shortened.
_SHOW_COLUMNS = 12


@dataclass(frozen=True)
class Piece:
    """Literal text, or a token (``token`` set: the name between the ``%``)."""

    text: str
    token: str | None = None


def token_names(
    columns: Sequence[str] = (), token_columns: Mapping[str, str] | None = None
) -> frozenset[str]:
    """Lower-cased names that make a ``%…%`` span a token besides the NAME shape."""
    names = [*columns, *(token_columns or {})]
    return frozenset(n.lower() for n in names if isinstance(n, str) and n and "%" not in n)


def is_token_name(inside: str, names: frozenset[str] = frozenset()) -> bool:
    """Whether ``%inside%`` is a token (see the module's rule)."""
    return bool(_NAME.fullmatch(inside)) or inside.lower() in names


def parse_template(
    template: str,
    columns: Sequence[str] = (),
    token_columns: Mapping[str, str] | None = None,
) -> list[Piece]:
    """Split a template into literal text and tokens (not yet resolved).

    >>> [(p.text, p.token) for p in parse_template("Hi %name%, 50% off")]
    [('Hi ', None), ('%name%', 'name'), (', 50% off', None)]
    >>> [(p.text, p.token) for p in parse_template("Save 50% on %Order ID%, 20% more")]
    [('Save 50% on ', None), ('%Order ID%', 'Order ID'), (', 20% more', None)]
    """
    names = token_names(columns, token_columns)
    pieces: list[Piece] = []
    literal_from = 0  # start of the text not yet emitted
    at = template.find("%")
    while at >= 0:
        close = template.find("%", at + 1)
        if close < 0:
            break
        inside = template[at + 1 : close]
        if is_token_name(inside, names):
            if at > literal_from:
                pieces.append(Piece(template[literal_from:at]))
            pieces.append(Piece(template[at : close + 1], token=inside))
            literal_from = close + 1
            at = template.find("%", close + 1)
        else:
            at = close  # this % is text; the next one may open a token
    if literal_from < len(template):
        pieces.append(Piece(template[literal_from:]))
    return pieces


def squash(name: str) -> str:
    """Lower case, ASCII spaces and punctuation dropped: ``Order ID`` → ``orderid``."""
    return re.sub(_SQUASH, "", name.lower())


class Resolver:
    """Which column each token reads, for one set of columns and mappings."""

    def __init__(
        self, columns: Sequence[str], token_columns: Mapping[str, str] | None = None
    ) -> None:
        self.columns = list(columns)
        self.index = {c: i for i, c in enumerate(self.columns)}
        self.mapping: dict[str, str] = {}
        for key, column in (token_columns or {}).items():
            if column not in self.index:
                raise TemplateError(
                    f"{spelled('token_columns', '--token')} maps %{key}% to column {column!r}, "
                    f"which the contacts "
                    f"do not have. Columns: {self.columns}."
                )
            self.mapping[key.lower()] = column
        self.lower: dict[str, list[str]] = {}
        self.squashed: dict[str, list[str]] = {}
        for c in self.columns:
            self.lower.setdefault(c.lower(), []).append(c)
            self.squashed.setdefault(squash(c), []).append(c)
        self.names = token_names(self.columns, token_columns)

    def outcome(self, token: str) -> str | list[str] | None:
        """The column, None for the number, a list when ambiguous, "" when unknown."""
        lower = token.lower()
        if lower in self.mapping:
            return self.mapping[lower]
        if token in self.index:
            return token
        for found in (self.lower.get(lower), self.squashed.get(squash(token))):
            if found:
                return found[0] if len(found) == 1 else found
        return None if lower == "hpno" else ""

    def resolve(self, token: str) -> str | None:
        """The column a token reads, or None for ``hpno`` without a column."""
        found = self.outcome(token)
        if isinstance(found, list):
            mapping = setting(
                "token_columns", {token: "<column>"}, option=f"--token {token}=COLUMN"
            )
            raise TemplateError(
                f"%{token}% matches several columns {found}: write one of "
                f"{', '.join('%' + s + '%' for s in self._spell(found))} or pass "
                f"{mapping}."
            )
        if found == "":
            close = self.suggest(token)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise TemplateError(
                f"Unknown token %{token}%: it is neither a contact column nor an iSMS token "
                f"({', '.join('%' + t + '%' for t in ISMS_TOKENS)}).{hint} "
                f"Columns: {self.columns}."
            )
        return found

    def spellings(self) -> dict[str, str | None]:
        """A working token for each column (and mapping, and ``hpno``): spelling → column."""
        out: dict[str, str | None] = {}
        for key in self.mapping:
            if is_token_name(key, self.names):
                out[key] = self.mapping[key]
        for column in self.columns:
            for spelling in self._spell([column]):
                out.setdefault(spelling, column)
        if self.outcome("hpno") is None:
            out["hpno"] = None
        return out

    def _spell(self, columns: list[str]) -> list[str]:
        """For each column, the first of (itself, snake_case, squashed) that reads it."""
        out = []
        for column in columns:
            snake = re.sub(r"[^A-Za-z0-9]+", "_", column).strip("_").lower()
            for spelling in (column, snake, squash(column)):
                if (
                    spelling
                    and is_token_name(spelling, self.names)
                    and self.outcome(spelling) == column
                ):
                    out.append(spelling)
                    break
        return out

    def suggest(self, token: str) -> list[str]:
        """Up to three working tokens close to a misspelt one, as ``%spelling%``."""
        spellings = list(self.spellings())
        by_lower = {s.lower(): s for s in reversed(spellings)}
        close = difflib.get_close_matches(token.lower(), list(by_lower), n=3, cutoff=0.5)
        return [f"%{by_lower[c]}%" for c in close]

    def codes(self, names: pl.Series) -> pl.Series:
        """What each token name reads, vectorised: column position, NUMBER, AMBIGUOUS
        or UNKNOWN (the same order of rules as :meth:`outcome`)."""
        distinct = names.unique().to_frame("name")
        name = pl.col("name")
        lower = name.str.to_lowercase()
        squashed = lower.str.replace_all(_SQUASH, "")
        lower_one = {k: self.index[v[0]] for k, v in self.lower.items() if len(v) == 1}
        lower_many = [k for k, v in self.lower.items() if len(v) > 1]
        squash_one = {k: self.index[v[0]] for k, v in self.squashed.items() if len(v) == 1}
        squash_many = [k for k, v in self.squashed.items() if len(v) > 1]
        mapped = {k: self.index[v] for k, v in self.mapping.items()}

        def lookup(expr: pl.Expr, table: Mapping[str, int]) -> pl.Expr:
            return expr.replace_strict(table, default=None, return_dtype=pl.Int32)

        code = (
            pl.when(lower.is_in(list(mapped)))
            .then(lookup(lower, mapped))
            .when(name.is_in(self.columns))
            .then(lookup(name, self.index))
            .when(lower.is_in(lower_many))
            .then(pl.lit(AMBIGUOUS, pl.Int32))
            .when(lower.is_in(list(lower_one)))
            .then(lookup(lower, lower_one))
            .when(squashed.is_in(squash_many))
            .then(pl.lit(AMBIGUOUS, pl.Int32))
            .when(squashed.is_in(list(squash_one)))
            .then(lookup(squashed, squash_one))
            .when(lower == "hpno")
            .then(pl.lit(NUMBER, pl.Int32))
            .otherwise(pl.lit(UNKNOWN, pl.Int32))
        )
        table = distinct.with_columns(code=code)
        return names.to_frame("name").join(table, on="name", how="left", maintain_order="left")[
            "code"
        ]


def resolve_token(
    token: str, columns: Sequence[str], token_columns: Mapping[str, str] | None = None
) -> str | None:
    """The column a token reads, or None for ``hpno`` without a column (the number).

    >>> resolve_token("order_id", ["phone", "Order ID"])
    'Order ID'
    """
    return Resolver(columns, token_columns).resolve(token)


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


class _Values:
    """The referenced columns as text (formats applied), each computed once."""

    def __init__(
        self,
        frame: pl.DataFrame,
        resolver: Resolver,
        formats: Mapping[str, str] | None,
        fallbacks: Mapping[str, str] | None,
    ) -> None:
        self.frame = frame
        self.formats = resolve_formats(formats, resolver.resolve)
        self.fallbacks = {k.lower(): v for k, v in (fallbacks or {}).items()}
        self._texts: dict[str, ColumnText] = {}
        for column, (fmt, key) in self.formats.items():  # every format checked, used or not
            check_format(fmt, frame.schema[column], key, column)

    def text(self, column: str, token: str) -> ColumnText:
        if column not in self._texts:
            fmt, key = self.formats.get(column, (None, token))
            self._texts[column] = column_text(self.frame[column], fmt, key)
        return self._texts[column]

    def fallback(self, token: str, column: str) -> str | None:
        return self.fallbacks.get(token.lower(), self.fallbacks.get(column.lower()))

    def bad_problem(self, token: pl.Expr, column: str, raw: pl.Expr) -> pl.Expr:
        """``%amount% is 'abc', not a number for {:.2f}`` (raw: the value as text)."""
        fmt = self.formats[column][0]
        what = "a number" if is_number_format(fmt) else "an ISO date (1990-05-23)"
        return pl.concat_str(
            pl.lit("%"), token, pl.lit("% is '"), raw, pl.lit(f"', not {what} for {fmt}")
        )


def _missing_note(token: str, fallback: str | None) -> str:
    if fallback is None:
        return f"%{token}% missing -> recipient's number"
    return f"%{token}% missing -> {fallback!r}"


def literal_text(
    template: str, columns: Sequence[str], token_columns: Mapping[str, str] | None = None
) -> list[str]:
    """The template's own text between its tokens, as every message it renders holds it.

    >>> literal_text("Hi %name%, 50% off", ["name"])
    ['Hi ', ', 50% off']
    """
    pieces = parse_template(template, columns, token_columns)
    return [piece.text for piece in pieces if piece.token is None]


def render(
    frame: pl.DataFrame,
    template: str | None = None,
    *,
    template_column: str | None = None,
    fallbacks: Mapping[str, str] | None = None,
    token_columns: Mapping[str, str] | None = None,
    formats: Mapping[str, str] | None = None,
    number: pl.Series | None = None,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One row per row of ``frame``: ``msg``, ``warning``, ``control``, ``problem``.

    ``template`` is the text for every row, or for the rows whose
    ``template_column`` is null. ``number`` is what iSMS puts in for a missing
    value and for ``%hpno%`` without a column; by default the ``dstno``
    column. ``columns`` are the contact columns tokens may read (default: all).

    ``control`` flags a control character from the template, a fallback or a
    value. ``problem`` is a value the format could not read, and with a
    ``template_column`` also a row whose template names an unknown or
    ambiguous token: that row is not sent, the others are. A token error in
    ``template`` itself raises :class:`TemplateError`, as does a bad format
    or mapping. Text left looking like a token is checked afterwards, by
    :func:`leftover_problem`.
    """
    columns = list(frame.columns if columns is None else columns)
    if number is None:
        number = (
            frame["dstno"].cast(pl.String)
            if "dstno" in frame.columns
            else pl.repeat(None, frame.height, dtype=pl.String, eager=True)
        )
    resolver = Resolver(columns, token_columns)
    values = _Values(frame, resolver, formats, fallbacks)
    if template is None and template_column is None:
        raise TemplateError("Give a template or a template_column.")
    if template_column is None:
        assert template is not None
        return _render_one(template, frame.height, resolver, values, number)
    if template is not None:  # the default text is the caller's own: its errors raise
        for piece in parse_template(template, resolver.columns, resolver.mapping):
            column = None if piece.token is None else resolver.resolve(piece.token)
            if column is not None:
                values.text(column, piece.token or column)
    return _render_many(frame[template_column], template, resolver, values, number)


def _render_one(
    template: str, height: int, resolver: Resolver, values: _Values, number: pl.Series
) -> pl.DataFrame:
    """One template for every row: one ``concat_str`` over whole columns."""
    data: dict[str, pl.Series] = {"__number": number}
    n = pl.col("__number")
    parts: list[pl.Expr] = []
    warnings: list[pl.Expr] = []
    problems: list[pl.Expr] = []
    controls: list[pl.Expr] = []
    fixed = []  # the template's own text and fallbacks: checked once, here
    for piece in parse_template(template, resolver.columns, resolver.mapping):
        if piece.token is None:
            parts.append(pl.lit(piece.text, pl.String))
            fixed.append(piece.text)
            continue
        column = resolver.resolve(piece.token)
        if column is None:  # %hpno% with no column: the number itself
            parts.append(n)
            continue
        ct = values.text(column, piece.token)
        key = f"__{resolver.index[column]}"
        data[key + "t"], data[key + "m"] = ct.text, ct.missing
        text, missing = pl.col(key + "t"), pl.col(key + "m")
        fallback = values.fallback(piece.token, column)
        filler = n if fallback is None else pl.lit(fallback, pl.String)
        if fallback is not None:
            fixed.append(fallback)
        parts.append(pl.when(missing).then(filler).otherwise(text))
        warnings.append(pl.when(missing).then(pl.lit(_missing_note(piece.token, fallback))))
        controls.append(text.str.contains(CONTROL).fill_null(False))
        if ct.bad is not None:
            data[key + "b"] = ct.bad
            data[key + "r"] = values.frame[column].cast(pl.String)
            raw = pl.col(key + "r")
            problems.append(
                pl.when(pl.col(key + "b")).then(
                    values.bad_problem(pl.lit(piece.token), column, raw)
                )
            )
    has_control = bool(re.search(CONTROL, "".join(fixed)))
    nothing = pl.lit(None, pl.String)
    frame = pl.DataFrame(data, height=height)
    return frame.with_columns(  # with_columns: a plain text is repeated to every row
        msg=pl.concat_str(parts, ignore_nulls=True) if parts else pl.lit("", pl.String),
        warning=finish_warnings(pl.concat_str(warnings, separator="; ", ignore_nulls=True))
        if warnings
        else nothing,
        control=pl.any_horizontal(pl.lit(has_control), *controls),
        problem=pl.coalesce(problems) if problems else nothing,
    ).select(
        pl.col("msg").cast(pl.String),
        pl.col("warning").cast(pl.String),
        pl.col("control").cast(pl.Boolean),
        pl.col("problem").cast(pl.String),
    )


def _regroup(pieces: pl.Series, lens: pl.Series) -> pl.Series:
    """Pieces back into one list per row (``lens`` pieces each), zero-copy in arrow."""
    offsets = pl.concat([pl.Series([0], dtype=pl.Int64), lens.cast(pl.Int64).cum_sum()])
    views = pieces.to_arrow(compat_level=pl.CompatLevel.newest())  # string views: no copy
    out = pl.from_arrow(pa.LargeListArray.from_arrays(offsets.to_arrow(), views))
    assert isinstance(out, pl.Series)
    return out


def _per_row(height: int, rows: pl.Series, values: pl.Series) -> pl.Series:
    """A full-height column with ``values`` at ``rows`` and null elsewhere."""
    blank = pl.repeat(None, height, dtype=values.dtype, eager=True)
    return blank.scatter(rows, values) if rows.len() else blank


def _token_table(names: pl.Series, resolver: Resolver, values: _Values) -> pl.DataFrame:
    """One row per distinct token name: what it reads (``code``), its fallback,
    its missing-value note, whether the fallback holds a control character,
    and the problem of an unknown or ambiguous token."""
    table = names.unique().to_frame("name")
    table = table.with_columns(code=resolver.codes(table["name"]))
    shown = ", ".join(resolver.columns[:_SHOW_COLUMNS])
    if len(resolver.columns) > _SHOW_COLUMNS:
        shown += ", …"
    # Python once per distinct name that resolves (unknown ones share one text).
    known = table.filter(pl.col("code") >= 0)
    fallbacks = [values.fallback(name, resolver.columns[code]) for name, code in known.iter_rows()]
    known = known.with_columns(
        fallback=pl.Series(fallbacks, dtype=pl.String),
        note=pl.Series(
            [_missing_note(name, fb) for name, fb in zip(known["name"], fallbacks, strict=True)],
            dtype=pl.String,
        ),
        fb_control=pl.Series([bool(fb and re.search(CONTROL, fb)) for fb in fallbacks]),
    )
    ambiguous = table.filter(pl.col("code") == AMBIGUOUS)["name"].to_list()
    several = {
        name: f"%{name}% matches several columns {resolver.outcome(name)}" for name in ambiguous
    }
    problem = (
        pl.when(pl.col("code") == UNKNOWN)
        .then(pl.concat_str(pl.lit("unknown token %"), "name", pl.lit(f"% (columns: {shown})")))
        .when(pl.col("code") == AMBIGUOUS)
        .then(pl.col("name").replace_strict(several, default=None, return_dtype=pl.String))
    )
    return table.join(known, on=["name", "code"], how="left").with_columns(
        fb_control=pl.col("fb_control").fill_null(False), token_problem=problem
    )


def _render_many(
    templates: pl.Series,
    default: str | None,
    resolver: Resolver,
    values: _Values,
    number: pl.Series,
) -> pl.DataFrame:
    """Each row its own template, in one pass over all rows' pieces."""
    height = templates.len()
    text = templates.cast(pl.String)
    if default is not None:
        text = text.fill_null(default)
    absent = text.is_null()
    split = text.fill_null("").str.split("%")
    lens = split.list.len().cast(pl.Int64)
    starts = lens.cum_sum() - lens
    pieces = split.explode()
    # A template's k-th piece (0 < k < last) lies between its k-th and (k+1)-th %.
    # Runs of name-shaped pieces alternate token / text: the % that closes a
    # token cannot open the next one.
    first = pl.repeat(False, pieces.len(), eager=True).scatter(starts, True)
    last = pl.repeat(False, pieces.len(), eager=True).scatter(starts + lens - 1, True)
    seg = pl.DataFrame({"seg": pieces, "first": first, "last": last})
    named = pl.col("seg").str.contains(f"^(?:{NAME})$")
    odd = sorted(n for n in resolver.names if not _NAME.fullmatch(n))  # 名字, Disc (%) …
    if odd:
        named = named | pl.col("seg").str.to_lowercase().is_in(odd)
    seg = seg.with_columns(
        i=pl.int_range(pl.len(), dtype=pl.Int64),
        shaped=~pl.col("first") & ~pl.col("last") & named,
    )
    seg = seg.with_columns(
        run=pl.when(~pl.col("shaped")).then(pl.col("i")).forward_fill()
    ).with_columns(token=pl.col("shaped") & ((pl.col("i") - pl.col("run")) % 2 == 1))
    # Text after a % that is text itself keeps that %; text after a token does not.
    opened = ~pl.col("first") & ~pl.col("token") & ~pl.col("token").shift(1, fill_value=False)
    seg = seg.select("i", "seg", "token", opened=opened)

    tokens = seg.filter("token").select("i", name="seg")
    row = starts.search_sorted(tokens["i"], side="right") - 1
    tokens = tokens.with_columns(row=row.cast(pl.Int64))
    table = _token_table(tokens["name"], resolver, values)
    tokens = tokens.join(table, on="name", how="left", maintain_order="left")
    used = sorted(c for c in table["code"].to_list() if c >= 0)
    texts = {c: values.text(resolver.columns[c], resolver.columns[c]) for c in used}
    slot = {c: k for k, c in enumerate(used)}
    is_column = pl.col("code") >= 0
    if used:
        # The referenced columns end to end: row r of the k-th is at k × height + r.
        at = pl.col("code").replace_strict(slot, default=None, return_dtype=pl.Int64)
        tokens = tokens.with_columns(at=at * height + pl.col("row")).with_columns(
            value=pl.lit(pl.concat([texts[c].text for c in used])).gather("at"),
            missing=pl.lit(pl.concat([texts[c].missing for c in used])).gather("at"),
        )
    else:
        tokens = tokens.with_columns(
            at=pl.lit(None, pl.Int64), value=pl.lit(None, pl.String), missing=pl.lit(False)
        )
    missing = is_column & pl.col("missing")
    tokens = tokens.with_columns(
        piece=pl.when(missing)
        .then(pl.col("fallback"))
        .when(is_column)
        .then(pl.col("value"))
        .when(pl.col("code") != NUMBER)
        .then("%" + pl.col("name") + "%"),
        note=pl.when(missing).then(pl.col("note")),
        control=pl.col("fb_control") | pl.col("value").str.contains(CONTROL).fill_null(False),
        problem=pl.col("token_problem"),
    )
    # The recipient's number, only where it goes: %hpno% and missing values without fallback.
    wants = (pl.col("code") == NUMBER) | (missing & pl.col("fallback").is_null())
    numbered = tokens.filter(wants).select("i", piece=pl.lit(number).gather(pl.col("row")))
    if numbered.height:
        tokens = tokens.update(numbered, on="i")
    bad = [c for c in used if texts[c].bad is not None]
    if bad:
        never = pl.repeat(False, height, dtype=pl.Boolean, eager=True)
        flags = [texts[c].bad for c in used]
        all_bad = pl.concat([never if flag is None else flag for flag in flags])
        unreadable = tokens.filter(is_column).filter(
            pl.lit(all_bad).gather(pl.col("at")) & ~pl.col("missing")
        )
        raw = pl.concat([values.frame[resolver.columns[c]].cast(pl.String) for c in used])
        unreadable = unreadable.select(
            "i",
            problem=pl.coalesce(
                [
                    pl.when(pl.col("code") == c).then(
                        values.bad_problem(
                            pl.col("name"), resolver.columns[c], pl.lit(raw).gather(pl.col("at"))
                        )
                    )
                    for c in bad
                ]
            ),
        )
        tokens = tokens.update(unreadable, on="i")

    # Each row's pieces in order, joined: token pieces scattered over the text ones.
    percent = seg.filter("opened").select("i", piece="%" + pl.col("seg"))
    pieces = pieces.scatter(tokens["i"], tokens["piece"])
    if percent.height:
        pieces = pieces.scatter(percent["i"], percent["piece"])
    msg = _regroup(pieces, lens).list.join("")
    if absent.any():
        msg = pl.select(pl.when(~absent).then(msg)).to_series()

    noted = tokens.filter(pl.col("note").is_not_null())
    notes = noted.group_by("row", maintain_order=True).agg(pl.col("note").str.join("; "))
    warning = _per_row(height, notes["row"], notes["note"])
    firsts = tokens.filter(pl.col("problem").is_not_null()).unique("row", keep="first")
    problem = _per_row(height, firsts["row"], firsts["problem"])
    control = text.str.contains(CONTROL).fill_null(False)
    flagged = tokens.filter("control")["row"].unique()
    if flagged.len():
        marked = _per_row(height, flagged, pl.repeat(True, flagged.len(), eager=True))
        control = control | marked.fill_null(False)
    return pl.DataFrame({"msg": msg, "warning": warning, "control": control, "problem": problem})


# --------------------------------------------------------------------------
# After rendering
# --------------------------------------------------------------------------


def _rust_escape(text: str) -> str:
    return "".join(c if c.isalnum() or not c.isascii() else f"\\x{{{ord(c):X}}}" for c in text)


def leftover_pattern(
    columns: Sequence[str] = (), token_columns: Mapping[str, str] | None = None
) -> str:
    """A polars regex for ``%…%`` text that reads as a token (group 1: the name)."""
    extra = sorted(
        (n for n in token_names(columns, token_columns) if not _NAME.fullmatch(n)),
        key=len,
        reverse=True,
    )
    names = "".join(f"|{_rust_escape(n)}" for n in extra)
    return f"%((?:{NAME}){'|(?i:' + names[1:] + ')' if names else ''})%"


def leftover_problem(
    msg: pl.Expr, columns: Sequence[str] = (), token_columns: Mapping[str, str] | None = None
) -> pl.Expr:
    """A row problem when the rendered message still holds text that reads as a token.

    The template's own tokens are all resolved by then, so this is text from a
    value or a fallback (``%Order ID%``, ``%name%``): sending it would show the
    raw token, or let the gateway replace an iSMS token from its own contact list.

    >>> msg = pl.Series(["50% off", "Hi %NAME%", "ref %Order ID% ok"])
    >>> for problem in pl.select(leftover_problem(pl.lit(msg), ["Order ID"])).to_series():
    ...     print(problem)
    None
    iSMS token %NAME% in the message: the gateway would replace it
    unresolved token %Order ID% in the message
    """
    pattern = leftover_pattern(columns, token_columns)
    found = msg.str.extract(pattern, 0)
    gateway = found.str.to_lowercase().is_in([f"%{t}%" for t in ISMS_TOKENS])
    return (
        pl.when(found.is_null())
        .then(pl.lit(None, pl.String))
        .when(gateway)
        .then(
            pl.concat_str(
                pl.lit("iSMS token "),
                found,
                pl.lit(" in the message: the gateway would replace it"),
            )
        )
        .otherwise(pl.concat_str(pl.lit("unresolved token "), found, pl.lit(" in the message")))
    )


def finish_warnings(warning: pl.Expr) -> pl.Expr:
    """Warnings as null-or-text."""
    return pl.when(warning != "").then(warning)


# --------------------------------------------------------------------------
# The plain way, for tests
# --------------------------------------------------------------------------


def render_reference(
    template: str,
    row: Mapping[str, object],
    fallbacks: Mapping[str, str] | None = None,
    token_columns: Mapping[str, str] | None = None,
) -> str:
    """Render one row the plain way (tests compare the vectorised path to it).

    ``row`` holds each column's text (see ``formats.format_reference``) or
    values whose ``str`` is their text; None or blank is missing.
    """
    fallbacks = {k.lower(): v for k, v in (fallbacks or {}).items()}
    columns = list(row)
    number = "" if row.get("dstno") is None else str(row["dstno"])
    out = []
    for piece in parse_template(template, columns, token_columns):
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

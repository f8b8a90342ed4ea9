from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from isms_campaigns.errors import TemplateError
from isms_campaigns.formats import column_text, format_reference
from isms_campaigns.render import (
    Resolver,
    is_token_name,
    leftover_problem,
    parse_template,
    render,
    render_reference,
    resolve_token,
)


def rendered(template: str, frame: pl.DataFrame, **kw: object) -> list[tuple[str, str | None]]:
    out = render(frame, template, **kw)  # type: ignore[arg-type]
    return out.select("msg", "warning").rows()


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "dstno": ["60123456789", "60198887777"],
            "name": ["Ali", None],
            "Outlet": ["Mid Valley", "  "],
        }
    )


# -- which %…% spans are tokens ------------------------------------------------


@pytest.mark.parametrize(
    ("template", "columns", "pieces"),
    [
        ("50% off today", [], [("50% off today", None)]),
        ("%name%%name%", [], [("%name%", "name"), ("%name%", "name")]),
        ("100%% sure", [], [("100%% sure", None)]),
        ("%a b% and %x%", [], [("%a b%", "a b"), (" and ", None), ("%x%", "x")]),
        ("% a% and %x%", [], [("% a% and ", None), ("%x%", "x")]),
        ("", [], []),
        (
            "Save 50% on %Order ID%, 20% more",
            ["Order ID"],
            [("Save 50% on ", None), ("%Order ID%", "Order ID"), (", 20% more", None)],
        ),
        ("20% - 30% off", [], [("20% - 30% off", None)]),
        ("Diskaun 10%-20%!", [], [("Diskaun 10%-20%!", None)]),
        ("50%name%off", [], [("50", None), ("%name%", "name"), ("off", None)]),
        ("%x%y%z%", [], [("%x%", "x"), ("y", None), ("%z%", "z")]),
        ("Call %Mobile No.%", ["Mobile No."], [("Call ", None), ("%Mobile No.%", "Mobile No.")]),
        ("%Tarikh-Lahir%", [], [("%Tarikh-Lahir%", "Tarikh-Lahir")]),
        # Not a name, but exactly a column (any case): still a token.
        (
            "Hi %名字%, 5 %Disc. (%)%",
            ["名字"],
            [("Hi ", None), ("%名字%", "名字"), (", 5 %Disc. (%)%", None)],
        ),
        ("%  spaced %", ["  Spaced "], [("%  spaced %", "  spaced ")]),
    ],
)
def test_parse_template(
    template: str, columns: list[str], pieces: list[tuple[str, str | None]]
) -> None:
    assert [(p.text, p.token) for p in parse_template(template, columns)] == pieces


def test_any_column_name_is_a_usable_token() -> None:
    frame = pl.DataFrame(
        {
            "Mobile No.": ["0123456789"],
            "Order ID": ["A7"],
            "Tarikh Lahir": ["1990-05-23"],
            "名字": ["陈"],
        }
    )
    out = render(frame, "%名字%: order %Order ID% ready (%Mobile No.%, %tarikh lahir%)")
    assert out["msg"][0] == "陈: order A7 ready (0123456789, 1990-05-23)"
    # The case: following the old advice sent "%Order ID%" literally.
    assert render(frame, "your order %Order ID% ready")["msg"][0] == "your order A7 ready"


def test_snake_case_reads_a_column_with_spaces_when_unique() -> None:
    assert resolve_token("order_id", ["phone", "Order ID"]) == "Order ID"
    assert resolve_token("MOBILE_NO", ["Mobile No."]) == "Mobile No."
    assert resolve_token("order-id", ["order_id"]) == "order_id"
    # Exact, then any case, then squashed: the closer match wins without a doubt.
    assert resolve_token("order_id", ["order_id", "Order ID"]) == "order_id"
    with pytest.raises(TemplateError, match=r"matches several columns \['Order ID', 'Order-ID'\]"):
        resolve_token("order_id", ["Order ID", "Order-ID"])
    with pytest.raises(TemplateError, match="matches several columns"):
        resolve_token("name", ["Name", "NAME"])


def test_typo_hint_only_suggests_tokens_that_work() -> None:
    columns = ["phone", "Order ID", "Disc %", "Mobile No."]
    with pytest.raises(TemplateError) as raised:
        resolve_token("ordr_id", columns)
    hint = re.search(r"Did you mean (.*)\?", str(raised.value))
    assert hint is not None
    suggestions = re.findall(r"%[^%]+%", hint.group(1))
    assert suggestions[0] == "%Order ID%"
    frame = pl.DataFrame({c: [f"v-{c}"] for c in columns})
    for token in suggestions:  # each one, written into a template, reads its column
        assert render(frame, f"x {token} y")["msg"][0].startswith("x v-")
    # A column whose name holds a % is offered under a spelling that reads it.
    assert Resolver(columns).spellings()["disc"] == "Disc %"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(list("aB _-.%é1")), min_size=1, max_size=6),
        min_size=1,
        max_size=5,
        unique=True,
    )
)
def test_every_offered_spelling_reads_its_column(columns: list[str]) -> None:
    resolver = Resolver(columns)
    for spelling, column in resolver.spellings().items():
        pieces = parse_template(f"%{spelling}%", columns)
        assert [p.token for p in pieces] == [spelling]
        assert resolver.resolve(spelling) == column


def test_fallback_and_isms_behaviour(frame: pl.DataFrame) -> None:
    rows = rendered("Hi %name% @ %outlet%", frame, fallbacks={"name": "Customer"})
    assert rows[0] == ("Hi Ali @ Mid Valley", None)
    # No fallback for outlet: iSMS puts the recipient's number in; we warn.
    assert rows[1] == (
        "Hi Customer @ 60198887777",
        "%name% missing -> 'Customer'; %outlet% missing -> recipient's number",
    )


def test_hpno_is_the_number_unless_a_column_maps_it(frame: pl.DataFrame) -> None:
    assert rendered("%hpno%", frame)[0][0] == "60123456789"
    mapped = frame.with_columns(mobile=pl.lit("012-345 6789"))
    assert rendered("%hpno%", mapped, token_columns={"hpno": "mobile"})[0][0] == "012-345 6789"


def test_unknown_token_names_the_closest_columns(frame: pl.DataFrame) -> None:
    with pytest.raises(TemplateError, match=r"%nmae%.*Did you mean %name%"):
        render(frame, "Hi %nmae%")
    with pytest.raises(TemplateError, match=r"Unknown token %Oder ID%"):
        render(frame, "Hi %Oder ID%")  # spaced names are tokens too: never sent as text


def test_mapping_to_a_missing_column_is_an_error(frame: pl.DataFrame) -> None:
    with pytest.raises(TemplateError, match="'full_name'"):
        render(frame, "Hi %name%", token_columns={"name": "full_name"})


def test_percent_in_values_is_kept(frame: pl.DataFrame) -> None:
    odd = frame.with_columns(name=pl.lit("50%name%off"))
    assert rendered("%name%!", odd)[0][0] == "50%name%off!"


# -- text left looking like a token -------------------------------------------


def leftovers(messages: list[str], columns: list[str]) -> list[str | None]:
    return pl.select(leftover_problem(pl.lit(pl.Series(messages)), columns)).to_series().to_list()


def test_text_that_still_reads_as_a_token_is_a_problem() -> None:
    got = leftovers(
        [
            "Save 50% on A7, 20% more",
            "your order %Order ID% ready",
            "Hi %NAME%",
            "Hi %order id%",
            "50%dan 20% off",
            "%名字%",
            "100%% sure, 10%-20%",
        ],
        ["Order ID", "名字"],
    )
    assert got == [
        None,
        "unresolved token %Order ID% in the message",
        "iSMS token %NAME% in the message: the gateway would replace it",
        "unresolved token %order id% in the message",
        "unresolved token %dan 20% in the message",
        "unresolved token %名字% in the message",
        None,
    ]


# -- the vectorised renderer equals a per-row reference ----------------------

values = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(list("ab %_Z9é陈’😀\n\x07")), max_size=8),
)
COLUMNS = ["name", "email", "Order ID", "Outlet", "Mobile No."]
TOKENS = [
    "%name%",
    "%email%",
    "%Order ID%",
    "%order_id%",
    "%hpno%",
    "%NAME%",
    "%outlet%",
    "%Mobile No.%",
    "%mobile_no%",
]


@st.composite
def templates(draw: st.DrawFn, tokens: list[str] = TOKENS) -> str:
    pieces = draw(
        st.lists(
            st.one_of(
                st.text(alphabet=st.sampled_from(list("Hi, %!陈 \n5ab")), max_size=6),
                st.sampled_from(tokens),
            ),
            max_size=6,
        )
    )
    return "".join(pieces)


def contact_frame(rows: list[tuple[str | None, ...]], columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=columns, orient="row").with_columns(
        dstno=pl.lit("60123456789")
    )


@settings(max_examples=200, deadline=None)
@given(
    template=templates(),
    rows=st.lists(st.tuples(*[values] * len(COLUMNS)), min_size=1, max_size=8),
    fallback=st.one_of(st.none(), st.text(max_size=4)),
)
def test_vectorised_renderer_equals_reference(
    template: str, rows: list[tuple[str | None, ...]], fallback: str | None
) -> None:
    frame = contact_frame(rows, COLUMNS)
    fallbacks = {} if fallback is None else {"name": fallback}
    try:
        got = render(frame, template, fallbacks=fallbacks)["msg"].to_list()
    except TemplateError:
        with pytest.raises(TemplateError):
            render_reference(template, frame.row(0, named=True), fallbacks)
        return
    expected = [render_reference(template, row, fallbacks) for row in frame.iter_rows(named=True)]
    assert got == expected


# Unknown and ambiguous tokens too: with a template column they are row problems.
MANY_COLUMNS = ["name", "NAME", "email", "Order ID", "Mobile No."]
MANY_TOKENS = [*TOKENS, "%Name%", "%nope%", "%a b%", "%Order-ID%"]


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(
        st.one_of(st.none(), templates(MANY_TOKENS), st.sampled_from(["", "%", "%%", "%name"])),
        min_size=1,
        max_size=8,
    ),
    rows=st.lists(st.tuples(*[values] * len(MANY_COLUMNS)), min_size=8, max_size=8),
    default=st.one_of(st.none(), st.sampled_from(["Hi %email%", "Plain", "\x07%hpno%"])),
    fallback=st.one_of(st.none(), st.sampled_from(["there", "", "x\x07"])),
)
def test_template_column_equals_one_template_at_a_time(
    texts: list[str | None],
    rows: list[tuple[str | None, ...]],
    default: str | None,
    fallback: str | None,
) -> None:
    frame = contact_frame(rows[: len(texts)], MANY_COLUMNS).with_columns(
        text=pl.Series(texts, dtype=pl.String)
    )
    columns = [*MANY_COLUMNS, "dstno"]
    fallbacks = {} if fallback is None else {"email": fallback}
    many = render(frame, default, template_column="text", fallbacks=fallbacks, columns=columns)
    assert many.height == frame.height
    for i, text in enumerate(texts):
        template = text if text is not None else default
        got = many.row(i, named=True)
        if template is None:
            assert got["msg"] is None
            continue
        one_row = frame.slice(i, 1)
        try:
            one = render(one_row, template, fallbacks=fallbacks, columns=columns).row(0, named=True)
        except TemplateError as exc:  # the whole campaign's error is this row's problem
            assert got["problem"] is not None, (template, str(exc))
            token = re.search(r"%[^%]*%", str(exc))
            assert token is not None and token.group(0) in got["problem"]
            continue
        assert got == one, template
        reference = render_reference(template, one_row.row(0, named=True), fallbacks)
        assert got["msg"] == reference


def test_template_column_of_distinct_texts_is_one_pass() -> None:
    import time as clock

    n = 20_000
    frame = pl.DataFrame(
        {
            "dstno": [f"6012{i:07d}" for i in range(n)],
            "name": [f"N{i}" for i in range(n)],
            "text": [
                f"Hi %name%, code {i} %nope{i % 3}%" if i % 1000 == 0 else f"Hi %name%, code {i}"
                for i in range(n)
            ],
        }
    )
    start = clock.perf_counter()
    out = render(frame, template_column="text")
    assert clock.perf_counter() - start < 5  # was quadratic: minutes for a few thousand
    assert out["msg"][1] == "Hi N1, code 1"
    assert out["problem"].drop_nulls().len() == n // 1000
    assert out["problem"][1000].startswith("unknown token %nope1% (columns: dstno, name, text)")


def test_control_characters_are_flagged_from_inputs(frame: pl.DataFrame) -> None:
    bell = frame.with_columns(name=pl.Series(["A\x07li", "ok"]))
    assert render(bell, "Hi %name%")["control"].to_list() == [True, False]
    assert render(frame, "Hi\x00 %name%")["control"].to_list() == [True, True]
    assert render(frame, "Hi\t%name%\r\n")["control"].to_list() == [False, False]


# -- values as text: the default and formats= ---------------------------------


def test_excel_dates_and_floats_render_as_shown() -> None:
    frame = pl.DataFrame(
        {
            "dob": [datetime(1990, 5, 23), datetime(1988, 1, 2)],  # pl.read_excel's date cells
            "when": [datetime(2026, 1, 2, 9, 30), datetime(2026, 1, 3)],
            "day": [date(1990, 5, 23), None],
            "amount": [49.9, 0.1 + 0.2],
            "price": [12.0, 1234567.891],
            "text": ["49.90", "0.00"],  # typed in a CSV: as written
        }
    )
    msg = render(frame, "%dob% %when% %day% %amount% %price% %text%")["msg"].to_list()
    assert msg[0] == "1990-05-23 2026-01-02 09:30:00 1990-05-23 49.9 12 49.90"
    # A missing date: no number in this frame to fill in, so nothing.
    assert msg[1] == "1988-01-02 2026-01-03 00:00:00  0.3 1234567.891 0.00"


def test_formats_per_token() -> None:
    frame = pl.DataFrame(
        {
            "dstno": ["60123456789", "60123456788"],
            "amount": [49.9, 1234.5],
            "dob": [date(1990, 5, 23), date(2001, 12, 1)],
            "Tarikh Lahir": ["1990-05-23 00:00:00", "2001-12-01"],  # text dates, ISO
            "pts": ["1,234", "7"],
        }
    )
    out = render(
        frame,
        "RM%amount% %dob% %tarikh_lahir% %pts%",
        formats={
            "amount": "{:,.2f}",
            "DOB": "%d/%m/%Y",
            "Tarikh Lahir": "%d %b %Y",
            "pts": "{:,d}",
        },
    )
    assert out["msg"].to_list() == [
        "RM49.90 23/05/1990 23 May 1990 1,234",
        "RM1,234.50 01/12/2001 01 Dec 2001 7",
    ]


@pytest.mark.parametrize(
    ("formats", "message"),
    [
        ({"amount": "{:.2q}"}, r"formats\['amount'\] = '\{:.2q\}'"),
        (
            {"amount": "%d/%m/%Y"},
            r"'%d/%m/%Y' is a date pattern, but %amount% reads column 'amount'",
        ),
        ({"dob": "{:.2f}"}, r"formats\['dob'\] = '\{:.2f\}' is a number format, but %dob%"),
        ({"dob": "dd/mm/yyyy"}, r"formats\['dob'\] = 'dd/mm/yyyy' is neither"),
        ({"dob": "%Q"}, r"formats\['dob'\] = '%Q' is not a date pattern"),
        ({"amout": "{:.2f}"}, r"Unknown token %amout%.*Did you mean %amount%"),
        ({"hpno": "{:.2f}"}, r"recipient's number"),
        ({"amount": "{:.2f}", "Amount": "{:.1f}"}, r"two formats"),
    ],
)
def test_a_bad_format_is_a_clear_error(formats: dict[str, str], message: str) -> None:
    frame = pl.DataFrame({"amount": [1.5], "dob": [date(1990, 5, 23)]})
    with pytest.raises(TemplateError, match=message):
        render(frame, "Hi", formats=formats)  # checked even when no token uses it


def test_a_value_the_format_cannot_read_is_a_row_problem() -> None:
    frame = pl.DataFrame(
        {"amount": ["12.5", "abc", " "], "dob": ["1990-05-23", "23/05/1990", None]}
    )
    out = render(frame, "RM%amount% %dob%", formats={"amount": "{:.2f}", "dob": "%d/%m/%Y"})
    assert out["problem"].to_list() == [
        None,
        "%amount% is 'abc', not a number for {:.2f}",
        None,  # blank and null are missing: the fallback's business, not a problem
    ]
    assert out["msg"][0] == "RM12.50 23/05/1990"
    many = render(
        frame.with_columns(t=pl.lit("%dob%!")),
        template_column="t",
        formats={"amount": "{:.2f}", "dob": "%d/%m/%Y"},
    )
    assert many["problem"].to_list() == [
        None,
        "%dob% is '23/05/1990', not an ISO date (1990-05-23) for %d/%m/%Y",
        None,
    ]


NUMBER_SPECS = [
    None,
    "{}",
    "{:.2f}",
    "{:,}",
    "{:,.2f}",
    "{:.0f}",
    "{:.1%}",
    "{:+.3f}",
    "{:z.1f}",
    "{:>9.2f}",
    "{:*^11,.1f}",
    "{:=+10,}",
    "{:08.2f}",
    "{:_}",
    "{:e}",
    "{:.3g}",
]
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=False, width=64),
    st.decimals(min_value=-1e9, max_value=1e9, places=4, allow_nan=False).map(float),
    st.sampled_from([0.1 + 0.2, 2.675, 0.125, -0.0, 49.9, 1e21, 1e-7, 93846401285558.55]),
)


@settings(max_examples=300, deadline=None)
@example(values=[0.0, -0.0], fmt="{:e}")  # -0.0 is 0
@given(
    values=st.lists(st.one_of(st.none(), floats), min_size=1, max_size=6),
    fmt=st.sampled_from(NUMBER_SPECS),
)
def test_float_text_equals_python(values: list[float | None], fmt: str | None) -> None:
    series = pl.Series("x", values, dtype=pl.Float64)
    assert column_text(series, fmt, "x").text.to_list() == format_reference(series, fmt)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.none(),
            st.decimals(allow_nan=False, allow_infinity=False).map(str),
            st.from_regex(r"\A ?[+-]?[0-9]{0,4}(,[0-9]{3})*(\.[0-9]{0,3})?([eE][+-]?[0-9])? ?\Z"),
            st.text(alphabet="0123456789.,-e ab", max_size=8),
        ),
        min_size=1,
        max_size=6,
    ),
    fmt=st.sampled_from([*NUMBER_SPECS, "{:d}", "{:,d}", "{:x}"]),
)
@example(values=[".0", "0.00", "-0.0"], fmt="{}")  # a zero keeps the places it was written with
def test_text_numbers_equal_python(values: list[str | None], fmt: str | None) -> None:
    series = pl.Series("x", values, dtype=pl.String)
    assert column_text(series, fmt, "x").text.to_list() == format_reference(series, fmt)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=6),
    fmt=st.sampled_from([*NUMBER_SPECS, "{:d}", "{:,d}", "{:x}", "{:05d}"]),
)
def test_integer_text_equals_python(values: list[int | None], fmt: str | None) -> None:
    series = pl.Series("x", values, dtype=pl.Int64)
    assert column_text(series, fmt, "x").text.to_list() == format_reference(series, fmt)


DATE_PATTERNS = [
    None,
    "%d/%m/%Y",
    "%d %b %Y",
    "%A, %d %B %Y",
    "%Y-%m-%d %H:%M",
    "%I:%M %p",
    "%y%m%d",
]


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.none(),
            st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)).map(
                lambda d: d.replace(microsecond=0)
            ),
            st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)).map(
                lambda d: datetime.combine(d, time(0))
            ),
        ),
        min_size=1,
        max_size=5,
    ),
    fmt=st.sampled_from(DATE_PATTERNS),
    as_text=st.booleans(),
)
def test_date_text_equals_python(
    values: list[datetime | None], fmt: str | None, as_text: bool
) -> None:
    series = pl.Series("d", values, dtype=pl.Datetime("us"))
    if as_text:  # a CSV's ISO dates
        series = series.dt.strftime("%Y-%m-%d %H:%M:%S")
    assert column_text(series, fmt, "d").text.to_list() == format_reference(series, fmt)


def test_decimal_column_keeps_its_scale() -> None:
    series = pl.Series("x", [Decimal("49.90"), Decimal("1234.5")], dtype=pl.Decimal(10, 2))
    assert column_text(series, None, "x").text.to_list() == ["49.90", "1234.50"]
    assert column_text(series, "{:,}", "x").text.to_list() == ["49.90", "1,234.50"]


def test_is_token_name() -> None:
    assert is_token_name("Order ID") and is_token_name("Mobile No.") and is_token_name("a-b_c")
    assert not is_token_name(" on ") and not is_token_name("-20") and not is_token_name("")
    assert is_token_name("名字", frozenset({"名字"}))

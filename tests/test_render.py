from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isms_campaigns.errors import TemplateError
from isms_campaigns.render import (
    finish_warnings,
    parse_template,
    render_exprs,
    render_reference,
)


def render(template: str, frame: pl.DataFrame, **kw: object) -> list[tuple[str, str | None]]:
    msg, warning, _ = render_exprs(template, frame.columns, **kw)  # type: ignore[arg-type]
    return frame.select(msg=msg, warning=finish_warnings(msg, warning)).rows()


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "dstno": ["60123456789", "60198887777"],
            "name": ["Ali", None],
            "Outlet": ["Mid Valley", "  "],
        }
    )


@pytest.mark.parametrize(
    ("template", "pieces"),
    [
        ("50% off today", [("50% off today", None)]),
        ("%name%%name%", [("%name%", "name"), ("%name%", "name")]),
        ("100%% sure", [("100%% sure", None)]),
        ("%a b% and %x%", [("%a b% and ", None), ("%x%", "x")]),
        ("", []),
    ],
)
def test_parse_template(template: str, pieces: list[tuple[str, str | None]]) -> None:
    assert [(p.text, p.token) for p in parse_template(template)] == pieces


def test_fallback_and_isms_behaviour(frame: pl.DataFrame) -> None:
    rows = render("Hi %name% @ %outlet%", frame, fallbacks={"name": "Customer"})
    assert rows[0] == ("Hi Ali @ Mid Valley", None)
    # No fallback for outlet: iSMS puts the recipient's number in; we warn.
    assert rows[1] == (
        "Hi Customer @ 60198887777",
        "%name% missing -> 'Customer'; %outlet% missing -> recipient's number",
    )


def test_hpno_is_the_number_unless_a_column_maps_it(frame: pl.DataFrame) -> None:
    assert render("%hpno%", frame)[0][0] == "60123456789"
    mapped = frame.with_columns(mobile=pl.lit("012-345 6789"))
    assert render("%hpno%", mapped, token_columns={"hpno": "mobile"})[0][0] == "012-345 6789"


def test_unknown_token_names_the_closest_columns(frame: pl.DataFrame) -> None:
    with pytest.raises(TemplateError, match=r"%nmae%.*Did you mean %name%"):
        render_exprs("Hi %nmae%", frame.columns)


def test_mapping_to_a_missing_column_is_an_error(frame: pl.DataFrame) -> None:
    with pytest.raises(TemplateError, match="'full_name'"):
        render_exprs("Hi %name%", frame.columns, token_columns={"name": "full_name"})


def test_value_holding_a_gateway_token_is_flagged(frame: pl.DataFrame) -> None:
    tricky = frame.with_columns(name=pl.lit("%NAME%"))
    assert "gateway would replace" in (render("Hi %name%", tricky)[0][1] or "")


def test_percent_in_values_is_kept(frame: pl.DataFrame) -> None:
    odd = frame.with_columns(name=pl.lit("50%name%off"))
    assert render("%name%!", odd)[0][0] == "50%name%off!"


# -- the vectorised renderer equals a per-row reference ----------------------

values = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(list("ab %_Z9é陈’😀\n")), max_size=8),
)
COLUMNS = ["name", "email", "order_id", "Outlet"]


@st.composite
def templates(draw: st.DrawFn) -> str:
    pieces = draw(
        st.lists(
            st.one_of(
                st.text(alphabet=st.sampled_from(list("Hi, %!陈 \n5")), max_size=6),
                st.sampled_from([f"%{c}%" for c in [*COLUMNS, "hpno", "NAME", "outlet"]]),
            ),
            max_size=6,
        )
    )
    return "".join(pieces)


@settings(max_examples=200, deadline=None)
@given(
    template=templates(),
    rows=st.lists(st.tuples(*[values] * len(COLUMNS)), min_size=1, max_size=8),
    fallback=st.one_of(st.none(), st.text(max_size=4)),
)
def test_vectorised_renderer_equals_reference(
    template: str, rows: list[tuple[str | None, ...]], fallback: str | None
) -> None:
    frame = pl.DataFrame(rows, schema=COLUMNS, orient="row").with_columns(
        dstno=pl.lit("60123456789")
    )
    fallbacks = {} if fallback is None else {"name": fallback}
    try:
        msg = render_exprs(template, frame.columns, fallbacks).msg
    except TemplateError:  # e.g. %NAME% and %name% both exist: must be ambiguous
        with pytest.raises(TemplateError):
            render_reference(template, frame.row(0, named=True), fallbacks)
        return
    got = frame.select(msg=msg)["msg"].to_list()
    expected = [render_reference(template, row, fallbacks) for row in frame.iter_rows(named=True)]
    assert got == expected


def test_control_characters_are_flagged_from_inputs(frame: pl.DataFrame) -> None:
    bell = frame.with_columns(name=pl.Series(["A\x07li", "ok"]))
    flags = bell.select(render_exprs("Hi %name%", bell.columns).control)
    assert flags.to_series().to_list() == [True, False]
    literal = frame.select(render_exprs("Hi\x00 %name%", frame.columns).control).to_series()
    assert literal.to_list() == [True, True]
    tabs = frame.select(render_exprs("Hi\t%name%\r\n", frame.columns).control).to_series()
    assert tabs.to_list() == [False, False]

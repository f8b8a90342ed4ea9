from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isms_campaigns.encoding import (
    BillingRule,
    encode,
    message_problem,
    non_ascii_expr,
    read_rate_card,
    smart_ascii_expr,
)
from isms_campaigns.errors import PlanError
from isms_campaigns.render import CONTROL


def enc(msg: str, rule: BillingRule | None = None, forced: int | None = None) -> dict[str, object]:
    return encode(pl.DataFrame({"msg": [msg]}), rule, forced).row(0, named=True)


@pytest.mark.parametrize(
    ("msg", "kind", "length", "parts"),
    [
        ("a" * 153, 1, 153, 1),
        ("a" * 154, 1, 154, 2),
        ("a" * 306, 1, 306, 2),
        ("a" * 307, 1, 307, 3),
        ("陈" * 63, 2, 63, 1),
        ("陈" * 64, 2, 64, 2),
        ("😀", 2, 2, 1),  # an emoji is two UTF-16 code units
        ("😀" * 32, 2, 64, 2),
        ("Hi\nAli\t", 1, 7, 1),
        ("é", 2, 1, 1),
    ],
)
def test_type_length_parts(msg: str, kind: int, length: int, parts: int) -> None:
    row = enc(msg)
    assert (row["type"], row["length"], row["parts"]) == (kind, length, parts)


def test_non_ascii_lists_what_forced_unicode() -> None:
    frame = pl.DataFrame({"msg": ["Don’t miss — 50% off", "plain"]})
    assert frame.select(non_ascii_expr(pl.col("msg"))).to_series().to_list() == ["’—", ""]


def test_billing_rule_is_configurable() -> None:
    rule = BillingRule(ascii_part=152, unicode_part=62)
    assert enc("a" * 153, rule)["parts"] == 2
    assert enc("陈" * 63, rule)["parts"] == 2


@pytest.mark.parametrize(
    ("msg", "forced", "problem"),
    [
        ("", None, "empty message"),
        ("   ", None, "empty message"),
        ("a" * 700, None, None),
        ("a" * 701, None, "too long (>700)"),
        ("bell\x07", None, "control characters"),
        ("ok\r\n\t", None, None),
        ("陈", 1, "non-ASCII text in a type 1 message"),
        ("plain", 2, None),
    ],
)
def test_message_problems(msg: str, forced: int | None, problem: str | None) -> None:
    frame = encode(pl.DataFrame({"msg": [msg]}), None, forced)
    control = pl.col("msg").str.contains(CONTROL)
    got = frame.select(
        message_problem(pl.col("msg"), pl.col("length"), control, BillingRule(), forced)
    )
    assert got.item() == problem


def test_smart_ascii_replaces_typographic_characters() -> None:
    frame = pl.DataFrame({"msg": ["“Mary’s” sale – now…\u00a0go"]})
    assert frame.select(smart_ascii_expr(pl.col("msg"))).item() == '"Mary\'s" sale - now... go'


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400), st.text(min_size=1, max_size=50))
def test_credits_never_decrease_as_text_grows(text: str, more: str) -> None:
    frame = encode(pl.DataFrame({"msg": [text, text + more]}))
    short, long = frame["parts"].to_list()
    assert long >= short


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_type_1_iff_ascii(text: str) -> None:
    assert enc(text)["type"] == (1 if text.isascii() else 2)


def test_rate_card_reads_and_validates(tmp_path: Path) -> None:
    good = tmp_path / "rates.csv"
    good.write_text("# comment\ncountry_code,credits_per_part\n+60,1\n65,3\n")
    assert read_rate_card(good) == {60: 1, 65: 3}
    bad = tmp_path / "bad.csv"
    bad.write_text("country_code,credits_per_part\n60,1.5\n")
    with pytest.raises(PlanError, match=r"1\.5"):
        read_rate_card(bad)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("code,rate\n60,1\n")
    with pytest.raises(PlanError, match="credits_per_part"):
        read_rate_card(wrong)


def test_bundled_rate_card_has_malaysia_at_one() -> None:
    card = read_rate_card(Path(__file__).parent.parent / "data" / "rate_card.csv")
    assert card[60] == 1


def test_a_code_listed_twice_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    card = tmp_path / "rates.csv"
    card.write_text(
        "# my account's rates\ncountry_code,country,credits_per_part\n"
        "60,Malaysia,1\n65,Singapore,3\n\n+60,Malaysia again,2\n"
    )
    with pytest.raises(PlanError) as caught:
        read_rate_card(card)
    assert "lists a calling code twice: +60 on line 3 (1) and line 6 (2)" in str(caught.value)
    assert BillingRule().rates == {60: 1}  # nothing half-loaded
    with pytest.raises(PlanError, match="twice"):
        BillingRule().with_rate_card(card)


def test_rate_card_rows_are_located(tmp_path: Path) -> None:
    card = tmp_path / "rates.csv"
    card.write_bytes(b"\xef\xbb\xbfcountry_code,credits_per_part\r\n60,1\r\n65\r\n62,3,extra\r\n")
    with pytest.raises(PlanError, match=r"line 3 \('65',\); line 4 \('62', '3', 'extra'\)"):
        read_rate_card(card)
    with pytest.raises(PlanError, match="Cannot read rate card"):
        read_rate_card(tmp_path / "missing.csv")

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isms_campaigns.errors import ContactsError
from isms_campaigns.numbers import (
    DUPLICATE,
    EXCEL_DAMAGED,
    INVALID,
    MISSING,
    NOT_MOBILE,
    SUPPRESSED,
    find_number_column,
    normalise_numbers,
    normalise_one,
)


def one(raw: str | None, region: str = "MY") -> dict[str, object]:
    return normalise_numbers(pl.Series([raw], dtype=pl.String), region).row(0, named=True)


@pytest.mark.parametrize(
    "raw",
    [
        "012-345 6789",
        "0123456789",
        "+60 12-345 6789",
        "+60123456789",
        "0060123456789",
        "60123456789",
        "(012) 345-6789",
        "012 345 6789",
        "012.345.6789",
        "  012-3456789  ",
        "+60 (0)12-345 6789",
        "123456789",
        "6.0123456789E10",
        "6,0123456789E+10",
        "60123456789.0",
        "６０１２３４５６７８９",  # full-width digits
    ],
)
def test_messy_malaysian_spellings_give_one_dstno(raw: str) -> None:
    row = one(raw)
    assert row["dstno"] == "60123456789"
    assert row["country"] == "MY"
    assert row["country_code"] == 60
    assert row["number_problem"] is None


def test_eleven_digit_011_numbers() -> None:
    assert one("011-2345 6789")["dstno"] == "601123456789"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("6.01234567E10", EXCEL_DAMAGED),  # Excel rounded digits away
        ("6.012345678912E10", INVALID),  # not a whole number
        ("012-345", INVALID),
        ("N/A", INVALID),
        ("0123", INVALID),
        ("", MISSING),
        ("   ", MISSING),
        (None, MISSING),
        ("03-2161 2345", NOT_MOBILE),
    ],
)
def test_unusable_numbers_get_a_problem(raw: str | None, problem: str) -> None:
    assert one(raw)["number_problem"] == problem


def test_landline_keeps_its_dstno_for_the_record() -> None:
    row = one("03-2161 2345")
    assert row["dstno"] == "60321612345"


@pytest.mark.parametrize(
    ("raw", "dstno", "country"),
    [
        ("+65 9123 4567", "6591234567", "SG"),
        ("006591234567", "6591234567", "SG"),
        ("6591234567", "6591234567", "SG"),  # international without +
        ("+62 812-3456-7890", "6281234567890", "ID"),
        ("+1 650 253 0000", "16502530000", "US"),  # shared calling code: slow path
    ],
)
def test_foreign_numbers_need_their_country_code(raw: str, dstno: str, country: str) -> None:
    row = one(raw)
    assert (row["dstno"], row["country"], row["number_problem"]) == (dstno, country, None)


def test_region_changes_how_national_numbers_read() -> None:
    assert one("9123 4567", region="SG")["dstno"] == "6591234567"
    assert one("9123 4567", region="MY")["number_problem"] == INVALID


def test_unknown_region_is_a_clear_error() -> None:
    with pytest.raises(ContactsError, match="Unknown region 'XX'"):
        normalise_numbers(["0123456789"], region="XX")


def test_original_operator_from_numbering_plan() -> None:
    out = normalise_numbers(["012-345 6789", "019-777 8888", "+65 9123 4567", "N/A"])
    assert out["operator"].to_list() == ["Maxis", "Celcom", "SingTel", None]


def test_operator_spelling_is_unified() -> None:
    # phonenumbers spells Celcom two ways; grouping must not split it.
    out = normalise_numbers([f"013-{i:03d} 0000" for i in range(200, 1000, 7)])
    assert "Celecom" not in out["operator"].to_list()


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["Name", "Mobile No", "email"], "Mobile No"),
        (["name", "HP"], "HP"),
        (["dstno", "phone"], "dstno"),
        (["customer", "Phone Number"], "Phone Number"),
        (["MSISDN"], "MSISDN"),
    ],
)
def test_number_column_found_by_name(columns: list[str], expected: str) -> None:
    assert find_number_column(columns) == expected


def test_no_number_column_says_what_to_do() -> None:
    with pytest.raises(ContactsError, match="number_column="):
        find_number_column(["name", "email"])


# -- the vectorised path agrees with the per-number reference ---------------

MY_PREFIXES = ["10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "3", "4", "7", "8"]


@st.composite
def spelled_numbers(draw: st.DrawFn) -> str:
    """Numbers as people write them: right, wrong, foreign, damaged."""
    kind = draw(st.sampled_from(["my", "my", "my", "sg", "id", "us", "junk"]))
    if kind == "junk":
        return draw(st.text(alphabet="0123456789+-() .eE/abcN", max_size=16))
    if kind == "my":
        cc, national_prefix = "60", "0"
        nsn = draw(st.sampled_from(MY_PREFIXES)) + draw(
            st.from_regex(r"[0-9]{6,9}", fullmatch=True)
        )
    elif kind == "sg":
        cc, national_prefix = "65", ""
        nsn = draw(st.sampled_from("3689")) + draw(st.from_regex(r"[0-9]{6,8}", fullmatch=True))
    elif kind == "id":
        cc, national_prefix = "62", "0"
        nsn = "8" + draw(st.from_regex(r"[0-9]{8,11}", fullmatch=True))
    else:
        cc, national_prefix = "1", "1"
        nsn = draw(st.from_regex(r"[2-9][0-9]{9}", fullmatch=True))
    head = draw(st.sampled_from(["+" + cc, "00" + cc, cc, national_prefix, "", "+" + cc + " (0)"]))
    body = draw(st.sampled_from([nsn, nsn[:2] + "-" + nsn[2:], nsn[:3] + " " + nsn[3:]]))
    sep = draw(st.sampled_from(["", " ", "-"]))
    excel = draw(st.sampled_from(["", "", "", ".0", ".5"]))  # float text from a spreadsheet
    return head + sep + body + excel


@settings(max_examples=400, deadline=None)
@given(
    st.lists(spelled_numbers(), min_size=1, max_size=30),
    st.sampled_from(["MY", "MY", "SG", "ID", "US", "GB"]),
)
def test_vectorised_equals_reference(numbers: list[str], region: str) -> None:
    fast = normalise_numbers(pl.Series(numbers, dtype=pl.String), region)
    assert fast.height == len(numbers)  # rows in = rows out
    expected, seen = [], set()
    for n in numbers:  # the reference, plus "first row with a number wins"
        dstno, country, cc, problem = normalise_one(n, region)
        if problem is None and dstno in seen:
            problem = DUPLICATE
        seen.add(dstno)
        expected.append((dstno, country, cc, problem))
    got = fast.select("dstno", "country", "country_code", "number_problem").rows()
    assert got == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(spelled_numbers(), min_size=1, max_size=30))
def test_normalisation_is_idempotent(numbers: list[str]) -> None:
    first = normalise_numbers(numbers)
    ok = first.filter(pl.col("number_problem").is_null())  # distinct, sendable
    again = normalise_numbers(ok["dstno"])
    assert again["dstno"].to_list() == ok["dstno"].to_list()
    with_plus = normalise_numbers("+" + ok["dstno"])
    assert with_plus["dstno"].to_list() == ok["dstno"].to_list()


def test_duplicates_and_suppression_whatever_the_spelling() -> None:
    out = normalise_numbers(
        ["012-345 6789", "+60123456789", "N/A", "N/A", "013-222 3333", "0132223333"],
        suppress=["+60 13-222 3333"],
    )
    assert out["number_problem"].to_list() == [
        None,
        DUPLICATE,
        INVALID,
        INVALID,
        SUPPRESSED,
        SUPPRESSED,
    ]

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import (
    PhoneMetadata,
    PhoneNumberType,
    example_number_for_type,
    national_significant_number,
)
from phonenumbers.carrierdata import CARRIER_DATA

from isms_campaigns import numbers
from isms_campaigns.errors import ContactsError
from isms_campaigns.numbers import (
    DUPLICATE,
    EXCEL_DAMAGED,
    INVALID,
    LETTERS,
    MISSING,
    NOT_MOBILE,
    SEVERAL_NUMBERS,
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


@pytest.mark.parametrize(
    "raw",
    [
        "0123456789;0191234567",
        "0123456789, 0191234567",
        "012-345 6789 / 019-123 4567",
        "0123456789/0191234567",
        "0123456789 0191234567",
        "+60 12-345 6789 & +60 19-123 4567",
        "0123456789\n0191234567",
    ],
)
def test_several_numbers_in_one_cell_are_a_problem_not_the_first_number(raw: str) -> None:
    assert one(raw)["number_problem"] == SEVERAL_NUMBERS
    assert normalise_one(raw)[3] == SEVERAL_NUMBERS


@pytest.mark.parametrize("raw", ["012/3456789", "6,0123456789E+10", "+60 12 345 6789"])
def test_one_number_with_slashes_or_commas_is_still_one(raw: str) -> None:
    assert one(raw)["dstno"] == "60123456789"


@pytest.mark.parametrize(
    "raw", ["1-800-FLOWERS", "012-FLOWERS", "012345678O", "0123456789 (Siti)", "Tel: 0123456789"]
)
def test_letters_in_a_number_are_a_problem_not_converted(raw: str) -> None:
    # phonenumbers would read FLOWERS as 3569377: a number nobody wrote.
    assert one(raw)["number_problem"] == LETTERS
    assert normalise_one(raw)[3] == LETTERS


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


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        # Found by the property tests and fuzzing: each a branch of phonenumbers' parse.
        ("+0060 323856789", "CN"),  # "+0…": read again without the +, through the IDD
        ("+0049 80012234567890", "IN"),  # the same, beyond the national tables' lengths
        ("012\t3456789", "MY"),  # a tab is no separator to phonenumbers
        ("+600123456789", "MY"),  # a national prefix after the calling code
        ("0060 0123456789", "MY"),
        ("60123456789", "MY"),  # the calling code without +
        ("6591234567", "MY"),  # bare digits, not a Malaysian number: international
        ("0160 012 3456", "MY"),  # premium rate, though mobile-shaped
        ("1300 88 1234", "MY"),  # toll free
        ("+86 1 2345 678", "MY"),  # Chinese carrier code before a short number
        ("+39 06 1234 5678", "SG"),  # Italian leading zero
        ("+44 7400 123456", "MY"),  # shared calling code: the reference
        ("１２３４５６７８９", "MY"),  # full-width digits: the reference
    ],
)
def test_branches_of_the_reading_agree_with_the_reference(raw: str, region: str) -> None:
    row = one(raw, region)
    reference = normalise_one(raw, region)
    assert (row["dstno"], row["country"], row["country_code"], row["number_problem"]) == reference


def test_phonenumbers_runs_only_for_what_the_metadata_cannot_decide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str | None] = []
    reference = numbers.normalise_one

    def counted(raw: str | None, region: str = "MY") -> numbers.NumberResult:
        calls.append(raw)
        return reference(raw, region)

    monkeypatch.setattr(numbers, "normalise_one", counted)
    decided = [
        "012-345 6789",  # valid mobile, in every spelling
        "+60 (0)12-345 6789",
        "0060 12 345 6789",
        "012.345.6789",
        "012\u00a0345 6789",
        "0104 712345",  # invalid: unallocated
        "012-345 67",  # invalid: too short
        "03-2161 2345",  # landline
        "1300 88 1234",  # toll free
        "+65 9123 4567",  # foreign, one country to its calling code
        "0065 9123 4567",
        "+86 138 1234 5678",
        "6.0123456789E10",  # Excel, repaired
        "6.01234567E10",  # Excel, digits lost
        "60123456789.0",
        "0123456789;0191234567",  # several numbers
        "1-800-FLOWERS",  # letters
        "N/A",  # no digit at all
        "",
        None,
    ]
    undecided = ["+1 650 253 0000", "+44 7400 123456", "+7 912 345 6789"]  # shared codes
    out = normalise_numbers(decided + undecided + undecided)
    assert sorted(map(str, calls)) == sorted(undecided)  # once per distinct spelling
    assert out["dstno"].to_list()[-3:] == ["16502530000", "447400123456", "79123456789"]


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


# Regions whose example numbers the strategies spell: Malaysia's neighbours
# and the countries Malaysian lists hold most, the shared +1 and +44, and
# plans with Italian leading zeros (IT), carrier codes before the number (CN,
# AU), long numbers (DE, AT) and a national prefix other than 0 (US, HU).
REGIONS = ["MY", "SG", "ID", "TH", "PH", "BN", "CN", "HK", "IN", "BD", "NP", "PK", "VN", "MM"]
REGIONS += ["AU", "KR", "JP", "GB", "US", "DE", "AT", "IT", "HU", "AE", "SA", "NG", "BR"]
EXAMPLES = [
    (region, str(number.country_code), national_significant_number(number), kind)
    for region in REGIONS
    for kind in PhoneNumberType.values()
    if (number := example_number_for_type(region, kind)) is not None
]
SEPARATORS = ["", " ", "-", ".", "/", "(", ")", "\xa0", "\t", "  "]


@st.composite
def example_numbers(draw: st.DrawFn) -> str:
    """phonenumbers' own examples of every type (premium rate, toll free, pager …
    included), with digits changed, added or dropped, in every spelling."""
    region, cc, nsn, _ = draw(st.sampled_from(EXAMPLES))
    digits = list(nsn)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(digits) - 1))
        change = draw(st.sampled_from(["replace", "replace", "insert", "delete"]))
        digit = str(draw(st.integers(0, 9)))
        if change == "replace":
            digits[at] = digit
        elif change == "insert":
            digits.insert(at, digit)
        elif len(digits) > 1:
            del digits[at]
    nsn = "".join(digits)
    national = (PhoneMetadata.metadata_for_region(region).national_prefix or "") + nsn
    head = draw(st.sampled_from(["+" + cc, "00" + cc, "+00" + cc, "0" + cc, cc, "+" + cc + "0"]))
    number = draw(st.sampled_from([head + " " + nsn, head + nsn, national, nsn]))
    # separators anywhere
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(number)))
        number = number[:at] + draw(st.sampled_from(SEPARATORS)) + number[at:]
    return number


@st.composite
def damaged_numbers(draw: st.DrawFn) -> str:
    """What spreadsheets and people do to a number: Excel floats, several numbers
    in a cell, letters, stray symbols."""
    number = draw(st.one_of(spelled_numbers(), example_numbers()))
    digits = "".join(c for c in number if c.isdigit())
    kind = draw(st.sampled_from(["float", "sci", "several", "letters", "symbols", "digits"]))
    if kind == "float" and digits:
        return digits + draw(st.sampled_from([".0", ".00", ".5", ".0 "]))
    if kind == "sci" and len(digits) > 1:
        shown = draw(st.integers(1, len(digits) + 1))  # fewer: rounded away; more: a fraction
        fraction = (digits[1:] + "7")[: shown - 1] or "0"
        exponent = len(digits) - 1
        point, sign = draw(st.sampled_from(".,")), draw(st.sampled_from(["", "+"]))
        return f"{digits[0]}{point}{fraction}E{sign}{exponent}"
    if kind == "several":
        other = draw(st.one_of(spelled_numbers(), example_numbers()))
        return (
            number
            + draw(st.sampled_from([";", "; ", ", ", " / ", "/", " ", " & ", "\n", "|"]))
            + other
        )
    if kind == "letters":
        letters = draw(st.sampled_from(["FLOWERS", "x12", " ext 5", "Tel: ", "O", "hp", " (Siti)"]))
        at = draw(st.integers(0, len(number)))
        return number[:at] + letters + number[at:]
    if kind == "symbols":
        at = draw(st.integers(0, len(number)))
        return (
            number[:at]
            + draw(st.sampled_from(["#", "*", "+", "'", "_", "~", "０", "٣", "\u200b", "\x1c"]))
            + number[at:]
        )
    return draw(st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True))


any_number = st.one_of(spelled_numbers(), example_numbers(), damaged_numbers())


def expected_operator(dstno: str | None) -> str | None:
    """The longest carrier prefix of the number (its first 9 digits, zero-padded)."""
    if dstno is None:
        return None
    head = dstno[:9].ljust(9, "0")
    for n in range(9, 0, -1):
        if name := CARRIER_DATA.get(head[:n], {}).get("en"):
            return {"Celecom": "Celcom"}.get(name, name)
    return None


@settings(max_examples=600, deadline=None)
@given(
    st.lists(any_number, min_size=1, max_size=30),
    st.sampled_from(["MY", "MY", "MY", "SG", "ID", "CN", "US", "GB", "IT", "AU", "RU"]),
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
        expected.append((dstno, country, cc, expected_operator(dstno), problem))
    got = fast.select("dstno", "country", "country_code", "operator", "number_problem").rows()
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

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns.contacts import read_numbers

from .xlsx import write_xlsx

ROWS = [
    {"name": "Ali", "phone": "0123456789", "amount": "49.90"},
    {"name": "陈伟明", "phone": "+60 13-222 3333", "amount": "120.00"},
]


def test_csv_reads_everything_as_text(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    pl.DataFrame(ROWS).write_csv(path)
    frame = ic.read_contacts(path)
    assert frame["phone"].to_list() == ["0123456789", "+60 13-222 3333"]  # leading 0 kept
    assert frame["amount"].to_list() == ["49.90", "120.00"]  # as written, not 49.9


def test_tsv_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_bytes("\ufeffname\tmobile\nAli\t012-345 6789\n".encode())
    frame = ic.read_contacts(path)
    assert frame.columns == ["name", "mobile"]
    assert frame["mobile"][0] == "012-345 6789"


def test_xlsx_with_numeric_phone_cells(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "c.xlsx",
        [["Name", "HP", "amount"], ["Ali", "012-345 6789", "49.90"], ["Siti", 60123456788, 12.5]],
    )
    frame = ic.read_contacts(path)
    assert frame["HP"].to_list() == ["012-345 6789", "60123456788"]
    camp = ic.Campaign("x", frame, template="Hi %Name%")
    assert camp.messages["dstno"].to_list() == ["60123456789", "60123456788"]


def test_parquet_with_float_numbers_is_repaired_exactly(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pl.DataFrame({"msisdn": [60123456789.0, 6012345678.5], "name": ["A", "B"]}).write_parquet(path)
    frame = ic.read_contacts(path)
    assert frame["msisdn"][0] == "60123456789"
    camp = ic.Campaign("x", frame, template="Hi")
    assert camp.messages["problem"].to_list() == [None, "invalid number"]


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_and_jsonl(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"c{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(ROWS))
    else:
        path.write_text("\n".join(json.dumps(r) for r in ROWS))
    assert ic.read_contacts(path)["phone"].to_list() == ["0123456789", "+60 13-222 3333"]


def test_errors_name_the_file_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ic.ContactsError, match="does not exist"):
        ic.read_contacts(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,phone\nJos\xe9,0123456789\n".encode("latin-1"))
    with pytest.raises(ic.ContactsError, match="CSV UTF-8"):
        ic.read_contacts(latin)
    assert ic.read_contacts(latin, encoding="latin-1")["name"][0] == "José"
    doc = tmp_path / "c.docx"
    doc.write_text("x")
    with pytest.raises(ic.ContactsError, match=r"\.csv"):
        ic.read_contacts(doc)
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    with pytest.raises(ic.ContactsError, match=r"broken\.parquet"):
        ic.read_contacts(broken)


def test_list_typed_number_column_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps([{"phone": ["0123456789", "0191234567"], "name": "Ali"}]))
    with pytest.raises(ic.ContactsError, match=r"Column 'phone' holds List.*one number per row"):
        ic.read_contacts(path)


def test_windows_files_utf16_and_crlf(tmp_path: Path) -> None:
    unicode_text = tmp_path / "c.txt"  # Excel's "Unicode Text": UTF-16 with a BOM, tabs
    unicode_text.write_bytes("name\tphone\r\n陈伟明\t0123456789\r\n".encode("utf-16"))
    frame = ic.read_contacts(unicode_text)
    assert frame.rows() == [("陈伟明", "0123456789")]
    crlf = tmp_path / "c.csv"
    crlf.write_bytes(b"phone,name\r\n0123456789,Ali\r\n")
    assert ic.read_contacts(crlf)["name"].to_list() == ["Ali"]  # no stray \r
    with pytest.raises(ic.ContactsError, match="encoding='latin-9x' is not a text encoding"):
        ic.read_contacts(crlf, encoding="latin-9x")


def test_excel_sheet_by_name_or_position(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "c.xlsx", [["phone"], ["0123456789"]])  # one sheet: "Contacts"
    assert ic.read_contacts(path, sheet="Contacts").height == 1
    assert ic.read_contacts(path, sheet=0).height == 1
    assert ic.read_contacts(path, sheet="0").height == 1  # a position typed as text
    with pytest.raises(ic.ContactsError, match=r"no sheet 'Orders'; its sheets are \['Contacts'\]"):
        ic.read_contacts(path, sheet="Orders")
    with pytest.raises(ic.ContactsError, match=r"1 sheet.*no sheet at position 3"):
        ic.read_contacts(path, sheet=3)
    csv = tmp_path / "c.csv"
    csv.write_text("phone\n0123456789\n")
    with pytest.raises(ic.ContactsError, match="not an Excel file: sheet='Contacts'"):
        ic.read_contacts(csv, sheet="Contacts")
    broken = tmp_path / "broken.xlsx"
    broken.write_text("not a workbook")
    with pytest.raises(ic.ContactsError, match=r"Cannot read 'broken\.xlsx'"):
        ic.read_contacts(broken)


# -- number lists (opt-outs) --------------------------------------------------

SITI, ALI, MEI = "+60191234567", "+60123456789", "+60132223333"


@pytest.mark.parametrize("first", ["6.0191234567E10", "0191234567 (Siti)", "0191234567"])
def test_a_headerless_list_keeps_its_first_line(tmp_path: Path, first: str) -> None:
    path = tmp_path / "optout.txt"
    path.write_text(f"{first}\n0123456789\n")
    assert read_numbers(path).to_list() == [SITI, ALI]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("header.csv", b"phone\n0191234567\n0123456789\n"),
        ("title.txt", b"Opt-outs (since 2019)\n0191234567\n0123456789\n"),
        ("bom-crlf.csv", b"\xef\xbb\xbf0191234567\r\n\r\n  \r\n0123456789\r\n"),
        ("cp1252.txt", "Jos\xe9 0191234567\n0123456789\n".encode("cp1252")),
        ("utf16.txt", "mobile\r\n0191234567\r\n0123456789\r\n".encode("utf-16")),
        ("table.csv", b"name,Mobile No.,since\nSiti,0191234567,2023-05-01\nAli,0123456789,2024\n"),
        ("semicolons.csv", b"hp;name\n0191234567;Siti\n0123456789;Ali\n"),
        ("headerless-table.csv", b"Siti,0191234567,2023\nAli,012-345 6789,2024\n"),
        ("quoted.csv", b'name,phone\n"Binti, Siti","019-123 4567"\nAli,0123456789\n'),
    ],
)
def test_number_list_files(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert read_numbers(path).to_list() == [SITI, ALI]


def test_number_list_excel_with_and_without_header(tmp_path: Path) -> None:
    bare = write_xlsx(tmp_path / "bare.xlsx", [[60191234567], ["0123456789"], [60132223333.0]])
    assert read_numbers(bare).to_list() == [SITI, ALI, MEI]  # the first cell is no header
    table = write_xlsx(
        tmp_path / "table.xlsx", [["Name", "HP"], ["Siti", 60191234567], ["Ali", "012-345 6789"]]
    )
    assert read_numbers(table).to_list() == [SITI, ALI]


def test_number_list_in_memory() -> None:
    assert read_numbers(["0191234567", None, "", "0123456789"]).to_list() == [SITI, ALI]
    assert read_numbers(pl.Series([60191234567, None])).to_list() == [SITI]
    frame = pl.DataFrame({"name": ["Siti"], "hp": ["0191234567"]})
    assert read_numbers(frame).to_list() == [SITI]
    # A headerless file read by polars: its first number became the column name.
    headerless = pl.DataFrame({"0191234567": ["0123456789"]})
    assert sorted(read_numbers(headerless).to_list()) == [ALI, SITI]


def test_notes_and_several_numbers_in_one_entry() -> None:
    entries = ["0191234567 (Siti)", "0123456789; 013-222 3333", "Ali: +60 12-345 6789"]
    assert sorted(read_numbers(entries).to_list()) == sorted([SITI, ALI, MEI, ALI])


def test_an_unreadable_entry_is_an_error_that_says_where(tmp_path: Path) -> None:
    path = tmp_path / "optout.txt"
    path.write_text(
        "0191234567\n6.01912346E10\n\nSiti\n0191234567 (2023-05-01)\n12345\n0123456789\n"
    )
    with pytest.raises(ic.ContactsError) as caught:
        read_numbers(path)
    message = str(caught.value)
    assert message.startswith("The suppress list 'optout.txt' has 4 entries without a readable")
    assert "line 2 '6.01912346E10' (number damaged by Excel (digits lost))" in message
    assert "line 4 'Siti' (no number)" in message
    assert "line 5 '0191234567 (2023-05-01)'" in message
    assert "line 6 '12345' (invalid number)" in message
    assert "Nothing is planned until every entry is read" in message


def test_many_unreadable_entries_are_all_located() -> None:
    entries = ["0191234567", *[f"junk {i}" for i in range(30)]]
    with pytest.raises(ic.ContactsError, match=r"has 30 entries") as caught:
        read_numbers(entries)
    message = str(caught.value)
    assert "item 5 'junk 4' (no number); and 25 more: item 6, item 7," in message
    assert "item 25 …" in message


def test_a_table_without_a_number_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "optout.csv"
    path.write_text("Nama,Tarikh\nSiti,2023-05-01\n")
    with pytest.raises(
        ic.ContactsError, match=r"list 'optout\.csv' has columns \['Nama', 'Tarikh'\]"
    ):
        read_numbers(path)
    with pytest.raises(ic.ContactsError, match="does not exist"):
        read_numbers(tmp_path / "missing.txt")


def test_a_suppress_file_suppresses_every_entry_or_plans_nothing(tmp_path: Path) -> None:
    contacts = pl.DataFrame({"phone": ["0191234567", "0123456789", "0132223333"]})
    optout = tmp_path / "optout.txt"
    optout.write_text("0191234567 (Siti)\n6.0123456789E10\n")
    camp = ic.Campaign("t", contacts, template="Hi", suppress=optout)
    assert camp.messages["problem"].to_list() == ["suppressed", "suppressed", None]
    optout.write_text("0191234567 (Siti)\n6.01234568E10\n")  # Excel rounded Ali's number
    with pytest.raises(ic.ContactsError, match=r"line 2 '6\.01234568E10'"):
        ic.Campaign("t", contacts, template="Hi", suppress=optout)


def test_excel_rows_are_named_as_excel_numbers_them(tmp_path: Path) -> None:
    book = write_xlsx(tmp_path / "optout.xlsx", [[], [], ["Opt-outs"], [60191234567], ["Siti"]])
    with pytest.raises(ic.ContactsError, match=r"'optout\.xlsx' has 1 entry .*: row 5 'Siti'"):
        read_numbers(book)

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import isms_campaigns as ic

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

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns.campaign import MESSAGE_COLUMNS


def test_every_contact_row_appears_once_with_its_reason(contacts: pl.DataFrame) -> None:
    # compliance=None: a missing name puts the number in the text, which the
    # Malaysian checks refuse (tests/test_compliance.py); here, rows and reasons.
    camp = ic.Campaign("t", contacts, template="Hi %name%, order %order_id%", compliance=None)
    m = camp.messages
    assert m["row"].to_list() == list(range(contacts.height))
    assert m["number"].to_list() == contacts["phone"].to_list()
    assert m["problem"].to_list() == [None, None, None, "duplicate", "invalid number", None, None]
    assert list(m.columns) == list(MESSAGE_COLUMNS)


def test_messages_tokens_and_warnings(contacts: pl.DataFrame) -> None:
    camp = ic.Campaign("t", contacts, template="Hi %name%", fallbacks={"name": "Customer"})
    m = camp.messages
    assert m["msg"].to_list()[:3] == ["Hi Ali", "Hi Customer", "Hi 陈伟明"]
    assert m["warning"][1] == "%name% missing -> 'Customer'"
    # Without a fallback iSMS uses the recipient's number, and we warn.
    plain = ic.Campaign("t", contacts, template="Hi %name%").messages
    assert plain["msg"][5] == "Hi 60197778888"
    assert plain["warning"][5] == "%name% missing -> recipient's number"


def test_credits_and_types(contacts: pl.DataFrame) -> None:
    camp = ic.Campaign("t", contacts, template="Hi %name%", compliance=None)
    m = camp.messages
    assert m["type"].to_list() == [1, 1, 2, 1, 1, 1, 2]
    # Skipped rows cost nothing; the total is what will be charged.
    assert m["credits"].to_list() == [1, 1, 1, None, None, 1, 1]
    assert camp.credits == 5
    assert camp.unicode_characters().rows() == [
        ("’", 1, "'"),
        ("伟", 1, None),
        ("明", 1, None),
        ("陈", 1, None),
    ]


LONG = "Hi %name%, " + "x" * 60  # over 63 characters: 2 parts as Unicode, 1 as ASCII


def test_smart_ascii_saves_credits(contacts: pl.DataFrame) -> None:
    before = ic.Campaign("t", contacts, template=LONG)
    after = ic.Campaign("t", contacts, template=LONG, smart_ascii=True)
    assert before.messages["credits"][6] == 2
    assert before.smart_ascii_saving() == 1
    assert after.messages["msg"][6].startswith("Hi Mary's, ")
    assert after.messages["type"][6] == 1
    assert after.credits == before.credits - 1
    assert after.smart_ascii_saving() == 0


def test_suppression_from_list_series_frame_and_file(
    contacts: pl.DataFrame, tmp_path: Path
) -> None:
    optout = tmp_path / "optout.txt"
    optout.write_text("+60 13-222 3333\n")
    csv = tmp_path / "optout.csv"
    csv.write_text("mobile,reason\n0132223333,asked\n")
    for source in (
        ["0132223333"],
        pl.Series(["+60132223333"]),
        pl.DataFrame({"hp": ["60132223333"]}),
        optout,
        str(csv),
    ):
        camp = ic.Campaign("t", contacts, template="Hi", suppress=source)
        assert camp.messages["problem"][1] == "suppressed", source


def test_the_first_sendable_row_of_a_number_is_planned_not_the_first_row() -> None:
    # The first row of Siti's number cannot be sent (a control character came
    # in with her name): her clean second row is the one planned, and only
    # the rows after that are duplicates.
    contacts = pl.DataFrame(
        {
            "phone": ["012-345 6789", "0123456789", "+60 12-345 6789", "019-123 4567"],
            "name": ["Siti\x07", "Siti", "Siti", "Ali"],
        }
    )
    camp = ic.Campaign("t", contacts, template="Hi %name%, your parcel is here")
    m = camp.messages
    assert m["problem"].to_list() == ["control characters", None, "duplicate", None]
    assert m["msg"][1] == "Hi Siti, your parcel is here"
    assert m["credits"].to_list() == [None, 1, None, 1]
    assert camp.sendable["dstno"].to_list() == ["60123456789", "60191234567"]


def test_a_number_problem_still_makes_every_row_of_the_number_unsendable() -> None:
    contacts = pl.DataFrame({"phone": ["03-2161 2345", "0321612345", "+65 9123 4567"] * 2})
    problems = ic.Campaign("t", contacts, template="Hi").messages["problem"].to_list()
    assert problems == ["not a mobile number"] * 2 + ["no rate for +65 in the rate card"] + [
        "not a mobile number"
    ] * 2 + ["no rate for +65 in the rate card"]


def test_rate_card_prices_foreign_numbers_and_flags_unknown(tmp_path: Path) -> None:
    contacts = pl.DataFrame({"phone": ["0123456789", "+65 9123 4567", "+62 812 3456 7890"]})
    plain = ic.Campaign("t", contacts, template="Hi")
    assert plain.messages["problem"].to_list() == [
        None,
        "no rate for +65 in the rate card",
        "no rate for +62 in the rate card",
    ]
    card = tmp_path / "rates.csv"
    card.write_text("country_code,credits_per_part\n60,1\n65,3\n")
    priced = ic.Campaign("t", contacts, template="Hi", rate_card=card)
    assert priced.messages["credits"].to_list() == [1, 3, None]
    assert any("rate card" in n for n in priced.notes)


def test_ab_variants_from_a_template_column(contacts: pl.DataFrame) -> None:
    """The texts come from template_column, the labels from the variant column."""
    variants = contacts.with_columns(
        text=pl.Series(
            ["A %name%", "B %order_id%", None, "A %name%", "B %order_id%", None, "A %name%"]
        ),
        variant=pl.Series(["A", "B", None, "A", "B", None, "A"]),
    )
    camp = ic.Campaign("t", variants, template="Default", template_column="text")
    assert camp.messages["msg"].to_list()[:3] == ["A Ali", "B A2", "Default"]
    assert camp.messages["variant"].to_list()[:3] == ["A", "B", None]
    assert camp.variants == ["A", "B"]
    # Without a variant column, the row's template is no variant: no per-text groups.
    texts_only = ic.Campaign("t", variants.drop("variant"), template_column="text")
    assert "variant" not in texts_only.messages.columns and texts_only.variants == []


@pytest.mark.parametrize("sender", ["My Shop", "TooLongSender1", "shop!"])
def test_bad_sender_id_is_refused(contacts: pl.DataFrame, sender: str) -> None:
    with pytest.raises(ic.PlanError, match="11 letters or digits"):
        ic.Campaign("t", contacts, template="Hi", sender_id=sender)


def test_sender_id_for_malaysia_is_noted(contacts: pl.DataFrame) -> None:
    camp = ic.Campaign("t", contacts, template="Hi", sender_id="MyShop")
    assert any("Malaysian numbers" in n for n in camp.notes)


def test_send_later_formats_and_refuses(contacts: pl.DataFrame) -> None:
    later = datetime.now() + timedelta(days=2)  # naive: Malaysian time
    camp = ic.Campaign("t", contacts, template="Hi", send_later=later)
    assert camp.settings.send_later == later.strftime("%Y-%m-%d %H:%M:%S")
    with pytest.raises(ic.PlanError, match="in the past"):
        ic.Campaign("t", contacts, template="Hi", send_later="2020-01-01 09:00")
    with pytest.raises(ic.PlanError, match="tomorrow"):
        ic.Campaign("t", contacts, template="Hi", send_later="tomorrow")


def test_forced_type_1_with_unicode_is_a_problem(contacts: pl.DataFrame) -> None:
    camp = ic.Campaign("t", contacts, template="Hi %name%", message_type=1)
    assert camp.messages["problem"][2] == "non-ASCII text in a type 1 message"


def test_clear_errors_for_bad_input(contacts: pl.DataFrame) -> None:
    with pytest.raises(ic.PlanError, match="template"):
        ic.Campaign("t", contacts)
    with pytest.raises(ic.ContactsError, match="number_column="):
        ic.Campaign("t", contacts.drop("phone"), template="Hi")
    with pytest.raises(ic.ContactsError, match="'tel'"):
        ic.Campaign("t", contacts, template="Hi", number_column="tel")
    with pytest.raises(ic.TemplateError, match="%ordr_id%"):
        ic.Campaign("t", contacts, template="Order %ordr_id%")
    with pytest.raises(ic.ContactsError, match="DataFrame"):
        ic.Campaign("t", {"phone": ["1"]}, template="Hi")  # type: ignore[arg-type]


def test_summary_adds_up(sample_path: Path) -> None:
    camp = ic.Campaign(
        "t",
        ic.read_contacts(sample_path),
        template="Hi %name%",
        billing=ic.BillingRule(price_per_credit=0.1),
    )
    s = {r["item"]: r for r in camp.summary().iter_rows(named=True)}
    skipped = sum(r["rows"] for k, r in s.items() if k.startswith("skipped: "))
    assert s["recipients"]["rows"] == camp.messages.height == 320
    assert s["sendable"]["rows"] + skipped == 320
    assert s["type 1 (ASCII)"]["rows"] + s["type 2 (Unicode)"]["rows"] == s["sendable"]["rows"]
    assert s["sendable"]["credits"] == camp.credits
    assert s["sendable"]["cost_rm"] == pytest.approx(camp.credits * 0.1)


def test_sample_data_covers_the_messy_cases(sample_path: Path) -> None:
    camp = ic.Campaign("t", sample_path, template="Hi %name%")
    problems = set(camp.messages["problem"].drop_nulls().to_list())
    assert {"duplicate", "invalid number", "number damaged by Excel (digits lost)"} <= problems
    assert camp.messages.filter(pl.col("type") == 2).height > 20
    assert set(camp.messages["country"].drop_nulls().to_list()) == {"MY", "SG", "ID"}


def test_repr_html_shows_what_a_manager_asks_first(contacts: pl.DataFrame) -> None:
    camp = ic.Campaign("promo <nov>", contacts, template=LONG, compliance=None)
    page = camp._repr_html_()
    for text in (
        "promo &lt;nov&gt;",
        "recipients",
        "sendable",
        "duplicate",
        "invalid number",
        "Type mix",
        "Credits per recipient",
        "Hi Ali, xx",
        "Characters that forced Unicode",
        "smart_ascii=True saves 1 credits",
    ):
        assert text in page, text
    assert "<nov>" not in page  # values are escaped
    assert repr(camp) == "<Campaign 'promo <nov>': 7 rows, 5 sendable, 2 skipped, 7 credits>"


# -- templates: tokens, formats, template_column (issue 13) ---------------------


def test_a_column_with_spaces_is_a_token_and_snake_case_reads_it() -> None:
    contacts = pl.DataFrame({"Mobile No.": ["0123456789"], "Order ID": ["A7"]})
    for template in ("your order %Order ID% ready", "your order %order_id% ready"):
        camp = ic.Campaign("t", contacts, template=template)
        assert camp.messages.select("msg", "problem").row(0) == ("your order A7 ready", None)
    with pytest.raises(ic.TemplateError, match=r"Did you mean %Order ID%\?"):
        ic.Campaign("t", contacts, template="your order %ordr id% ready")


def test_a_value_that_still_reads_as_a_token_is_never_sent(contacts: pl.DataFrame) -> None:
    tricky = contacts.with_columns(
        name=pl.Series(["%Order ID%", "%NAME%", "50% off", "Siti", "x", "y", "%order_id%"])
    ).rename({"order_id": "Order ID"})
    m = ic.Campaign("t", tricky, template="Hi %name%").messages
    assert m["problem"].to_list() == [
        "unresolved token %Order ID% in the message",
        "iSMS token %NAME% in the message: the gateway would replace it",
        None,
        None,  # the first row of this number is not sent: this one is (not a duplicate)
        "invalid number",
        None,
        "unresolved token %order_id% in the message",
    ]
    assert m["credits"][0] is None and m["msg"][2] == "Hi 50% off"
    fallback = ic.Campaign("t", contacts, template="Hi %name%", fallbacks={"name": "%name%"})
    assert fallback.messages["problem"][1] == (
        "iSMS token %name% in the message: the gateway would replace it"
    )


def test_template_column_with_an_unknown_token_fails_that_row_only(
    contacts: pl.DataFrame,
) -> None:
    texts = pl.Series(["A %name%", "B %nmae%", None, "A %name%", "C", None, "%Order ID% x"])
    camp = ic.Campaign(
        "t",
        contacts.with_columns(text=texts),
        template="D %name%",
        template_column="text",
        compliance=None,
    )
    m = camp.messages
    assert m["problem"].to_list() == [
        None,
        "unknown token %nmae% (columns: name, phone, order_id, text)",
        None,
        "duplicate",
        "invalid number",
        None,
        None,
    ]
    assert m["msg"].to_list()[:3] == ["A Ali", "B %nmae%", "D 陈伟明"]
    assert m["msg"][6] == "A7 x"  # %Order ID% reads order_id once squashed
    assert "variant" not in m.columns  # the texts are not A/B labels
    with pytest.raises(ic.TemplateError, match="%nmae%"):  # the default is the caller's own
        ic.Campaign(
            "t", contacts.with_columns(text=texts), template="D %nmae%", template_column="text"
        )


def test_template_column_renders_distinct_texts_in_one_pass(contacts: pl.DataFrame) -> None:
    n = 50_000
    many = pl.DataFrame(
        {
            "phone": [f"012{i:07d}" for i in range(n)],
            "name": [f"N{i}" for i in range(n)],
            "text": [f"Hi %name%, your code is {i}." for i in range(n)],
        }
    )
    start = datetime.now()
    camp = ic.Campaign("t", many, template_column="text")
    assert (datetime.now() - start).total_seconds() < 10  # was 96 s for 2,000 rows
    assert camp.messages["msg"][12_345] == "Hi N12345, your code is 12345."
    assert camp.sendable.height == n


def _xlsx_with_dates(path: Path) -> Path:
    """Excel cells as Excel stores them: a date (number format 14), a datetime
    (22) and a 0.00 amount (2) are numbers with a style."""
    import zipfile

    from . import xlsx

    styles = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font/></fonts><fills count="1"><fill/></fills>'
        '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
        '<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/>'
        '<xf numFmtId="2" applyNumberFormat="1"/><xf numFmtId="22" applyNumberFormat="1"/>'
        "</cellXfs></styleSheet>"
    )
    content_types = xlsx._CONTENT_TYPES.replace(
        "</Types>",
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.styles+xml"/></Types>',
    )
    rels = xlsx._WORKBOOK_RELS.replace(
        "</Relationships>",
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/styles" Target="styles.xml"/></Relationships>',
    )

    def text(ref: str, value: str) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'

    def number(ref: str, value: float, style: int) -> str:
        return f'<c r="{ref}" s="{style}"><v>{value!r}</v></c>'

    rows = [
        text("A1", "phone") + text("B1", "dob") + text("C1", "amount") + text("D1", "when"),
        text("A2", "0123456789")
        + number("B2", 33016, 1)
        + number("C2", 49.9, 2)
        + number("D2", 46023.375, 3),
        text("A3", "0123456788")
        + number("B3", 33017, 1)
        + number("C3", 0.30000000000000004, 2)
        + number("D3", 46024.0, 3),
    ]
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        + "".join(f'<row r="{i}">{r}</row>' for i, r in enumerate(rows, start=1))
        + "</sheetData></worksheet>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", xlsx._RELS)
        z.writestr("xl/workbook.xml", xlsx._WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", rels)
        z.writestr("xl/styles.xml", styles)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


def test_excel_dates_and_amounts_render_as_shown_and_take_formats(tmp_path: Path) -> None:
    path = _xlsx_with_dates(tmp_path / "c.xlsx")
    template = "Born %dob%, RM%amount%, at %when%"
    for contacts in (ic.read_contacts(path), pl.read_excel(path)):  # as text, and typed
        plain = ic.Campaign("t", contacts, template=template).messages["msg"].to_list()
        assert plain == [
            "Born 1990-05-23, RM49.9, at 2026-01-01 09:00:00",
            "Born 1990-05-24, RM0.3, at 2026-01-02 00:00:00",
        ], contacts.schema
        formats = {"amount": "{:.2f}", "dob": "%d/%m/%Y", "when": "%d %b %H:%M"}
        shaped = ic.Campaign("t", contacts, template=template, formats=formats)
        assert shaped.messages["msg"].to_list() == [
            "Born 23/05/1990, RM49.90, at 01 Jan 09:00",
            "Born 24/05/1990, RM0.30, at 02 Jan 00:00",
        ]
    with pytest.raises(ic.TemplateError, match=r"formats\['amount'\] = '%d/%m'"):
        ic.Campaign("t", pl.read_excel(path), template=template, formats={"amount": "%d/%m"})

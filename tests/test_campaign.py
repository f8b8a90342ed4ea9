from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns.campaign import MESSAGE_COLUMNS


def test_every_contact_row_appears_once_with_its_reason(contacts: pl.DataFrame) -> None:
    camp = ic.Campaign("t", contacts, template="Hi %name%, order %order_id%")
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
    camp = ic.Campaign("t", contacts, template="Hi %name%")
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
    variants = contacts.with_columns(
        text=pl.Series(
            ["A %name%", "B %order_id%", None, "A %name%", "B %order_id%", None, "A %name%"]
        )
    )
    camp = ic.Campaign("t", variants, template="Default", template_column="text")
    assert camp.messages["msg"].to_list()[:3] == ["A Ali", "B A2", "Default"]
    assert camp.messages["variant"][1] == "B %order_id%"


@pytest.mark.parametrize("sender", ["My Shop", "TooLongSender1", "shop!"])
def test_bad_sender_id_is_refused(contacts: pl.DataFrame, sender: str) -> None:
    with pytest.raises(ic.PlanError, match="11 letters or digits"):
        ic.Campaign("t", contacts, template="Hi", sender_id=sender)


def test_sender_id_for_malaysia_is_noted(contacts: pl.DataFrame) -> None:
    camp = ic.Campaign("t", contacts, template="Hi", sender_id="MyShop")
    assert any("Malaysian numbers" in n for n in camp.notes)


def test_send_later_formats_and_warns(contacts: pl.DataFrame) -> None:
    later = datetime.now() + timedelta(days=1)
    camp = ic.Campaign("t", contacts, template="Hi", send_later=later)
    assert camp.settings.send_later == later.strftime("%Y-%m-%d %H:%M:%S")
    past = ic.Campaign("t", contacts, template="Hi", send_later="2020-01-01 09:00")
    assert any("in the past" in n for n in past.notes)
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
    camp = ic.Campaign("promo <nov>", contacts, template=LONG)
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

"""Compliance at plan time: what Malaysian operators block or expect (issue 14)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import isms_campaigns as ic
from isms_campaigns import cli
from isms_campaigns.cli import main
from isms_campaigns.widgets import Composer

MY = "0123456789"  # a Malaysian mobile
SG = "+65 9123 4567"


def plan(*texts: str, number: str = MY, **options: object) -> ic.Campaign:
    """One row per text, each to its own number, the text as the row's template."""
    numbers = [f"{number[:-2]}{i:02d}" for i in range(len(texts))]
    frame = pl.DataFrame({"phone": numbers, "text": list(texts)})
    return ic.Campaign("t", frame, template_column="text", **options)  # type: ignore[arg-type]


def problems(camp: ic.Campaign) -> list[str | None]:
    return camp.messages["problem"].to_list()


def finding(camp: ic.Campaign, rule: str, severity: str) -> dict[str, object]:
    rows = camp.checks().filter(rule=rule, severity=severity)
    assert rows.height == 1, camp.checks()
    return rows.row(0, named=True)


# -- links ------------------------------------------------------------------


def test_links_are_problems_in_every_written_form() -> None:
    camp = plan(
        "KedaiKita: sale at https://bit.ly/3xYz today",
        "KedaiKita: see www.Example.com for more",
        "KedaiKita: order at shop.example.net/sale?x=1",
        "KedaiKita: visit kedai.com.my now",
        "KedaiKita: http://10.0.0.1:8080/login",
    )
    assert problems(camp) == [
        "link to bit.ly: not in allowed_domains",
        "link to example.com: not in allowed_domains",
        "link to shop.example.net: not in allowed_domains",
        "link to kedai.com.my: not in allowed_domains",
        "link to 10.0.0.1: not in allowed_domains",
    ]
    link = finding(camp, "link", "problem")
    assert link["rows"] == 5 and "allowed_domains" in str(link["what_to_do"])
    assert "bit.ly" in str(link["what_to_do"]) and "bit.ly" in str(link["example"])


def test_text_that_only_looks_like_a_link_is_sent() -> None:
    camp = plan(
        "KedaiKita: e.g. Jln.Ampang, RM10.50, ver 2.0, Sdn.Bhd.",
        "KedaiKita: write to ali@kedai.com.my",  # an e-mail address is not a link
        "KedaiKita: 50% off.Come early",
    )
    assert problems(camp) == [None, None, None]


def test_allowed_domains_cover_their_subdomains_only() -> None:
    camp = plan(
        "KedaiKita: https://www.kedai.my/sale",
        "KedaiKita: shop.kedai.my/x and kedai.my",
        "KedaiKita: notkedai.my/x",
        "KedaiKita: kedai.my.evil.com/x",
        "KedaiKita: kedai.my/a then bit.ly/b",
        allowed_domains=["https://www.Kedai.MY/"],  # written as copied from a browser
    )
    assert problems(camp) == [
        None,
        None,
        "link to notkedai.my: not in allowed_domains",
        "link to kedai.my.evil.com: not in allowed_domains",
        "link to bit.ly: not in allowed_domains",
    ]
    assert camp.compliance.allowed_domains == ("kedai.my",)
    one = plan("KedaiKita: kedai.my/x", allowed_domains="kedai.my")  # one domain as text
    assert problems(one) == [None]
    with pytest.raises(ic.PlanError, match=r"'kedai my' is not a domain"):
        plan("x", allowed_domains=["kedai my"])


# -- phone numbers ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "call 03-2161 2345",
        "call (03) 2161 2345",
        "WhatsApp +60 12-345 6789",
        "call 0123456789 now",
        "hotline 1300 88 1234",
        "from 60123456789",
        "SG office +65 6123 4567",
        "call 0060175452606",
        "call 0060 17-545 2606",
        "call 012.457.1929",
        "call +60.12.345.6789",
    ],
)
def test_a_phone_number_in_the_text_is_a_problem(text: str) -> None:
    camp = plan(f"KedaiKita: {text}.")
    assert problems(camp) == ["phone number in the message"]
    assert finding(camp, "phone number", "problem")["rows"] == 1


def test_digits_that_are_not_phone_numbers_are_sent() -> None:
    camp = plan(
        "KedaiKita: order ORD-2026-011830 on 2026-12-01 09:30, RM1,234.50",
        "KedaiKita: ref 20261201 qty 12 345 pcs",
        "KedaiKita: 08:00-20:00 daily, code 123456",
        "KedaiKita: app v10.2.3, RM1234.56, 12.5% off, ref 2026.12.01",
    )
    assert problems(camp) == [None, None, None, None]


def test_the_recipients_own_number_counts_as_a_phone_number() -> None:
    # Operators read the text, not our intentions: %hpno% and a missing
    # value without a fallback (iSMS puts in the number) are blocked alike.
    frame = pl.DataFrame({"phone": [MY, "0191234567"], "name": ["Ali", None]})
    hpno = ic.Campaign("t", frame, template="KedaiKita: your number %hpno% is registered")
    assert problems(hpno) == ["phone number in the message"] * 2
    missing = ic.Campaign("t", frame, template="KedaiKita: Hi %name%")
    assert problems(missing) == [None, "phone number in the message"]
    assert "fallback" in str(finding(missing, "phone number", "problem")["what_to_do"])
    fixed = ic.Campaign("t", frame, template="KedaiKita: Hi %name%", fallbacks={"name": "there"})
    assert problems(fixed) == [None, None]


# -- personal details and brand -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("Please reply with your IC number", "IC number"),
        ("Sila berikan nombor IC anda", "IC number"),
        ("Kemas kini MyKad anda", "IC number"),
        ("Sahkan no. kad pengenalan", "IC number"),
        ("Update your bank account details", "bank account"),
        ("Sila sahkan akaun bank anda", "bank account"),
        ("Enter your password to continue", "password"),
        ("Masukkan kata laluan anda", "password"),
        ("Confirm your PIN", "PIN"),
        ("Reply with the OTP we sent you", "OTP"),
        ("Sila hantar kod TAC anda", "OTP"),
    ],
)
def test_requests_for_personal_details_are_warnings(text: str, detail: str) -> None:
    camp = plan(f"KedaiKita: {text}.")
    row = camp.messages.row(0, named=True)
    assert row["problem"] is None  # still sent: operators may block it, or not
    assert row["warning"] == f"mentions personal details ({detail})"
    assert finding(camp, "personal details", "warning")["rows"] == 1


def test_personal_detail_words_inside_other_words_or_otp_notices_are_fine() -> None:
    camp = plan(
        "KedaiKita: Your one-time password is 482913. Do not share it.",
        "KedaiKita: Pinjaman peribadi, picnic, topic, basic",
        "KedaiKita: Your OTP is 482913.",
    )
    assert camp.messages["warning"].to_list() == [None, None, None]
    assert "personal details" not in camp.checks()["rule"].to_list()


def test_the_brand_is_checked_in_any_case_and_spacing() -> None:
    camp = plan("KEDAI ABC: hi", "Hi from kedai  abc", "Hi from us", brand="Kedai ABC")
    assert camp.messages["warning"].to_list() == [
        None,
        None,
        "brand 'Kedai ABC' not in the message",
    ]
    brand = finding(camp, "brand", "warning")
    assert brand["rows"] == 1 and brand["example"] == "Hi from us"
    # Without brand= there is nothing to check: a note says what to give.
    assert "brand=" in str(finding(plan("Hi"), "brand", "note")["what_to_do"])


def test_an_opt_out_promise_by_reply_is_a_note() -> None:
    for text in ("Reply STOP to opt out", "Balas BATAL untuk berhenti", "SMS 'henti' ke 6xxx"):
        assert finding(plan(f"KedaiKita: sale. {text}"), "opt-out reply", "note")["rows"] == 1
    quiet = plan("KedaiKita: the bus stop is near")
    assert "opt-out reply" not in quiet.checks()["rule"].to_list()


# The template's own text is checked once for the rules it settles (the
# opt-out promise, the brand); the answers must be those of reading each message.
PIECES = [
    "%name%", "%name%", "Reply STOP", " reply stop.", "Kedai Ali", "kedai  ALI", " ", ".",
    ": ", "stop", "STOP", "Balas BATAL", " to opt out", "SMS henti", "’", "Hi ",
]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=6),
    st.lists(st.sampled_from(["Ali", "STOP", "Reply", "Kedai", "", " x "]), min_size=3, max_size=3),
    st.booleans(),
)
def test_the_templates_own_text_is_read_as_each_message_would_be(
    pieces: list[str], names: list[str], smart_ascii: bool
) -> None:
    template = "".join(pieces)
    frame = pl.DataFrame({"phone": [MY, "0123456780", SG], "name": names, "text": [template] * 3})
    options = {"brand": "Kedai Ali", "smart_ascii": smart_ascii, "fallbacks": {"name": "you"}}
    once = ic.Campaign("t", frame, template=template, **options)  # type: ignore[arg-type]
    each = ic.Campaign("t", frame, template_column="text", **options)  # type: ignore[arg-type]
    columns = ["msg", "warning", "problem"]
    assert once.messages.select(columns).equals(each.messages.select(columns))
    assert once.checks().equals(each.checks())


# -- the prefix -------------------------------------------------------------


def test_the_prefix_counts_in_length_parts_and_credits() -> None:
    text = "x" * 153  # exactly one type 1 part
    bare = plan(text, text, brand="x")
    assert bare.messages.select("length", "parts", "credits").row(0) == (153, 1, 1)
    prefix = finding(bare, "prefix", "warning")
    assert prefix["rows"] == 2
    assert "RM0.00" in str(prefix["what_to_do"])
    assert "4 credits instead of 2" in str(prefix["what_to_do"])

    prefixed = plan(text, text, prefix="RM0.00 ", brand="x")
    assert prefixed.messages.select("msg", "length", "parts", "credits").row(0) == (
        "RM0.00 " + text,
        160,
        2,
        2,
    )
    assert prefixed.credits == 4
    cost = finding(prefixed, "prefix", "note")
    assert cost["rows"] == 2 and "2 credits more" in str(cost["what_to_do"])
    assert "prefix" not in prefixed.checks().filter(severity="warning")["rule"].to_list()


def test_the_prefix_in_unicode_messages_and_empty_ones() -> None:
    camp = plan("KedaiKita 你好", "   ", prefix="RM0.00 ")
    assert camp.messages.select("msg", "type", "length").row(0) == ("RM0.00 KedaiKita 你好", 2, 19)
    assert camp.messages.select("msg", "problem").row(1) == ("   ", "empty message")


def test_a_template_that_starts_with_rm0_gets_no_prefix_finding() -> None:
    camp = plan("RM0.00 KedaiKita: sale today", brand="KedaiKita")
    assert camp.checks().is_empty()


# -- scope and switches -----------------------------------------------------


BAD = "Hi, visit bit.ly/x or call 0123456789 with your IC number. Reply STOP to opt out"


def test_only_malaysian_rows_are_checked() -> None:
    camp = plan(BAD, number=SG, rate_card=Path(cli._data_dir()) / "rate_card.csv")
    assert problems(camp) == [None] and camp.messages["warning"][0] is None
    assert camp.checks().is_empty()


def test_compliance_none_turns_every_check_off_but_keeps_the_prefix() -> None:
    camp = plan(BAD, compliance=None, prefix="RM0.00 ")
    assert problems(camp) == [None] and camp.messages["warning"][0] is None
    assert camp.messages["msg"][0] == "RM0.00 " + BAD
    assert camp.checks().is_empty()
    assert camp.checks().columns == ["rule", "severity", "rows", "example", "what_to_do"]
    checked = plan(BAD, "Hi, your IC number. Reply STOP to opt out")
    assert problems(checked) == ["link to bit.ly: not in allowed_domains", None]
    # Problems first, then warnings, then notes; all that is wrong at once,
    # so the number behind the link shows too.
    assert checked.checks().select("severity", "rule", "rows").rows() == [
        ("problem", "link", 1),
        ("problem", "phone number", 1),
        ("warning", "personal details", 2),
        ("warning", "prefix", 1),  # counts the rows that will be sent
        ("note", "brand", 2),
        ("note", "opt-out reply", 2),
    ]


def test_bad_settings_are_refused_with_what_to_write() -> None:
    with pytest.raises(ic.PlanError, match=r"compliance='SG' is not known: use 'MY'"):
        plan("x", compliance="SG")
    with pytest.raises(ic.PlanError, match=r"prefix must be text, not int"):
        plan("x", prefix=0)


# -- where a user sees them ----------------------------------------------------


def test_the_display_shows_the_findings_first() -> None:
    camp = plan("KedaiKita: see bit.ly/x", "Hi there", brand="KedaiKita")
    page = camp._repr_html_()
    assert page.index("Check first") < page.index("recipients") < page.index("Preview")
    assert "<td>problem</td><td>link</td>" in page
    lines = repr(camp).splitlines()
    assert lines[0] == "<Campaign 't': 2 rows, 1 sendable, 1 skipped, 1 credits>"
    assert lines[1].startswith("problem: link (1 rows): Malaysian operators block SMS with links")
    assert lines[2].startswith("warning: brand (1 rows)")
    # The notes a widget or a send shows begin with them too.
    assert camp.notes[0] == lines[1] and camp.notes[1] == lines[2]


def test_the_composer_shows_the_findings(tmp_path: Path) -> None:
    frame = pl.DataFrame({"phone": [MY]})
    composer = Composer(frame, template="Hi, visit bit.ly/x", delay=0, brand="KedaiKita")
    assert "problem: link (1 rows)" in composer.status.value
    assert "warning: brand (1 rows)" in composer.status.value


def test_the_cli_estimate_prints_the_findings_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "contacts.csv"  # as Excel saves it: BOM, CRLF
    path.write_bytes("\ufeffName,Mobile No.\r\nAli,012-345 6789\r\nSiti,019-123 4567\r\n".encode())
    template = "Hi %Name%, sale at kedai.my/sale. Your IC no. please"
    assert main(["estimate", str(path), "--template", template]) == 0
    out = capsys.readouterr().out
    assert out.index("Check first") < out.index("recipients")
    assert "problem: link (2 rows)" in out and "e.g. Hi Ali, sale at kedai.my/sale" in out
    assert "skipped: link to kedai.my: not in allowed_domains" in out

    args = ["estimate", str(path), "--template", template, "--allow-domain", "kedai.my"]
    assert main([*args, "--prefix", "RM0.00 ", "--brand", "KedaiKita"]) == 0
    out = capsys.readouterr().out
    assert "problem:" not in out and "warning: personal details (2 rows)" in out
    assert "warning: brand (2 rows)" in out
    assert "Total: 2 messages, 2 credits" in out and "RM0.00 Hi Ali" in out

    assert main(["estimate", str(path), "--template", template, "--no-compliance"]) == 0
    out = capsys.readouterr().out
    assert "Check first" not in out and "Total: 2 messages" in out


def test_the_demo_template_complies() -> None:
    contacts = ic.read_contacts(cli._data_dir() / "sample_contacts.csv")
    camp = ic.Campaign(
        "demo",
        contacts,
        template=cli.DEMO_TEMPLATE,
        prefix=cli.DEMO_PREFIX,
        brand=cli.DEMO_BRAND,
        fallbacks={"name": "Customer"},
        rate_card=cli._data_dir() / "rate_card.csv",
    )
    findings = camp.checks()
    # What is left is the sample's missing order IDs: iSMS would put the
    # number in their place, so those rows are not sent.
    assert findings.select("rule", "severity").rows() == [("phone number", "problem")]
    assert camp.messages["msg"].drop_nulls().str.starts_with("RM0.00 KedaiKita: ").all()

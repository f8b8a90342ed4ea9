"""Follow-ups and exports: the plan keeps the contact columns its template read, so the
undelivered (or any selection) can be planned again and every message exported.

Sent to the in-process simulator, whose ledger shows what really went out; the
delivery reports are made from that ledger, a known status for each message.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns.cli import main
from isms_campaigns.followup import WHERE
from isms_campaigns.simulator import Simulator

from .conftest import DATA

TEMPLATE = "Hi %name%, order %order_id% (RM%amount%) is ready at %outlet%."
KEPT = ["name", "phone", "order_id", "outlet", "amount"]  # the sample's, in its order


def report_dlrs(store: ic.Store, sim: Simulator, status_of: dict[str, str | None]) -> None:
    """Import a delivery report for each ledger entry: ``status_of[dstno]`` (None: no
    report), DELIVERED for the numbers not named."""
    events = [
        (e.dstno, e.sms_id, status_of.get(e.dstno, "DELIVERED"))
        for e in sim.ledger
        if status_of.get(e.dstno, "DELIVERED") is not None
    ]
    frame = pl.DataFrame(events, schema=["msisdn", "trx_id", "dn_status"], orient="row")
    store.import_dlr(frame)


@pytest.fixture
def sent() -> tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]]:
    """The sample contacts (a CSV as exported from Excel) sent as 'oct', and reports
    imported: every 7th number UNDELIVERED, every 11th without a report."""
    contacts = ic.read_contacts(DATA / "sample_contacts.csv")
    camp = ic.Campaign(
        "oct",
        contacts,
        template=TEMPLATE,
        fallbacks={"name": "Customer"},
        formats={"amount": "{:.2f}"},
        purpose="transactional",
        prefix="RM0.00 ",
        brand="KedaiKita",
        sender_id="KedaiKita",
    )
    sim, store = Simulator(), ic.Store()
    camp.send(sim.gateway(), store, progress=False)
    numbers = sorted(e.dstno for e in sim.ledger)
    status_of: dict[str, str | None] = {n: "UNDELIVERED" for n in numbers[::7]}
    status_of |= {n: None for n in numbers[3::11]}
    report_dlrs(store, sim, status_of)
    return store, sim, camp, status_of


def test_follow_up_of_the_undelivered_end_to_end(
    sent: tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]],
) -> None:
    store, sim, first, status_of = sent
    undelivered = {n for n, s in status_of.items() if s == "UNDELIVERED"}
    follow = store.follow_up("oct", "oct-again", where="undelivered")

    assert follow.parent == "oct" and follow.name == "oct-again"
    # Their original contact rows, the columns the template read kept as they were.
    original = (
        first.contacts.with_columns(first.messages.select("dstno", "problem"))
        .filter(pl.col("dstno").is_in(list(undelivered)) & pl.col("problem").is_null())
        .drop("dstno", "problem")
    )
    assert follow.contacts.columns == KEPT
    assert follow.contacts.sort("phone").equals(original.sort("phone"))
    # Planned as the first was: the same text for each (prefix, format, fallback).
    texts = dict(first.sendable.select("dstno", "msg").iter_rows())
    assert set(follow.sendable["dstno"]) == undelivered
    assert all(texts[d] == m for d, m in follow.sendable.select("dstno", "msg").iter_rows())
    assert follow.settings.sender_id == "KedaiKita" and follow.purpose == "transactional"

    before = len(sim.ledger)
    report = follow.send(sim.gateway(), store, progress=False)
    again = Counter(e.dstno for e in sim.ledger[before:])
    assert report.ok and again == Counter(undelivered)  # each exactly once
    parent = store.sql("select parent from campaigns where campaign = 'oct-again'").item()
    assert parent == "oct"

    # Run again (the first's reports unchanged): it resumes, nobody gets it twice.
    store.follow_up("oct", "oct-again", where="undelivered").send(
        sim.gateway(), store, progress=False
    )
    # Under another name: the repeat guard sees the follow-up's messages.
    other = store.follow_up("oct", "oct-third", where="undelivered")
    report = other.send(sim.gateway(), store, progress=False)
    assert len(sim.ledger) == before + len(undelivered)
    assert report.states.get("submitted", 0) == 0
    problems = store.sql("select problem from messages where campaign = 'oct-third'")["problem"]
    assert problems.str.starts_with("already sent by campaign 'oct-again'").all()


def test_the_named_selections_count_as_the_delivery_summary() -> None:
    contacts = pl.DataFrame(
        {
            "mobile": [f"012-555 {i:04d}" for i in range(30)],
            "offer": ["judi bola" if i % 10 == 0 else f"voucher {i}" for i in range(30)],
        }
    )
    sim, store = Simulator(), ic.Store()
    camp = ic.Campaign(
        "nov", contacts, template="Your %offer%", compliance=None, purpose="transactional"
    )
    camp.send(sim.gateway(), store, progress=False)  # the prohibited word: -1009 per row
    numbers = sorted(e.dstno for e in sim.ledger)
    statuses = ["UNDELIVERED", None] * 4
    report_dlrs(store, sim, dict(zip(numbers[:8], statuses, strict=True)))
    summary = ic.delivery_summary(store, by="campaign")
    for where in WHERE:
        follow = store.follow_up("nov", f"nov-{where}", where=where)
        assert follow.messages.height == summary[where].item() > 0, where
    failed = store.follow_up("nov", "nov-f", where="failed").contacts["offer"]
    assert failed.str.starts_with("judi").all()


def test_where_is_sql_over_messages_and_contact_columns_and_template_can_change(
    sent: tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]],
) -> None:
    store, sim, _, _ = sent
    follow = store.follow_up(
        "oct",
        "oct-ipoh",
        where="outlet like 'Ipoh%' and state = 'submitted'",
        template="Maaf %name%, order %order_id% is still waiting at %outlet%.",
    )
    assert follow.messages.height > 0
    assert follow.contacts["outlet"].str.starts_with("Ipoh").all()
    assert follow.sendable["msg"].str.starts_with("RM0.00 Maaf ").all()  # the prefix kept
    # A contact column named like a view column is contact_<name>.
    clash = pl.DataFrame({"phone": ["0123456789", "0198887777"], "state": ["Perak", "Johor"]})
    ic.Campaign(
        "st", clash, template="From %state%", compliance=None, purpose="transactional"
    ).send(sim.gateway(), store, progress=False)
    perak = store.follow_up("st", "st-2", where="contact_state = 'Perak'")
    assert perak.contacts.rows() == [("0123456789", "Perak")]


def test_follow_up_errors_say_what_to_do(
    sent: tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]],
) -> None:
    store, _, _, _ = sent
    with pytest.raises(ic.StoreError, match=r"No campaign 'otc'.*Did you mean 'oct'\?"):
        store.follow_up("otc", "x", where="undelivered")
    with pytest.raises(ic.StoreError, match=r"No campaign 'OCT'.*Did you mean 'oct'\?"):
        store.export("OCT", "x.csv")
    with pytest.raises(ic.StoreError, match=r"where='state = = 1' is not a condition") as bad:
        store.follow_up("oct", "x", where="state = = 1")
    assert "\n" not in str(bad.value) and "'undelivered', 'failed', 'no_dlr'" in str(bad.value)
    with pytest.raises(ic.StoreError, match=r"No message of 'oct' is failed.*undelivered \d+"):
        store.follow_up("oct", "x", where="failed")
    with pytest.raises(ic.TemplateError, match=r"kept only the contact columns.*name, phone"):
        store.follow_up("oct", "x", where="undelivered", template="Hi %email%")
    with pytest.raises(ic.PlanError, match="needs a name of its own"):
        store.follow_up("oct", "oct", where="undelivered")


def test_a_campaign_planned_before_contacts_were_kept(
    sent: tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]], tmp_path: Path
) -> None:
    store, _, _, _ = sent
    # What the schema upgrade leaves for a campaign planned by an older version.
    store.sql("update ic_plans set contact_type = null, settings = null")
    store.sql("update ic_messages set contact = null")
    with pytest.raises(ic.StoreError, match=r"older isms_campaigns.*contact list"):
        store.follow_up("oct", "x", where="undelivered")
    # Its export has the messages, without contact columns.
    back = pl.read_csv(store.export("oct", tmp_path / "old.csv"))
    assert back.columns == store.sql("select * from messages").columns[1:]
    assert back.height == 320


def test_the_do_not_contact_list_applies_to_a_follow_up(
    sent: tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]],
) -> None:
    store, sim, _, status_of = sent
    listed = sorted(n for n, s in status_of.items() if s == "UNDELIVERED")[0]
    store.suppress([listed], source="call centre")
    follow = store.follow_up("oct", "oct-again", where="undelivered")
    skipped = follow.messages.filter(pl.col("dstno") == listed)["problem"].item()
    assert skipped.startswith("do-not-contact: opt-out since")
    before = len(sim.ledger)
    follow.send(sim.gateway(), store, progress=False)
    assert listed not in {e.dstno for e in sim.ledger[before:]}


def test_plan_settings_plan_the_same_messages_again() -> None:
    contacts = ic.read_contacts(DATA / "sample_contacts.csv")
    camp = ic.Campaign(
        "s",
        contacts,
        template=TEMPLATE,
        formats={"amount": "{:.2f}"},
        smart_ascii=True,
        prefix="RM0.00 ",
        brand="KedaiKita",
        billing=ic.BillingRule(price_per_credit=0.08, rates={60: 1, 65: 2}),
        window="09:00-18:30",
    )
    again = ic.Campaign.from_settings("s", camp.contacts, camp.plan_settings())
    assert again.messages.equals(camp.messages)
    assert again.billing == camp.billing and again.window == camp.window
    assert again.checks().equals(camp.checks())


def test_the_kept_columns_are_those_the_templates_read() -> None:
    contacts = pl.DataFrame(
        {
            "hp": ["0123456789", "0198887777"],
            "Nama Penuh": ["Ali", "Mei"],
            "city": ["Ipoh", "KL"],
            "secret": ["x", "y"],
            "text": ["Hi %nama_penuh%, 50% off", "Salam dari %CITY%"],
        }
    )
    one = ic.Campaign("a", contacts, template="Hi %Nama Penuh% %hpno%", compliance=None)
    assert one.contacts.columns == ["hp", "Nama Penuh"]
    many = ic.Campaign("b", contacts, template_column="text", compliance=None)
    assert many.contacts.columns == ["hp", "Nama Penuh", "city", "text"]


# -- export -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_export_round_trip(
    sent: tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]],
    tmp_path: Path,
    suffix: str,
) -> None:
    store, _, first, _ = sent
    path = store.export("oct", tmp_path / "out" / f"oct{suffix}")
    assert os.listdir(path.parent) == [path.name]  # no temporary file left
    if suffix == ".csv":
        back = pl.read_csv(path, infer_schema=False)
    elif suffix == ".parquet":
        back = pl.read_parquet(path)
    else:
        back = pl.read_excel(path, infer_schema_length=0)  # every cell as written
    messages = store.sql("select * from messages where campaign = 'oct' order by row")
    assert back.columns[: len(KEPT)] == KEPT
    assert back.columns[len(KEPT) :] == messages.columns[1:]  # the view's, but campaign
    assert back.height == messages.height == first.messages.height
    for column in ["row", "dstno", "state", "code", "dlr_status", "problem"]:
        written = back[column].cast(pl.String).to_list()
        assert written == messages[column].cast(pl.String).to_list(), column
    contacts = first.contacts.select(pl.all().cast(pl.String))
    assert back.select(KEPT).select(pl.all().cast(pl.String)).equals(contacts)
    # Times: the same instants, written in Malaysian time.
    submitted = messages["submitted_at"].dt.convert_time_zone("Asia/Kuala_Lumpur")
    if suffix == ".parquet":
        assert back["submitted_at"].to_list() == messages["submitted_at"].to_list()
    elif suffix == ".csv":
        first_time = back["submitted_at"].drop_nulls()[0]
        assert first_time.endswith("+08")
        assert first_time.startswith(submitted.drop_nulls()[0].strftime("%Y-%m-%d %H:%M:%S"))
    else:
        first_time = back["submitted_at"].drop_nulls()[0]
        assert first_time.startswith(submitted.drop_nulls()[0].strftime("%Y-%m-%d %H:%M:%S"))


def test_export_of_a_few_thousand_messages(tmp_path: Path) -> None:
    n = 3_000
    contacts = pl.DataFrame(
        {"phone": [f"012{i:07d}" for i in range(n)], "name": [f"N{i}" for i in range(n)]}
    )
    sim, store = Simulator(), ic.Store()
    ic.Campaign("big", contacts, template="Hi %name%", purpose="transactional").send(
        sim.gateway(), store, progress=False
    )
    for suffix in (".csv", ".parquet"):
        back = (pl.read_csv if suffix == ".csv" else pl.read_parquet)(
            store.export("big", tmp_path / f"big{suffix}")
        )
        assert back.height == n and back["name"].n_unique() == n
        assert (back["state"] == "submitted").all()


def test_export_errors_are_one_line(
    sent: tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]], tmp_path: Path
) -> None:
    store, _, _, _ = sent
    with pytest.raises(ic.StoreError, match=r"end the file name with .csv, .parquet, .xlsx"):
        store.export("oct", tmp_path / "oct.json")
    (tmp_path / "oct.csv").mkdir()
    with pytest.raises(ic.StoreError, match="is a folder"):
        store.export("oct", tmp_path / "oct.csv")
    with pytest.raises(ic.StoreError, match="No campaign 'oc'"):
        store.export("oc", tmp_path / "x.csv")
    blocked = tmp_path / "notes.txt"  # a file where the folder should be
    blocked.write_text("x")
    with pytest.raises(ic.StoreError, match=r"Cannot write .*notes.txt/x.csv") as error:
        store.export("oct", blocked / "x.csv")
    assert "\n" not in str(error.value)


# -- the command line ------------------------------------------------------------------


def test_export_and_follow_up_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ISMS_USERNAME", "demo")
    monkeypatch.setenv("ISMS_PASSWORD", "demo")
    path = tmp_path / "s.duckdb"
    sim = Simulator()
    with sim.serve() as urls, ic.Store(path) as store:
        t = sim.transport()
        gw = ic.Gateway("demo", "demo", hosts=urls, transport=t, async_transport=t)
        contacts = ic.read_contacts(DATA / "sample_contacts.csv")
        ic.Campaign("cli", contacts, template=TEMPLATE, purpose="transactional").send(
            gw, store, progress=False
        )
        numbers = sorted(e.dstno for e in sim.ledger)[:5]
        report_dlrs(store, sim, {n: "UNDELIVERED" for n in numbers})
    out = tmp_path / "cli.xlsx"
    assert main(["export", "cli", str(out), "--store", str(path)]) == 0
    assert f"Wrote the 320 messages of 'cli' to {out}" in capsys.readouterr().out
    assert pl.read_excel(out, infer_schema_length=0).height == 320

    with sim.serve() as urls:
        before = len(sim.ledger)
        args = ["follow-up", "cli", "cli-2", "--where", "undelivered", "--store", str(path)]
        assert main([*args, "--hosts", *urls, "--yes"]) == 0
        printed = capsys.readouterr().out
        assert "Follow-up 'cli-2' of 'cli'" in printed and "complete" in printed
        assert sorted(e.dstno for e in sim.ledger[before:]) == numbers
        assert main([*args, "--hosts", *urls, "--yes"]) == 0  # again: nothing more
        again = capsys.readouterr().out
        assert "is in the store: resuming it" in again and "Nothing to send" in again
        assert "nothing has been sent" not in again
        assert len(sim.ledger) == before + 5

    assert main(["export", "cli", str(tmp_path / "x.txt"), "--store", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: Cannot export to")
    assert main(["export", "cli", "x.csv", "--store", str(tmp_path / "none.duckdb")]) == 2
    assert "No store at" in capsys.readouterr().err
    assert not (tmp_path / "none.duckdb").exists()


def test_an_ab_campaign_follows_up_and_exports_with_its_variants(tmp_path: Path) -> None:
    contacts = ic.split(ic.read_contacts(DATA / "sample_contacts.csv"), {"A": 0.5, "B": 0.5})
    texts = {"A": "RM0.00 KedaiKita: hi %name%", "B": "RM0.00 KedaiKita: %name%, at %outlet%"}
    camp = ic.Campaign("ab", contacts, template=texts, purpose="transactional", brand="KedaiKita")
    assert "variant" in camp.contacts.columns
    sim, store = Simulator(), ic.Store()
    camp.send(sim.gateway(), store)
    again = store.follow_up("ab", "ab-b", where="variant = 'B'")
    b = camp.sendable.filter(variant="B")
    columns = ["dstno", "msg", "variant"]
    assert again.sendable.select(columns).equals(b.select(columns))
    exported = pl.read_csv(store.export("ab", tmp_path / "ab.csv"), infer_schema=False)
    assert exported.columns.count("variant") == 1 and "contact_variant" not in exported.columns
    assert (
        exported.filter(pl.col("state") == "submitted")["variant"]
        .value_counts()
        .sort("variant")
        .rows()
        == camp.sendable["variant"].value_counts().sort("variant").rows()
    )


def test_a_follow_up_of_a_follow_up_reaches_the_still_undelivered(
    sent: tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]],
) -> None:
    store, sim, _, _ = sent
    second = store.follow_up("oct", "oct-2", where="undelivered")
    before = len(sim.ledger)
    second.send(sim.gateway(), store, progress=False)
    # Half of them undelivered again: the third try goes to exactly those.
    retried = sorted(e.dstno for e in sim.ledger[before:])
    still = set(retried[::2])
    store.import_dlr(
        pl.DataFrame(
            [(e.dstno, e.sms_id, "UNDELIVERED" if e.dstno in still else "DELIVERED")
             for e in sim.ledger[before:]],
            schema=["msisdn", "trx_id", "dn_status"],
            orient="row",
        )
    )  # fmt: skip
    before = len(sim.ledger)
    store.follow_up("oct-2", "oct-3", where="undelivered").send(
        sim.gateway(), store, progress=False
    )
    assert Counter(e.dstno for e in sim.ledger[before:]) == Counter(still)


def test_a_follow_up_run_again_resumes_its_plan_whatever_came_since() -> None:
    contacts = ic.read_contacts(DATA / "sample_contacts.csv")
    camp = ic.Campaign("nov", contacts, template="RM0.00 Kedai: hi %name%", purpose="transactional")
    sim, store = Simulator(), ic.Store()
    camp.send(sim.gateway(), store, progress=False)
    waiting = sorted(e.dstno for e in sim.ledger)  # no report imported yet
    follow = store.follow_up("nov", "nov-late", where="no_dlr")
    assert sorted(follow.sendable["dstno"]) == waiting
    # The account runs dry after the first request: the rest stay planned.
    sim.accounts["demo"].balance = 60
    before = len(sim.ledger)
    follow.send(sim.gateway(), store, progress=False, check_balance=False, concurrency=1)
    assert len(sim.ledger) - before == 50
    # The reports of "nov" arrive: none of it is without a report any more.
    report_dlrs(store, sim, {})
    sim.accounts["demo"].balance = 1_000
    # The same cell run again: the follow-up resumes, each recipient once in all.
    store.follow_up("nov", "nov-late", where="no_dlr").send(sim.gateway(), store, progress=False)
    assert Counter(e.dstno for e in sim.ledger[before:]) == Counter(waiting)
    # A name taken by a campaign that follows up something else is refused.
    with pytest.raises(ic.StoreError, match="already a campaign"):
        store.follow_up("nov-late", "nov", where="failed")


def test_contact_columns_named_like_message_columns_in_any_case(tmp_path: Path) -> None:
    phones = [f"012345{i:04d}" for i in range(8)]
    contacts = pl.DataFrame({"phone": phones, "State": ["Selangor", "Johor"] * 4, "Row": "x"})
    camp = ic.Campaign(
        "st", contacts, template="RM0.00 Kedai: jumpa di %State% %Row%", purpose="transactional"
    )
    sim, store = Simulator(), ic.Store()
    camp.send(sim.gateway(), store, progress=False)
    report_dlrs(store, sim, {e.dstno: "UNDELIVERED" for e in sim.ledger[:3]})
    again = store.follow_up("st", "st-2", where="undelivered")
    assert again.sendable.height == 3 and again.contacts.columns == ["phone", "State", "Row"]
    assert store.follow_up("st", "st-3", where="row = 0").sendable.height == 1
    exported = pl.read_csv(store.export("st", tmp_path / "st.csv"), infer_schema=False)
    assert {"contact_State", "contact_Row", "state", "row"} <= set(exported.columns)
    assert not [c for c in exported.columns if c.endswith("_1")]


def test_a_scheduled_campaign_has_no_no_dlr_follow_up_before_its_time() -> None:
    contacts = pl.DataFrame({"phone": [f"012345{i:04d}" for i in range(5)]})
    later = datetime.now(UTC) + timedelta(days=1)
    camp = ic.Campaign("later", contacts, template="RM0.00 Kedai: ok", send_later=later)
    sim, store = Simulator(), ic.Store()
    camp.send(sim.gateway(), store, progress=False)
    assert len(sim.held()) == 5
    with pytest.raises(ic.StoreError, match=r"scheduled for .* twice"):
        store.follow_up("later", "later-2", where="no_dlr")


def test_export_to_any_path_with_the_permissions_of_a_new_file(
    sent: tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]], tmp_path: Path
) -> None:
    store = sent[0]
    mask = os.umask(0o022)
    try:
        for suffix in (".csv", ".parquet", ".xlsx"):
            path = store.export("oct", tmp_path / "o'brien" / f"x'{suffix}")
            assert path.stat().st_mode & 0o777 == 0o644, suffix
    finally:
        os.umask(mask)
    assert sorted(p.name for p in (tmp_path / "o'brien").iterdir()) == [
        "x'.csv",
        "x'.parquet",
        "x'.xlsx",
    ]


def test_who_did_not_get_it_counts_the_last_try_of_each_recipient(
    sent: tuple[ic.Store, Simulator, ic.Campaign, dict[str, str | None]],
) -> None:
    store, sim, _, status_of = sent
    undelivered = sorted(n for n, s in status_of.items() if s == "UNDELIVERED")
    listed = ic.analytics.not_delivered(store)
    assert sorted(listed.filter(campaign="oct")["dstno"]) == undelivered
    before = len(sim.ledger)
    store.follow_up("oct", "oct-2", where="undelivered").send(sim.gateway(), store, progress=False)
    unlucky = set(undelivered[:2])  # undelivered again; the rest delivered this time
    retried = [
        (e.dstno, e.sms_id, "UNDELIVERED" if e.dstno in unlucky else "DELIVERED")
        for e in sim.ledger[before:]
    ]
    store.import_dlr(pl.DataFrame(retried, schema=["msisdn", "trx_id", "dn_status"], orient="row"))
    listed = ic.analytics.not_delivered(store)
    assert listed.select("campaign", "dstno").sort("dstno").rows() == [
        ("oct-2", n) for n in sorted(unlucky)
    ]

"""The do-not-contact list: kept in the store, applied by every send through it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns.cli import main
from isms_campaigns.simulator import Account, Simulator

CONTACTS = pl.DataFrame(
    {"phone": ["012-345 6789", "019-888 7777", "016-222 3333"], "name": ["Ali", "Mei", "Raj"]}
)
MEI = "60198887777"


def listed(store: ic.Store) -> dict[str, tuple[str, str | None]]:
    rows = store.sql("select number, reason, source from suppressions").rows()
    return {number: (reason, source) for number, reason, source in rows}


def sent_to(sim: Simulator) -> set[str]:
    return {entry.dstno for entry in sim.ledger}


def write_csv(path: Path, text: str) -> Path:
    """As Excel saves "CSV UTF-8": a byte-order mark and Windows line endings."""
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    return path


# --------------------------------------------------------------------------
# suppress / unsuppress
# --------------------------------------------------------------------------


def test_suppress_and_unsuppress_keep_every_change() -> None:
    store = ic.Store()
    first = store.suppress(["+60 19-888 7777", "0123456789"], source="call centre")
    assert first.rows() == [(MEI, False, True), ("60123456789", False, True)]
    again = store.suppress(pl.Series(["60198887777"]), reason="complaint")  # another spelling
    assert again.rows() == [(MEI, True, True)]
    assert listed(store)[MEI] == ("opt-out", "call centre")  # listed as it was
    off = store.unsuppress(["019 888 7777"], reason="asked to be back", source="e-mail")
    assert off.rows() == [(MEI, True, False)]
    assert set(listed(store)) == {"60123456789"}
    log = store.sql(
        "select action, reason, source from ic_optouts where number = ? order by recorded_at",
        [MEI],
    )
    assert log.rows() == [
        ("suppress", "opt-out", "call centre"),
        ("unsuppress", "asked to be back", "e-mail"),
    ]
    store.suppress([MEI], reason="opt-out again")
    assert listed(store)[MEI] == ("opt-out again", None)
    assert store.sql("select count(*) as n from ic_optouts where number = ?", [MEI])["n"][0] == 3


def test_since_is_when_it_happened_in_malaysian_time() -> None:
    store = ic.Store()
    store.suppress(["0198887777"], at="2026-11-03 07:30")  # naive: Malaysian
    since = store.sql("select since from suppressions")["since"][0]
    assert since == datetime(2026, 11, 2, 23, 30, tzinfo=UTC)
    assert store.do_not_contact(pl.Series([MEI, None, "60123456789"])).to_list() == [
        "do-not-contact: opt-out since 2026-11-03",
        None,
        None,
    ]


def test_an_older_removal_does_not_lift_a_later_listing() -> None:
    store = ic.Store()
    store.suppress([MEI], at="2026-11-05 10:00")
    store.unsuppress([MEI], reason="old e-mail", at="2026-11-01 10:00")
    assert MEI in listed(store)


def test_an_unreadable_entry_records_nothing() -> None:
    store = ic.Store()
    with pytest.raises(ic.ContactsError, match="'Siti'"):
        store.suppress(["0123456789", "Siti"])
    assert store.sql("select count(*) as n from ic_optouts")["n"][0] == 0
    with pytest.raises(ic.ContactsError, match="reason"):
        store.unsuppress(["0123456789"], reason=" ")
    with pytest.raises(ic.IsmsError, match="'yesterday'"):
        store.suppress(["0123456789"], at="yesterday")
    assert store.sql("select count(*) as n from ic_optouts")["n"][0] == 0


# --------------------------------------------------------------------------
# sending
# --------------------------------------------------------------------------


def test_a_send_skips_a_listed_number_and_keeps_its_row() -> None:
    sim = Simulator()
    store = ic.Store()
    store.suppress(["019-888 7777"], at="2026-11-03 10:00")
    report = ic.Campaign("nov", CONTACTS, template="Hi %name%").send(
        sim.gateway(), store, progress=False
    )
    assert sent_to(sim) == {"60123456789", "60162223333"}
    rows = store.sql("select dstno, state, problem from messages order by row").rows()
    assert rows[1] == (MEI, "skipped", "do-not-contact: opt-out since 2026-11-03")
    assert len(rows) == CONTACTS.height
    assert report.states["skipped"] == 1
    assert any("do-not-contact list" in note for note in report.notes)
    # A test send to a listed number is skipped too.
    ic.Campaign("nov", CONTACTS, template="Hi %name%").send(
        sim.gateway(), store, progress=False, test_numbers=["0198887777"]
    )
    assert MEI not in sent_to(sim)


def test_a_number_listed_before_a_resume_is_not_sent() -> None:
    account = Account(balance=1)  # the first send is refused before anything leaves
    sim = Simulator([account])
    store = ic.Store()
    camp = ic.Campaign("nov", CONTACTS, template="Hi %name%")
    with pytest.raises(ic.SendError, match="balance"):
        camp.send(sim.gateway(), store, progress=False)
    store.suppress([MEI])
    account.balance = 100
    camp.send(sim.gateway(), store, progress=False)
    assert sent_to(sim) == {"60123456789", "60162223333"}
    assert store.sql("select action from plans order by version")["action"].to_list() == [
        "new",
        "guarded",
    ]
    assert camp.send(sim.gateway(), store, progress=False).requests == 0  # nothing left


def test_a_number_taken_off_before_its_request_left_is_sent() -> None:
    account = Account(balance=1)
    sim = Simulator([account])
    store = ic.Store()
    store.suppress([MEI])
    camp = ic.Campaign("nov", CONTACTS, template="Hi %name%")
    with pytest.raises(ic.SendError, match="balance"):
        camp.send(sim.gateway(), store, progress=False)
    store.unsuppress([MEI], reason="listed by mistake")
    account.balance = 100
    camp.send(sim.gateway(), store, progress=False)
    assert sent_to(sim) == {"60123456789", MEI, "60162223333"}
    assert [e.dstno for e in sim.ledger].count(MEI) == 1


def test_the_estimate_shows_the_list_and_the_send_matches_it() -> None:
    sim = Simulator()
    store = ic.Store()
    store.suppress([MEI], at="2026-11-03 10:00")
    camp = ic.Campaign("nov", CONTACTS, template="Hi %name%", store=store)
    assert camp.messages["problem"].to_list() == [
        None,
        "do-not-contact: opt-out since 2026-11-03",
        None,
    ]
    assert camp.credits == 2 and camp.sendable.height == 2
    assert "skipped: do-not-contact: opt-out since 2026-11-03" in camp.summary()["item"]
    assert any("do-not-contact" in note for note in camp.notes)
    assert "do-not-contact" in camp._repr_html_()
    camp.send(sim.gateway(), store, progress=False)
    assert MEI not in sent_to(sim)
    # Planned again with the list (or without the store): the same plan, resumed.
    for again in (camp, ic.Campaign("nov", CONTACTS, template="Hi %name%")):
        assert again.send(sim.gateway(), store, progress=False).requests == 0
    assert store.sql("select count(*) as n from plans")["n"][0] == 1


# --------------------------------------------------------------------------
# import_opt_outs
# --------------------------------------------------------------------------


def test_replies_in_malay_and_english_suppress_their_numbers(tmp_path: Path) -> None:
    replies = write_csv(
        tmp_path / "replies.csv",
        "Mobile No,Message,Received At\n"
        "0123456789,stop la,2026-11-03 09:00\n"
        "0198887777,Tolong BATAL,2026-11-03 09:05\n"
        "0162223333,henti,2026-11-03 09:10\n"
        "0171112222,Please unsubscribe me,2026-11-03 09:15\n"
        "0134445555,ok terima kasih,2026-11-03 09:20\n"
        "0145556666,non-stopping deals?,2026-11-03 09:25\n"
        "not a number,STOP,2026-11-03 09:30\n",
    )
    store = ic.Store()
    report = store.import_opt_outs(replies)
    assert set(listed(store)) == {"60123456789", MEI, "60162223333", "60171112222"}
    assert listed(store)[MEI] == ("opt-out", "replies.csv line 3: Tolong BATAL")
    assert (report.opt_outs, report.ignored, report.unreadable) == (4, 2, 1)
    assert report.lines == 7 == report.opt_outs + report.starts + report.ignored + report.unreadable
    assert report.suppressed == 4 and not report.ok
    assert "line 8 'not a number'" in report.unreadable_examples[0]
    assert "not be applied" in report.unreadable_examples[0]
    since = store.sql("select since from suppressions where number = ?", [MEI])["since"][0]
    assert since == datetime(2026, 11, 3, 1, 5, tzinfo=UTC)
    again = store.import_opt_outs(replies)
    assert (again.suppressed, again.already_listed) == (0, 4)
    assert store.sql("select count(*) as n from ic_optouts")["n"][0] == 4


def test_start_lifts_an_opt_out_only_when_it_is_later() -> None:
    store = ic.Store()
    replies = pl.DataFrame(
        {
            "msisdn": ["0123456789", "0123456789", "0198887777", "0198887777", "0162223333"],
            "text": ["STOP", "start", "start", "BATAL", "START"],
            "time": [
                "2026-11-01 10:00",
                "2026-11-02 10:00",  # after the stop: back on
                "2026-11-01 10:00",  # before the stop: stays off
                "2026-11-02 10:00",
                "2026-11-05 10:00",  # listed by hand later than this START: stays
            ],
        }
    )
    store.suppress(["0162223333"], at="2026-11-06 10:00")
    report = store.import_opt_outs(replies)
    assert set(listed(store)) == {MEI, "60162223333"}
    assert (report.opt_outs, report.starts, report.resubscribed) == (2, 3, 1)
    assert report.starts_without_effect == 2
    # A START later than a listing made by hand takes it off.
    later = pl.DataFrame({"msisdn": ["0162223333"], "text": ["start"], "time": ["2026-11-07"]})
    assert store.import_opt_outs(later).resubscribed == 1
    assert "60162223333" not in listed(store)


def test_without_times_start_changes_nothing_and_stop_counts_from_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from isms_campaigns import optouts

    monkeypatch.setattr(optouts, "now", lambda: datetime(2026, 11, 3, 2, 0, tzinfo=UTC))
    store = ic.Store()
    replies = pl.DataFrame(
        {"phone": ["0123456789", "0123456789", "0198887777"], "reply": ["stop", "start", "start"]}
    )
    report = store.import_opt_outs(replies)
    assert set(listed(store)) == {"60123456789"}
    assert report.starts_without_effect == 2 and report.resubscribed == 0
    since = store.sql("select since from suppressions")["since"][0]
    assert since == datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    store.import_opt_outs(replies)  # no time: once per number, not again
    assert store.sql("select count(*) as n from ic_optouts")["n"][0] == 1


def test_a_number_list_is_suppressed_whole_or_not_at_all(tmp_path: Path) -> None:
    store = ic.Store()
    good = write_csv(tmp_path / "optouts.txt", "Opt-outs\n012-345 6789\n\n0198887777 (Mei)\n")
    report = store.import_opt_outs(good)
    assert (report.lines, report.suppressed) == (2, 2)
    assert listed(store)["60123456789"] == ("opt-out", "optouts.txt")
    bad = write_csv(tmp_path / "bad.csv", "phone\n0162223333\nSiti\n")
    with pytest.raises(ic.ContactsError, match="line 3 'Siti'"):
        store.import_opt_outs(bad)
    assert "60162223333" not in listed(store)


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------


def test_the_opt_out_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    assert main(["opt-out", "add", "012-345 6789", "0198887777", "--store", db,
                 "--source", "call centre"]) == 0  # fmt: skip
    assert "Suppressed 2 numbers; 0 were already listed" in capsys.readouterr().out
    assert main(["opt-out", "remove", "0123456789", "--reason", "back", "--store", db]) == 0
    assert "Took 1 numbers off" in capsys.readouterr().out
    replies = write_csv(tmp_path / "replies.csv", "from,body\n0162223333,HENTI\nxx,stop\n")
    assert main(["opt-out", "import", str(replies), "--store", db]) == 1  # a line unreadable
    assert "1 unreadable" in capsys.readouterr().out
    assert main(["opt-out", "list", "--store", db]) == 0
    out = capsys.readouterr().out
    assert "2 numbers on the do-not-contact list" in out
    assert MEI in out and "60162223333" in out and "60123456789" not in out
    assert main(["opt-out", "add", "Siti", "--store", db]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'Siti'" in err and len(err.strip().splitlines()) == 1
    assert main(["opt-out", "list", "--store", str(tmp_path / "none.duckdb")]) == 2
    assert capsys.readouterr().err.startswith("error: No store at")
    with ic.Store(db) as store:
        assert set(listed(store)) == {MEI, "60162223333"}


def test_estimate_with_a_store_shows_its_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "c.duckdb"
    with ic.Store(db) as store:
        store.suppress([MEI], at="2026-11-03 10:00")
    contacts = tmp_path / "contacts.csv"
    CONTACTS.write_csv(contacts)
    assert main(["estimate", str(contacts), "--template", "Hi %name%", "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert "do-not-contact: opt-out since 2026-11-03" in out
    assert "Total: 2 messages" in out


# --------------------------------------------------------------------------
# suggest_suppressions
# --------------------------------------------------------------------------


def test_suggestions_are_numbers_undelivered_in_several_campaigns() -> None:
    sim = Simulator()
    store = ic.Store()
    for name in ("oct", "nov"):
        ic.Campaign(name, CONTACTS, template=f"{name}: hi %name%").send(
            sim.gateway(), store, progress=False
        )
    undelivered = {MEI, "60162223333"}
    ledger = [e for e in sim.ledger if e.dstno in undelivered]
    # Raj is undelivered in one campaign only; Mei in both.
    ledger = [e for e in ledger if e.dstno == MEI or e.msg.startswith("nov")]
    store.import_dlr(
        pl.DataFrame(
            {
                "msisdn": [e.dstno for e in ledger],
                "trx_id": [e.sms_id for e in ledger],
                "dn_status": ["UNDELIVERED"] * len(ledger),
                "event_at": ["2026-11-03 10:00"] * len(ledger),
            }
        )
    )
    suggested = store.suggest_suppressions()
    assert suggested.columns == ["number", "campaigns", "last_status", "last_at"]
    assert suggested.select("number", "campaigns", "last_status").rows() == [
        (MEI, 2, "UNDELIVERED")
    ]
    assert set(store.suggest_suppressions(min_campaigns=1)["number"]) == undelivered
    store.suppress(suggested["number"], reason="undeliverable")  # the user confirms
    assert store.suggest_suppressions().is_empty()
    with pytest.raises(ic.StoreError, match="min_campaigns"):
        store.suggest_suppressions(min_campaigns=0)

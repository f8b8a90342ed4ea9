"""Exactly once on the paths a user takes: re-run cells, two threads, a changed plan,
a renamed campaign, refusals, cancel, reconciliation, SIGTERM.

The oracle is the simulator's ledger: every test counts doubles and losses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns.send import Sender, send_campaign
from isms_campaigns.simulator import Account, Simulator

from .send_worker import contacts as numbered_contacts

WORKER = Path(__file__).with_name("send_worker.py")


def people(n: int, start: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "phone": [f"012{i:07d}" for i in range(start, start + n)],
            "name": [f"P{i}" for i in range(start, start + n)],
        }
    )


def per_number(sim: Simulator, text: str = "") -> Counter[str]:
    return Counter(e.dstno for e in sim.ledger if e.msg.startswith(text))


def assert_exactly_once(sim: Simulator, contacts: pl.DataFrame, text: str = "") -> None:
    """Every number of ``contacts`` got exactly one message (starting with ``text``):
    no double, no loss."""
    counts = per_number(sim, text)
    expected = {"60" + p[1:] for p in contacts["phone"]}
    assert set(counts) == expected, f"lost: {len(expected - set(counts))}"
    assert max(counts.values()) == 1, f"doubles: {sum(n > 1 for n in counts.values())}"


def cancelled_after(sent: int, camp: ic.Campaign) -> tuple[Simulator, ic.Store]:
    """``camp`` sent until the credits ran out after ``sent`` messages, the rest cancelled."""
    sim, store = Simulator(accounts=[Account(balance=sent)]), ic.Store()
    camp.send(sim.gateway(), store, progress=False, check_balance=False, concurrency=1)
    store.cancel(camp.name)
    sim.accounts["demo"].balance = 10_000
    return sim, store


def sending_in_background(camp: ic.Campaign, sim: Simulator, store: ic.Store) -> threading.Thread:
    """``camp`` being sent on another thread, once it holds the campaign."""
    thread = threading.Thread(target=lambda: camp.send(sim.gateway(), store, progress=False))
    thread.start()
    deadline = time.monotonic() + 10
    while store.sending(camp.name) is None and thread.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return thread


def slow(sim: Simulator, latency: float = 0.02) -> Simulator:
    """Each request takes ``latency`` s. A test that acts while a send runs gives it
    a latency that leaves room for a busy machine (CI runs two tests at once)."""
    for host in sim.hosts:
        sim.set_fault(host, "ok", latency=latency)
    return sim


# -- one sender per campaign ------------------------------------------------------


def test_two_threads_sending_one_campaign_send_each_message_once(tmp_path: Path) -> None:
    sim, path = slow(Simulator()), tmp_path / "c.duckdb"
    contacts = people(1_000)
    camp = ic.Campaign("promo", contacts, template="Hi %name%")
    # As reproduced: a first send stopped at the balance check saved the plan.
    sim.accounts["demo"].balance = 10
    with pytest.raises(ic.SendError, match="balance"):
        camp.send(sim.gateway(), ic.Store(path), progress=False)
    sim.accounts["demo"].balance = 1_000_000

    results: list[ic.SendReport | Exception] = []
    barrier = threading.Barrier(2)

    def user() -> None:
        store = ic.Store(path)  # each thread its own Store object on the same file
        barrier.wait()
        try:
            results.append(camp.send(sim.gateway(), store, progress=False))
        except ic.SendError as exc:
            results.append(exc)

    threads = [threading.Thread(target=user) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [r for r in results if isinstance(r, ic.SendError)]
    assert len(refused) == 1
    assert "is being sent by this process" in str(refused[0])
    assert "nothing was sent" in str(refused[0])
    assert_exactly_once(sim, contacts)


def test_a_send_from_another_thread_of_one_store_is_refused_while_one_runs() -> None:
    sim, store = slow(Simulator(), 0.2), ic.Store()
    contacts = people(600)
    camp = ic.Campaign("promo", contacts, template="Hi %name%")
    first = sending_in_background(camp, sim, store)
    # The same Store object, from the notebook's thread, while the other sends.
    with pytest.raises(ic.SendError, match="being sent"):
        camp.send(sim.gateway(), store, progress=False)
    first.join()
    assert store.sql("select count(*) as n from messages")["n"].item() == 600
    assert store.sending("promo") is None  # released when the send ended
    assert_exactly_once(sim, contacts)


def test_a_rerun_send_panel_offers_no_resume_while_the_first_one_sends() -> None:
    pytest.importorskip("ipywidgets")
    from isms_campaigns.widgets import SendPanel

    sim, store = slow(Simulator(), 0.2), ic.Store()
    contacts = people(1_000)
    camp = ic.Campaign("promo", contacts, template="Hi %name%")
    first = SendPanel(camp, sim.gateway(), store, check_balance=False)
    first.confirm.value = True
    first.start()
    deadline = time.monotonic() + 10
    while not sim.ledger:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    # The user re-runs the cell: a new panel over the same campaign.
    second = SendPanel(camp, sim.gateway(), store, check_balance=False)
    assert "being sent by this process" in second.estimate.value
    assert second.send_button.disabled
    second.confirm.value = True
    second.start()  # even forced, it sends nothing
    second.wait(30)
    assert first.wait(60)
    assert first.report is not None and first.report.complete
    assert_exactly_once(sim, contacts)


def test_opening_one_file_from_many_threads_at_once_works(tmp_path: Path) -> None:
    path = tmp_path / "open.duckdb"
    errors: list[Exception] = []
    barrier = threading.Barrier(6)

    def open_it() -> None:
        barrier.wait()
        try:
            with ic.Store(path) as store:
                store.sql("select count(*) from messages")
        except Exception as exc:
            errors.append(exc)

    for _round in range(2):  # a new file, then an existing one
        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


# -- changing a plan ------------------------------------------------------------------


def test_a_plan_nothing_left_from_is_replaced_by_a_new_one() -> None:
    sim, store = Simulator(accounts=[Account(balance=150)]), ic.Store()
    contacts = people(100)
    long = ic.Campaign("promo", contacts, template="Hi %name%, " + "x" * 200)  # 2 credits each
    with pytest.raises(ic.SendError, match="balance"):
        long.send(sim.gateway(), store, progress=False)
    short = ic.Campaign("promo", contacts, template="Hi %name%")
    report = short.send(sim.gateway(), store, progress=False)
    assert report.complete and any("replaces the old" in n for n in report.notes)
    assert {e.msg for e in sim.ledger} == {f"Hi P{i}" for i in range(100)}
    assert_exactly_once(sim, contacts)


def test_an_added_contact_needs_amend_and_amending_sends_only_the_new_one() -> None:
    sim, store = Simulator(), ic.Store()
    contacts = people(1_000)
    ic.Campaign("promo", contacts, template="Hi %name%").send(sim.gateway(), store, progress=False)
    more = pl.concat([contacts, people(1, start=5_000)])
    camp = ic.Campaign("promo", more, template="Hi %name%")
    with pytest.raises(ic.PlanChanged) as caught:
        camp.send(sim.gateway(), store, progress=False)
    assert "1 rows added" in str(caught.value) and "amend=True" in str(caught.value)
    assert isinstance(caught.value, ic.PlanError)
    report = camp.send(sim.gateway(), store, progress=False, amend=True)
    assert report.submitted_now == 1 and report.complete
    assert_exactly_once(sim, more)
    versions = store.sql("select version, action from plans where campaign = 'promo'")
    assert versions.rows() == [(1, "new"), (2, "amended")]
    # Each recipient once in the messages view, and sending again sends nothing.
    states = store.sql("select state, count(*) as n from messages group by state order by state")
    assert states.rows() == [("submitted", 1_001)]
    assert camp.send(sim.gateway(), store, progress=False, amend=True).requests == 0
    assert camp.send(sim.gateway(), store, progress=False).requests == 0


def test_a_reworded_message_after_a_whole_request_refusal_reaches_only_the_refused() -> None:
    sim, store = Simulator(content_refusal="request"), ic.Store()
    contacts = people(200)
    words = pl.Series(["casino night"] * 50 + ["games night"] * 150)
    first = ic.Campaign("promo", contacts.with_columns(what=words), template="Hi, %what%")
    report = first.send(sim.gateway(), store, progress=False)
    # The refused request failed its 50 messages; the campaign went on.
    assert report.states == {"submitted": 150, "failed": 50}
    assert report.stop_reason is None
    reworded = ic.Campaign(
        "promo", contacts.with_columns(what=pl.lit("games night")), template="Hi, %what%"
    )
    with pytest.raises(ic.PlanChanged, match="50 rows changed"):
        reworded.send(sim.gateway(), store, progress=False)
    again = reworded.send(sim.gateway(), store, progress=False, amend=True)
    assert again.submitted_now == 50
    assert_exactly_once(sim, contacts)
    assert {e.msg for e in sim.ledger} == {"Hi, games night"}


def test_three_whole_request_refusals_in_a_row_stop_the_send() -> None:
    sim, store = Simulator(content_refusal="request"), ic.Store()
    camp = ic.Campaign("promo", people(400), template="casino %name%")
    report = camp.send(sim.gateway(), store, progress=False, concurrency=1)
    assert "3 requests in a row were refused as a whole" in (report.stop_reason or "")
    assert report.states == {"failed": 150, "planned": 250}
    assert "amend=True" in (report.what_to_do or "") and not sim.ledger


def test_a_new_rate_card_is_not_a_plan_change() -> None:
    sim, store = Simulator(), ic.Store()
    contacts = people(120)
    camp = ic.Campaign("promo", contacts, template="Hi %name%")
    sim.accounts["demo"].balance = 60
    camp.send(sim.gateway(), store, progress=False, check_balance=False)  # stops: credits
    sim.accounts["demo"].balance = 1_000
    pricier = ic.Campaign(
        "promo", contacts, template="Hi %name%", billing=ic.BillingRule(rates={60: 2})
    )
    report = pricier.send(sim.gateway(), store, progress=False)
    assert any("new estimate is recorded" in n for n in report.notes)
    assert report.complete
    assert_exactly_once(sim, contacts)
    plans = store.sql("select version, action, credits_estimated from plans order by version")
    assert plans.rows()[-1][1:] == ("re-estimated", 140)  # 70 left at 2 each


def test_a_dry_run_of_a_changed_plan_says_what_amend_would_send() -> None:
    sim, store = Simulator(), ic.Store()
    contacts = people(60)
    ic.Campaign("promo", contacts, template="Hi %name%").send(sim.gateway(), store, progress=False)
    more = ic.Campaign("promo", pl.concat([contacts, people(2, 900)]), template="Hi %name%")
    with pytest.raises(ic.PlanChanged):
        more.send(sim.gateway(), store, dry_run=True)
    dry = more.send(sim.gateway(), store, dry_run=True, amend=True)
    sent_to = [m["dstno"] for p in dry.payloads for m in p["messages"]]
    assert sent_to == ["60120000900", "60120000901"]
    assert len(sim.ledger) == 60


# -- the rename trap -------------------------------------------------------------------


def test_a_renamed_campaign_skips_who_got_the_same_text_this_week() -> None:
    sim, store = Simulator(), ic.Store()
    contacts = people(300)
    ic.Campaign("promo", contacts, template="Hi %name%").send(
        sim.gateway(), store, test_numbers=["0129999999"], progress=False
    )  # a test send does not count
    ic.Campaign("promo", contacts, template="Hi %name%").send(sim.gateway(), store, progress=False)
    renamed = ic.Campaign("Promo ", contacts, template="Hi %name%")
    report = renamed.send(sim.gateway(), store, progress=False)
    assert report.requests == 0 and report.states == {"skipped": 300}
    assert any("'promo' exists" in n for n in report.notes)
    problem = store.sql("select distinct problem from messages where campaign = 'Promo'")
    assert problem["problem"].item().startswith("already sent by campaign 'promo' on 20")
    tests = Counter(e.dstno for e in sim.ledger)["60129999999"]
    assert tests == 1
    # Another text is not a repeat; allow_repeats sends repeats on purpose.
    other = ic.Campaign("promo-2", contacts, template="Bye %name%")
    assert other.send(sim.gateway(), store, progress=False).submitted_now == 300
    again = ic.Campaign("promo-3", contacts, template="Hi %name%")
    assert again.send(sim.gateway(), store, allow_repeats=True, progress=False).complete
    assert Counter(e.msg for e in sim.ledger)["Hi P7"] == 2


# -- cancel, resolve --------------------------------------------------------------------


def test_cancel_leaves_the_rest_unsent_for_good() -> None:
    sim, store = Simulator(accounts=[Account(balance=100)]), ic.Store()
    camp = ic.Campaign("promo", people(300), template="Hi %name%")
    camp.send(sim.gateway(), store, progress=False, check_balance=False, concurrency=1)
    assert len(sim.ledger) == 100
    cancelled = store.cancel("promo")
    assert cancelled["messages"].sum() == 200
    sim.accounts["demo"].balance = 1_000
    report = camp.send(sim.gateway(), store, progress=False)
    assert report.requests == 0 and report.states == {"submitted": 100, "cancelled": 200}
    assert len(sim.ledger) == 100
    assert store.campaigns()["cancelled"].item() == 200


def test_a_report_of_another_campaign_proves_nothing() -> None:
    """Campaign A's request never left; B reached the shared number: A is not settled."""
    sim, store = Simulator(), ic.Store()
    shared = people(1)
    sim.set_fault(0, "drop-before")  # A: the connection dropped before the gateway acted
    a = ic.Campaign("a", shared, template="From A")
    assert a.send(sim.gateway(), store, progress=False).unknown_chunks == [0]
    sim.set_fault(0, "drop-after")  # B: acted, the answer lost: its sms_id is unknown
    b = ic.Campaign("b", shared, template="From B")
    assert b.send(sim.gateway(), store, progress=False).unknown_chunks == [0]
    (entry,) = sim.ledger
    store.import_dlr(
        pl.DataFrame(
            {"msisdn": [entry.dstno], "trx_id": [entry.sms_id], "dn_status": ["DELIVERED"]}
        )
    )
    settled = store.resolve_unknown("a", resend=True)
    assert settled.select("with_dlr", "ambiguous", "settled_as").rows() == [(0, 1, "resend")]
    sim.set_fault(0, "ok")
    a.send(sim.gateway(), store, progress=False)
    assert [e.msg for e in sim.ledger] == ["From B", "From A"]  # A resent: it never went out


def test_reports_that_arrive_after_resend_was_chosen_stop_the_resend() -> None:
    sim, store = Simulator(), ic.Store()
    contacts = people(50)
    sim.set_fault(0, "drop-after")
    camp = ic.Campaign("promo", contacts, template="Hi %name%")
    assert camp.send(sim.gateway(), store, progress=False).unknown_chunks == [0]
    assert store.resolve_unknown("promo", resend=True)["settled_as"].to_list() == ["resend"]
    # The reports come in after the decision.
    store.import_dlr(
        pl.DataFrame(
            {
                "msisdn": [e.dstno for e in sim.ledger],
                "trx_id": [e.sms_id for e in sim.ledger],
                "dn_status": ["DELIVERED"] * len(sim.ledger),
            }
        )
    )
    sim.set_fault(0, "ok")
    report = camp.send(sim.gateway(), store, progress=False)
    assert report.requests == 0
    assert any("not sent" in n and "delivery reports" in n for n in report.notes)
    assert report.states == {"submitted": 50}
    assert_exactly_once(sim, contacts)


# -- HTTP answers ---------------------------------------------------------------------


def test_429_backs_off_and_retries_then_everything_goes_once() -> None:
    sim, store = Simulator(), ic.Store()
    contacts = people(120)
    sim.inject((429, "Too Many Requests"), times=2)
    camp = ic.Campaign("promo", contacts, template="Hi %name%")
    report = send_campaign(
        camp, sim.gateway(), store, progress=False, concurrency=1, retry_delays=(0.01, 0.01, 0.01)
    )
    assert report.complete and report.requests == 5
    assert_exactly_once(sim, contacts)


def test_404_stops_with_nothing_sent_and_what_to_check() -> None:
    sim, store = Simulator(), ic.Store()
    sim.inject((404, "<html><h1>404 Not Found</h1></html>"))
    camp = ic.Campaign("promo", people(10), template="Hi %name%")
    report = camp.send(sim.gateway(), store, progress=False, check_balance=False)
    assert "404" in (report.stop_reason or "") and report.states == {"planned": 10}
    assert report.unknown_chunks == [] and not sim.ledger
    assert camp.send(sim.gateway(), store, progress=False).complete


# -- pacing and signals -------------------------------------------------------------


def test_paced_requests_are_in_flight_only_when_they_leave() -> None:
    sim, store = Simulator(), ic.Store()
    camp = ic.Campaign("promo", people(500), template="Hi %name%")
    seen: list[int] = []

    def watch(done: int, total: int) -> None:
        in_flight = store.cursor()
        try:
            seen.append(
                int(
                    in_flight.sql(
                        "select count(*) as n from ic_chunk_state where state = 'in_flight'"
                    )["n"].item()
                )
            )
        finally:
            in_flight.close()

    send_campaign(
        camp, sim.gateway(), store, progress=False, requests_per_second=20, on_progress=watch
    )
    assert seen and max(seen) <= 1  # at 20/s a request is out well before the next is due


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_stops_a_paced_send_with_nothing_unknown(tmp_path: Path, sig: int) -> None:
    sim, path, n = Simulator(), tmp_path / "term.duckdb", 1_000
    with sim.serve() as urls:
        child = subprocess.Popen(
            [sys.executable, str(WORKER), str(path), ",".join(urls), str(n), "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while len(sim.ledger) < 100:
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.01)
        os.kill(child.pid, sig)
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert f"stopped by {signal.Signals(sig).name}" in out
    with ic.Store(path) as store:
        states = dict(store.sql("select state, count(*) from messages group by 1").rows())
    assert "unknown" not in states
    assert states["submitted"] == len(sim.ledger) < n
    assert states["submitted"] + states["planned"] == n
    ledger = Counter(e.dstno for e in sim.ledger)
    assert max(ledger.values()) == 1
    assert set(ledger) <= {"60" + p[1:] for p in numbered_contacts(n)["phone"]}


def test_minus_1007_stops_loudly_with_nothing_sent_then_resumes() -> None:
    sim, store = Simulator(), ic.Store()
    contacts = people(120)
    sim.inject(-1007)
    camp = ic.Campaign("promo", contacts, template="Hi %name%")
    report = camp.send(sim.gateway(), store, progress=False, concurrency=1)
    assert "malformed: -1007" in (report.stop_reason or "")
    assert report.states == {"planned": 120} and not sim.ledger
    assert camp.send(sim.gateway(), store, progress=False).complete
    assert_exactly_once(sim, contacts)


def test_a_send_panel_with_amend_sends_the_changed_plan_to_the_rest() -> None:
    pytest.importorskip("ipywidgets")
    from isms_campaigns.widgets import SendPanel

    sim, store = Simulator(), ic.Store()
    contacts = people(100)
    ic.Campaign("promo", contacts, template="Hi %name%").send(sim.gateway(), store, progress=False)
    more = pl.concat([contacts, people(20, start=700)])
    camp = ic.Campaign("promo", more, template="Hi %name%")
    refused = SendPanel(camp, sim.gateway(), store, background=False, check_balance=False)
    assert "amend=True" in refused.estimate.value and refused.send_button.disabled
    panel = SendPanel(camp, sim.gateway(), store, background=False, amend=True)
    assert "20" in panel.confirm.description
    panel.confirm.value = True
    panel.start()
    assert panel.report is not None and panel.report.submitted_now == 20
    assert_exactly_once(sim, more)


def test_allow_repeats_later_lifts_the_guard_of_a_stored_plan() -> None:
    sim, store = Simulator(), ic.Store()
    contacts = people(80)
    ic.Campaign("promo", contacts, template="Hi %name%").send(sim.gateway(), store, progress=False)
    renamed = ic.Campaign("promo-again", contacts, template="Hi %name%")
    assert renamed.send(sim.gateway(), store, progress=False).states == {"skipped": 80}
    assert renamed.send(sim.gateway(), store, progress=False).requests == 0  # resume: same
    report = renamed.send(sim.gateway(), store, progress=False, allow_repeats=True)
    assert report.submitted_now == 80 and any("repeat guard" in n for n in report.notes)
    assert Counter(per_number(sim).values()) == Counter({2: 80})  # the user asked for it


def test_a_new_estimate_does_not_bring_cancelled_messages_back() -> None:
    contacts = people(150)
    sim, store = cancelled_after(50, ic.Campaign("promo", contacts, template="Hi %name%"))
    pricier = ic.Campaign(
        "promo", contacts, template="Hi %name%", billing=ic.BillingRule(rates={60: 2})
    )
    report = pricier.send(sim.gateway(), store, progress=False)
    assert report.requests == 0 and report.states == {"submitted": 50, "cancelled": 100}
    assert len(sim.ledger) == 50
    assert pricier.send(sim.gateway(), store, progress=False).requests == 0  # stable


def test_cancel_while_a_send_runs_is_refused_and_changes_nothing() -> None:
    sim, store = slow(Simulator(), 0.2), ic.Store()
    contacts = people(500)
    camp = ic.Campaign("promo", contacts, template="Hi %name%")
    first = sending_in_background(camp, sim, store)
    with pytest.raises(ic.SendError, match="cannot cancel it now"):
        store.cancel("promo")
    first.join()
    assert_exactly_once(sim, contacts)


def test_resuming_after_a_renamed_copy_sent_skips_who_got_it_meanwhile() -> None:
    sim, store = Simulator(accounts=[Account(balance=100)]), ic.Store()
    contacts = people(200)
    original = ic.Campaign("nov-promo", contacts, template="Hi %name%")
    original.send(sim.gateway(), store, progress=False, check_balance=False)  # 100 then -1004
    sim.accounts["demo"].balance = 10_000
    copy = ic.Campaign("nov-promo-2", contacts, template="Hi %name%")
    assert copy.send(sim.gateway(), store, progress=False).submitted_now == 100
    report = original.send(sim.gateway(), store, progress=False)  # the resume
    assert report.requests == 0 and any("another campaign" in n for n in report.notes)
    assert_exactly_once(sim, contacts)
    assert store.sql("select action from plans where campaign = 'nov-promo'")[
        "action"
    ].to_list() == [
        "new",
        "guarded",
    ]


def test_two_names_sending_the_same_text_at_once_send_each_number_once(tmp_path: Path) -> None:
    sim, path = slow(Simulator(), 0.005), tmp_path / "two.duckdb"
    contacts = people(500)
    barrier = threading.Barrier(2)
    reports: list[ic.SendReport] = []

    def user(name: str) -> None:
        store = ic.Store(path)
        barrier.wait()
        reports.append(
            ic.Campaign(name, contacts, template="Hi %name%").send(
                sim.gateway(), store, progress=False
            )
        )

    threads = [threading.Thread(target=user, args=(n,)) for n in ("nov", "nov-again")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert_exactly_once(sim, contacts)
    assert sorted(r.submitted_now for r in reports) == [0, 500]


def test_a_changed_plan_keeps_requests_marked_for_resending_under_the_reports_check() -> None:
    sim, store = Simulator(hosts=1), ic.Store()
    contacts = people(60)
    sim.set_fault(0, "drop-after")
    ic.Campaign("nov", contacts, template="Hi %name%").send(
        sim.gateway(), store, progress=False, check_balance=False
    )
    sim.set_fault(0, "ok")
    assert len(sim.ledger) == 60
    store.resolve_unknown("nov", resend=True)
    store.import_dlr(
        pl.DataFrame(
            {
                "msisdn": [e.dstno for e in sim.ledger],
                "trx_id": [e.sms_id for e in sim.ledger],
                "dn_status": ["DELIVERED"] * 60,
            }
        )
    )
    pricier = ic.Campaign(
        "nov", contacts, template="Hi %name%", billing=ic.BillingRule(rates={60: 2})
    )
    report = pricier.send(sim.gateway(), store, progress=False)
    assert report.requests == 0 and report.states == {"submitted": 60}
    more = ic.Campaign("nov", pl.concat([contacts, people(1, 900)]), template="Hi %name%")
    with pytest.raises(ic.PlanChanged):
        more.send(sim.gateway(), store, progress=False)
    assert more.send(sim.gateway(), store, progress=False, amend=True).submitted_now == 1
    assert_exactly_once(sim, pl.concat([contacts, people(1, 900)]))


def test_a_copied_store_file_keeps_its_own_send_log_order(tmp_path: Path) -> None:
    sim = Simulator(hosts=1)
    path, copy = tmp_path / "a.duckdb", tmp_path / "copy.duckdb"
    with ic.Store(path) as store:
        store.sql("select 1")
    import shutil

    shutil.copy(path, copy)
    contacts = people(100)
    camp = ic.Campaign("x", contacts, template="Hi %name%")
    original = ic.Store(path)
    ic.Campaign("big", people(2_000, 5_000), template="Yo").send(
        sim.gateway(), original, progress=False
    )
    sim.set_fault(0, "drop-after")
    camp.send(sim.gateway(), original, progress=False, check_balance=False)
    sim.set_fault(0, "ok")
    original.resolve_unknown("x", resend=True)
    before = len(sim.ledger)
    twin = ic.Store(copy)  # the copy, opened in the same process, written first
    ic.Campaign("y", people(5, 9_000), template="Hey").send(sim.gateway(), twin, progress=False)
    camp.send(sim.gateway(), original, progress=False)
    camp.send(sim.gateway(), original, progress=False)  # must send nothing more
    assert len(sim.ledger) - before == 5 + 100  # y's 5, x resent once


# -- found by trying it as users do ----------------------------------------------------


def test_a_store_reopened_after_another_process_wrote_keeps_the_log_order(tmp_path: Path) -> None:
    sim, path = Simulator(hosts=1), tmp_path / "s.duckdb"
    contacts = people(100)
    camp = ic.Campaign("a", contacts, template="Hi %name%")
    store = ic.Store(path)
    sim.set_fault(0, "drop-before")  # never reached the gateway: unknown, then resent
    camp.send(sim.gateway(), store, progress=False, check_balance=False)
    sim.set_fault(0, "ok")
    store.close()
    with sim.serve() as urls:  # another process writes: a send and a resolve
        env = {**os.environ, "ISMS_USERNAME": "demo", "ISMS_PASSWORD": "demo"}
        other = people(300, 5_000).with_columns(pl.lit("x").alias("ref"))
        other.write_csv(tmp_path / "b.csv")
        cli = [sys.executable, "-m", "isms_campaigns.cli"]
        send_b = ["send", str(tmp_path / "b.csv"), "--template", "Yo", "--campaign", "b"]
        send_b += ["--purpose", "transactional"]  # another process: any hour
        common = ["--store", str(path)]
        for args in (
            [*send_b, *common, "--hosts", *urls, "--yes"],
            ["resolve", "a", *common, "--resend", "--yes"],
        ):
            done = subprocess.run([*cli, *args], env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
    store = ic.Store(path)
    for _ in range(3):
        camp.send(sim.gateway(), store, progress=False)
    assert_exactly_once(sim, contacts, "Hi")


def test_the_repeat_guard_counts_a_request_marked_for_resending() -> None:
    sim, store = Simulator(hosts=1), ic.Store()
    contacts = people(100)
    a = ic.Campaign("a", contacts, template="Hi %name%")
    sim.set_fault(0, "drop-after")
    a.send(sim.gateway(), store, progress=False, check_balance=False, concurrency=1)
    sim.set_fault(0, "ok")
    store.resolve_unknown("a", resend=True)
    b = ic.Campaign("b", contacts, template="Hi %name%")
    report = b.send(sim.gateway(), store, progress=False)
    assert report.requests == 0  # a's requests may have gone out: b does not repeat them
    assert report.states == {"skipped": 100}


def test_cancelled_stays_cancelled_through_allow_repeats_and_amend() -> None:
    contacts = people(300)
    camp = ic.Campaign("b", contacts, template="Hi %name%")
    sim, store = cancelled_after(50, camp)
    assert camp.send(sim.gateway(), store, progress=False, allow_repeats=True).requests == 0
    more = ic.Campaign("b", pl.concat([contacts, people(1, 900)]), template="Hi %name%")
    report = more.send(sim.gateway(), store, progress=False, amend=True)
    assert report.submitted_now == 1
    counts = store.sql("select state, count(*) from messages group by 1 order by 1").rows()
    assert counts == [("cancelled", 250), ("submitted", 51)]


def test_a_hold_for_a_campaign_that_then_stopped_is_released_at_resume() -> None:
    sim, store = slow(Simulator(), 0.1), ic.Store()
    contacts = people(1_000)
    a = ic.Campaign("a", contacts, template="Hi %name%")
    senders: list[Sender] = []
    runner = threading.Thread(
        target=lambda: send_campaign(
            a, sim.gateway(), store, progress=False, concurrency=1, on_start=senders.append
        )
    )
    runner.start()
    deadline = time.monotonic() + 10
    while len(sim.ledger) < 100:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    b = ic.Campaign("b", contacts, template="Hi %name%")
    held = b.send(sim.gateway(), store, progress=False)  # a is sending them right now
    assert held.requests == 0 and held.states == {"skipped": 1_000}
    senders[0].stop()  # a stops early, and what it did not send is cancelled
    runner.join()
    store.cancel("a")
    sent_by_a = len(sim.ledger)
    assert sent_by_a < 1_000
    report = b.send(sim.gateway(), store, progress=False)
    assert report.submitted_now == 1_000 - sent_by_a
    assert_exactly_once(sim, contacts)


def test_estimates_count_requests_marked_for_resending_after_a_plan_change() -> None:
    sim, store = Simulator(hosts=1), ic.Store()
    contacts = people(100)
    sim.set_fault(0, "drop-before")
    camp = ic.Campaign("a", contacts, template="Hi %name%")
    camp.send(sim.gateway(), store, progress=False, check_balance=False, concurrency=1)
    sim.set_fault(0, "ok")
    assert store.resolve_unknown("a", resend=True)["settled_as"].to_list() == ["resend"] * 2
    more = ic.Campaign("a", pl.concat([contacts, people(5, 800)]), template="Hi %name%")
    from isms_campaigns.send import outlook

    ahead = outlook(more, store, amend=True)
    dry = more.send(sim.gateway(), store, dry_run=True, amend=True)
    report = more.send(sim.gateway(), store, progress=False, amend=True)
    assert ahead.messages == sum(len(p["messages"]) for p in dry.payloads) == 105
    assert report.submitted_now == 105
    assert_exactly_once(sim, pl.concat([contacts, people(5, 800)]))


def test_a_new_estimate_does_not_resend_the_failed() -> None:
    sim, store = Simulator(content_refusal="request"), ic.Store()
    words = pl.Series(["casino"] * 50 + ["games"] * 150)
    contacts = people(200).with_columns(what=words)
    camp = ic.Campaign("a", contacts, template="Hi %what%")
    assert camp.send(sim.gateway(), store, progress=False).states == {
        "failed": 50,
        "submitted": 150,
    }
    pricier = ic.Campaign(
        "a", contacts, template="Hi %what%", billing=ic.BillingRule(rates={60: 2})
    )
    report = pricier.send(sim.gateway(), store, progress=False)
    assert report.requests == 0 and report.states == {"failed": 50, "submitted": 150}


def test_import_on_a_closed_store_is_a_store_error() -> None:
    store = ic.Store()
    store.close()
    frame = pl.DataFrame({"msisdn": ["60123"], "trx_id": ["1"], "dn_status": ["DELIVERED"]})
    with pytest.raises(ic.StoreError):
        store.import_dlr(frame)

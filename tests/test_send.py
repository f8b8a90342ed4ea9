"""Sending: chunking, the outbox, resume, stop rules, dry runs and tests sends.

Against the simulator (in-process here; over loopback and across killed
processes in test_reliability.py), whose ledger shows what really went out.
"""

from __future__ import annotations

import _thread
import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import isms_campaigns as ic
from isms_campaigns.send import chunk_plan, send_campaign
from isms_campaigns.simulator import Account, Simulator

from .conftest import DATA


def sent_pairs(sim: Simulator) -> Counter[tuple[str, str]]:
    return Counter((e.dstno, e.msg) for e in sim.ledger)


def planned_pairs(camp: ic.Campaign) -> Counter[tuple[str, str]]:
    return Counter(camp.sendable.select("dstno", "msg").iter_rows())


# -- chunking -----------------------------------------------------------------


@st.composite
def plans(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 400))
    numbers = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    problems = st.sampled_from([None, None, "duplicate"])
    return pl.DataFrame(
        {
            "row": pl.Series(range(n), dtype=pl.UInt32),
            "dstno": [";".join(f"6012{r:05d}{k}" for k in range(c)) for r, c in enumerate(numbers)],
            "type": draw(st.lists(st.sampled_from([1, 2]), min_size=n, max_size=n)),
            "credits": [1] * n,
            "problem": draw(st.lists(problems, min_size=n, max_size=n)),
        },
        schema_overrides={
            "type": pl.Int8, "problem": pl.String, "dstno": pl.String, "credits": pl.Int64
        },
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(plans())
def test_chunks_hold_each_sendable_row_once_at_most_50_numbers_one_type(plan: pl.DataFrame) -> None:
    messages, chunks = chunk_plan(plan)
    sendable = messages.filter(pl.col("problem").is_null())
    assert sendable["chunk"].null_count() == 0
    assert messages.filter(pl.col("problem").is_not_null())["chunk"].null_count() == (
        plan.height - sendable.height
    )
    assert messages["row"].to_list() == plan["row"].to_list()  # every row kept, in order
    per_chunk = sendable.group_by("chunk").agg(
        numbers=pl.col("dstno").str.split(";").list.len().sum(), types=pl.col("type").n_unique()
    )
    assert per_chunk["numbers"].max() is None or per_chunk["numbers"].max() <= 50  # type: ignore[operator]
    assert per_chunk["types"].max() in (None, 1)
    assert chunks["numbers"].to_list() == per_chunk.sort("chunk")["numbers"].to_list()
    again, _ = chunk_plan(plan)
    assert again.equals(messages)  # a resumed send makes the same chunks


def test_single_numbers_fill_chunks_of_exactly_50(camp: ic.Campaign) -> None:
    _, chunks = chunk_plan(camp.messages)
    by_type = chunks.group_by("type").agg(pl.col("numbers"))
    for numbers in by_type["numbers"]:
        assert all(n == 50 for n in numbers[:-1]) and 0 < numbers[-1] <= 50


# -- sending ------------------------------------------------------------------


def test_send_sends_every_sendable_message_once_and_records_it(camp: ic.Campaign) -> None:
    sim, store = Simulator(), ic.Store()
    report = camp.send(sim.gateway(), store, progress=False)
    assert report.complete and report.ok
    assert sent_pairs(sim) == planned_pairs(camp)
    assert report.states == {"submitted": camp.sendable.height, "skipped": 22}
    assert report.credits_charged == report.credits_estimated == camp.credits
    stored = store.sql(
        "select dstno, sms_id from messages where campaign = 'nov' and state = 'submitted'"
    )
    assert sorted(stored.rows()) == sorted((e.dstno, e.sms_id) for e in sim.ledger)
    skipped = store.sql("select problem from messages where state = 'skipped'")["problem"]
    assert skipped.null_count() == 0  # each skipped row keeps its reason
    batches = store.sql("select * from batches order by chunk")
    assert batches["numbers"].sum() == camp.sendable.height
    assert (batches["credits_charged"] == batches["credits_estimated"]).all()
    assert batches["host"].to_list() == [sim.hosts[0]] * batches.height


def test_sending_again_sends_nothing_more(camp: ic.Campaign) -> None:
    sim, store = Simulator(), ic.Store()
    camp.send(sim.gateway(), store, progress=False)
    again = camp.send(sim.gateway(), store, progress=False)
    assert len(sim.ledger) == camp.sendable.height
    assert again.requests == 0 and again.complete


def test_dry_run_shows_masked_payloads_and_sends_nothing(camp: ic.Campaign) -> None:
    sim, store = Simulator(), ic.Store()
    report = camp.send(sim.gateway(password="s3cret"), store, dry_run=True)
    assert sim.ledger == [] and sim.requests == []
    assert store.campaigns().is_empty()
    assert all(p["pwd"] == "***" for p in report.payloads)
    assert all(len(p["messages"]) <= 50 for p in report.payloads)
    sent = [(m["dstno"], m["msg"]) for p in report.payloads for m in p["messages"]]
    assert Counter(sent) == planned_pairs(camp)
    for shown in (repr(report), str(report), report._repr_html_(), json.dumps(report.payloads)):
        assert "s3cret" not in shown
    assert "dry run" in report._repr_html_()


def test_sender_id_and_send_later_go_in_every_request() -> None:
    contacts = pl.DataFrame({"phone": ["+6591234567", "+6598765432"]})
    camp = ic.Campaign(
        "sg",
        contacts,
        template="Hi",
        sender_id="MyShop",
        send_later="2030-01-02 09:30",
        rate_card=DATA / "rate_card.csv",
    )
    report = camp.send(Simulator().gateway(), ic.Store(), dry_run=True)
    assert [(p["sendid"], p["sendlater"]) for p in report.payloads] == [
        ("MyShop", "2030-01-02 09:30:00")
    ]


def test_a_changed_plan_under_the_same_name_is_refused_with_the_difference(
    camp: ic.Campaign,
) -> None:
    sim, store = Simulator(), ic.Store()
    camp.send(sim.gateway(), store, progress=False)
    contacts = ic.read_contacts(DATA / "sample_contacts.csv")
    changed = ic.Campaign("nov", contacts, template="Hello %name%", fallbacks={"name": "Customer"})
    with pytest.raises(ic.PlanError, match=r"rows changed[\s\S]*'Hi .*' -> .*'Hello") as info:
        changed.send(sim.gateway(), store, progress=False)
    assert "new campaign name" in str(info.value)
    assert len(sim.ledger) == camp.sendable.height


def test_test_numbers_get_the_first_message_of_each_type_recorded_as_a_test(
    camp: ic.Campaign,
) -> None:
    sim, store = Simulator(), ic.Store()
    report = camp.send(sim.gateway(), store, test_numbers=["012-999 8888"], progress=False)
    assert report.test and report.campaign == "nov [test 1]"
    firsts = camp.sendable.unique(subset=["type"], keep="first", maintain_order=True)["msg"]
    assert [(e.dstno, e.msg) for e in sim.ledger] == [("60129998888", m) for m in firsts]
    kinds = store.sql("select campaign, kind, parent from campaigns")
    assert kinds.rows() == [("nov [test 1]", "test", "nov")]
    assert camp.send(
        sim.gateway(), store, test_numbers=["0129998888"], progress=False
    ).campaign == ("nov [test 2]")
    with pytest.raises(ic.PlanError, match="'0123'"):
        camp.send(sim.gateway(), store, test_numbers=["0123"], progress=False)


# -- the balance --------------------------------------------------------------


def test_a_balance_short_of_the_estimate_is_refused_before_sending(camp: ic.Campaign) -> None:
    sim = Simulator([Account(balance=10)])
    with pytest.raises(ic.SendError, match=r"balance is 10 credits.*needs an estimated 298"):
        camp.send(sim.gateway(), ic.Store(), progress=False)
    assert sim.ledger == []


def test_a_postpaid_account_skips_the_check_with_a_note(camp: ic.Campaign) -> None:
    sim = Simulator([Account(balance=None)])
    report = camp.send(sim.gateway(), ic.Store(), progress=False)
    assert report.complete
    assert any("Postpaid" in n for n in report.notes)


def test_credits_running_out_then_top_up_sends_exactly_the_rest(camp: ic.Campaign) -> None:
    sim, store = Simulator([Account(balance=120)]), ic.Store()
    first = camp.send(sim.gateway(), store, progress=False, check_balance=False, concurrency=1)
    assert "-1004" in (first.stop_reason or "") and "top up" in (first.what_to_do or "").lower()
    assert len(sim.ledger) == 100  # two requests of 50; the third did not fit
    assert first.states["planned"] == camp.sendable.height - 100
    sim.accounts["demo"].balance = 1_000
    second = camp.send(sim.gateway(), store, progress=False)
    assert second.complete
    assert sent_pairs(sim) == planned_pairs(camp)


# -- stop rules ---------------------------------------------------------------


def scripted(answer: Callable[[int], str], seen: list[dict[str, object]]) -> httpx.MockTransport:
    """A gateway that answers request n with ``answer(n)``; it records the bodies."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, text=answer(len(seen)))

    return httpx.MockTransport(handle)


def success(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    results = [
        {"dstno": m["dstno"], "code": 2000, "status": f"2000 = SUCCESS:{i}|", "sms_id": str(i)}
        for i, m in enumerate(messages)
    ]
    return json.dumps({"status": "success", "code": 2000, "results": results})


@pytest.mark.parametrize("code", [-1001, -1002, -1003, -1004, -1005, -1010, -1013, -1014, -1015])
def test_fatal_codes_stop_at_once_and_leave_the_rest_planned(camp: ic.Campaign, code: int) -> None:
    seen: list[dict[str, object]] = []
    error = json.dumps({"status": "error", "code": code, "message": f"{code} = ERROR"})
    transport = scripted(lambda n: error, seen)
    gw = ic.Gateway("u", "p", hosts=["http://gw.test"], async_transport=transport)
    store = ic.Store()
    report = camp.send(gw, store, progress=False, check_balance=False, concurrency=2)
    assert len(seen) <= 2  # the requests already started; nothing after the refusal
    assert str(code) in (report.stop_reason or "")
    assert report.what_to_do and ic.gateway.describe(code).what_to_do in report.what_to_do
    assert report.states == {"planned": camp.sendable.height, "skipped": 22}
    outcomes = store.sql("select outcome, code from batches")
    assert outcomes.rows() == [("rejected", code)] * len(seen)


def test_minus_1000_is_retried_with_backoff_then_goes_through(camp: ic.Campaign) -> None:
    seen: list[dict[str, object]] = []
    error = json.dumps({"status": "error", "code": -1000, "message": "-1000 = UNKNOWN ERROR"})
    transport = scripted(lambda n: error if n <= 2 else success(seen[-1]), seen)
    gw = ic.Gateway("u", "p", hosts=["http://gw.test"], async_transport=transport)
    store = ic.Store()
    report = send_campaign(
        camp, gw, store, progress=False, check_balance=False, concurrency=1, retry_delays=(0, 0, 0)
    )
    assert report.complete
    assert report.requests == len(seen) == 7 + 2
    first = store.sql("select outcome, code from batches where chunk = 0 order by batch")
    assert first.rows() == [("rejected", -1000), ("rejected", -1000), ("sent", 2000)]


def test_minus_1000_that_persists_stops_with_the_chunk_planned(camp: ic.Campaign) -> None:
    seen: list[dict[str, object]] = []
    error = json.dumps({"status": "error", "code": -1000, "message": "-1000 = UNKNOWN ERROR"})
    gw = ic.Gateway(
        "u", "p", hosts=["http://gw.test"], async_transport=scripted(lambda n: error, seen)
    )
    report = send_campaign(
        camp, gw, ic.Store(), progress=False, check_balance=False, concurrency=1, retry_delays=(0,)
    )
    assert len(seen) == 2 and "-1000" in (report.stop_reason or "")
    assert report.states["planned"] == camp.sendable.height


def test_a_request_acted_on_then_dropped_is_unknown_and_never_resent(camp: ic.Campaign) -> None:
    sim, store = Simulator(), ic.Store()
    sim.set_fault(0, "drop-after")
    transport = sim.transport()

    class HealsAfterOne(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            try:
                return await transport.handle_async_request(request)
            finally:
                sim.set_fault(0, "ok")

    gw = ic.Gateway("demo", "demo", hosts=sim.hosts, async_transport=HealsAfterOne())
    report = camp.send(gw, store, progress=False, concurrency=1, check_balance=False)
    assert report.unknown_chunks == [0] and not report.ok
    assert "1 requests unknown" in str(report) and "resolve_unknown" in report._repr_html_()
    assert sent_pairs(sim) == planned_pairs(camp)  # it did go out, once
    unknown = store.sql("select count(*) as n from messages where state = 'unknown'")
    assert unknown["n"].item() == 50

    again = camp.send(sim.gateway(), store, progress=False)
    assert again.requests == 0 and again.unknown_chunks == [0]
    assert any("not sent again" in n for n in again.notes)
    assert max(sent_pairs(sim).values()) == 1

    settled = store.resolve_unknown("nov", resend=False)
    assert settled["chunk"].to_list() == [0]
    final = camp.send(sim.gateway(), store, progress=False)
    assert final.requests == 0 and final.unknown_chunks == [] and final.ok
    assert final.states["unknown"] == 50  # settled, still honestly unknown


def test_resolve_unknown_with_resend_sends_those_chunks_again() -> None:
    sim, store = Simulator(), ic.Store()
    camp = ic.Campaign("one", pl.DataFrame({"phone": ["0123456789"]}), template="Hi")
    sim.set_fault(0, "5xx")
    assert camp.send(sim.gateway(), store, progress=False).unknown_chunks == [0]
    sim.set_fault(0, "ok")
    store.resolve_unknown("one", resend=True)
    report = camp.send(sim.gateway(), store, progress=False)
    assert report.complete and report.states == {"submitted": 1}


def test_settling_after_a_second_ambiguous_send_takes_effect() -> None:
    # The sender writes from its own thread's cursor; the store's later
    # writes must still come after its writes in the log.
    sim, store = Simulator(), ic.Store()
    camp = ic.Campaign("one", pl.DataFrame({"phone": ["0123456789"]}), template="Hi")
    sim.set_fault(0, "5xx")
    assert camp.send(sim.gateway(), store, progress=False).unknown_chunks == [0]
    store.resolve_unknown("one", resend=True)
    assert camp.send(sim.gateway(), store, progress=False).unknown_chunks == [0]
    store.resolve_unknown("one", resend=False)
    sim.set_fault(0, "ok")
    report = camp.send(sim.gateway(), store, progress=False)
    assert report.requests == 0 and report.unknown_chunks == [] and report.ok
    seqs = store.sql("select seq from ic_sends")["seq"]
    assert seqs.n_unique() == seqs.len()


def test_three_unknown_answers_in_a_row_stop_the_send(camp: ic.Campaign) -> None:
    sim, store = Simulator(), ic.Store()
    sim.set_fault(0, "5xx")
    report = camp.send(sim.gateway(), store, progress=False, concurrency=1)
    assert "3 requests in a row" in (report.stop_reason or "")
    assert report.unknown_chunks == [0, 1, 2]
    assert report.states["planned"] == camp.sendable.height - 150


def test_no_host_reachable_stops_with_the_chunk_planned(camp: ic.Campaign) -> None:
    sim, store = Simulator(hosts=2), ic.Store()
    sim.set_fault(0, "refuse")
    sim.set_fault(1, "refuse")
    report = camp.send(sim.gateway(), store, progress=False, check_balance=False, concurrency=1)
    assert "no host could be reached" in (report.stop_reason or "")
    assert report.unknown_chunks == [] and report.states["planned"] == camp.sendable.height


def test_requests_per_second_caps_the_rate(camp: ic.Campaign) -> None:
    started = time.perf_counter()
    report = camp.send(Simulator().gateway(), ic.Store(), progress=False, requests_per_second=20)
    assert report.requests == 7
    assert time.perf_counter() - started >= 6 / 20  # 7 starts, 1/20 s apart


def test_progress_bar_counts_messages(
    camp: ic.Campaign, capsys: pytest.CaptureFixture[str]
) -> None:
    camp.send(Simulator().gateway(), ic.Store(), progress=True)
    err = capsys.readouterr().err
    assert "298/298" in err and "msg" in err


def test_the_report_displays_itself(camp: ic.Campaign) -> None:
    report = camp.send(Simulator().gateway(), ic.Store(), progress=False)
    html = report._repr_html_()
    assert "Send report: nov" in html and "complete" in html and "298" in html
    assert report.summary().filter(pl.col("state") == "submitted")["messages"].item() == 298


def test_send_works_inside_a_running_event_loop_as_in_jupyter(camp: ic.Campaign) -> None:
    sim = Simulator()

    async def notebook_cell() -> ic.SendReport:
        return camp.send(sim.gateway(), ic.Store(), progress=False)

    assert asyncio.run(notebook_cell()).complete
    assert sent_pairs(sim) == planned_pairs(camp)


def test_ctrl_c_stops_cleanly_and_send_again_finishes(camp: ic.Campaign) -> None:
    sim, store = Simulator(), ic.Store()
    sim.set_fault(0, "ok", latency=0.2)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    try:
        # No balance check: the interrupt comes while the requests go out.
        report = camp.send(sim.gateway(), store, progress=False, concurrency=1, check_balance=False)
    finally:
        timer.cancel()
    assert report.stop_reason == "interrupted"
    assert report.unknown_chunks == []  # the request in flight finished and was recorded
    assert 0 < len(sim.ledger) < camp.sendable.height
    assert report.states["submitted"] == len(sim.ledger)
    assert camp.send(sim.gateway(), store, progress=False).complete
    assert sent_pairs(sim) == planned_pairs(camp)

"""The client against the simulator: in-process and over real loopback sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from isms_campaigns.errors import GatewayError
from isms_campaigns.gateway import Rejected, Sent, Unknown
from isms_campaigns.gateway.client import Gateway
from isms_campaigns.simulator import Account, DlrPlan, LedgerEntry, Simulator

A = "60123456789"
B = "60198887777"


def one(text: str = "Hi", dstno: str = A) -> list[dict[str, str]]:
    return [{"dstno": dstno, "msg": text}]


def test_success_grows_sms_ids_charges_and_records_the_ledger() -> None:
    sim = Simulator([Account(balance=100)])
    reply = sim.gateway().send_json(
        [{"dstno": A, "msg": "a" * 154}, {"dstno": B, "msg": "陈"}], type=2
    )
    result = reply.result
    assert isinstance(result, Sent)
    ids = [int(r.sms_id or 0) for r in result.results]
    assert ids[1] == ids[0] + 1
    # type 2: 154 chars = 3 parts of 63; 1 char = 1 part
    assert result.total_credits_used == 4
    assert sim.accounts["demo"].balance == 96
    assert [(e.dstno, e.sms_id) for e in sim.ledger] == [(A, str(ids[0])), (B, str(ids[1]))]


@pytest.mark.parametrize(
    ("account", "user", "pwd", "code"),
    [
        (Account(), "demo", "wrong", -1001),
        (Account(suspended=True), "demo", "demo", -1002),
        (Account(whitelisted=False), "demo", "demo", -1003),
        (Account(balance=0), "demo", "demo", -1004),
    ],
)
def test_account_level_codes_send_nothing(account: Account, user: str, pwd: str, code: int) -> None:
    sim = Simulator([account])
    reply = sim.gateway(user, pwd).send_json(one(), type=1)
    assert reply.result == Rejected(code, reply.result.message)  # type: ignore[union-attr]
    assert sim.ledger == []


def test_credits_are_checked_for_the_whole_request_first() -> None:
    sim = Simulator([Account(balance=1)])
    reply = sim.gateway().send_json([{"dstno": A, "msg": "x"}, {"dstno": B, "msg": "y"}], type=1)
    assert isinstance(reply.result, Rejected) and reply.result.code == -1004
    assert sim.ledger == [] and sim.accounts["demo"].balance == 1


def test_row_level_codes_give_partial() -> None:
    sim = Simulator()
    msgs = [
        {"dstno": A, "msg": "fine"},
        {"dstno": "016xxx", "msg": "bad number"},
        {"dstno": B, "msg": "x" * 701},
        {"dstno": A, "msg": "Best CASINO in town"},
        {"dstno": B, "msg": "陈 in type 1"},
    ]
    result = sim.gateway().send_json(msgs, type=1).result
    assert isinstance(result, Sent)
    assert [r.code for r in result.results] == [2000, -1008, -1006, -1009, -1012]
    assert result.submitted == 1 and len(sim.ledger) == 1


def test_request_level_codes() -> None:
    sim = Simulator()
    gw = sim.gateway()
    client = gw.client
    url = sim.hosts[0] + "/isms_send_json.php"
    assert '"code": -1015' in client.get(url).text
    assert '"code": -1014' in client.post(url, content=b"{not json").text
    payload = gw.json_payload(one(), type=1)
    assert '"code": -1005' in client.post(url, json={**payload, "type": "3"}).text
    many = {**payload, "messages": [{"dstno": A, "msg": "x"}] * 51}
    assert '"code": -1010' in client.post(url, json=many).text
    assert '"code": -1013' in client.post(url, json={**payload, "agreedterm": "NO"}).text
    assert sim.ledger == []


def test_terms_accepted_account_needs_no_agreedterm() -> None:
    sim = Simulator([Account(terms_accepted=True)])
    gw = sim.gateway()
    payload = {k: v for k, v in gw.json_payload(one(), type=1).items() if k != "agreedterm"}
    assert (
        '"status": "success"'
        in gw.client.post(sim.hosts[0] + "/isms_send_json.php", json=payload).text
    )


def test_classic_and_rest_text_replies() -> None:
    sim = Simulator()
    gw = sim.gateway()
    result = gw.send_classic(f"{A};{B}", "Hello", type=1).result
    assert isinstance(result, Sent) and result.submitted == 2
    assert isinstance(gw.send_rest(A, "Hello", type=1).result, Sent)
    bad = sim.gateway(password="nope").send_classic(A, "Hello", type=1).result
    assert bad == Rejected(-1001, "-1001")


def test_balance_prepaid_and_postpaid() -> None:
    sim = Simulator([Account(balance=1500), Account("post", "pw", balance=None)])
    assert sim.gateway().balance() == 1500
    assert sim.gateway("post", "pw").balance() is None
    with pytest.raises(GatewayError, match="-1001"):
        sim.gateway("demo", "bad").balance()


# -- faults in-process -------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "outcome", "acted", "tried"),
    [
        ("refuse", Sent, True, 2),
        ("hang", Unknown, False, 1),
        ("drop-before", Unknown, False, 1),
        ("drop-after", Unknown, True, 1),
        ("5xx", Unknown, False, 1),
    ],
)
def test_failover_matrix_in_process(fault: str, outcome: type, acted: bool, tried: int) -> None:
    sim = Simulator()
    sim.set_fault(0, fault)  # type: ignore[arg-type]
    reply = sim.gateway().send_json(one(), type=1)
    assert isinstance(reply.result, outcome)
    assert len(sim.ledger) == (1 if acted else 0)  # never twice
    assert len(reply.attempts) == tried


# -- real sockets on loopback --------------------------------------------------


@pytest.fixture
def served() -> Iterator[Simulator]:
    sim = Simulator(hang_seconds=5)
    with sim.serve():
        yield sim


@pytest.mark.parametrize(
    ("fault", "outcome", "acted", "hosts_tried"),
    [
        ("ok", Sent, 1, 1),
        ("refuse", Sent, 1, 2),
        ("hang", Unknown, 0, 1),
        ("drop-before", Unknown, 0, 1),
        ("drop-after", Unknown, 1, 1),
        ("5xx", Unknown, 0, 1),
    ],
)
def test_failover_matrix_over_loopback(
    served: Simulator, fault: str, outcome: type, acted: int, hosts_tried: int
) -> None:
    served.set_fault(0, fault)  # type: ignore[arg-type]
    with Gateway("demo", "demo", hosts=served.hosts, timeout=1.0) as gw:
        reply = gw.send_json(one(), type=1)
    assert isinstance(reply.result, outcome), reply
    assert len(served.ledger) == acted
    assert len({a.host for a in reply.attempts}) == hosts_tried
    assert {h for h, _ in served.requests} <= set(served.hosts[:hosts_tried])


def test_refused_host_comes_back(served: Simulator) -> None:
    served.set_fault(0, "refuse")
    served.set_fault(0, "ok")
    with Gateway("demo", "demo", hosts=served.hosts[:1], timeout=2.0) as gw:
        assert isinstance(gw.send_json(one(), type=1).result, Sent)
        assert gw.balance() == served.accounts["demo"].balance


def test_dlr_callbacks_to_a_log_and_a_url(tmp_path: Path) -> None:
    log = tmp_path / "callbacks.log"
    receiver = Simulator(hosts=1)  # any HTTP server on loopback that records requests
    with receiver.serve() as (url,):
        sim = Simulator(
            dlr=DlrPlan(mix={"DELIVERED": 1.0}, pending=1.0, repeat=1.0),
            callback_log=log,
            callback_url=url + "/dlr",
        )
        result = (
            sim.gateway()
            .send_json([{"dstno": A, "msg": "x"}, {"dstno": B, "msg": "y"}], type=1)
            .result
        )
        sim.close()
        assert isinstance(result, Sent)
        lines = log.read_text().splitlines()
        # Each message: PENDING, then DELIVERED twice (a repeat).
        assert len(lines) == 6
        first = result.results[0]
        assert f"msisdn={A}&trx_id={first.sms_id}&dn_status=DELIVERED" in log.read_text()
        assert all(
            line.startswith("127.0.0.1 - - [") and '"GET /dlr?msisdn=' in line for line in lines
        )
        deadline = time.time() + 5
        while len(receiver.requests) < 6 and time.time() < deadline:
            time.sleep(0.05)
        assert receiver.requests.count((url, "/dlr")) == 6


def test_slow_host_times_out_after_acting(served: Simulator) -> None:
    # The gateway sends, then answers too late: the client cannot know, so Unknown.
    served.set_fault(0, "ok", latency=0.5)
    with Gateway("demo", "demo", hosts=served.hosts, timeout=0.2) as gw:
        reply = gw.send_json(one(), type=1)
    assert isinstance(reply.result, Unknown) and "read timeout" in reply.result.cause
    deadline = time.time() + 3
    while not served.ledger and time.time() < deadline:
        time.sleep(0.05)
    assert len(served.ledger) == 1  # it did go out: exactly why it is not resent
    assert len(reply.attempts) == 1


def test_each_simulator_has_its_own_default_account() -> None:
    first = Simulator()
    first.gateway().send_json(one(), type=1)
    assert Simulator().accounts["demo"].balance == 1_000_000
    assert first.accounts["demo"].balance == 1_000_000 - 1


# -- injected answers -----------------------------------------------------------


def test_injected_codes_answer_sends_without_acting() -> None:
    sim = Simulator([Account(balance=100)])
    gw = sim.gateway()
    sim.inject(-1000, times=2)
    first = gw.send_json(one(), type=1).result
    second = gw.send_classic(A, "Hi", type=1).result
    assert first == Rejected(-1000, "-1000 = UNKNOWN ERROR")
    assert second == Rejected(-1000, "-1000")
    assert sim.ledger == [] and sim.accounts["demo"].balance == 100
    assert isinstance(gw.send_json(one(), type=1).result, Sent)  # used up: back to normal
    assert sim.refused == [(sim.hosts[0], -1000), (sim.hosts[0], -1000)]
    assert len(sim.ledger) == 1 and sim.accounts["demo"].balance == 99


@pytest.mark.parametrize("code", [-1006, -1007, -1008, -1009, -1012])
def test_a_row_code_injected_refuses_the_whole_request(code: int) -> None:
    sim = Simulator()
    gw = sim.gateway()
    sim.inject(code)
    result = gw.send_json([{"dstno": A, "msg": "x"}, {"dstno": B, "msg": "y"}], type=1).result
    assert isinstance(result, Rejected) and result.code == code
    sim.inject(code)
    assert gw.send_rest(A, "x", type=1).result == Rejected(code, str(code))
    assert sim.ledger == [] and [c for _, c in sim.refused] == [code, code]


def test_injected_answers_queue_up_and_skip_balance_reads() -> None:
    sim = Simulator()
    gw = sim.gateway()
    sim.inject(-1001)
    sim.inject((429, "Too Many Requests"), times=2)
    assert gw.balance() == 1_000_000  # not a send: not answered by inject
    codes = [gw.send_json(one(), type=1).result for _ in range(4)]
    assert [getattr(r, "code", None) for r in codes] == [-1001, 429, 429, None]
    assert [c for _, c in sim.refused] == [-1001, 429, 429]
    assert len(sim.ledger) == 1


@pytest.mark.parametrize(
    ("answer", "code", "kind"),
    [
        ((429, "Too Many Requests"), 429, "retryable"),
        ((404, "<html><body><h1>404 Not Found</h1></body></html>"), 404, "http"),
        ((405, "Method Not Allowed"), 405, "http"),
        ((403, "-1003"), -1003, "account"),
    ],
)
def test_injected_http_answers(answer: tuple[int, str], code: int, kind: str) -> None:
    sim = Simulator()
    sim.inject(answer)
    reply = sim.gateway().send_json(one(), type=1)
    assert isinstance(reply.result, Rejected)
    assert (reply.result.code, reply.result.info.kind) == (code, kind)
    assert reply.attempts[0].http_status == answer[0]
    assert sim.ledger == [] and sim.refused == [(sim.hosts[0], answer[0])]


def test_injected_answers_are_checked() -> None:
    sim = Simulator()
    with pytest.raises(ValueError, match="times"):
        sim.inject(-1000, times=0)
    with pytest.raises(TypeError):
        sim.inject("-1000")  # type: ignore[arg-type]
    assert sim.refused == []


def bom_success(sms_id: str = "555") -> str:
    row = {"dstno": A, "code": 2000, "status": f"2000 = SUCCESS:{sms_id}|", "sms_id": sms_id}
    return "\ufeff" + json.dumps(
        {"status": "success", "code": 2000, "total_credits_used": 1, "results": [row]}
    )


def test_injected_body_with_a_bom_in_process() -> None:
    sim = Simulator()
    sim.inject((200, bom_success()))
    result = sim.gateway().send_json(one(), type=1).result
    assert isinstance(result, Sent) and result.results[0].sms_id == "555"
    assert sim.ledger == []  # verbatim: the simulator did not act


def test_injected_answers_over_loopback(served: Simulator) -> None:
    served.inject((200, bom_success("777")))
    served.inject((200, "<br />\n<b>Notice</b>:  Undefined index: fid<br />\n" + bom_success()[1:]))
    served.inject(-1007)
    served.inject((429, "Too Many Requests"))
    with Gateway("demo", "demo", hosts=served.hosts, timeout=2.0) as gw:
        results = [gw.send_json(one(), type=1).result for _ in range(4)]
        results.append(gw.send_classic(A, "Hi", type=1).result)
    assert isinstance(results[0], Sent) and results[0].results[0].sms_id == "777"
    assert isinstance(results[1], Sent) and results[1].results[0].sms_id == "555"
    assert results[2] == Rejected(-1007, "-1007 = INVALID HEX BODY")
    assert isinstance(results[3], Rejected) and results[3].code == 429
    assert isinstance(results[4], Sent) and len(served.ledger) == 1
    assert [c for _, c in served.refused] == [200, 200, -1007, 429]


def test_injection_is_thread_safe(served: Simulator) -> None:
    served.inject(-1000, times=25)
    with Gateway("demo", "demo", hosts=served.hosts, timeout=5.0) as gw:  # noqa: SIM117
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda _: gw.send_json(one(), type=1).result, range(80)))
    refused = [r for r in results if isinstance(r, Rejected)]
    assert len(refused) == 25 and all(r.code == -1000 for r in refused)
    assert sum(isinstance(r, Sent) for r in results) == 55
    assert len(served.refused) == 25 and len(served.ledger) == 55


# -- spec fidelity --------------------------------------------------------------


def test_content_refusal_request_refuses_the_whole_request() -> None:
    sim = Simulator([Account(balance=100)], content_refusal="request")
    gw = sim.gateway()
    msgs = [{"dstno": A, "msg": "fine"}, {"dstno": B, "msg": "Best CASINO in town"}]
    assert gw.send_json(msgs, type=1).result == Rejected(-1009, "-1009 = INVALID MESSAGE CONTENT")
    assert gw.send_classic(f"{A};{B}", "judi online", type=1).result == Rejected(-1009, "-1009")
    assert sim.ledger == [] and sim.accounts["demo"].balance == 100
    assert isinstance(gw.send_json(msgs[:1], type=1).result, Sent)
    with pytest.raises(ValueError, match="content_refusal"):
        Simulator(content_refusal="message")  # type: ignore[arg-type]


@pytest.mark.parametrize("sendid", ["My Shop", "MyCompany12", "Shop!", "商店", "Shop-1", "a_b"])
def test_an_invalid_sendid_refuses_the_whole_request(sendid: str) -> None:
    sim = Simulator()
    gw = sim.gateway()
    if len(sendid) == 11:  # 11 is the maximum: allowed
        assert isinstance(gw.send_json(one(), type=1, sendid=sendid).result, Sent)
        sendid += "3"
    result = gw.send_json(
        [{"dstno": A, "msg": "x"}, {"dstno": B, "msg": "y"}], type=1, sendid=sendid
    )
    assert result.result == Rejected(-1008, "-1008 = MISSING PARAMETER")
    assert gw.send_classic(A, "x", type=1, sendid=sendid).result == Rejected(-1008, "-1008")
    assert len(sim.ledger) == (1 if len(sendid) == 12 else 0)


def test_sendid_and_fid_are_recorded() -> None:
    sim = Simulator()
    gw = sim.gateway()
    gw.send_json(one(), type=1, sendid="MyShop", fid="7")
    gw.send_json(one(), type=1)
    gw.send_classic(A, "x", type=1, sendid="Clinic2")
    assert [(e.sendid, e.fid) for e in sim.ledger] == [
        ("MyShop", "7"),
        (None, None),
        ("Clinic2", None),
    ]
    # The fields a ledger entry had keep their places; the new ones come last.
    entry = LedgerEntry(A, "x", 1, "1", "h", 1)
    assert (entry.fid, entry.sendid) == (None, None)


def test_body_limit_counts_utf16_units_for_type_2() -> None:
    sim = Simulator()
    gw = sim.gateway()
    msgs = [
        {"dstno": A, "msg": "😀" * 350},  # 350 characters, 700 units: the limit
        {"dstno": A, "msg": "😀" * 351},  # 351 characters, 702 units: over
        {"dstno": A, "msg": "陈" * 699 + "😀"},  # 700 characters, 701 units: over
        {"dstno": A, "msg": "陈" * 700},
        {"dstno": B, "msg": "x" * 700},
    ]
    result = gw.send_json(msgs, type=2).result
    assert isinstance(result, Sent)
    assert [r.code for r in result.results] == [2000, -1006, -1006, 2000, 2000]
    assert sim.ledger[0].credits == 12  # 700 units = 12 parts of 63: billed in the same unit
    ascii_result = gw.send_json([{"dstno": A, "msg": "x" * 700}], type=1).result
    assert isinstance(ascii_result, Sent) and ascii_result.submitted == 1


def test_classic_and_rest_split_numbers_on_commas_too() -> None:
    sim = Simulator()
    gw = sim.gateway()
    classic = gw.send_classic(f"{A},{B}", "Hello", type=1).result
    rest = gw.send_rest(f"{A}, {B};{A}", "Hello", type=1).result
    assert isinstance(classic, Sent) and classic.submitted == 2
    assert isinstance(rest, Sent) and rest.submitted == 3
    assert [e.dstno for e in sim.ledger] == [A, B, A, B, A]


def test_total_messages_counts_entries_and_the_others_numbers() -> None:
    sim = Simulator()
    gw = sim.gateway()
    messages = [{"dstno": f"{A};{B}", "msg": "shared"}, {"dstno": f"{A},016xxx", "msg": "x"}]
    answer = gw.client.post(
        sim.hosts[0] + "/isms_send_json.php", json=gw.json_payload(messages, type=1)
    ).json()
    assert answer["status"] == "partial"
    assert (answer["total_messages"], answer["total_success"], answer["total_failed"]) == (2, 3, 1)
    assert len(answer["results"]) == 4


def raw_json_posts(client: httpx.Client, base: str, body: dict[str, object]) -> list[str]:
    """The JSON endpoints' answers to one body sent with several content types."""
    data = json.dumps(body).encode()
    answers = []
    for path in ("/isms_send_json.php", "/isms_balance_json.php"):
        for ctype in (None, "text/plain", "application/x-www-form-urlencoded"):
            headers = {"Content-Type": ctype} if ctype else {}
            answers.append(client.post(base + path, content=data, headers=headers).text)
        for ctype in ("application/json; charset=utf-8", "Application/JSON"):
            answers.append(
                client.post(base + path, content=data, headers={"Content-Type": ctype}).text
            )
    return answers


def check_content_types(answers: list[str]) -> None:
    send, balance = answers[:5], answers[5:]
    for refused in send[:3] + balance[:3]:
        assert json.loads(refused) == {
            "status": "error",
            "code": -1014,
            "message": "-1014 = INVALID JSON FORMAT",
        }
    assert all(json.loads(a)["status"] == "success" for a in send[3:] + balance[3:])


def test_json_endpoints_require_the_json_content_type_in_process() -> None:
    sim = Simulator()
    gw = sim.gateway()
    check_content_types(raw_json_posts(gw.client, sim.hosts[0], gw.json_payload(one(), type=1)))
    assert len(sim.ledger) == 2
    assert isinstance(gw.send_json(one(), type=1).result, Sent)  # the client sends the header
    assert '"code": -1015' in gw.client.get(sim.hosts[0] + "/isms_balance_json.php").text


def test_json_endpoints_require_the_json_content_type_over_loopback(served: Simulator) -> None:
    with Gateway("demo", "demo", hosts=served.hosts, timeout=2.0) as gw, httpx.Client() as client:
        check_content_types(raw_json_posts(client, served.hosts[0], gw.json_payload(one(), type=1)))
        assert isinstance(gw.send_json(one(), type=1).result, Sent)
        assert gw.balance() == served.accounts["demo"].balance
    assert len(served.ledger) == 3

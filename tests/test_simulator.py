"""The client against the simulator: in-process and over real loopback sockets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isms_campaigns.errors import GatewayError
from isms_campaigns.gateway import Rejected, Sent, Unknown
from isms_campaigns.gateway.client import Gateway
from isms_campaigns.simulator import Account, DlrPlan, Simulator

A = "60123456789"
B = "60198887777"


def gateway(sim: Simulator, user: str = "demo", pwd: str = "demo") -> Gateway:
    return Gateway(
        user, pwd, hosts=sim.hosts, transport=sim.transport(), async_transport=sim.transport()
    )


def one(text: str = "Hi", dstno: str = A) -> list[dict[str, str]]:
    return [{"dstno": dstno, "msg": text}]


def test_success_grows_sms_ids_charges_and_records_the_ledger() -> None:
    sim = Simulator([Account(balance=100)])
    reply = gateway(sim).send_json(
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
    reply = gateway(sim, user, pwd).send_json(one(), type=1)
    assert reply.result == Rejected(code, reply.result.message)  # type: ignore[union-attr]
    assert sim.ledger == []


def test_credits_are_checked_for_the_whole_request_first() -> None:
    sim = Simulator([Account(balance=1)])
    reply = gateway(sim).send_json([{"dstno": A, "msg": "x"}, {"dstno": B, "msg": "y"}], type=1)
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
    result = gateway(sim).send_json(msgs, type=1).result
    assert isinstance(result, Sent)
    assert [r.code for r in result.results] == [2000, -1008, -1006, -1009, -1012]
    assert result.submitted == 1 and len(sim.ledger) == 1


def test_request_level_codes() -> None:
    sim = Simulator()
    gw = gateway(sim)
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
    gw = gateway(sim)
    payload = {k: v for k, v in gw.json_payload(one(), type=1).items() if k != "agreedterm"}
    assert (
        '"status": "success"'
        in gw.client.post(sim.hosts[0] + "/isms_send_json.php", json=payload).text
    )


def test_classic_and_rest_text_replies() -> None:
    sim = Simulator()
    gw = gateway(sim)
    result = gw.send_classic(f"{A};{B}", "Hello", type=1).result
    assert isinstance(result, Sent) and result.submitted == 2
    assert isinstance(gw.send_rest(A, "Hello", type=1).result, Sent)
    bad = gateway(sim, pwd="nope").send_classic(A, "Hello", type=1).result
    assert bad == Rejected(-1001, "-1001")


def test_balance_prepaid_and_postpaid() -> None:
    sim = Simulator([Account(balance=1500), Account("post", "pw", balance=None)])
    assert gateway(sim).balance() == 1500
    assert gateway(sim, "post", "pw").balance() is None
    with pytest.raises(GatewayError, match="-1001"):
        gateway(sim, "demo", "bad").balance()


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
    reply = gateway(sim).send_json(one(), type=1)
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
            gateway(sim)
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
    gateway(first).send_json(one(), type=1)
    assert Simulator().accounts["demo"].balance == 1_000_000
    assert first.accounts["demo"].balance == 1_000_000 - 1

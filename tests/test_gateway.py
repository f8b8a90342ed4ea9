"""The client against scripted transports: failover, parsing, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from isms_campaigns.errors import GatewayError
from isms_campaigns.gateway import Rejected, Sent, Unknown, Unreached
from isms_campaigns.gateway.client import Gateway
from isms_campaigns.simulator import Simulator

HOSTS = ["http://127.0.0.1:8001", "http://127.0.0.1:8002", "http://127.0.0.1:8003"]
MSGS = [{"dstno": "60123456789", "msg": "Hi"}]
OK = {
    "status": "success",
    "code": 2000,
    "total_credits_used": 1,
    "results": [
        {"dstno": "60123456789", "code": 2000, "status": "2000 = SUCCESS:9", "sms_id": "9"}
    ],
}


def scripted(behaviour: dict[str, str], seen: list[str]) -> httpx.MockTransport:
    """Each host: 'ok', 'refuse', 'connect-timeout', 'read-timeout', 'drop', '500', 'html'."""

    def handler(request: httpx.Request) -> httpx.Response:
        host = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        seen.append(host)
        what = behaviour.get(host, "ok")
        if what == "refuse":
            raise httpx.ConnectError("refused", request=request)
        if what == "connect-timeout":
            raise httpx.ConnectTimeout("slow", request=request)
        if what == "read-timeout":
            raise httpx.ReadTimeout("hung", request=request)
        if what == "drop":
            raise httpx.RemoteProtocolError("closed", request=request)
        if what == "500":
            return httpx.Response(502, text="<html>Bad gateway</html>")
        if what == "html":
            return httpx.Response(200, text="<html><body>maintenance</body></html>")
        return httpx.Response(200, json=OK)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("failure", ["refuse", "connect-timeout"])
def test_unreached_host_fails_over_to_the_next(failure: str) -> None:
    seen: list[str] = []
    gw = Gateway("u", "p", hosts=HOSTS, transport=scripted({HOSTS[0]: failure}, seen))
    reply = gw.send_json(MSGS, type=1)
    assert isinstance(reply.result, Sent)
    assert seen == HOSTS[:2]
    assert reply.host == HOSTS[1]
    assert reply.attempts[0].error and reply.attempts[1].http_status == 200


@pytest.mark.parametrize("failure", ["read-timeout", "drop", "500", "html"])
def test_possibly_sent_is_unknown_and_never_retried_elsewhere(failure: str) -> None:
    seen: list[str] = []
    gw = Gateway("u", "p", hosts=HOSTS, transport=scripted({HOSTS[0]: failure}, seen))
    reply = gw.send_json(MSGS, type=1)
    assert isinstance(reply.result, Unknown)
    assert seen == HOSTS[:1]  # the second host was never asked


def test_all_hosts_refusing_is_unreached_with_every_attempt() -> None:
    seen: list[str] = []
    gw = Gateway("u", "p", hosts=HOSTS, transport=scripted(dict.fromkeys(HOSTS, "refuse"), seen))
    reply = gw.send_json(MSGS, type=1)
    assert isinstance(reply.result, Unreached)  # provably nothing sent: safe to send later
    assert all(host in reply.result.cause for host in HOSTS)
    assert len(reply.attempts) == 3


def test_async_interface_has_the_same_rules() -> None:
    seen: list[str] = []

    async def run() -> None:
        gw = Gateway(
            "u",
            "p",
            hosts=HOSTS,
            async_transport=scripted({HOSTS[0]: "refuse", HOSTS[1]: "read-timeout"}, seen),
        )
        reply = await gw.asend_json(MSGS, type=1)
        await gw.aclose()
        assert isinstance(reply.result, Unknown)

    asyncio.run(run())
    assert seen == HOSTS[:2]


def test_request_shape_user_agent_and_agreedterm() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200, json=OK)

    gw = Gateway("u", "p", hosts=HOSTS[:1], transport=httpx.MockTransport(handler))
    gw.send_json(MSGS, type=2, sendid="MyShop")
    request = captured[0]
    assert request.url.path == "/isms_send_json.php"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("isms_campaigns/")
    body = json.loads(request.content)
    assert body == {
        "un": "u",
        "pwd": "p",
        "type": "2",
        "agreedterm": "YES",
        "sendid": "MyShop",
        "messages": MSGS,
    }


def test_more_than_fifty_numbers_is_refused_before_sending() -> None:
    gw = Gateway("u", "p", hosts=HOSTS)
    many = [{"dstno": ";".join(["60123456789"] * 26), "msg": "x"}] * 2
    with pytest.raises(GatewayError, match="1 to 50"):
        gw.send_json(many, type=1)


def test_classic_post_and_get_with_warning() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200, text="2000 = SUCCESS:1|2000 = SUCCESS:2|")

    gw = Gateway("u", "p", hosts=HOSTS[:1], transport=httpx.MockTransport(handler))
    reply = gw.send_classic("60123456789;60198887777", "Hi", type=1)
    assert isinstance(reply.result, Sent) and reply.result.submitted == 2
    assert captured[0].method == "POST" and b"agreedterm=YES" in captured[0].content
    with pytest.warns(UserWarning, match="password in the URL"):
        gw.send_classic("60123456789", "Hi", type=1, method="GET")
    assert captured[1].method == "GET"


def test_rejected_codes_are_values_not_exceptions() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text="-1003"))
    reply = Gateway("u", "p", hosts=HOSTS[:1], transport=transport).send_json(MSGS, type=1)
    assert isinstance(reply.result, Rejected)
    assert "whitelist" in reply.result.info.what_to_do


def test_balance_prepaid_postpaid_and_failover() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.port == 8001:
            raise httpx.ReadTimeout("slow", request=request)  # reads may move on
        body = json.loads(request.content)
        if body["un"] == "postpaid":
            return httpx.Response(200, text="INVALID ACCOUNT TYPE")
        return httpx.Response(200, json={"status": "success", "code": 0, "balance": "1500"})

    transport = httpx.MockTransport(handler)
    assert Gateway("u", "p", hosts=HOSTS, transport=transport).balance() == 1500
    assert Gateway("postpaid", "p", hosts=HOSTS, transport=transport).balance() is None


def test_balance_rejection_says_what_to_do() -> None:
    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, json={"status": "error", "code": -1001})
    )
    with pytest.raises(GatewayError, match="ISMS_USERNAME"):
        Gateway("u", "p", hosts=HOSTS[:1], transport=transport).balance()


def test_configuration_errors() -> None:
    with pytest.raises(GatewayError, match="ISMS_PASSWORD"):
        Gateway("u", None)
    with pytest.raises(GatewayError, match="plain http"):
        Gateway("u", "p", hosts=["http://gateway.example.com"])
    assert Gateway("u", "p").hosts is None  # the spec's hosts


SENTINEL = "S3ntinel-Pa55word-7d1f"


def test_password_never_shows(
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ISMS_USERNAME", "shop")
    monkeypatch.setenv("ISMS_PASSWORD", SENTINEL)
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.port == 8001:
            raise httpx.ConnectError(f"refused {request.url}", request=request)
        if request.url.port == 8002:
            raise httpx.ReadTimeout(f"timeout {request.url}", request=request)
        return httpx.Response(200, text="-1001")

    gw = Gateway.from_env(hosts=HOSTS, transport=httpx.MockTransport(handler))
    outputs += [repr(gw), str(gw)]
    reply = gw.send_json(MSGS, type=1)
    outputs += [repr(reply)]
    with pytest.warns(UserWarning):
        outputs.append(repr(gw.send_classic("60123456789", "x", type=1, method="GET")))
    outputs.append(json.dumps(gw.json_payload(MSGS, type=1, masked=True)))
    try:
        Gateway("shop", SENTINEL, hosts=["http://example.com"])
    except GatewayError as exc:
        outputs.append(str(exc))
    bad = Gateway(
        "shop",
        SENTINEL,
        hosts=HOSTS[2:],
        transport=httpx.MockTransport(
            lambda r: httpx.Response(200, json={"status": "error", "code": -1001})
        ),
    )
    with pytest.raises(GatewayError) as info:
        bad.balance()
    outputs.append(str(info.value))
    captured = capsys.readouterr()
    outputs += [captured.out, captured.err, caplog.text]
    outputs += [r.getMessage() for r in caplog.records]
    for text in outputs:
        assert SENTINEL not in text
    assert "***" in outputs[0]


def test_one_transport_serves_sync_and_async_sends() -> None:
    sim = Simulator()
    gw = Gateway("demo", "demo", hosts=sim.hosts, transport=sim.transport())

    async def run() -> None:
        reply = await gw.asend_json(MSGS, type=1)
        classic = await gw.asend_classic("60123456789", "Hi", type=1)
        assert await gw.abalance() == sim.accounts["demo"].balance
        await gw.aclose()
        assert isinstance(reply.result, Sent) and isinstance(classic.result, Sent)

    asyncio.run(run())
    assert len(sim.ledger) == 2
    assert gw.send_json(MSGS, type=1).result.outcome == "sent"
    assert len(sim.ledger) == 3


def test_an_explicit_async_transport_wins() -> None:
    sync_seen: list[str] = []
    async_seen: list[str] = []
    gw = Gateway(
        "u",
        "p",
        hosts=HOSTS[:1],
        transport=scripted({}, sync_seen),
        async_transport=scripted({}, async_seen),
    )

    async def run() -> None:
        await gw.asend_json(MSGS, type=1)
        await gw.aclose()

    asyncio.run(run())
    gw.send_json(MSGS, type=1)
    assert (sync_seen, async_seen) == (HOSTS[:1], HOSTS[:1])


@pytest.mark.parametrize(
    ("status", "body", "code", "kind"),
    [
        (404, "<html><body><h1>404 Not Found</h1></body></html>", 404, "http"),
        (429, "Too Many Requests", 429, "retryable"),
        (403, " -1003 \n", -1003, "account"),
    ],
)
def test_a_4xx_is_a_rejection_and_no_other_host_is_tried(
    status: int, body: str, code: int, kind: str
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.scheme}://{request.url.host}:{request.url.port}")
        return httpx.Response(status, text=body)

    gw = Gateway("u", "p", hosts=HOSTS, transport=httpx.MockTransport(handler))
    reply = gw.send_json(MSGS, type=1)
    assert isinstance(reply.result, Rejected)
    assert (reply.result.code, reply.result.info.kind) == (code, kind)
    assert seen == HOSTS[:1] and reply.attempts[0].http_status == status


def test_json_requests_carry_the_json_content_type() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        if request.url.path.endswith("balance_json.php"):
            return httpx.Response(200, json={"status": "success", "code": 0, "balance": "5"})
        return httpx.Response(200, json=OK)

    gw = Gateway("u", "p", hosts=HOSTS[:1], transport=httpx.MockTransport(handler))

    async def run() -> None:
        await gw.asend_json(MSGS, type=1)
        assert await gw.abalance() == 5
        await gw.aclose()

    gw.send_json(MSGS, type=1)
    assert gw.balance() == 5
    asyncio.run(run())
    assert len(captured) == 4
    assert all(r.headers["content-type"] == "application/json" for r in captured)


def test_threads_sharing_a_gateway_share_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    gw = Gateway("u", "p", hosts=HOSTS, transport=scripted({}, []))
    options = gw._client_options

    def slow_options() -> dict[str, object]:
        time.sleep(0.05)  # widens the window between "no client yet" and "made one"
        return options()

    monkeypatch.setattr(gw, "_client_options", slow_options)
    barrier = threading.Barrier(8)

    def client(_: int) -> httpx.Client:
        barrier.wait()
        return gw.client

    with ThreadPoolExecutor(8) as pool:
        clients = set(pool.map(client, range(8)))
    assert len(clients) == 1  # a second one would never be closed
    gw.close()
    assert clients.pop().is_closed

"""A stand-in for the iSMS gateway that follows the spec to the letter.

Use it two ways:

- in-process, as an httpx transport (fast tests)::

      sim = Simulator()
      gw = sim.gateway()  # Gateway("demo", "demo", …) over sim.transport(), sync and async

- as real HTTP servers on loopback, one port per host (the demo, notebooks,
  process-level tests, ``isms-campaigns simulator``)::

      with sim.serve(port=0) as urls:
          gw = Gateway("demo", "demo", hosts=urls)

Every code path of the spec is reachable through the :class:`Account`
settings and the message content; per-host :class:`Fault` s reproduce the
failures that make sending hard (refused, hung, dropped before or after
acting, HTTP 5xx, latency). The :attr:`Simulator.ledger` records every
message accepted, so a test can check that each went out exactly once.
Accepted messages can produce delivery-report callbacks in the spec's URL
form, written to a log and/or pushed to a callback URL.

What the simulator checks, as the spec says:

- the JSON endpoints (send and balance) take POST (-1015) with
  ``Content-Type: application/json`` and a JSON object body (-1014);
- ``sendid``, when given, is at most 11 ASCII letters or digits; the spec
  names no code for a bad one, so it is -1008 for the whole request;
- ``fid`` is accepted and recorded (with ``sendid``) in each
  :class:`LedgerEntry`;
- the 700-character body limit (-1006) counts the unit billing counts:
  characters for type 1, UTF-16 code units for type 2 (an emoji is 2);
- several numbers in one ``dstno`` are split on ``;`` and ``,`` on every
  endpoint, as the client's ``split_numbers`` does;
- ``total_messages`` counts the request's message entries,
  ``total_success`` / ``total_failed`` its numbers;
- prohibited content fails its row (-1009), or with
  ``content_refusal="request"`` refuses the whole request, as some gateways do;
- ``sendlater`` is a date and time in Malaysian time (the spec says only
  "date/time string"; ``2026-12-01 09:30:00``, ISO forms with an offset are
  converted); one it cannot read refuses the request with -1008, as a bad
  ``sendid`` does. A scheduled message is accepted and charged at once
  (:attr:`LedgerEntry.send_at`), held until its time on the simulator's
  ``clock`` (:meth:`Simulator.held`), and its delivery reports are dated
  after that time.

:meth:`Simulator.inject` makes the next send requests get a scripted answer
without acting (an error code, a rate limit, a 404 page, a body with a BOM
…); :attr:`Simulator.refused` lists the answers given that way.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import math
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx

from .gateway.client import Gateway

FaultKind = Literal["ok", "refuse", "hang", "drop-before", "drop-after", "5xx"]
ContentRefusal = Literal["row", "request"]
Injected = int | tuple[int, str]  # an iSMS code, or (HTTP status, body) verbatim
_DSTNO = re.compile(r"^[0-9]{8,15}$")
_SENDID = re.compile(r"[A-Za-z0-9]{1,11}")
_SEPARATORS = re.compile(r"[;,]")  # as gateway.client.split_numbers
_SEND_ENDPOINTS = ("isms_send_json.php", "isms_send_all_id.php", "RESTAPI.php")
MAX_BODY = 700  # characters for type 1, UTF-16 code units for type 2
BAD_GATEWAY = "<html><body>502 Bad Gateway</body></html>"  # what a proxy says for a dead backend
MALAYSIA = ZoneInfo("Asia/Kuala_Lumpur")  # the gateway's clock
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Account:
    """One iSMS account as the gateway sees it. ``balance=None`` is postpaid."""

    username: str = "demo"
    password: str = "demo"
    balance: int | None = 1_000_000
    whitelisted: bool = True
    suspended: bool = False
    terms_accepted: bool = False  # until then every request needs agreedterm=YES


@dataclass
class Fault:
    """How one host misbehaves. ``latency`` (s) is added before answering."""

    kind: FaultKind = "ok"
    latency: float = 0.0


@dataclass(frozen=True)
class LedgerEntry:
    """A message the gateway accepted: pushed to the telco, or at ``send_at`` (scheduled)."""

    dstno: str
    msg: str
    type: int
    sms_id: str
    host: str
    credits: int
    fid: str | None = None
    sendid: str | None = None
    send_at: datetime | None = None  # sendlater, Malaysian time


@dataclass
class DlrPlan:
    """Delivery reports to produce for accepted messages.

    ``mix`` weights final statuses (``None`` = no report ever arrives);
    ``pending`` is the share that first reports PENDING; ``repeat`` the share
    whose final report arrives twice; reports arrive after ``delay`` seconds
    (uniform between the two bounds).
    """

    mix: Mapping[str | None, float] = field(
        default_factory=lambda: {
            "DELIVERED": 0.86,
            "UNDELIVERED": 0.06,
            "ACCEPTED": 0.03,
            None: 0.05,
        }
    )
    pending: float = 0.1
    repeat: float = 0.05
    delay: tuple[float, float] = (0.0, 0.0)


class Simulator:
    """The gateway double: accounts, hosts, faults, ledger and DLRs.

    ``content_refusal`` says what a prohibited word does: ``"row"`` (the
    default) fails that recipient with -1009, ``"request"`` refuses the whole
    request with a top-level -1009 and sends nothing. ``clock`` (an aware
    ``datetime`` each call; default the real one) is when the gateway
    thinks it is: scheduled messages are held until it passes their time.
    """

    def __init__(
        self,
        accounts: Sequence[Account] | None = None,
        *,
        hosts: int = 4,
        prohibited_words: Sequence[str] = ("casino", "judi"),
        rates: Mapping[int, int] | None = None,
        dlr: DlrPlan | None = None,
        callback_log: str | Path | None = None,
        callback_url: str | None = None,
        seed: int = 0,
        first_sms_id: int = 1_143_007_207,
        hang_seconds: float = 30.0,
        content_refusal: ContentRefusal = "row",
        clock: Clock | None = None,
    ) -> None:
        if content_refusal not in ("row", "request"):
            raise ValueError(f"content_refusal must be 'row' or 'request', not {content_refusal!r}")
        # A fresh default account each time: balances change as messages go out.
        self.accounts = {a.username: a for a in (accounts or [Account()])}
        self.hosts = [f"http://sim-host-{i + 1}.test" for i in range(hosts)]
        self.faults: dict[str, Fault] = {h: Fault() for h in self.hosts}
        self.prohibited = [w.lower() for w in prohibited_words]
        self.rates = dict(rates or {60: 1})
        self._prefixes = [(str(cc), r) for cc, r in self.rates.items()]
        self.ledger: list[LedgerEntry] = []
        self.requests: list[tuple[str, str]] = []  # (host, path) of every request seen
        # (host, code or HTTP status) of every send answered by inject()
        self.refused: list[tuple[str, int]] = []
        self.hang_seconds = hang_seconds
        self.content_refusal = content_refusal
        self.clock = clock or _utc_now
        self._injected: list[list[Any]] = []  # [answer, times left], first first
        self._ids = itertools.count(first_sms_id)
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._dlr = _DlrDispatcher(dlr, callback_log, callback_url, self.clock) if dlr else None
        self._servers: dict[str, _Server] = {}
        self._addresses: dict[str, tuple[str, int]] = {}

    # -- configuration ---------------------------------------------------------

    def set_fault(self, host: int | str, kind: FaultKind, latency: float = 0.0) -> None:
        """Make host (index or URL) misbehave; ``"ok"`` restores it."""
        name = self.hosts[host] if isinstance(host, int) else host
        self.faults[name] = Fault(kind, latency)
        if name in self._addresses:  # serving: open or close the real port
            if kind == "refuse":
                self._stop(name)
            elif name not in self._servers:
                self._start(name, self._addresses[name])

    def inject(self, answer: Injected, times: int = 1) -> None:
        """Answer the next ``times`` send requests with ``answer``, without acting.

        Sends on the JSON, classic and REST endpoints (not balance reads) get
        it, whichever host they reach; nothing goes in the ledger and no
        credits are taken. ``answer`` is an iSMS code, given as the spec's
        top-level error (JSON ``{"status": "error", "code": …}``, or the bare
        code as text on the classic/REST endpoints), or ``(http_status,
        body)``, sent as is: ``(429, "Too Many Requests")``, ``(404, "<html>…")``,
        ``(200, "\\ufeff{…}")``. Each answer given is recorded in :attr:`refused`.
        Several calls queue up, first first.
        """
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times!r}")
        if isinstance(answer, tuple):
            status, body = answer
            if not isinstance(status, int) or not isinstance(body, str):
                raise TypeError("an injected answer is an int code or (http_status, body)")
        elif not isinstance(answer, int):
            raise TypeError("an injected answer is an int code or (http_status, body)")
        with self._lock:
            self._injected.append([answer, times])

    def _take_injected(self, host: str) -> Injected | None:
        with self._lock:
            if not self._injected:
                return None
            slot = self._injected[0]
            answer: Injected = slot[0]
            slot[1] -= 1
            if slot[1] <= 0:
                self._injected.pop(0)
            self.refused.append((host, answer[0] if isinstance(answer, tuple) else answer))
            return answer

    def held(self) -> list[LedgerEntry]:
        """The scheduled messages whose time has not come on the simulator's clock."""
        moment = self.clock()
        with self._lock:
            return [e for e in self.ledger if e.send_at is not None and e.send_at > moment]

    def close(self) -> None:
        """Stop the DLR dispatcher. Pending reports are flushed first: to the log,
        dated when they are due; to the callback URL only those already due (a
        pushed report is dated when it arrives, before a held message's time)."""
        if self._dlr:
            self._dlr.close()

    # -- the gateway's behaviour -------------------------------------------------

    def handle(
        self, host: str, method: str, path: str, query: str, content_type: str, body: bytes
    ) -> tuple[int, str, str]:
        """Answer one request: (HTTP status, content type, body)."""
        params = dict(parse_qsl(query))
        if content_type.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode()))
        with self._lock:
            self.requests.append((host, path))
        endpoint = path.rsplit("/", 1)[-1]
        if endpoint in _SEND_ENDPOINTS and (answer := self._take_injected(host)) is not None:
            return _injected_reply(answer, json_endpoint=endpoint == "isms_send_json.php")
        if endpoint == "isms_send_json.php":
            return 200, "application/json", self._send_json(host, method, content_type, body)
        if endpoint in ("isms_send_all_id.php", "RESTAPI.php"):
            return 200, "text/plain", self._send_classic(host, params)
        if endpoint == "isms_balance_json.php":
            return 200, "application/json", self._balance(method, content_type, body)
        return 404, "text/html", "<html><body><h1>404 Not Found</h1></body></html>"

    def _account_error(self, un: str | None, pwd: str | None, agreed: str | None) -> int | None:
        if not un or not pwd:
            return -1008
        account = self.accounts.get(un)
        if account is None or account.password != pwd:
            return -1001
        if account.suspended:
            return -1002
        if not account.whitelisted:
            return -1003
        if not account.terms_accepted and (agreed or "").upper() != "YES":
            return -1013
        return None

    def _prohibited(self, msg: str) -> bool:
        lowered = msg.lower()
        return any(word in lowered for word in self.prohibited)

    def _row_code(self, dstno: str, msg: str, kind: int) -> int:
        if not _DSTNO.match(dstno) or not msg:
            return -1008
        if _units(msg, kind) > MAX_BODY:
            return -1006
        if self._prohibited(msg):
            return -1009
        if kind == 1 and not msg.isascii():
            return -1012
        return 2000

    def credits(self, dstno: str, msg: str, kind: int) -> int:
        """The spec's billing rule: parts × the country's rate (1 when unlisted)."""
        parts = max(1, math.ceil(_units(msg, kind) / (153 if kind == 1 else 63)))
        rate = next((r for cc, r in self._prefixes if dstno.startswith(cc)), 1)
        return parts * rate

    def _send_json(self, host: str, method: str, content_type: str, body: bytes) -> str:
        if method != "POST":
            return _error(-1015)
        data = _json_object(body) if _is_json(content_type) else None
        if data is None:
            return _error(-1014)
        code = self._account_error(data.get("un"), data.get("pwd"), data.get("agreedterm"))
        if code:
            return _error(code)
        kind = str(data.get("type", ""))
        if kind not in ("1", "2"):
            return _error(-1005)
        messages = data.get("messages")
        sendid = _optional(data.get("sendid"))
        if not isinstance(messages, list) or not messages or not _sendid_ok(sendid):
            return _error(-1008)
        rows = [
            (n.strip(), str(m.get("msg", "")))
            for m in messages
            if isinstance(m, dict)
            for n in _SEPARATORS.split(str(m.get("dstno", "")))
            if n.strip()
        ]
        if len(rows) > 50:
            return _error(-1010)
        send_at = _send_at(data.get("sendlater"))
        if isinstance(send_at, int):
            return _error(send_at)
        results, charged = self._accept(
            data["un"], host, rows, int(kind), sendid, _optional(data.get("fid")), send_at
        )
        if isinstance(results, int):
            return _error(results)
        sent = sum(r["code"] == 2000 for r in results)
        failed = len(results) - sent
        partial = failed > 0
        return json.dumps(
            {
                "status": "partial" if partial else "success",
                "code": 2000,
                "message": f"2000 = PARTIAL SUCCESS ({sent} SENT, {failed} FAILED)"
                if partial
                else "2000 = SUCCESS",
                "total_messages": len(messages),  # entries; the two below count numbers
                "total_success": sent,
                "total_failed": failed,
                "total_credits_used": charged,
                "results": results,
            }
        )

    def _accept(
        self,
        username: str,
        host: str,
        rows: Sequence[tuple[str, str]],
        kind: int,
        sendid: str | None,
        fid: str | None,
        send_at: datetime | None = None,
    ) -> tuple[list[dict[str, Any]] | int, int]:
        """Check content and credits for the whole request, then send row by row (spec order)."""
        if self.content_refusal == "request" and any(self._prohibited(m) for _, m in rows):
            return -1009, 0
        codes = [self._row_code(d, m, kind) for d, m in rows]
        cost = [
            self.credits(d, m, kind) if c == 2000 else 0
            for (d, m), c in zip(rows, codes, strict=True)
        ]
        with self._lock:
            account = self.accounts[username]
            if account.balance is not None and account.balance < sum(cost):
                return -1004, 0
            results: list[dict[str, Any]] = []
            for (dstno, msg), code, credits in zip(rows, codes, cost, strict=True):
                if code != 2000:
                    results.append({"dstno": dstno, "code": code, "status": _status(code)})
                    continue
                sms_id = str(next(self._ids))
                self.ledger.append(
                    LedgerEntry(dstno, msg, kind, sms_id, host, credits, fid, sendid, send_at)
                )
                if account.balance is not None:
                    account.balance -= credits
                results.append(
                    {
                        "dstno": dstno,
                        "code": 2000,
                        "status": f"2000 = SUCCESS:{sms_id}|",
                        "sms_id": sms_id,
                    }
                )
                if self._dlr:
                    self._dlr.schedule(dstno, sms_id, self._rng, send_at)
        return results, sum(cost)

    def _send_classic(self, host: str, params: Mapping[str, str]) -> str:
        code = self._account_error(params.get("un"), params.get("pwd"), params.get("agreedterm"))
        if code:
            return str(code)
        kind = params.get("type", "")
        if kind not in ("1", "2"):
            return "-1005"
        numbers = [n.strip() for n in _SEPARATORS.split(params.get("dstno", "")) if n.strip()]
        sendid = _optional(params.get("sendid"))
        if not numbers or not _sendid_ok(sendid):
            return "-1008"
        msg = params.get("msg", "")
        send_at = _send_at(params.get("sendlater"))
        if isinstance(send_at, int):
            return str(send_at)
        results, _ = self._accept(
            params["un"],
            host,
            [(n, msg) for n in numbers],
            int(kind),
            sendid,
            _optional(params.get("fid")),
            send_at,
        )
        if isinstance(results, int):
            return str(results)
        return "".join(
            f"2000 = SUCCESS:{r['sms_id']}|" if r["code"] == 2000 else f"{r['code']}|"
            for r in results
        )

    def _balance(self, method: str, content_type: str, body: bytes) -> str:
        if method != "POST":
            return _error(-1015)
        data = _json_object(body) if _is_json(content_type) else None
        if data is None:
            return _error(-1014)
        code = self._account_error(data.get("un"), data.get("pwd"), "YES")
        if code:
            return _error(code)
        account = self.accounts[data["un"]]
        if account.balance is None:
            return "INVALID ACCOUNT TYPE"
        return json.dumps(
            {
                "status": "success",
                "code": 0,
                "username": account.username,
                "balance": str(account.balance),
            }
        )

    # -- as an httpx transport ----------------------------------------------------

    def transport(self) -> SimulatorTransport:
        """An httpx transport (sync and async) serving every host in-process."""
        return SimulatorTransport(self)

    def gateway(self, username: str = "demo", password: str = "demo", **options: Any) -> Gateway:
        """A :class:`Gateway` to this simulator in-process, sync and async (``options``:
        the Gateway's, e.g. ``timeout``). The demo account's credentials by default."""
        t = self.transport()
        return Gateway(
            username, password, hosts=self.hosts, transport=t, async_transport=t, **options
        )

    # -- as real servers on loopback ----------------------------------------------

    @contextlib.contextmanager
    def serve(self, port: int = 0, host: str = "127.0.0.1") -> Iterator[list[str]]:
        """Serve each host on its own loopback port (``port``, ``port+1``, … or free ports).

        Yields the base URLs; ``self.hosts`` becomes them too, so faults and
        ledger entries name real URLs. A host whose fault is ``refuse`` has its
        listening socket closed, so connections to it are really refused.
        """
        for i, old in enumerate(list(self.hosts)):
            server = self._start(None, (host, port + i if port else 0))
            self.faults[server.url] = self.faults.pop(old)
            self.hosts[i] = server.url
        for url in self.hosts:
            if self.faults[url].kind == "refuse":
                self._stop(url)
        try:
            yield list(self.hosts)
        finally:
            for url in list(self._servers):
                self._stop(url)

    def _start(self, url: str | None, address: tuple[str, int]) -> _Server:
        server = _Server(address, _Handler)
        server.simulator = self
        server.url = url or f"http://{address[0]}:{server.server_address[1]}"
        self._addresses[server.url] = (address[0], server.server_address[1])
        self._servers[server.url] = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return server

    def _stop(self, url: str) -> None:
        server = self._servers.pop(url, None)
        if server is not None:
            server.stopping.set()
            server.shutdown()
            server.server_close()


def _units(msg: str, kind: int) -> int:
    """A body's length as billing counts it: characters (type 1), UTF-16 units (type 2)."""
    return len(msg) if kind == 1 else len(msg.encode("utf-16-le")) // 2


def _is_json(content_type: str) -> bool:
    """The JSON API requires ``Content-Type: application/json`` (parameters allowed)."""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def _optional(value: object) -> str | None:
    """An optional parameter as text; absent or empty is None."""
    return None if value is None or value == "" else str(value)


def _sendid_ok(sendid: str | None) -> bool:
    """The spec: at most 11 alphanumeric characters, no spaces or special characters."""
    return sendid is None or _SENDID.fullmatch(sendid) is not None


def _send_at(value: object) -> datetime | int | None:
    """``sendlater`` as a Malaysian time; None when absent; -1008 when unreadable."""
    text = _optional(value)
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return -1008
    return when.replace(tzinfo=MALAYSIA) if when.tzinfo is None else when.astimezone(MALAYSIA)


def _injected_reply(answer: Injected, *, json_endpoint: bool) -> tuple[int, str, str]:
    """The (status, content type, body) of an answer given by :meth:`Simulator.inject`."""
    if isinstance(answer, tuple):
        status, body = answer
        start = body.lstrip("\ufeff \t\r\n")[:1]
        ctype = {"{": "application/json", "<": "text/html"}.get(start, "text/plain")
        return status, ctype, body
    if json_endpoint:
        return 200, "application/json", _error(answer)
    return 200, "text/plain", str(answer)


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The request's JSON object, or None when the body is not one (-1014)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error(code: int) -> str:
    return json.dumps({"status": "error", "code": code, "message": _status(code)})


_NAMES = {
    -1000: "UNKNOWN ERROR",
    -1001: "AUTHENTICATION FAILED",
    -1002: "ACCOUNT SUSPENDED / EXPIRED",
    -1003: "IP NOT ALLOWED",
    -1004: "INSUFFICIENT CREDITS",
    -1005: "INVALID SMS TYPE",
    -1006: "INVALID BODY LENGTH",
    -1007: "INVALID HEX BODY",
    -1008: "MISSING PARAMETER",
    -1009: "INVALID MESSAGE CONTENT",
    -1010: "MAXIMUM DESTINATION NUMBERS EXCEEDED",
    -1012: "INVALID MESSAGE TYPE",
    -1013: "INVALID TERM AND AGREEMENT",
    -1014: "INVALID JSON FORMAT",
    -1015: "INVALID REQUEST METHOD",
}


def _status(code: int) -> str:
    return f"{code} = {_NAMES.get(code, 'ERROR')}"


class SimulatorTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """The simulator behind httpx, faults included, without sockets."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def _fault(self, request: httpx.Request) -> tuple[str, Fault]:
        host = f"{request.url.scheme}://{request.url.netloc.decode()}"
        return host, self.simulator.faults.get(host, Fault("refuse"))

    def _answer(self, request: httpx.Request, host: str, fault: Fault) -> httpx.Response:
        if fault.kind == "refuse":
            raise httpx.ConnectError("Connection refused", request=request)
        if fault.kind == "hang":
            raise httpx.ReadTimeout("The gateway did not answer", request=request)
        if fault.kind == "drop-before":
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        if fault.kind == "5xx":
            return httpx.Response(502, text=BAD_GATEWAY)
        status, ctype, body = self.simulator.handle(
            host,
            request.method,
            request.url.path,
            request.url.query.decode(),
            request.headers.get("content-type", ""),
            request.content,
        )
        if fault.kind == "drop-after":  # acted, but the answer never arrives
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return httpx.Response(status, text=body, headers={"content-type": ctype})

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host, fault = self._fault(request)
        request.read()
        if fault.latency:
            time.sleep(fault.latency)
        return self._answer(request, host, fault)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host, fault = self._fault(request)
        await request.aread()
        if fault.latency:
            await asyncio.sleep(fault.latency)
        return self._answer(request, host, fault)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A real web server's listen backlog (nginx: 511), not socketserver's 5: with
    # 5, a burst of concurrent connects overflows it and some are reset.
    request_queue_size = 128
    allow_reuse_address = True
    simulator: Simulator
    url: str

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away (a killed sender) is normal here, not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # As real web servers do (nginx: tcp_nodelay on): without it, a reply
    # written as headers then body waits ~40 ms for a delayed ACK on every
    # kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
        return

    def _serve(self) -> None:
        sim = self.server.simulator
        fault = sim.faults.get(self.server.url, Fault())
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if fault.latency:
            time.sleep(fault.latency)
        if fault.kind == "drop-before":
            self.close_connection = True
            return
        if fault.kind == "hang":
            self.server.stopping.wait(sim.hang_seconds)
            self.close_connection = True
            return
        if fault.kind == "5xx":
            self._reply(502, "text/html", BAD_GATEWAY)
            return
        parts = urlsplit(self.path)
        ctype = self.headers.get("Content-Type", "")
        status, ctype, text = sim.handle(
            self.server.url, self.command, parts.path, parts.query, ctype, body
        )
        if fault.kind == "drop-after":
            self.close_connection = True
            return
        self._reply(status, ctype, text)

    def _reply(self, status: int, ctype: str, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{ctype}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve


class _DlrDispatcher:
    """Delivers scheduled delivery reports from a background thread.

    Times are the simulator's clock's (epoch seconds): a report is due
    ``delay`` after its message goes out, and a log line is dated when due.
    """

    LOOK_AGAIN = 1.0  # seconds: a clock set forward by a test is noticed this soon

    def __init__(
        self, plan: DlrPlan, log: str | Path | None, url: str | None, clock: Clock
    ) -> None:
        self.plan = plan
        self.clock = clock
        self.log = Path(log) if log else None
        self.url = url
        # (due, seq, query, when its message goes out): all on the simulator's clock
        self._queue: list[tuple[float, int, str, float]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._client = httpx.Client(timeout=5.0) if url else None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def schedule(
        self, dstno: str, sms_id: str, rng: random.Random, send_at: datetime | None = None
    ) -> None:
        statuses, weights = zip(*self.plan.mix.items(), strict=True)
        final = rng.choices(statuses, weights)[0]
        if final is None:
            return
        sent = send_at.timestamp() if send_at else 0.0
        now = max(self.clock().timestamp(), sent)
        lo, hi = self.plan.delay
        events = []
        if rng.random() < self.plan.pending:
            events.append((now + lo, "PENDING"))
        due = now + rng.uniform(lo, hi)
        events.append((due, final))
        if rng.random() < self.plan.repeat:
            events.append((due + rng.uniform(0, hi - lo), final))
        with self._cond:
            for when, status in events:
                query = urlencode({"msisdn": dstno, "trx_id": sms_id, "dn_status": status})
                heapq.heappush(self._queue, (when, next(self._seq), query, sent))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                when, _, query, sent = self._queue[0]
                moment = self.clock().timestamp()
                wait = when - moment
                if wait > 0 and not self._closed:
                    self._cond.wait(min(wait, self.LOOK_AGAIN))
                    continue
                heapq.heappop(self._queue)
            self._deliver(query, when, push=sent <= moment)

    def _deliver(self, query: str, when: float, *, push: bool) -> None:
        if self.log:
            stamp = datetime.fromtimestamp(when, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
            with self.log.open("a", encoding="utf-8") as handle:
                handle.write(f'127.0.0.1 - - [{stamp}] "GET /dlr?{query} HTTP/1.1" 200 2\n')
        if self._client and self.url and push:
            sep = "&" if "?" in self.url else "?"
            with contextlib.suppress(httpx.HTTPError):
                self._client.get(f"{self.url}{sep}{query}")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=30)
        if self._client:
            self._client.close()

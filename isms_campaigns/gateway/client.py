"""``Gateway``: the iSMS client (JSON, classic and REST sends, balance), sync and async.

Failover rule, the one that keeps a message from going out twice: a send
moves to the next host only when the request provably never reached a
server (connection refused, DNS failure, TLS handshake failure, connect
timeout). A read timeout, a connection dropped after the request was sent, an
HTTP 5xx or a body we cannot read is :class:`Unknown` and is returned as such,
never retried elsewhere. Balance reads may try every host.

>>> gw = Gateway("shop", "s3cret", hosts=["http://127.0.0.1:8001"])
>>> gw
Gateway(username='shop', password=***, hosts=['http://127.0.0.1:8001'])
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx

from ..errors import GatewayError, spelled
from .codes import describe
from .responses import Rejected, SendResult, Unknown, Unreached, parse_balance, parse_send

JSON_HOSTS = (
    "https://www.isms.com.my",
    "https://ww3.isms.com.my",
    "https://smtpapi.vocotext.com",
    "https://smtpapi2.vocotext.com",
)
CLASSIC_HOSTS = (
    "https://www.isms.com.my",
    "https://smtpapi2.vocotext.com",
    "https://smtpapi.vocotext.com",
    "https://ww3.isms.com.my",
)
REST_HOSTS = ("https://www.isms.com.my",)
BALANCE_HOSTS = ("https://www.isms.com.my",)
JSON_PATH = "/isms_send_json.php"
CLASSIC_PATH = "/isms_send_all_id.php"
REST_PATH = "/RESTAPI.php"
BALANCE_PATH = "/isms_balance_json.php"
MAX_NUMBERS = 50
MASK = "***"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

log = logging.getLogger("isms_campaigns.gateway")


@dataclass(frozen=True)
class Attempt:
    """One HTTP try: which host, how long, what came back (or why none did)."""

    host: str
    elapsed: float
    http_status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Reply:
    """The outcome of a send and every attempt it took to get it."""

    result: SendResult
    attempts: tuple[Attempt, ...]

    @property
    def host(self) -> str | None:
        return self.attempts[-1].host if self.attempts else None


def _classify(exc: httpx.HTTPError) -> tuple[bool, str]:
    """(reached a server?, cause) for a transport error; the cause has no URL."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        kind = "connect timeout" if isinstance(exc, httpx.ConnectTimeout) else "connect failed"
        return False, f"{kind} ({type(exc).__name__})"
    if isinstance(exc, httpx.ReadTimeout):
        return True, "read timeout: the gateway may have acted"
    if isinstance(exc, httpx.RemoteProtocolError):
        return True, "connection closed without a complete answer"
    return True, f"transport error after sending ({type(exc).__name__})"


class _RedactPassword(logging.Filter):
    """Masks ``pwd=…`` in records of httpx/httpcore (classic GET puts it in the URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "pwd=" in message:
            record.msg = re.sub(r"pwd=[^&\s\"']*", f"pwd={MASK}", message)
            record.args = ()
        return True


for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_RedactPassword())


class Gateway:
    """The iSMS gateway client.

    ``hosts`` replaces the spec's host lists with full base URLs (plain
    ``http://`` only for loopback). ``transport`` / ``async_transport``
    inject an httpx transport (the simulator provides one); a ``transport``
    that is also an ``httpx.AsyncBaseTransport`` (the simulator's,
    ``httpx.MockTransport``) serves the async sends too unless
    ``async_transport`` is given. The password is
    never shown: not in ``repr``, logs, exceptions or dry-run payloads.
    """

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        hosts: Sequence[str] | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not username or not password:
            raise GatewayError(
                "iSMS username and password are needed: "
                + spelled(
                    "pass them, or set ISMS_USERNAME and ISMS_PASSWORD and use Gateway.from_env().",
                    "set ISMS_USERNAME and ISMS_PASSWORD in the environment.",
                )
            )
        self.username = username
        self.__password = password
        self.hosts = [_check_host(h) for h in hosts] if hosts else None
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._transport = transport
        if async_transport is None and isinstance(transport, httpx.AsyncBaseTransport):
            async_transport = transport  # one transport for both, e.g. sim.transport()
        self._async_transport = async_transport
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()  # threads may share one Gateway
        self._aclient: httpx.AsyncClient | None = None
        from .. import __version__

        self.user_agent = f"isms_campaigns/{__version__} (+httpx)"

    @classmethod
    def from_env(cls, **options: Any) -> Gateway:
        """A client with ISMS_USERNAME / ISMS_PASSWORD from the environment."""
        return cls(os.environ.get("ISMS_USERNAME"), os.environ.get("ISMS_PASSWORD"), **options)

    def __repr__(self) -> str:
        hosts = self.hosts or list(JSON_HOSTS)
        return f"Gateway(username={self.username!r}, password={MASK}, hosts={hosts!r})"

    # -- payloads -------------------------------------------------------------

    def json_payload(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        type: int,
        sendid: str | None = None,
        sendlater: str | None = None,
        fid: str | None = None,
        masked: bool = False,
    ) -> dict[str, Any]:
        """The JSON send body; ``masked=True`` shows the password as ``***``."""
        numbers = [n for m in messages for n in split_numbers(m["dstno"])]
        return self._json_body(messages, numbers, type, sendid, sendlater, fid, masked)

    def _json_body(
        self,
        messages: Sequence[Mapping[str, str]],
        numbers: Sequence[str],
        type: int,
        sendid: str | None,
        sendlater: str | None,
        fid: str | None,
        masked: bool,
    ) -> dict[str, Any]:
        count = len(numbers)
        if not messages or count > MAX_NUMBERS:
            raise GatewayError(
                f"A JSON request carries 1 to {MAX_NUMBERS} destination numbers; this one has "
                f"{count}. Split the list (Campaign.send does it for you)."
            )
        if type not in (1, 2):
            raise GatewayError(f"type must be 1 (ASCII) or 2 (Unicode), not {type!r}.")
        payload: dict[str, Any] = {
            "un": self.username,
            "pwd": MASK if masked else self.__password,
            "type": str(type),
            "agreedterm": "YES",
            "messages": [{"dstno": m["dstno"], "msg": m["msg"]} for m in messages],
        }
        for key, value in (("sendid", sendid), ("sendlater", sendlater), ("fid", fid)):
            if value:
                payload[key] = value
        return payload

    def _json_call(
        self,
        messages: Sequence[Mapping[str, str]],
        type: int,
        sendid: str | None,
        sendlater: str | None,
        fid: str | None,
    ) -> tuple[list[str], list[str], dict[str, Any]]:
        """URLs, destination numbers and request options of a JSON send."""
        numbers = [n for m in messages for n in split_numbers(m["dstno"])]
        payload = self._json_body(messages, numbers, type, sendid, sendlater, fid, False)
        return self._urls(JSON_HOSTS, JSON_PATH), numbers, {"method": "POST", "json": payload}

    def _form(self, dstno: str, msg: str, type: int, sendid: str | None) -> dict[str, str]:
        form = {
            "un": self.username,
            "pwd": self.__password,
            "dstno": dstno,
            "msg": msg,
            "type": str(type),
            "agreedterm": "YES",
        }
        if sendid:
            form["sendid"] = sendid
        return form

    def _urls(self, defaults: Sequence[str], path: str) -> list[str]:
        return [h + path for h in (self.hosts or defaults)]

    def _client_options(self) -> dict[str, Any]:
        # A redirect would replay the request elsewhere: never follow one.
        headers = {"User-Agent": self.user_agent}
        return {"timeout": self.timeout, "headers": headers, "follow_redirects": False}

    # -- synchronous ----------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        # Made once even when several threads ask at the same moment: a second
        # client would never be closed, nor its connections.
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(transport=self._transport, **self._client_options())
            return self._client

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send_sync(
        self, urls: Sequence[str], numbers: Sequence[str], request: dict[str, Any]
    ) -> Reply:
        failover = _Failover(numbers)
        for url in urls:
            started = time.perf_counter()
            try:
                outcome: httpx.Response | httpx.HTTPError = self.client.request(url=url, **request)
            except httpx.HTTPError as exc:
                outcome = exc
            if reply := failover.record(url, outcome, time.perf_counter() - started):
                return reply
        return failover.exhausted()

    def send_json(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        type: int,
        sendid: str | None = None,
        sendlater: str | None = None,
        fid: str | None = None,
    ) -> Reply:
        """Send up to 50 numbers, each with its own text, as one JSON request."""
        return self._send_sync(*self._json_call(messages, type, sendid, sendlater, fid))

    def send_classic(
        self, dstno: str, msg: str, *, type: int, sendid: str | None = None, method: str = "POST"
    ) -> Reply:
        """One message to one or more numbers (``;``-separated) via the classic API."""
        return self._send_sync(
            self._urls(CLASSIC_HOSTS, CLASSIC_PATH),
            split_numbers(dstno),
            self._classic_request(dstno, msg, type, sendid, method),
        )

    def send_rest(self, dstno: str, msg: str, *, type: int, sendid: str | None = None) -> Reply:
        """One message via the REST endpoint (same parameters as the classic API)."""
        return self._send_sync(
            self._urls(REST_HOSTS, REST_PATH),
            split_numbers(dstno),
            {"method": "POST", "data": self._form(dstno, msg, type, sendid)},
        )

    def _classic_request(
        self, dstno: str, msg: str, type: int, sendid: str | None, method: str
    ) -> dict[str, Any]:
        form = self._form(dstno, msg, type, sendid)
        if method.upper() == "GET":
            warnings.warn(
                "Classic GET puts the password in the URL (server logs, proxies): prefer POST.",
                UserWarning,
                stacklevel=3,
            )
            return {"method": "GET", "params": form}
        return {"method": "POST", "data": form}

    def balance(self) -> int | None:
        """Credits left, or None for a postpaid account. Tries every host."""
        reads = _BalanceReads()
        for url in self._urls(BALANCE_HOSTS, BALANCE_PATH):
            try:
                outcome: httpx.Response | httpx.HTTPError = self.client.post(
                    url, json=self._balance_body()
                )
            except httpx.HTTPError as exc:
                outcome = exc
            done, credits = reads.record(url, outcome)
            if done:
                return credits
        return reads.exhausted()

    # -- asynchronous ---------------------------------------------------------

    @property
    def aclient(self) -> httpx.AsyncClient:
        if self._aclient is None:
            self._aclient = httpx.AsyncClient(
                transport=self._async_transport, **self._client_options()
            )
        return self._aclient

    async def aclose(self) -> None:
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None

    async def _send_async(
        self, urls: Sequence[str], numbers: Sequence[str], request: dict[str, Any]
    ) -> Reply:
        failover = _Failover(numbers)
        for url in urls:
            started = time.perf_counter()
            try:
                outcome: httpx.Response | httpx.HTTPError = await self.aclient.request(
                    url=url, **request
                )
            except httpx.HTTPError as exc:
                outcome = exc
            if reply := failover.record(url, outcome, time.perf_counter() - started):
                return reply
        return failover.exhausted()

    async def asend_json(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        type: int,
        sendid: str | None = None,
        sendlater: str | None = None,
        fid: str | None = None,
    ) -> Reply:
        """:meth:`send_json`, asynchronously (the sender runs several at once)."""
        return await self._send_async(*self._json_call(messages, type, sendid, sendlater, fid))

    async def asend_classic(
        self, dstno: str, msg: str, *, type: int, sendid: str | None = None, method: str = "POST"
    ) -> Reply:
        """:meth:`send_classic`, asynchronously."""
        return await self._send_async(
            self._urls(CLASSIC_HOSTS, CLASSIC_PATH),
            split_numbers(dstno),
            self._classic_request(dstno, msg, type, sendid, method),
        )

    async def abalance(self) -> int | None:
        """:meth:`balance`, asynchronously."""
        reads = _BalanceReads()
        for url in self._urls(BALANCE_HOSTS, BALANCE_PATH):
            try:
                outcome: httpx.Response | httpx.HTTPError = await self.aclient.post(
                    url, json=self._balance_body()
                )
            except httpx.HTTPError as exc:
                outcome = exc
            done, credits = reads.record(url, outcome)
            if done:
                return credits
        return reads.exhausted()

    # -- shared by both -------------------------------------------------------

    def _balance_body(self) -> dict[str, str]:
        return {"un": self.username, "pwd": self.__password}


class _BalanceReads:
    """The balance rule, apart from the I/O: a read may try every host.

    ``record`` returns ``(True, credits)`` when a host answered for the
    account (None credits = postpaid), ``(False, None)`` to try the next one.
    A refusal (bad password …) is raised at once: another host would say the same.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []

    def record(
        self, url: str, outcome: httpx.Response | httpx.HTTPError
    ) -> tuple[bool, int | None]:
        if not isinstance(outcome, httpx.Response):
            self.problems.append(f"{_host(url)}: {_classify(outcome)[1]}")
            return False, None
        if outcome.status_code >= 500:
            self.problems.append(f"{_host(url)}: HTTP {outcome.status_code}")
            return False, None
        parsed = parse_balance(outcome.text)
        if isinstance(parsed, Rejected):
            info = describe(parsed.code)
            raise GatewayError(f"Balance refused: {parsed.code} {info.meaning}. {info.what_to_do}")
        if isinstance(parsed, Unknown):
            self.problems.append(f"{_host(url)}: {parsed.cause}")
            return False, None
        return True, parsed

    def exhausted(self) -> NoReturn:
        raise GatewayError("Could not read the balance: " + "; ".join(self.problems))


class _Failover:
    """The failover rule, apart from the I/O so sync and async share it.

    ``record`` takes what one host gave (a response or a transport error) and
    returns the final :class:`Reply`, or None to go on to the next host.
    """

    def __init__(self, numbers: Sequence[str]) -> None:
        self.numbers = numbers
        self.attempts: list[Attempt] = []

    def record(
        self, url: str, outcome: httpx.Response | httpx.HTTPError, elapsed: float
    ) -> Reply | None:
        if isinstance(outcome, httpx.Response):
            self.attempts.append(Attempt(_host(url), elapsed, outcome.status_code))
            result = parse_send(outcome.text, self.numbers, outcome.status_code)
            return Reply(result, tuple(self.attempts))
        reached, cause = _classify(outcome)
        self.attempts.append(Attempt(_host(url), elapsed, None, cause))
        if not reached:
            log.info("%s unreachable (%s): trying the next host", _host(url), cause)
            return None
        return Reply(Unknown(cause), tuple(self.attempts))

    def exhausted(self) -> Reply:
        causes = "; ".join(f"{a.host}: {a.error}" for a in self.attempts)
        return Reply(Unreached(f"no host could be reached ({causes})"), tuple(self.attempts))


def split_numbers(dstno: str) -> list[str]:
    """The numbers of a dstno (``;`` or ``,`` between several)."""
    if ";" not in dstno and "," not in dstno:  # the usual case, without a regex
        return [dstno.strip()] if dstno.strip() else []
    return [n.strip() for n in re.split(r"[;,]", dstno) if n.strip()]


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _check_host(url: str) -> str:
    parts = urlsplit(url.rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GatewayError(f"Host {url!r} is not a base URL such as 'https://www.isms.com.my'.")
    # .test is reserved for testing (RFC 6761): no real server can have it.
    local = parts.hostname in _LOOPBACK or (parts.hostname or "").endswith(".test")
    if parts.scheme == "http" and not local:
        raise GatewayError(
            f"Host {url!r} uses plain http: the password would cross the network unencrypted. "
            f"Use https (plain http is allowed only for loopback test servers)."
        )
    return url.rstrip("/")

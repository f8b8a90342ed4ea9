"""Every iSMS response code, what it means, its class, and what to do.

Classes decide what the sender does with a code:

- ``success``: accepted and pushed to the telco SMSC (not handset delivery);
- ``account``: the account cannot send now (credentials, IP, credits, terms):
  stop the campaign, nothing of this request was sent, the rest stays planned;
- ``request``: the request itself was malformed (our bug, or a type the
  account cannot use): stop loudly, nothing was sent;
- ``row``: one recipient failed, the others in the request went out;
- ``retryable``: the gateway failed without sending: retry with backoff, bounded
  (-1000, and HTTP 429 when the gateway is rate-limiting);
- ``http``: an HTTP 4xx refusal from the web server in front of the API (404,
  405, 401/403, …) that carried no iSMS code: nothing was sent, and the fix is
  in the setup (host URL, method, credentials, IP whitelist), not in the
  message. :func:`describe` gives these for any status from 400 to 499; they
  are not iSMS codes, so :data:`CODES` does not list them.

The spec's two pages disagree on -1009 (JSON: prohibited content; REST:
invalid destination number); both meanings are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal

CodeClass = Literal["success", "account", "request", "row", "retryable", "http"]


@dataclass(frozen=True)
class Code:
    code: int
    meaning: str
    kind: CodeClass
    what_to_do: str


CODES: dict[int, Code] = {
    c.code: c
    for c in (
        Code(
            2000,
            "SUCCESS: submitted and pushed to the telco SMSC",
            "success",
            "Nothing: the message was accepted (this is not handset delivery).",
        ),
        Code(
            -1000,
            "Unknown error on the gateway",
            "retryable",
            "Retry later; if it persists, contact iSMS support.",
        ),
        Code(
            -1001,
            "Authentication failed",
            "account",
            "Check ISMS_USERNAME / ISMS_PASSWORD; nothing was sent.",
        ),
        Code(
            -1002,
            "Account suspended or expired",
            "account",
            "Contact iSMS to reactivate the account; nothing was sent.",
        ),
        Code(
            -1003,
            "IP not allowed",
            "account",
            "Ask iSMS (sales@mobiweb.com.my) to whitelist this server's IP address; "
            "nothing was sent.",
        ),
        Code(
            -1004,
            "Insufficient credits",
            "account",
            "Top up the account, then run send again: nothing of this request was sent "
            "and the rest of the campaign is still planned.",
        ),
        Code(
            -1005,
            "Invalid SMS type",
            "request",
            "type must be 1 or 2: this is a bug in the request; nothing was sent.",
        ),
        Code(
            -1006,
            "Invalid body length (over 700 characters)",
            "row",
            "Shorten the message to 700 characters or fewer.",
        ),
        Code(
            -1007,
            "Invalid hex body",
            "request",
            "The Unicode body was malformed: report this bug; nothing was sent.",
        ),
        Code(
            -1008,
            "Missing parameter or invalid destination number",
            "row",
            "Check the number: it must be international digits without +.",
        ),
        Code(
            -1009,
            "Invalid message content (prohibited words) or invalid destination",
            "row",
            "Reword the message (iSMS filters some content) or check the number.",
        ),
        Code(
            -1010,
            "More than 50 destination numbers in one request",
            "request",
            "A bug in chunking: report it; nothing was sent.",
        ),
        Code(
            -1012,
            "Characters not valid for the message type",
            "row",
            "Send as type 2 (Unicode), or use smart_ascii=True to make it type 1.",
        ),
        Code(
            -1013,
            "Terms and agreement not accepted",
            "account",
            "Send agreedterm=YES (this client always does) or accept the API terms in "
            "the iSMS portal; nothing was sent.",
        ),
        Code(
            -1014,
            "Invalid JSON format",
            "request",
            "The request body was not valid JSON: report this bug; nothing was sent.",
        ),
        Code(
            -1015,
            "Invalid request method (JSON endpoint takes POST only)",
            "request",
            "Use POST for the JSON endpoint: report this bug; nothing was sent.",
        ),
    )
}


_NOTHING_SENT = "Nothing was sent"
_HTTP_ADVICE = {
    400: "the server could not read the request: check the request and the host URL.",
    401: "check ISMS_USERNAME / ISMS_PASSWORD, and ask iSMS (sales@mobiweb.com.my) to "
    "whitelist this server's IP address.",
    403: "ask iSMS (sales@mobiweb.com.my) to whitelist this server's IP address, and check "
    "ISMS_USERNAME / ISMS_PASSWORD.",
    404: "the host URL or path is wrong: check the hosts (base URLs such as "
    "'https://www.isms.com.my', without the .php path).",
    405: "the server does not take this HTTP method: the JSON endpoint takes POST only, "
    "the classic one GET or POST.",
    408: "the server gave up waiting for the request: check the network, then send again.",
    413: "the request was too large: send fewer numbers per request.",
    414: "the URL was too long: use POST rather than GET for the classic API.",
}


def _http(status: int) -> Code:
    """An HTTP 4xx answer without an iSMS code: refused before the API ran."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Client Error"
    if status == 429:
        return Code(
            status,
            f"HTTP {status} {phrase}",
            "retryable",
            "The gateway is rate-limiting: wait and retry (nothing was sent); "
            "send fewer requests per second.",
        )
    advice = _HTTP_ADVICE.get(
        status, "check the host URL, the credentials and the IP whitelist, then send again."
    )
    return Code(status, f"HTTP {status} {phrase}", "http", f"{_NOTHING_SENT}: {advice}")


def describe(code: int) -> Code:
    """The table entry for ``code``; an unlisted code is a request-level unknown.

    An HTTP status from 400 to 499 (what :class:`.responses.Rejected` holds
    when a 4xx carried no iSMS code) is described as such: 429 is
    ``retryable``, any other is ``http``.
    """
    if 400 <= code <= 499:
        return _http(code)
    return CODES.get(
        code,
        Code(
            code,
            "Code not in the iSMS documentation",
            "request",
            "Contact iSMS support with this code; treat the request as not sent.",
        ),
    )

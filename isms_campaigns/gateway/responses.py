"""What the gateway said, as typed values, from every body shape seen.

A send ends in exactly one of:

- :class:`Sent`: the gateway processed the request; per-recipient results say
  which numbers went out (code 2000, with the ``sms_id`` when given) and
  which failed (a row-level code);
- :class:`Rejected`: a top-level error code (or the HTTP status of a 4xx
  refusal such as 404 or 429); nothing was sent;
- :class:`Unknown`: we cannot tell whether anything was sent (timeout after
  the request left, reset, HTTP 5xx, a body we cannot read). Never resent
  automatically;
- :class:`Unreached`: no host could be reached at all, so nothing was sent
  (the client's failover gives this; a body never does).

Shapes handled:

- JSON success / partial / error (an error has no ``results``);
- a bare code (``-1001``, ``-1001 = AUTHENTICATION FAILED``), also on an
  HTTP 3xx or 4xx: :class:`Rejected` with that code;
- classic ``2000 = SUCCESS:1143007207``, several joined by ``|``, a trailing
  ``|``, ``2000 | SUCCESS:`` with a blank id;
- surrounding whitespace and newlines, and a UTF-8 byte-order mark;
- JSON inside noise: a PHP notice or warning before it
  (``<br /><b>Notice</b>: Undefined index: fid in … on line 12<br />{"status": …}``)
  or junk after it. The JSON is read when the text holds exactly one balanced
  top-level ``{…}`` and it parses; otherwise the body is :class:`Unknown`;
- HTML error pages: :class:`Unknown` on HTTP 200 or 3xx (the server may have
  acted before redirecting);
- any other HTTP 4xx (404, 405, 429, an HTML page …): the request was refused
  before the API ran, so :class:`Rejected` with the HTTP status as its code
  (``Rejected(429, "Too Many Requests")``; see :func:`.codes.describe`).
  A 4xx body that says a message went out is read as such, and one that
  mentions SUCCESS but cannot be read stays :class:`Unknown`;
- HTTP 5xx: :class:`Unknown`, whatever the body.

>>> parse_send("2000 = SUCCESS:1143007207", ["60123456789"]).results[0].sms_id
'1143007207'
>>> parse_send('{"status": "error", "code": -1004, "message": "-1004 = INSUFFICIENT CREDITS"}',
...            ["60123456789"]).code
-1004
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .codes import Code, describe


@dataclass(frozen=True)
class RecipientResult:
    """One destination number's outcome within a processed request."""

    dstno: str
    code: int
    status: str
    sms_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.code == 2000


@dataclass(frozen=True)
class Sent:
    """The gateway processed the request (some rows may still have failed)."""

    results: tuple[RecipientResult, ...]
    total_credits_used: int | None = None
    message: str = ""
    outcome: str = "sent"

    @property
    def submitted(self) -> int:
        return sum(r.ok for r in self.results)


@dataclass(frozen=True)
class Rejected:
    """A top-level error: nothing in the request was sent."""

    code: int
    message: str = ""
    outcome: str = "rejected"

    @property
    def info(self) -> Code:
        return describe(self.code)


@dataclass(frozen=True)
class Unknown:
    """The request may or may not have been acted on."""

    cause: str
    http_status: int | None = None
    body: str = field(default="", repr=False)
    outcome: str = "unknown"


@dataclass(frozen=True)
class Unreached:
    """Every host refused the connection or timed out connecting: nothing was sent."""

    cause: str
    outcome: str = "unreached"


SendResult = Sent | Rejected | Unknown | Unreached

_CODE_TOKEN = re.compile(r"^(-?\d{4})(?:\s*=.*)?$", re.S)  # "2000 = SUCCESS:1", "-1001"
# A whole body that is one error code: "-1001", "-1001 = AUTHENTICATION FAILED", "-1001|"
_ERROR_BODY = re.compile(r"^(-\d{4})(?:\s*=[^|{}<>]*)?\|?$")
_WORD_TOKEN = re.compile(r"^[A-Za-z][A-Za-z ]*(?::.*)?$", re.S)  # "SUCCESS:1", "SUCCESS:"
_BARE_CODE = re.compile(r"^\s*(-?\d{4})\s*$")


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _excerpt(body: str) -> str:
    return " ".join(body.split())[:200]


def _clean(body: str) -> str:
    """The body without surrounding whitespace and byte-order marks."""
    return body.strip().lstrip("\ufeff").strip()


def _json_object(text: str) -> dict[str, Any] | None:
    """The one balanced top-level ``{…}`` in ``text``, parsed; None when there is not one.

    Finds the JSON answer inside a PHP notice or trailing junk. Braces inside
    JSON strings do not count; a stray or unclosed brace, or two objects,
    make the text ambiguous (None).
    """
    if "{" not in text:
        return None
    if text.startswith("{") and text.endswith("}"):  # the usual case: no noise at all
        try:
            data = json.loads(text)
        except ValueError:
            pass
        else:
            return data if isinstance(data, dict) else None
    spans: list[tuple[int, int]] = []
    depth, start, in_string, escaped = 0, 0, False, False
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"' and depth:
            in_string = True
        elif char == "{":
            if not depth:
                start = i
            depth += 1
        elif char == "}":
            if not depth:
                return None  # a stray closing brace
            depth -= 1
            if not depth:
                spans.append((start, i + 1))
    if depth or len(spans) != 1:
        return None
    try:
        data = json.loads(text[spans[0][0] : spans[0][1]])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def parse_send(body: str, sent: Sequence[str], http_status: int = 200) -> SendResult:
    """Turn a send response into a result, matching rows to ``sent`` numbers.

    ``sent`` lists the destination numbers of the request in order (a
    ``dstno`` holding several numbers is split into them).
    """
    if http_status >= 500:
        return Unknown(f"HTTP {http_status} from the gateway", http_status, _excerpt(body))
    text = _clean(body)
    if 300 <= http_status < 500 and (m := _ERROR_BODY.match(text)):
        return Rejected(int(m.group(1)), text)
    result = _parse_body(text, sent, http_status)
    if 400 <= http_status < 500 and isinstance(result, Unknown):
        # Refused before the API ran (wrong URL, method, rate limit, a WAF …):
        # nothing was sent, unless the body claims otherwise.
        if "SUCCESS" in text.upper():
            return result
        return Rejected(http_status, _excerpt(text))
    return result


def _parse_body(text: str, sent: Sequence[str], http_status: int) -> SendResult:
    if not text:
        return Unknown("empty response body", http_status)
    if (data := _json_object(text)) is not None:
        return _from_json(data, text, sent, http_status)
    if text.startswith("{"):
        return Unknown("unparseable JSON body", http_status, _excerpt(text))
    if text.startswith("<") or http_status >= 400:
        return Unknown(f"HTTP {http_status} with a non-API body", http_status, _excerpt(text))
    return _parse_classic(text, sent, http_status)


def _from_json(
    data: dict[str, Any], text: str, sent: Sequence[str], http_status: int
) -> SendResult:
    """A JSON answer's result; ``text`` is the whole body (for the excerpt)."""
    status = str(data.get("status", "")).lower()
    code = _int(data.get("code"))
    message = str(data.get("message", ""))
    if status == "error" or (status == "" and code is not None and code < 0):
        if code is None:
            return Unknown("error without a code", http_status, _excerpt(text))
        return Rejected(code, message)
    if status not in ("success", "partial") or not isinstance(data.get("results"), list):
        return Unknown(f"unexpected JSON status {status!r}", http_status, _excerpt(text))
    rows = []
    for item in data["results"]:
        if not isinstance(item, dict):
            return Unknown("a result that is not an object", http_status, _excerpt(text))
        row_status = str(item.get("status", ""))
        row_code = _int(item.get("code"))
        if row_code is None:
            row_code = _code_in(row_status)
        sms_id = str(item.get("sms_id") or "").strip() or _id_in(row_status)
        rows.append(RecipientResult(str(item.get("dstno", "")), row_code or 0, row_status, sms_id))
    matched = match_results(rows, sent)
    if matched is None:
        return Unknown("results do not match the numbers sent", http_status, _excerpt(text))
    return Sent(matched, _int(data.get("total_credits_used")), message)


def _code_in(status: str) -> int | None:
    m = re.match(r"\s*(-?\d{4})", status)
    return int(m.group(1)) if m else None


def _id_in(status: str) -> str | None:
    """The TRX id after ``SUCCESS:``; None when absent or blank."""
    m = re.search(r"SUCCESS\s*:\s*([^|\s]+)", status)
    return m.group(1) if m else None


def _parse_classic(text: str, sent: Sequence[str], http_status: int) -> SendResult:
    """Plain-text replies: ``-1001``, ``2000 = SUCCESS:1``, ``…:1|…:2|``, ``2000 | SUCCESS:``."""
    rows: list[RecipientResult] = []
    for token in (t.strip() for t in text.split("|")):
        if not token:  # a trailing "|"
            continue
        if m := _CODE_TOKEN.match(token):
            rows.append(RecipientResult("", int(m.group(1)), token, _id_in(token)))
        elif rows and _WORD_TOKEN.match(token):  # "SUCCESS:123" after a bare "2000"
            last = rows[-1]
            rows[-1] = replace(last, status=f"{last.status} | {token}", sms_id=_id_in(token))
        else:
            return Unknown("unreadable text body", http_status, _excerpt(text))
    if len(rows) == 1 and rows[0].code != 2000:
        return Rejected(rows[0].code, text)
    matched = match_results(rows, sent)
    if matched is None:
        return Unknown("results do not match the numbers sent", http_status, _excerpt(text))
    return Sent(matched)


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def match_results(
    rows: Sequence[RecipientResult], sent: Sequence[str]
) -> tuple[RecipientResult, ...] | None:
    """Results in the order of ``sent``: matched by dstno first, then by order.

    Returns None when the counts differ: then we cannot say which number a
    result belongs to, and the caller must treat the request as unknown.
    """
    if len(rows) != len(sent):
        return None
    if all(r.dstno == n for r, n in zip(rows, sent, strict=True)):
        return tuple(rows)  # the usual case: the gateway echoed our numbers in order
    out: list[RecipientResult | None] = [None] * len(sent)
    positions: dict[str, list[int]] = {}
    for i, number in enumerate(sent):
        positions.setdefault(_digits(number), []).append(i)
    leftovers = []
    for j in range(len(rows)):
        slots = positions.get(_digits(rows[j].dstno))
        if slots:
            i = slots.pop(0)
            out[i] = replace(rows[j], dstno=sent[i])
        else:
            leftovers.append(j)
    empty = [i for i, r in enumerate(out) if r is None]
    for i, j in zip(empty, leftovers, strict=True):
        out[i] = replace(rows[j], dstno=sent[i])
    return tuple(r for r in out if r is not None)  # every slot is filled; this narrows the type


def parse_balance(body: str) -> int | Rejected | Unknown | None:
    """Credits left (int), None for a postpaid account, or what went wrong.

    A byte-order mark and noise around the JSON are handled as in :func:`parse_send`.
    """
    text = _clean(body)
    if "INVALID ACCOUNT TYPE" in text.upper():
        return None
    data = _json_object(text)
    if data is None:
        if m := _BARE_CODE.match(text):
            return Rejected(int(m.group(1)), text)
        return Unknown("unreadable balance response", body=_excerpt(text))
    if str(data.get("status", "")).lower() == "error":
        code = _int(data.get("code"))
        return (
            Rejected(code, str(data.get("message", "")))
            if code is not None
            else Unknown("balance error without a code", body=_excerpt(text))
        )
    balance = data.get("balance")
    value = _int(balance)
    if value is None:
        try:
            return int(float(str(balance)))
        except ValueError:
            return Unknown("balance is not a number", body=_excerpt(text))
    return value

"""Every response shape the spec shows and the wild adds, as typed results."""

from __future__ import annotations

import json

import pytest

from isms_campaigns.gateway import (
    CODES,
    Rejected,
    Sent,
    Unknown,
    describe,
    parse_balance,
    parse_send,
)

ONE = ["60123456789"]
TWO = ["60123456789", "60198887777"]


def test_json_success_from_the_spec() -> None:
    body = json.dumps(
        {
            "status": "success",
            "code": 2000,
            "message": "2000 = SUCCESS",
            "total_messages": 2,
            "total_success": 2,
            "total_failed": 0,
            "total_credits_used": 2,
            "results": [
                {
                    "dstno": TWO[0],
                    "code": 2000,
                    "status": "2000 = SUCCESS:1143007207|",
                    "sms_id": "1143007207",
                },
                {
                    "dstno": TWO[1],
                    "code": 2000,
                    "status": "2000 = SUCCESS:1143007209|",
                    "sms_id": "1143007209",
                },
            ],
        }
    )
    result = parse_send(body, TWO)
    assert isinstance(result, Sent)
    assert [(r.dstno, r.code, r.sms_id) for r in result.results] == [
        (TWO[0], 2000, "1143007207"),
        (TWO[1], 2000, "1143007209"),
    ]
    assert result.total_credits_used == 2
    assert result.submitted == 2


def test_json_partial_matches_by_dstno_then_order() -> None:
    # The failed row echoes a malformed number: it can only be matched by order.
    body = json.dumps(
        {
            "status": "partial",
            "code": 2000,
            "total_credits_used": 1,
            "results": [
                {"dstno": TWO[1], "code": 2000, "status": "2000 = SUCCESS:7|", "sms_id": "7"},
                {"dstno": "016xxx", "code": -1008, "status": "-1008 = MISSING PARAMETER"},
            ],
        }
    )
    result = parse_send(body, TWO)
    assert isinstance(result, Sent)
    assert [(r.dstno, r.code, r.sms_id) for r in result.results] == [
        (TWO[0], -1008, None),
        (TWO[1], 2000, "7"),
    ]


def test_json_error_has_no_results_and_means_nothing_sent() -> None:
    result = parse_send(
        '{"status": "error", "code": -1004, "message": "-1004 = INSUFFICIENT CREDITS"}', ONE
    )
    assert result == Rejected(-1004, "-1004 = INSUFFICIENT CREDITS")
    assert isinstance(result, Rejected)
    assert result.info.kind == "account"
    assert "Top up" in result.info.what_to_do


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        ("2000 = SUCCESS:1143007207", ["1143007207"]),
        ("  2000 = SUCCESS:1143007207|\n", ["1143007207"]),
        ("2000 | SUCCESS:", [None]),  # blank id: stored as null, still submitted
        ("2000 = SUCCESS:", [None]),
    ],
)
def test_classic_success_shapes(body: str, ids: list[str | None]) -> None:
    result = parse_send(body, ONE)
    assert isinstance(result, Sent)
    assert [r.sms_id for r in result.results] == ids
    assert all(r.code == 2000 for r in result.results)


def test_classic_several_joined_by_bars() -> None:
    result = parse_send("2000 = SUCCESS:11|2000 = SUCCESS:12|", TWO)
    assert isinstance(result, Sent)
    assert [(r.dstno, r.sms_id) for r in result.results] == [(TWO[0], "11"), (TWO[1], "12")]


@pytest.mark.parametrize("body", ["-1001", " -1003\n", "-1013 = INVALID TERM AND AGREEMENT"])
def test_bare_error_codes_are_rejections(body: str) -> None:
    result = parse_send(body, ONE)
    assert isinstance(result, Rejected)
    assert result.code == int(body.strip()[:5])


@pytest.mark.parametrize(
    ("body", "status", "cause"),
    [
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", 200, "non-API body"),
        ("Service Unavailable", 503, "HTTP 503"),
        ("", 200, "empty"),
        ("{not json", 200, "unparseable JSON"),
        ('{"status": "success"}', 200, "unexpected JSON"),
        ("2000 = SUCCESS:1", 200, "do not match"),  # one result for two numbers
        ("OK thanks", 200, "unreadable"),
    ],
)
def test_what_we_cannot_read_is_unknown_not_failed(body: str, status: int, cause: str) -> None:
    sent = TWO if "SUCCESS" in body else ONE
    result = parse_send(body, sent, http_status=status)
    assert isinstance(result, Unknown)
    assert cause in result.cause


def test_codes_table_covers_every_code_in_the_spec() -> None:
    spec_codes = {
        2000,
        -1000,
        -1001,
        -1002,
        -1003,
        -1004,
        -1005,
        -1006,
        -1007,
        -1008,
        -1009,
        -1010,
        -1012,
        -1013,
        -1014,
        -1015,
    }
    assert set(CODES) == spec_codes
    assert "whitelist" in CODES[-1003].what_to_do
    assert "agreedterm=YES" in CODES[-1013].what_to_do
    assert {CODES[c].kind for c in (-1006, -1008, -1009, -1012)} == {"row"}
    assert CODES[-1000].kind == "retryable"
    assert describe(-4242).kind == "request"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"status": "success", "code": 0, "username": "u", "balance": "1500"}', 1500),
        ('{"status": "success", "code": 0, "balance": "12.00"}', 12),
        ("INVALID ACCOUNT TYPE", None),
        (
            '{"status": "error", "code": -1001, "message": "-1001 = AUTHENTICATION FAILED"}',
            Rejected(-1001, "-1001 = AUTHENTICATION FAILED"),
        ),
    ],
)
def test_balance_shapes(body: str, expected: object) -> None:
    assert parse_balance(body) == expected

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


# -- HTTP 3xx / 4xx ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("-1001", 401, -1001),
        (" -1003\n", 403, -1003),
        ("-1001 = AUTHENTICATION FAILED", 400, -1001),
        ("-1008|", 400, -1008),
        ("\ufeff-1001\r\n", 403, -1001),
        ("-1013", 302, -1013),
        ("-1004 = INSUFFICIENT CREDITS", 301, -1004),
    ],
)
def test_a_bare_code_on_3xx_or_4xx_is_that_code(body: str, status: int, code: int) -> None:
    result = parse_send(body, ONE, http_status=status)
    assert isinstance(result, Rejected)
    assert result.code == code
    assert result.message == body.strip().lstrip("\ufeff").strip()


@pytest.mark.parametrize(
    ("status", "body", "kind", "advice"),
    [
        (404, "<html><body><h1>404 Not Found</h1><p>nginx</p></body></html>", "http", "URL"),
        (405, "Method Not Allowed", "http", "POST"),
        (429, "Too Many Requests", "retryable", "rate-limiting: wait and retry"),
        (403, "<html><title>Access denied</title>Blocked by WAF</html>", "http", "whitelist"),
        (401, "Unauthorized", "http", "ISMS_PASSWORD"),
        (400, "", "http", "Nothing was sent"),
        (418, "I'm a teapot", "http", "Nothing was sent"),
        (429, '{"error": "rate limit exceeded"}', "retryable", "wait and retry"),
        (404, "{not json", "http", "host URL or path is wrong"),
    ],
)
def test_other_4xx_means_nothing_was_sent(status: int, body: str, kind: str, advice: str) -> None:
    result = parse_send(body, ONE, http_status=status)
    assert isinstance(result, Rejected)
    assert result.code == status
    assert result.message == " ".join(body.split())[:200]
    assert result.info.kind == kind
    assert advice in result.info.what_to_do
    assert f"HTTP {status}" in result.info.meaning


def test_a_4xx_excerpt_is_short() -> None:
    page = "<html><body>" + "Not found. " * 500 + "</body></html>"
    result = parse_send(page, ONE, http_status=404)
    assert isinstance(result, Rejected) and len(result.message) == 200


def test_a_4xx_json_error_keeps_its_own_code() -> None:
    body = '{"status": "error", "code": -1014, "message": "-1014 = INVALID JSON FORMAT"}'
    assert parse_send(body, ONE, http_status=400) == Rejected(-1014, "-1014 = INVALID JSON FORMAT")


def test_a_4xx_that_claims_success_is_not_read_as_nothing_sent() -> None:
    # A body that says it sent outranks the status: never "nothing sent" then.
    sent = parse_send('{"status": "success", "results": [{"code": 2000}]}', ONE, 400)
    assert isinstance(sent, Sent) and sent.submitted == 1
    unreadable = parse_send("2000 = SUCCESS:1|2000 = SUCCESS:2", ONE, http_status=404)
    assert isinstance(unreadable, Unknown)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('<html><body>Moved <a href="/x">here</a></body></html>', 302),
        ("Found", 302),
        ("", 307),
        ("-1001", 503),  # 5xx stays unknown whatever the body says
        ("Too Many Requests", 502),
    ],
)
def test_3xx_without_a_code_and_5xx_stay_unknown(body: str, status: int) -> None:
    result = parse_send(body, ONE, http_status=status)
    assert isinstance(result, Unknown)
    assert result.http_status == status


def test_describe_http_statuses() -> None:
    assert describe(429).kind == "retryable"
    assert describe(429).what_to_do.startswith("The gateway is rate-limiting: wait and retry")
    for status in (400, 401, 403, 404, 405, 408, 413, 414, 418, 451, 499):
        info = describe(status)
        assert info.kind == "http" and info.code == status
        assert info.what_to_do.startswith("Nothing was sent")
    assert "host URL or path" in describe(404).what_to_do
    assert "method" in describe(405).what_to_do
    assert all("whitelist" in describe(s).what_to_do for s in (401, 403))
    assert describe(418).meaning == "HTTP 418 I'm a Teapot"
    assert describe(499).meaning == "HTTP 499 Client Error"
    # Outside 4xx nothing changes; the table stays the spec's.
    assert describe(399).kind == describe(500).kind == "request"
    assert not set(CODES) & set(range(400, 500))


# -- byte-order marks and PHP noise ----------------------------------------------

SUCCESS_ONE = json.dumps(
    {
        "status": "success",
        "code": 2000,
        "message": "2000 = SUCCESS",
        "total_credits_used": 1,
        "results": [
            {"dstno": ONE[0], "code": 2000, "status": "2000 = SUCCESS:77|", "sms_id": "77"}
        ],
    }
)
NOTICE = "<br />\n<b>Notice</b>:  Undefined index: fid in /var/www/x.php on line 12<br />\n"
WARNING = "\n<br />\n<b>Warning</b>:  mysqli_close() expects parameter 1 in /var/www/x.php<br />"


@pytest.mark.parametrize(
    "body",
    [
        "\ufeff" + SUCCESS_ONE,
        "\ufeff\n  " + SUCCESS_ONE + "\n",
        NOTICE + SUCCESS_ONE,
        "\ufeff" + NOTICE + SUCCESS_ONE,
        SUCCESS_ONE + WARNING,
        SUCCESS_ONE + "\nOK",
        NOTICE + SUCCESS_ONE + WARNING,
    ],
)
def test_bom_and_php_noise_around_json_are_read_as_the_json(body: str) -> None:
    result = parse_send(body, ONE)
    assert isinstance(result, Sent)
    assert [(r.code, r.sms_id) for r in result.results] == [(2000, "77")]
    assert result.total_credits_used == 1


def test_braces_and_quotes_inside_json_strings_do_not_count() -> None:
    data = json.loads(SUCCESS_ONE)
    data["message"] = 'done :-} "quoted" { \\ }}'
    result = parse_send(NOTICE + json.dumps(data) + WARNING, ONE)
    assert isinstance(result, Sent) and result.message == data["message"]


def test_noise_around_a_json_error_is_a_rejection() -> None:
    body = NOTICE + '{"status": "error", "code": -1004, "message": "-1004 = INSUFFICIENT CREDITS"}'
    assert parse_send(body, ONE) == Rejected(-1004, "-1004 = INSUFFICIENT CREDITS")


def test_bom_before_classic_text() -> None:
    result = parse_send("\ufeff2000 = SUCCESS:55|", ONE)
    assert isinstance(result, Sent) and result.results[0].sms_id == "55"
    assert parse_send("\ufeff-1001", ONE) == Rejected(-1001, "-1001")


@pytest.mark.parametrize(
    "body",
    [
        SUCCESS_ONE + SUCCESS_ONE,  # two objects: which one is the answer?
        NOTICE + "{" + SUCCESS_ONE,  # an unclosed brace
        NOTICE + "} " + SUCCESS_ONE,  # a stray closing brace
        NOTICE + '{"status": "success", results: []}',  # balanced but not JSON
        "<html><style>body { color: red }</style>Error</html>",
        NOTICE + "<b>Fatal error</b>: Allowed memory size exhausted",
    ],
)
def test_ambiguous_noise_stays_unknown(body: str) -> None:
    assert isinstance(parse_send(body, ONE), Unknown)


def test_balance_with_bom_and_notice() -> None:
    body = '{"status": "success", "code": 0, "balance": "1500"}'
    assert parse_balance("\ufeff" + body) == 1500
    assert parse_balance(NOTICE + body + WARNING) == 1500
    assert isinstance(parse_balance(body + body), Unknown)

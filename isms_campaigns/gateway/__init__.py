"""The iSMS gateway boundary: codes, response parsing and the client."""

from .codes import CODES, Code, describe
from .responses import (
    RecipientResult,
    Rejected,
    SendResult,
    Sent,
    Unknown,
    Unreached,
    match_results,
    parse_balance,
    parse_send,
)

__all__ = [
    "CODES",
    "Code",
    "RecipientResult",
    "Rejected",
    "SendResult",
    "Sent",
    "Unknown",
    "Unreached",
    "describe",
    "match_results",
    "parse_balance",
    "parse_send",
]

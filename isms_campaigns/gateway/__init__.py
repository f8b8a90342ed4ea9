"""The iSMS gateway boundary: codes, response parsing (client and simulator to come)."""

from .codes import CODES, Code, describe
from .responses import (
    RecipientResult,
    Rejected,
    SendResult,
    Sent,
    Unknown,
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
    "describe",
    "match_results",
    "parse_balance",
    "parse_send",
]

"""Compliance at plan time: what Malaysian operators block or expect, found before sending.

Vendor guidance, not law. Gateway vendors' help pages for Malaysian traffic
(ClickSend, B3 Networks, Whispir) say: commercial SMS start with "RM0.00"
and name the sender's brand; since the MCMC directive of February 2023,
operators block SMS containing links that are not whitelisted, phone numbers
or requests for personal information. The checks apply to rows whose number
is Malaysian (``country`` MY); other countries' rules are not checked.

- A link to a domain not in ``allowed_domains`` and a phone number in the
  text are row ``problem`` s: the message would cost credits and not arrive.
  The recipient's own number counts (``%hpno%``, or a missing value iSMS
  fills with the number): filters read the text, not where it came from.
- Personal details asked for (IC number, bank account, password, PIN, an
  OTP to send back; in English and Malay) and a missing ``brand`` are row
  ``warning`` s.
- Campaign-level findings: the "RM0.00" prefix missing (with what it would
  cost), what a given prefix costs, no ``brand=`` to check, an opt-out
  promised by reply ("Reply STOP").

All checks are polars expressions over the rendered messages.

>>> import polars as pl
>>> rules = Compliance.build("MY", allowed_domains=["kedai.my"])
>>> plan = pl.DataFrame({
...     "msg": ["See kedai.my/sale", "See bit.ly/x", "Call 012-345 6789", "Your IC no?"],
...     "country": "MY",
...     "warning": None,
... }).with_columns(pl.col("warning").cast(pl.String))
>>> rules.check(plan).select("compliance_problem", "warning").rows()
[(None, None), ('link to bit.ly: not in allowed_domains', None), \
('phone number in the message', None), (None, 'mentions personal details (IC number)')]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from .encoding import BillingRule, encode, parts_of
from .errors import PlanError

__all__ = ["Compliance"]

PREFIX = "RM0.00 "
FINDINGS_SCHEMA = {
    "rule": pl.String,
    "severity": pl.String,
    "rows": pl.Int64,
    "example": pl.String,
    "what_to_do": pl.String,
}
SEVERITIES = ("problem", "warning", "note")
DIRECTIVE = "MCMC directive of February 2023"

# The texts rows carry: the findings count rows by them.
LINK_PROBLEM = "link to "  # + domain + ": not in allowed_domains"
PHONE_PROBLEM = "phone number in the message"
DETAILS_WARNING = "mentions personal details"  # + " (IC number)"


def _ascii(pattern: str) -> str:
    """Word boundaries by ASCII: a Unicode ``\\b`` sends the regex engine down its
    slow path on every message with a non-ASCII character (Chinese names: 40×)."""
    return pattern.replace(r"\b", r"(?-u:\b)")


# Links: http(s)://host, www.host, or a bare host followed by a path or ending
# in a common top-level domain (so "Jln.Ampang" or "e.g." are not links). The
# character before must not be a letter, digit, @ (an e-mail address is not a
# link), dot or dash; polars regexes have no look-behind, so it is matched
# and cut off afterwards.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_COMMON_TLD = (
    "com|net|org|my|sg|ly|io|co|cc|gl|gov|edu|info|biz|app|link|xyz|shop|"
    "site|online|store|asia|club|top|vip|live"
)
LINK = _ascii(
    rf"(?i)(?:^|[^\w@.-])(?:https?://[^\s<>\"']+|www\.{_LABEL}(?:\.{_LABEL})*"
    rf"|{_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,24}}/|{_LABEL}(?:\.{_LABEL})*\.(?:{_COMMON_TLD})\b)"
)
# Phone numbers: digits with spaces, dashes, dots or brackets between them
# that read as +… or 00… (8–15 digits), Malaysian 0… (9–11 digits), 60…
# (11–12 digits) or a 1300/1800 number, with no digit right after. Order IDs
# such as ORD-2026-011830 are not numbers: a dash, slash or dot before rules
# them out.
_SEP = r"[ ().-]{0,2}"
PHONE = (
    rf"(?:^|[^\w+/.-])(?:(?:\+|00){_SEP}[1-9](?:{_SEP}\d){{7,14}}"
    rf"|\(?0{_SEP}[1-9](?:{_SEP}\d){{7,9}}"
    rf"|\(?60{_SEP}[1-9](?:{_SEP}\d){{8,9}}|1[38]00(?:{_SEP}\d){{6}})(?:\D|$)"
)

# Personal details, English and Malay, in the order the warning names them.
_DETAILS = {
    "IC number": (
        r"\b(?:ic|i/c|nric|k/p)\s*(?:no|number|num)\b|\b(?:no|nombor|number)\.?\s*"
        r"(?:ic|i/c|nric|k/p|kad\s+pengenalan)\b|\bmykad\b|\bkad\s+pengenalan\b"
        r"|\bidentity\s+card\b"
    ),
    "bank account": (
        r"\bbank\s+(?:account|acct|acc|a/c)\b|\bakaun\s+bank\b|\b(?:account|acct|a/c)\s+"
        r"(?:number|no)\b|\b(?:nombor|no)\.?\s*akaun\b|\bcard\s+(?:number|details)\b"
        r"|\bnombor\s+kad\s+(?:kredit|debit|bank)\b|\bcvv\b"
    ),
    "password": r"\bpassword\b|\bpasscode\b|\bkata\s*laluan\b",
    "PIN": r"\bpin\b",
    "OTP": (
        r"\b(?:reply|send|share|give|tell|provide|forward|balas|hantar|kongsi|berikan|beri"
        r"|beritahu|nyatakan)\b\W+(?:\w+\W+){0,3}(?:otp|tac)\b"
    ),
}
PERSONAL_DETAILS = {label: _ascii(pattern) for label, pattern in _DETAILS.items()}
DETAILS = "(?i)" + "|".join(PERSONAL_DETAILS.values())
# Cheap first pass: only rows that could hold a link, a phone number or a
# personal detail (a superset of the patterns above) are read closely.
SUSPECT = _ascii(
    rf"(?i)://|www\.|\.[a-z]{{2,24}}/|\.(?:{_COMMON_TLD})\b|[0-9][0-9 ().-]{{6,}}[0-9]"
    r"|\b(?:ic|i/c|nric|k/p|mykad|kad|identity|bank|akaun|account|acct|a/c|card|cvv"
    r"|password|passcode|kata\s*laluan|pin|otp|tac)\b"
)
# An OTP notification ("your one-time password is …") sends a password, not asks for one.
ONE_TIME = _ascii(r"(?i)\bone[- ]time\s+(?:password|passcode|pin)\b")
OPT_OUT_REPLY = _ascii(
    r"(?i)\b(?:reply|balas|send|hantar|sms|text|taip)\b\W+(?:\w+\W+){0,2}"
    r"(?:stop|batal|henti|unsub\w*)\b"
)
STOP_WORD = _ascii(r"(?i)\b(?:stop|batal|henti|unsub)")
PREFIXED = r"(?i)^\s*RM\s?0\.00"

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


@dataclass(frozen=True)
class Compliance:
    """The compliance settings of a campaign (see :meth:`build` and the module docstring).

    ``country`` is ``"MY"`` (Malaysian rules for Malaysian rows) or None (no
    checks); ``prefix`` goes before every message, compliance or not.
    """

    country: str | None = "MY"
    prefix: str | None = None
    brand: str | None = None
    allowed_domains: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        compliance: str | None = "MY",
        *,
        prefix: str | None = None,
        brand: str | None = None,
        allowed_domains: Sequence[str] | str | None = (),
    ) -> Compliance:
        """Validated settings: a bad value is a :class:`PlanError` naming it."""
        if compliance is not None and (
            not isinstance(compliance, str) or compliance.upper() != "MY"
        ):
            raise PlanError(
                f"compliance={compliance!r} is not known: use 'MY' (Malaysian operators' "
                f"rules, the default) or None (no checks)."
            )
        for name, value in (("prefix", prefix), ("brand", brand)):
            if value is not None and not isinstance(value, str):
                raise PlanError(f"{name} must be text, not {type(value).__name__}.")
        if isinstance(allowed_domains, str):
            allowed_domains = [allowed_domains]
        return cls(
            country=None if compliance is None else "MY",
            prefix=prefix or None,
            brand=(brand or "").strip() or None,
            allowed_domains=tuple(_domain(d) for d in allowed_domains or ()),
        )

    # -- per row, inside the plan's query ----------------------------------

    def with_prefix(self, msg: pl.Expr) -> pl.Expr:
        """The message with the prefix in front (an empty message stays empty: a problem)."""
        if self.prefix is None:
            return msg
        return pl.when(msg.str.contains(r"\S")).then(pl.lit(self.prefix) + msg).otherwise(msg)

    def check(self, plan: FrameT, fixed: Sequence[str] = ()) -> FrameT:
        """Add ``compliance_problem`` and append compliance warnings to ``warning``.

        ``plan`` has the rendered ``msg``, ``country`` and ``warning`` (null or text).
        ``fixed`` are texts every message contains (the template's own text).
        """
        if self.country is None:
            return plan.with_columns(compliance_problem=pl.lit(None, pl.String))
        # Each stage nulls the rows the next need not read: other countries,
        # then rows without a suspect word, then rows without a link or detail.
        mine = pl.when(pl.col("country") == self.country).then(pl.col("msg"))
        suspect, linked, details = pl.col("suspect"), pl.col("linked"), pl.col("details")
        problem = pl.coalesce(self._link_problem(linked), _phone_problem(suspect))
        warning = pl.concat_str(
            [pl.col("warning"), self._details_warning(details), self._brand_warning(mine, fixed)],
            separator="; ",
            ignore_nulls=True,
        )
        return (
            plan.with_columns(suspect=pl.when(mine.str.contains(SUSPECT)).then(mine))
            .with_columns(
                linked=pl.when(suspect.str.contains(LINK)).then(suspect),
                details=pl.when(suspect.str.contains(DETAILS)).then(
                    suspect.str.replace_all(ONE_TIME, "OTP")
                ),
            )
            .with_columns(compliance_problem=problem, warning=pl.when(warning != "").then(warning))
            .drop("suspect", "linked", "details")
        )

    def _link_problem(self, msg: pl.Expr) -> pl.Expr:
        host = (
            pl.element()
            .str.replace(r"^\W", "")  # the character before the link
            .str.to_lowercase()
            .str.replace(r"^https?://", "")
            .str.replace(r"^www\.", "")
            .str.replace(r"[/?#].*$", "")
            .str.replace(r"^[^@]*@", "")  # user:password@
            .str.replace(r":\d*$", "")
            .str.strip_chars_end(".,;:!)")
        )
        allowed = pl.any_horizontal(
            pl.lit(False),
            *[(host == d) | host.str.ends_with("." + d) for d in self.allowed_domains],
        )
        blocked = msg.str.extract_all(LINK).list.eval(host.filter(~allowed)).list.first()
        return pl.when(blocked.is_not_null()).then(
            pl.format(LINK_PROBLEM + "{}: not in allowed_domains", blocked)
        )

    @staticmethod
    def _details_warning(hits: pl.Expr) -> pl.Expr:
        """Which detail the rows that mention one ask for (the others are null)."""
        return pl.coalesce(
            pl.when(hits.str.contains("(?i)" + pattern)).then(
                pl.lit(f"{DETAILS_WARNING} ({label})")
            )
            for label, pattern in PERSONAL_DETAILS.items()
        )

    def _brand_warning(self, msg: pl.Expr, fixed: Sequence[str]) -> pl.Expr:
        if self.brand is None or _everywhere(_brand_pattern(self.brand), fixed, context_free=True):
            return pl.lit(None, pl.String)
        return pl.when(~msg.str.contains(_brand_pattern(self.brand))).then(
            pl.lit(_brand_missing(self.brand))
        )

    # -- per campaign ---------------------------------------------------------

    def findings(
        self,
        messages: pl.DataFrame,
        billing: BillingRule,
        message_type: int | None,
        fixed: Sequence[str] = (),
    ) -> pl.DataFrame:
        """One row per finding, problems first: ``rule, severity, rows, example, what_to_do``.

        ``fixed`` are texts every message contains (the template's own text):
        a rule they match is not looked for in each message.
        """
        found: list[tuple[str, str, int, str | None, str]] = []
        if self.country is None:
            return _frame(found)
        # Findings count every Malaysian row whose text has the issue, so a
        # draft shows all that is wrong at once; the prefix's credits count
        # the rows that will be sent.
        mine = (pl.col("country") == self.country).fill_null(False)
        sent = mine & pl.col("problem").is_null()
        problem, warning, msg = pl.col("problem"), pl.col("warning").fill_null(""), pl.col("msg")
        link = problem.str.starts_with(LINK_PROBLEM).fill_null(False)
        # A row's problem names its link first: read those rows for a number too.
        also_phone = _phone_problem(pl.when(link).then(msg)).is_not_null()
        rules: dict[str, pl.Expr] = {
            "link": link,
            "phone number": (problem == PHONE_PROBLEM).fill_null(False) | also_phone,
            "personal details": warning.str.contains(DETAILS_WARNING, literal=True),
            "opt-out reply": mine
            if _everywhere(OPT_OUT_REPLY, fixed)
            else mine & pl.when(msg.str.contains(STOP_WORD)).then(msg).str.contains(OPT_OUT_REPLY),
            "mine": mine,
        }
        if self.brand is not None:
            rules["brand"] = warning.str.contains(_brand_missing(self.brand), literal=True)
        if self.prefix is None:
            rules["prefix"] = sent & ~msg.str.contains(PREFIXED)
        # Each rule read once (its regexes over every message), then each one's
        # row count and first message.
        flags = messages.lazy().select(msg, **rules).collect(engine="streaming")
        counts = flags.select(
            *[pl.col(name).sum() for name in rules],
            *[msg.get(pl.col(name).arg_max()).alias(f"{name} example") for name in rules],
        ).row(0, named=True)

        def add(name: str, severity: str, what: str, pattern: str | None = None) -> None:
            if counts[name]:
                example = _excerpt(counts[f"{name} example"], pattern)
                found.append((name, severity, counts[name], example, what))

        domains = (
            messages.select("problem")
            .filter(flags["link"])
            .select(problem.str.slice(len(LINK_PROBLEM)).str.replace(r":[^:]*$", ""))
            .unique(maintain_order=True)
            .to_series()
        )
        shown = ", ".join(domains.head(3)) + (" …" if domains.len() > 3 else "")
        add(
            "link",
            "problem",
            f"Malaysian operators block SMS with links that are not whitelisted ({DIRECTIVE}): "
            f"remove the link, or have the domain ({shown}) whitelisted for your account and "
            f"list it in allowed_domains=[…].",
            LINK,
        )
        add(
            "phone number",
            "problem",
            f"Malaysian operators block SMS containing phone numbers ({DIRECTIVE}), the "
            f"recipient's own too: remove it from the text. %hpno% inserts the number, and so "
            f"does a missing value without a fallback (give fallbacks=).",
            PHONE,
        )
        add(
            "personal details",
            "warning",
            f"Malaysian operators block SMS asking for personal details: IC number, bank "
            f"account, password, PIN, OTP ({DIRECTIVE}). Remove the request; if the text "
            f"only mentions them, reword it.",
            DETAILS,
        )
        if self.brand is not None:
            add(
                "brand",
                "warning",
                f"Vendors ask for the sender's brand in every Malaysian SMS: put "
                f"{self.brand!r} in the template.",
            )
        if self.prefix is None:
            # The columns the advice counts, of the rows it is about (not a copy of all).
            billed = messages.select("type", "length", "parts", "credits")
            advice = _prefix_advice(billed.filter(flags["prefix"]), billing, message_type)
            add("prefix", "warning", advice)
        else:
            self._prefix_cost(messages.filter(sent), billing, message_type, found)
        if self.brand is None and counts["mine"]:
            found.append(
                (
                    "brand",
                    "note",
                    counts["mine"],
                    None,
                    "Vendors ask for the sender's brand in every Malaysian SMS: give "
                    "brand='Your Shop' to check each message names it.",
                )
            )
        add(
            "opt-out reply",
            "note",
            "The text promises an opt-out by reply: on a one-way route nobody receives it. "
            "Promise it only if replies reach you and go into your do-not-contact list.",
            OPT_OUT_REPLY,
        )
        return _frame(found)

    def _prefix_cost(
        self,
        rows: pl.DataFrame,
        billing: BillingRule,
        message_type: int | None,
        found: list[tuple[str, str, int, str | None, str]],
    ) -> None:
        """A note when the prefix pushed messages into another part."""
        assert self.prefix is not None
        if self.prefix.isascii():  # it adds its length and changes no message's type
            bare = rows.select(parts=parts_of(pl.col("length") - len(self.prefix), billing))
        else:
            stripped = rows.select(msg=pl.col("msg").str.strip_prefix(self.prefix))
            bare = encode(stripped, billing, message_type)
        extra = rows["parts"] - bare["parts"]
        grown = int((extra > 0).sum())
        if grown:
            credits = int((extra * (rows["credits"] // rows["parts"])).sum())
            example = rows.filter(extra > 0)["msg"][0]
            found.append(
                (
                    "prefix",
                    "note",
                    grown,
                    _excerpt(example, None),
                    f"The prefix {self.prefix!r} takes these messages into another part: "
                    f"{credits:,} credits more. Shorten the text to save them.",
                )
            )


def _everywhere(pattern: str, fixed: Sequence[str], *, context_free: bool = False) -> bool:
    """Whether ``pattern`` matches one of the ``fixed`` texts, so every message
    holding that text matches too, whatever surrounds it.

    The match must lie away from the text's ends, where ``\\b``, ``^`` and
    ``$`` read only the text's own characters, unless the pattern has none
    of them (``context_free``).
    """
    inside = pattern if context_free else f"(?s)^.+?(?:{pattern})."
    return bool(fixed) and bool(pl.Series(fixed, dtype=pl.String).str.contains(inside).any())


def _phone_problem(msg: pl.Expr) -> pl.Expr:
    return pl.when(msg.str.contains(PHONE)).then(pl.lit(PHONE_PROBLEM))


def _prefix_advice(rows: pl.DataFrame, billing: BillingRule, message_type: int | None) -> str:
    """What operators expect, and what the prefix would cost these rows."""
    now = int(rows["credits"].sum())
    # An ASCII prefix adds its length and changes no message's type: no second
    # encoding of a million messages.
    assert PREFIX.isascii()
    credits = parts_of(pl.col("length") + len(PREFIX), billing) * (
        pl.col("credits") // pl.col("parts")
    )
    with_prefix = int(rows.select(credits.sum()).item() or 0)
    return (
        f"Malaysian operators expect commercial SMS to start with 'RM0.00' (vendor "
        f"guidance: ClickSend, B3 Networks, Whispir); some gateways insert it when the "
        f"message fits one part, which changes the credits. prefix={PREFIX!r} puts it in "
        f"and counts it: {with_prefix:,} credits instead of {now:,} for these rows."
    )


def _frame(found: list[tuple[str, str, int, str | None, str]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        found,
        schema=FINDINGS_SCHEMA,
        orient="row",
    )
    order = pl.col("severity").replace_strict(
        {s: i for i, s in enumerate(SEVERITIES)}, return_dtype=pl.Int8
    )
    return frame.sort(order, pl.col("rows"), descending=[False, True], maintain_order=True)


def _domain(entry: object) -> str:
    """An allowed domain as a bare lower-case host: 'https://www.Kedai.my/' → 'kedai.my'."""
    if not isinstance(entry, str):
        raise PlanError(f"allowed_domains holds {entry!r}: give domains as text, e.g. 'kedai.my'.")
    host = re.sub(r"^[a-z]+://", "", entry.strip().lower())
    host = re.sub(r"^www\.", "", re.split(r"[/?#]", host)[0]).rstrip(".")
    if not re.fullmatch(rf"(?:{_LABEL}\.)+[a-z]{{2,24}}", host):
        raise PlanError(
            f"allowed_domains entry {entry!r} is not a domain: write it as 'kedai.com.my' "
            f"(its subdomains are allowed too)."
        )
    return host


def _brand_pattern(brand: str) -> str:
    """The brand in any case, its words separated by any spaces."""
    return "(?i)" + r"\s+".join(re.escape(word) for word in brand.split())


def _brand_missing(brand: str) -> str:
    return f"brand {brand!r} not in the message"


def _excerpt(msg: str | None, pattern: str | None, width: int = 70) -> str | None:
    """About ``width`` characters of one message, around the first match of ``pattern``."""
    if msg is None or len(msg) <= width:
        return msg
    found = pl.select(pl.lit(msg).str.extract(pattern, 0)).item() if pattern else None
    at = msg.find(found.lstrip()) if found else 0
    start = max(0, min(at - width // 3, len(msg) - width))
    return ("…" if start else "") + msg[start : start + width] + "…"

"""When messages go out: Malaysian time, the marketing window, ``send_later`` and
the frequency cap's period.

Every time here is read from :func:`now`, the one clock of the package: tests
replace it (``monkeypatch.setattr(schedule, "now", …)``) to stand before,
inside or after the window. Pure: no store, no network.

>>> window = Window.parse(("08:00", "20:00"))
>>> window.contains(datetime(2026, 5, 1, 21, 0, tzinfo=MALAYSIA))
False
>>> malaysian_time("2026-05-01T01:30Z", after=datetime(2026, 4, 1, tzinfo=UTC))
datetime.datetime(2026, 5, 1, 9, 30, tzinfo=zoneinfo.ZoneInfo(key='Asia/Kuala_Lumpur'))
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import PlanError, spelled

MALAYSIA = ZoneInfo("Asia/Kuala_Lumpur")
# Settings as errors name them: keyword in Python, option on the command line.
_SEND_LATER = spelled("send_later", "--send-later")
_WINDOW = spelled("window", "--window")
_CAP = spelled("max_per_number", "--max-per-number")
MARKETING_HOURS = ("08:00", "20:00")  # vendors' guidance for Malaysian marketing SMS
PURPOSES = ("marketing", "transactional")
SEND_LATER_FORMAT = "%Y-%m-%d %H:%M:%S"  # what the gateway gets, in Malaysian time


def now() -> datetime:
    """The current time (aware, UTC). Tests replace this function."""
    return datetime.now(UTC)


def malaysian_now() -> datetime:
    return now().astimezone(MALAYSIA)


def shown(when: datetime) -> str:
    """A time as a Malaysian reader reads it: ``2026-05-01 09:30``."""
    return when.astimezone(MALAYSIA).strftime("%Y-%m-%d %H:%M")


def check_purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise PlanError(
            f"{spelled('purpose', '--purpose')} must be 'marketing' or 'transactional', not "
            f"{purpose!r}: order notices, "
            f"OTPs and reminders are transactional; promotions are marketing."
        )
    return purpose


# --------------------------------------------------------------------------
# send_later
# --------------------------------------------------------------------------


def malaysian_time(value: datetime | str, *, after: datetime | None = None) -> datetime:
    """``send_later`` as an aware Malaysian time, refused when unreadable or not after ``after``.

    An aware datetime (or a string with an offset or ``Z``) is converted; a
    naive one, or a string without offset, *is* Malaysian time: the spec
    says only "date/time string", and the gateway is in Malaysia.
    """
    if isinstance(value, datetime):
        when = value
    else:
        text = str(value).strip()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise PlanError(
                f"{_SEND_LATER} {value!r} is not a date and time: write '2026-12-01 09:30' "
                f"(Malaysian time) or '2026-12-01T01:30Z', or give a datetime. It is now "
                f"{shown(malaysian_now())} in Malaysia."
            ) from None
    when = when.replace(tzinfo=MALAYSIA) if when.tzinfo is None else when.astimezone(MALAYSIA)
    moment = after if after is not None else now()
    if when <= moment:
        raise PlanError(
            f"{_SEND_LATER} {shown(when)} Malaysian time is in the past: it is now "
            f"{shown(moment)} in Malaysia. Give a later time, or none to send at once."
        )
    return when


def stored_send_later(text: str) -> datetime:
    """A stored ``send_later`` (:data:`SEND_LATER_FORMAT`, Malaysian time) as a datetime."""
    return datetime.strptime(text, SEND_LATER_FORMAT).replace(tzinfo=MALAYSIA)


# --------------------------------------------------------------------------
# The marketing window
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Hours of the Malaysian day in which marketing messages go out; may span midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, window: Window | Sequence[str | time] | str | None) -> Window:
        """``("08:00", "20:00")``, ``"08:00-20:00"`` or two ``datetime.time``; None: the default."""
        if isinstance(window, Window):
            return window
        if window is None:
            window = MARKETING_HOURS
        pair = re.split(r"\s*[-–]\s*", window.strip()) if isinstance(window, str) else window
        try:
            start, end = (_clock_time(t) for t in pair)
        except (ValueError, TypeError):
            raise PlanError(
                f"{_WINDOW} {window!r} is not two times of day: write ('08:00', '20:00') or "
                f"'08:00-20:00' (Malaysian time)."
            ) from None
        if start == end:
            raise PlanError(f"{_WINDOW} {window!r} starts when it ends: give two different times.")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M} and {self.end:%H:%M}"

    def contains(self, when: datetime) -> bool:
        t = when.astimezone(MALAYSIA).time()
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def opens(self, when: datetime) -> datetime:
        """The next opening at or after ``when`` (Malaysian time)."""
        local = when.astimezone(MALAYSIA)
        start = datetime.combine(local.date(), self.start, MALAYSIA)
        return start if start >= local else start + timedelta(days=1)

    def closes(self, when: datetime) -> datetime:
        """The end of the window ``when`` is in (Malaysian time)."""
        local = when.astimezone(MALAYSIA)
        end = datetime.combine(local.date(), self.end, MALAYSIA)
        return end if end > local else end + timedelta(days=1)

    def hours(self) -> str:
        return f"Marketing messages go out between {self} Malaysian time"

    def when_it_opens(self, at: datetime) -> str:
        """``the window opens at 08:00 tomorrow (in 9 h 12 min)``, seen from ``at``."""
        opens = self.opens(at)
        local = at.astimezone(MALAYSIA)
        day = {0: "today", 1: "tomorrow"}.get(
            (opens.date() - local.date()).days, f"on {opens:%Y-%m-%d}"
        )
        return f"the window opens at {opens:%H:%M} {day} (in {wait(opens - local)})"

    def refusal(self, at: datetime, send_later: datetime | None = None) -> str:
        """Why a marketing send at ``at`` (or scheduled for ``send_later``) sends nothing."""
        # Both spellings: a report is read in notebooks and printed by the command.
        transactional = (
            "Order notices, OTPs and reminders are transactional: pass "
            "purpose='transactional' (--purpose transactional on the command line)."
        )
        if send_later is None:
            return f"{self.hours()}; {self.when_it_opens(at)}. {transactional}"
        inside = self.opens(send_later)
        return (
            f"send_later {shown(send_later)} is outside the marketing window. {self.hours()}: "
            f"schedule it inside, e.g. {shown(inside)}. {transactional}"
        )


def _clock_time(value: str | time) -> time:
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    return time.fromisoformat(str(value).strip())


def wait(delta: timedelta) -> str:
    """``9 h 12 min`` (minutes rounded up: the window is not open before)."""
    minutes = max(0, math.ceil(delta.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


# --------------------------------------------------------------------------
# The frequency cap
# --------------------------------------------------------------------------

_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}


@dataclass(frozen=True)
class FrequencyCap:
    """At most ``messages`` per number within ``period``, counting every campaign of a store."""

    messages: int
    period: timedelta
    written: str  # the period as the user wrote it: "24h"

    @classmethod
    def parse(cls, cap: FrequencyCap | tuple[int, str | timedelta] | str) -> FrequencyCap:
        """``(1, "24h")``, ``(2, timedelta(days=7))`` or ``"1/24h"``; units m, h, d, w."""
        if isinstance(cap, FrequencyCap):
            return cap
        example = spelled("max_per_number=(1, '24h') or '1/24h'", "--max-per-number 1/24h")
        example += " (units m, h, d, w)"
        parts: Sequence[object] = cap.split("/", 1) if isinstance(cap, str) else cap
        try:
            count, period = parts
            messages = int(str(count).strip())
        except (ValueError, TypeError):
            raise PlanError(f"{_CAP} {cap!r} is not a count and a period: {example}.") from None
        if isinstance(period, timedelta):
            delta, written = period, _spell(period)
        else:
            found = re.fullmatch(r"\s*(\d+)\s*(min|m|h|d|w)\s*", str(period))
            if not found:
                raise PlanError(f"{_CAP} period {period!r} is not like '24h': {example}.")
            delta = timedelta(seconds=int(found[1]) * _UNITS[found[2]])
            written = f"{found[1]}{found[2]}"
        if messages < 1 or delta <= timedelta(0):
            raise PlanError(f"{_CAP} {cap!r}: the count and the period must be positive.")
        return cls(messages, delta, written)

    def __str__(self) -> str:
        noun = "message" if self.messages == 1 else "messages"
        return f"{self.messages} {noun} in {self.written}"


def _spell(period: timedelta) -> str:
    seconds = int(period.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{math.ceil(seconds / 60)}m"

"""phonenumbers' numbering plans as tables of digit ranges, for one lookup per number.

``phonenumbers.parse`` + ``is_valid_number`` + ``number_type`` cost ~90 µs a
number. What they compute for a string of digits (which reading: national,
international after an IDD, or the home calling code written without ``+``;
which national prefix is stripped; whether the number is valid, and mobile)
depends only on the digits, through the metadata's regular expressions,
possible lengths and prefixes. So, for each length, the digit strings fall
into contiguous ranges that all get the same answer, and a sorted table of
range starts answers a whole column with one binary search.

How the ranges are found:

1. Each national-number pattern (``1\\d{8,9}|(?:3\\d|[4-9])\\d{7}`` …) is
   compiled to an automaton over the ten digits (:class:`Automaton`), and
   :func:`matching_ranges` lists the ranges of ``n``-digit strings it
   matches: a subtree of the digit trie is emitted whole as soon as every
   completion is known to match (or none).
2. :func:`type_table` refines those ranges for every description of a region
   (general, premium rate, toll free, …, fixed line, mobile) into ranges of
   constant *type*, in ``_number_type_helper``'s order.
3. The reading of a whole input (:func:`home_outcome`, :func:`intl_outcome`)
   follows ``phonenumbers.parse`` step by step. Every question it asks about
   the digits (a prefix, a type) goes through a :class:`Probe`, which also
   narrows the range of inputs that would get the same answer. Starting at
   the smallest input, each call gives one range and its outcome; the next
   range starts where it ended (:func:`explore`).

The per-number reference (``numbers.normalise_one``) stays the definition of
right; a property test checks that the tables agree with it. Regions whose
rules go beyond this (a calling code shared by several regions, national
prefixes with transform rules) get the outcome ``REFERENCE``: those numbers
go through ``normalise_one``.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneMetadata

# phonenumbers' limits (phonenumberutil._MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN).
MIN_NSN = 2
MAX_NSN = 17
# The longest digit strings the tables cover: national readings up to
# MAX_NSN digits, international ones up to 18 (so keys fit in an Int64).
MAX_HOME = 17
MAX_INTL = 18

# --------------------------------------------------------------------------
# Patterns as automata
# --------------------------------------------------------------------------

_ALL_DIGITS = (1 << 10) - 1


class UnsupportedPattern(ValueError):
    """A pattern uses syntax beyond what phonenumbers' metadata uses today."""


# A parsed pattern: ("set", mask) | ("seq", [nodes]) | ("alt", [nodes]) | ("rep", node, lo, hi)
_Node = tuple[object, ...]


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.at = 0

    def parse(self) -> _Node:
        node = self._alt()
        if self.at != len(self.text):
            raise UnsupportedPattern(self.text)
        return node

    def _peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def _alt(self) -> _Node:
        options = [self._seq()]
        while self._peek() == "|":
            self.at += 1
            options.append(self._seq())
        return ("alt", options) if len(options) > 1 else options[0]

    def _seq(self) -> _Node:
        items: list[_Node] = []
        while self._peek() not in ("", "|", ")"):
            items.append(self._repeat(self._atom()))
        return ("seq", items)

    def _atom(self) -> _Node:
        char = self._peek()
        if char.isdigit() and char.isascii():
            self.at += 1
            return ("set", 1 << int(char))
        if self.text.startswith("\\d", self.at):
            self.at += 2
            return ("set", _ALL_DIGITS)
        if char == "[":
            end = self.text.find("]", self.at)
            body = self.text[self.at + 1 : end]
            if end < 0 or not re.fullmatch(r"(?:\d-\d|\d|\\d)+", body):
                raise UnsupportedPattern(self.text)
            mask = 0
            for lo, hi, single, any_digit in re.findall(r"(\d)-(\d)|(\d)|(\\d)", body):
                if any_digit:
                    mask = _ALL_DIGITS
                elif hi:
                    mask |= sum(1 << d for d in range(int(lo), int(hi) + 1))
                else:
                    mask |= 1 << int(single)
            self.at = end + 1
            return ("set", mask)
        if char == "(":
            self.at += 3 if self.text.startswith("(?:", self.at) else 1
            inner = self._alt()
            if self._peek() != ")":
                raise UnsupportedPattern(self.text)
            self.at += 1
            return inner
        raise UnsupportedPattern(self.text)

    def _repeat(self, node: _Node) -> _Node:
        char = self._peek()
        if char == "?":
            self.at += 1
            return ("rep", node, 0, 1)
        if char in ("*", "+"):
            self.at += 1
            return ("rep", node, 0 if char == "*" else 1, None)
        if char == "{":
            m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.text, self.at)
            if not m:
                raise UnsupportedPattern(self.text)
            self.at = m.end()
            lo = int(m.group(1))
            hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
            return ("rep", node, lo, hi)
        return node


class Automaton:
    """A national-number pattern as a (lazily determinised) automaton over digits."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._edges: list[list[tuple[int, int]]] = []  # per state: (digit mask, target)
        self._empty: list[list[int]] = []  # per state: epsilon targets
        start, self._final = self._build(_Parser(pattern).parse())
        self.start = self._closure({start})
        self._steps: dict[tuple[frozenset[int], int], frozenset[int]] = {}
        self._verdicts: dict[tuple[frozenset[int], int], int] = {}

    def _state(self) -> int:
        self._edges.append([])
        self._empty.append([])
        return len(self._edges) - 1

    def _build(self, node: _Node) -> tuple[int, int]:
        kind = node[0]
        start, end = self._state(), self._state()
        if kind == "set":
            assert isinstance(node[1], int)
            self._edges[start].append((node[1], end))
        elif kind in ("seq", "alt"):
            parts = node[1]
            assert isinstance(parts, list)
            if kind == "alt":
                for part in parts:
                    s, e = self._build(part)
                    self._empty[start].append(s)
                    self._empty[e].append(end)
            else:
                at = start
                for part in parts:
                    s, e = self._build(part)
                    self._empty[at].append(s)
                    at = e
                self._empty[at].append(end)
        else:  # ("rep", node, lo, hi)
            inner, lo, hi = node[1], node[2], node[3]
            assert isinstance(inner, tuple) and isinstance(lo, int)
            at = start
            for _ in range(lo):
                s, e = self._build(inner)
                self._empty[at].append(s)
                at = e
            if hi is None:  # a loop
                s, e = self._build(inner)
                self._empty[at].append(s)
                self._empty[e].append(at)
            else:
                assert isinstance(hi, int)
                for _ in range(hi - lo):  # each further copy optional
                    s, e = self._build(inner)
                    self._empty[at].append(s)
                    self._empty[at].append(e)
                    at = e
            self._empty[at].append(end)
        return start, end

    def _closure(self, states: set[int]) -> frozenset[int]:
        seen, todo = set(states), list(states)
        while todo:
            for nxt in self._empty[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)

    def step(self, states: frozenset[int], digit: int) -> frozenset[int]:
        key = (states, digit)
        found = self._steps.get(key)
        if found is None:
            bit = 1 << digit
            found = self._closure({t for s in states for mask, t in self._edges[s] if mask & bit})
            self._steps[key] = found
        return found

    def accepts(self, states: frozenset[int]) -> bool:
        return self._final in states

    def matches(self, digits: str) -> bool:
        states = self.start
        for char in digits:
            states = self.step(states, int(char))
        return self.accepts(states)

    def verdict(self, states: frozenset[int], remaining: int) -> int:
        """1: every completion of ``remaining`` digits matches; 0: none does; 2: some."""
        if not states:
            return 0
        if remaining == 0:
            return int(self.accepts(states))
        key = (states, remaining)
        found = self._verdicts.get(key)
        if found is None:
            seen = {self.verdict(self.step(states, d), remaining - 1) for d in range(10)}
            found = seen.pop() if len(seen) == 1 else 2
            self._verdicts[key] = found
        return found


@functools.cache
def automaton(pattern: str) -> Automaton:
    return Automaton(pattern)


def matching_ranges(pattern: str, length: int) -> list[tuple[int, int]]:
    """The ``length``-digit strings (as integers, leading zeros allowed) that match, as ranges."""
    auto = automaton(pattern)
    out: list[tuple[int, int]] = []

    def walk(states: frozenset[int], value: int, remaining: int) -> None:
        verdict = auto.verdict(states, remaining)
        if verdict == 1:
            lo, hi = value * 10**remaining, (value + 1) * 10**remaining
            if out and out[-1][1] == lo:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
        elif verdict == 2:
            for d in range(10):
                walk(auto.step(states, d), value * 10 + d, remaining - 1)

    walk(auto.start, 0, length)
    return out


def max_match_length(pattern: str) -> int | None:
    """The longest string the pattern can match (None when unbounded)."""
    node = _Parser(pattern).parse()

    def longest(n: _Node) -> float:
        kind = n[0]
        if kind == "set":
            return 1
        if kind == "seq":
            assert isinstance(n[1], list)
            return sum(longest(p) for p in n[1])
        if kind == "alt":
            assert isinstance(n[1], list)
            return max(longest(p) for p in n[1])
        inner, hi = n[1], n[3]
        assert isinstance(inner, tuple)
        return float("inf") if hi is None else longest(inner) * float(hi)  # type: ignore[arg-type]

    found = longest(node)
    return None if found == float("inf") else int(found)


# --------------------------------------------------------------------------
# Per region: what a national significant number is
# --------------------------------------------------------------------------

INVALID_TYPE, MOBILE_TYPE, OTHER_TYPE = 0, 1, 2

_SPECIAL_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


@dataclass(frozen=True)
class Plan:
    """The parts of one region's metadata that reading and validating a number use."""

    region: str
    country_code: int
    general: str  # national-number pattern of every number
    general_lengths: tuple[int, ...]
    local_lengths: tuple[int, ...]
    # (pattern, possible lengths or () for any) in _number_type_helper's order
    specials: tuple[tuple[str, tuple[int, ...]], ...]
    fixed: tuple[str, tuple[int, ...]] | None
    mobile: tuple[str, tuple[int, ...]] | None
    same_mobile_and_fixed: bool
    national_prefix: str | None  # national_prefix_for_parsing (a regex), None when absent
    national_prefix_longest: int
    idd: str | None  # international_prefix (a regex)
    idd_longest: int


def _desc(desc: object | None) -> tuple[str, tuple[int, ...]] | None:
    pattern = getattr(desc, "national_number_pattern", None)
    if not pattern:
        return None
    return pattern, tuple(getattr(desc, "possible_length", ()) or ())


@functools.cache
def plan_for_region(region: str) -> Plan | None:
    """The region's plan, or None when its rules go beyond what the tables model."""
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.general_desc is None or not meta.general_desc.national_number_pattern:
        return None
    if meta.national_prefix_transform_rule or meta.country_code is None:
        return None
    try:
        general = meta.general_desc.national_number_pattern
        descs = [_desc(getattr(meta, name)) for name in _SPECIAL_DESCS]
        fixed, mobile = _desc(meta.fixed_line), _desc(meta.mobile)
        for pattern in [general] + [d[0] for d in (*descs, fixed, mobile) if d]:
            automaton(pattern)
        prefix = meta.national_prefix_for_parsing or None
        prefix_longest = max_match_length(prefix) if prefix else 0
        idd = meta.international_prefix or None
        idd_longest = max_match_length(idd) if idd else 0
    except UnsupportedPattern:
        return None
    if prefix_longest is None or idd_longest is None:
        return None
    return Plan(
        region=region,
        country_code=meta.country_code,
        general=general,
        general_lengths=tuple(sorted(meta.general_desc.possible_length)),
        local_lengths=tuple(meta.general_desc.possible_length_local_only or ()),
        specials=tuple(d for d in descs if d),
        fixed=fixed,
        mobile=mobile,
        same_mobile_and_fixed=bool(meta.same_mobile_and_fixed_line_pattern),
        national_prefix=prefix,
        national_prefix_longest=prefix_longest,
        idd=idd,
        idd_longest=idd_longest,
    )


@functools.cache
def plan_for_code(country_code: int) -> Plan | None:
    """The plan of a calling code used by one geographic region only."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) != 1 or regions[0] == "001":
        return None  # shared (+1, +7, +44 …) or non-geographic: the reference decides
    return plan_for_region(regions[0])


# A type label: (INVALID_TYPE | MOBILE_TYPE | OTHER_TYPE, general pattern matches)
TypeLabel = tuple[int, bool]


@functools.cache
def type_table(plan: Plan, length: int) -> tuple[list[int], list[TypeLabel]]:
    """Ranges of ``length``-digit national numbers with a constant type, as (starts, labels)."""
    if length == 0:
        return [0], [(INVALID_TYPE, automaton(plan.general).matches(""))]

    def ranges(desc: tuple[str, tuple[int, ...]] | None) -> list[tuple[int, int]]:
        if desc is None or (desc[1] and length not in desc[1]):
            return []
        return matching_ranges(desc[0], length)

    general = ranges((plan.general, plan.general_lengths))
    specials = [ranges(d) for d in plan.specials]
    fixed, mobile = ranges(plan.fixed), ranges(plan.mobile)
    pattern_only = matching_ranges(plan.general, length)
    lists = [general, *specials, fixed, mobile, pattern_only]
    bounds = sorted({0, 10**length} | {b for rs in lists for r in rs for b in r})

    def member(rs: list[tuple[int, int]]) -> Callable[[int], bool]:
        starts = [r[0] for r in rs]

        def inside(x: int) -> bool:
            i = bisect_right(starts, x) - 1
            return i >= 0 and x < rs[i][1]

        return inside

    in_general, in_fixed, in_mobile, in_pattern = map(
        member, (general, fixed, mobile, pattern_only)
    )
    in_specials = [member(s) for s in specials]
    starts: list[int] = []
    labels: list[TypeLabel] = []
    for lo in bounds[:-1]:
        # _number_type_helper's order: general, then the special types, then
        # fixed line (or fixed line or mobile), then mobile.
        if not in_general(lo):
            kind = INVALID_TYPE
        elif any(inside(lo) for inside in in_specials):
            kind = OTHER_TYPE
        elif in_fixed(lo):
            kind = MOBILE_TYPE if plan.same_mobile_and_fixed or in_mobile(lo) else OTHER_TYPE
        elif not plan.same_mobile_and_fixed and in_mobile(lo):
            kind = MOBILE_TYPE
        else:
            kind = INVALID_TYPE
        label = (kind, in_pattern(lo))
        if not labels or labels[-1] != label:
            starts.append(lo)
            labels.append(label)
    return starts, labels


# --------------------------------------------------------------------------
# Reading a whole input, one range of inputs at a time
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Valid:
    """A valid number: dstno is ``prefix`` + the input's digits from ``skip`` on."""

    prefix: str  # the calling code
    skip: int
    region: str
    country_code: int
    mobile: bool
    operator: str | None  # the original operator of the number's range


@dataclass(frozen=True)
class Invalid:
    """No number: phonenumbers fails to parse it, or it is not valid."""


@dataclass(frozen=True)
class Reference:
    """Rules the tables do not model: ask ``normalise_one``."""


@dataclass(frozen=True)
class International:
    """Read the digits from ``skip`` on as an international number (the intl table)."""

    skip: int


Outcome = Valid | Invalid | Reference | International
INVALID = Invalid()
REFERENCE = Reference()


class Probe:
    """One digit string, and the range of same-length strings that answer alike.

    Every question the readings ask goes through here; each answer narrows
    ``[lo, hi)`` (as integers) to the strings that would get it too.
    """

    def __init__(self, digits: str) -> None:
        self.digits = digits
        self.lo, self.hi = 0, 10 ** len(digits)

    def _keep(self, lo: int, hi: int) -> None:
        self.lo, self.hi = max(self.lo, lo), min(self.hi, hi)

    def head(self, n: int) -> str:
        """The first ``n`` digits."""
        n = min(n, len(self.digits))
        width = 10 ** (len(self.digits) - n)
        base = int(self.digits[:n] or "0") * width
        self._keep(base, base + width)
        return self.digits[:n]

    def prefix_match(self, pattern: str, longest: int, at: int) -> int | None:
        """Length of ``re.match(pattern)`` on the digits from ``at`` (None: no match)."""
        window = self.digits[at : at + longest]
        decided = _match_decisions(pattern, len(window))
        if decided is None:  # too long to tabulate: the whole window decides
            self.head(at + longest)
            m = _compiled(pattern).match(self.digits, at)
            return None if m is None else m.end() - at
        for n in range(len(window) + 1):
            if (found := decided.get(window[:n])) is not None:
                self.head(at + n)
                return None if found < 0 else found
        raise AssertionError(window)  # every full window is decided

    def kind(self, plan: Plan, at: int) -> TypeLabel:
        """Type and general-pattern match of the digits from ``at`` on."""
        rest = self.digits[at:]
        starts, labels = type_table(plan, len(rest))
        value = int(rest or "0")
        i = bisect_right(starts, value) - 1
        lo = starts[i]
        hi = starts[i + 1] if i + 1 < len(starts) else 10 ** len(rest)
        base = int(self.head(at) or "0") * 10 ** len(rest)
        self._keep(base + lo, base + hi)
        return labels[i]

    def operator(self, code: int, at: int) -> str | None:
        """The carrier of ``code`` + the digits from ``at`` (see :func:`operator_of`)."""
        rest = len(self.digits) - at
        head = str(code) + self.digits[at:]
        bounds, names = carrier_table(code)
        i = bisect_right(bounds, int(head[:CARRIER_DIGITS].ljust(CARRIER_DIGITS, "0"))) - 1
        # The digits from ``at`` whose head falls in the same range, within the code's block.
        free = CARRIER_DIGITS - len(str(code))
        block = code * 10**free
        lo = max(bounds[i] - block, 0)
        hi = min((bounds[i + 1] if i + 1 < len(bounds) else 10**CARRIER_DIGITS) - block, 10**free)
        if rest >= free:
            lo, hi = lo * 10 ** (rest - free), hi * 10 ** (rest - free)
        else:
            step = 10 ** (free - rest)
            lo, hi = -(-lo // step), -(-hi // step)
        base = int(self.head(at) or "0") * 10**rest
        self._keep(base + lo, base + hi)
        return names[i]


CARRIER_DIGITS = 9  # longer than any carrier prefix phonenumbers has
_OPERATOR_ALIASES = {"Celecom": "Celcom"}  # one operator, two spellings in the tables


@functools.cache
def carrier_table(code: int) -> tuple[list[int], list[str | None]]:
    """phonenumbers' carrier prefixes of ``code`` as ranges of 9-digit heads.

    Prefix ``p`` covers the heads ``[p·10^(9-len p), (p+1)·10^(9-len p))``;
    painting longer prefixes over shorter ones gives longest-prefix match.
    """
    from phonenumbers.carrierdata import CARRIER_DATA

    start = str(code)
    names = {
        p: _OPERATOR_ALIASES.get(n["en"], n["en"])
        for p, n in CARRIER_DATA.items()
        if p.startswith(start) and n.get("en") and len(p) <= CARRIER_DIGITS
    }
    bounds = sorted(
        {0}
        | {int(p.ljust(CARRIER_DIGITS, "0")) for p in names}
        | {(int(p) + 1) * 10 ** (CARRIER_DIGITS - len(p)) for p in names}
    )
    labels = []
    for bound in bounds:
        digits = str(bound).zfill(CARRIER_DIGITS)
        labels.append(
            next(
                (names[digits[:n]] for n in range(CARRIER_DIGITS, 0, -1) if digits[:n] in names),
                None,
            )
        )
    return bounds, labels


def operator_of(dstno: str, code: int) -> str | None:
    """Longest carrier prefix of ``dstno`` (its first 9 digits, zero-padded)."""
    bounds, names = carrier_table(code)
    head = int(dstno[:CARRIER_DIGITS].ljust(CARRIER_DIGITS, "0"))
    return names[bisect_right(bounds, head) - 1]


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@functools.cache
def _match_decisions(pattern: str, size: int) -> dict[str, int] | None:
    """``re.match(pattern)`` on every ``size``-digit window, by shortest deciding prefix.

    Maps each shortest prefix under which every window gets the same match
    length to that length (-1: no match), so a probe pins only the digits
    that decided (a national prefix ``0`` is decided by one digit, not five).
    """
    if size > 6:
        return None
    compiled = _compiled(pattern)
    decided: dict[str, int] = {}

    def walk(prefix: str) -> int | None:
        """The match length every window under ``prefix`` gets, None when they differ."""
        if len(prefix) == size:
            m = compiled.match(prefix)
            return -1 if m is None else m.end()
        found = [walk(prefix + d) for d in "0123456789"]
        if found[0] is not None and all(f == found[0] for f in found):
            return found[0]
        for d, value in zip("0123456789", found, strict=True):
            if value is not None:
                decided[prefix + d] = value
        return None

    whole = walk("")
    if whole is not None:
        decided[""] = whole
    return decided


_TOO_SHORT, _POSSIBLE, _TOO_LONG, _INVALID_LENGTH, _LOCAL_ONLY = range(5)


def _length_check(length: int, plan: Plan) -> int:
    """phonenumbers' ``_test_number_length`` for an unknown type."""
    if length in plan.local_lengths:
        return _LOCAL_ONLY
    lengths = plan.general_lengths
    if length == lengths[0]:
        return _POSSIBLE
    if length < lengths[0]:
        return _TOO_SHORT
    if length > lengths[-1]:
        return _TOO_LONG
    return _POSSIBLE if length in lengths else _INVALID_LENGTH


def _strip_national_prefix(probe: Probe, plan: Plan, at: int) -> int:
    """phonenumbers' ``_maybe_strip_national_prefix_carrier_code``: where the number starts."""
    if at >= len(probe.digits) or plan.national_prefix is None:
        return at
    end = probe.prefix_match(plan.national_prefix, plan.national_prefix_longest, at)
    if end is None:
        return at
    if probe.kind(plan, at)[1] and not probe.kind(plan, at + end)[1]:
        return at  # the number was viable and would not be after stripping
    return at + end


def _national_number(probe: Probe, plan: Plan, at: int) -> int | None:
    """The rest of ``parse`` after the calling code: where the NSN starts (None: too short/long)."""
    length = len(probe.digits)
    if length - at < MIN_NSN:
        return None
    stripped = _strip_national_prefix(probe, plan, at)
    if _length_check(length - stripped, plan) not in (_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH):
        at = stripped
    return None if length - at > MAX_NSN else at


def _validate(probe: Probe, plan: Plan, nsn: int) -> Outcome:
    kind = probe.kind(plan, nsn)[0]
    if kind == INVALID_TYPE:
        return INVALID
    if len(str(plan.country_code)) + len(probe.digits) - nsn > MAX_INTL:
        return REFERENCE  # longer than an integer key holds
    code, mobile = plan.country_code, kind == MOBILE_TYPE
    return Valid(str(code), nsn, plan.region, code, mobile, probe.operator(code, nsn))


@functools.cache
def _calling_codes() -> frozenset[int]:
    return frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _calling_code(probe: Probe) -> int | None:
    """phonenumbers' ``_extract_country_code`` (the digits do not start with 0)."""
    for n in range(1, min(len(probe.digits), 3) + 1):
        code = int(probe.head(n))
        if code in _calling_codes():
            return code
    return None


def intl_outcome(probe: Probe, unknown_code: Outcome) -> Outcome:
    """``parse("+" + digits)`` and its validation; the digits do not start with 0.

    ``unknown_code`` is the outcome when no calling code starts the digits
    (invalid, unless the home region's IDD could make phonenumbers read the
    digits again from the home region).
    """
    if len(probe.digits) <= 2:
        return INVALID  # TOO_SHORT_AFTER_IDD
    code = _calling_code(probe)
    if code is None:
        return unknown_code
    plan = plan_for_code(code)
    if plan is None:
        return REFERENCE
    nsn = _national_number(probe, plan, len(str(code)))
    return INVALID if nsn is None else _validate(probe, plan, nsn)


def home_outcome(probe: Probe, home: Plan) -> Outcome:
    """``normalise_one`` on plain digits (no ``+``) in the home region.

    ``parse(digits, home)`` first; when that fails or is invalid, the
    reference reads ``"+" + digits``: international, which for digits
    starting with 0 fails too (phonenumbers' retry without the ``+`` reads
    them as before).
    """
    digits = probe.digits
    length = len(digits)
    leading_zero = probe.head(1) == "0"

    def fallback() -> Outcome:
        return INVALID if leading_zero else International(0)

    # _maybe_strip_i18n_prefix_and_normalize: an IDD not followed by a 0.
    if home.idd is not None:
        end = probe.prefix_match(home.idd, home.idd_longest, 0)
        if end is not None and probe.head(end + 1)[end:] != "0":
            if not leading_zero:
                return REFERENCE  # the "+" reading would differ from the IDD one
            # Too short after the IDD, no calling code or invalid: the "+"
            # reading retries the same way, and fails the same way.
            return INVALID if length - end <= 2 else International(end)
    # _maybe_extract_country_code from the default region: the home calling
    # code written without "+", kept when that makes the number viable.
    code = str(home.country_code)
    start = 0
    if probe.head(len(code)) == code:
        rest = _strip_national_prefix(probe, home, len(code))
        if (not probe.kind(home, 0)[1] and probe.kind(home, rest)[1]) or _length_check(
            length, home
        ) == _TOO_LONG:
            start = rest
    nsn = _national_number(probe, home, start)
    if nsn is None:
        return fallback()
    outcome = _validate(probe, home, nsn)
    return fallback() if outcome is INVALID else outcome


def explore(
    length: int,
    outcome: Callable[[Probe], Outcome],
    lo: int = 0,
    hi: int | None = None,
    *,
    block_budget: int = 2000,
    total_budget: int = 40000,
) -> list[tuple[int, Outcome]]:
    """(start, outcome) of each range of ``length``-digit strings in ``[lo, hi)``.

    Some plans make the outcome alternate very often (a carrier code before
    a short fixed-line number, …). Work is bounded: a block that needs more
    than ``block_budget`` ranges is split in ten and retried, three times at
    most, and after ``total_budget`` ranges in all the rest is left to the
    reference (``REFERENCE``), which is always right, only slower.
    """
    hi = 10**length if hi is None else hi
    cells: list[tuple[int, Outcome]] = []
    spent = 0

    def add(start: int, found: Outcome) -> None:
        if not cells or cells[-1][1] != found:
            cells.append((start, found))

    def run(start: int, end: int, size: int, splits: int) -> None:
        nonlocal spent
        at, used = start, 0
        while at < end:
            if used == block_budget or spent >= total_budget:
                if splits == 0 or spent >= total_budget or size < 10:
                    add(at, REFERENCE)
                    return
                step = size // 10
                while at < end:
                    stop = min(end, (at // step + 1) * step)
                    run(at, stop, step, splits - 1)
                    at = stop
                return
            probe = Probe(str(at).zfill(length))
            found = outcome(probe)
            assert probe.lo <= at < probe.hi, (length, at)
            add(at, found)
            at = min(probe.hi, end)
            used += 1
            spent += 1

    run(lo, hi, hi - lo, 3)
    return cells


# --------------------------------------------------------------------------
# The lookup table: every range of every length, keyed by one integer
# --------------------------------------------------------------------------

# Keys: a national reading of L digits (3 ≤ L ≤ MAX_HOME, leading zeros
# allowed) is 10**L + its value; an international one (no leading zero,
# at most MAX_INTL digits) is INTL_KEY + its value. The two never overlap.
INTL_KEY = 10**18
MIN_DIGITS = 3


@functools.cache
def home_plan(region: str) -> Plan | None:
    """The home region's plan, when the tables can read national numbers for it."""
    plan = plan_for_region(region)
    if plan is None or plan_for_code(plan.country_code) != plan:
        return None  # a calling code shared with other regions: the reference reads it
    return plan


@functools.cache
def unknown_code_outcome(region: str) -> Outcome:
    """``parse("+digits")`` when no calling code starts the digits.

    phonenumbers then retries the digits without the ``+`` from the home
    region: that fails unless the home IDD could start them.
    """
    meta = PhoneMetadata.metadata_for_region(region)
    idd = meta.international_prefix if meta else None
    if not idd:
        return INVALID
    try:
        auto = automaton(idd)
    except UnsupportedPattern:
        return REFERENCE
    return REFERENCE if any(auto.step(auto.start, d) for d in range(1, 10)) else INVALID


@functools.cache
def home_cells(region: str, length: int) -> list[tuple[int, Outcome]]:
    plan = home_plan(region)
    if plan is None:
        return [(0, REFERENCE)]
    return explore(length, lambda probe: home_outcome(probe, plan))


@functools.cache
def intl_cells(code: int, length: int) -> list[tuple[int, Outcome]]:
    """The ranges of ``length``-digit international numbers starting with ``code``."""
    width = 10 ** (length - len(str(code)))
    if plan_for_code(code) is None:
        return [(code * width, REFERENCE)]
    return explore(length, lambda p: intl_outcome(p, INVALID), code * width, (code + 1) * width)


@functools.cache
def code_ranges(length: int) -> list[tuple[int, int | None]]:
    """(start, calling code or None) of ``length``-digit numbers without a leading zero."""
    out: list[tuple[int, int | None]] = []
    width = 10 ** (length - MIN_DIGITS)
    for head in range(100, 1000):
        digits = str(head)
        code = next(
            (int(digits[:n]) for n in (1, 2, 3) if int(digits[:n]) in _calling_codes()), None
        )
        if not out or out[-1][1] != code:
            out.append((head * width, code))
    return out


def lookup_table(
    region: str, home_lengths: frozenset[int], codes: frozenset[tuple[int, int]]
) -> tuple[list[int], list[Outcome]]:
    """Sorted range starts (keys) and their outcomes.

    Only the national lengths and the (calling code, length) pairs given are
    explored; the others map to ``REFERENCE`` (never reached when they are
    what the data holds).
    """
    starts: list[int] = [0]
    outcomes: list[Outcome] = [INVALID]
    for length in range(MIN_DIGITS, MAX_HOME + 1):
        cells = home_cells(region, length) if length in home_lengths else [(0, REFERENCE)]
        for start, outcome in cells:
            starts.append(10**length + start)
            outcomes.append(outcome)
    unknown = unknown_code_outcome(region)
    for length in range(MIN_DIGITS, MAX_INTL + 1):
        for start, code in code_ranges(length):
            if code is None:
                cells = [(start, unknown)]
            elif (code, length) in codes:
                cells = intl_cells(code, length)
            else:
                cells = [(start, REFERENCE)]
            for at, outcome in cells:
                starts.append(INTL_KEY + at)
                outcomes.append(outcome)
    return starts, outcomes

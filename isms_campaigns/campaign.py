"""``Campaign``: the plan — every recipient's message and its cost, before sending.

>>> import polars as pl
>>> contacts = pl.DataFrame({"phone": ["012-345 6789", "0123"], "name": ["Ali", None]})
>>> camp = Campaign("demo", contacts, template="Hi %name%!", fallbacks={"name": "there"})
>>> camp.messages.select("dstno", "msg", "credits", "problem").rows()
[('60123456789', 'Hi Ali!', 1, None), (None, 'Hi there!', None, 'invalid number')]
"""

from __future__ import annotations

import copy
import html
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from ._html import STYLE, campaign_cards, cards_html, notes_html, table, unicode_table
from .compliance import Compliance
from .contacts import as_text_numbers, read_contacts, read_numbers
from .encoding import (
    SMART_ASCII,
    BillingRule,
    encode,
    message_problem,
    non_ascii_expr,
    smart_ascii_expr,
)
from .errors import ContactsError, PlanError, TemplateError
from .money import cost_rm
from .numbers import DUPLICATE, find_number_column, normalise_numbers
from .optouts import DO_NOT_CONTACT
from .render import NAME as TOKEN_NAME
from .render import Resolver, finish_warnings, leftover_problem, literal_text, render
from .schedule import (
    SEND_LATER_FORMAT,
    FrequencyCap,
    Window,
    check_purpose,
    malaysian_time,
    stored_send_later,
)
from .variants import VARIANT

if TYPE_CHECKING:
    from .gateway.client import Gateway
    from .send import SendReport
    from .store import Store

# Columns of Campaign.messages, in order.
MESSAGE_COLUMNS = (
    "row",
    "number",
    "dstno",
    "country",
    "operator",
    "msg",
    "type",
    "length",
    "parts",
    "credits",
    "problem",
    "warning",
)


class NumberCache:
    """Normalised numbers kept between plans of one contact list.

    Re-planning the same contacts (the Composer does it on every edit of the
    template) re-renders every message but need not re-normalise every
    number: pass one cache to each plan, ``Campaign(…, number_cache=cache)``.
    It keeps the numbers of one contacts frame (the same object), number
    column, region and suppression list (the same object) and normalises
    again when any of them changes. A suppression *file* edited meanwhile is
    not noticed: start a new cache.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._for: tuple[object, ...] | None = None
        self._numbers: pl.DataFrame | None = None

    def numbers(
        self, contacts: pl.DataFrame, number_column: str, region: str, suppress: Any
    ) -> pl.DataFrame:
        """``normalise_numbers`` of the number column, without duplicate marking."""
        # The objects themselves are kept (not their id()), so an identity
        # cannot be reused by a new frame while the cache holds the old one.
        key = (contacts, number_column, region, suppress)
        with self._lock:
            if self._numbers is not None and self._for is not None and _same(self._for, key):
                return self._numbers
            text = as_text_numbers(contacts, number_column)
            numbers = _normalise(text, number_column, region, suppress)
            self._for, self._numbers = key, numbers
            return numbers


def _same(kept: tuple[object, ...], key: tuple[object, ...]) -> bool:
    return all(a is b or (isinstance(a, str) and a == b) for a, b in zip(kept, key, strict=True))


def _normalise(
    contacts: pl.DataFrame, number_column: str, region: str, suppress: Any
) -> pl.DataFrame:
    blocked = None if suppress is None else read_numbers(suppress, region)
    # Repeats are judged when the plan knows every row's problems (_plan).
    return normalise_numbers(
        contacts[number_column], region, suppress=blocked, mark_duplicates=False
    )


@dataclass(frozen=True)
class _Settings:
    sender_id: str | None
    send_later: str | None
    message_type: int | None


class Campaign:
    """A planned SMS campaign: one row of ``messages`` per contact row.

    Nothing is sent and nothing is written: this is the estimate. Rows that
    cannot be sent stay in ``messages`` with a ``problem``; ``warning`` notes
    rows that will be sent but not quite as written (a fallback was used).

    Parameters beyond the template: ``sender_id`` (≤ 11 letters/digits),
    ``number_column`` (found by name when omitted), ``region`` for numbers
    written without a country code, ``fallbacks`` per token, ``suppress``
    (numbers never to message: a list, Series, frame or file),
    ``send_later`` (when the gateway sends it: an aware datetime is converted
    to Malaysian time; a naive one, or a string such as ``"2026-12-01
    09:30"``, is Malaysian time; a past or unreadable one is refused),
    ``purpose`` (``"marketing"``, the default, goes out only inside
    ``window``, 08:00–20:00 Malaysian time unless given; ``"transactional"``
    for order notices, OTPs and reminders, at any hour), ``smart_ascii`` (replace
    curly quotes, dashes … by ASCII so rows stay type 1),
    ``template_column`` (a column holding each row's template, for
    messages written elsewhere; a row whose template names an unknown token
    gets a ``problem``), ``token_columns`` (map ``%name%`` etc.
    to differently named columns), ``formats`` (per token: ``{"amount":
    "{:.2f}", "dob": "%d/%m/%Y"}``, see :mod:`isms_campaigns.formats`),
    ``message_type`` (force 1 or 2), ``billing`` (its ``price_per_credit``
    in RM is kept with the campaign when it is sent) and ``rate_card``.

    A/B variants: a ``variant`` column in the contacts (``ic.split`` makes
    one) labels each row; ``messages`` gets it and the store keeps it, for
    ``delivery_summary(by="variant")``. ``template={"A": "…", "B": "…"}``
    gives each variant its text (a row whose variant has none gets a
    ``problem``).
    ``store``: the numbers on its do-not-contact list are skipped in the
    estimate as they will be at sending (``do-not-contact: <reason> since
    <date>``); every send through a store skips them whether given or not.

    Compliance (see :mod:`isms_campaigns.compliance`): ``compliance="MY"``
    (the default) checks Malaysian rows against what operators block or
    expect, ``None`` checks nothing; ``prefix="RM0.00 "`` goes before every
    message and counts in its length and credits; ``brand`` is the name each
    message should contain; ``allowed_domains`` the link domains whitelisted
    for the account (their subdomains too). :meth:`checks` lists the findings;
    ``notes`` (what a user must know) begins with them, one sentence each.

    ``number_cache`` (a :class:`NumberCache`) keeps the normalised numbers
    for the next plan of the same contacts.

    ``contacts`` holds, row for row with ``messages``, the contact columns a
    new plan of these recipients needs (the number column, the template
    column, and the columns the template reads): what a send keeps in the
    store for :meth:`Store.follow_up <isms_campaigns.Store.follow_up>` and
    :meth:`Store.export <isms_campaigns.Store.export>`. ``parent`` names the
    campaign a follow-up follows (set by ``store.follow_up``).
    """

    def __init__(
        self,
        name: str,
        contacts: pl.DataFrame | str | Path,
        template: str | Mapping[str, str] | None = None,
        *,
        sender_id: str | None = None,
        number_column: str | None = None,
        region: str = "MY",
        fallbacks: Mapping[str, str] | None = None,
        suppress: Any = None,
        send_later: datetime | str | None = None,
        purpose: str = "marketing",
        window: Sequence[str | time] | str | None = None,
        smart_ascii: bool = False,
        template_column: str | None = None,
        token_columns: Mapping[str, str] | None = None,
        formats: Mapping[str, str] | None = None,
        message_type: int | None = None,
        billing: BillingRule | None = None,
        rate_card: str | Path | None = None,
        store: Store | None = None,
        compliance: str | None = "MY",
        prefix: str | None = None,
        brand: str | None = None,
        allowed_domains: Sequence[str] | str | None = (),
        number_cache: NumberCache | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise PlanError(f"Campaign name must be a non-empty string, not {name!r}.")
        if isinstance(contacts, (str, Path)):
            contacts = read_contacts(contacts, number_column=number_column)
        if not isinstance(contacts, pl.DataFrame):
            raise ContactsError(
                f"contacts must be a polars DataFrame or a file path, not "
                f"{type(contacts).__name__}. Use ic.read_contacts(path) or pl.from_pandas(df)."
            )
        if template is None and template_column is None:
            raise PlanError("Give a template='Hi %name%, …' or a template_column.")
        if isinstance(template, Mapping):
            template = _variant_templates(template, template_column, contacts.columns)
        if template_column is not None and template_column not in contacts.columns:
            raise PlanError(
                f"template_column={template_column!r} is not a column; the columns are "
                f"{contacts.columns}."
            )
        if message_type not in (None, 1, 2):
            raise PlanError(
                f"message_type must be 1 (ASCII), 2 (Unicode) or None, not {message_type!r}."
            )
        billing = billing or BillingRule()
        if rate_card is not None:
            billing = billing.with_rate_card(rate_card)

        self.name = name.strip()
        self.parent: str | None = None
        self.template = template
        self.template_column = template_column
        self.region = region
        self.smart_ascii = smart_ascii
        self.billing = billing
        self.purpose = check_purpose(purpose)
        self.window = Window.parse(window)
        self.settings = _Settings(
            sender_id=_check_sender_id(sender_id),
            send_later=_format_send_later(send_later),
            message_type=message_type,
        )
        self.compliance = Compliance.build(
            compliance, prefix=prefix, brand=brand, allowed_domains=allowed_domains
        )
        self.number_column = number_column or find_number_column(contacts.columns)
        numbers = (
            number_cache.numbers(contacts, self.number_column, region, suppress)
            if number_cache is not None
            else None
        )
        contacts = as_text_numbers(contacts, self.number_column)
        if numbers is None:
            numbers = _normalise(contacts, self.number_column, region, suppress)
        fixed = _fixed_text(template, template_column, contacts.columns, token_columns, smart_ascii)
        self.messages = _plan(
            contacts,
            numbers,
            number_column=self.number_column,
            template=template,
            template_column=template_column,
            fallbacks=fallbacks,
            token_columns=token_columns,
            formats=formats,
            smart_ascii=smart_ascii,
            message_type=message_type,
            billing=billing,
            store=store,
            rules=self.compliance,
            fixed=fixed,
        )
        self.contacts = contacts.select(
            _kept_columns(contacts, self.number_column, template, template_column, token_columns)
        )
        # What plans these recipients again (plan_settings); send_later is not one.
        self._options = {
            "fallbacks": dict(fallbacks) if fallbacks else None,
            "token_columns": dict(token_columns) if token_columns else None,
            "formats": dict(formats) if formats else None,
        }
        self._findings = self.compliance.findings(self.messages, billing, message_type, fixed)
        self._plan_notes = self._notes()
        # What a user must know: the findings first, as sentences, then the rest.
        self.notes = [*_finding_sentences(self._findings), *self._plan_notes]

    # -- what a campaign manager asks first ---------------------------------

    @property
    def sendable(self) -> pl.DataFrame:
        """The rows that will be sent."""
        return self.messages.filter(pl.col("problem").is_null())

    @property
    def credits(self) -> int:
        """Total credits the sendable rows will cost."""
        return int(self.messages["credits"].sum() or 0)

    @property
    def cost(self) -> float | None:
        """Total cost in RM, when the billing rule has a price per credit."""
        return cost_rm(self.credits, self.billing.price_per_credit)

    @property
    def variants(self) -> list[str]:
        """The A/B variant labels of the messages, in order of first row ([] without)."""
        if VARIANT not in self.messages.columns:
            return []
        return self.messages[VARIANT].drop_nulls().unique(maintain_order=True).to_list()

    @property
    def scheduled(self) -> datetime | None:
        """When the gateway is to send it (``send_later``, Malaysian time), or None: at once."""
        later = self.settings.send_later
        return None if later is None else stored_send_later(later)

    def rescheduled(self, send_later: datetime | str | None) -> Campaign:
        """The same plan, sent at ``send_later`` instead (None: at once)."""
        other = copy.copy(self)
        other.settings = replace(self.settings, send_later=_format_send_later(send_later))
        other.notes = other._notes()
        return other

    def plan_settings(self) -> dict[str, Any]:
        """The keywords that plan recipients as this campaign did, as JSON values
        (what the store keeps with each plan; ``send_later`` and ``suppress`` are not
        kept: a follow-up goes out when it is sent, and the store's do-not-contact
        list applies to every send). :meth:`from_settings` reads them back."""
        c = self.compliance
        return {
            "template": self.template,
            "template_column": self.template_column,
            "number_column": self.number_column,
            "region": self.region,
            "sender_id": self.settings.sender_id,
            "message_type": self.settings.message_type,
            "smart_ascii": self.smart_ascii,
            "purpose": self.purpose,
            "window": [self.window.start.isoformat(), self.window.end.isoformat()],
            "compliance": c.country,
            "prefix": c.prefix,
            "brand": c.brand,
            "allowed_domains": list(c.allowed_domains),
            "billing": asdict(self.billing),
            **self._options,
        }

    @classmethod
    def from_settings(
        cls, name: str, contacts: pl.DataFrame, settings: Mapping[str, Any], **overrides: Any
    ) -> Campaign:
        """A campaign of ``contacts`` planned with ``settings`` (from :meth:`plan_settings`),
        any keyword of ``Campaign`` in ``overrides`` taking precedence."""
        options = {**settings, **overrides}
        if isinstance(billing := options.get("billing"), Mapping):  # JSON keys are text
            rates = {int(code): rate for code, rate in billing["rates"].items()}
            options["billing"] = BillingRule(**{**billing, "rates": rates})
        return cls(name, contacts, **options)

    def unicode_characters(self) -> pl.DataFrame:
        """The characters that made sendable rows Unicode: rows each, and its ASCII twin."""
        chars = (
            self.sendable.filter(pl.col("type") == 2)
            .select(char=non_ascii_expr(pl.col("msg")).str.split(""))
            .explode("char")
            .filter(pl.col("char").is_not_null() & (pl.col("char") != ""))
            .group_by("char")
            .agg(rows=pl.len())
        )
        twin = pl.col("char").replace_strict(SMART_ASCII, default=None, return_dtype=pl.String)
        # The fixable ones (with an ASCII twin) first: they are what to act on.
        return chars.with_columns(ascii_twin=twin).sort(
            [pl.col("ascii_twin").is_null(), "rows", "char"], descending=[False, True, False]
        )

    def smart_ascii_saving(self) -> int:
        """Credits that ``smart_ascii=True`` would save (0 once it is on)."""
        unicode_rows = self.sendable.filter(pl.col("type") == 2)
        if self.smart_ascii or unicode_rows.is_empty():
            return 0
        fixed = encode(
            unicode_rows.select(msg=smart_ascii_expr(pl.col("msg"))),
            self.billing,
            self.settings.message_type,
        )
        rate = unicode_rows["credits"] // unicode_rows["parts"]
        return int(((unicode_rows["parts"] - fixed["parts"]) * rate).sum())

    def checks(self) -> pl.DataFrame:
        """Compliance findings, problems first: ``rule, severity, rows, example, what_to_do``.

        ``severity`` is ``problem`` (those rows are not sent), ``warning`` (sent,
        but operators may block them) or ``note``. Empty with ``compliance=None``.
        """
        return self._findings

    def summary(self) -> pl.DataFrame:
        """Recipients, sendable, by type, skipped by reason: rows, credits, cost."""
        m = self.messages
        sendable = pl.col("problem").is_null()
        rows = [
            ("recipients", pl.len(), pl.col("credits").sum()),
            ("sendable", sendable.sum(), pl.col("credits").sum()),
            (
                "type 1 (ASCII)",
                (sendable & (pl.col("type") == 1)).sum(),
                pl.col("credits").filter(pl.col("type") == 1).sum(),
            ),
            (
                "type 2 (Unicode)",
                (sendable & (pl.col("type") == 2)).sum(),
                pl.col("credits").filter(pl.col("type") == 2).sum(),
            ),
        ]
        head = pl.concat(
            [
                m.select(item=pl.lit(n), rows=r.cast(pl.Int64), credits=c.cast(pl.Int64))
                for n, r, c in rows
            ]
        )
        skipped = (
            m.filter(~sendable)
            .group_by("problem")
            .agg(rows=pl.len().cast(pl.Int64))
            .sort(["rows", "problem"], descending=[True, False])
            .select(item="skipped: " + pl.col("problem"), rows="rows", credits=pl.lit(0, pl.Int64))
        )
        out = pl.concat([head, skipped]).with_columns(pl.col("credits").fill_null(0))
        price = self.billing.price_per_credit
        return out.with_columns(
            cost_rm=None if price is None else (pl.col("credits") * price).round(2)
        )

    # -- sending ----------------------------------------------------------------

    def send(
        self,
        gateway: Gateway,
        store: Store,
        *,
        amend: bool = False,
        allow_repeats: bool = False,
        concurrency: int = 4,
        dry_run: bool = False,
        test_numbers: Sequence[str] | None = None,
        requests_per_second: float | None = None,
        check_balance: bool = True,
        progress: bool = True,
        window: Sequence[str | time] | str | None = None,
        max_per_number: tuple[int, str | timedelta] | str | None = None,
    ) -> SendReport:
        """Send the sendable rows in 50-number requests, recording everything in ``store``.

        Call it again to resume: what was sent is skipped, requests that may
        have gone out (``unknown``) are never sent again on their own. Stops
        on account problems (credits, IP, password, terms) with what to do.
        One send per campaign at a time: a second one (another thread, cell
        or panel) raises :class:`SendError` and sends nothing.

        A campaign re-planned under the same name: if nothing has gone out
        the new plan replaces the old; once something has, a different plan
        raises :class:`PlanChanged` unless ``amend=True``, which sends the new
        plan to the recipients not yet sent under that name. A number sent
        the same text by another campaign in the last 7 days is skipped
        unless ``allow_repeats=True``.

        ``dry_run=True`` returns the exact request payloads (password
        ``***``) and sends nothing. ``test_numbers=[…]`` sends the first
        message of each type (or A/B variant) to those numbers only, recorded
        as a test campaign. ``check_balance=False`` skips the balance check.
        ``requests_per_second`` caps the request rate. Ctrl-C (or a kernel
        interrupt) stops cleanly: the requests in flight finish and are kept.

        A marketing campaign goes out only inside its window (``window=``
        here overrides the campaign's): outside it nothing is sent and the
        report says when it opens; at its end the send stops as Stop does,
        the rest ``planned`` for the next send. With ``send_later``, the
        window is checked against the scheduled time instead.
        ``max_per_number=(1, "24h")`` skips numbers that any other campaign
        of the store sent (or may have sent) that many messages within the
        period, with the reason.
        """
        from .send import send_campaign

        return send_campaign(
            self,
            gateway,
            store,
            amend=amend,
            allow_repeats=allow_repeats,
            concurrency=concurrency,
            dry_run=dry_run,
            test_numbers=test_numbers,
            requests_per_second=requests_per_second,
            check_balance=check_balance,
            progress=progress,
            window=None if window is None else Window.parse(window),
            max_per_number=None if max_per_number is None else FrequencyCap.parse(max_per_number),
        )

    def _notes(self) -> list[str]:
        notes = []
        m = self.messages
        if self.settings.sender_id and (m["country"] == "MY").any():
            notes.append(
                f"Sender ID {self.settings.sender_id!r}: iSMS does not support sender IDs for "
                f"Malaysian numbers; those recipients see the default sender."
            )
        later = self.scheduled
        if later is not None and self.purpose == "marketing" and not self.window.contains(later):
            notes.append(self.window.refusal(later, later))
        listed = int(m["problem"].str.starts_with(DO_NOT_CONTACT).sum())
        if listed:
            notes.append(
                f"{listed:,} recipients are on the store's do-not-contact list: skipped "
                f"(store.unsuppress takes a number off, with the reason)."
            )
        unknown_rate = m.filter(pl.col("problem").str.starts_with("no rate"))
        if unknown_rate.height:
            notes.append(
                "Some countries have no rate: give a rate card with your account's credits "
                "per SMS for them (data/rate_card.csv is an example)."
            )
        return notes

    # -- display ------------------------------------------------------------

    def __repr__(self) -> str:
        n, ok = self.messages.height, self.sendable.height
        head = (
            f"<Campaign {self.name!r}: {n} rows, {ok} sendable, {n - ok} skipped, "
            f"{self.credits} credits>"
        )
        return "\n".join([head, *_finding_sentences(self._findings)])

    def _repr_html_(self) -> str:
        return _campaign_html(self)


# --------------------------------------------------------------------------
# Planning: one lazy query over the contacts
# --------------------------------------------------------------------------


def _fixed_text(
    template: str | Mapping[str, str] | None,
    template_column: str | None,
    columns: Sequence[str],
    token_columns: Mapping[str, str] | None,
    smart_ascii: bool,
) -> list[str]:
    """The template's own text as every message holds it (when every row uses it):
    compliance rules it matches are not looked for in each message."""
    if not isinstance(template, str) or template_column is not None:
        return []
    text = pl.DataFrame({"msg": literal_text(template, columns, token_columns)}, {"msg": pl.String})
    return text.select(smart_ascii_expr(pl.col("msg")) if smart_ascii else "msg")["msg"].to_list()


def _plan(
    contacts: pl.DataFrame,
    numbers: pl.DataFrame,
    *,
    number_column: str,
    template: str | Mapping[str, str] | None,
    template_column: str | None,
    fallbacks: Mapping[str, str] | None,
    token_columns: Mapping[str, str] | None,
    formats: Mapping[str, str] | None,
    smart_ascii: bool,
    message_type: int | None,
    billing: BillingRule,
    rules: Compliance,
    fixed: Sequence[str] = (),
    store: Store | None = None,
) -> pl.DataFrame:
    """The messages of ``contacts``, given their numbers normalised (``_normalise``)."""
    listed = pl.lit(None, pl.String)
    if store is not None:  # the store's do-not-contact list, as the send will apply it
        numbers = numbers.with_columns(do_not_contact=store.do_not_contact(numbers["dstno"]))
        listed = pl.col("__do_not_contact")
    variant = None
    if VARIANT in contacts.columns:
        variant = contacts[VARIANT].cast(pl.String)
        numbers = numbers.with_columns(variant=variant)
    numbers = numbers.rename(lambda c: f"__{c}")
    source, variant_problem = contacts, pl.lit(None, pl.String)
    if isinstance(template, Mapping):  # each row the text of its variant
        assert variant is not None  # checked by _variant_templates
        for label, text in template.items():  # the caller's own texts: their errors raise
            try:
                render(contacts.head(0), text, token_columns=token_columns, formats=formats)
            except TemplateError as exc:
                raise TemplateError(f"The template of variant {label!r}: {exc}") from None
        texts = variant.replace_strict(template, default=None, return_dtype=pl.String)
        source = contacts.with_columns(texts.alias(_VARIANT_TEMPLATE))
        named = ", ".join(map(repr, template))
        variant_problem = (
            pl.when(pl.col("variant").is_null())
            .then(pl.lit(f"no variant (the templates are for {named})"))
            .when(~pl.col("variant").is_in(list(template)))
            .then(pl.format("no template for variant '{}'", pl.col("variant")))
        )
        template, template_column = None, _VARIANT_TEMPLATE
    rendered = render(
        source,
        template,
        template_column=template_column,
        fallbacks=fallbacks,
        token_columns=token_columns,
        formats=formats,
        number=numbers["__dstno"],
        columns=contacts.columns,
    ).rename(lambda c: f"__{c}")
    # Our own columns live under a prefix that contact columns do not use.
    ours = [*numbers.columns, *rendered.columns]
    if clash := [c for c in ours if c in contacts.columns]:
        raise ContactsError(
            f"Column {clash[0]!r} has the name of a column isms_campaigns adds while "
            f"planning ({', '.join(ours)}): rename it in the contacts."
        )
    work = pl.concat([contacts, numbers, rendered], how="horizontal")
    columns = contacts.columns
    number = pl.col("__dstno")
    msg, warning, control = pl.col("__msg"), pl.col("__warning"), pl.col("__control")
    if smart_ascii:
        msg = smart_ascii_expr(msg)
    msg = rules.with_prefix(msg)

    rates = billing.rates
    rate = pl.col("country_code").replace_strict(rates, default=None, return_dtype=pl.Int64)
    planned = encode(
        work.lazy().select(
            row=pl.int_range(pl.len(), dtype=pl.UInt32),
            number=pl.col(number_column),
            dstno=number,
            country=pl.col("__country"),
            country_code=pl.col("__country_code"),
            operator=pl.col("__operator"),
            number_problem=pl.col("__number_problem"),
            do_not_contact=listed,
            msg=msg,
            warning=warning,
            control=control,
            render_problem=pl.col("__problem"),
            variant=pl.lit(None, pl.String) if variant is None else pl.col("__variant"),
        ),
        billing,
        message_type,
    )
    planned = (
        rules.check(
            planned.with_columns(warning=finish_warnings(pl.col("warning")), rate=rate), fixed
        )
        .with_columns(
            problem=pl.coalesce(
                pl.col("number_problem"),
                pl.col("do_not_contact"),
                variant_problem,
                pl.col("render_problem"),
                leftover_problem(pl.col("msg"), columns, token_columns),
                message_problem(
                    pl.col("msg"), pl.col("length"), pl.col("control"), billing, message_type
                ),
                pl.col("compliance_problem"),
                pl.when(pl.col("rate").is_null()).then(
                    pl.format("no rate for +{} in the rate card", pl.col("country_code"))
                ),
            )
        )
        # A number is planned once, on its first row that can be sent: a
        # first row with a problem of its own (a control character, …) must
        # not leave the person without their message.
        .with_columns(
            sendable_key=pl.when(pl.col("problem").is_null()).then(
                pl.col("dstno").str.to_integer(strict=False)
            )
        )
        .with_columns(
            problem=pl.coalesce(
                "problem",
                pl.when(
                    pl.col("sendable_key").is_not_null()
                    & ~pl.col("sendable_key").is_first_distinct()
                ).then(pl.lit(DUPLICATE)),
            )
        )
        .with_columns(
            credits=pl.when(pl.col("problem").is_null()).then(pl.col("parts") * pl.col("rate"))
        )
    )
    extra = [VARIANT] if variant is not None else []
    return planned.select(*MESSAGE_COLUMNS, *extra).collect()


def _kept_columns(
    contacts: pl.DataFrame,
    number_column: str,
    template: str | Mapping[str, str] | None,
    template_column: str | None,
    token_columns: Mapping[str, str] | None,
) -> list[str]:
    """The contact columns a new plan of these rows needs, in the contacts' order: the
    number column, the template column, the variant and every column a token of the
    templates reads.

    Every text between two ``%`` that has a token's shape is looked up as a token
    would be (vectorised over the distinct pieces): a column is kept when in
    doubt, never dropped.
    """
    own = [template] if isinstance(template, str) else list((template or {}).values())
    texts = [pl.Series(own, dtype=pl.String)]
    if template_column is not None:
        texts.append(contacts[template_column].cast(pl.String))
    keep = {number_column, template_column, VARIANT}
    resolver = Resolver(contacts.columns, token_columns)
    pieces = pl.concat(texts).str.split("%").explode()
    # Cheap first: a million texts of their own have millions of pieces, few token-shaped.
    shaped = pieces.str.contains(f"^(?:{TOKEN_NAME})$") | pieces.str.to_lowercase().is_in(
        sorted(resolver.names)
    )
    codes = resolver.codes(pieces.filter(shaped).unique())
    keep |= {contacts.columns[i] for i in codes.filter(codes >= 0).unique()}
    return [c for c in contacts.columns if c in keep]


# The column holding each row's variant text while planning with template={…}.
_VARIANT_TEMPLATE = "__variant_template"


def _variant_templates(
    templates: Mapping[str, str], template_column: str | None, columns: Sequence[str]
) -> dict[str, str]:
    """``template={variant: text}`` checked: the contacts have variants, each text renders."""
    if template_column is not None:
        raise PlanError(
            "Give template={variant: text} or template_column=, not both: each row's text "
            "would come from two places."
        )
    if VARIANT not in columns:
        raise PlanError(
            f"template={{variant: text}} needs a {VARIANT!r} column in the contacts to say "
            f"each row's variant: contacts = ic.split(contacts, {{'A': 0.5, 'B': 0.5}}, seed=1)."
        )
    if not templates:
        raise PlanError("template={} names no variant: give {'A': 'text', 'B': 'text'}.")
    checked: dict[str, str] = {}
    for label, text in templates.items():
        if not isinstance(label, str) or not isinstance(text, str) or not text.strip():
            raise PlanError(
                f"template={{variant: text}} takes text for each variant label, not "
                f"{label!r}: {text!r}."
            )
        checked[label] = text
    return checked


def _finding_sentences(findings: pl.DataFrame) -> list[str]:
    """Each finding as one line of text."""
    return [
        f"{severity}: {rule} ({rows:,} rows): {what}"
        for rule, severity, rows, _, what in findings.rows()
    ]


def _check_sender_id(sender_id: str | None) -> str | None:
    if sender_id is None or sender_id == "":
        return None
    if not re.fullmatch(r"[A-Za-z0-9]{1,11}", sender_id):
        raise PlanError(
            f"Sender ID {sender_id!r} is not allowed: iSMS takes at most 11 letters or "
            f"digits, no spaces or symbols (e.g. 'MyShop')."
        )
    return sender_id


def _format_send_later(when: datetime | str | None) -> str | None:
    """The gateway's ``sendlater``: Malaysian time, as iSMS's own panel writes it."""
    if when is None or (isinstance(when, str) and not when.strip()):
        return None
    return malaysian_time(when).strftime(SEND_LATER_FORMAT)


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------


def _campaign_html(camp: Campaign) -> str:
    m = camp.messages
    ok = camp.sendable
    parts = [
        STYLE,
        f'<div class="icamp"><h3>Campaign {html.escape(camp.name)}</h3>',
    ]
    findings = camp.checks()
    if findings.height:  # first: what to fix before sending
        parts.append(
            "<b>Check first</b>"
            + table(
                ["severity", "rule", "rows", "example", "what to do"],
                findings.select("severity", "rule", "rows", "example", "what_to_do").rows(),
            )
        )
    parts.append(cards_html(campaign_cards(camp)))
    parts.append(notes_html(camp._plan_notes))

    skipped = (
        m.filter(pl.col("problem").is_not_null())
        .group_by("problem")
        .len()
        .sort("len", descending=True)
    )
    types = ok.group_by("type").agg(rows=pl.len(), credits=pl.col("credits").sum()).sort("type")
    per_recipient = ok.group_by("credits").len().sort("credits")
    parts.append('<div class="flex">')
    parts.append(
        "<div><b>Skipped, by reason</b>"
        + (table(["reason", "rows"], skipped.rows()) if skipped.height else "<p>none</p>")
        + "</div>"
    )
    type_names = {1: "1 ASCII", 2: "2 Unicode"}
    parts.append(
        "<div><b>Type mix</b>"
        + table(["type", "rows", "credits"], [(type_names[t], r, c) for t, r, c in types.rows()])
        + "</div>"
    )
    parts.append(
        "<div><b>Credits per recipient</b>"
        + table(["credits", "recipients"], per_recipient.rows())
        + "</div>"
    )
    chars = camp.unicode_characters()
    if chars.height:
        saving = camp.smart_ascii_saving()
        fix = f"smart_ascii=True saves {saving:,} credits" if saving else ""
        parts.append(
            "<div><b>Characters that forced Unicode</b>"
            + unicode_table(chars)
            + (f'<p class="note">{fix}</p>' if fix else "")
            + "</div>"
        )
    parts.append("</div>")
    preview = ok.head(5).select("dstno", "msg", "type", "credits").rows()
    parts.append("<b>Preview</b>" + table(["dstno", "message", "type", "credits"], preview))
    parts.append("</div>")
    return "".join(parts)

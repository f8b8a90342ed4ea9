"""Notebook widgets: plan a campaign, send it, and watch how it went.

Three ipywidgets containers, thin shells over the library:

- :class:`Composer` — a template editor over a contact list, with the live
  estimate of :class:`~isms_campaigns.Campaign` (preview, type mix, credits,
  the characters forcing Unicode and a one-click smart-ASCII fix, problems).
  ``composer.campaign`` is the plan to send.
- :class:`SendPanel` — the estimate against the balance, an explicit
  confirmation, Send (or Resume) and Stop, live progress, the
  :class:`~isms_campaigns.SendReport` at the end.
- :class:`Dashboard` — delivery analytics over a store: campaigns, group-by,
  date, a DLR import, the summary table and the figures of
  :mod:`isms_campaigns.plots`, refreshed together.

Each widget recomputes off the kernel's thread after a short quiet period
(``delay`` seconds, debounced), so typing over 100,000 contacts stays
responsive; ``delay=0`` recomputes at once and ``flush()`` runs a pending
recomputation now (tests use both). Errors show in the widget, as the
library words them, never as a traceback.

>>> import polars as pl
>>> contacts = pl.DataFrame({"phone": ["012-345 6789"], "name": ["Ali"]})
>>> composer = Composer(contacts, name="hello", template="Hi %name%", delay=0)
>>> composer.campaign.messages["msg"].to_list()
['Hi Ali']
"""

from __future__ import annotations

import html
import inspect
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets as widgets
import polars as pl
import traitlets

from . import analytics, plots
from ._html import STYLE, campaign_cards, cards_html, div, frame_table, table, unicode_table
from .analytics import (
    DEFAULT_TIME_ZONE,
    DELIVERED_NOTE,
    DIMENSION_LABELS,
    DIMENSIONS,
    MIN_GROUP,
    breakdown,
    delivery_summary,
    readable_summary,
)
from .campaign import Campaign, NumberCache
from .contacts import read_contacts
from .errors import IsmsError, PlanError, TemplateError
from .money import ringgit_text
from .render import ISMS_TOKENS, Resolver
from .schedule import FrequencyCap
from .send import outlook, send_campaign, when_it_goes_out
from .store import Store

if TYPE_CHECKING:
    from .gateway.client import Gateway
    from .send import Sender, SendReport

__all__ = ["Composer", "Dashboard", "SendPanel", "TemplateEditor"]

DELAY = 0.3  # seconds of quiet before recomputing


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


class _Debounced:
    """Run ``fn`` once, ``delay`` seconds after the last :meth:`trigger`.

    The run happens on a timer thread; :meth:`flush` runs a pending call now
    (and waits for one in progress), so readers never see a stale result.
    ``delay <= 0`` runs at once on the caller's thread.
    """

    def __init__(self, fn: Callable[[], None], delay: float) -> None:
        self._fn = fn
        self.delay = delay
        self._lock = threading.Lock()  # guards _timer and _pending
        self._running = threading.Lock()  # one run at a time
        self._timer: threading.Timer | None = None
        self._pending = False

    @property
    def pending(self) -> bool:
        return self._pending

    def trigger(self) -> None:
        with self._lock:
            self._pending = True
            self._stop_timer()
            if self.delay > 0:
                self._timer = threading.Timer(self.delay, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if self.delay <= 0:
            self.flush()

    def flush(self) -> None:
        with self._running:
            with self._lock:
                self._stop_timer()
                pending, self._pending = self._pending, False
            if pending:
                self._fn()

    def cancel(self) -> None:
        with self._lock:
            self._stop_timer()
            self._pending = False

    def _stop_timer(self) -> None:  # with _lock held
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _error(message: str) -> str:
    return div(f'<p class="err">{html.escape(message)}</p>')


def _unexpected(exc: Exception) -> str:
    """An error of ours as the library words it; anything else with its type."""
    if isinstance(exc, IsmsError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _figure_output(figure: Any) -> dict[str, Any]:
    """A plotly figure as an output of an ``Output`` widget (plotly's own mimetype)."""
    title = (figure.layout.title.text or "figure").split("<br>")[0]
    return {
        "output_type": "display_data",
        "data": {
            "application/vnd.plotly.v1+json": json.loads(figure.to_json()),
            "text/plain": f"<plotly figure: {title}>",
        },
        "metadata": {},
    }


def _name_parts(widget: Any, name: str, **parts: Any) -> None:
    """CSS classes a page (and the browser tests) can find: isms-NAME, isms-NAME-PART."""
    widget.add_class(f"isms-{name}")
    for part, child in parts.items():
        child.add_class(f"isms-{name}-{part.replace('_', '-')}")


def _hide(widget: Any, hidden: bool) -> None:
    widget.layout.display = "none" if hidden else None


@contextmanager
def _cursor(store: Store) -> Iterator[Store]:
    """The store through a cursor of its own: widgets work off the kernel's thread."""
    twin = store.cursor()
    try:
        yield twin
    finally:
        twin.close()


# --------------------------------------------------------------------------
# Composer
# --------------------------------------------------------------------------


class Composer(widgets.VBox):  # type: ignore[misc]
    """Write a template over a contact list and see the campaign it makes.

    ``Composer(contacts, name="nov-promo", template="Hi %name%", fallbacks=…)``:
    every keyword of :class:`~isms_campaigns.Campaign` is accepted; the
    template, sender ID, send-later time (Malaysian time, empty: at once)
    and smart-ASCII switch are the widget's own fields.
    ``composer.campaign`` is the current plan (``None`` while the template or
    a setting is in error, the reason in ``composer.error``). An edit
    re-renders the messages; the numbers are normalised again only when
    ``composer.contacts`` is given another frame.
    """

    def __init__(
        self,
        contacts: pl.DataFrame | str | Path,
        *,
        name: str = "draft",
        template: str = "",
        sender_id: str | None = None,
        send_later: str | None = None,
        smart_ascii: bool = False,
        delay: float = DELAY,
        preview_rows: int = 5,
        **campaign_kwargs: Any,
    ) -> None:
        # Fail now, not in a timer thread, on a keyword Campaign does not take.
        inspect.signature(Campaign).bind_partial(name, contacts, **campaign_kwargs)
        if isinstance(contacts, (str, Path)):
            contacts = read_contacts(contacts, number_column=campaign_kwargs.get("number_column"))
        self.contacts = contacts
        self.campaign_kwargs = campaign_kwargs
        self._numbers = NumberCache()  # one normalisation for every edit
        self.preview_rows = preview_rows
        self._campaign: Campaign | None = None
        self._error: str | None = None
        self._saving: tuple[str, int] = ("", 0)  # (template, credits smart ASCII saves)

        full = widgets.Layout(width="100%")
        self.name = widgets.Text(value=name, description="Campaign", continuous_update=True)
        self.template = TemplateEditor(
            value=template, placeholder="Hi %name%, your order %order_id% is ready"
        )
        self.sender_id = widgets.Text(
            value=sender_id or "",
            description="Sender ID",
            placeholder="optional, ≤ 11 letters/digits",
            continuous_update=True,
        )
        self.send_later = _send_later_field(send_later)
        self.smart_ascii = widgets.Checkbox(
            value=smart_ascii,
            description="Smart ASCII (curly quotes, dashes … → ASCII)",
            indent=False,
            layout=widgets.Layout(width="auto"),
        )
        self.token_buttons = {
            token: widgets.Button(
                description=f"%{token}%",
                tooltip=f"Insert %{token}%",
                layout=widgets.Layout(width="auto"),
            )
            for token in self.tokens()
        }
        for token, button in self.token_buttons.items():
            button.on_click(lambda _, token=token: self.insert_token(token))
        self.fix_button = widgets.Button(
            description="Use smart ASCII", button_style="success", icon="magic"
        )
        self.fix_button.on_click(lambda _: setattr(self.smart_ascii, "value", True))
        _hide(self.fix_button, True)

        self.status = widgets.HTML()
        gap = widgets.Layout(margin="0 24px 0 0")
        self.stats = widgets.HTML(layout=gap)
        self.histogram = widgets.HTML()
        self.preview = widgets.HTML(layout=full)
        self.unicode = widgets.HTML()
        self.problems = widgets.HTML()

        super().__init__(
            [
                widgets.HTML(STYLE),
                widgets.HBox([self.name, self.sender_id, self.send_later, self.smart_ascii]),
                self.template,
                widgets.HBox(
                    list(self.token_buttons.values()),
                    layout=widgets.Layout(flex_flow="row wrap"),
                ),
                self.status,
                widgets.HBox([self.stats, self.histogram]),
                self.preview,
                widgets.HBox(
                    [widgets.VBox([self.unicode, self.fix_button], layout=gap), self.problems]
                ),
            ]
        )
        _name_parts(
            self,
            "composer",
            stats=self.stats,
            preview=self.preview,
            status=self.status,
            tokens=self.children[3],
        )
        self._recompute = _Debounced(self._plan, delay)
        for field in (self.name, self.template, self.sender_id, self.send_later, self.smart_ascii):
            field.observe(self._changed, names="value")
        self._recompute.trigger()
        self._recompute.flush()  # the first plan shows at once

    # -- what a notebook reads ---------------------------------------------------

    @property
    def campaign(self) -> Campaign | None:
        """The campaign the fields describe now (pending edits applied first)."""
        self.flush()
        return self._campaign

    @property
    def error(self) -> str | None:
        """Why there is no campaign: the TemplateError/PlanError message, or None."""
        self.flush()
        return self._error

    def tokens(self) -> list[str]:
        """The tokens a template may use: iSMS tokens that resolve, then every other
        column, each spelled as a token that reads it (``Order ID``, or
        ``disc`` for a column ``Disc %``); a column no token can read is left out."""
        try:
            resolver = Resolver(self.contacts.columns, self.campaign_kwargs.get("token_columns"))
        except TemplateError:  # a bad mapping: the plan says so
            resolver = Resolver(self.contacts.columns)
        tokens, covered = [], set()
        for token in ISMS_TOKENS:
            found = resolver.outcome(token)
            if isinstance(found, list) or found == "":
                continue
            tokens.append(token)
            covered.add(found)
        spelled = resolver.spellings()
        for spelling, column in spelled.items():
            if column not in covered and spelling not in tokens:
                tokens.append(spelling)
                covered.add(column)
        return tokens

    def insert_token(self, token: str) -> None:
        """Put ``%token%`` at the template's cursor (in place of selected text), the
        cursor after it; at the end while the browser has not said where the cursor is.
        A space keeps it apart from the word or token before and the word after."""
        text = self.template.value
        start, end = self.template.selection or (len(text), len(text))
        before, after = text[: min(start, len(text))], text[min(end, len(text)) :]
        if before and not before[-1].isspace() and before[-1] not in OPENERS:
            before += " "
        if after[:1].isalnum() or after[:1] == "%":  # a word, or the next token
            after = " " + after
        before += f"%{token}%"
        with self.template.hold_sync():  # one message: the text and where the cursor goes
            self.template.value = before + after
            self.template.selection = [len(before), len(before)]

    def flush(self) -> None:
        """Recompute now if an edit is waiting for the quiet period."""
        self._recompute.flush()

    def close(self) -> None:
        recompute = getattr(self, "_recompute", None)  # None when __init__ failed early
        if recompute is not None:
            recompute.cancel()
        super().close()

    # -- recomputing ------------------------------------------------------------

    def _changed(self, change: dict[str, Any]) -> None:
        self.status.value = div('<p class="muted">updating…</p>')
        self._recompute.trigger()

    def _plan(self) -> None:
        template = self.template.value
        try:
            camp = Campaign(
                self.name.value,
                self.contacts,
                template=template,
                sender_id=self.sender_id.value.strip() or None,
                send_later=self.send_later.value.strip() or None,
                smart_ascii=self.smart_ascii.value,
                **{"number_cache": self._numbers, **self.campaign_kwargs},
            )
            if not camp.smart_ascii:
                self._saving = (template, camp.smart_ascii_saving())
        except Exception as exc:  # shown in the widget; the last good plan stays on screen
            self._campaign, self._error = None, _unexpected(exc)
            self.status.value = _error(self._error)
            _hide(self.fix_button, True)
            return
        self._campaign, self._error = camp, None
        try:
            self._show(camp, template)
        except Exception as exc:  # our bug, but on a timer thread: say it where it is seen
            self.status.value = _error(f"Could not show the plan: {_unexpected(exc)}")

    def _show(self, camp: Campaign, template: str) -> None:
        m, ok = camp.messages, camp.sendable
        notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in camp.notes)
        hint = "" if template.strip() else '<p class="muted">Write the message above.</p>'
        self.status.value = div(hint, notes)

        summary = camp.summary()
        if summary["cost_rm"].null_count() == summary.height:
            summary = summary.drop("cost_rm")
        else:  # as the card above it says it: RM 26.00
            summary = summary.with_columns(ringgit_text(pl.col("cost_rm")).alias("cost_rm"))
        self.stats.value = div(
            cards_html(campaign_cards(camp)),
            table(summary.columns, summary.rows()),
        )
        self.histogram.value = _histogram(ok)

        preview = (ok if ok.height else m).head(self.preview_rows)
        columns = ["dstno", "msg", "type", "length", "parts", "credits", "warning", "problem"]
        self.preview.value = div(
            "<b>Preview</b>",
            '<div class="pre">',
            table(
                ["dstno", "message", "type", "length", "parts", "credits", "warning", "problem"],
                preview.select(columns).rows(),
            ),
            "</div>",
        )
        self._show_unicode(camp, template)
        self.problems.value = _problems(m)

    def _show_unicode(self, camp: Campaign, template: str) -> None:
        chars = camp.unicode_characters()
        saving = self._saving[1] if self._saving[0] == template else 0
        if camp.smart_ascii:
            note = (
                f'<p class="ok">Smart ASCII is on: it saves {saving:,} credits.</p>'
                if saving
                else '<p class="muted">Smart ASCII is on.</p>'
            )
        elif saving:
            note = f'<p class="note">Smart ASCII would save {saving:,} credits.</p>'
        else:
            note = ""
        fixable = bool(chars["ascii_twin"].is_not_null().any())
        self.fix_button.description = (
            f"Use smart ASCII: save {saving:,} credits" if saving else "Use smart ASCII"
        )
        _hide(self.fix_button, camp.smart_ascii or not fixable)
        if not chars.height:
            self.unicode.value = div("<b>Characters that force Unicode</b><p>none</p>", note)
            return
        self.unicode.value = div(
            "<b>Characters that force Unicode</b>",
            unicode_table(chars),
            note,
        )


# A token typed after one of these needs no space before it.
OPENERS = "([{<'\"‘“"

# The editor's front end. Positions travel in characters (code points), as
# Python counts them; a JS string counts UTF-16 units, which differ after an emoji.
_TEMPLATE_EDITOR_JS = """
const points = (text, units) => Array.from(text.slice(0, units)).length;
const units = (text, points) => Array.from(text).slice(0, points).join("").length;

function render({ model, el }) {
  const area = document.createElement("textarea");
  area.className = "isms-template";
  area.placeholder = model.get("placeholder");
  area.value = model.get("value");
  const selection = () => [
    points(area.value, area.selectionStart),
    points(area.value, area.selectionEnd),
  ];
  const send = (typed) => {
    const now = selection(), known = model.get("selection");
    if (!typed && known.length === 2 && known[0] === now[0] && known[1] === now[1]) return;
    if (typed) model.set("value", area.value);
    model.set("selection", now);
    model.save_changes();
  };
  area.addEventListener("input", () => send(true));
  for (const moved of ["select", "keyup", "mouseup", "focus"]) {
    area.addEventListener(moved, () => send(false));
  }
  const shown = () => {  // the kernel changed the text or the cursor (a token went in)
    const text = model.get("value");
    if (area.value !== text) area.value = text;
    const [start, end] = model.get("selection");
    if (start === undefined) return;
    const now = selection();
    if (now[0] !== start || now[1] !== end) {
      area.setSelectionRange(units(text, start), units(text, end));
      area.focus();  // after: focusing reports the cursor
    }
  };
  model.on("change:value", shown);
  model.on("change:selection", shown);
  el.appendChild(area);
}
export default { render };
"""


class TemplateEditor(anywidget.AnyWidget):
    """The Composer's template box: a text area that tells the kernel where its cursor is.

    ``value`` is the text, sent on every keystroke; ``selection`` is the
    cursor as ``[start, end]`` in characters (equal when nothing is
    selected), empty until the browser has said. Setting either from Python
    updates the box.
    """

    _esm = _TEMPLATE_EDITOR_JS
    _css = (
        ".isms-template{width:100%;min-height:90px;box-sizing:border-box;"
        "font:inherit;padding:4px 6px;resize:vertical}"
    )
    value = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    selection = traitlets.List(traitlets.Int(), maxlen=2).tag(sync=True)

    def __init__(self, value: str = "", placeholder: str = "") -> None:
        super().__init__(value=value, placeholder=placeholder)
        self.layout.width = "100%"


def _send_later_field(value: object) -> widgets.Text:
    return widgets.Text(
        value="" if value is None else str(value),
        description="Send later",
        placeholder="YYYY-MM-DD HH:MM Malaysian time; empty: now",
        continuous_update=False,  # a half-typed time is no time
    )


def _histogram(sendable: pl.DataFrame) -> str:
    counts = sendable.group_by("credits").len().sort("credits")
    if not counts.height:
        return div("<b>Credits per recipient</b><p>no sendable message</p>")
    top = int(counts["len"].max())  # type: ignore[arg-type]
    cells = counts.select(
        pl.format(
            '<span>{}</span><span class="bar" style="width:{}%"></span><span class="n">{}</span>',
            pl.col("credits"),
            (pl.col("len") * 100 / top).round(1).clip(lower_bound=1),
            pl.col("len"),
        ).str.join("")
    ).item()
    return div(
        "<b>Credits per recipient</b>",
        '<div class="bars"><span class="muted">credits</span><span></span>'
        '<span class="muted">recipients</span>',
        cells,
        "</div>",
    )


def _problems(messages: pl.DataFrame) -> str:
    def grouped(column: str) -> pl.DataFrame:
        example = pl.format("{} (row {})", pl.col("number").fill_null("—"), pl.col("row"))
        return (
            messages.filter(pl.col(column).is_not_null())
            .group_by(column)
            .agg(rows=pl.len(), examples=example.head(3).str.join(", "))
            .sort(["rows", column], descending=[True, False])
        )

    problems, warnings = grouped("problem"), grouped("warning")
    parts = ["<b>Problems (rows not sent)</b>"]
    parts.append(
        table(["problem", "rows", "examples"], problems.head(20).rows())
        if problems.height
        else "<p>none</p>"
    )
    if warnings.height:
        parts.append("<b>Warnings (sent, not quite as written)</b>")
        parts.append(table(["warning", "rows", "examples"], warnings.head(10).rows()))
    return div(*parts)


# --------------------------------------------------------------------------
# SendPanel
# --------------------------------------------------------------------------


class SendPanel(widgets.VBox):  # type: ignore[misc]
    """Send a planned campaign from the notebook, after an explicit confirmation.

    Shows what will go out (recipients, credits, cost) against the balance;
    Send stays disabled until the confirmation is ticked. The send runs on a
    background thread (``background=False`` runs it in the click), Stop lets
    the requests in flight finish and starts nothing new, and the
    :class:`~isms_campaigns.SendReport` shows at the end. A campaign the
    store already holds, partly sent, is resumed: the button says Resume and
    the figures are what is left. The Send later field schedules it
    (Malaysian time; empty: at once); a marketing campaign outside its
    window cannot be sent and the panel says when the window opens.
    """

    def __init__(
        self,
        campaign: Campaign,
        gateway: Gateway,
        store: Store,
        *,
        concurrency: int = 4,
        requests_per_second: float | None = None,
        check_balance: bool = True,
        background: bool = True,
        amend: bool = False,
        allow_repeats: bool = False,
        max_per_number: tuple[int, str | timedelta] | str | None = None,
    ) -> None:
        if not isinstance(campaign, Campaign):
            raise TypeError(
                f"SendPanel needs a Campaign, not {type(campaign).__name__} "
                f"(from a Composer: composer.campaign)."
            )
        self.campaign = campaign
        self.gateway = gateway
        self.store = store
        self.concurrency = concurrency
        self.requests_per_second = requests_per_second
        self.check_balance = check_balance
        self.background = background
        self.amend = amend
        self.allow_repeats = allow_repeats
        self.max_per_number = None if max_per_number is None else FrequencyCap.parse(max_per_number)
        self.report: SendReport | None = None
        self._planned = campaign  # as given; self.campaign carries the Send later field's time
        self._blocked: str | None = None  # why Send is off whatever the figures say
        self._schedule_error: str | None = None  # the Send later field's
        self.balance: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._sender: Sender | None = None
        self._running = False
        self._stop_asked = False
        self._to_send = 0
        self._balance_checked = False
        self._balance_error: str | None = None

        self.estimate = widgets.HTML()
        self.send_later = _send_later_field(campaign.settings.send_later)
        self.send_later.observe(lambda _: self._reschedule(), names="value")
        self.confirm = widgets.Checkbox(
            value=False, indent=False, layout=widgets.Layout(width="auto")
        )
        self.send_button = widgets.Button(description="Send", button_style="danger", icon="send")
        self.stop_button = widgets.Button(
            description="Stop", button_style="warning", icon="stop", disabled=True
        )
        self.balance_button = widgets.Button(description="Check balance", icon="refresh")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="")
        self.progress_label = widgets.Label()
        self.message = widgets.HTML()
        self.result = widgets.HTML()
        self.confirm.observe(lambda _: self._set_buttons(), names="value")
        self.send_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.balance_button.on_click(lambda _: self.refresh(read_balance=True))
        super().__init__(
            [
                widgets.HTML(STYLE),
                self.estimate,
                self.send_later,
                self.confirm,
                widgets.HBox([self.send_button, self.stop_button, self.balance_button]),
                widgets.HBox([self.progress, self.progress_label]),
                self.message,
                self.result,
            ]
        )
        _name_parts(
            self,
            "send-panel",
            estimate=self.estimate,
            confirm=self.confirm,
            send=self.send_button,
            progress=self.progress,
            progress_label=self.progress_label,
            result=self.result,
        )
        self.refresh(read_balance=check_balance)

    # -- state -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def _reschedule(self) -> None:
        """The Send later field changed: the same plan at that time, or why not."""
        try:
            self.campaign = self._planned.rescheduled(self.send_later.value.strip() or None)
            self._schedule_error = None
        except PlanError as exc:
            self._schedule_error = str(exc)
        self.refresh()

    def refresh(self, *, read_balance: bool = False) -> None:
        """Re-read the store (and the balance) and redraw the estimate."""
        camp, esc = self.campaign, html.escape
        changed, ahead = None, None
        with _cursor(self.store) as store:
            stored = store.outbox(camp.name).state_totals()
            holder = None if self._running else store.sending(camp.name)
            try:
                ahead = outlook(
                    camp,
                    store,
                    amend=self.amend,
                    allow_repeats=self.allow_repeats,
                    max_per_number=self.max_per_number,
                )
            except PlanError as exc:  # the library's words: what differs, amend=True
                changed = str(exc)
        if holder is not None:  # another panel, cell or thread is sending it
            messages, credits = 0, 0
            where = (
                f"<p class='err'>This campaign is being sent by {esc(str(holder))}. Wait for "
                f"that send to finish, then press Check balance to refresh this panel.</p>"
            )
        elif changed or ahead is None:
            messages, credits = 0, 0
            where = f"<p class='err'>{esc(changed or '')}</p>"
        else:
            messages, credits = ahead.messages, ahead.credits
            done = ", ".join(
                f"{stored[s][0]:,} {s}"
                for s in ("submitted", "failed", "unknown")
                if stored.get(s, (0, 0))[0]
            )
            if not stored:
                where = ""
            elif messages and done:
                where = (
                    f"<p class='note'>This campaign is partly sent ({done}): "
                    f"{'Resume' if ahead.action == 'same' else 'Send'} sends {messages:,} "
                    f"messages to recipients not yet sent, nothing twice.</p>"
                )
            elif messages:
                where = "<p class='note'>This campaign is in the store, not sent yet.</p>"
            else:
                where = f"<p class='ok'>Nothing left to send: {done or 'all skipped'}.</p>"
            where += "".join(f"<p class='note'>{esc(n)}</p>" for n in ahead.notes)
            if stored.get("unknown", (0, 0))[0]:
                where += (
                    "<p class='note'>Some requests may or may not have gone out: they are not "
                    f"sent again. Settle them with <code>store.resolve_unknown("
                    f"{esc(repr(camp.name))}, resend=True|False)</code>.</p>"
                )
        where = self._when_html() + where
        verb = "Resume" if stored and messages else "Send"  # never "Resume … 0 messages"
        self.send_button.description = verb
        self._to_send = messages
        if read_balance:
            self._read_balance()
        price = camp.billing.price_per_credit
        cost = "" if price is None else f" (RM {credits * price:,.2f})"
        skipped = camp.messages.height - camp.sendable.height
        self.estimate.value = div(
            f"<h3>{verb + ' ' if messages else ''}{esc(camp.name)}</h3>",
            cards_html(
                [
                    ("messages to send", f"{messages:,}"),
                    (f"credits{cost}", f"{credits:,}"),
                    ("skipped (problems)", f"{skipped:,}"),
                ]
            ),
            where,
            self._balance_html(credits),
        )
        self.confirm.description = (
            f"I have checked: {verb.lower()} {messages:,} messages for {credits:,} credits{cost}"
            if messages
            else "Nothing to send"
        )
        self.confirm.value = False
        _hide(self.confirm, not messages)
        self._set_buttons()

    def _when_html(self) -> str:
        """When it would go out, or why it cannot now (sets ``_blocked``)."""
        closed = self._schedule_error
        if closed is None:
            try:
                _, closed = when_it_goes_out(self.campaign)
            except PlanError as exc:  # the scheduled time has passed since
                closed = str(exc)
        self._blocked = closed
        if closed is not None:
            return f"<p class='err'>Not now: {html.escape(closed)}</p>"
        later = self.campaign.settings.send_later
        if later is None:
            return ""
        return f"<p class='note'>Scheduled: the gateway sends it at {later} Malaysian time.</p>"

    def _read_balance(self) -> None:
        self._balance_checked = True
        try:
            self.balance, self._balance_error = self.gateway.balance(), None
        except Exception as exc:
            self.balance, self._balance_error = None, _unexpected(exc)

    def _balance_html(self, needed: int) -> str:
        if not self._balance_checked:
            return "<p class='muted'>Balance not checked.</p>"
        if self._balance_error is not None:
            return (
                f"<p class='err'>Balance: could not be read: {html.escape(self._balance_error)}</p>"
            )
        if self.balance is None:
            return "<p class='muted'>Balance: postpaid account (no balance to check).</p>"
        if self.balance < needed:
            return (
                f"<p class='err'>Balance: {self.balance:,} credits — short by "
                f"{needed - self.balance:,}. Top up before sending.</p>"
            )
        return f"<p class='ok'>Balance: {self.balance:,} credits — enough.</p>"

    def _set_buttons(self) -> None:
        running = self._running
        blocked = self._blocked is not None
        self.send_button.disabled = (
            running or blocked or not self.confirm.value or not self._to_send
        )
        self.confirm.disabled = running or blocked or not self._to_send
        self.stop_button.disabled = not running or self._stop_asked
        self.balance_button.disabled = running

    # -- sending -------------------------------------------------------------------

    def start(self) -> None:
        """What the Send/Resume button does (only once confirmed).

        Not ``send``: that name is ipywidgets' own (custom messages).
        """
        with self._lock:
            if self._running:
                return
            if not self._to_send or self._blocked is not None:
                self.message.value = _error("Nothing to send now: see above.")
                return
            if not self.confirm.value:
                self.message.value = _error("Tick the confirmation first.")
                return
            self._running, self._stop_asked, self._sender = True, False, None
        self.report = None
        self.result.value = ""
        self.message.value = div('<p class="muted">Sending…</p>')
        self.progress.max, self.progress.value = max(self._to_send, 1), 0
        self.progress.bar_style = ""
        self.progress_label.value = f"0 / {self._to_send:,} messages"
        self._set_buttons()
        if self.background:
            self._thread = threading.Thread(
                target=self._run, name=f"isms-panel-{self.campaign.name}", daemon=True
            )
            self._thread.start()
        else:
            self._run()

    def stop(self) -> None:
        """What the Stop button does: the requests in flight finish, nothing new starts."""
        with self._lock:
            if not self._running:
                return
            self._stop_asked = True
            if self._sender is not None:
                self._sender.stop()
        self.message.value = div(
            '<p class="note">Stopping: the requests in flight finish and are recorded…</p>'
        )
        self._set_buttons()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background send to finish; True when none is running."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self._running

    def _run(self) -> None:
        report: SendReport | None = None
        error: str | None = None
        try:
            with _cursor(self.store) as store:  # this may run on the panel's thread
                report = send_campaign(
                    self.campaign,
                    self.gateway,
                    store,
                    progress=False,
                    concurrency=self.concurrency,
                    requests_per_second=self.requests_per_second,
                    check_balance=self.check_balance,
                    amend=self.amend,
                    allow_repeats=self.allow_repeats,
                    max_per_number=self.max_per_number,
                    on_start=self._started,
                    on_progress=self._progressed,
                )
        except Exception as exc:  # shown in the panel, worded by the library
            error = _unexpected(exc)
        self._finished(report, error)

    def _started(self, sender: Sender) -> None:
        with self._lock:
            self._sender = sender
            if self._stop_asked:
                sender.stop()

    def _progressed(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = min(done, total)
        self.progress_label.value = f"{done:,} / {total:,} messages"

    def _finished(self, report: SendReport | None, error: str | None) -> None:
        self.report = report
        if report is not None:
            self.result.value = report._repr_html_()
            self.progress.bar_style = "success" if report.complete else "warning"
            self.message.value = ""
        else:
            self.message.value = _error(error or "The send failed.")
            self.progress.bar_style = "danger"
        with self._lock:
            self._running, self._sender = False, None
        try:
            self.refresh(read_balance=self.check_balance)  # the balance after the send
        except Exception as exc:
            self.message.value += _error(_unexpected(exc))
        self._set_buttons()


# --------------------------------------------------------------------------
# Dashboard
# --------------------------------------------------------------------------

# The figures of the dashboard, in the order shown.
FIGURES = ("status", "delivery_rate", "time_to_dlr", "dlr_arrivals", "credits", "failure_codes")


def _breakdown_note(by: str) -> str:
    """What the Dashboard's breakdown by ``by`` leaves out or adds up (as the report's)."""
    if by == "campaign":
        return ""
    folded = "" if by == "variant" else f" Groups under {MIN_GROUP} messages are one “other” row."
    return f" Skipped messages (never sent) are left out.{folded}"


class Dashboard(widgets.VBox):  # type: ignore[misc]
    """Delivery analytics over a store: pick campaigns, a grouping, dates; import DLRs.

    The summary table (:func:`isms_campaigns.delivery_summary`) and the
    figures of :mod:`isms_campaigns.plots` refresh together, debounced, from
    a cursor of their own so the notebook can go on using the store. No
    campaign picked means every campaign except test sends. The dates (both
    inclusive, in ``time_zone``) narrow the summary and the delivery-rate
    figure, the ones that take a period.
    """

    def __init__(
        self,
        store: Store,
        *,
        campaigns: Sequence[str] = (),
        by: str = "campaign",
        since: date | None = None,
        until: date | None = None,
        time_zone: str | None = None,
        delay: float = DELAY,
    ) -> None:

        self.store = store
        self.time_zone = time_zone or DEFAULT_TIME_ZONE
        self.campaigns = widgets.SelectMultiple(
            options=self._names(), value=tuple(campaigns), rows=6, description="Campaigns"
        )
        self.by = widgets.Dropdown(
            options=[(DIMENSION_LABELS.get(d, d), d) for d in DIMENSIONS],
            value=by,
            description="Group by",
        )
        self.since = widgets.DatePicker(value=since, description="From")
        self.until = widgets.DatePicker(value=until, description="To")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.dlr_path = widgets.Text(
            placeholder="callbacks.log, a CSV, the receiver's spool folder, a glob…",
            description="DLR file",
            layout=widgets.Layout(width="60%"),
        )
        self.import_button = widgets.Button(description="Import DLRs", icon="upload")
        self.import_result = widgets.HTML()
        self.status = widgets.HTML()
        self.summary = widgets.HTML()
        self.figures = {
            name: widgets.Output(layout=widgets.Layout(min_height="420px")) for name in FIGURES
        }
        self.refresh_button.on_click(lambda _: self.reload())
        self.import_button.on_click(lambda _: self.import_dlr())
        super().__init__(
            [
                widgets.HTML(STYLE),
                widgets.HBox(
                    [
                        self.campaigns,
                        widgets.VBox([self.by, self.since, self.until, self.refresh_button]),
                    ]
                ),
                widgets.HBox([self.dlr_path, self.import_button]),
                self.import_result,
                self.status,
                self.summary,
                widgets.GridBox(
                    list(self.figures.values()),
                    layout=widgets.Layout(grid_template_columns="repeat(2, minmax(0, 1fr))"),
                ),
            ]
        )
        _name_parts(self, "dashboard", summary=self.summary, figures=self.children[-1])
        self._refresh = _Debounced(self._draw, delay)
        self._kept: dict[str, Any] = {}  # what the last draw computed, by its key
        self._dated_figures = False  # the status and credits figures show a period
        self._muted = False
        for field in (self.campaigns, self.by, self.since, self.until):
            field.observe(self._changed, names="value")
        self._refresh.trigger()
        self._refresh.flush()  # the first draw shows at once

    # -- what the buttons do --------------------------------------------------------

    def reload(self) -> None:
        """Re-read the store's campaigns (new sends, new DLRs) and redraw."""
        names = self._names()
        kept = tuple(n for n in self.campaigns.value if n in names)
        if tuple(names) != self.campaigns.options:
            self._muted = True  # one redraw below, not one per trait change
            try:
                self.campaigns.options = names  # this empties the selection: put it back
                self.campaigns.value = kept
            finally:
                self._muted = False
        self._refresh.trigger()

    def import_dlr(self) -> None:
        """Import the delivery reports at the path given, show what came in, redraw."""
        source = self.dlr_path.value.strip()
        if not source:
            self.import_result.value = _error(
                "Give a file, a folder or a glob of delivery reports first."
            )
            return
        try:
            report = self.store.import_dlr(source)
        except Exception as exc:
            self.import_result.value = _error(_unexpected(exc))
            return
        self.import_result.value = report._repr_html_()
        self.reload()

    def flush(self) -> None:
        """Redraw now if a change is waiting for the quiet period."""
        self._refresh.flush()

    def close(self) -> None:
        refresh = getattr(self, "_refresh", None)  # None when __init__ failed early
        if refresh is not None:
            refresh.cancel()
        super().close()

    # -- drawing --------------------------------------------------------------------

    def _changed(self, change: dict[str, Any]) -> None:
        if not self._muted:
            self._refresh.trigger()

    def _names(self) -> list[str]:
        return list(analytics.campaign_list(self.store)["campaign"])

    def _draw(self) -> None:
        names = list(self.campaigns.value) or None
        by, since, until = self.by.value, self.since.value, self.until.value
        if since is not None and until is not None and since > until:
            self.status.value = _error(f"The period runs backwards: from {since} to {until}.")
            return
        period: dict[str, Any] = {
            "since": since,
            "until": None if until is None else until + timedelta(days=1),  # inclusive
            "time_zone": self.time_zone,
        }
        try:
            with _cursor(self.store) as store:  # this may run on the timer's thread
                # The figures that take neither a grouping nor a period are drawn
                # again only when the campaigns or the store's data changed.
                key = (store.data_version(), tuple(names or ()), self.time_zone)
                fresh = self._kept.get("key") != key
                if fresh:
                    per_campaign = delivery_summary(store, by="campaign", campaigns=names)
                    self._kept = {
                        "key": key,
                        "per_campaign": per_campaign,
                        "status": plots.status_figure(per_campaign),
                        "credits": plots.credits_figure(per_campaign),
                        "time_to_dlr": plots.time_to_dlr_figure(analytics.dlr_delays(store, names)),
                        "dlr_arrivals": plots.dlr_arrivals_figure(
                            analytics.dlr_arrival_counts(store, names, time_zone=self.time_zone),
                            self.time_zone,
                        ),
                        "failure_codes": plots.failure_codes_figure(
                            analytics.failure_reasons(store, names)
                        ),
                    }
                dated = since is not None or until is not None
                if by == "campaign" and not dated:
                    summary = self._kept["per_campaign"]  # the same query: run it once
                else:
                    summary = delivery_summary(store, by=by, campaigns=names, **period)
                # The status and credits figures follow the period too (the
                # delivery-report figures cover all dates, and the note says so).
                per_campaign = self._kept["per_campaign"]
                if dated:
                    per_campaign = (
                        summary
                        if by == "campaign"
                        else delivery_summary(store, by="campaign", campaigns=names, **period)
                    )
            if by != "campaign":  # as the report: what was sent, small groups folded
                summary = breakdown(summary, by, minimum=1 if by == "variant" else MIN_GROUP)
            figures = {"delivery_rate": plots.rate_figure(summary, by)}
            if fresh:
                figures |= {name: self._kept[name] for name in FIGURES if name in self._kept}
            if dated or self._dated_figures:  # drawn for the period, or back to all dates
                figures |= {
                    "status": plots.status_figure(per_campaign),
                    "credits": plots.credits_figure(per_campaign),
                }
            self._dated_figures = dated
        except Exception as exc:  # shown; the last good figures stay
            self.status.value = _error(_unexpected(exc))
            return
        self.status.value = ""
        self.summary.value = div(
            frame_table(readable_summary(summary, by)),
            f'<p class="muted">{html.escape(DELIVERED_NOTE)}{_breakdown_note(by)}'
            + (
                " The dates choose the messages of the table and of the status, rate and "
                "credits figures; the time-to-DLR, arrival and failure figures show all dates."
                if dated
                else ""
            )
            + "</p>",
        )
        for name, figure in figures.items():
            self.figures[name].outputs = (_figure_output(figure),)

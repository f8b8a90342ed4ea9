"""Notebook widgets, without a browser: set values, click, flush, read the outputs.

Nothing here waits on a clock: the Composer's debounce is flushed by hand,
sends go through the simulator's in-process transport, and Stop is clicked
from inside a request, at a known point of the send.
"""

from __future__ import annotations

import doctest
import html
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns import widgets
from isms_campaigns._html import frame_table
from isms_campaigns.analytics import breakdown, delivery_summary, readable_summary
from isms_campaigns.send import chunk_plan
from isms_campaigns.simulator import Account, Simulator
from isms_campaigns.widgets import FIGURES, Composer, Dashboard, SendPanel

from .conftest import DATA

PASSWORD = "s3cret-Pa55"
LONG = (
    "Hi %name%, your order %order_id% is ready for collection at %outlet%. "
    "We’re open 10am–10pm daily — see you soon!"
)


@pytest.fixture
def sample() -> pl.DataFrame:
    return ic.read_contacts(DATA / "sample_contacts.csv")


def everything_shown(widget: Any) -> str:
    """Every value of a widget and its children, as the browser would get them."""
    parts = [json.dumps(widget.get_state(), default=str, ensure_ascii=False)]
    for child in getattr(widget, "children", ()):
        parts.append(everything_shown(child))
    return "\n".join(parts)


# -- Composer -------------------------------------------------------------------


def test_composer_shows_the_campaign_it_plans(sample: pl.DataFrame) -> None:
    composer = Composer(sample, name="nov", template="Hi %name%, order %order_id%")
    camp = composer.campaign
    assert camp is not None and composer.error is None
    assert camp.name == "nov" and camp.messages.height == 320
    first = camp.sendable.row(0, named=True)
    assert first["msg"] in composer.preview.value.replace("&#x27;", "'")
    assert f">{camp.sendable.height:,}<" in composer.stats.value
    assert f">{camp.credits:,}<" in composer.stats.value
    assert "type 2 (Unicode)" in composer.stats.value  # the type mix
    assert "duplicate" in composer.problems.value  # the problems table, with examples
    assert "(row " in composer.problems.value
    assert "Credits per recipient" in composer.histogram.value


def test_composer_shows_ringgit_as_the_card_does(sample: pl.DataFrame) -> None:
    priced = ic.BillingRule(price_per_credit=0.08)
    composer = Composer(sample, template="Hi %name%", billing=priced, delay=0)
    camp = composer.campaign
    assert camp is not None and camp.cost is not None
    shown = f"RM {camp.cost:,.2f}"
    assert composer.stats.value.count(shown) >= 2  # the card and the table's sendable row


def test_token_buttons_cover_isms_tokens_and_columns_once(sample: pl.DataFrame) -> None:
    composer = Composer(sample, template="Hi", delay=0)
    tokens = list(composer.token_buttons)
    assert tokens[:5] == ["name", "hpno", "email", "dob", "desc"]  # the sample has these columns
    assert set(tokens) == {"name", "hpno", "email", "dob", "desc", *sample.columns}
    assert len(tokens) == len(set(tokens))

    composer.token_buttons["name"].click()
    composer.token_buttons["order_id"].click()
    assert composer.template.value == "Hi %name% %order_id%"
    camp = composer.campaign
    assert camp is not None
    assert camp.sendable["msg"][0] == "Hi {} {}".format(
        *sample.select("name", "order_id").row(camp.sendable["row"][0])
    )


def test_a_token_goes_in_at_the_cursor_the_browser_reports(sample: pl.DataFrame) -> None:
    composer = Composer(sample, template="Hi, your order is ready", delay=0)
    editor = composer.template
    assert editor.selection == []  # the browser has not said yet: tokens go at the end
    editor.selection = [2, 2]  # the browser: the cursor after "Hi"
    composer.token_buttons["name"].click()
    assert editor.value == "Hi %name%, your order is ready"
    assert editor.selection == [9, 9]  # after the token, for the next one or typing
    editor.selection = [len("Hi %name%, your order "), len("Hi %name%, your order is")]
    composer.token_buttons["order_id"].click()  # a selection is replaced
    assert editor.value == "Hi %name%, your order %order_id% ready"
    editor.selection = [0, 0]  # at the start: a space keeps the next word apart
    composer.token_buttons["name"].click()
    assert editor.value == "%name% Hi %name%, your order %order_id% ready"
    editor.selection = [len("%name% Hi "), len("%name% Hi ")]  # right before a token
    composer.token_buttons["order_id"].click()
    assert editor.value == "%name% Hi %order_id% %name%, your order %order_id% ready"
    editor.value, editor.selection = "🎉 ()", [3, 3]  # in characters, after "🎉 ("
    composer.token_buttons["name"].click()
    assert editor.value == "🎉 (%name%)"  # after an opening bracket, no space
    camp = composer.campaign
    assert camp is not None and camp.sendable["msg"][0].startswith("🎉 (")


def test_without_a_column_only_hpno_of_the_isms_tokens_is_offered() -> None:
    contacts = pl.DataFrame({"phone": ["0123456789"], "nama": ["Ali"]})
    composer = Composer(contacts, template="Hi", delay=0)
    assert list(composer.token_buttons) == ["hpno", "phone", "nama"]


def test_token_buttons_insert_tokens_that_work() -> None:
    contacts = pl.DataFrame(
        {
            "Mobile No.": ["0123456789"],
            "Order ID": ["A7"],
            "Disc %": ["10"],
            "nama": ["Ali"],
            "NAMA": ["ALI"],  # a case twin: each button still reads its own column
        }
    )
    composer = Composer(
        contacts, template="Hi", delay=0, token_columns={"name": "nama"}, formats={}
    )
    assert list(composer.token_buttons) == [
        "name",
        "hpno",
        "Mobile No.",
        "Order ID",
        "disc",
        "NAMA",
    ]
    for token in ("name", "Order ID", "disc", "NAMA", "Mobile No."):
        composer.token_buttons[token].click()
    camp = composer.campaign
    assert camp is not None, composer.error
    assert camp.messages.select("msg", "problem").row(0) == (
        "Hi Ali A7 10 ALI 0123456789",
        "phone number in the message",  # the Malaysian checks, on by default
    )


def test_edits_wait_for_the_quiet_period_then_plan_once(sample: pl.DataFrame) -> None:
    composer = Composer(sample, template="Hello", delay=3600)  # the timer never fires here
    before = composer.preview.value
    plans = 0
    plan = composer._recompute._fn

    def counted() -> None:
        nonlocal plans
        plans += 1
        plan()

    composer._recompute._fn = counted
    for i in range(1, 30):  # typing
        composer.template.value = "Hello there"[:i]
    assert composer._recompute.pending and plans == 0
    assert composer.preview.value == before  # nothing recomputed while typing
    assert "updating" in composer.status.value
    composer.flush()
    assert plans == 1 and not composer._recompute.pending
    assert "Hello there" in composer.preview.value
    composer.sender_id.value = "MyShop"
    camp = composer.campaign  # reading the campaign applies the pending edit first
    assert plans == 2 and camp is not None and camp.settings.sender_id == "MyShop"
    composer.close()


def test_the_quiet_period_ends_on_the_timer_thread(sample: pl.DataFrame) -> None:
    composer = Composer(sample, template="Hello", delay=0.01)
    composer.template.value = "Hello again"
    timer = composer._recompute._timer
    assert timer is not None
    timer.join(timeout=60)  # waits for the run to end, whenever it happens
    assert not composer._recompute.pending
    assert "Hello again" in composer.preview.value


def test_the_docstring_example_runs() -> None:
    result = doctest.testmod(widgets, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_a_template_typo_shows_the_library_message_not_a_traceback(sample: pl.DataFrame) -> None:
    composer = Composer(sample, template="Hi %name%", delay=0)
    good = composer.preview.value
    composer.template.value = "Hi %nmae%"
    assert composer.campaign is None
    assert composer.error is not None and "Did you mean %name%" in composer.error
    assert 'class="err"' in composer.status.value
    assert "Unknown token %nmae%" in composer.status.value
    assert "Traceback" not in everything_shown(composer)
    assert composer.preview.value == good  # the last good plan stays on screen
    composer.template.value = "Hi %name%"
    assert composer.campaign is not None and 'class="err"' not in composer.status.value


def test_sender_id_is_checked_and_noted(sample: pl.DataFrame) -> None:
    composer = Composer(sample, template="Hi", delay=0)
    composer.sender_id.value = "My Shop!"
    assert composer.campaign is None
    assert "Sender ID 'My Shop!' is not allowed" in html.unescape(composer.status.value)
    composer.sender_id.value = "MyShop"
    assert composer.campaign is not None
    assert "does not support sender IDs for Malaysian numbers" in composer.status.value


def test_smart_ascii_fix_in_one_click_shows_the_credits_saved(sample: pl.DataFrame) -> None:
    composer = Composer(sample, template=LONG, delay=0)
    before = composer.campaign
    assert before is not None
    saving = before.smart_ascii_saving()
    assert saving > 0
    assert "’" in composer.unicode.value and "–" in composer.unicode.value
    assert composer.fix_button.layout.display != "none"
    assert f"save {saving:,} credits" in composer.fix_button.description

    composer.fix_button.click()
    after = composer.campaign
    assert composer.smart_ascii.value and after is not None and after.smart_ascii
    assert after.credits == before.credits - saving
    assert f"saves {saving:,} credits" in composer.unicode.value
    assert "’" not in composer.unicode.value  # what is left cannot be fixed
    assert composer.fix_button.layout.display == "none"
    assert histogram(composer) == bars(after) != bars(before)


def histogram(composer: Composer) -> list[tuple[int, int]]:
    """The (credits, recipients) bars the histogram draws."""
    bar = (
        r'<span>(\d+)</span><span class="bar" style="width:[0-9.]+%"></span>'
        r'<span class="n">(\d+)</span>'
    )
    return [(int(c), int(n)) for c, n in re.findall(bar, composer.histogram.value)]


def bars(camp: ic.Campaign) -> list[tuple[int, int]]:
    return camp.sendable.group_by("credits").len().sort("credits").rows()


def test_the_histogram_counts_recipients_per_credit(sample: pl.DataFrame) -> None:
    composer = Composer(sample, template=LONG, delay=0)
    camp = composer.campaign
    assert camp is not None and camp.sendable["credits"].n_unique() > 1
    assert histogram(composer) == bars(camp)


def test_unknown_keywords_fail_at_once_and_campaign_keywords_pass(sample: pl.DataFrame) -> None:
    with pytest.raises(TypeError):
        Composer(sample, template="Hi", colour="red")
    composer = Composer(sample, template="Hi %name%", fallbacks={"name": "Customer"}, delay=0)
    camp = composer.campaign
    assert camp is not None and camp.messages.filter(pl.col("msg") == "Hi Customer").height


def test_a_file_path_is_read_once(sample: pl.DataFrame) -> None:
    composer = Composer(DATA / "sample_contacts.csv", template="Hi", delay=0)
    assert composer.contacts.equals(sample)


def test_a_large_list_plans_in_one_vectorised_pass() -> None:
    n = 100_000
    contacts = pl.DataFrame({"i": pl.int_range(n, eager=True)}).select(
        phone=pl.format("012{}", pl.col("i").cast(pl.String).str.zfill(7)),
        name=pl.lit(["Ali", "Siti", "Mei Ling", None]).list.get(pl.col("i") % 4),
    )
    composer = Composer(contacts, template="Hi %name%", fallbacks={"name": "there"}, delay=0)
    camp = composer.campaign
    assert camp is not None and camp.sendable.height == n
    assert f">{n:,}<" in composer.stats.value


def test_edits_normalise_the_numbers_once_and_new_contacts_again(
    sample: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from isms_campaigns import campaign

    normalised: list[int] = []
    normalise = campaign.normalise_numbers

    def counted(numbers: pl.Series, *args: Any, **kwargs: Any) -> pl.DataFrame:
        normalised.append(len(numbers))
        return normalise(numbers, *args, **kwargs)

    monkeypatch.setattr(campaign, "normalise_numbers", counted)
    composer = Composer(sample, template="Hi", delay=0, suppress=["+60 13-222 3333"])
    for text in ("Hi %name%", "Hi %name%, order %order_id%", "Hello"):  # edits
        composer.template.value = text
    composer.sender_id.value = "MyShop"
    composer.smart_ascii.value = True
    camp = composer.campaign
    assert camp is not None and camp.messages["msg"][0] == "Hello"
    assert normalised == [sample.height]  # one normalisation for the five plans

    fewer = sample.head(3)
    composer.contacts = fewer  # another list: its numbers are normalised
    composer.template.value = "Hello again"
    camp = composer.campaign
    assert camp is not None and camp.messages.height == 3
    assert normalised == [sample.height, 3]
    composer.close()


# -- SendPanel ------------------------------------------------------------------


class Tap(httpx.AsyncBaseTransport):
    """The simulator's transport, calling ``on_send(n)`` as the n-th send request leaves."""

    def __init__(self, inner: httpx.AsyncBaseTransport, on_send: Callable[[int], None]) -> None:
        self.inner, self.on_send, self.sends = inner, on_send, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("isms_send_json.php"):
            self.sends += 1
            self.on_send(self.sends)
        return await self.inner.handle_async_request(request)


def gateway(sim: Simulator, on_send: Callable[[int], None] | None = None) -> ic.Gateway:
    t = sim.transport()
    tapped = t if on_send is None else Tap(t, on_send)
    return ic.Gateway("demo", PASSWORD, hosts=sim.hosts, transport=t, async_transport=tapped)


def simulator(balance: int | None = 1_000_000) -> Simulator:
    return Simulator([Account(password=PASSWORD, balance=balance)])


def sent_pairs(sim: Simulator) -> Counter[tuple[str, str]]:
    return Counter((e.dstno, e.msg) for e in sim.ledger)


def states(store: ic.Store, name: str = "nov") -> dict[str, int]:
    rows = store.sql(
        "select state, count(*) from messages where campaign = ? group by state", [name]
    ).rows()
    return dict(rows)


def test_send_needs_an_explicit_confirmation_of_recipients_and_credits(
    camp: ic.Campaign,
) -> None:
    sim, store = simulator(), ic.Store()
    panel = SendPanel(camp, gateway(sim), store)
    n, credits = camp.sendable.height, camp.credits
    assert f">{n:,}</div>messages to send" in panel.estimate.value
    assert f">{credits:,}</div>credits" in panel.estimate.value
    assert "Balance: 999,999" not in panel.estimate.value
    assert "Balance: 1,000,000 credits — enough" in panel.estimate.value
    assert f"send {n:,} messages for {credits:,} credits" in panel.confirm.description
    assert panel.send_button.description == "Send"
    assert panel.send_button.disabled and panel.stop_button.disabled

    panel.start()  # even called directly, nothing goes without the confirmation
    assert "Tick the confirmation first" in panel.message.value
    assert not sim.ledger and store.campaigns().is_empty()

    panel.confirm.value = True
    assert not panel.send_button.disabled


def test_a_confirmed_send_goes_out_once_with_progress_and_the_report(camp: ic.Campaign) -> None:
    sim, store = simulator(), ic.Store()
    panel = SendPanel(camp, gateway(sim), store)
    panel.confirm.value = True
    panel.send_button.click()
    assert panel.wait(timeout=60)
    assert sent_pairs(sim) == Counter(camp.sendable.select("dstno", "msg").iter_rows())
    assert states(store) == {"submitted": camp.sendable.height, "skipped": 22}
    report = panel.report
    assert report is not None and report.complete
    assert panel.result.value == report._repr_html_() and "complete" in panel.result.value
    assert panel.progress.value == panel.progress.max == camp.sendable.height
    n = camp.sendable.height
    assert panel.progress_label.value == f"{n:,} / {n:,} messages"
    assert panel.progress.bar_style == "success"
    # Afterwards: nothing left to send, so nothing to confirm or click, and no
    # offer to resume nothing.
    assert "Nothing left to send" in panel.estimate.value
    assert panel.send_button.disabled and panel.confirm.disabled and panel.stop_button.disabled
    assert panel.send_button.description == "Send" and panel.confirm.layout.display == "none"
    assert "Resume" not in everything_shown(panel) and "0 messages" not in everything_shown(panel)
    assert PASSWORD not in everything_shown(panel)


def test_stop_stops_and_resume_sends_exactly_the_rest(camp: ic.Campaign) -> None:
    sim, store = simulator(), ic.Store()
    panel: SendPanel | None = None
    seen: list[tuple[int, bool]] = []

    def stop_on_second_request(n: int) -> None:
        if n == 2:
            assert panel is not None
            seen.append((panel.progress.value, panel.stop_button.disabled))
            panel.stop_button.click()

    panel = SendPanel(camp, gateway(sim, stop_on_second_request), store, concurrency=1)
    panel.confirm.value = True
    panel.send_button.click()
    assert panel.wait(timeout=60)
    report = panel.report
    assert report is not None and report.stop_reason == "stopped by the user"
    assert "stopped: stopped by the user" in panel.result.value
    _, chunks = chunk_plan(camp.messages)
    assert seen == [(chunks["numbers"][0], False)]  # live: the first request counted, Stop on
    # The request in flight when Stop was clicked finished; nothing new started.
    first_two = store.sql(
        "select count(*) as n from messages where campaign = 'nov' and chunk < 2"
    )["n"].item()
    assert len(sim.ledger) == first_two < camp.sendable.height
    assert states(store)["submitted"] == first_two
    assert panel.progress.value == first_two and panel.progress.bar_style == "warning"

    # The same panel, and a new one (a new kernel), both offer to resume the rest.
    left = camp.sendable.height - first_two
    for shown in (panel, SendPanel(camp, gateway(sim), store, check_balance=False)):
        assert shown.send_button.description == "Resume"
        assert "partly sent" in shown.estimate.value
        assert f">{left:,}</div>messages to send" in shown.estimate.value
        assert f"resume {left:,} messages" in shown.confirm.description
        assert not shown.confirm.value and shown.send_button.disabled  # confirm again

    panel.confirm.value = True
    panel.send_button.click()
    assert panel.wait(timeout=60)
    assert panel.report is not None and panel.report.complete
    assert sent_pairs(sim) == Counter(camp.sendable.select("dstno", "msg").iter_rows())
    assert PASSWORD not in everything_shown(panel)


def test_a_stop_clicked_before_the_sender_exists_still_stops_it(camp: ic.Campaign) -> None:
    sim, store = simulator(), ic.Store()
    panel = SendPanel(camp, gateway(sim), store, background=False)
    attach = panel._started

    def stop_while_planning(sender: Any) -> None:
        panel.stop()  # the click lands while the plan is being saved
        attach(sender)

    panel._started = stop_while_planning  # type: ignore[method-assign]
    panel.confirm.value = True
    panel.send_button.click()
    assert not sim.ledger
    assert panel.report is not None and panel.report.stop_reason == "stopped by the user"
    assert states(store) == {"planned": camp.sendable.height, "skipped": 22}
    assert panel.send_button.description == "Resume"


def test_a_short_balance_is_shown_and_the_refusal_worded_in_the_panel(camp: ic.Campaign) -> None:
    sim, store = simulator(balance=10), ic.Store()
    panel = SendPanel(camp, gateway(sim), store, background=False)
    assert f"short by {camp.credits - 10:,}" in panel.estimate.value
    panel.confirm.value = True
    panel.send_button.click()
    assert not sim.ledger
    assert "balance is 10 credits" in panel.message.value and 'class="err"' in panel.message.value
    assert "Traceback" not in everything_shown(panel)
    assert panel.report is None and not panel.running
    assert panel.progress.bar_style == "danger"


def test_a_postpaid_account_has_no_balance_to_check(camp: ic.Campaign) -> None:
    panel = SendPanel(camp, gateway(simulator(balance=None)), ic.Store())
    assert "postpaid" in panel.estimate.value


def test_a_changed_plan_under_the_same_name_is_refused_in_the_panel(
    camp: ic.Campaign, sample: pl.DataFrame
) -> None:
    sim, store = simulator(), ic.Store()
    first = SendPanel(camp, gateway(sim, lambda n: first.stop()), store, concurrency=1)
    first.confirm.value = True
    first.send_button.click()
    assert first.wait(timeout=60) and 0 < len(sim.ledger) < camp.sendable.height
    sent = len(sim.ledger)

    other = ic.Campaign("nov", sample, template="Something else")
    panel = SendPanel(other, gateway(sim), store, background=False)
    # Said before any confirmation, in the library's words; nothing to confirm or send.
    assert "has already sent" in panel.estimate.value and "different plan" in panel.estimate.value
    assert "amend=True" in panel.estimate.value
    assert panel.confirm.disabled and panel.send_button.disabled
    panel.confirm.value = True  # even forced
    panel.start()
    assert "Nothing to send" in panel.message.value
    assert len(sim.ledger) == sent


def test_send_panel_wants_a_campaign(sample: pl.DataFrame) -> None:
    composer = Composer(sample, template="Hi", delay=0)
    with pytest.raises(TypeError, match=r"composer\.campaign"):
        SendPanel(composer, gateway(simulator()), ic.Store())


# -- Dashboard ------------------------------------------------------------------


@pytest.fixture
def sent_store(sample: pl.DataFrame) -> tuple[ic.Store, Simulator]:
    """Two campaigns sent through the simulator, no delivery report yet."""
    sim, store = simulator(), ic.Store()
    for name, template in (("nov", "Hi %name%"), ("dec", "Selamat %name%")):
        ic.Campaign(name, sample, template=template).send(gateway(sim), store, progress=False)
    return store, sim


def table(store: ic.Store, by: str = "campaign", **options: Any) -> str:
    """The summary table as the library words it (by anything but campaign, as the report
    breaks down what was sent: skipped left out, small groups folded)."""
    summary = delivery_summary(store, by=by, **options)
    return frame_table(
        readable_summary(summary if by == "campaign" else breakdown(summary, by), by)
    )


def figure(dashboard: Dashboard, name: str) -> dict[str, Any]:
    (output,) = dashboard.figures[name].outputs
    return output["data"]["application/vnd.plotly.v1+json"]  # type: ignore[no-any-return]


def test_dashboard_shows_the_summary_and_every_figure(
    sent_store: tuple[ic.Store, Simulator],
) -> None:
    store, _ = sent_store
    dashboard = Dashboard(store, delay=0)
    assert dashboard.campaigns.options == ("nov", "dec")
    assert dashboard.by.value == "campaign"
    assert set(dashboard.by.options) >= {
        ("Original operator", "operator"),
        ("Campaign", "campaign"),
    }
    assert table(store) in dashboard.summary.value
    assert "SMSC acknowledged" in dashboard.summary.value
    assert list(dashboard.figures) == list(FIGURES)
    for name in FIGURES:
        fig = figure(dashboard, name)
        assert fig["layout"]["title"]["text"] and "data" in fig
    assert figure(dashboard, "delivery_rate")["layout"]["title"]["text"].startswith(
        "Delivery rate by campaign"
    )
    assert dashboard.status.value == ""


def test_picking_campaigns_and_a_grouping_redraws_table_and_figures_together(
    sent_store: tuple[ic.Store, Simulator],
) -> None:
    store, _ = sent_store
    dashboard = Dashboard(store, delay=3600)  # the timer never fires here
    before = dashboard.summary.value
    dashboard.by.value = "operator"
    dashboard.campaigns.value = ("dec",)
    assert dashboard.summary.value == before  # waiting for the quiet period
    dashboard.flush()
    assert table(store, "operator", campaigns=["dec"]) in dashboard.summary.value
    assert "Skipped" not in dashboard.summary.value.split("</thead>")[0]  # what was sent
    title = figure(dashboard, "delivery_rate")["layout"]["title"]["text"]
    assert title.startswith("Delivery rate by original operator")
    status = figure(dashboard, "status")
    assert {"dec"} == {y for trace in status["data"] for y in trace.get("y", ())}
    dashboard.close()


def test_the_date_range_narrows_the_summary(sent_store: tuple[ic.Store, Simulator]) -> None:
    store, _ = sent_store
    dashboard = Dashboard(store, until=date(2000, 1, 1), delay=0)
    assert "No messages" in dashboard.summary.value
    dashboard.until.value = None
    dashboard.since.value = date(2000, 1, 1)
    assert table(store, since=date(2000, 1, 1)) in dashboard.summary.value
    dashboard.until.value = date(1999, 1, 1)
    assert "The period runs backwards" in dashboard.status.value


def test_importing_delivery_reports_shows_the_import_and_redraws(
    sent_store: tuple[ic.Store, Simulator], tmp_path: Path
) -> None:
    store, _ = sent_store
    dashboard = Dashboard(store, delay=0)
    ids = store.sql(
        "select dstno as msisdn, sms_id as trx_id from messages "
        "where campaign = 'nov' and state = 'submitted' order by row"
    )
    dlrs = ids.with_columns(
        dn_status=pl.when(pl.int_range(pl.len()) < 200).then(pl.lit("DELIVERED"))
        .otherwise(pl.lit("UNDELIVERED"))
    )  # fmt: skip
    path = tmp_path / "dlr.csv"
    dlrs.write_csv(path)

    assert not figure(dashboard, "dlr_arrivals")["data"]  # no reports yet
    dashboard.dlr_path.value = str(path)
    dashboard.import_button.click()
    # The store changed: the figures kept from the last draw are drawn again.
    arrivals = figure(dashboard, "dlr_arrivals")["layout"]["annotations"][0]["text"]
    assert f"the {ids.height:,} delivery reports carry no time" in arrivals
    assert "Delivery reports imported" in dashboard.import_result.value
    assert f"{ids.height:,} new" in dashboard.import_result.value
    assert table(store) in dashboard.summary.value
    assert ">200<" in dashboard.summary.value  # delivered, for nov

    dashboard.import_button.click()  # the same file again adds nothing
    assert "0 new" in dashboard.import_result.value

    dashboard.dlr_path.value = str(tmp_path / "missing.log")
    dashboard.import_button.click()
    assert 'class="err"' in dashboard.import_result.value
    assert "missing.log" in dashboard.import_result.value
    assert "Traceback" not in everything_shown(dashboard)

    dashboard.dlr_path.value = " "
    dashboard.import_button.click()
    assert "Give a file" in dashboard.import_result.value


def test_refresh_picks_up_new_campaigns_and_keeps_the_selection(
    sent_store: tuple[ic.Store, Simulator], sample: pl.DataFrame
) -> None:
    store, sim = sent_store
    dashboard = Dashboard(store, campaigns=["dec"], delay=0)
    ic.Campaign("jan", sample, template="Hello").send(gateway(sim), store, progress=False)
    assert "jan" not in dashboard.campaigns.options
    dashboard.refresh_button.click()
    assert dashboard.campaigns.options == ("nov", "dec", "jan")
    assert dashboard.campaigns.value == ("dec",)
    dashboard.campaigns.value = ()  # none picked: every campaign
    assert table(store) in dashboard.summary.value and ">jan<" in dashboard.summary.value


# -- When it goes out ------------------------------------------------------------


def malaysian_clock(monkeypatch: pytest.MonkeyPatch, day: int, hour: int) -> None:
    from isms_campaigns import schedule

    moment = datetime(2026, 5, day, hour, tzinfo=schedule.MALAYSIA)
    monkeypatch.setattr(schedule, "now", lambda: moment)


def test_composer_send_later_field_is_malaysian_time(
    sample: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    malaysian_clock(monkeypatch, 4, 12)
    composer = Composer(sample, name="nov", template="Hi %name%")
    composer.send_later.value = "2026-05-05T01:30Z"
    camp = composer.campaign
    assert camp is not None and camp.settings.send_later == "2026-05-05 09:30:00"
    composer.send_later.value = "2026-05-04 09:00"
    assert composer.campaign is None and composer.error is not None
    assert "in the past: it is now 2026-05-04 12:00 in Malaysia" in composer.error
    assert "in the past" in composer.status.value
    composer.send_later.value = "2026-05-05 21:00"  # outside the window: said before sending
    composer.flush()
    assert "outside the marketing window" in composer.status.value


def test_send_panel_outside_the_window_says_when_and_a_scheduled_time_sends(
    camp: ic.Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    malaysian_clock(monkeypatch, 4, 22)
    sim, store = simulator(), ic.Store()
    panel = SendPanel(camp, gateway(sim), store, background=False)
    assert "the window opens at 08:00 tomorrow (in 10 h 0 min)" in panel.estimate.value
    panel.confirm.value = True
    assert panel.send_button.disabled and panel.confirm.disabled
    panel.start()
    assert "Nothing to send now" in panel.message.value and not sim.ledger

    panel.send_later.value = "tomorrow"
    assert "not a date and time" in panel.estimate.value and panel.send_button.disabled
    panel.send_later.value = "2026-05-05 09:30"  # inside the window: the gateway holds it
    assert "Scheduled: the gateway sends it at 2026-05-05 09:30:00" in panel.estimate.value
    panel.confirm.value = True
    assert not panel.send_button.disabled
    panel.send_button.click()
    assert panel.report is not None and panel.report.complete
    assert len(sim.ledger) == camp.sendable.height
    assert {e.send_at for e in sim.ledger} == {datetime(2026, 5, 5, 1, 30, tzinfo=UTC)}


def test_the_dates_choose_the_status_and_credits_figures_too(
    sent_store: tuple[ic.Store, Simulator],
) -> None:
    store, _ = sent_store

    def bars(name: str) -> set[str]:  # the campaigns a figure draws (on either axis)
        drawn = [(*t.get("x", ()), *t.get("y", ())) for t in figure(dashboard, name)["data"]]
        return {v for values in drawn for v in values if isinstance(v, str)}

    dashboard = Dashboard(store, delay=0)
    everything = bars("status")
    assert everything == {"nov", "dec"} and bars("credits") == everything
    dashboard.since.value = date(2030, 1, 1)  # nothing sent then
    assert bars("status") == set() and bars("credits") == set()
    assert "show all dates" in dashboard.summary.value  # the report figures do not follow
    dashboard.since.value = None
    assert bars("status") == everything and "show all dates" not in dashboard.summary.value
    dashboard.close()

"""Delivery metrics and the HTML report, checked against numbers computed another way.

The store is built the way users build theirs (plan, send through the
simulator, import DLRs), with one campaign of each situation: realistic
simulator DLRs, gateway rejections, DLRs of known status and delay, a
10-message campaign with a textbook interval, no DLRs at all, requests
refused (planned), requests lost (unknown) and a test send.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns.money import ringgit
from isms_campaigns.report import (
    DIMENSIONS,
    SUMMARY_COLUMNS,
    ReportError,
    delivery_summary,
    write_report,
)
from isms_campaigns.simulator import Account, DlrPlan, LedgerEntry, Simulator

from .conftest import DATA

KL = "Asia/Kuala_Lumpur"
Z = 1.959963984540054


@dataclass
class Built:
    store: ic.Store
    ledger: list[LedgerEntry] = field(default_factory=list)
    mid: datetime | None = None  # after the first campaigns, before the rest
    # reminder: (status or None, delay in seconds) per submitted message, by row
    reminder: list[tuple[str | None, int]] = field(default_factory=list)


def _phones(n: int, start: int = 0) -> pl.DataFrame:
    return pl.DataFrame({"phone": [f"0123{i:06d}" for i in range(start, start + n)]})


# The reminder's statuses by row position, so every class occurs.
_PATTERN = ["UNDELIVERED", "PENDING", None, "EXPIRED", "ACCEPTED"] + ["DELIVERED"] * 5


def build_store(tmp_path: Path) -> Built:
    store = ic.Store()
    built = Built(store)
    contacts = ic.read_contacts(DATA / "sample_contacts.csv")

    # 1. The sample list with the simulator's own DLRs, through its callback log.
    log = tmp_path / "callbacks.log"
    sim = Simulator(dlr=DlrPlan(), callback_log=log, seed=7)
    gw = sim.gateway()
    promo = ic.Campaign("promo", contacts, template="Hi %name%, order %order_id% is ready")
    promo.send(gw, store, progress=False)
    # 2. Prohibited content: the gateway rejects every row (-1009).
    ic.Campaign("casino", contacts.head(30), template="Hi %name%, casino night").send(
        gw, store, progress=False
    )
    # 3. A test send to our own phone: left out of the default reports.
    promo.send(gw, store, progress=False, test_numbers=["0198765432"])
    sim.close()
    store.import_dlr(log)
    built.ledger += sim.ledger
    built.mid = datetime.now(UTC)

    # 4. DLRs of known status and delay; 5. ten messages, 8 delivered; 6. no DLRs.
    sim2 = Simulator(first_sms_id=2_000_000_000)
    gw2 = sim2.gateway()
    ic.Campaign("reminder", contacts.tail(60), template="Reminder: %order_id%").send(
        gw2, store, progress=False
    )
    ic.Campaign("tiny", _phones(10), template="Hello").send(gw2, store, progress=False)
    ic.Campaign("quiet", _phones(5, 100), template="Hello").send(gw2, store, progress=False)
    built.ledger += sim2.ledger
    sent = store.sql(
        "select campaign, dstno, sms_id, submitted_at from messages "
        "where campaign in ('reminder', 'tiny') and state = 'submitted' order by campaign, row"
    )
    reminder = sent.filter(pl.col("campaign") == "reminder")
    built.reminder = [(_PATTERN[i % 10], 5 + 3 * i) for i in range(reminder.height)]
    tiny = sent.filter(pl.col("campaign") == "tiny")
    statuses = [s for s, _ in built.reminder] + ["DELIVERED"] * 8 + ["UNDELIVERED"] * 2
    delays = [d for _, d in built.reminder] + [60] * 10
    events = (
        pl.concat([reminder, tiny])
        .with_columns(
            dn_status=pl.Series(statuses, dtype=pl.String),
            time=pl.col("submitted_at") + pl.duration(seconds=pl.lit(pl.Series(delays))),
        )
        .filter(pl.col("dn_status").is_not_null())
        .select(msisdn="dstno", trx_id="sms_id", dn_status="dn_status", time="time")
    )
    store.import_dlr(events)

    # 7. The account has no credits: the request is refused, the rows stay planned.
    broke = Simulator(accounts=[Account(balance=0)], first_sms_id=3_000_000_000)
    ic.Campaign("unfunded", _phones(3, 200), template="Hi").send(
        broke.gateway(), store, progress=False, check_balance=False
    )
    # 8. Every host hangs: the request may have gone out (unknown).
    lost = Simulator(first_sms_id=4_000_000_000)
    for host in range(len(lost.hosts)):
        lost.set_fault(host, "hang")
    ic.Campaign("ambiguous", _phones(4, 300), template="Hi").send(
        lost.gateway(), store, progress=False, check_balance=False
    )
    return built


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_store(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def messages(built: Built) -> pl.DataFrame:
    """The messages view, read once, for the polars side of each comparison."""
    return built.store.sql("select * from messages")


CAMPAIGNS = ["promo", "casino", "reminder", "tiny", "quiet", "unfunded", "ambiguous"]


def _expected_counts(messages: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The count columns, computed with polars from the messages view."""
    state, cls = pl.col("state"), pl.col("dlr_class")
    sub = state == "submitted"
    return (
        messages.filter(pl.col("campaign").is_in(CAMPAIGNS))
        .group_by(keys)
        .agg(
            messages=pl.len(),
            **{s: (state == s).sum() for s in ("planned", "skipped", "submitted", "failed")},
            unknown=(state == "unknown").sum(),
            delivered=(sub & (cls == "delivered")).sum(),
            undelivered=(sub & (cls == "failed")).sum(),
            pending=(sub & (cls == "pending")).sum(),
            other_dlr=(sub & (cls == "unknown")).sum(),
            no_dlr=(sub & cls.is_null()).sum(),
        )
        .with_columns(pl.exclude(keys).cast(pl.Int64))
        .sort(keys, nulls_last=True)
    )


COUNTS = [
    "messages", "planned", "skipped", "submitted", "failed", "unknown",
    "delivered", "undelivered", "pending", "other_dlr", "no_dlr",
]  # fmt: skip


def test_by_campaign_counts_match_the_messages_view_and_the_ledger(
    built: Built, messages: pl.DataFrame
) -> None:
    summary = delivery_summary(built.store)
    assert summary.columns == ["campaign", *SUMMARY_COLUMNS]
    assert summary["campaign"].to_list() == CAMPAIGNS  # creation order; no test send
    expected = _expected_counts(messages, ["campaign"])
    assert summary.select("campaign", *COUNTS).sort("campaign").equals(expected)
    # Each state shows up where it should.
    row = {r["campaign"]: r for r in summary.iter_rows(named=True)}
    assert row["casino"]["failed"] == 30 - row["casino"]["skipped"] > 0
    assert row["unfunded"]["planned"] == 3 and row["ambiguous"]["unknown"] == 4
    assert row["quiet"]["no_dlr"] == row["quiet"]["submitted"] == 5
    # Submitted = what the simulator accepted (its ledger), campaigns included or not.
    test_send = delivery_summary(built.store, campaigns="promo [test 1]")
    submitted = int(summary["submitted"].sum()) + int(test_send["submitted"].sum())
    assert submitted == len(built.ledger)
    # Every message is in exactly one state, every submitted one in one DLR class.
    states = summary.select(pl.sum_horizontal(COUNTS[1:6]))
    assert states.to_series().to_list() == summary["messages"].to_list()
    classes = summary.select(pl.sum_horizontal(COUNTS[6:]))
    assert classes.to_series().to_list() == summary["submitted"].to_list()


def test_known_dlr_statuses_and_times(built: Built) -> None:
    row = delivery_summary(built.store, campaigns="reminder").row(0, named=True)
    statuses = [s for s, _ in built.reminder]
    assert row["submitted"] == len(built.reminder) > 40
    assert row["delivered"] == sum(s in ("DELIVERED", "ACCEPTED") for s in statuses)
    assert row["undelivered"] == statuses.count("UNDELIVERED")
    assert row["pending"] == statuses.count("PENDING")
    assert row["other_dlr"] == statuses.count("EXPIRED")
    assert row["no_dlr"] == statuses.count(None)
    assert row["delivery_rate"] == pytest.approx(row["delivered"] / row["submitted"])
    # Time to DLR over final reports only (not PENDING, not missing).
    final = sorted(d for s, d in built.reminder if s not in (None, "PENDING"))
    assert row["dlr_seconds_median"] == pytest.approx(statistics.median(final), abs=1e-3)
    at = 0.9 * (len(final) - 1)  # linear interpolation between order statistics
    lo = math.floor(at)
    p90 = final[lo] + (at - lo) * (final[lo + 1] - final[lo])
    assert row["dlr_seconds_p90"] == pytest.approx(p90, abs=1e-3)


def _wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / (1 + Z**2 / n)
    return centre - half, centre + half


def test_wilson_interval_against_the_formula_and_a_textbook_value(built: Built) -> None:
    tiny = delivery_summary(built.store, campaigns="tiny").row(0, named=True)
    assert (tiny["delivered"], tiny["submitted"]) == (8, 10)
    # 8 of 10: 0.4902 to 0.9433 (Newcombe 1998, method 3).
    assert tiny["rate_low"] == pytest.approx(0.4902, abs=5e-5)
    assert tiny["rate_high"] == pytest.approx(0.9433, abs=5e-5)
    summary = delivery_summary(built.store, by=["operator", "type"])
    checked = 0
    for r in summary.iter_rows(named=True):
        if r["submitted"] == 0:
            assert r["delivery_rate"] is r["rate_low"] is r["rate_high"] is None
            continue
        low, high = _wilson(r["delivered"], r["submitted"])
        assert (r["rate_low"], r["rate_high"]) == pytest.approx((low, high))
        assert r["rate_low"] <= r["delivery_rate"] <= r["rate_high"]
        checked += 1
    assert checked >= 8


def test_several_dimensions_at_once(built: Built, messages: pl.DataFrame) -> None:
    keys = ["campaign", "operator", "type", "parts"]
    summary = delivery_summary(built.store, by=keys)
    expected = _expected_counts(messages, keys)
    assert summary.select(*keys, *COUNTS).sort(keys, nulls_last=True).equals(expected)
    # The groups add up to the campaign totals.
    totals = summary.group_by("campaign").agg(pl.col(COUNTS).sum()).sort("campaign")
    by_campaign = delivery_summary(built.store).select("campaign", *COUNTS).sort("campaign")
    assert totals.equals(by_campaign)
    assert summary["operator"].null_count() > 0  # invalid numbers have no operator
    assert set(summary["type"].drop_nulls()) == {1, 2}  # the sample has Unicode names


@pytest.mark.parametrize("zone", [KL, "UTC"])
def test_hour_and_date_are_of_submission_in_the_time_zone(
    built: Built, messages: pl.DataFrame, zone: str
) -> None:
    summary = delivery_summary(built.store, by=["date", "hour"], time_zone=zone)
    local = pl.col("submitted_at").dt.convert_time_zone(zone)
    expected = (
        messages.filter(pl.col("campaign").is_in(CAMPAIGNS))
        .group_by(date=local.dt.date(), hour=local.dt.hour().cast(pl.Int64))
        .agg(messages=pl.len(), submitted=(pl.col("state") == "submitted").sum().cast(pl.Int64))
        .sort("date", "hour", nulls_last=True)
    )
    assert summary.select("date", "hour", "messages", "submitted").equals(expected)
    # Messages never submitted have no hour.
    never = summary.filter(pl.col("hour").is_null())
    assert never["submitted"].to_list() == [0]


def test_credits_charged_where_attributable(built: Built, messages: pl.DataFrame) -> None:
    # What the simulator charged, message by message, mapped to campaigns by sms_id.
    charged = pl.DataFrame(
        [(e.sms_id, e.type, e.credits) for e in built.ledger],
        schema={"sms_id": pl.String, "type": pl.Int8, "credits": pl.Int64},
        orient="row",
    ).join(messages.select("sms_id", "campaign"), on="sms_id")
    by_type = charged.group_by("campaign", "type").agg(pl.col("credits").sum())
    summary = delivery_summary(built.store, by=["campaign", "type"])
    got = summary.join(by_type, on=["campaign", "type"], how="left")
    for r in got.iter_rows(named=True):
        if r["campaign"] in ("unfunded", "ambiguous"):
            assert r["credits_charged"] is None  # refused or lost: the gateway said nothing
        else:
            assert r["credits_charged"] == (r["credits"] or 0), r
        assert r["credits_submitted"] == (r["credits"] or 0)  # the simulator bills as we do
    estimated = built.store.sql(
        "select campaign, credits_estimated from campaigns where kind = 'campaign'"
    )
    by_campaign = delivery_summary(built.store).join(estimated, on="campaign", suffix="_plan")
    assert (
        by_campaign["credits_estimated"].to_list()
        == by_campaign["credits_estimated_plan"].to_list()
    )
    # A request mixes operators, countries and part counts: nothing to attribute.
    for by in ("operator", "country", "parts", ["campaign", "operator"]):
        assert delivery_summary(built.store, by=by)["credits_charged"].null_count() == len(
            delivery_summary(built.store, by=by)
        )
    # A request is sent at one moment: hours and dates add up to the total.
    total = delivery_summary(built.store)["credits_charged"].sum()
    assert delivery_summary(built.store, by="hour")["credits_charged"].sum() == total
    assert delivery_summary(built.store, by=["sender_id", "date"])["credits_charged"].sum() == total


def test_campaigns_default_leaves_test_sends_out_unless_named(built: Built) -> None:
    assert "promo [test 1]" not in delivery_summary(built.store)["campaign"].to_list()
    named = delivery_summary(built.store, campaigns=["promo [test 1]", "tiny"])
    assert named["campaign"].to_list() == ["promo [test 1]", "tiny"]
    assert named["submitted"].to_list() == [2, 10]  # one per message type, to one phone


def test_since_and_until_split_at_a_moment(built: Built) -> None:
    assert built.mid is not None
    later = delivery_summary(built.store, since=built.mid)
    assert later["campaign"].to_list() == ["reminder", "tiny", "quiet", "unfunded", "ambiguous"]
    every = delivery_summary(built.store).filter(pl.col("campaign").is_in(later["campaign"]))
    assert later.select(COUNTS).equals(every.select(COUNTS))  # whole campaigns, untouched
    earlier = delivery_summary(built.store, until=built.mid.isoformat())
    assert earlier["campaign"].to_list() == ["promo", "casino"]
    # A naive time is local to time_zone; a date is its midnight there.
    naive = built.mid.astimezone(ZoneInfo(KL)).replace(tzinfo=None)
    assert delivery_summary(built.store, since=naive).equals(later)
    first = built.store.sql("select min(created_at) as t from campaigns")["t"].item()
    day = first.astimezone(ZoneInfo(KL)).date()
    assert delivery_summary(built.store, since=day)["campaign"].to_list() == CAMPAIGNS
    assert delivery_summary(built.store, since=date(2999, 1, 1)).is_empty()
    assert delivery_summary(built.store, since="2999-01-01T00:00Z").is_empty()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"by": "telco"}, ["'telco'", "operator", "sender_id", "hour"]),
        ({"by": ["campaign", "hours"]}, ["'hours'", "hour"]),
        ({"by": []}, ["by is empty", "campaign"]),
        ({"campaigns": "nov-promo"}, ["'nov-promo'", "promo", "tiny"]),
        ({"campaigns": ["promo", "nope"]}, ["'nope'", "casino"]),
        ({"since": "last tuesday"}, ["'last tuesday'", "ISO"]),
        ({"until": 5}, ["until", "5"]),
        ({"time_zone": "Mars/Olympus"}, ["'Mars/Olympus'", "Asia/Kuala_Lumpur"]),
    ],
)
def test_bad_input_says_what_and_the_choices(
    built: Built, kwargs: dict[str, object], words: list[str]
) -> None:
    with pytest.raises(ReportError) as info:
        delivery_summary(built.store, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError) and isinstance(info.value, ic.IsmsError)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("by", [*DIMENSIONS, list(DIMENSIONS)])
def test_an_empty_store_gives_empty_typed_frames(by: str | list[str]) -> None:
    summary = delivery_summary(ic.Store(), by=by)
    keys = [by] if isinstance(by, str) else by
    assert summary.is_empty() and summary.columns == [*keys, *SUMMARY_COLUMNS]
    assert summary.schema["delivery_rate"] == pl.Float64
    assert summary.schema["submitted"] == pl.Int64


# ---------------------------------------------------------------------------
# The HTML report
# ---------------------------------------------------------------------------

PLOTLY_BANNER = re.compile(r"\* plotly\.js v\d")


def test_report_is_one_self_contained_file(built: Built, tmp_path: Path) -> None:
    path = write_report(built.store, tmp_path / "out" / "report.html", title="November <promo>")
    assert path == tmp_path / "out" / "report.html"
    text = path.read_text(encoding="utf-8")
    assert len(PLOTLY_BANNER.findall(text)) == 1  # the bundle, embedded once
    # Nothing fetched: no script, stylesheet or image from elsewhere; works offline.
    assert not re.search(r"<script[^>]+src=", text)
    ours = re.sub(r"<script.*?</script>", "", text, flags=re.S)  # plotly.js aside
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", ours)
    assert text.count('class="plotly-graph-div') == 7
    assert "November &lt;promo&gt;" in text  # escaped
    assert "SMSC acknowledged" in text and "not proof that the" in text
    assert "Generated " in text and "UTC" in text
    # The tables carry the summary's numbers.
    for heading in ("Campaigns", "Skipped, by reason", "Who did not get the message"):
        assert f"<h2>{heading}</h2>" in text
    for heading in ("By country and original operator", "By message type", "By date submitted"):
        assert f"<h3>{heading}</h3>" in text
    tiny = re.findall(r"<td>tiny</td>(.*?)</tr>", text)
    assert any("<td>80.0 %</td><td>49.0–94.3 %</td>" in cells for cells in tiny)
    # quiet has submitted messages and no DLR: said plainly.
    assert re.search(r"No delivery reports imported yet for [^<]*quiet", text)
    assert "<th>Unknown</th>" in text and "<th>Planned</th>" in text  # they occur here
    assert "promo [test 1]" not in text  # test sends only when named
    assert "pwd" not in ours and "demo" not in ours  # no credentials anywhere


def test_report_for_named_campaigns(built: Built, tmp_path: Path) -> None:
    text = write_report(built.store, tmp_path / "r.html", campaigns=["quiet"]).read_text()
    assert ">quiet<" in text and ">promo<" not in text
    assert "<th>Unknown</th>" not in text  # a state that never occurs gets no column
    assert "No data yet: no final delivery reports imported." in text
    with pytest.raises(ReportError, match="'nope'"):
        write_report(built.store, tmp_path / "x.html", campaigns="nope")
    assert not (tmp_path / "x.html").exists()


def test_report_of_an_empty_store(tmp_path: Path) -> None:
    text = write_report(ic.Store(), tmp_path / "empty.html").read_text()
    assert "No campaigns to report yet" in text
    assert not PLOTLY_BANNER.search(text)  # no figures, so no 4 MB of plotly.js
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")


def _cards(report: Path) -> str:
    """The headline cards' texts, each between bars: ``|1,234|messages|…``."""
    text = report.read_text(encoding="utf-8")
    cards = text.split('<div class="cards">')[1].split("</div></div>\n")[0]
    return re.sub(r"(<[^>]+>)+", "|", "<>" + cards + "<>")


def test_report_headline_cards_say_what_happened(built: Built, tmp_path: Path) -> None:
    shown = _cards(write_report(built.store, tmp_path / "r.html"))
    total = delivery_summary(built.store).select(pl.exclude("campaign").sum()).row(0, named=True)
    rate = total["delivered"] / total["submitted"] * 100
    assert f"|{total['messages']:,}|messages|" in shown
    assert f"|{rate:.1f} %|delivered|" in shown
    assert f"|{total['undelivered']:,}|undelivered|" in shown
    assert f"{total['failed']:,} failed" in shown  # beside the undelivered
    # No price per credit in the store (yet): credits, and why no ringgit.
    assert "cost: price per credit unknown" in shown
    assert f"{total['credits_estimated']:,} credits" in shown


def test_the_cost_card_shows_ringgit_for_the_campaigns_with_a_price(tmp_path: Path) -> None:
    store, sim = ic.Store(), Simulator()
    contacts = ic.read_contacts(DATA / "sample_contacts.csv")
    priced = ic.BillingRule(price_per_credit=0.08)
    ic.Campaign("priced", contacts, template="Hi %name%", billing=priced).send(
        sim.gateway(), store, progress=False
    )
    credits = int(store.sql("select sum(credits) from messages where state = 'submitted'").item())
    cards = _cards(write_report(store, tmp_path / "r.html"))
    assert f"|{ringgit(credits * 0.08)}|cost estimated|" in cards
    assert f"{ringgit(credits * 0.08)} charged" in cards  # the simulator charges the estimate
    # A campaign without a price is left out of the ringgit, and the card says so.
    ic.Campaign("unpriced", contacts.head(20), template="Yo %name%").send(
        sim.gateway(), store, progress=False
    )
    cards = _cards(write_report(store, tmp_path / "r.html"))
    assert f"|{ringgit(credits * 0.08)}|cost estimated|" in cards
    assert "1 campaign without a price left out" in cards


def test_report_lists_skipped_reasons_and_who_did_not_get_the_message(
    built: Built, messages: pl.DataFrame, tmp_path: Path
) -> None:
    path = write_report(built.store, tmp_path / "nov.html")
    text = path.read_text(encoding="utf-8")
    chosen = messages.filter(pl.col("campaign").is_in(CAMPAIGNS))
    # Skipped, by reason: the messages view's counts.
    for problem, n in chosen.filter(pl.col("state") == "skipped")["problem"].value_counts().rows():
        assert f'<tr><td>{problem}</td><td class="num">{n:,}</td></tr>' in text
    # Who did not get it: failed, undelivered, other DLR; all in the CSV beside the page.
    missed = chosen.filter(
        (pl.col("state") == "failed")
        | ((pl.col("state") == "submitted") & pl.col("dlr_class").is_in(["failed", "unknown"]))
    )
    csv = tmp_path / "nov-not-delivered.csv"
    listed = pl.read_csv(csv, schema_overrides={"dstno": pl.String})
    assert sorted(listed["dstno"]) == sorted(missed["dstno"])
    assert set(listed["state"]) == {"Failed", "Undelivered", "Other DLR"}
    assert '<a href="nov-not-delivered.csv">' in text
    section = text.split("<h2>Who did not get the message</h2>")[1].split("<h2>")[0]
    assert section.count("<tr><td>") == min(missed.height, 100)
    if missed.height > 100:
        assert f"the first 100 of {missed.height:,} recipients" in section
    assert "<td>-1009 " in section  # a failure says its gateway code and meaning
    # A report with no one to list leaves no stale CSV behind.
    write_report(built.store, tmp_path / "nov.html", campaigns="quiet")
    assert not csv.exists()


def test_report_breakdowns_leave_skipped_out_and_fold_small_groups(
    built: Built, tmp_path: Path
) -> None:
    text = write_report(built.store, tmp_path / "r.html").read_text(encoding="utf-8")
    section = text.split("<h3>By country and original operator</h3>")[1].split("<h3>")[0]
    assert "(none)" not in section and "Skipped" not in section
    summary = delivery_summary(built.store, by=["country", "operator"])
    sent = summary.with_columns(n=pl.col("messages") - pl.col("skipped")).filter(pl.col("n") > 0)
    small = sent.filter(pl.col("n") < 10)
    assert small.height >= 2  # the sample has one-message groups
    assert f'<td>other: {small.height} groups</td><td></td><td class="num">' in section
    for country, operator, n in (
        sent.filter(pl.col("n") >= 10).select("country", "operator", "n").rows()
    ):
        assert f'<td>{country}</td><td>{operator}</td><td class="num">{n:,}</td>' in section


def test_one_word_for_each_state_everywhere(built: Built, tmp_path: Path) -> None:
    from isms_campaigns import analytics, plots

    text = write_report(built.store, tmp_path / "r.html").read_text(encoding="utf-8")
    ours = re.sub(r"<script.*?</script>", "", text, flags=re.S)
    assert "Rejected" not in ours and "rejected" not in ours
    words = set(analytics.STATE_WORDS.values())
    table = analytics.readable_summary(delivery_summary(built.store), "campaign")
    states = [c for c in table.columns if c in words]
    assert len(states) >= 8
    for key, label in plots.LABELS.items():
        if key in analytics.STATE_WORDS:
            assert label.startswith(analytics.STATE_WORDS[key])
    glossary = text.split('id="glossary"')[1]
    for word in words:
        assert f"<dt>{word}</dt>" in glossary


def test_importing_the_package_does_not_import_plotly() -> None:
    import subprocess
    import sys

    code = (
        "import sys, isms_campaigns as ic\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'plotly'], 'eager'\n"
        "ic.plots.delivery_rate(ic.Store())\n"
        "assert 'plotly' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

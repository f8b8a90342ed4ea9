"""When it goes out: the marketing window, send_later, the frequency cap.

The library's clock is :func:`isms_campaigns.schedule.now`; these tests set
it (and the simulator's) to stand before, inside and after the window. The
simulator's ledger is the oracle: every number at most once, none lost.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import isms_campaigns as ic
from isms_campaigns import schedule
from isms_campaigns.gateway import Rejected
from isms_campaigns.schedule import MALAYSIA, FrequencyCap, Window
from isms_campaigns.simulator import DlrPlan, Simulator


def malaysian(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=MALAYSIA)


class Clock:
    """A settable clock: both the library's and the simulator's."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(malaysian(4, 12))
    monkeypatch.setattr(schedule, "now", c)
    return c


def people(n: int, first: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {"phone": [f"012{i:07d}" for i in range(first, first + n)], "name": ["Ali"] * n}
    )


def promo(contacts: pl.DataFrame, name: str = "promo", **options: object) -> ic.Campaign:
    return ic.Campaign(name, contacts, template="Hi %name%, 20% off today", **options)


def assert_each_number_once(sim: Simulator, contacts: pl.DataFrame) -> None:
    sent = Counter(e.dstno for e in sim.ledger)
    assert max(sent.values()) == 1
    assert len(sent) == contacts.height


# --------------------------------------------------------------------------
# The window
# --------------------------------------------------------------------------


def test_outside_the_window_a_marketing_send_sends_nothing_and_says_when_it_opens(
    clock: Clock,
) -> None:
    clock.at = malaysian(4, 22, 48)
    sim, store = Simulator(), ic.Store()
    report = promo(people(10)).send(sim.gateway(), store, progress=False)
    assert sim.ledger == [] and not report.ok
    assert report.stop_reason == "outside the marketing window; nothing was sent"
    assert report.what_to_do is not None
    assert report.what_to_do.startswith(
        "Marketing messages go out between 08:00 and 20:00 Malaysian time; "
        "the window opens at 08:00 tomorrow (in 9 h 12 min)."
    )
    assert "purpose='transactional'" in report.what_to_do
    assert report.states == {"planned": 10, "skipped": 0}
    assert store.sql("select count(*) as n from campaigns")["n"].item() == 0  # nothing written


def test_before_the_window_it_opens_today(clock: Clock) -> None:
    clock.at = malaysian(4, 6, 30)
    report = promo(people(3)).send(Simulator().gateway(), ic.Store(), progress=False)
    assert report.what_to_do is not None
    assert "the window opens at 08:00 today (in 1 h 30 min)" in report.what_to_do


def test_the_machine_clock_in_utc_is_read_as_malaysian_time(clock: Clock) -> None:
    clock.at = datetime(2026, 5, 4, 1, 30, tzinfo=UTC)  # 09:30 in Malaysia: open
    sim = Simulator()
    assert promo(people(3)).send(sim.gateway(), ic.Store(), progress=False).complete
    clock.at = datetime(2026, 5, 4, 12, 30, tzinfo=UTC)  # 20:30 in Malaysia: closed
    later = promo(people(3, 100), "later").send(sim.gateway(), ic.Store(), progress=False)
    assert later.stop_reason is not None and len(sim.ledger) == 3


def test_transactional_goes_out_at_any_hour(clock: Clock) -> None:
    clock.at = malaysian(4, 3)
    sim, contacts = Simulator(), people(60)
    camp = promo(contacts, purpose="transactional")
    assert camp.send(sim.gateway(), ic.Store(), progress=False).complete
    assert_each_number_once(sim, contacts)


def test_inside_the_window_a_marketing_send_completes(clock: Clock) -> None:
    clock.at = malaysian(4, 8)  # the first minute of the window
    sim, contacts = Simulator(), people(60)
    assert promo(contacts).send(sim.gateway(), ic.Store(), progress=False).complete
    assert_each_number_once(sim, contacts)


def test_a_send_crossing_the_window_end_stops_there_and_resumes_next_morning(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, store, contacts = Simulator(), ic.Store(), people(300)
    start = malaysian(4, 19, 58)
    # Time runs with the traffic: a minute per message the gateway accepts.
    monkeypatch.setattr(schedule, "now", lambda: start + timedelta(minutes=len(sim.ledger)))
    camp = promo(contacts)
    first = camp.send(sim.gateway(), store, progress=False, concurrency=2)
    # The two requests started before 20:00 finish and are recorded; nothing else left.
    assert first.stop_reason == "the marketing window closed at 20:00 Malaysian time"
    assert first.what_to_do is not None and "08:00 tomorrow" in first.what_to_do
    assert first.states == {"submitted": 100, "planned": 200}
    assert len(sim.ledger) == 100

    monkeypatch.setattr(schedule, "now", Clock(malaysian(5, 7, 59)))
    early = camp.send(sim.gateway(), store, progress=False)
    assert early.stop_reason is not None and len(sim.ledger) == 100

    monkeypatch.setattr(schedule, "now", Clock(malaysian(5, 8)))
    resumed = camp.send(sim.gateway(), store, progress=False)
    assert resumed.complete and resumed.submitted_now == 200
    assert "Resumed: what was already sent was skipped." in resumed.notes
    assert_each_number_once(sim, contacts)


def test_the_window_is_configurable_per_campaign_and_per_send(clock: Clock) -> None:
    clock.at = malaysian(4, 8, 30)
    sim = Simulator()
    late_opening = promo(people(5), window=("09:00", "17:00"))
    report = late_opening.send(sim.gateway(), ic.Store(), progress=False)
    assert report.what_to_do is not None
    assert report.what_to_do.startswith(
        "Marketing messages go out between 09:00 and 17:00 Malaysian time; "
        "the window opens at 09:00 today (in 30 min)."
    )
    # The send's window wins over the campaign's.
    assert late_opening.send(sim.gateway(), ic.Store(), progress=False, window="08:00-18:00").ok
    assert len(sim.ledger) == 5


def test_a_window_may_span_midnight() -> None:
    night = Window.parse("22:00-06:00")
    assert night.contains(malaysian(4, 23)) and night.contains(malaysian(5, 5, 59))
    assert not night.contains(malaysian(5, 6))
    assert night.opens(malaysian(5, 7)) == malaysian(5, 22)
    assert night.closes(malaysian(4, 23)) == malaysian(5, 6)


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (("8am", "20:00"), "is not two times of day"),
        ("08:00", "is not two times of day"),
        (("08:00", "08:00"), "starts when it ends"),
    ],
)
def test_a_bad_window_is_refused_naming_it(window: object, message: str) -> None:
    with pytest.raises(ic.PlanError, match=message):
        promo(people(1), window=window)


def test_a_bad_purpose_is_refused() -> None:
    with pytest.raises(ic.PlanError, match=r"'promo'.*transactional"):
        promo(people(1), purpose="promo")


def test_test_sends_keep_to_no_window(clock: Clock) -> None:
    clock.at = malaysian(4, 23)
    sim = Simulator()
    report = promo(people(5)).send(
        sim.gateway(), ic.Store(), progress=False, test_numbers=["0199998888"]
    )
    assert report.complete and [e.dstno for e in sim.ledger] == ["60199998888"]


# --------------------------------------------------------------------------
# send_later
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        "2026-05-05T01:30Z",  # the case that went out at 01:30
        "2026-05-05T09:30+08:00",
        "2026-05-05 09:30",  # no offset: Malaysian time
        datetime(2026, 5, 5, 1, 30, tzinfo=UTC),
        datetime(2026, 5, 5, 9, 30),  # naive: Malaysian time
    ],
)
def test_send_later_is_malaysian_time(clock: Clock, given: object) -> None:
    camp = promo(people(1), send_later=given)
    assert camp.settings.send_later == "2026-05-05 09:30:00"
    assert camp.scheduled == malaysian(5, 9, 30)


def test_a_past_send_later_is_refused_with_the_malaysian_clock(clock: Clock) -> None:
    clock.at = datetime(2026, 5, 4, 1, 40, tzinfo=UTC)  # 09:40 in Malaysia, 01:40 UTC
    with pytest.raises(ic.PlanError) as refused:
        promo(people(1), send_later="2026-05-04 09:30")
    assert str(refused.value) == (
        "send_later 2026-05-04 09:30 Malaysian time is in the past: it is now "
        "2026-05-04 09:40 in Malaysia. Give a later time, or none to send at once."
    )
    # 09:30 UTC is 17:30 Malaysian time: later today, accepted.
    assert promo(people(1), send_later="2026-05-04T09:30Z").scheduled == malaysian(4, 17, 30)


def test_an_unreadable_send_later_is_refused_with_the_format(clock: Clock) -> None:
    with pytest.raises(ic.PlanError, match=r"'next monday'.*'2026-12-01 09:30'.*12:00 in Ma"):
        promo(people(1), send_later="next monday")


def test_the_window_applies_to_the_scheduled_time_not_now(clock: Clock) -> None:
    clock.at = malaysian(4, 23)  # closed now
    sim, contacts = Simulator(), people(60)
    camp = promo(contacts, send_later="2026-05-05 09:30")
    report = camp.send(sim.gateway(), ic.Store(), progress=False)
    assert report.complete and len(sim.ledger) == 60
    assert {e.send_at for e in sim.ledger} == {malaysian(5, 9, 30)}

    evening = promo(contacts, "evening", send_later="2026-05-05 21:00")
    assert any("outside the marketing window" in n for n in evening.notes)  # in the estimate
    refused = evening.send(sim.gateway(), ic.Store(), progress=False)
    assert refused.what_to_do is not None
    assert "e.g. 2026-05-06 08:00" in refused.what_to_do and len(sim.ledger) == 60


def test_a_scheduled_send_is_not_stopped_at_the_window_end(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, contacts = Simulator(), people(200)
    camp = promo(contacts, send_later="2026-05-05 09:30")
    start = malaysian(4, 19, 59)
    monkeypatch.setattr(schedule, "now", lambda: start + timedelta(minutes=len(sim.ledger)))
    report = camp.send(sim.gateway(), ic.Store(), progress=False, concurrency=1)
    assert report.complete  # every message carries 09:30 tomorrow, inside the window
    assert_each_number_once(sim, contacts)


def test_a_send_later_that_has_passed_by_the_send_is_refused(clock: Clock) -> None:
    camp = promo(people(5), send_later="2026-05-04 12:30")
    clock.at = malaysian(4, 13)
    sim = Simulator()
    with pytest.raises(ic.PlanError, match="in the past: it is now 2026-05-04 13:00"):
        camp.send(sim.gateway(), ic.Store(), progress=False)
    assert sim.ledger == []
    moved = camp.rescheduled("2026-05-04 15:00")
    assert moved.send(sim.gateway(), ic.Store(), progress=False).complete
    assert {e.send_at for e in sim.ledger} == {malaysian(4, 15)}


def test_the_simulator_holds_scheduled_messages_over_loopback(clock: Clock, tmp_path: Path) -> None:
    # Tonight, for 09:30 tomorrow morning (the dates near today: the store
    # refuses reports dated more than a day after their import).
    today = datetime.now(MALAYSIA).date() - timedelta(days=1)
    clock.at = datetime.combine(today, datetime.min.time(), MALAYSIA).replace(hour=22)
    morning = clock.at.replace(hour=9, minute=30) + timedelta(days=1)
    log = tmp_path / "callbacks.log"
    sim = Simulator(
        hosts=2,
        clock=clock,
        dlr=DlrPlan(mix={"DELIVERED": 1.0}, pending=0, repeat=0, delay=(5, 60)),
        callback_log=log,
    )
    store, contacts = ic.Store(), people(70)
    camp = promo(contacts, send_later=morning.astimezone(UTC).isoformat())
    with sim.serve(port=0) as urls, ic.Gateway("demo", "demo", hosts=urls) as gw:
        assert all(u.startswith("http://127.0.0.1:") for u in urls)
        assert camp.send(gw, store, progress=False).complete
    assert_each_number_once(sim, contacts)
    assert {e.send_at for e in sim.ledger} == {morning}
    assert len(sim.held()) == 70  # accepted, not out yet
    clock.at = morning
    assert sim.held() == []
    sim.close()  # the reports still due are written, dated when due
    store.import_dlr(log)
    times = store.sql(
        "select min(dlr_at) as first, count(dlr_at) as n from messages where campaign = 'promo'"
    ).row(0, named=True)
    assert times["n"] == 70 and times["first"] >= morning + timedelta(seconds=5)


def test_the_simulator_refuses_a_sendlater_it_cannot_read() -> None:
    sim = Simulator()
    reply = sim.gateway().send_json(
        [{"dstno": "60123456789", "msg": "Hi"}], type=1, sendlater="soon"
    )
    assert isinstance(reply.result, Rejected) and reply.result.code == -1008
    assert sim.ledger == []


# --------------------------------------------------------------------------
# The frequency cap
# --------------------------------------------------------------------------


def test_the_frequency_cap_skips_numbers_other_campaigns_reached(clock: Clock) -> None:
    clock.at = datetime.now(UTC)  # the store's times are the real clock's
    sim, store = Simulator(), ic.Store()
    first = ic.Campaign("first", people(10), template="Order ready", purpose="transactional")
    first.send(sim.gateway(), store, progress=False)
    second = promo(people(10, 5), "second", purpose="transactional")
    report = second.send(sim.gateway(), store, progress=False, max_per_number=(1, "24h"))
    assert report.states == {"submitted": 5, "skipped": 5}
    problems = store.sql(
        "select dstno, problem from messages where campaign = 'second' and state = 'skipped'"
    )
    assert problems["dstno"].to_list() == [f"6012{i:07d}" for i in range(5, 10)]
    reason = re.compile(
        r"frequency cap: 1 message in 24h \(last from 'first' at \d{4}-\d\d-\d\d \d\d:\d\d\)"
    )
    assert all(reason.fullmatch(p) for p in problems["problem"])
    assert any("skipped by the frequency cap" in n for n in report.notes)
    assert Counter(e.dstno for e in sim.ledger).most_common(1)[0][1] == 1  # none got two


def test_the_frequency_cap_counts_within_its_period_and_up_to_its_count(clock: Clock) -> None:
    clock.at = datetime.now(UTC)
    sim, store = Simulator(), ic.Store()
    ic.Campaign("first", people(4), template="A", purpose="transactional").send(
        sim.gateway(), store, progress=False
    )
    two = ic.Campaign("two", people(4), template="B", purpose="transactional")
    assert two.send(sim.gateway(), store, progress=False, max_per_number="2/24h").complete
    clock.at = datetime.now(UTC) + timedelta(hours=25)  # both sends are more than 24 h ago
    later = ic.Campaign("later", people(4), template="C", purpose="transactional")
    assert later.send(sim.gateway(), store, progress=False, max_per_number=(1, "24h")).complete
    third = ic.Campaign("third", people(4), template="D", purpose="transactional")
    capped = third.send(sim.gateway(), store, progress=False, max_per_number=(1, "2d"))
    assert capped.states == {"skipped": 4}
    assert len(sim.ledger) == 12


def test_the_frequency_cap_is_applied_again_when_a_send_resumes(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, store, contacts = Simulator(), ic.Store(), people(100)
    real = datetime.now(UTC)
    start = real - timedelta(minutes=1)
    start_my = start.astimezone(MALAYSIA)
    # The window ends a minute after the send starts (the real clock, for the cap).
    window = ((start_my + timedelta(hours=-1)).time(), (start_my + timedelta(minutes=1)).time())
    monkeypatch.setattr(schedule, "now", lambda: start + timedelta(minutes=len(sim.ledger)))
    camp = promo(contacts, window=window)
    first = camp.send(sim.gateway(), store, progress=False, concurrency=1)
    assert first.states == {"submitted": 50, "planned": 50}
    # Meanwhile an order notice reaches ten of the numbers still planned.
    monkeypatch.setattr(schedule, "now", Clock(real))
    notice = ic.Campaign("notice", people(10, 90), template="Ready", purpose="transactional")
    notice.send(sim.gateway(), store, progress=False)
    # Next day, inside the window again, less than 24 h after the notice.
    monkeypatch.setattr(schedule, "now", Clock(real + timedelta(hours=23, minutes=30)))
    resumed = camp.send(sim.gateway(), store, progress=False, max_per_number=(1, "24h"))
    assert resumed.states == {"submitted": 90, "skipped": 10}
    got = Counter(e.dstno for e in sim.ledger)
    assert len(got) == 100 and max(got.values()) == 1  # the ten got the notice only


@pytest.mark.parametrize(
    ("cap", "message"),
    [
        ("1/24x", "period '24x' is not like '24h'"),
        ((0, "24h"), "must be positive"),
        ("often", "is not a count and a period"),
    ],
)
def test_a_bad_frequency_cap_is_refused_naming_it(cap: object, message: str) -> None:
    with pytest.raises(ic.PlanError, match=re.escape(message)):
        FrequencyCap.parse(cap)  # type: ignore[arg-type]


def test_frequency_cap_spellings() -> None:
    assert str(FrequencyCap.parse((1, "24h"))) == "1 message in 24h"
    assert FrequencyCap.parse("3/7d") == FrequencyCap(3, timedelta(days=7), "7d")
    assert str(FrequencyCap.parse((2, timedelta(hours=36)))) == "2 messages in 36h"

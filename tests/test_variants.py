"""A/B variants and money: ic.split, a template per variant, the variant through send,
store and summary, and ringgit from credits × the price per credit kept with the
campaign, as a user runs them (the in-process simulator)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import isms_campaigns as ic
from isms_campaigns.analytics import readable_summary
from isms_campaigns.money import ringgit, ringgit_text
from isms_campaigns.simulator import Simulator
from isms_campaigns.variants import mixed_reference
from isms_campaigns.widgets import Dashboard

from .test_store import VARIANTS, back_to_before

PRICE = 0.08


def phones(n: int, start: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "phone": [f"0123{i:06d}" for i in range(start, start + n)],
            "name": [f"N{i}" for i in range(start, start + n)],
        }
    )


def deliver_all(store: ic.Store, sim: Simulator) -> None:
    store.import_dlr(
        pl.DataFrame(
            {
                "msisdn": [e.dstno for e in sim.ledger],
                "trx_id": [e.sms_id for e in sim.ledger],
                "dn_status": ["DELIVERED"] * len(sim.ledger),
            }
        )
    )


# -- ic.split -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(0, 400),
    parts=st.lists(st.integers(0, 9), min_size=1, max_size=5).filter(any),
    seed=st.integers(-(2**70), 2**70),
)
def test_split_is_reproducible_and_as_close_to_the_weights_as_whole_rows_allow(
    rows: int, parts: list[int], seed: int
) -> None:
    labels = [f"V{i}" for i in range(len(parts))]
    weights = {label: p / sum(parts) for label, p in zip(labels, parts, strict=True)}
    contacts = phones(rows)
    first = ic.split(contacts, weights, seed=seed)
    assert first.equals(ic.split(contacts, weights, seed=seed))
    assert first.drop("variant").equals(contacts)  # rows and columns as they were
    counts = dict(first["variant"].value_counts().rows())
    assert sum(counts.values()) == rows
    for label, weight in weights.items():
        assert abs(counts.get(label, 0) - weight * rows) < 1, (label, counts)


def test_split_is_the_documented_function_of_seed_and_row() -> None:
    """The assignment from a plain-Python splitmix64: the same on any polars version."""
    contacts = phones(50)
    got = ic.split(contacts, {"A": 0.2, "B": 0.8}, seed=2026)["variant"].to_list()
    order = sorted(range(50), key=lambda r: mixed_reference(2026, r))
    expected = [""] * 50
    for place, row in enumerate(order):
        expected[row] = "A" if place < 10 else "B"
    assert got == expected
    other = ic.split(contacts, {"A": 0.2, "B": 0.8}, seed=2027)["variant"].to_list()
    assert other != got and other.count("A") == 10


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"A": 0.5, "B": 0.4}, "add up to 0.9, not 1"),
        ({"A": 1.5, "B": -0.5}, "share of variant 'B' is -0.5"),
        ({"A": float("nan")}, "share of variant 'A' is nan"),
        ({}, "must map each variant"),
        ({"": 1.0}, "labels must be non-empty text"),
        ({"A": "half", "B": 0.5}, "share of variant 'A' is 'half'"),
    ],
)
def test_split_refuses_weights_that_do_not_make_a_whole(
    weights: dict[str, object], message: str
) -> None:
    with pytest.raises(ic.PlanError, match=message):
        ic.split(phones(4), weights, seed=1)  # type: ignore[arg-type]


def test_split_refuses_contacts_that_already_have_variants() -> None:
    once = ic.split(phones(4), {"A": 0.5, "B": 0.5}, seed=1)
    with pytest.raises(ic.PlanError, match=r"already have a 'variant' column: drop it"):
        ic.split(once, {"A": 0.5, "B": 0.5}, seed=2)
    again = ic.split(once.drop("variant"), {"A": 0.5, "B": 0.5}, seed=2)
    assert again["variant"].value_counts()["count"].to_list() == [2, 2]


# -- a template per variant -----------------------------------------------------------


def test_each_variant_gets_its_own_text_and_a_row_without_one_is_kept_with_why() -> None:
    contacts = phones(5).with_columns(variant=pl.Series(["A", "B", None, "C", "A"]))
    camp = ic.Campaign("ab", contacts, template={"A": "Hi %name%", "B": "Hello %name%"})
    m = camp.messages
    assert m["msg"].to_list()[:2] == ["Hi N0", "Hello N1"]
    assert m["variant"].to_list() == ["A", "B", None, "C", "A"]
    assert m["problem"].to_list() == [
        None,
        None,
        "no variant (the templates are for 'A', 'B')",
        "no template for variant 'C'",
        None,
    ]
    assert camp.variants == ["A", "B", "C"]


def test_a_template_per_variant_says_what_is_missing() -> None:
    with pytest.raises(ic.PlanError, match=r"needs a 'variant' column.*ic\.split"):
        ic.Campaign("ab", phones(2), template={"A": "Hi", "B": "Yo"})
    split = ic.split(phones(2), {"A": 0.5, "B": 0.5}, seed=1)
    with pytest.raises(ic.TemplateError, match=r"variant 'B'.*%nmae%"):
        ic.Campaign("ab", split, template={"A": "Hi %name%", "B": "Yo %nmae%"})
    with pytest.raises(ic.PlanError, match="not both"):
        texts = split.with_columns(t=pl.lit("x"))
        ic.Campaign("ab", texts, template={"A": "x"}, template_column="t")


# -- through send, store and summary ----------------------------------------------------


@pytest.fixture
def ab_store() -> tuple[ic.Store, ic.Campaign, Simulator]:
    """An A/B campaign at RM 0.08 a credit (B takes two parts), and one without a price."""
    sim = Simulator()
    gw, store = sim.gateway(), ic.Store()
    contacts = ic.split(phones(40), {"A": 0.25, "B": 0.75}, seed=9)
    camp = ic.Campaign(
        "ab",
        contacts,
        template={"A": "Hi %name%", "B": "Hello %name%, " + "long " * 40},
        billing=ic.BillingRule(price_per_credit=PRICE),
    )
    camp.send(gw, store, progress=False)
    ic.Campaign("plain", phones(6, 100), template="Hi").send(gw, store, progress=False)
    deliver_all(store, sim)
    return store, camp, sim


def test_the_variant_goes_through_the_store_into_the_summary(
    ab_store: tuple[ic.Store, ic.Campaign, Simulator],
) -> None:
    store, camp, _ = ab_store
    stored = store.sql(
        "select variant, count(*) as n, sum(credits) as credits from messages "
        "where campaign = 'ab' group by variant order by variant"
    )
    planned = (
        camp.messages.group_by("variant")
        .agg(n=pl.len(), credits=pl.col("credits").sum())
        .sort("variant")
    )
    assert stored.rows() == planned.rows() == [("A", 10, 10), ("B", 30, 60)]
    summary = ic.delivery_summary(store, by=["campaign", "variant"])
    rows = summary.select("campaign", "variant", "submitted", "delivered").rows()
    assert rows == [("ab", "A", 10, 10), ("ab", "B", 30, 30), ("plain", None, 6, 6)]
    # Requests mix variants: charged credits are not attributed to one.
    assert summary["credits_charged"].is_null().all()
    fig = ic.plots.delivery_rate(store, by="variant")
    assert list(fig.data[0].x) == ["A", "B", "no variant"]
    assert fig.layout.title.text.startswith("Delivery rate by variant (A/B)")


def test_costs_are_credits_times_the_campaigns_price_and_unknown_without_one(
    ab_store: tuple[ic.Store, ic.Campaign, Simulator],
) -> None:
    store, camp, sim = ab_store
    assert store.sql("select campaign, price_per_credit from campaigns order by 1").rows() == [
        ("ab", PRICE),
        ("plain", None),
    ]
    by_campaign = ic.delivery_summary(store, by="campaign")
    ab, plain = by_campaign.rows(named=True)
    charged = sum(e.credits for e in sim.ledger if e.msg.startswith(("Hi N", "Hello N")))
    assert ab["credits_charged"] == charged == 70
    assert ab["cost_estimated_rm"] == round(70 * PRICE, 2) == camp.cost == 5.6
    assert ab["cost_charged_rm"] == round(charged * PRICE, 2)
    assert plain["cost_estimated_rm"] is None and plain["cost_charged_rm"] is None
    by_variant = ic.delivery_summary(store, by="variant", campaigns="ab")
    assert by_variant["cost_estimated_rm"].to_list() == [0.8, 4.8]
    # Over both campaigns, one without a price makes the total unknown, not its part.
    everything = ic.delivery_summary(store, by="type")
    assert everything["cost_estimated_rm"].to_list() == [None]
    shown = readable_summary(by_campaign, "campaign")
    assert shown["Cost estimated"].to_list() == ["RM 5.60", "unknown"]
    assert shown["Cost charged"].to_list() == ["RM 5.60", "unknown"]
    by_operator = readable_summary(ic.delivery_summary(store, by="operator"), "operator")
    assert "Cost charged" not in by_operator.columns  # not attributable to an operator


def test_the_send_report_shows_ringgit_and_unknown_without_a_price() -> None:
    sim = Simulator()
    gw, store = sim.gateway(), ic.Store()
    priced = ic.Campaign(
        "priced", phones(3), template="Hi", billing=ic.BillingRule(price_per_credit=0.075)
    )
    dry = priced.send(gw, store, dry_run=True)
    assert "(RM 0.23)" in repr(dry)  # 3 × 0.075 = 0.225: half a sen rounds up
    report = priced.send(gw, store, progress=False)
    assert report.price_per_credit == 0.075
    assert report.cost_estimated_rm == report.cost_charged_rm == 0.23
    assert "cost estimated RM 0.23 / charged RM 0.23" in str(report)
    assert "RM 0.23" in report._repr_html_()
    free = ic.Campaign("unpriced", phones(2, 50), template="Hi").send(gw, store, progress=False)
    assert free.cost_estimated_rm is None
    assert "cost unknown (no price per credit)" in str(free) and "RM 0.00" not in str(free)


def test_a_new_price_is_recorded_as_a_new_estimate_without_sending_again() -> None:
    sim = Simulator()
    gw, store = sim.gateway(), ic.Store()
    ic.Campaign("late", phones(4), template="Hi").send(gw, store, progress=False)
    priced = ic.Campaign(
        "late", phones(4), template="Hi", billing=ic.BillingRule(price_per_credit=PRICE)
    )
    report = priced.send(gw, store, progress=False)
    assert report.submitted_now == 0 and len(sim.ledger) == 4
    assert store.sql("select price_per_credit from campaigns").item() == PRICE
    plans = store.sql("select version, action, price_per_credit from plans order by version")
    assert plans.rows() == [(1, "new", None), (2, "re-estimated", PRICE)]
    summary = ic.delivery_summary(store, by="campaign")
    assert summary["cost_estimated_rm"].item() == round(4 * PRICE, 2)


def test_the_report_has_an_ab_table_only_for_campaigns_with_variants(
    ab_store: tuple[ic.Store, ic.Campaign, Simulator], tmp_path: Path
) -> None:
    store, _, _ = ab_store
    page = ic.write_report(store, tmp_path / "r.html").read_text(encoding="utf-8")
    ab = page.split("By A/B variant", 1)[1].split("</table>", 1)[0]
    assert ">A<" in ab and ">B<" in ab and "plain" not in ab
    assert "RM 0.80" in ab and "RM 4.80" in ab
    plain = ic.write_report(store, tmp_path / "p.html", campaigns="plain").read_text()
    assert "By A/B variant" not in plain
    # and one figure more: the delivery rate by campaign and variant
    assert page.count('class="figure"') == plain.count('class="figure"') + 1


def test_the_dashboard_groups_by_variant_and_shows_ringgit(
    ab_store: tuple[ic.Store, ic.Campaign, Simulator],
) -> None:
    store, _, _ = ab_store
    dashboard = Dashboard(store, campaigns=["ab"], delay=0)
    assert "RM 5.60" in dashboard.summary.value
    dashboard.by.value = "variant"
    dashboard.flush()
    assert ("Variant (A/B)", "variant") in dashboard.by.options
    assert "RM 0.80" in dashboard.summary.value and "RM 4.80" in dashboard.summary.value
    dashboard.close()


def test_the_template_per_variant_is_kept_as_json(
    ab_store: tuple[ic.Store, ic.Campaign, Simulator],
) -> None:
    store, camp, _ = ab_store
    kept = store.sql("select template from campaigns where campaign = 'ab'").item()
    assert json.loads(kept) == camp.template


# -- money ------------------------------------------------------------------------------


@pytest.mark.parametrize("price", [-0.01, float("inf"), "0.08", True])
def test_a_price_per_credit_that_is_no_price_is_refused(price: object) -> None:
    with pytest.raises(ic.PlanError, match="price_per_credit is"):
        ic.BillingRule(price_per_credit=price)  # type: ignore[arg-type]


@given(sen=st.integers(0, 10**13))
def test_ringgit_in_polars_reads_as_in_python(sen: int) -> None:
    amount = sen / 100
    column = pl.select(ringgit_text(pl.lit(amount, pl.Float64))).item()
    assert column == ringgit(amount)
    assert ringgit(None) == "unknown"
    assert math.isclose(float(column[3:].replace(",", "")), amount)


# -- an older store ----------------------------------------------------------------------


def test_an_older_store_keeps_its_row_templates_out_of_the_variants(tmp_path: Path) -> None:
    """Before this schema, template_column put each row's template in ``variant``: an
    upgraded store moves that text aside, so variants are labels only, and the kept
    tallies equal a rebuild."""
    path = tmp_path / "old.duckdb"
    sim = Simulator()
    texts = phones(6).with_columns(text=pl.format("Hi %name% {}", pl.int_range(6)))
    with ic.Store(path) as store:
        ic.Campaign("own-texts", texts, template_column="text").send(
            sim.gateway(), store, progress=False
        )
        deliver_all(store, sim)
    con = duckdb.connect(str(path))  # as the older version wrote it
    back_to_before(con, VARIANTS)
    con.execute("update ic_messages set variant = 'Hi %name% ' || row")
    con.close()
    with ic.Store(path) as store:
        assert store.sql("select distinct variant from messages").rows() == [(None,)]
        kept = store.sql("select row_template from ic_messages order by row")
        assert kept["row_template"].to_list() == [f"Hi %name% {r}" for r in range(6)]
        tallies = store.sql("select * from ic_tally order by all")
        assert tallies["variant"].is_null().all()
        summary = ic.delivery_summary(store, by="variant")
        assert summary.select("variant", "delivered").rows() == [(None, 6)]
        store.rebuild()
        assert store.sql("select * from ic_tally order by all").equals(tallies)
        assert store.sql("select price_per_credit from campaigns").item() is None

"""The DuckDB store: views, parameters, migrations, the file lock, no secrets."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import nullcontext, suppress
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import isms_campaigns as ic
from isms_campaigns.simulator import Account, Simulator
from isms_campaigns.store import MIGRATIONS, VARIANTS_AND_PRICE

ROOT = Path(__file__).resolve().parent.parent

# The public views and their columns: the README documents every one.
VIEWS = {
    "campaigns": [
        "campaign", "kind", "parent", "created_at", "template", "sender_id", "send_later",
        "rows", "sendable", "credits_estimated", "planned", "submitted", "failed", "unknown",
        "skipped", "cancelled", "version", "credits_charged", "price_per_credit",
    ],
    "messages": [
        "campaign", "row", "dstno", "msg", "type", "parts", "credits", "operator", "country",
        "problem", "warning", "chunk", "version", "variant", "state", "code", "status", "sms_id",
        "submitted_at", "dlr_status", "dlr_class", "dlr_at",
    ],
    "batches": [
        "campaign", "chunk", "batch", "started_at", "finished_at", "host", "tries",
        "http_status", "outcome", "code", "message", "cause", "type", "numbers",
        "credits_estimated", "credits_charged", "latency_ms", "attempts",
    ],
    "dlr_events": [
        "msisdn", "trx_id", "dn_status", "dlr_class", "event_at", "imported_at", "source",
        "line", "campaign", "row", "msisdn_matches",
    ],
    "plans": [
        "campaign", "version", "created_at", "action", "template", "sender_id", "send_later",
        "rows", "sendable", "credits_estimated", "price_per_credit",
    ],
    "suppressions": ["number", "reason", "source", "since"],
}  # fmt: skip


def sent_store(password: str = "demo") -> tuple[ic.Store, Simulator]:
    sim = Simulator([Account(password=password)])
    gw = sim.gateway(password=password)
    contacts = pl.DataFrame(
        {"phone": ["0123456789", "0198887777", "012"], "name": ["Ali", "Mei", "x"]}
    )
    store = ic.Store()
    ic.Campaign("c1", contacts, template="Hi %name%").send(gw, store, progress=False)
    return store, sim


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_public_views_have_the_documented_columns(view: str) -> None:
    assert ic.Store().sql(f"select * from {view}").columns == VIEWS[view]


def test_readme_documents_every_view_column() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for view, columns in VIEWS.items():
        section = re.search(rf"`{view}`.*?(?=\n\n)", readme, re.S)
        assert section, f"README has no paragraph on the {view} view"
        missing = [c for c in columns if f"`{c}`" not in section.group(0)]
        assert not missing, f"README does not document {view}: {missing}"


def test_the_readme_has_each_section_once() -> None:
    """A bad edit once duplicated a whole block of the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sections = [line for line in readme.splitlines() if line.startswith("## ")]
    assert len(sections) == len(set(sections))


def test_sql_takes_parameters_and_returns_polars() -> None:
    store, _ = sent_store()
    frame = store.sql("select dstno, state from messages where campaign = ? order by row", ["c1"])
    assert isinstance(frame, pl.DataFrame)
    assert frame.rows() == [
        ("60123456789", "submitted"),
        ("60198887777", "submitted"),
        (None, "skipped"),
    ]
    named = store.sql("select count(*) as n from messages where state = $s", {"s": "skipped"})
    assert named["n"].item() == 1


def test_bad_sql_is_a_store_error_naming_the_problem() -> None:
    with pytest.raises(ic.StoreError, match="mesages"):
        ic.Store().sql("select * from mesages")


def test_store_on_a_users_connection_shares_the_database() -> None:
    con = duckdb.connect()
    store = ic.Store(con)
    con.execute("create table mine as select 1 as x")
    assert store.sql("select x from mine")["x"].item() == 1
    assert con.sql("select count(*) from campaigns").fetchall() == [(0,)]
    store.close()  # not ours to close
    assert con.sql("select 1").fetchall() == [(1,)]


def test_a_database_whose_names_clash_gets_a_clear_error() -> None:
    con = duckdb.connect()
    con.execute("create table messages (x integer)")
    with pytest.raises(ic.StoreError, match="already has tables named"):
        ic.Store(con)


def test_reopening_keeps_data_and_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with ic.Store(path) as store:
        store.sql("insert into ic_campaigns (campaign, kind, created_at, rows, sendable, "
                  "credits_estimated) values ('x', 'campaign', now(), 0, 0, 0)")  # fmt: skip
        assert store.schema_version == len(MIGRATIONS)
    with ic.Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.sql("select count(*) as n from ic_schema_version")["n"].item() == len(
            MIGRATIONS
        )
        assert store.campaigns()["campaign"].to_list() == ["x"]


@pytest.mark.parametrize("applied", range(len(MIGRATIONS)))
def test_an_older_file_is_upgraded_in_place(tmp_path: Path, applied: int) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table ic_schema_version (version integer, applied_at timestamptz)")
    for number in range(applied):
        con.execute(MIGRATIONS[number])
        con.execute("insert into ic_schema_version values (?, now())", [number + 1])
    con.close()
    with ic.Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.sql("select * from messages").columns == VIEWS["messages"]


def test_a_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    ic.Store(path).close()
    con = duckdb.connect(str(path))
    con.execute("insert into ic_schema_version values (?, now())", [len(MIGRATIONS) + 1])
    con.close()
    with pytest.raises(ic.StoreError, match="newer isms_campaigns"):
        ic.Store(path)


def test_a_second_process_gets_store_in_use(tmp_path: Path) -> None:
    path = tmp_path / "busy.duckdb"
    with ic.Store(path):
        code = (
            "import isms_campaigns as ic, sys\n"
            "try:\n    ic.Store(sys.argv[1])\n"
            "except ic.StoreError as e:\n    print(e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
        )
    assert "in use by another process" in out.stdout
    assert "Traceback" not in out.stderr


def test_the_password_is_never_stored() -> None:
    secret = "s3cret-Pa55"
    store, sim = sent_store(password=secret)
    assert len(sim.ledger) == 2
    tables = store.sql("select table_name from information_schema.tables")["table_name"]
    for table in tables:
        assert secret not in str(store.sql(f'select * from "{table}"').rows())
    assert secret not in repr(store)


def test_resolve_unknown_on_a_campaign_that_is_not_there_names_the_known_ones() -> None:
    store, _ = sent_store()
    with pytest.raises(ic.StoreError, match="c1"):
        store.resolve_unknown("c2", resend=False)


# -- current state kept on write ---------------------------------------------------

STATUSES = ["PENDING", "DELIVERED", "UNDELIVERED", "ACCEPTED", "SENT", "EXPIRED"]


def reference_status(
    events: list[tuple[str, str, int | None]],
) -> dict[str, tuple[str, int | None]]:
    """The precedence rule, written plainly: per trx_id, a final status beats PENDING,
    then the latest event_at (null oldest), then the greatest status word."""
    best: dict[str, tuple[str, int | None]] = {}
    for trx, status, at in events:
        key = (status != "PENDING", at is not None, at or 0, status)
        old = best.get(trx)
        if old is None or key > (old[0] != "PENDING", old[1] is not None, old[1] or 0, old[0]):
            best[trx] = (status, at)
    return best


@settings(max_examples=40, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["t1", "t2", "t3", "t4"]),
            st.sampled_from(STATUSES),
            st.one_of(st.none(), st.integers(0, 5)),
        ),
        max_size=30,
    ),
    batches=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_the_kept_delivery_status_equals_a_rebuild_and_the_rule(
    events: list[tuple[str, str, int | None]], batches: int, seed: int
) -> None:
    import random
    from datetime import UTC, datetime, timedelta

    rng = random.Random(seed)
    store = ic.Store()
    start = datetime(2026, 11, 1, tzinfo=UTC)

    def frame(part: list[tuple[str, str, int | None]]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "msisdn": ["60123456789"] * len(part),
                "trx_id": [t for t, _, _ in part],
                "dn_status": [s for _, s, _ in part],
                "event_at": [None if a is None else start + timedelta(minutes=a) for *_, a in part],
            },
            schema={
                "msisdn": pl.String,
                "trx_id": pl.String,
                "dn_status": pl.String,
                "event_at": pl.Datetime("us", "UTC"),
            },
        )

    shuffled = events + rng.sample(events, len(events) // 2)  # some arrive twice
    rng.shuffle(shuffled)
    size = max(1, len(shuffled) // batches)
    for i in range(0, len(shuffled), size):
        if shuffled[i : i + size]:
            store.import_dlr(frame(shuffled[i : i + size]))
    query = "select trx_id, dn_status, event_at from ic_dlr_current order by trx_id"
    kept = store.sql(query)
    store.rebuild()
    assert store.sql(query).equals(kept)
    expected = reference_status(events)
    got = {
        t: (s, None if a is None else int((a - start).total_seconds() // 60))
        for t, s, a in kept.iter_rows()
    }
    assert got == expected


def test_a_report_kept_before_its_result_shows_once_the_result_names_it() -> None:
    """Reconciliation writes the result after the report came: the message shows it,
    the report is tied to it (its campaign in dlr_events), and a rebuild agrees."""
    sim = Simulator()
    gw = sim.gateway()
    store = ic.Store()
    sim.set_fault(0, "drop-after")  # the gateway acts; the answer is lost
    camp = ic.Campaign("c", pl.DataFrame({"phone": ["0123456789", "0198887777"]}), template="Hi")
    assert camp.send(gw, store, progress=False).unknown_chunks == [0]
    first = sim.ledger[0]
    store.import_dlr(
        pl.DataFrame(
            {"msisdn": [first.dstno], "trx_id": [first.sms_id], "dn_status": ["DELIVERED"]}
        )
    )
    query = "select dstno, state, sms_id, dlr_status from messages order by dstno"
    before = store.sql(query)
    assert before["dlr_status"].to_list() == [None, None]  # no result names the trx_id yet
    store.resolve_unknown("c", resend=False)
    after = store.sql(query)
    shown = after.filter(pl.col("dstno") == first.dstno).row(0)
    assert shown == (first.dstno, "submitted", first.sms_id, "DELIVERED")
    tied = "select campaign, msisdn_matches from dlr_events"
    assert store.sql(tied).rows() == [("c", True)]
    store.rebuild()
    assert store.sql(query).equals(after)
    assert store.sql(tied).rows() == [("c", True)]


STEPS = ["send", "send-drop-after", "send-drop-before", "send-refused", "resend", "settle",
         "import", "amend", "reopen"]  # fmt: skip


@settings(max_examples=15, deadline=None)
@given(steps=st.lists(st.sampled_from(STEPS), min_size=1, max_size=8), seed=st.integers(0, 999))
@example(steps=["send-drop-after", "import", "settle"], seed=1)  # reports before their result
def test_the_kept_message_state_equals_a_rebuild_and_the_log(
    tmp_path_factory: pytest.TempPathFactory, steps: list[str], seed: int
) -> None:
    """Random histories of sends (answered, lost after the gateway acted, lost before,
    refused), resolves (resend, settle), amended plans, reopening the file and
    shuffled, repeated delivery reports for sent and not-yet-known trx_ids: the
    state kept on write equals a rebuild from the logs and a read derived from the
    logs, in every public view."""
    import random
    from datetime import UTC, datetime, timedelta

    from isms_campaigns.send import send_campaign

    rng = random.Random(seed)
    path = tmp_path_factory.mktemp("kept") / "store.duckdb"
    sim = Simulator()
    gw = ic.Gateway("demo", "demo", hosts=sim.hosts[:1], transport=sim.transport())
    numbers = [f"01{n:08d}" for n in range(3_000_000, 3_000_000 + 120)]
    names = {"a": numbers[:70], "b": numbers[50:110]}  # overlapping lists
    version = {"a": 0, "b": 0}
    store = ic.Store(path)
    start = datetime.now(UTC)  # reports after the requests: evidence for unknown ones

    def campaign(name: str) -> ic.Campaign:
        chosen = pl.DataFrame({"phone": names[name][: len(names[name]) - 7 * version[name]]})
        if name == "b":  # an A/B test, priced: the tallies count its variants
            chosen = ic.split(chosen, {"A": 0.5, "B": 0.5}, seed=version[name])
            return ic.Campaign(
                name,
                chosen,
                template={"A": "Hi from b", "B": "Hello from b"},
                billing=ic.BillingRule(price_per_credit=0.05),
            )
        return ic.Campaign(name, chosen, template=f"Hi from {name}")

    def send(name: str, amend: bool = False) -> None:
        with suppress(ic.PlanChanged, ic.SendError):  # refused as a user would see it
            send_campaign(
                campaign(name), gw, store, amend=amend, allow_repeats=True, progress=False,
                check_balance=False, retry_delays=(0.0,), concurrency=2,
            )  # fmt: skip

    for step in steps:
        name = rng.choice(["a", "b"])
        if step.startswith("send"):
            fault = {"send-drop-after": "drop-after", "send-drop-before": "drop-before"}
            sim.set_fault(0, fault.get(step, "ok"))  # type: ignore[arg-type]
            if step == "send-refused":
                sim.inject(-1008)
            send(name)
            sim.set_fault(0, "ok")
            sim._injected.clear()
        elif step in ("resend", "settle"):
            with (
                pytest.raises(ic.StoreError)
                if name not in set(store.sql("select campaign from ic_campaigns")["campaign"])
                else nullcontext()
            ):
                store.resolve_unknown(name, resend=step == "resend")
        elif step == "amend":
            version[name] += 1
            send(name, amend=True)
        elif step == "reopen":
            store.close()
            store = ic.Store(path)
        else:  # reports for what the gateway took, and for trx_ids no one sent
            sent = [(e.dstno, e.sms_id) for e in sim.ledger] + [("60100000000", "999")]
            events = [
                (dstno, trx, rng.choice(STATUSES), start + timedelta(minutes=rng.randint(0, 9)))
                for dstno, trx in rng.sample(sent, min(len(sent), 40))
            ]
            events += rng.sample(events, len(events) // 3)  # some arrive twice
            rng.shuffle(events)
            store.import_dlr(
                pl.DataFrame(
                    events, schema=["msisdn", "trx_id", "dn_status", "event_at"], orient="row"
                )
            )

    order = {
        "messages": "campaign, version, row",
        "campaigns": "campaign",
        "dlr_events": "trx_id, dn_status, event_at, msisdn",
        # The tallies the analytics read: kept, rebuilt and counted from the messages.
        "ic_tally_now": "all",
        "ic_arrivals_now": "all",
    }

    def views() -> dict[str, pl.DataFrame]:
        return {v: store.sql(f"select * from {v} order by {o}") for v, o in order.items()}

    def summaries() -> list[pl.DataFrame]:
        """Each grouping from the tallies, and counted from the messages (a period)."""
        return [
            ic.delivery_summary(store, by=by, **period)  # type: ignore[arg-type]
            for by in ("campaign", "operator", ["hour", "parts"], ["campaign", "variant"])
            for period in ({}, {"since": "2000-01-01"})
        ]

    kept, kept_summaries = views(), summaries()
    for tallied, counted in zip(kept_summaries[::2], kept_summaries[1::2], strict=True):
        assert tallied.equals(counted)
    store.rebuild()
    for view, frame in views().items():
        assert frame.equals(kept[view]), view
    # The same read with every campaign derived from its log, not from kept state.
    store.connection.execute("update ic_campaigns set state_current = false")
    derived = views()
    for view, frame in kept.items():
        assert derived[view].equals(frame), view
    for frame, before in zip(summaries(), kept_summaries, strict=True):
        assert frame.equals(before)
    store.close()


def test_a_store_written_before_the_kept_state_is_upgraded_and_reads_the_same(
    tmp_path: Path,
) -> None:
    """A schema-4 file (sends, a lost answer, reports, one before its result) opened
    by this version: each campaign is brought up to date at open, and every view
    reads as before."""
    path = tmp_path / "old.duckdb"
    sim = Simulator()
    gw = ic.Gateway("demo", "demo", hosts=sim.hosts[:1], transport=sim.transport())
    numbers = [f"01{n:08d}" for n in range(3_000_000, 3_000_120)]
    with ic.Store(path) as store:
        ic.Campaign("a", pl.DataFrame({"phone": numbers[:70]}), template="Hi").send(
            gw, store, progress=False
        )
        sim.set_fault(0, "drop-after")
        ic.Campaign("b", pl.DataFrame({"phone": numbers[70:]}), template="Yo").send(
            gw, store, progress=False, check_balance=False
        )
        store.import_dlr(
            pl.DataFrame(
                {
                    "msisdn": [e.dstno for e in sim.ledger],
                    "trx_id": [e.sms_id for e in sim.ledger],
                    "dn_status": ["DELIVERED"] * len(sim.ledger),
                }
            )
        )
        views = ("messages", "campaigns", "dlr_events")
        before = {v: store.sql(f"select * from {v} order by all") for v in views}
    con = duckdb.connect(str(path))  # back to schema 4: the tables as it wrote them
    for column in ("code", "status", "sms_id", "submitted_at", "sent_state", "dlr_status",
                   "dlr_class", "dlr_at"):  # fmt: skip
        con.execute(f"alter table ic_messages drop column {column}")
    con.execute("alter table ic_campaigns drop column state_current")
    con.execute("alter table ic_dlr_state drop column dstno")
    back_to_before(con, 6)
    back_to_before(con, 5, only=True)
    con.close()
    with ic.Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        current = store.sql("select campaign, state_current from ic_campaigns order by 1")
        assert current.rows() == [("a", True), ("b", True)]
        for view, frame in before.items():
            assert store.sql(f"select * from {view} order by all").equals(frame), view
        b = store.sql("select state, count(*) as n from messages where campaign = 'b' group by 1")
        assert b.rows() == [("unknown", 50)]  # the lost answer: a chunk that may have gone


def test_a_store_from_before_the_tallies_gets_them_at_open(tmp_path: Path) -> None:
    """A schema-5 file: its current campaigns' tallies are counted once at open, and
    equal what sends and imports keep."""
    path = tmp_path / "five.duckdb"
    sim = Simulator()
    gw = ic.Gateway("demo", "demo", hosts=sim.hosts[:1], transport=sim.transport())
    with ic.Store(path) as store:
        for name, first in (("a", 3_000_000), ("b", 3_000_100)):
            numbers = [f"01{n:08d}" for n in range(first, first + 60)]
            ic.Campaign(name, pl.DataFrame({"phone": numbers}), template="Hi").send(
                gw, store, progress=False
            )
        store.import_dlr(
            pl.DataFrame(
                {
                    "msisdn": [e.dstno for e in sim.ledger][::2],
                    "trx_id": [e.sms_id for e in sim.ledger][::2],
                    "dn_status": ["DELIVERED"] * len(sim.ledger[::2]),
                }
            )
        )
        kept = {t: store.sql(f"select * from {t} order by all") for t in TALLIES}
        assert kept["ic_tally"]["messages"].sum() == 120
        assert kept["ic_arrivals"]["messages"].sum() == 60
    con = duckdb.connect(str(path))
    back_to_before(con, 6)
    con.close()
    with ic.Store(path) as store:
        for table, frame in kept.items():
            assert store.sql(f"select * from {table} order by all").equals(frame), table


TALLIES = ("ic_tally", "ic_arrivals")
VARIANTS = MIGRATIONS.index(VARIANTS_AND_PRICE) + 1  # the schema that counts A/B variants


def back_to_before(con: duckdb.DuckDBPyConnection, version: int, *, only: bool = False) -> None:
    """Take a store file back to before schema ``version`` (and every later one, unless
    ``only``): what an older isms_campaigns wrote."""
    undo = {
        6: ["drop table ic_tally", "drop table ic_arrivals"],
        7: [f"alter table ic_dlr_offsets drop column {c}" for c in ("device", "inode", "head",
                                                                      "head_bytes")],
        8: ["drop view suppressions", "drop table ic_optouts"],
        9: ["alter table ic_messages drop column contact",
            "alter table ic_plans drop column contact_type",
            "alter table ic_plans drop column settings"],
        VARIANTS: [
            "alter table ic_tally drop column variant",
            "alter table ic_campaigns drop column price_per_credit",
            "alter table ic_plans drop column price_per_credit",
            "alter table ic_messages drop column row_template",
        ],
    }  # fmt: skip
    for v in [version] if only else range(len(MIGRATIONS), version - 1, -1):
        for statement in undo.get(v, []):
            con.execute(statement)
        con.execute("delete from ic_schema_version where version = ?", [v])
    con.execute("update ic_store set views = null")


def test_imports_during_sends_keep_the_same_state_as_a_rebuild(tmp_path: Path) -> None:
    """Sends ending (each brings its campaign up to date) while another thread
    imports reports for the messages already sent: nothing an import kept is
    overwritten by a send's older view of the store."""
    import threading

    sim = Simulator()
    gw = sim.gateway()
    store = ic.Store(tmp_path / "busy.duckdb")
    sent = threading.Event()
    errors: list[BaseException] = []

    def send() -> None:
        try:
            for i in range(12):
                numbers = [f"01{n:08d}" for n in range(3_000_000 + 60 * i, 3_000_060 + 60 * i)]
                camp = ic.Campaign(f"c{i}", pl.DataFrame({"phone": numbers}), template="Hi")
                camp.send(gw, store, progress=False, check_balance=False)
                sent.set()
        except BaseException as exc:  # shown by the assertion below
            errors.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    sent.wait(10)
    rounds = 0

    def import_all(into: ic.Store) -> None:
        ledger = list(sim.ledger)
        into.import_dlr(
            pl.DataFrame(
                {
                    "msisdn": [e.dstno for e in ledger],
                    "trx_id": [e.sms_id for e in ledger],
                    "dn_status": ["DELIVERED" if rounds % 2 else "UNDELIVERED"] * len(ledger),
                    "event_at": [f"2026-11-29T10:{rounds % 60:02d}:00+08:00"] * len(ledger),
                }
            )
        )

    with store.cursor() as mine:
        while sender.is_alive():
            import_all(mine)
            rounds += 1
    sender.join()
    import_all(store)
    assert not errors
    query = "select campaign, row, state, sms_id, dlr_status, dlr_at from messages order by all"
    kept = store.sql(query)
    assert kept.height == 12 * 60 and kept["dlr_status"].null_count() == 0
    store.rebuild()
    assert store.sql(query).equals(kept)


@pytest.mark.parametrize("import_between", [False, True])
def test_one_trx_id_given_to_two_campaigns_reads_the_same_as_a_rebuild(
    import_between: bool,
) -> None:
    """Two gateways handing out the same ids (a reset sandbox): the report reaches
    every message with that id, and is shown with the latest, as a rebuild does."""
    store = ic.Store()
    sims = {"a": Simulator(), "b": Simulator()}  # both start at the same sms_id

    def send(name: str, prefix: str) -> None:
        numbers = [f"{prefix}{n:07d}" for n in range(2)]
        gw = ic.Gateway("demo", "demo", hosts=sims[name].hosts, transport=sims[name].transport())
        ic.Campaign(name, pl.DataFrame({"phone": numbers}), template=name).send(
            gw, store, progress=False
        )

    def reports(name: str) -> pl.DataFrame:
        ledger = sims[name].ledger
        return pl.DataFrame(
            {
                "msisdn": [e.dstno for e in ledger],
                "trx_id": [e.sms_id for e in ledger],
                "dn_status": ["DELIVERED"] * len(ledger),
            }
        )

    send("a", "012")
    if import_between:
        store.import_dlr(reports("a"))
    send("b", "019")
    if not import_between:
        store.import_dlr(reports("b"))
    views = {v: store.sql(f"select * from {v} order by all") for v in ("messages", "dlr_events")}
    assert views["messages"]["dlr_status"].to_list() == ["DELIVERED"] * 4
    assert set(views["dlr_events"]["campaign"]) == {"b"}  # the latest result names it
    store.rebuild()
    for view, frame in views.items():
        assert store.sql(f"select * from {view} order by all").equals(frame), view


def test_rebuild_and_leases_taken_at_once_both_succeed() -> None:
    """A rebuild in one thread while another cancels (takes and lets go of a
    campaign's lease) over and over: neither fails on a write conflict."""
    import threading

    sim = Simulator()
    gw = sim.gateway()
    store = ic.Store()
    numbers = [f"012{n:07d}" for n in range(3000)]
    ic.Campaign("big", pl.DataFrame({"phone": numbers}), template="x").send(
        gw, store, progress=False
    )
    ic.Campaign("small", pl.DataFrame({"phone": numbers[:5]}), template="y").send(
        gw, store, progress=False
    )
    errors: list[str] = []
    done = threading.Event()

    def rebuild() -> None:
        with store.cursor() as mine:
            while not done.is_set():
                try:
                    mine.rebuild()
                except ic.StoreError as exc:
                    errors.append(str(exc))

    other = threading.Thread(target=rebuild)
    other.start()
    try:
        for _ in range(40):
            store.cancel("small")  # nothing left to cancel: the lease alone
    finally:
        done.set()
        other.join()
    assert errors == []

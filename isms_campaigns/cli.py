"""The ``isms-campaigns`` command: a thin shell over the library.

Every command has ``--help``. Errors print one line saying what was wrong
and what to do, and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import polars.selectors as cs

from . import __version__
from .analytics import MIN_GROUP, breakdown, group_label
from .campaign import Campaign
from .contacts import read_contacts
from .encoding import BillingRule
from .errors import IsmsError
from .followup import EXCEL_ROWS, EXPORT_FORMATS
from .report import DEFAULT_TIME_ZONE, delivery_summary, write_report
from .schedule import MALAYSIA, PURPOSES

if TYPE_CHECKING:
    from .gateway.client import Gateway
    from .store import Store

# The demo complies with what Malaysian operators expect: the RM0.00 prefix,
# the brand in the text, and no "Reply STOP" promise (nobody reads replies).
DEMO_TEMPLATE = (
    "KedaiKita: Hi %name%, your order %order_id% (RM%amount%) is ready for pickup at %outlet%."
)
DEMO_PREFIX = "RM0.00 "
DEMO_BRAND = "KedaiKita"
# Earlier demos' templates: their stores are still the demo's to replace.
EARLIER_DEMO_TEMPLATES = (
    "Hi %name%, your order %order_id% (RM%amount%) is ready for pickup at %outlet%. "
    "Reply STOP to opt out.",
)
DEMO_PRICE = 0.08  # RM per credit: an example price, said so where it is shown
DEMO_CAMPAIGN = "demo"
DEMO_SPOOL = "demo-dlr-spool"  # not the receiver's default folder, which may hold real callbacks
DEMO_DLR_DELAY = (0.0, 2.0)  # seconds from submission to the simulator's delivery report


def _data_dir() -> Path:
    """``data/`` of the working directory, else of the source checkout."""
    here = Path.cwd() / "data"
    if (here / "sample_contacts.csv").exists():
        return here
    return Path(__file__).resolve().parent.parent / "data"


def _pairs(
    option: str, pairs: Sequence[str], example: str, *, empty: bool = False
) -> dict[str, str]:
    """``--option NAME=VALUE`` given any number of times, as a mapping (each NAME once)."""
    out: dict[str, str] = {}
    for pair in pairs:
        token, sep, value = pair.partition("=")
        name = token.strip().strip("%")
        if not sep or not name or not (empty or value.strip()):
            raise IsmsError(f"{option} {pair!r}: write it as {example}.")
        if name in out:
            raise IsmsError(f"{option} {name}=… is given twice: give each token once.")
        out[name] = value
    return out


def _template(args: argparse.Namespace) -> str:
    if args.template is not None and args.template_file:
        raise IsmsError("Give the message with --template or --template-file, not both.")
    if args.template_file:
        path = Path(args.template_file)
        try:
            return path.read_text(encoding="utf-8").removeprefix("\ufeff").rstrip("\n")
        except FileNotFoundError:
            raise IsmsError(f"--template-file {str(path)!r} does not exist.") from None
        except UnicodeDecodeError as exc:
            raise IsmsError(
                f"--template-file {str(path)!r} is not UTF-8 text (byte {exc.start}): save it "
                f"as UTF-8 (in Notepad: Save As, Encoding UTF-8)."
            ) from None
        except OSError as exc:
            raise IsmsError(
                f"Cannot read --template-file {str(path)!r}: {exc.strerror or exc}."
            ) from None
    if args.template is None:
        raise IsmsError("Give the message with --template 'Hi %name%, …' or --template-file.")
    return str(args.template)


def _contacts(args: argparse.Namespace) -> pl.DataFrame:
    return read_contacts(
        args.contacts,
        number_column=args.number_column,
        sheet=args.sheet,
        encoding=args.encoding or "utf-8",
    )


def _campaign_from_args(
    args: argparse.Namespace, contacts: pl.DataFrame, store: Store | None = None
) -> Campaign:
    template = _template(args)
    fallbacks = _pairs("--fallback", args.fallback, "TOKEN=VALUE, e.g. name=Customer", empty=True)
    tokens = _pairs("--token", args.token, "NAME=COLUMN, e.g. name='Customer Name'")
    options: dict[str, Any] = {}
    formats = _pairs("--format", args.format, "NAME=SPEC, e.g. amount={:.2f} or dob=%d/%m/%Y")
    if formats:  # only when given: a Campaign without formats= still plans the rest
        options["formats"] = formats
    billing = BillingRule(price_per_credit=args.price_per_credit)
    return Campaign(
        args.campaign,
        contacts,
        template=template,
        sender_id=args.sender_id,
        number_column=args.number_column,
        region=args.region,
        fallbacks=fallbacks,
        token_columns=tokens or None,
        suppress=args.suppress,
        smart_ascii=args.smart_ascii,
        message_type=args.type,
        billing=billing,
        rate_card=args.rate_card,
        store=store,
        send_later=args.send_later,
        purpose=args.purpose,
        window=args.window,
        compliance=None if args.no_compliance else "MY",
        prefix=args.prefix,
        brand=args.brand,
        allowed_domains=args.allow_domain,
        **options,
    )


def print_estimate(camp: Campaign, *, price_note: str = "") -> None:
    """The estimate as a campaign manager reads it in a terminal."""
    # Every column, piped or not (polars hides columns past its default count
    # and squeezes a table into a guessed width); long messages wrap in their cell.
    with pl.Config(
        tbl_rows=40,
        tbl_cols=-1,
        tbl_width_chars=shutil.get_terminal_size((100, 24)).columns,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        fmt_str_lengths=80,
    ):
        print(f"Campaign {camp.name!r}: estimate (nothing has been sent)")
        findings = camp.checks()
        if findings.height:  # first: what to fix before sending
            print("Check first (Malaysian operators' rules, as gateway vendors publish them):")
            for rule, severity, rows, example, what in findings.rows():
                print(f"  {severity}: {rule} ({rows:,} rows): {what}")
                if example:
                    print(f"    e.g. {example}")
        print(camp.summary())
        cost = "" if camp.cost is None else f" = RM {camp.cost:,.2f}{price_note}"
        print(f"Total: {camp.sendable.height:,} messages, {camp.credits:,} credits{cost}")
        saving = camp.smart_ascii_saving()
        if saving:
            print(f"Tip: --smart-ascii replaces curly quotes/dashes and saves {saving:,} credits.")
        for note in camp.notes[findings.height :]:  # the findings come first in notes
            print(f"Note: {note}")
        print("Preview:")
        print(camp.sendable.head(3).select("dstno", "type", "credits", "msg"))


PLAN_WRITERS = EXPORT_FORMATS


def cmd_estimate(args: argparse.Namespace) -> int:
    from .store import Store

    out = _plan_output(args.out, args.contacts) if args.out else None
    contacts = _contacts(args)
    if args.store is None:
        camp = _campaign_from_args(args, contacts)
    elif not Path(args.store).is_file():
        raise IsmsError(f"No store at {args.store}: give the DuckDB file your sends wrote.")
    else:
        with Store(args.store) as store:  # its do-not-contact list, as a send applies it
            camp = _campaign_from_args(args, contacts, store)
    print_estimate(camp)
    if out is not None:
        _write_plan(camp.messages, out)
        print(f"Wrote every planned message to {out}")
    return 0


def _plan_output(out: str, contacts: str) -> Path:
    """Where ``--out`` writes, checked before the (maybe long) planning."""
    path = Path(out)
    if path.is_dir():
        raise IsmsError(f"--out {out!r} is a folder: give a file name, e.g. {path / 'plan.csv'}.")
    if path.suffix.lower() not in PLAN_WRITERS:
        raise IsmsError(
            f"--out {out!r}: end the name with {', '.join(PLAN_WRITERS)} (the format written)."
        )
    if path.exists() and path.resolve() == Path(contacts).resolve():
        raise IsmsError(f"--out {out!r} is the contact list itself: give another file name.")
    try:  # can it be written there?
        path.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path.parent).close()
    except OSError as exc:
        raise IsmsError(f"Cannot write --out {out!r}: {exc.strerror or exc}.") from None
    return path


def _write_plan(messages: pl.DataFrame, out: Path) -> None:
    suffix = out.suffix.lower()
    if suffix == ".xlsx" and messages.height >= EXCEL_ROWS:
        raise IsmsError(
            f"--out {str(out)!r}: the plan has {messages.height:,} rows and an Excel sheet "
            f"holds {EXCEL_ROWS - 1:,}: write .csv or .parquet instead."
        )
    try:
        if suffix == ".parquet":
            messages.write_parquet(out)
        elif suffix == ".xlsx":
            messages.write_excel(out, worksheet="plan", autofit=True)
        else:
            messages.write_csv(out)
    except OSError as exc:
        why = exc.strerror or str(exc).split(" (os error")[0]
        raise IsmsError(f"Cannot write --out {str(out)!r}: {why}.") from None


def cmd_demo(args: argparse.Namespace) -> int:
    from .store import Store

    started = time.perf_counter()
    data = Path(args.data) if args.data else _data_dir()
    out = Path(args.out or ".").resolve()
    store_path, report_path, spool = _demo_paths(out)
    _start_demo_afresh(store_path, spool)  # before anything, so a refusal comes first
    contacts = read_contacts(data / "sample_contacts.csv")
    camp = Campaign(
        DEMO_CAMPAIGN,
        contacts,
        template=DEMO_TEMPLATE,
        prefix=DEMO_PREFIX,
        brand=DEMO_BRAND,
        fallbacks={"name": "Customer"},
        rate_card=data / "rate_card.csv",
        billing=BillingRule(price_per_credit=DEMO_PRICE),
        purpose="transactional",  # order-ready notices: the demo runs at any hour
    )
    print(f"Planning {len(contacts)} synthetic contacts from {data / 'sample_contacts.csv'}")
    print(f"Template: {DEMO_TEMPLATE} (prefix {DEMO_PREFIX!r}, brand {DEMO_BRAND!r})\n")
    print_estimate(camp, price_note=f" at an example RM {DEMO_PRICE}/credit")
    out.mkdir(parents=True, exist_ok=True)
    with Store(store_path) as store:
        ok = _send_and_receive(camp, store, spool)
        _print_summaries(store)
        write_report(store, report_path, title="isms_campaigns demo (simulated gateway)")
    _print_demo_next_steps(store_path, report_path, spool, time.perf_counter() - started)
    return 0 if ok else 1


def _demo_paths(out: Path) -> tuple[Path, Path, Path]:
    """The demo's own files in ``out``: the store, the report and the callback spool."""
    return out / "campaigns.duckdb", out / "report.html", out / DEMO_SPOOL


def _start_demo_afresh(store_path: Path, spool: Path) -> None:
    """Remove what an earlier demo wrote, refusing to touch a store that is not the demo's."""
    from .store import Store

    if store_path.exists():
        with Store(store_path) as store:
            templates = [DEMO_TEMPLATE, *EARLIER_DEMO_TEMPLATES]
            mine = (pl.col("campaign") == DEMO_CAMPAIGN) & pl.col("template").is_in(templates)
            others = store.campaigns().filter(~mine)["campaign"].to_list()
        if others:
            shown = ", ".join(map(repr, others[:5])) + (" …" if len(others) > 5 else "")
            raise IsmsError(
                f"{store_path} holds campaigns that are not the demo's ({shown}); the demo "
                f"starts a fresh store each run and will not replace it. Run it in another "
                f"folder with --out DIR."
            )
        for path in (store_path, store_path.with_name(store_path.name + ".wal")):
            path.unlink(missing_ok=True)
    if spool.is_dir():  # callbacks of an earlier run would match this run's sms_ids
        for path in spool.glob("dlr-*.jsonl"):
            path.unlink()


def _send_and_receive(camp: Campaign, store: Store, spool: Path) -> bool:
    """Send through the simulator on loopback, receive its callbacks, import them.

    True when the send completed (nothing stopped it, nothing in doubt).
    """
    from .gateway.client import Gateway
    from .receiver import Receiver, running
    from .simulator import Account, DlrPlan, Simulator

    receiver = Receiver(secrets.token_urlsafe(24), spool)
    try:
        with running(receiver) as callback_url:
            simulator = Simulator(
                [Account("demo", "demo")],
                hosts=4,
                rates=camp.billing.rates,  # it bills as the estimate counts
                dlr=DlrPlan(delay=DEMO_DLR_DELAY),
                callback_url=callback_url,
            )
            try:
                with simulator.serve(port=0) as urls:
                    print(
                        f"\nSending through the iSMS simulator on loopback ({len(urls)} hosts, "
                        f"{urls[0]} …);\nits delivery reports go to the receiver at "
                        f"{_hide_token(callback_url)}",
                        flush=True,
                    )
                    with Gateway("demo", "demo", hosts=urls, timeout=10) as gateway:
                        report = camp.send(gateway, store, progress=True)
                    print(report)
                    wait = DEMO_DLR_DELAY[1]
                    print(f"Waiting {wait:g} s for the delivery reports …", flush=True)
                    time.sleep(wait)
            finally:
                simulator.close()  # sends the reports still due, then stops
    finally:
        receiver.close()
    print(f"The receiver got {receiver.received:,} callbacks, spooled to {spool}")
    print("\nImporting the spool into the store:")
    print(store.import_dlr(spool))
    print(_reports_per_message(store, camp.name))
    return report.ok


def _reports_per_message(store: Store, campaign: str) -> str:
    """Why there are more delivery reports (callbacks) than messages, from the store."""
    counts = store.sql(
        """
        with per as (
            select count(*) as reports, count(*) filter (where dn_status = 'PENDING') as pending
            from dlr_events where campaign = $campaign group by trx_id
        )
        select (select count(*) from messages
                where campaign = $campaign and state = 'submitted') as messages,
               coalesce(sum(reports), 0) as reports,
               coalesce(sum(pending) filter (where reports > pending), 0) as pending_first,
               coalesce(sum(reports - pending - 1) filter (where reports > pending), 0)
                   as repeated,
               count(*) as reported
        from per
        """,
        {"campaign": campaign},
    ).row(0, named=True)
    return (
        f"{counts['reports']:,} delivery reports for {counts['messages']:,} submitted messages: "
        f"a message can get several. {counts['pending_first']:,} were PENDING reports before "
        f"the final one and {counts['repeated']:,} repeated a final report (the simulator, "
        f"like a real gateway, sometimes sends one twice); "
        f"{counts['messages'] - counts['reported']:,} messages got none yet. Each message "
        "counts once below, by its latest final report."
    )


def _hide_token(url: str) -> str:
    """The callback URL without its secret token, for printing."""
    return url.rsplit("/", 1)[0] + "/<token>"


def _print_summaries(store: Store, campaigns: Sequence[str] | None = None) -> None:
    print("\nDelivery summary by campaign:")
    print_summary(delivery_summary(store, by="campaign", campaigns=campaigns), "campaign")
    # As the report shows it: what was sent (skipped numbers have no operator), small
    # groups added up in one "other" row.
    by_operator = delivery_summary(store, by="operator", campaigns=campaigns)
    print(f"\nDelivery summary by original operator (sent; under {MIN_GROUP} messages: other):")
    print_summary(breakdown(by_operator, "operator"), "operator")
    print(SUMMARY_NOTE)


SUMMARY_NOTE = (
    "delivered: the telco SMSC acknowledged it (DLR DELIVERED, ACCEPTED or SENT), which\n"
    "is not proof that the handset got it. rate = delivered / submitted, with its Wilson\n"
    "95 % interval. no DLR: submitted, no delivery report (yet)."
)


def print_summary(summary: pl.DataFrame, dim: str) -> None:
    """A delivery summary in a terminal: the columns that fit its width, rates in %.

    Piped into a file or another program, every column: there is no width to fit."""
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 10_000
    table, dropped = _terminal_summary(summary, dim, width)
    print_table(table)
    if dropped:
        print(f"(too narrow a terminal for: {', '.join(dropped)})")


def _terminal_summary(
    summary: pl.DataFrame, dim: str, width: int = 100
) -> tuple[pl.DataFrame, list[str]]:
    """The summary with short headings; the optional columns only while they fit ``width``."""

    def pct(column: str, decimals: int) -> pl.Expr:
        return (pl.col(column) * 100).round(decimals)

    rate = pl.format(
        "{} % ({}–{})",
        pct("delivery_rate", 1),
        pct("rate_low", 0).cast(pl.Int64),
        pct("rate_high", 0).cast(pl.Int64),
    )
    readable = summary.select(
        group_label(summary, [dim]).alias(dim),
        pl.col("messages"),
        pl.col("skipped"),
        pl.col("planned"),
        pl.col("submitted"),
        pl.col("failed"),
        pl.col("unknown"),
        pl.col("delivered"),
        pl.col("undelivered"),
        pl.col("pending"),
        pl.col("other_dlr").alias("other DLR"),
        pl.col("no_dlr").alias("no DLR"),
        # Not 0 % before any report has come: the rate is not known yet.
        pl.when(pl.col("no_dlr") == pl.col("submitted"))
        .then(pl.lit("–"))
        .otherwise(rate)
        .alias("rate (95% CI)"),
        pl.col("credits_estimated").alias("credits est."),
        pl.col("credits_charged").alias("charged"),
        pl.col("dlr_seconds_median").round(1).cast(pl.String).fill_null("–").alias("median DLR s"),
    )
    # Always: what was submitted and what became of it. The rarer states only
    # where they occur; the rest while the table fits the terminal.
    rare = ["skipped", "planned", "failed", "unknown", "pending", "other DLR"]
    core = [dim, "submitted", "delivered", "undelivered", "no DLR", "rate (95% CI)"]
    core += [c for c in rare if readable[c].sum() > 0]
    optional = ["messages", "credits est.", "charged", "median DLR s"]
    if readable["charged"].null_count() == readable.height:  # by operator: not attributable
        optional.remove("charged")
    readable = readable.with_columns(pl.col("charged").cast(pl.String).fill_null("–"))

    def cells(column: str) -> int:  # characters the column takes, borders included
        text = pl.col(column).cast(pl.String).fill_null("null")
        longest = readable.select(text.str.len_chars().max()).item()
        return max(len(column), int(longest or 0)) + 3

    used = 1 + sum(cells(c) for c in core)
    chosen, dropped = set(core), []
    for column in optional:
        if used + cells(column) <= width:
            chosen.add(column)
            used += cells(column)
        else:
            dropped.append(column)
    return readable.select(c for c in readable.columns if c in chosen), dropped


def print_table(frame: pl.DataFrame) -> None:
    """A polars frame printed for a terminal: every column, no shape or types, times
    in Malaysian time (as everything the toolkit shows)."""
    frame = frame.with_columns(cs.datetime(time_zone="*").dt.convert_time_zone(MALAYSIA.key))
    with pl.Config(
        tbl_rows=60,
        tbl_cols=-1,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_width_chars=1000,  # the columns were chosen to fit: never wrap a cell
        fmt_str_lengths=60,
    ):
        print(frame)


def _print_demo_next_steps(
    store_path: Path, report_path: Path, spool: Path, elapsed: float
) -> None:
    store, report = shlex.quote(str(store_path)), shlex.quote(str(report_path))
    print(f"\nDemo done in {elapsed:.1f} s. Written:")
    print(f"  store:     {store_path}")
    print(f"  report:    {report_path}")
    print(f"  callbacks: {spool}{os.sep}")
    print("Next:")
    print("  - open the report in a browser (tables and figures; it works offline):")
    print(f"      {report_path.as_uri()}")
    print("  - write it again, e.g. after importing more delivery reports:")
    print(f"      isms-campaigns report --store {store} --out {report}")
    print("  - query the store in Python or Jupyter (import isms_campaigns as ic):")
    print(f"      ic.Store({str(store_path)!r}).sql('select * from messages')")
    print("  - the notebooks in notebooks/: plan and estimate, send, delivery dashboard")
    print("Running the demo again starts over: it replaces these files.")


def cmd_report(args: argparse.Namespace) -> int:
    from .store import Store

    path = Path(args.store)
    if not path.is_file():
        raise IsmsError(
            f"No store at {path}: give the DuckDB file your sends wrote with --store FILE "
            f"(isms-campaigns demo writes campaigns.duckdb in the folder it runs in)."
        )
    with Store(path) as store:
        written = write_report(
            store, args.out, campaigns=args.campaign, title=args.title, time_zone=args.time_zone
        )
        summary = delivery_summary(
            store, by="campaign", campaigns=args.campaign, time_zone=args.time_zone
        )
    if summary.height:
        print_summary(summary, "campaign")
    else:
        print(f"No campaigns in {path} yet: the report says so.")
    print(f"Wrote {written.resolve()}")
    return 0


def cmd_balance(args: argparse.Namespace) -> int:
    from .gateway.client import Gateway

    with Gateway.from_env(hosts=args.hosts or None) as gateway:
        credits = gateway.balance()
    if credits is None:
        print("Postpaid account: iSMS keeps no credit balance for it.")
    else:
        print(f"Balance: {credits:,} credits")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from .store import Store

    camp = _campaign_from_args(args, _contacts(args))
    with _gateway(args) as gateway, Store(args.store) as store:
        return _send(args, camp, gateway, store)


def cmd_follow_up(args: argparse.Namespace) -> int:
    from .store import Store

    template = None if args.template is None and not args.template_file else _template(args)
    with Store(_existing_store(args.store)) as store:
        known = "select count(*) from campaigns where campaign = ?"
        again = bool(store.sql(known, [args.name]).item())
        camp = store.follow_up(args.campaign, args.name, args.where, template=template)
        if again:  # its estimate would say "nothing has been sent": the send says what is left
            print(f"Follow-up {camp.name!r} of {args.campaign!r} is in the store: resuming it")
        else:
            print(f"Follow-up {camp.name!r} of {args.campaign!r}: the recipients {args.where!r}")
            print_estimate(camp)
        with _gateway(args) as gateway:
            return _send(args, camp, gateway, store)


def cmd_export(args: argparse.Namespace) -> int:
    from .store import Store

    with Store(_existing_store(args.store)) as store:
        written = store.export(args.campaign, args.path)
        n = store.sql("select count(*) from messages where campaign = ?", [args.campaign]).item()
    print(f"Wrote the {n:,} messages of {args.campaign!r} to {written}")
    return 0


def _existing_store(path: str) -> str:
    """A store file that must exist already (opening a missing one would create it)."""
    if not Path(path).is_file():
        raise IsmsError(
            f"No store at {path}: give the DuckDB file your sends wrote with --store FILE."
        )
    return path


def _gateway(args: argparse.Namespace) -> Gateway:
    """The account of ISMS_USERNAME / ISMS_PASSWORD (a dry run needs none)."""
    from .gateway.client import Gateway

    if args.dry_run and not os.environ.get("ISMS_USERNAME"):
        return Gateway("ISMS_USERNAME", "unused", hosts=args.hosts or None)
    return Gateway.from_env(hosts=args.hosts or None)


def _send(args: argparse.Namespace, camp: Campaign, gateway: Gateway, store: Store) -> int:
    """Show what ``camp`` sends, ask (unless --yes), send it and print the report."""
    tests = args.test_number or None
    options = {
        "amend": args.amend,
        "allow_repeats": args.allow_repeats,
        "max_per_number": args.max_per_number,
    }
    plan = camp.send(gateway, store, dry_run=True, test_numbers=tests, **options)
    count = sum(len(p["messages"]) for p in plan.payloads)
    if plan.stop_reason and not args.dry_run:  # outside the marketing window
        print(f"Nothing sent: {plan.stop_reason}.\n{plan.what_to_do}")
        return 1
    if args.dry_run:
        print(plan)
        for payload in plan.payloads[:2]:
            print(json.dumps(payload, ensure_ascii=False, indent=1))
        if len(plan.payloads) > 2:
            print(f"… and {len(plan.payloads) - 2:,} more requests like these.")
        return 0
    if count == 0:  # sent already, or every row held back: say why, not "dry run"
        states = ", ".join(f"{s} {n:,}" for s, n in plan.states.items() if n)
        print(f"Nothing to send for {plan.campaign!r}. Its messages: {states or 'none'}.")
        for note in plan.notes[1:]:  # the first says what a dry run is
            print(f"  - {note}")
        return 0
    question = (
        f"Send {count:,} messages ({plan.credits_estimated:,} credits estimated) of "
        f"campaign {plan.campaign!r} through iSMS as {gateway.username!r}? [y/N] "
    )
    if not args.yes and not _confirm(question):
        print("Not sent. Add --yes to send without asking.")
        return 1
    report = camp.send(
        gateway,
        store,
        concurrency=args.concurrency,
        test_numbers=tests,
        requests_per_second=args.requests_per_second,
        check_balance=not args.no_balance_check,
        **options,
    )
    print(report)
    print(f"Everything is recorded in {args.store}.")
    return 0 if report.ok else 1


def cmd_cancel(args: argparse.Namespace) -> int:
    from .store import Store

    with Store(args.store) as store:
        cancelled = store.cancel(args.campaign)
    n = int(cancelled["messages"].sum() or 0)
    print(
        f"Cancelled {cancelled.height:,} requests ({n:,} messages) of {args.campaign!r}: "
        f"they will never be sent."
        if n
        else f"Nothing left to cancel in {args.campaign!r}."
    )
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from .store import Store

    with Store(args.store) as store:
        evidence = store.unknown_evidence(args.campaign)
        if evidence.is_empty():
            print(f"{args.campaign!r} has no request in doubt: nothing to resolve.")
            return 0
        print(f"Requests of {args.campaign!r} that may or may not have gone out:")
        print_table(evidence)
        proven = int((evidence["with_dlr"] > 0).sum())
        unclear = int(evidence["ambiguous"].sum())
        print(
            f"Delivery reports prove {proven:,} of them went out (settled as sent, never "
            f"resent); {unclear:,} reports are ambiguous (another request could explain them) "
            f"and prove nothing. Import the latest reports first (import-dlr) to prove more."
        )
        action = "send again" if args.resend else "settle as possibly sent (never send)"
        doubtful = evidence.height - proven
        if (
            doubtful
            and not args.yes
            and not _confirm(
                f"{action.capitalize()} {doubtful:,} requests without evidence? [y/N] "
            )
        ):
            print("Nothing changed. Add --yes to resolve without asking.")
            return 1
        settled = store.resolve_unknown(args.campaign, resend=args.resend)
    print_table(settled)
    if (settled["settled_as"] == "resend").any():
        print(
            "Run send again to send the chunks marked resend (reports that arrive before "
            "then still stop them)."
        )
    return 0


def cmd_import_dlr(args: argparse.Namespace) -> int:
    from .store import Store

    with Store(args.store) as store:
        report = store.import_dlr(args.source, time_zone=args.time_zone)
    print(report)
    print(f"Recorded in {args.store}.")
    return 0


def cmd_opt_out(args: argparse.Namespace) -> int:
    from .store import Store

    if args.action in ("list", "remove") and not Path(args.store).is_file():
        raise IsmsError(
            f"No store at {args.store}: give the DuckDB file that holds the do-not-contact "
            f"list with --store FILE."
        )
    with Store(args.store) as store:
        if args.action == "import":
            reports = [
                store.import_opt_outs(source, region=args.region, time_zone=args.time_zone)
                for source in args.source
            ]
            for report in reports:
                print(report)
            print(f"Recorded in {args.store}.")
            return 0 if all(r.ok for r in reports) else 1
        if args.action == "list":
            listed = store.sql("select * from suppressions order by since, number")
            print(f"{listed.height:,} numbers on the do-not-contact list of {args.store}.")
            if listed.height:
                print_table(
                    listed.with_columns(
                        since=pl.col("since").dt.convert_time_zone(DEFAULT_TIME_ZONE)
                    ).with_columns(pl.col("since").dt.strftime("%Y-%m-%d %H:%M"))
                )
            return 0
        change = store.suppress if args.action == "add" else store.unsuppress
        done = change(
            args.number,
            reason=args.reason,
            source=args.source or "isms-campaigns opt-out",
            at=args.at,
            region=args.region,
        )
        moved = int((done["listed"] != done["listed_before"]).sum())
        if args.action == "add":
            print(f"Suppressed {moved:,} numbers; {done.height - moved:,} were already listed.")
        else:
            print(
                f"Took {moved:,} numbers off the list; {done.height - moved:,} stay as they were."
            )
    return 0


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:  # no terminal to ask
        return False


def cmd_simulator(args: argparse.Namespace) -> int:
    from .simulator import Account, DlrPlan, Simulator

    account = Account(args.username, args.password, balance=None if args.postpaid else args.balance)
    dlr = DlrPlan(delay=(0.0, args.dlr_delay)) if (args.callback_log or args.callback_url) else None
    simulator = Simulator(
        [account],
        hosts=args.hosts,
        dlr=dlr,
        callback_log=args.callback_log,
        callback_url=args.callback_url,
    )
    with simulator.serve(port=args.port) as urls:
        print("iSMS simulator serving (Ctrl-C to stop):", flush=True)
        for url in urls:
            print(f"  {url}", flush=True)
        print(f"account: {account.username} / {account.password}", flush=True)
        # SIGTERM stops it as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            simulator.close()
    print(f"stopped; {len(simulator.ledger):,} messages accepted")
    return 0


def cmd_receiver(args: argparse.Namespace) -> int:
    from .receiver import Receiver, serve

    token = args.token or os.environ.get("ISMS_DLR_TOKEN", "")
    app = Receiver(token, args.spool, max_file_bytes=int(args.max_file_mb * 2**20))
    serve(app, args.host, args.port)  # until Ctrl-C or SIGTERM
    return 0


def _add_plan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("contacts", help="contact list: .csv .tsv .xlsx .parquet .json .jsonl")
    p.add_argument("--template", help="message text with %%tokens%%, e.g. 'Hi %%name%%'")
    p.add_argument("--template-file", help="read the message text from this UTF-8 file")
    p.add_argument("--campaign", default="campaign", help="campaign name (default: campaign)")
    p.add_argument("--number-column", help="column with phone numbers (found by name if omitted)")
    p.add_argument("--sheet", help="Excel sheet: its name, or its position (0 = the first)")
    p.add_argument("--encoding", help="text encoding of a CSV/TSV not saved as UTF-8, e.g. cp1252")
    p.add_argument("--region", default="MY", help="country of numbers without a code (default MY)")
    p.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="NAME=COLUMN",
        help="take %%NAME%% from COLUMN, e.g. name='Customer Name' (repeatable)",
    )
    p.add_argument(
        "--format",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="how %%NAME%% is written: amount={:.2f}, dob=%%d/%%m/%%Y (repeatable)",
    )
    p.add_argument(
        "--fallback",
        action="append",
        default=[],
        metavar="TOKEN=VALUE",
        help="value for a missing token, e.g. name=Customer (repeatable)",
    )
    p.add_argument(
        "--suppress",
        help="file of numbers never to message (opt-outs): one per line, or a table's "
        "number column; an entry that is not a number is an error",
    )
    p.add_argument("--sender-id", help="sender ID, at most 11 letters/digits")
    p.add_argument("--prefix", help="text before every message, counted in credits: 'RM0.00 '")
    p.add_argument("--brand", help="your brand: each Malaysian message is checked to contain it")
    p.add_argument(
        "--allow-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="a link domain whitelisted for your account (its subdomains too; repeatable)",
    )
    p.add_argument(
        "--no-compliance",
        action="store_true",
        help="skip the checks of what Malaysian operators block or expect",
    )
    p.add_argument(
        "--send-later",
        metavar="WHEN",
        help="when the gateway sends it: '2026-12-01 09:30' is Malaysian time; "
        "'2026-12-01T01:30Z' or '…+08:00' are converted",
    )
    p.add_argument(
        "--purpose",
        choices=PURPOSES,
        default="marketing",
        help="marketing (default) goes out only inside --window; transactional (order "
        "notices, OTPs, reminders) at any hour",
    )
    p.add_argument(
        "--window",
        metavar="HH:MM-HH:MM",
        help="hours for marketing messages, Malaysian time (default 08:00-20:00)",
    )
    p.add_argument(
        "--smart-ascii", action="store_true", help="replace curly quotes, dashes … by ASCII"
    )
    p.add_argument("--type", type=int, choices=(1, 2), help="force type 1 (ASCII) or 2 (Unicode)")
    p.add_argument("--rate-card", help="CSV of country_code,credits_per_part (default: Malaysia 1)")
    p.add_argument("--price-per-credit", type=float, help="RM per credit, to show the cost")


def _add_send_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", action="store_true", help="send without asking for confirmation")
    p.add_argument("--dry-run", action="store_true", help="show the requests; send nothing")
    p.add_argument("--hosts", nargs="+", help="base URLs to use instead of the iSMS hosts")
    p.add_argument("--concurrency", type=int, default=4, help="requests at once (default 4)")
    p.add_argument("--requests-per-second", type=float, help="cap on the request rate")
    p.add_argument(
        "--test-number",
        action="append",
        metavar="NUMBER",
        help="send the first message of each type to this number only (repeatable)",
    )
    p.add_argument(
        "--no-balance-check",
        action="store_true",
        help="send even if the balance is below the estimate (the rest stays planned)",
    )
    p.add_argument(
        "--amend",
        action="store_true",
        help="the plan changed after part of it was sent: send the new plan to the "
        "recipients not yet sent under this campaign name",
    )
    p.add_argument(
        "--allow-repeats",
        action="store_true",
        help="send even to numbers another campaign sent the same text in the last 7 days",
    )
    p.add_argument(
        "--max-per-number",
        metavar="N/PERIOD",
        help="skip numbers that other campaigns of the store sent N messages within "
        "PERIOD, e.g. 1/24h or 3/7d",
    )


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default="campaigns.duckdb", help="DuckDB file (default %(default)s)")


def _add_opt_out(sub: Any) -> None:
    opt = sub.add_parser(
        "opt-out",
        help="the store's do-not-contact list: import opt-outs, add, remove, list",
        description=(
            "Numbers on a store's do-not-contact list are skipped by every send through that "
            "store. Every change is kept, with its reason and source."
        ),
    )
    verbs = opt.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = verbs.add_parser(
        "import",
        help="suppress the opt-outs of number lists or reply exports",
        description=(
            "A number list is suppressed whole (an unreadable entry is an error). A reply "
            "export (a number column and a text column): STOP, BATAL, HENTI or UNSUBSCRIBE "
            "suppress; START lifts it only when later than the opt-out (needs a time column)."
        ),
    )
    imp.add_argument("source", nargs="+", help="files: number lists or reply exports")
    imp.add_argument(
        "--time-zone",
        default=DEFAULT_TIME_ZONE,
        help="zone of reply times written without an offset (default %(default)s)",
    )
    add = verbs.add_parser("add", help="put numbers on the list")
    add.add_argument("number", nargs="+", help="numbers, in any spelling")
    add.add_argument("--reason", default="opt-out", help="why (default %(default)s)")
    remove = verbs.add_parser("remove", help="take numbers off the list, saying why")
    remove.add_argument("number", nargs="+", help="numbers, in any spelling")
    remove.add_argument("--reason", required=True, help="why, e.g. 'asked to be back'")
    for verb in (add, remove):
        verb.add_argument("--source", help="where the request came from, e.g. 'call centre'")
        verb.add_argument("--at", help="when it happened (default now; Malaysian time)")
    listing = verbs.add_parser("list", help="print the numbers listed now")
    for verb in (imp, add, remove, listing):
        _add_store(verb)
        if verb is not listing:
            verb.add_argument(
                "--region", default="MY", help="country of numbers without a code (default MY)"
            )
    opt.set_defaults(func=cmd_opt_out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="isms-campaigns",
        description="Plan, send and track SMS campaigns through the iSMS gateway.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="run the whole flow on the bundled sample data (no account, no network)"
    )
    demo.description = (
        "Plan data/sample_contacts.csv and print the estimate, then send it through the iSMS "
        "simulator on loopback, receive its delivery-report callbacks with the receiver, "
        "import them, print the delivery summary and write campaigns.duckdb, report.html and "
        f"{DEMO_SPOOL}/ into --out. Each run starts afresh, replacing those files (it refuses "
        "to replace a store that holds other campaigns)."
    )
    demo.add_argument("--data", help="folder with sample_contacts.csv and rate_card.csv")
    demo.add_argument(
        "--out", help="folder to write the demo's files to (default: the current one)"
    )
    demo.set_defaults(func=cmd_demo)

    estimate = sub.add_parser(
        "estimate", help="show every message and its credit cost, without sending"
    )
    _add_plan_options(estimate)
    estimate.add_argument(
        "--out", help="write every planned message to this file: .csv, .parquet or .xlsx"
    )
    estimate.add_argument(
        "--store", help="skip the numbers on this store's do-not-contact list, as send will"
    )
    estimate.set_defaults(func=cmd_estimate)

    balance = sub.add_parser(
        "balance", help="print the account's credit balance (ISMS_USERNAME / ISMS_PASSWORD)"
    )
    balance.add_argument("--hosts", nargs="+", help="base URLs to use instead of the iSMS hosts")
    balance.set_defaults(func=cmd_balance)

    send = sub.add_parser(
        "send",
        help="send a campaign through iSMS, recorded in a store (resumes when run again)",
        description=(
            "Plan the contacts, show what will go out and ask before sending. Run it again "
            "with the same --campaign and --store to resume: nothing is sent twice. "
            "Credentials come from ISMS_USERNAME and ISMS_PASSWORD."
        ),
    )
    _add_plan_options(send)
    _add_store(send)
    _add_send_options(send)
    send.set_defaults(func=cmd_send)

    follow = sub.add_parser(
        "follow-up",
        help="send a new campaign to some recipients of an earlier one (e.g. the undelivered)",
        description=(
            "Plan a campaign NAME of the recipients of CAMPAIGN that --where selects, with "
            "the contact columns and settings its plan kept (its template unless --template "
            "is given), linked to it (parent in the campaigns view); show the estimate, ask, "
            "and send it as send does. Run it again to resume: nobody is sent twice."
        ),
        epilog=(
            "--where undelivered: submitted, delivery report UNDELIVERED; failed: refused by "
            "the gateway (e.g. -1008); no_dlr: submitted, no report imported yet; or an SQL "
            "condition on the messages view, e.g. \"state = 'failed' or dlr_class = 'failed'\". "
            "Import the latest delivery reports first (import-dlr)."
        ),
    )
    follow.add_argument("campaign", help="the earlier campaign's name")
    follow.add_argument("name", help="the follow-up's campaign name")
    follow.add_argument(
        "--where",
        required=True,
        metavar="WHICH",
        help="undelivered, failed, no_dlr, or an SQL condition on the messages view",
    )
    follow.add_argument("--template", help="a new message text (default: the first one's)")
    follow.add_argument("--template-file", help="read the new message text from this UTF-8 file")
    _add_store(follow)
    _add_send_options(follow)
    follow.set_defaults(func=cmd_follow_up)

    export = sub.add_parser(
        "export",
        help="write one row per message of a campaign to CSV, Parquet or Excel",
        description=(
            "Write every message of CAMPAIGN to PATH: the contact columns its plan kept, then "
            "row, dstno, msg, state, problem, code, status, sms_id, submitted_at, dlr_status, "
            "dlr_class, dlr_at and the rest of the messages view. The extension chooses the "
            "format: .csv, .parquet or .xlsx. Times are Malaysian time."
        ),
    )
    export.add_argument("campaign", help="the campaign's name")
    export.add_argument("path", help="the file to write: .csv, .parquet or .xlsx")
    _add_store(export)
    export.set_defaults(func=cmd_export)

    cancel = sub.add_parser(
        "cancel",
        help="cancel what a campaign has still to send (it is never sent)",
        description="The requests of CAMPAIGN still planned become cancelled: never sent.",
    )
    cancel.add_argument("campaign", help="the campaign's name")
    _add_store(cancel)
    cancel.set_defaults(func=cmd_cancel)

    resolve = sub.add_parser(
        "resolve",
        help="decide about requests that may or may not have gone out (unknown)",
        description=(
            "Shows what the imported delivery reports prove about CAMPAIGN's unknown "
            "requests, then settles them: those with evidence as sent; the rest are sent "
            "again (--resend: a recipient may get the message twice) or settled as possibly "
            "sent (--settle: never sent again)."
        ),
    )
    resolve.add_argument("campaign", help="the campaign's name")
    _add_store(resolve)
    how = resolve.add_mutually_exclusive_group(required=True)
    how.add_argument("--resend", action="store_true", help="send the unproven ones again")
    how.add_argument("--settle", action="store_true", help="never send the unproven ones")
    resolve.add_argument("--yes", action="store_true", help="resolve without asking")
    resolve.set_defaults(func=cmd_resolve)

    imp = sub.add_parser(
        "import-dlr",
        help="import delivery reports (logs, callback URLs, CSV/TSV/Parquet/JSONL) into a store",
        description=(
            "Import iSMS delivery reports: web-server access logs or any text whose lines hold "
            "msisdn=…&trx_id=…&dn_status=…, or tables with those columns; files, folders or "
            "globs. Importing again adds only what is new."
        ),
    )
    imp.add_argument("source", nargs="+", help="files, folders or globs ('logs/*.log')")
    _add_store(imp)
    imp.add_argument(
        "--time-zone",
        default=DEFAULT_TIME_ZONE,
        help="zone of times written without an offset (default %(default)s, the gateway's)",
    )
    imp.set_defaults(func=cmd_import_dlr)

    rep = sub.add_parser(
        "report",
        help="write the self-contained HTML delivery report of a store",
        description=(
            "Write one HTML file (works offline) with the delivery summary tables and figures "
            "of the campaigns in a store: every campaign except test sends, or those named."
        ),
    )
    _add_store(rep)
    rep.add_argument("--out", default="report.html", help="HTML file (default %(default)s)")
    rep.add_argument(
        "--campaign",
        action="extend",
        nargs="+",
        metavar="NAME",
        help="only these campaigns (test sends too, when named)",
    )
    rep.add_argument("--title", help="the report's heading")
    rep.add_argument(
        "--time-zone",
        default=DEFAULT_TIME_ZONE,
        help="zone for dates and hours (default %(default)s)",
    )
    rep.set_defaults(func=cmd_report)

    rec = sub.add_parser(
        "receiver",
        help="receive iSMS delivery-report callbacks into a spool folder",
        description=(
            "Serve GET /dlr/<token>?msisdn=…&trx_id=…&dn_status=… (the callback URL to give "
            "iSMS) and /health. Each report is answered 200 only once it is fsynced to a "
            "JSON-lines file in --spool; import them with: isms-campaigns import-dlr SPOOL. "
            "Put it behind a reverse proxy with TLS (see the README)."
        ),
    )
    rec.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any)")
    rec.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    rec.add_argument(
        "--token",
        help="secret part of the callback URL, 12+ letters/digits/-/_ "
        "(default: $ISMS_DLR_TOKEN, which keeps it out of the process list)",
    )
    rec.add_argument("--spool", default="dlr-spool", help="spool folder (default %(default)s)")
    rec.add_argument(
        "--max-file-mb", type=float, default=64, help="rotate spool files past this size"
    )
    rec.set_defaults(func=cmd_receiver)

    _add_opt_out(sub)

    sim = sub.add_parser(
        "simulator", help="serve a stand-in iSMS gateway on loopback (for demos and tests)"
    )
    sim.add_argument("--port", type=int, default=8001, help="first port (default 8001; 0 = any)")
    sim.add_argument("--hosts", type=int, default=4, help="how many hosts, one port each")
    sim.add_argument("--username", default="demo", help="account username (default demo)")
    sim.add_argument("--password", default="demo", help="account password (default demo)")
    sim.add_argument("--balance", type=int, default=1_000_000, help="prepaid credits")
    sim.add_argument("--postpaid", action="store_true", help="a postpaid account (no balance)")
    sim.add_argument("--callback-log", help="append delivery-report callbacks to this file")
    sim.add_argument("--callback-url", help="push delivery-report callbacks to this URL")
    sim.add_argument("--dlr-delay", type=float, default=2.0, help="max seconds before a DLR")
    sim.set_defaults(func=cmd_simulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except IsmsError as exc:
        print(f"error: {exc.command_line()}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system said no (disk full, permissions …)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

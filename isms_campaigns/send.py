"""Sending a campaign: 50-number chunks, an outbox in the store, resume, stop rules.

The rules that keep a message from going out twice or being lost:

1. The plan and its chunks are written to the store before anything is sent.
2. A chunk is committed ``in_flight`` before its request leaves; its results
   are committed, in one transaction, after the answer. A chunk still
   ``in_flight`` when a send starts was interrupted: it becomes ``unknown``.
3. ``unknown`` chunks (the gateway may have acted) are never sent again on
   their own: ``store.resolve_unknown(campaign, resend=…)`` decides.
4. A rejected request sent nothing: its chunk goes back to ``planned`` and,
   for account problems (credits, IP, password, terms), the campaign stops
   with what to do; the next ``send`` sends exactly the rest.

Writes are grouped: the results of every request that finished and the
``in_flight`` marks of the requests about to start are one transaction, so a
send of any size costs one commit per round of ``concurrency`` requests.
"""

from __future__ import annotations

import asyncio
import html
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from .errors import PlanError, SendError
from .gateway.client import MAX_NUMBERS, Gateway, Reply
from .gateway.responses import Rejected, Sent, Unknown, Unreached
from .numbers import normalise_numbers
from .store import CampaignRecord, Store

if TYPE_CHECKING:
    from .campaign import Campaign

STATES = ("planned", "skipped", "submitted", "failed", "unknown")
UNKNOWN_IN_A_ROW = 3  # ambiguous answers in a row before the send stops
RETRY_DELAYS = (1.0, 4.0, 15.0)  # seconds between tries of a request refused with -1000


# --------------------------------------------------------------------------
# Chunking
# --------------------------------------------------------------------------


def chunk_plan(
    messages: pl.DataFrame, limit: int = MAX_NUMBERS
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give every sendable row a ``chunk``: one type, at most ``limit`` numbers each.

    Deterministic (type, then row order), so a resumed send makes the same
    chunks. Returns the messages with ``chunk`` (null for skipped rows) and
    one row per chunk: type, numbers, messages, credits_estimated.
    """
    sendable = (
        messages.filter(pl.col("problem").is_null())
        .select("row", "type", "credits", numbers=_number_count(pl.col("dstno")))
        .sort("type", "row")
    )
    counts = sendable["numbers"]
    most = int(counts.max() or 0) if sendable.height else 0  # type: ignore[arg-type]
    if most > limit:
        worst = sendable.filter(pl.col("numbers") > limit)["row"][0]
        raise PlanError(f"Row {worst} holds more than {limit} numbers: split it into rows.")
    if most <= 1:
        block = pl.int_range(pl.len()).over("type") // limit
        sendable = sendable.with_columns(block=block)
    else:
        blocks = _pack(sendable["type"].to_list(), counts.to_list(), limit)
        sendable = sendable.with_columns(block=pl.Series(blocks, dtype=pl.Int64))
    sendable = sendable.with_columns(
        chunk=pl.struct("type", "block").rank("dense").cast(pl.Int32) - 1
    )
    chunks = (
        sendable.group_by("chunk")
        .agg(
            type=pl.col("type").first(),
            numbers=pl.col("numbers").sum().cast(pl.Int32),
            messages=pl.len().cast(pl.Int32),
            credits_estimated=pl.col("credits").sum().cast(pl.Int32),
        )
        .sort("chunk")
    )
    planned = messages.join(
        sendable.select("row", "chunk"), on="row", how="left", maintain_order="left"
    )
    return planned, chunks


def _number_count(dstno: pl.Expr) -> pl.Expr:
    """How many numbers a dstno holds, as the gateway client's ``split_numbers`` counts."""
    return dstno.str.extract_all(r"[^;,]*[^;,\s][^;,]*").list.len()


def _pack(types: list[int], counts: list[int], limit: int) -> list[int]:
    """Greedy blocks of at most ``limit`` numbers, restarting at each type.

    Only used when some dstno holds several numbers (a Campaign never makes
    one, its numbers are normalised one per row); the common case is
    vectorised in :func:`chunk_plan`.
    """
    blocks = []
    block, filled, previous = -1, limit, None
    for kind, count in zip(types, counts, strict=True):
        if kind != previous or filled + count > limit:
            block, filled, previous = block + 1, 0, kind
        filled += count
        blocks.append(block)
    return blocks


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


@dataclass
class SendReport:
    """What a send did, and what the campaign looks like after it.

    ``states`` counts the campaign's messages by state (all runs together);
    the other figures are this run's. ``unknown_chunks`` lists the chunks
    that may or may not have gone out, settle them with
    ``store.resolve_unknown``.
    """

    campaign: str
    states: dict[str, int]
    submitted_now: int = 0
    failed_now: int = 0
    requests: int = 0
    credits_estimated: int = 0
    credits_charged: int | None = None
    unknown_chunks: list[int] = field(default_factory=list)
    stop_reason: str | None = None
    what_to_do: str | None = None
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    dry_run: bool = False
    test: bool = False
    payloads: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        """Nothing stopped the send and nothing is in doubt."""
        return self.stop_reason is None and not self.unknown_chunks

    @property
    def complete(self) -> bool:
        """Every sendable message has an answer (submitted or failed)."""
        return self.ok and not self.states.get("planned") and not self.dry_run

    def summary(self) -> pl.DataFrame:
        """Messages by state, for the whole campaign."""
        return pl.DataFrame(
            {"state": list(STATES), "messages": [self.states.get(s, 0) for s in STATES]}
        )

    def _headline(self) -> str:
        if self.dry_run:
            n = sum(len(p["messages"]) for p in self.payloads)
            return f"dry run: {len(self.payloads):,} requests, {n:,} messages, nothing sent"
        if self.stop_reason:
            return f"stopped: {self.stop_reason}"
        if self.unknown_chunks:
            return f"{len(self.unknown_chunks)} requests unknown (may or may not have gone out)"
        if self.states.get("planned"):
            return f"{self.states['planned']:,} messages still planned"
        return "complete"

    def _this_run(self) -> str:
        charged = "?" if self.credits_charged is None else f"{self.credits_charged:,}"
        return (
            f"this run: {self.submitted_now:,} submitted, {self.failed_now:,} failed, "
            f"{self.requests:,} requests, credits estimated {self.credits_estimated:,} / "
            f"charged {charged}, {self.elapsed:.1f} s"
        )

    def __repr__(self) -> str:
        states = ", ".join(f"{s} {self.states.get(s, 0):,}" for s in STATES)
        return f"<SendReport {self.campaign!r}: {self._headline()}; {states}>"

    def __str__(self) -> str:
        lines = [f"Send report for {self.campaign!r}: {self._headline()}"]
        lines += [f"  {s:<10} {self.states.get(s, 0):>10,}" for s in STATES]
        if not self.dry_run:
            lines.append(f"  {self._this_run()}")
        if self.unknown_chunks:
            lines.append(f"  unknown chunks: {_ids(self.unknown_chunks)}")
        if self.what_to_do:
            lines.append(f"  what to do: {self.what_to_do}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        colour = "#1a7f37" if self.ok else "#b35900"
        rows = "".join(
            f'<tr><td>{s}</td><td class="n">{self.states.get(s, 0):,}</td></tr>' for s in STATES
        )
        parts = [
            '<div class="isend" style="font-family:system-ui,sans-serif;font-size:13px">',
            f"<h3 style='margin:4px 0'>Send report: {esc(self.campaign)}</h3>",
            f"<p style='color:{colour};font-weight:600'>{esc(self._headline())}</p>",
            "<table><tr><th>state</th><th>messages</th></tr>",
            rows,
            "</table>",
        ]
        if not self.dry_run:
            parts.append(f"<p>{esc(self._this_run())}</p>")
        if self.unknown_chunks:
            parts.append(
                f"<p>Unknown chunks: {esc(_ids(self.unknown_chunks))}. Settle them with "
                f"<code>store.resolve_unknown({self.campaign!r}, resend=True|False)</code>.</p>"
            )
        if self.what_to_do:
            parts.append(f"<p><b>What to do:</b> {esc(self.what_to_do)}</p>")
        parts += [f"<p style='color:#8a5300'>{esc(n)}</p>" for n in self.notes]
        if self.payloads:
            shown = json.dumps(self.payloads[:2], ensure_ascii=False, indent=1)
            parts.append(
                f"<details><summary>Request payloads ({len(self.payloads):,}; first 2)"
                f"</summary><pre>{esc(shown)}</pre></details>"
            )
        parts.append("</div>")
        return "".join(parts)


def _ids(chunks: Sequence[int]) -> str:
    shown = ", ".join(str(c) for c in chunks[:10])
    return shown + (f" … ({len(chunks)} in all)" if len(chunks) > 10 else "")


# --------------------------------------------------------------------------
# The sender
# --------------------------------------------------------------------------


@dataclass
class _Chunk:
    chunk: int
    type: int
    sendid: str | None
    sendlater: str | None
    credits: int
    messages: list[dict[str, str]]
    rows: list[int]  # the plan row of each destination number, in order


@dataclass
class _Outcome:
    chunk: _Chunk
    replies: list[tuple[datetime, Reply]]

    @property
    def result(self) -> Sent | Rejected | Unknown | Unreached:
        return self.replies[-1][1].result


class Sender:
    """Sends the planned chunks of one campaign; :meth:`stop` asks it to stop.

    Stopping lets the requests already in flight finish and records them;
    nothing new starts.
    """

    def __init__(
        self,
        store: Store,
        gateway: Gateway,
        campaign: str,
        chunks: list[_Chunk],
        *,
        concurrency: int = 4,
        requests_per_second: float | None = None,
        progress: bool = True,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.campaign = campaign
        self.chunks = chunks
        self.concurrency = max(1, int(concurrency))
        self.interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self.progress = progress
        self.retry_delays = tuple(retry_delays)
        self.stop_reason: str | None = None
        self.what_to_do: str | None = None
        self.requests = 0
        self.submitted = 0
        self.failed = 0
        self.credits_estimated = 0
        self.credits_charged: int | None = None
        self._unknown_in_a_row = 0
        self._next_start = 0.0
        self.on_progress = on_progress  # (messages answered, messages to send)
        self.done = 0
        self.total = sum(len(c.rows) for c in chunks)

    def stop(self, reason: str = "stopped by the user", what_to_do: str | None = None) -> None:
        """Start nothing new; the first reason given is the one reported."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self.what_to_do = what_to_do or "Call send again to continue where it stopped."

    # -- running ----------------------------------------------------------------------

    def run(self) -> None:
        """Send in a worker thread (works inside Jupyter's running event loop).

        Ctrl-C or a kernel interrupt stops the send cleanly: requests in
        flight finish and are recorded.
        """
        failure: list[BaseException] = []
        # An Event, not Thread.join: a join interrupted by Ctrl-C can report a
        # live thread as finished (CPython < 3.13).
        done = threading.Event()

        def work() -> None:
            try:
                asyncio.run(self._pump())
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)
            finally:
                done.set()

        threading.Thread(target=work, name=f"isms-send-{self.campaign}", daemon=True).start()
        try:
            while not done.wait(0.2):
                pass
        except KeyboardInterrupt:
            self.stop("interrupted", "Call send again to continue; nothing is lost.")
            done.wait()
        if failure:
            raise failure[0]

    async def _pump(self) -> None:
        from tqdm.auto import tqdm

        store = Store._cursor_of(self.store)  # DuckDB: one cursor per thread
        queue = list(reversed(self.chunks))
        running: dict[asyncio.Task[_Outcome], _Chunk] = {}
        finished: list[_Outcome] = []
        bar = tqdm(total=self.total, unit="msg", desc=self.campaign, disable=not self.progress)
        try:
            while True:
                starting: list[_Chunk] = []
                while (
                    queue
                    and self.stop_reason is None
                    and len(running) + len(starting) < (self.concurrency)
                ):
                    starting.append(queue.pop())
                # One transaction: what finished, and what is about to leave.
                store._append_sends(
                    [row for o in finished for row in self._record(o)]
                    + [
                        {"campaign": self.campaign, "chunk": c.chunk, "state": "in_flight"}
                        for c in starting
                    ]
                )
                self._progress(bar, finished)
                finished = []
                for chunk in starting:
                    running[asyncio.create_task(self._send(chunk))] = chunk
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    del running[task]
                    outcome = task.result()
                    finished.append(outcome)
                    self._judge(outcome)
        finally:
            for task in running:  # only on an error of ours: they stay in_flight = unknown
                task.cancel()
            bar.close()
            store.close()
            await self.gateway.aclose()

    async def _send(self, chunk: _Chunk) -> _Outcome:
        replies: list[tuple[datetime, Reply]] = []
        for delay in (*self.retry_delays, None):
            await self._pace()
            started = datetime.now(UTC)
            reply = await self.gateway.asend_json(
                chunk.messages, type=chunk.type, sendid=chunk.sendid, sendlater=chunk.sendlater
            )
            self.requests += 1
            replies.append((started, reply))
            result = reply.result
            retry = isinstance(result, Rejected) and result.info.kind == "retryable"
            if not retry or delay is None or self.stop_reason is not None:
                break
            await asyncio.sleep(delay)
        return _Outcome(chunk, replies)

    async def _pace(self) -> None:
        """At most ``requests_per_second`` request starts, spaced evenly."""
        if not self.interval:
            return
        now = time.monotonic()
        start = max(now, self._next_start)
        self._next_start = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)

    # -- judging and recording ----------------------------------------------------------

    def _judge(self, outcome: _Outcome) -> None:
        """Apply the stop rules of DESIGN.md to one finished chunk."""
        result = outcome.result
        if isinstance(result, Sent):
            self._unknown_in_a_row = 0
            ok = result.submitted
            self.submitted += ok
            self.failed += len(result.results) - ok
            self.credits_estimated += outcome.chunk.credits
            if result.total_credits_used is not None:
                self.credits_charged = (self.credits_charged or 0) + result.total_credits_used
        elif isinstance(result, Unknown):
            self._unknown_in_a_row += 1
            if self._unknown_in_a_row >= UNKNOWN_IN_A_ROW:
                self.stop(
                    f"{UNKNOWN_IN_A_ROW} requests in a row got no clear answer ({result.cause})",
                    "Check the gateway and the hosts, then call send again. The unknown "
                    "requests are not resent; settle them with store.resolve_unknown.",
                )
        elif isinstance(result, Unreached):
            self.stop(
                f"{result.cause}; nothing in that request was sent",
                "Check the network and the hosts, then call send again.",
            )
        else:
            info = result.info
            if info.kind == "request":
                self.stop(
                    f"the gateway refused a request as malformed: {info.code} {info.meaning}",
                    f"{info.what_to_do} If the request came from isms_campaigns, this is our "
                    f"bug: please report it.",
                )
            else:
                self.stop(
                    f"the gateway refused a request: {info.code} {info.meaning}; "
                    f"nothing in it was sent",
                    f"{info.what_to_do} Then call send again: the rest goes out exactly once.",
                )

    def _record(self, outcome: _Outcome) -> list[dict[str, Any]]:
        """The ``ic_sends`` rows of a finished chunk: one per request made."""
        rows = []
        for i, (started, reply) in enumerate(outcome.replies):
            result = reply.result
            final = i == len(outcome.replies) - 1
            state = "in_flight"
            if final:
                state = {"sent": "sent", "unknown": "unknown"}.get(result.outcome, "planned")
            row: dict[str, Any] = {
                "campaign": self.campaign,
                "chunk": outcome.chunk.chunk,
                "state": state,
                "started_at": started,
                "outcome": result.outcome,
                "attempts": [
                    {
                        "host": a.host,
                        "elapsed_ms": a.elapsed * 1000,
                        "http_status": a.http_status,
                        "error": a.error,
                    }
                    for a in reply.attempts
                ],
            }
            if isinstance(result, Sent):
                answers = result.results
                row.update(
                    code=2000,
                    message=result.message,
                    credits_charged=result.total_credits_used,
                    results={  # columns, the way the store writes them
                        "row": outcome.chunk.rows,
                        "dstno": [r.dstno for r in answers],
                        "code": [r.code for r in answers],
                        "status": [r.status for r in answers],
                        "sms_id": [r.sms_id for r in answers],
                    },
                )
            elif isinstance(result, Rejected):
                row.update(code=result.code, message=result.message)
            else:
                row.update(cause=result.cause)
            rows.append(row)
        return rows

    def _progress(self, bar: Any, finished: list[_Outcome]) -> None:
        done = sum(len(o.chunk.rows) for o in finished if isinstance(o.result, (Sent, Unknown)))
        if done:
            self.done += done
            bar.update(done)
            if self.credits_charged is not None:
                bar.set_postfix(credits=f"{self.credits_charged:,}", refresh=False)
            if self.on_progress is not None:
                self.on_progress(self.done, self.total)


# --------------------------------------------------------------------------
# Campaign.send
# --------------------------------------------------------------------------


def send_campaign(
    camp: Campaign,
    gateway: Gateway,
    store: Store,
    *,
    concurrency: int = 4,
    dry_run: bool = False,
    test_numbers: Sequence[str] | None = None,
    requests_per_second: float | None = None,
    check_balance: bool = True,
    progress: bool = True,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    on_start: Callable[[Sender], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SendReport:
    """See :meth:`Campaign.send`.

    ``on_start(sender)`` is called before the first request (a SendPanel keeps
    the Sender to stop it); ``on_progress(done, total)`` after each round of
    answers, in the sender's thread.
    """
    started = time.perf_counter()
    record, messages = _plan_for(camp, store, test_numbers)
    messages, chunks = chunk_plan(messages)
    if dry_run:
        return _dry_run(record, messages, chunks, gateway, store)

    created = store._save_plan(record, messages, chunks)
    notes = []
    stored = store._chunks_in(record.campaign, ("in_flight", "unknown", "planned", "resend"))
    state = pl.col("state")
    interrupted = stored.filter(state == "in_flight")
    if interrupted.height:
        store._append_sends(
            [
                {
                    "campaign": record.campaign,
                    "chunk": c,
                    "state": "unknown",
                    "cause": "the send stopped while this request was in flight",
                }
                for c in interrupted["chunk"]
            ]
        )
    earlier_unknown = stored.filter(state.is_in(["in_flight", "unknown"]))  # all unknown now
    if earlier_unknown.height:
        notes.append(
            f"{earlier_unknown.height} requests ({earlier_unknown['messages'].sum():,} "
            f"messages) from an earlier run may or may not have gone out: not sent again. "
            f"Settle them with store.resolve_unknown({record.campaign!r}, resend=True|False)."
        )
    pending = stored.filter(state.is_in(["planned", "resend"]))
    if not created and pending.height:
        notes.append("Resumed: what was already sent was skipped.")
    if pending.height and check_balance:
        notes += _preflight(gateway, int(pending["credits_estimated"].sum() or 0))

    rows = store._chunk_messages(record.campaign, pending["chunk"].to_list())
    sender = Sender(
        store,
        gateway,
        record.campaign,
        _chunks(pending, rows),
        concurrency=concurrency,
        requests_per_second=requests_per_second,
        progress=progress,
        retry_delays=retry_delays,
        on_progress=on_progress,
    )
    if on_start is not None:
        on_start(sender)
    if pending.height:
        sender.run()
    unknown = store._chunks_in(record.campaign, ("in_flight", "unknown"))
    if unknown.height:
        proven = store._dlr_evidence(record.campaign)
        if proven.height:
            notes.append(
                f"Delivery reports show {proven['chunk'].n_unique()} of the unknown requests "
                f"reached the gateway ({proven.height} messages): "
                f"store.resolve_unknown({record.campaign!r}, resend=…) settles them as sent."
            )
    return SendReport(
        campaign=record.campaign,
        states=store._state_counts(record.campaign),
        submitted_now=sender.submitted,
        failed_now=sender.failed,
        requests=sender.requests,
        credits_estimated=sender.credits_estimated,
        credits_charged=sender.credits_charged,
        unknown_chunks=unknown["chunk"].to_list(),
        stop_reason=sender.stop_reason,
        what_to_do=sender.what_to_do,
        notes=notes,
        elapsed=time.perf_counter() - started,
        test=record.kind == "test",
    )


def _plan_for(
    camp: Campaign, store: Store, test_numbers: Sequence[str] | None
) -> tuple[CampaignRecord, pl.DataFrame]:
    record = CampaignRecord(
        campaign=camp.name,
        kind="campaign",
        parent=None,
        template=camp.template,
        sender_id=camp.settings.sender_id,
        send_later=camp.settings.send_later,
        message_type=camp.settings.message_type,
        region=camp.region,
        smart_ascii=camp.smart_ascii,
    )
    if test_numbers is None:
        return record, camp.messages
    n = store._test_count(camp.name) + 1
    test = replace(record, campaign=f"{camp.name} [test {n}]", kind="test", parent=camp.name)
    return test, _test_messages(camp, test_numbers)


def _test_messages(camp: Campaign, test_numbers: Sequence[str]) -> pl.DataFrame:
    """The first message of each type (or A/B variant), to each test number."""
    numbers = normalise_numbers(pl.Series("number", list(test_numbers), pl.String), camp.region)
    problems = numbers["number_problem"].to_list()
    bad = [f"{n!r} ({p})" for n, p in zip(test_numbers, problems, strict=True) if p]
    if bad or not test_numbers:
        raise PlanError(
            f"Test numbers must be valid mobile numbers, each once: "
            f"{', '.join(bad) or 'none given'}."
        )
    key = "variant" if "variant" in camp.messages.columns else "type"
    firsts = camp.sendable.unique(subset=[key], keep="first", maintain_order=True)
    if firsts.is_empty():
        raise PlanError(f"Campaign {camp.name!r} has no sendable message to test.")
    rate = pl.col("country_code").replace_strict(
        camp.billing.rates, default=None, return_dtype=pl.Int64
    )
    targets = numbers.select(
        number=pl.Series(list(test_numbers), dtype=pl.String),
        dstno="dstno",
        country="country",
        operator="operator",
        rate=rate,
        cc="country_code",
    )
    out = firsts.drop("number", "dstno", "country", "operator").join(targets, how="cross")
    return (
        out.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
            *camp.messages.columns[1:],
            rate="rate",
            cc="cc",
        )
        .with_columns(
            credits=(pl.col("parts") * pl.col("rate")).cast(pl.Int64),
            problem=pl.when(pl.col("rate").is_null()).then(
                pl.format("no rate for +{} in the rate card", pl.col("cc"))
            ),
        )
        .drop("rate", "cc")
    )


def _preflight(gateway: Gateway, needed: int) -> list[str]:
    """Refuse a send the balance cannot pay for; a postpaid account has no balance."""
    balance = gateway.balance()
    if balance is None:
        return ["Postpaid account: no balance to check against the estimate."]
    if balance < needed:
        raise SendError(
            f"The balance is {balance:,} credits and this send needs an estimated "
            f"{needed:,}. Top up the account, or call send(check_balance=False) to send "
            f"until the credits run out (the rest stays planned)."
        )
    return []


def _chunks(pending: pl.DataFrame, rows: pl.DataFrame) -> list[_Chunk]:
    """The requests to make: ``rows`` hold the messages of ``pending``, in chunk order."""
    rows = rows.with_columns(numbers=_number_count(pl.col("dstno")))
    messages = rows.select("dstno", "msg").to_dicts()
    # A dstno with several numbers gets one result per number: its row repeats.
    number_rows = rows["row"].repeat_by(rows["numbers"]).explode().drop_nulls().to_list()
    # Where each chunk's messages and numbers end in those two lists.
    ends = (
        rows.group_by("chunk", maintain_order=True)
        .agg(m=pl.len(), n=pl.col("numbers").sum())
        .with_columns(m_end=pl.col("m").cum_sum(), n_end=pl.col("n").cum_sum())
    )
    out = []
    for c in pending.join(ends, on="chunk", maintain_order="left").iter_rows(named=True):
        out.append(  # one per request
            _Chunk(
                c["chunk"],
                c["type"],
                c["sendid"],
                c["sendlater"],
                c["credits_estimated"],
                messages[c["m_end"] - c["m"] : c["m_end"]],
                number_rows[c["n_end"] - c["n"] : c["n_end"]],
            )
        )
    return out


def _dry_run(
    record: CampaignRecord,
    messages: pl.DataFrame,
    chunks: pl.DataFrame,
    gateway: Gateway,
    store: Store,
) -> SendReport:
    notes = ["Dry run: nothing was sent and nothing was written. Passwords show as ***."]
    if store._has(record.campaign):
        store._check_same_plan(record, messages)
        pending = store._chunks_in(record.campaign, ("planned", "resend"))
        states = store._state_counts(record.campaign)
        notes.append("The campaign is in the store: these are the requests still to send.")
    else:
        pending = chunks.with_columns(
            sendid=pl.lit(record.sender_id, pl.String),
            sendlater=pl.lit(record.send_later, pl.String),
        )
        sendable = int(messages["problem"].is_null().sum())
        states = {"planned": sendable, "skipped": messages.height - sendable}
    rows = messages.filter(pl.col("chunk").is_in(pending["chunk"].implode())).sort("chunk", "row")
    payloads = [
        gateway.json_payload(
            c.messages, type=c.type, sendid=c.sendid, sendlater=c.sendlater, masked=True
        )
        for c in _chunks(pending, rows.select("chunk", "row", "dstno", "msg"))
    ]
    return SendReport(
        campaign=record.campaign,
        states=states,
        credits_estimated=int(pending["credits_estimated"].sum() or 0),
        notes=notes,
        dry_run=True,
        test=record.kind == "test",
        payloads=payloads,
    )

"""Sending a campaign: 50-number chunks, through the outbox, with stop rules.

The outbox (:mod:`.outbox`) holds the rules that keep a message from going
out twice or being lost; this module makes the requests:

1. One sender per campaign at a time: ``send`` takes the campaign's lease
   first, so a second ``send`` (another thread, cell, panel or Store) raises
   :class:`SendError` and sends nothing.
2. A chunk is committed ``in_flight`` only when its request is about to
   leave: after the pacing wait and any retry backoff; its results are
   committed after the answer.
3. ``unknown`` chunks (the gateway may have acted) are never sent again on
   their own: ``store.resolve_unknown(campaign, resend=…)`` decides.
4. A request refused as a whole sent nothing. A per-recipient code (-1006,
   -1008, -1009, -1012) fails its messages and the send goes on; three such
   refusals in a row stop it. Account problems (credits, IP, password,
   terms) and HTTP refusals stop it with what to do, the rest ``planned``;
   -1000 and HTTP 429 are retried with backoff.
5. SIGTERM, SIGHUP and Ctrl-C stop the send as the Stop button does: the
   requests already out finish and are recorded; nothing else leaves.

Writes are grouped: the results of every request that finished and the
``in_flight`` marks of the requests about to start are one transaction, so a
send of any size costs one commit per round of ``concurrency`` requests.
"""

from __future__ import annotations

import asyncio
import html
import json
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from . import schedule
from ._html import STYLE, div, notes_html, table
from .errors import PlanError, SendError, spelled
from .gateway.client import MAX_NUMBERS, Gateway, Reply, split_numbers
from .gateway.responses import Rejected, Sent, Unknown, Unreached
from .money import cost_rm, ringgit
from .numbers import normalise_numbers
from .outbox import (
    Chunk,
    Outbox,
    PlanRecord,
    Record,
    Results,
    build_chunks,
    number_count,
)
from .schedule import FrequencyCap, Window, malaysian_time

if TYPE_CHECKING:
    from .campaign import Campaign
    from .store import Store

STATES = ("planned", "skipped", "submitted", "failed", "unknown", "cancelled")
UNKNOWN_IN_A_ROW = 3  # ambiguous answers in a row before the send stops
REFUSED_IN_A_ROW = 3  # whole requests refused with a per-recipient code before it stops
RETRY_DELAYS = (1.0, 4.0, 15.0)  # seconds between tries of a request refused with -1000 or 429
TICK = 0.2  # how often a waiting sender looks at its stop flag


# --------------------------------------------------------------------------
# Chunking
# --------------------------------------------------------------------------


def chunk_plan(
    messages: pl.DataFrame, limit: int = MAX_NUMBERS, first: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give every sendable row a ``chunk``: one type, at most ``limit`` numbers each.

    Deterministic (type, then row order); chunks are numbered from ``first``
    (a new plan version numbers its chunks after the older ones). Returns
    the messages with ``chunk`` (null for skipped rows) and one row per
    chunk: type, numbers, messages, credits_estimated.
    """
    sendable = (
        messages.filter(pl.col("problem").is_null())
        .select("row", "type", "credits", numbers=number_count(pl.col("dstno")))
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
        chunk=pl.struct("type", "block").rank("dense").cast(pl.Int32) - 1 + first
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
    ``store.resolve_unknown``. ``price_per_credit`` is the campaign's (RM, None
    when not known): ``cost_estimated_rm`` and ``cost_charged_rm`` are this
    run's credits in ringgit, None when the price or the credits are unknown.
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
    price_per_credit: float | None = None

    @property
    def cost_estimated_rm(self) -> float | None:
        """This run's estimated credits in RM (None without a price per credit)."""
        return cost_rm(self.credits_estimated, self.price_per_credit)

    @property
    def cost_charged_rm(self) -> float | None:
        """This run's charged credits in RM (None without a price, or a charge reported)."""
        return cost_rm(self.credits_charged, self.price_per_credit)

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
            would = f"; a send now would stop: {self.stop_reason}" if self.stop_reason else ""
            cost = "" if self.price_per_credit is None else f" ({ringgit(self.cost_estimated_rm)})"
            return (
                f"dry run: {len(self.payloads):,} requests, {n:,} messages{cost}, "
                f"nothing sent{would}"
            )
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
            f"charged {charged}, {self._cost()}, {self.elapsed:.1f} s"
        )

    def _cost(self) -> str:
        if self.price_per_credit is None:
            return "cost unknown (no price per credit)"
        return (
            f"cost estimated {ringgit(self.cost_estimated_rm)} / charged "
            f"{'?' if self.credits_charged is None else ringgit(self.cost_charged_rm)}"
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
        parts = [
            f"<h3>Send report: {esc(self.campaign)}</h3>",
            f'<p class="headline {"ok" if self.ok else "note"}">{esc(self._headline())}</p>',
            table(["state", "messages"], [(s, self.states.get(s, 0)) for s in STATES]),
        ]
        if not self.dry_run:
            parts.append(f"<p>{esc(self._this_run())}</p>")
        if self.unknown_chunks:
            parts.append(
                f"<p>Unknown chunks: {esc(_ids(self.unknown_chunks))}. Settle them with "
                f"<code>store.resolve_unknown({esc(repr(self.campaign))}, resend=True|False)"
                "</code>.</p>"
            )
        if self.what_to_do:
            parts.append(f"<p><b>What to do:</b> {esc(self.what_to_do)}</p>")
        parts.append(notes_html(self.notes))
        if self.payloads:
            shown = json.dumps(self.payloads[:2], ensure_ascii=False, indent=1)
            parts.append(
                f"<details><summary>Request payloads ({len(self.payloads):,}; first 2)"
                f"</summary><pre>{esc(shown)}</pre></details>"
            )
        return STYLE + div(*parts)


def _ids(chunks: Sequence[int]) -> str:
    shown = ", ".join(str(c) for c in chunks[:10])
    return shown + (f" … ({len(chunks)} in all)" if len(chunks) > 10 else "")


# --------------------------------------------------------------------------
# The sender
# --------------------------------------------------------------------------


@dataclass
class _Queued:
    chunk: Chunk
    tries: int = 0  # requests made for it in this run
    not_before: float = 0.0  # monotonic time before which it may not leave (backoff)


class Sender:
    """Sends the chunks of one campaign through its outbox; :meth:`stop` asks it to stop.

    Stopping lets the requests already in flight finish and records them;
    nothing new starts. With a marketing ``window``, the send stops so when
    the window that is open as it starts closes.
    """

    def __init__(
        self,
        outbox: Outbox,
        gateway: Gateway,
        chunks: list[Chunk],
        *,
        concurrency: int = 4,
        requests_per_second: float | None = None,
        progress: bool = True,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        on_progress: Callable[[int, int], None] | None = None,
        window: Window | None = None,
    ) -> None:
        self.outbox = outbox
        self.window = window
        self.closes = None if window is None else window.closes(schedule.now())
        self.gateway = gateway
        self.campaign = outbox.campaign
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
        self.settled_by_evidence: list[int] = []
        self._unknown_in_a_row = 0
        self._refused_in_a_row = 0
        self._next_start = 0.0
        self._answered = 0  # messages answered since the progress bar last moved
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

        Ctrl-C, a kernel interrupt, SIGTERM or SIGHUP stop the send cleanly:
        requests in flight finish and are recorded.
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

        with self._signals_stop():
            threading.Thread(target=work, name=f"isms-send-{self.campaign}", daemon=True).start()
            while True:
                try:
                    while not done.wait(TICK):
                        pass
                    break
                except KeyboardInterrupt:  # again and again: the requests out still finish
                    self.stop("interrupted", "Call send again to continue; nothing is lost.")
        if failure:
            raise failure[0]

    @contextmanager
    def _signals_stop(self) -> Iterator[None]:
        """SIGTERM and SIGHUP stop the send like Ctrl-C (only the main thread gets signals)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            self.stop(
                f"stopped by {signal.Signals(signum).name}",
                "Call send again to continue; nothing is lost.",
            )

        wanted = [s for s in ("SIGTERM", "SIGHUP") if hasattr(signal, s)]
        previous = {name: signal.signal(getattr(signal, name), handler) for name in wanted}
        try:
            yield
        finally:
            for name, old in previous.items():
                signal.signal(getattr(signal, name), old)

    async def _pump(self) -> None:
        from tqdm.auto import tqdm

        box = self.outbox.for_thread()  # DuckDB: one cursor per thread
        fresh = deque(_Queued(c) for c in self.chunks)
        retries: list[_Queued] = []  # refused with -1000 / 429: back off, then again
        running: dict[asyncio.Task[tuple[datetime, Reply]], _Queued] = {}
        finished: list[Record] = []
        bar = tqdm(total=self.total, unit="msg", desc=self.campaign, disable=not self.progress)
        try:
            while True:
                starting = self._starting(box, fresh, retries, len(running), finished)
                # One transaction: what finished, and what is about to leave.
                box.record(finished, [q.chunk.chunk for q in starting])
                self._progress(bar)
                finished = []
                for item in starting:
                    item.tries += 1
                    running[asyncio.create_task(self._send(item.chunk))] = item
                waiting = self.stop_reason is None and (fresh or retries)
                if not running and not waiting:
                    break
                if not running:  # only backoff or pacing to wait for
                    await asyncio.sleep(self._wait(retries))
                    continue
                done, _ = await asyncio.wait(
                    running, timeout=self._wait(retries), return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    item = running.pop(task)
                    started, reply = task.result()
                    record = self._judge(item, started, reply, retries)
                    finished.append(record)
        finally:
            for task in running:  # only on an error of ours: they stay in_flight = unknown
                task.cancel()
            bar.close()
            box.close()
            await self.gateway.aclose()

    def _starting(
        self,
        box: Outbox,
        fresh: deque[_Queued],
        retries: list[_Queued],
        running: int,
        finished: list[Record],
    ) -> list[_Queued]:
        """The chunks whose requests leave now: free slots, pacing and backoff allowing."""
        starting: list[_Queued] = []
        self._mind_the_window()
        now = time.monotonic()
        while self.stop_reason is None and running + len(starting) < self.concurrency:
            if self._next_start > now:
                break
            ready = [q for q in retries if q.not_before <= now]
            if ready:
                item = min(ready, key=lambda q: q.not_before)
                retries.remove(item)
            elif fresh:
                item = fresh.popleft()
                if item.chunk.state == "resend" and self._proven(box, item.chunk, finished):
                    continue
            else:
                break
            starting.append(item)
            if self.interval:
                self._next_start = max(now, self._next_start) + self.interval
        return starting

    def _mind_the_window(self) -> None:
        """At the marketing window's end, stop: what is in flight finishes, the rest waits."""
        if self.window is None or self.closes is None or self.stop_reason is not None:
            return
        moment = schedule.now()
        if moment >= self.closes:
            self.stop(
                f"the marketing window closed at {self.closes:%H:%M} Malaysian time",
                f"The rest stays planned: call send again once {self.window.when_it_opens(moment)}"
                f"; it resumes where it stopped, nothing twice.",
            )

    def _proven(self, box: Outbox, chunk: Chunk, finished: list[Record]) -> bool:
        """A chunk marked for resending whose reports arrived since: settled, not sent."""
        proof, _ = box.evidence([chunk.chunk])
        if proof.is_empty():
            return False
        finished += box.settle_with_evidence(proof, [chunk.chunk])
        self.settled_by_evidence.append(chunk.chunk)
        self.total -= len(chunk.rows)
        return True

    def _wait(self, retries: list[_Queued]) -> float:
        """How long to wait before looking again: the next start due, at most a tick."""
        due = [q.not_before for q in retries] + ([self._next_start] if self.interval else [])
        if not due:
            return TICK
        return min(TICK, max(0.0, min(due) - time.monotonic()))

    async def _send(self, chunk: Chunk) -> tuple[datetime, Reply]:
        started = datetime.now(UTC)
        reply = await self.gateway.asend_json(
            chunk.messages, type=chunk.type, sendid=chunk.sendid, sendlater=chunk.sendlater
        )
        self.requests += 1
        return started, reply

    # -- judging ----------------------------------------------------------------------

    def _judge(
        self, item: _Queued, started: datetime, reply: Reply, retries: list[_Queued]
    ) -> Record:
        """Apply the stop rules to one answer; the chunk's new state to record."""
        result, chunk = reply.result, item.chunk
        base = Record(chunk.chunk, "planned", started, result.outcome, attempts=reply.attempts)
        if not isinstance(result, (Rejected, Unreached)):
            self._answered += len(chunk.rows)  # sent or unknown: no longer to send
        if isinstance(result, Sent):
            self._unknown_in_a_row = self._refused_in_a_row = 0
            ok = result.submitted
            self.submitted += ok
            self.failed += len(result.results) - ok
            self.credits_estimated += chunk.credits
            if result.total_credits_used is not None:
                self.credits_charged = (self.credits_charged or 0) + result.total_credits_used
            answers = result.results
            return replace(
                base,
                state="sent",
                code=2000,
                message=result.message,
                credits_charged=result.total_credits_used,
                results=Results(
                    chunk.rows,
                    [r.dstno for r in answers],
                    [r.code for r in answers],
                    [r.status for r in answers],
                    [r.sms_id for r in answers],
                ),
            )
        if isinstance(result, Unknown):
            self._unknown_in_a_row += 1
            if self._unknown_in_a_row >= UNKNOWN_IN_A_ROW:
                self.stop(
                    f"{UNKNOWN_IN_A_ROW} requests in a row got no clear answer ({result.cause})",
                    "Check the gateway and the hosts, then call send again. The unknown "
                    "requests are not resent; settle them with store.resolve_unknown.",
                )
            return replace(base, state="unknown", cause=result.cause)
        if isinstance(result, Unreached):
            self.stop(
                f"{result.cause}; nothing in that request was sent",
                "Check the network and the hosts, then call send again.",
            )
            return replace(base, cause=result.cause)
        refused = replace(base, code=result.code, message=result.message)
        info = result.info
        if info.kind == "row":  # the whole request refused with a per-recipient code
            return self._refused(chunk, result, base)
        if info.kind == "retryable":
            if item.tries <= len(self.retry_delays) and self.stop_reason is None:
                item.not_before = time.monotonic() + self.retry_delays[item.tries - 1]
                retries.append(item)
            elif self.stop_reason is None:
                self.stop(
                    f"the gateway refused a request {item.tries} times: {info.code} "
                    f"{info.meaning}; nothing in it was sent",
                    f"{info.what_to_do} Then call send again: the rest goes out exactly once.",
                )
            return refused
        if info.kind == "request":
            self.stop(
                f"the gateway refused a request as malformed: {info.code} {info.meaning}",
                f"{info.what_to_do} If the request came from isms_campaigns, this is our "
                f"bug: please report it.",
            )
        else:  # account, http
            self.stop(
                f"the gateway refused a request: {info.code} {info.meaning}; "
                f"nothing in it was sent",
                f"{info.what_to_do} Then call send again: the rest goes out exactly once.",
            )
        return refused

    def _refused(self, chunk: Chunk, result: Rejected, base: Record) -> Record:
        """Refused as a whole with a per-recipient code: every message of it failed."""
        info = result.info
        self._unknown_in_a_row = 0
        self._refused_in_a_row += 1
        self.failed += len(chunk.rows)
        self._answered += len(chunk.rows)
        if self._refused_in_a_row >= REFUSED_IN_A_ROW:
            self.stop(
                f"{REFUSED_IN_A_ROW} requests in a row were refused as a whole: {info.code} "
                f"{info.meaning}",
                f"{info.what_to_do} Their messages are marked failed; the rest is still "
                f"planned. To send a reworded plan under this name: send(..., amend=True).",
            )
        numbers = [n for m in chunk.messages for n in split_numbers(m["dstno"])]
        status = result.message or f"{info.code} {info.meaning}"
        return replace(
            base,
            state="refused",
            code=result.code,
            message=result.message,
            results=Results(
                chunk.rows,
                numbers,
                [result.code] * len(numbers),
                [status] * len(numbers),
                [None] * len(numbers),
            ),
        )

    def _progress(self, bar: Any) -> None:
        done, self._answered = self._answered, 0
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
    amend: bool = False,
    allow_repeats: bool = False,
    concurrency: int = 4,
    dry_run: bool = False,
    test_numbers: Sequence[str] | None = None,
    requests_per_second: float | None = None,
    check_balance: bool = True,
    progress: bool = True,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    on_start: Callable[[Sender], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    window: Window | None = None,
    max_per_number: FrequencyCap | None = None,
) -> SendReport:
    """See :meth:`Campaign.send`.

    ``on_start(sender)`` is called before the first request (a SendPanel keeps
    the Sender to stop it); ``on_progress(done, total)`` after each round of
    answers, in the sender's thread.
    """
    started = time.perf_counter()
    record, messages = plan_of(camp, store, test_numbers)
    box = store.outbox(record.campaign)
    window, closed = when_it_goes_out(camp, window, test=test_numbers is not None)
    if dry_run:
        return _dry_run(
            box,
            record,
            messages,
            gateway,
            closed=closed,
            amend=amend,
            allow_repeats=allow_repeats,
            cap=max_per_number,
        )
    if closed is not None:
        return _outside_window(box, record, messages, closed)
    with box.lease():
        box.mark_interrupted()
        with box.planning():
            prepared = box.prepare(
                record, messages, amend=amend, allow_repeats=allow_repeats, cap=max_per_number
            )
            if prepared.action != "same":
                prepared.messages, chunks = chunk_plan(
                    prepared.messages, first=prepared.first_chunk
                )
                box.save(record, prepared, chunks)
        notes = list(prepared.notes)
        earlier_unknown = box.chunks(("unknown",))
        if earlier_unknown.height:
            notes.append(
                f"{earlier_unknown.height} requests ({earlier_unknown['messages'].sum():,} "
                f"messages) from an earlier run may or may not have gone out: not sent again. "
                f"Settle them with store.resolve_unknown({record.campaign!r}, resend=True|False)."
            )
        pending = box.to_send()
        before = box.state_counts()
        if prepared.action == "same" and (before.get("submitted") or before.get("failed")):
            notes.append("Resumed: what was already sent was skipped.")
        if pending and check_balance:
            notes += _preflight(gateway, sum(c.credits for c in pending))
        sender = Sender(
            box,
            gateway,
            pending,
            concurrency=concurrency,
            requests_per_second=requests_per_second,
            progress=progress,
            retry_delays=retry_delays,
            on_progress=on_progress,
            window=window,
        )
        if on_start is not None:
            on_start(sender)
        if pending:
            sender.run()
        if sender.settled_by_evidence:
            notes.append(
                f"{len(sender.settled_by_evidence)} requests marked for resending were not "
                f"sent: delivery reports that arrived since show they had gone out."
            )
        unknown = box.chunks(("in_flight", "unknown"))
        if unknown.height:
            proof, _ = box.evidence()
            if proof.height:
                notes.append(
                    f"Delivery reports show {proof['chunk'].n_unique()} of the unknown requests "
                    f"reached the gateway ({proof.height} messages): "
                    f"store.resolve_unknown({record.campaign!r}, resend=…) settles them as sent."
                )
        return SendReport(
            campaign=record.campaign,
            states=box.state_counts(),
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
            price_per_credit=record.price_per_credit,
        )


def when_it_goes_out(
    camp: Campaign, window: Window | None = None, *, test: bool = False
) -> tuple[Window | None, str | None]:
    """The window a send of ``camp`` now keeps to (None: any hour), and why it
    would send nothing now (None: it may send).

    A ``send_later`` that has passed is refused. With one, the window applies
    to the scheduled time and the send is not stopped at the window's end
    (every message carries that time). Transactional campaigns and test sends
    (to your own numbers) keep to no window.
    """
    moment, later = schedule.now(), camp.scheduled
    if later is not None:
        malaysian_time(later, after=moment)  # raises once the time has passed
    if camp.purpose != "marketing" or test:
        return None, None
    window = window or camp.window
    if not window.contains(later or moment):
        return None, window.refusal(moment, later)
    return (window if later is None else None), None


def plan_of(
    camp: Campaign, store: Store, test_numbers: Sequence[str] | None = None
) -> tuple[PlanRecord, pl.DataFrame]:
    """The plan a send of ``camp`` stores: its header and its messages.

    With ``test_numbers``, a test campaign ``"<name> [test N]"`` of the first
    message of each type (or variant) to those numbers.
    """
    record = PlanRecord(
        campaign=camp.name,
        kind="campaign",
        parent=camp.parent,
        template=_template_text(camp.template),
        sender_id=camp.settings.sender_id,
        send_later=camp.settings.send_later,
        message_type=camp.settings.message_type,
        region=camp.region,
        smart_ascii=camp.smart_ascii,
        settings=json.dumps(camp.plan_settings(), ensure_ascii=False),
        price_per_credit=camp.billing.price_per_credit,
    )
    if test_numbers is None:  # each row's contact columns go with it (store.follow_up)
        return record, camp.messages.with_columns(contact=camp.contacts.to_struct())
    n = store.outbox(camp.name).tests_made() + 1
    test = replace(
        record, campaign=f"{camp.name} [test {n}]", kind="test", parent=camp.name, settings=None
    )
    return test, _test_messages(camp, test_numbers)


def _template_text(template: str | Mapping[str, str] | None) -> str | None:
    """The template as the store keeps it: per-variant texts as a JSON object."""
    if isinstance(template, Mapping):
        return json.dumps(dict(template), ensure_ascii=False)
    return template


@dataclass(frozen=True)
class Outlook:
    """What the next ``send`` of a campaign would send: messages, credits, and why."""

    messages: int
    credits: int
    action: str  # the plan's: new, same, replaced, amended, re-estimated
    notes: list[str]


def outlook(
    camp: Campaign,
    store: Store,
    *,
    amend: bool = False,
    allow_repeats: bool = False,
    max_per_number: FrequencyCap | None = None,
) -> Outlook:
    """What ``camp.send(gateway, store, amend=…, allow_repeats=…)`` would send now.

    Reads only. Raises :class:`PlanChanged` as the send would.
    """
    record, messages = plan_of(camp, store)
    box = store.outbox(record.campaign)
    prepared = box.prepare(
        record, messages, amend=amend, allow_repeats=allow_repeats, cap=max_per_number
    )
    # A new version supersedes the planned chunks, not those marked for resending.
    pending = box.chunks(("planned", "resend") if prepared.action == "same" else ("resend",))
    n, credits = int(pending["messages"].sum()), int(pending["credits_estimated"].sum())
    if prepared.action != "same":
        sendable = prepared.messages.filter(pl.col("problem").is_null())
        n += sendable.height
        credits += int(sendable["credits"].fill_null(0).sum())
    return Outlook(n, credits, prepared.action, prepared.notes)


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
            f"{needed:,}. Top up the account, or "
            f"{spelled('call send(check_balance=False)', 'add --no-balance-check')} to send "
            f"until the credits run out (the rest stays planned)."
        )
    return []


def _outside_window(
    box: Outbox, record: PlanRecord, messages: pl.DataFrame, refusal: str
) -> SendReport:
    """A marketing send outside its window: nothing sent, nothing written."""
    return SendReport(
        campaign=record.campaign,
        states=box.state_counts() if box.exists() else _plan_states(messages),
        stop_reason="outside the marketing window; nothing was sent",
        what_to_do=refusal,
        price_per_credit=record.price_per_credit,
    )


def _plan_states(messages: pl.DataFrame) -> dict[str, int]:
    sendable = int(messages["problem"].is_null().sum())
    return {"planned": sendable, "skipped": messages.height - sendable}


def _dry_run(
    box: Outbox,
    record: PlanRecord,
    messages: pl.DataFrame,
    gateway: Gateway,
    *,
    closed: str | None,
    amend: bool,
    allow_repeats: bool,
    cap: FrequencyCap | None,
) -> SendReport:
    notes = ["Dry run: nothing was sent and nothing was written. Passwords show as ***."]
    prepared = box.prepare(record, messages, amend=amend, allow_repeats=allow_repeats, cap=cap)
    notes += prepared.notes
    if prepared.action == "same":
        pending = box.to_send()
        states = box.state_counts()
        notes.append("The campaign is in the store: these are the requests still to send.")
    else:
        planned, chunks = chunk_plan(prepared.messages, first=prepared.first_chunk)
        resend = [c for c in box.to_send() if c.state == "resend"]  # not superseded
        pending = resend + _new_chunks(record, planned, chunks)
        states = _plan_states(planned)
    payloads = [
        gateway.json_payload(
            c.messages, type=c.type, sendid=c.sendid, sendlater=c.sendlater, masked=True
        )
        for c in pending
    ]
    return SendReport(
        campaign=record.campaign,
        states=states,
        credits_estimated=sum(c.credits for c in pending),
        notes=notes,
        dry_run=True,
        test=record.kind == "test",
        payloads=payloads,
        price_per_credit=record.price_per_credit,
        stop_reason=None if closed is None else "outside the marketing window",
        what_to_do=closed,
    )


def _new_chunks(record: PlanRecord, planned: pl.DataFrame, chunks: pl.DataFrame) -> list[Chunk]:
    """The requests of a plan not stored yet."""
    pending = chunks.with_columns(
        sendid=pl.lit(record.sender_id, pl.String),
        sendlater=pl.lit(record.send_later, pl.String),
    )
    rows = planned.filter(pl.col("chunk").is_not_null()).sort("chunk", "row")
    return build_chunks(pending, rows.select("chunk", "row", "dstno", "msg"))

"""The worker pool: IDs from a bounded queue -> pacer -> June -> journal.

Workers share one pacer, one client and one journal, and take IDs from a bounded
queue. There are as many as the requests in flight allowed (inflight.py): ``--concurrency
N``, or under ``auto`` a number that follows June's latency, workers joining as it grows
and retiring as it falls. A worker keeps one ID until it has a final answer, gives up on
it after ``--max-attempts`` transient failures (journalled as ``failed``, sent again by
the next run), and the job stops early when:

* June rejects the key (401/403): nothing more is sent, nothing is marked failed;
* ``BREAKER`` IDs in a row gave up: the API is down, a rerun resumes;
* the journal cannot be written: nothing more is sent that could not be recorded;
* SIGTERM/SIGINT: no new requests; those in flight get ``GRACE`` seconds to answer.

The tally gets the pace of the last few seconds while IDs remain (what the progress line
shows), and at the end the pace of the whole sending: the rate, and what held it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterable
from enum import Enum

import polars as pl

from bulk_delete.answers import Answer, Verdict, auth_error
from bulk_delete.api import Client
from bulk_delete.errors import ApiUnavailable, ExitCode
from bulk_delete.holdback import Pace
from bulk_delete.inflight import InFlight
from bulk_delete.journal import (
    ACCEPTED,
    ALREADY_REQUESTED,
    FAILED,
    REJECTED,
    Journal,
    Outcome,
)
from bulk_delete.logs import get_logger
from bulk_delete.pacing import Pacer
from bulk_delete.progress import Tally
from bulk_delete.retry import Retrier
from bulk_delete.tasks import alongside
from bulk_delete.tuning import SIZING, Sizing
from bulk_delete.types import AuthStyle, Concurrency

#: Consecutive IDs that exhausted their retries before the job calls the API unavailable.
BREAKER = 3
#: Seconds in-flight requests get to answer after a stop.
GRACE = 5.0


class Ending(Enum):
    """Why a submission ended."""

    DONE = "done"
    AUTH = "auth"
    UNAVAILABLE = "unavailable"
    SIGINT = "SIGINT"
    SIGTERM = "SIGTERM"
    ERROR = "error"


class Submitter:
    """Sends one deletion request per ID and journals every final answer."""

    def __init__(self, client: Client, pacer: Pacer, journal: Journal, *,
                 concurrency: Concurrency, max_attempts: int, tally: Tally,
                 sizing: Sizing = SIZING, clock: Callable[[], float] = time.monotonic,
                 cpu: Callable[[], float] = time.process_time) -> None:
        self._client = client
        self._journal = journal
        #: The limit on requests in flight, and what they measured.
        self.flow = InFlight(concurrency, pacer, sizing=sizing, clock=clock, cpu=cpu)
        self.tally = tally
        self._retrier = Retrier(pacer, max_attempts=max_attempts, events=tally,
                                stopping=lambda: self.ending is not Ending.DONE)
        #: Why the run stopped early, and the error or answer that made it stop.
        self.ending = Ending.DONE
        self.cause: BaseException | Answer | None = None
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(
            maxsize=2 * sizing.most(concurrency))
        self._workers: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self._producer: asyncio.Task[None] | None = None
        self._gave_up_in_a_row = 0
        #: What the last ID that gave up met, for the message that ends the job.
        self._last_failure = ""
        self._log = get_logger()

    async def run(self, ids: Iterable[str]) -> Ending:
        """Submit every ID (or until a stop); returns why it ended.

        The objects alive at the start (imports, the plan) are frozen out of the garbage
        collector for the run: a full collection over them stalls the event loop for tens of
        milliseconds, and requests started before a stall reach June after it, bunched with
        later ones (measured: up to 5 % over --rate in a 1-second window at 1,000/s).
        """
        gc.collect()
        gc.freeze()
        try:
            await self._run(ids)
        finally:
            gc.unfreeze()
        if self.ending is Ending.DONE and self.tally.failed:
            self.ending = Ending.UNAVAILABLE
        return self.ending

    async def _run(self, ids: Iterable[str]) -> None:
        self._producer = asyncio.create_task(self._produce(ids))
        self._grow()
        async with self._journal.syncing(), alongside(self.flow.watch(self._grow, self._show)):
            while self._workers:  # workers join while others run
                await asyncio.wait(set(self._workers))
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        self.tally.pace = self.flow.whole()

    def _grow(self) -> None:
        """Start workers until there are as many as requests in flight allowed."""
        missing = self.flow.limit() - len(self._workers)
        if missing <= 0 or self.ending is not Ending.DONE or self.flow.last is not None:
            return
        for _ in range(missing):
            self._workers.add(asyncio.create_task(self._worker()))
        self.flow.resized(len(self._workers))

    def _show(self, pace: Pace) -> None:
        self.tally.pace = pace

    def stop(self, ending: Ending, cause: BaseException | Answer | None = None) -> None:
        """Take no new IDs; let requests in flight answer within GRACE seconds.

        A second stop (say, a second Ctrl-C) cancels the requests in flight too.
        """
        if self.ending is not Ending.DONE:
            self._cancel(self._workers)
            return
        self.ending, self.cause = ending, cause
        self._log.warning("bulk_delete.stopping", reason=ending.value,
                          in_flight=len(self._busy), grace_seconds=GRACE)
        if self._producer is not None:
            self._producer.cancel()
        self._cancel(self._workers - self._busy)
        asyncio.get_running_loop().call_later(GRACE, self._cancel, self._workers)

    @staticmethod
    def _cancel(tasks: Iterable[asyncio.Task[None]]) -> None:
        for task in list(tasks):
            task.cancel()

    async def _produce(self, ids: Iterable[str]) -> None:
        for subject in ids:
            await self._queue.put(subject)
        await self._queue.put(None)  # the end, which each worker passes on

    async def _worker(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        try:
            await self._work(me)
        finally:  # at once, so the next worker to look sees one fewer
            self._workers.discard(me)
            self.flow.resized(len(self._workers))

    async def _work(self, me: asyncio.Task[None]) -> None:
        """Take IDs until they run out, the job stops, or there are more workers than needed."""
        while (subject := await self._queue.get()) is not None:
            try:
                outcome = await self._submit(subject, me)
                if outcome is not None:
                    self._record(outcome)
            except Exception as exc:  # a journal error, or a bug: stop everyone, report it
                self.stop(Ending.ERROR, exc)
            if self.ending is not Ending.DONE or self.flow.surplus():
                return
        self._queue.put_nowait(None)  # room: this worker just took it
        self.flow.drained()

    async def _submit(self, subject: str, me: asyncio.Task[None]) -> Outcome | None:
        """Send until a final answer; None when the job stops without one."""

        flow, again = self.flow, False

        async def send() -> Answer:
            nonlocal again
            started = flow.start(again=again)
            if flow.fixed is None:
                self._grow()
            self._busy.add(me)
            verdict = None
            try:
                answer = await self._client.request_deletion(subject)
                verdict = answer.verdict
                return answer
            finally:
                self._busy.discard(me)
                again = verdict is Verdict.TRANSIENT
                flow.answered(started, verdict)

        try:
            answer, attempts = await self._retrier.call(send)
        finally:
            if again:
                flow.gave_up()
        kind = answer.verdict
        if kind is Verdict.ACCEPTED:
            return Outcome(subject, ACCEPTED, answer.status, attempts)
        if kind is Verdict.ALREADY_REQUESTED:  # June holds a request already: evidence too
            return Outcome(subject, ALREADY_REQUESTED, answer.status, attempts, answer.message)
        if kind is Verdict.REJECTED:
            return Outcome(subject, REJECTED, answer.status, attempts, answer.message)
        if kind is Verdict.AUTH:
            self.stop(Ending.AUTH, answer)
        if self.ending is not Ending.DONE:
            return None
        return Outcome(subject, FAILED, answer.status, attempts, answer.message)

    def _record(self, outcome: Outcome) -> None:
        self._journal.append(outcome)
        if outcome.outcome == FAILED:
            self.tally.failed += 1
            self._gave_up_in_a_row += 1
            self._last_failure = outcome.error or f"HTTP {outcome.http_status}"
            self._log.warning("bulk_delete.gave_up", id=outcome.id, attempts=outcome.attempts,
                              http_status=outcome.http_status, error=outcome.error)
            if self._gave_up_in_a_row >= BREAKER:
                self.stop(Ending.UNAVAILABLE)
            return
        self._gave_up_in_a_row = 0
        if outcome.outcome == ACCEPTED:
            self.tally.accepted += 1
        elif outcome.outcome == ALREADY_REQUESTED:
            self.tally.already_requested += 1
        else:
            self.tally.rejected += 1

    def exit_code(self, auth_style: AuthStyle) -> ExitCode:
        """What the ending means for the job: a code, or the error that stopped it."""
        ending, tally = self.ending, self.tally
        if ending is Ending.DONE:
            return ExitCode.ATTENTION if tally.rejected else ExitCode.OK
        if ending is Ending.AUTH:
            assert isinstance(self.cause, Answer)
            raise auth_error(self.cause, auth_style)
        if ending is Ending.UNAVAILABLE:
            raise ApiUnavailable(f"June kept failing: {tally.failed:,} IDs gave up after "
                                 f"{self._retrier.max_attempts} attempts (the last: "
                                 f"{self._last_failure}); a rerun resumes")
        if ending is Ending.ERROR:
            assert isinstance(self.cause, BaseException)
            raise self.cause
        return ExitCode.INTERRUPTED if ending is Ending.SIGINT else ExitCode.TERMINATED


async def skip_listed(journal: Journal, to_send: pl.Series, listed: pl.Series) -> pl.Series:
    """Journal every ID June already lists as already requested; the rest are still to send.

    For ``--skip-existing``: no duplicate requests even when the checkpoint was lost.
    """
    known = listed.implode()
    for subject in to_send.filter(to_send.is_in(known)):
        journal.append(Outcome(subject, ALREADY_REQUESTED, None, 0))
    await journal.sync()
    return to_send.filter(~to_send.is_in(known))


"""Requests in flight: how many a job allows, and what its requests measured.

``--concurrency N`` fixes the number. ``auto`` sizes it by Little's law: to keep a rate R
when June answers in L seconds on average, R x L requests are in flight at once. The limit
is ``headroom`` times the larger of

* R x L, with R the rate the pacer aims for (``--rate``, or June's stated limit if lower)
  and L the mean answer time of the last ``memory`` seconds;
* the requests busy right now: in flight, or waiting to be sent again after a failure.
  When answers slow down they pile up before any comes back, so the limit grows with them
  at once, not ``memory`` seconds later; a request that hangs holds its worker, and counts.

and it stays between ``least`` and ``cap`` (tuning.Sizing). Workers beyond what the rate
needs only wait at the pacer, which decides when each request starts: the limit never makes
a job faster than ``--rate``. It falls as latency does, the surplus workers retiring one by
one as they finish an ID.

It grows by ``growth`` at most a tick, and not at all after a tick in which the process used
a CPU to saturation (holdback.SATURATED): the client is then what cannot keep up, answers
wait to be read and look slow, and more workers would only add work. Unthrottled on a busy
machine, a pool left to grow on such answers went to the cap in some runs and sent
0.73-0.90 of what 16 did (bench/README.md, "Latency"). An
event loop late only because the machine is busy with other work does not stop it: workers
waiting for the pacer cost next to nothing, and without them a slow June would not get its
rate.

:class:`InFlight` also keeps the counts that tell what held a rate down (holdback.py):
requests started, 429s, answer times, how long every worker was busy, and how late the event
loop woke up; of the last PACE_SECONDS for the progress line, of the whole sending for the
summary.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from bulk_delete.answers import Verdict
from bulk_delete.holdback import SATURATED, Pace, Seen, pace
from bulk_delete.pacing import Pacer
from bulk_delete.tuning import SIZING, Sizing
from bulk_delete.types import Concurrency

#: Seconds of sending the progress line's pace is measured over.
PACE_SECONDS = 5.0


class InFlight:
    """The limit on requests in flight, and the counts of the requests that went out."""

    def __init__(self, concurrency: Concurrency, pacer: Pacer, *, sizing: Sizing = SIZING,
                 clock: Callable[[], float] = time.monotonic,
                 cpu: Callable[[], float] = time.process_time) -> None:
        #: ``--concurrency N``; None under ``auto``.
        self.fixed = None if concurrency == "auto" else concurrency
        self.sizing = sizing
        #: The job's pacer: the rate it aims for, and how to wait.
        self._pacer = pacer
        #: Wall seconds, and the process's CPU seconds.
        self.clock = clock
        self.cpu = cpu
        #: Requests sent and not answered yet; requests waiting to be sent again.
        self.in_flight = 0
        self.retrying = 0
        #: Workers alive, and the most there were; the most requests in flight at once.
        self.workers = self.most = 0
        self.peak = 0
        #: When the answers of the last ``memory`` seconds came, their seconds, and the sum
        #: (two deques of floats: no tuple a request for the garbage collector to look at).
        self._answered_at: deque[float] = deque()
        self._took: deque[float] = deque()
        self._took_sum = 0.0
        #: Their mean, kept while no answer comes.
        self.latency: float | None = None
        #: Workers allowed until the next tick.
        self._room = math.ceil(sizing.growth * sizing.least)
        self._starts = self._answers = self._throttled = self._ticks = 0
        self._latency_sum = self._full = self._lag = 0.0
        self._since = clock()
        #: The counts when the first request started, and when the last ID was taken.
        self.first: Seen | None = None
        self.last: Seen | None = None

    def __repr__(self) -> str:
        return (f"InFlight(limit={self.limit()}, in_flight={self.in_flight}, "
                f"workers={self.workers}, latency={self.latency})")

    def limit(self) -> int:
        """Requests in flight allowed now; see the module docstring."""
        if self.fixed is not None:
            return self.fixed
        sizing = self.sizing
        need = max(self._pacer.ceiling * (self.latency or 0.0), self.in_flight + self.retrying)
        return max(sizing.least, min(sizing.cap, self._room, math.ceil(sizing.headroom * need)))

    def surplus(self) -> bool:
        """More workers than the limit needs, by more than the slack: one may retire."""
        if self.fixed is not None:
            return False
        limit = self.limit()
        return self.workers > limit + math.floor(self.sizing.slack * limit)

    def start(self, *, again: bool) -> float:
        """A request leaves now (``again``: a retry of a failed one); returns the time."""
        now = self._account()
        self._starts += 1
        self.in_flight += 1
        self.retrying -= again
        self.peak = max(self.peak, self.in_flight)
        if self.first is None:
            self.first = self.seen(now)
        return now

    def answered(self, started: float, verdict: Verdict | None) -> None:
        """The request started at ``started`` was answered (None: cancelled, no answer)."""
        now = self._account()
        self.in_flight -= 1
        if verdict is None:
            return
        self.retrying += verdict is Verdict.TRANSIENT
        self._throttled += verdict is Verdict.THROTTLED
        seconds = now - started
        self._answers += 1
        self._latency_sum += seconds
        at, took = self._answered_at, self._took
        at.append(now)
        took.append(seconds)
        self._took_sum += seconds
        while at[0] < now - self.sizing.memory:
            at.popleft()
            self._took_sum -= took.popleft()
        self.latency = self._took_sum / len(took)

    def gave_up(self) -> None:
        """A request waiting to be sent again will not be: its ID ended (or the job did)."""
        self._account()
        self.retrying -= 1

    def resized(self, workers: int) -> None:
        self._account()
        self.workers = workers
        self.most = max(self.most, workers)

    def tick(self, lag: float, share: float) -> None:
        """The event loop woke a timer ``lag`` seconds late, the process used ``share`` of a
        CPU since the last tick: room to grow until the next."""
        sizing = self.sizing
        self._lag += max(0.0, lag)
        self._ticks += 1
        growth = 1.0 if share >= SATURATED else sizing.growth
        self._room = max(sizing.least, math.ceil(growth * self.workers))

    def drained(self) -> None:
        """The last ID was taken: the counts of the sending end here."""
        if self.last is None:
            self.last = self.seen()

    async def watch(self, grow: Callable[[], None], show: Callable[[Pace], None]) -> None:
        """Every ``tick``: how late the event loop woke, then ``grow`` the workers to the
        limit, and ``show`` the pace of the last PACE_SECONDS while there are IDs to send."""
        tick, recent = self.sizing.tick, deque[Seen]()
        while True:
            before, cpu = self.clock(), self.cpu()
            await self._pacer.sleep(tick)
            seconds = self.clock() - before
            self.tick(seconds - tick, (self.cpu() - cpu) / seconds)
            grow()
            recent.append(self.seen())
            while recent[-1].at - recent[0].at > PACE_SECONDS:
                recent.popleft()
            if self.first is not None and self.last is None:
                show(self.pace(max(self.first, recent[0], key=lambda s: s.at), recent[-1],
                               self.limit()))

    def whole(self) -> Pace | None:
        """The pace from the first request to the last ID taken, or to a stop."""
        self.drained()
        return None if self.first is None else self.pace(self.first, self.last or self.seen(),
                                                          self.most)

    def pace(self, first: Seen, last: Seen, limit: int) -> Pace:
        """The pace from ``first`` to ``last`` with ``limit`` requests in flight allowed."""
        pacer = self._pacer
        return pace(first, last, asked=pacer.max_rate, stated=pacer.stated, limit=limit,
                    in_flight=self.in_flight, peak=self.peak, fixed=self.fixed,
                    cap=self.sizing.cap)

    def seen(self, now: float | None = None) -> Seen:
        """The counts so far."""
        now = self._account() if now is None else now
        return Seen(at=now, starts=self._starts, answers=self._answers,
                    latency=self._latency_sum, throttled=self._throttled,
                    full=self._full, lag=self._lag, ticks=self._ticks, cpu=self.cpu())

    def _account(self) -> float:
        """Add the time since the last change to ``full`` if every worker was busy."""
        now = self.clock()
        if self.in_flight + self.retrying >= self.workers > 0:
            self._full += now - self._since
        self._since = now
        return now

"""When the next request may start: a strict rate cap that adapts to 429s, and backoff.

Two rules together:

* **Spacing** (a token bucket of one token, GCRA): starts are at least
  ``(1 + MARGIN) / rate`` apart, so the load is smooth, with no burst of a whole
  second at start-up (aiolimiter's default bucket starts full).
* **Window**: a log of the last ``floor(max_rate)`` starts; a request waits until
  the oldest is more than ``WINDOW`` seconds old. This is the promise: never more
  than ``--rate`` starts in any 1-second window, even after the event loop stalls
  and several late starts would otherwise bunch up.

The margins let requests arrive at a server's sliding-window limiter up to ~15 ms
late or early (network and scheduling jitter) without crossing it.

On 429 the current rate drops to just under the rate June admitted over the last
second (at most halving, once per congestion epoch), every start waits out
Retry-After, and after a quiet spell the rate creeps back up to ``--rate``.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bulk_delete.api import Answer, Verdict
from bulk_delete.progress import Tally

#: Spacing is this fraction wider than 1/rate.
MARGIN = 0.015
#: The window the hard cap counts over, a little wider than one second.
WINDOW = 1.0 + MARGIN
#: A start that is late by less than this keeps its slot, so sleep overshoot costs no rate.
CATCH_UP = 0.005
#: Retry-After (or the default pause on a 429 without one) is capped at this many seconds.
MAX_PAUSE = 60.0
#: Rate never adapts below this many requests per second.
MIN_RATE = 0.2
#: Seconds without a 429 before the rate starts creeping back up.
QUIET = 2.0
#: Factor per second by which the rate creeps back up after a quiet spell.
CREEP = 1.03
#: A 429 does not use up an attempt, but a call gives up after this many per attempt.
THROTTLES_PER_ATTEMPT = 4


class Pacer:
    """Decides when each request starts; shared by every request of a job."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if not rate > 0:
            raise ValueError("rate must be a positive number of requests per second")
        #: The ceiling, ``--rate``.
        self.max_rate = rate
        #: The rate in force now; lower than max_rate after 429s.
        self.rate = rate
        self._clock = clock
        #: How to wait; tests pass one that moves a fake clock instead.
        self.sleep = sleep
        self._next_slot = -math.inf
        self._paused_until = -math.inf
        self._starts: deque[float] = deque(maxlen=max(1, math.floor(rate)))
        self._admitted: deque[float] = deque(maxlen=max(1, math.ceil(rate)))
        self._epoch = -math.inf
        self._last_change = -math.inf

    def __repr__(self) -> str:
        return f"Pacer(rate={self.rate:.2f}, max_rate={self.max_rate:.2f})"

    async def acquire(self) -> float:
        """Wait until a request may start; returns the start time (for :meth:`throttled`)."""
        now = self._clock()
        slot = max(self._next_slot, now - CATCH_UP, self._paused_until)
        self._next_slot = slot + (1 + MARGIN) / self.rate
        if slot > now:
            await self.sleep(slot - now)
        starts = self._starts
        while True:
            now = self._clock()
            wait = max(self._paused_until - now,
                       starts[0] + WINDOW - now if len(starts) == starts.maxlen else 0.0)
            if wait <= 0:
                starts.append(now)
                return now
            await self.sleep(wait)

    def admitted(self) -> None:
        """A request got an answer other than 429: count it, and creep back up when quiet."""
        now = self._clock()
        self._admitted.append(now)
        if (self.rate < self.max_rate and now - self._epoch >= QUIET
                and now - self._last_change >= 1.0):
            self.rate = min(self.max_rate, self.rate * CREEP)
            self._last_change = now

    def throttled(self, started: float, retry_after: float | None) -> None:
        """A request started at ``started`` got 429: pause everyone and slow down once."""
        now = self._clock()
        pause = min(MAX_PAUSE, 1.0 if retry_after is None else retry_after)
        self._paused_until = max(self._paused_until, now + pause)
        if started <= self._epoch:
            return  # sent before the last slow-down: the same congestion, already handled
        self._epoch = now
        recent = sum(1 for t in self._admitted if t > now - 1.0)
        self.rate = max(MIN_RATE, min(0.9 * self.rate, max(0.95 * recent, 0.5 * self.rate)))
        self._last_change = now


def backoff(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): capped full jitter."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


class Retrier:
    """Sends one request until June gives a final answer, paced and with backoff.

    Final: accepted, rejected, or a key problem (AUTH). Transient failures are
    retried up to ``max_attempts`` in all; 429s wait for the pacer and do not use
    up attempts (a too-high ``--rate`` costs time, not IDs) up to a cap. The
    answer returned is the last one; a transient or throttled verdict means the
    call gave up, or that ``stopping()`` turned true.
    """

    def __init__(self, pacer: Pacer, *, max_attempts: int, tally: Tally,
                 stopping: Callable[[], bool] = lambda: False) -> None:
        self.pacer = pacer
        self.max_attempts = max_attempts
        self.tally = tally
        self._stopping = stopping

    async def call(self, send: Callable[[], Awaitable[Answer]]) -> tuple[Answer, int]:
        """The last answer and the number of requests it took."""
        attempts = failures = throttles = 0
        while True:
            started = await self.pacer.acquire()
            answer = await send()
            attempts += 1
            self.tally.requests += 1
            kind = answer.verdict
            if kind is Verdict.THROTTLED:
                self.pacer.throttled(started, answer.retry_after)
                self.tally.throttled += 1
                throttles += 1
            else:
                self.pacer.admitted()
            if kind is Verdict.TRANSIENT:
                failures += 1
            if kind in (Verdict.ACCEPTED, Verdict.REJECTED, Verdict.AUTH):
                return answer, attempts
            if (failures >= self.max_attempts or self._stopping()
                    or throttles >= THROTTLES_PER_ATTEMPT * self.max_attempts):
                return answer, attempts
            self.tally.retries += 1
            if kind is Verdict.TRANSIENT:
                await self.pacer.sleep(min(MAX_PAUSE, answer.retry_after or backoff(failures)))

"""When the next request may start: a strict rate cap that adapts to 429s, and backoff.

Two rules together:

* **Spacing** (a token bucket of one token, GCRA): starts are at least
  ``(1 + MARGIN) / rate`` apart, so the load is smooth, with no burst of a whole
  second at start-up (aiolimiter's default bucket starts full).
* **Window**: a log of the last ``floor(max_rate)`` starts; a request waits until
  the oldest is more than ``WINDOW`` seconds old. This is the promise: never more
  than ``--rate`` starts in any 1-second window, even after the event loop stalls
  and several late starts would otherwise bunch up.
* **On the wire**: the same window over the moments requests really left (the
  Retrier learns them through ``api.ON_THE_WIRE``); one admitted but not yet
  written counts as leaving now. A request admitted just before the process
  stalls (a garbage collection, a busy machine; aiohttp on Python 3.11 writes a
  POST body a loop turn later) leaves after the stall, and is counted then, so
  requests cannot bunch up on the wire either. It costs throughput only while
  writes lag: ~1 % for a 10 ms lag.

The margins let requests arrive at a server's sliding-window limiter up to ~15 ms
late or early (network and scheduling jitter) without crossing it.

On 429 (once per congestion epoch) the rate drops to BACKOFF times what June
admitted: the starts of the second before the refused one, which a 1-second
limit of L lets be L. Every start, including those already waiting for a slot,
waits out Retry-After and then queues up spaced again, so a pause never ends in
a burst. After a quiet spell the rate creeps back up towards ``--rate``; each
429 that finds the same ceiling again doubles the quiet spell (up to MAX_QUIET),
so a job held by a fixed limit probes it rarely, while a limit that moves is
found again within QUIET seconds. Against ``--rate`` 3x a sandbox limit this
keeps ~87 % of the limit over 20 s and ~92 % over a minute, with < 1 % 429s
(bench/adaptive.py).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bulk_delete.api import ON_THE_WIRE, Answer, Verdict
from bulk_delete.progress import Tally

#: Spacing is this fraction wider than 1/rate.
MARGIN = 0.015
#: The window the hard cap counts over, a little wider than one second.
WINDOW = 1.0 + MARGIN
#: A start that is late by less than this keeps its slot, so sleep overshoot costs no rate.
CATCH_UP = 0.005
#: How often to look again while more requests are on their way out than a window holds.
POLL = 0.005
#: Retry-After (or the default pause on a 429 without one) is capped at this many seconds.
MAX_PAUSE = 60.0
#: Rate never adapts below this many requests per second (nor above --rate); under a
#: slower limit, the Retry-After pause of every 429 does the rest.
MIN_RATE = 1.0
#: After a 429 the rate drops to this share of the rate June admitted over the last second.
BACKOFF = 0.97
#: One 429 never lowers the rate below this share of the rate in force.
FLOOR = 0.25
#: Seconds without a 429 before the rate creeps back up, at first.
QUIET = 4.0
#: Each 429 that finds the same ceiling again (within SAME) doubles the quiet spell, up to this.
MAX_QUIET = 32.0
#: Two ceilings this close (relative) are the same limit found again.
SAME = 0.1
#: Factor per second by which the rate creeps back up after a quiet spell.
CREEP = 1.03
#: A 429 does not use up an attempt, but a call gives up after this many per attempt.
THROTTLES_PER_ATTEMPT = 4
#: Seconds of nothing but 429s (longer than any honoured Retry-After) after which a call
#: gives up: a storm that never ends ends the job with "unavailable", not after hours.
STORM = 2 * MAX_PAUSE


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
        #: When the last ``floor(max_rate)`` tracked requests were handed to the socket.
        self._sent: deque[float] = deque(maxlen=self._starts.maxlen)
        #: Tracked requests admitted but not yet on the wire: they count as sent now.
        self._unsent = 0
        #: When the rate last dropped (the current congestion epoch began).
        self._epoch = -math.inf
        self._last_change = -math.inf
        #: The rate June admitted when it last said 429, as a ``rate`` (margin included).
        self._ceiling: float | None = None
        #: Seconds without a 429 before creeping back up.
        self._quiet = QUIET
        #: When a request last got an answer other than 429.
        self.last_admitted = clock()

    def __repr__(self) -> str:
        return f"Pacer(rate={self.rate:.2f}, max_rate={self.max_rate:.2f})"

    def storming(self) -> bool:
        """True when nothing but 429s came back for STORM seconds."""
        return self._clock() - self.last_admitted > STORM

    async def acquire(self, *, tracked: bool = False) -> float:
        """Wait until a request may start; returns the start time (for :meth:`throttled`).

        A ``tracked`` request counts against the window from now until :meth:`on_the_wire`
        says when it really left, and from then on at that time.
        """
        slot = self._take_slot()
        while True:
            now = self._clock()
            if now < self._paused_until and slot < self._paused_until:
                slot = self._take_slot()  # a 429 paused everyone since: queue up behind the pause
            wait = max(slot - now, self._window_wait(now))
            if wait <= 0:
                self._starts.append(now)
                self._unsent += tracked
                return now
            await self.sleep(wait)

    def on_the_wire(self) -> None:
        """A tracked request was handed to the socket just now."""
        self._unsent -= 1
        self._sent.append(self._clock())

    def _window_wait(self, now: float) -> float:
        """Seconds until one more start keeps every window at ``floor(max_rate)`` requests.

        Counted twice: by start time, and by the time requests really left (those admitted
        but not yet sent count as leaving now).
        """
        starts, sent = self._starts, self._sent
        wait = starts[0] + WINDOW - now if len(starts) == starts.maxlen else 0.0
        old = len(sent) - (sent.maxlen or 1) + self._unsent + 1  # sends that must be past
        if old > len(sent):
            return max(wait, POLL)  # more requests on their way out than a window holds
        if old > 0:
            wait = max(wait, sent[old - 1] + WINDOW - now)
        return wait

    def _take_slot(self) -> float:
        """The next start time in the spaced sequence (a start a little late keeps its slot)."""
        slot = max(self._next_slot, self._clock() - CATCH_UP, self._paused_until)
        self._next_slot = slot + (1 + MARGIN) / self.rate
        return slot

    def admitted(self) -> None:
        """A request got an answer other than 429: creep back up after a quiet spell."""
        now = self.last_admitted = self._clock()
        quiet = now - self._epoch >= self._quiet and now - self._last_change >= 1.0
        if self.rate < self.max_rate and quiet:
            self.rate = min(self.max_rate, self.rate * CREEP)
            self._last_change = now

    def throttled(self, started: float, retry_after: float | None) -> None:
        """A request started at ``started`` got 429: pause everyone and slow down once."""
        now = self._clock()
        pause = min(MAX_PAUSE, 1.0 if retry_after is None else retry_after)
        self._paused_until = max(self._paused_until, now + pause)
        if started <= self._epoch:
            return  # sent before the last slow-down: the same congestion, already handled
        ceiling = (1 + MARGIN) * sum(1 for t in self._starts if started - 1.0 <= t < started)
        same = self._ceiling is not None and abs(ceiling - self._ceiling) <= SAME * self._ceiling
        self._quiet = min(MAX_QUIET, 2 * self._quiet) if same else QUIET
        self._ceiling = ceiling
        self.rate = min(self.max_rate,
                        max(MIN_RATE, FLOOR * self.rate, BACKOFF * min(self.rate, ceiling)))
        self._epoch = self._last_change = now


def backoff(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): capped full jitter."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


class Retrier:
    """Sends one request until June gives a final answer, paced and with backoff.

    Final: accepted, rejected, or a key problem (AUTH). Transient failures are
    retried up to ``max_attempts`` in all; 429s wait for the pacer and do not use
    up attempts (a too-high ``--rate`` costs time, not IDs) up to a cap, or until
    the whole job has seen nothing but 429s for STORM seconds. The
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
            started = await self.pacer.acquire(tracked=True)
            answer = await self._send(send)
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
            if (failures >= self.max_attempts or self._stopping() or self.pacer.storming()
                    or throttles >= THROTTLES_PER_ATTEMPT * self.max_attempts):
                return answer, attempts
            self.tally.retries += 1
            if kind is Verdict.TRANSIENT:
                await self.pacer.sleep(min(MAX_PAUSE, answer.retry_after or backoff(failures)))

    async def _send(self, send: Callable[[], Awaitable[Answer]]) -> Answer:
        """``send()``, telling the pacer when its request leaves (or that it never will)."""
        left = False

        def on_the_wire() -> None:
            nonlocal left
            if not left:
                left = True
                self.pacer.on_the_wire()

        token = ON_THE_WIRE.set(on_the_wire)
        try:
            return await send()
        finally:
            ON_THE_WIRE.reset(token)
            on_the_wire()  # no bytes left (no connection), or no hook: count it as sent now

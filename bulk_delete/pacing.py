"""When the next request may start: a strict rate cap that adapts to 429s, and backoff.

Two rules together:

* **Spacing** (a token bucket of one token, GCRA): starts are at least
  ``(1 + margin) / rate`` apart, so the load is smooth, with no burst of a whole
  second at start-up (aiolimiter's default bucket starts full).
* **Window**: a log of the last ``floor(max_rate)`` starts; a request waits until
  the oldest is more than ``window`` seconds old. This is the promise: never more
  than ``--rate`` starts in any 1-second window, even after the event loop stalls
  and several late starts would otherwise bunch up.
* **On the wire**: the same window over the moments requests really left (the
  retrier learns them through ``wire.ON_THE_WIRE``); one admitted but not yet
  written counts as leaving now. A request admitted just before the process
  stalls (a garbage collection, a busy machine; aiohttp on Python 3.11 writes a
  POST body a loop turn later) leaves after the stall, and is counted then, so
  requests cannot bunch up on the wire either. It costs throughput only while
  writes lag: ~1 % for a 10 ms lag.

The margins let requests arrive at a server's sliding-window limiter up to ~15 ms
late or early (network and scheduling jitter) without crossing it.

When June states its limit in headers (ratelimit.py), that is the ceiling: the rate
never starts above the stated count per window (per second), a window of a second or
less lowers the window cap to the stated count, and an answer saying nothing remains
pauses every start until the reset.

When it does not, 429s find it. On 429 (once per congestion epoch) every start,
including those already waiting for a slot, waits out Retry-After and then queues up
spaced again, so a pause never ends in a burst; and the rate drops to ``backoff``
times what June admitted: the starts of the second before the refused one, which a
sliding 1-second limit of L lets be L. A limit counted in fixed clock seconds restarts
at each boundary, so that second holds about the rate in force instead, and a first
burst that straddles a boundary gets up to 2L through: the first 429 overestimates.
The next one comes within seconds, and from then on window_fit.py weighs the recent
congestions: when fixed windows explain them better than a sliding second, the count
they agree on is the limit. When neither explains them better (jitter, a limit that
moved), a 429 within ``hasty`` seconds of the last cut cuts the rate to ``decrease``
times itself, and it climbs back quickly (``recover``, ``recover_creep``) to just
under the rate that failed. Above that it probes for a higher limit only after a
quiet spell (``quiet``), creeping by ``creep`` a second; a probe that finds the same
limit goes back to the rate that held under it and doubles the quiet spell (up to
``max_quiet``), so a job held by a fixed limit probes it rarely, while a limit that
rises is found within ``quiet`` seconds. bench/README.md has what this keeps of each
kind of limit.
Every number named here is a field of :class:`~bulk_delete.tuning.Tuning`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bulk_delete.ratelimit import Limit, Quota
from bulk_delete.tuning import TUNING, Tuning
from bulk_delete.window_fit import Answers


class Pacer:
    """Decides when each request starts; shared by every request of a job."""

    def __init__(self, rate: float, *, tuning: Tuning = TUNING,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if not rate > 0:
            raise ValueError("rate must be a positive number of requests per second")
        #: The constants in force.
        self.tuning = tuning
        #: ``--rate``.
        self.max_rate = rate
        #: The highest rate a start may keep: ``--rate``, or the limit June states if lower.
        self.ceiling = rate
        #: The rate in force now; lower than the ceiling after 429s.
        self.rate = rate
        #: The rate limit June stated in its headers, if it did.
        self.stated: Limit | None = None
        #: Starts allowed in any window: ``floor(--rate)``, or June's count if its window is
        #: one second or shorter and its count lower.
        self._cap = max(1, math.floor(rate))
        #: The longest reset seen without a stated window: the window is at least that long.
        self._longest_reset = 0.0
        self._clock = clock
        #: How to wait; tests pass one that moves a fake clock instead.
        self.sleep = sleep
        self._next_slot = -math.inf
        self._paused_until = -math.inf
        self._starts: deque[float] = deque(maxlen=self._cap)
        #: When the last ``floor(max_rate)`` tracked requests were handed to the socket.
        self._sent: deque[float] = deque(maxlen=self._starts.maxlen)
        #: Tracked requests admitted but not yet on the wire: they count as sent now.
        self._unsent = 0
        #: When the rate last dropped (the current congestion epoch began).
        self._epoch = -math.inf
        self._last_change = -math.inf
        #: The rate June admitted when it last said 429, as a ``rate`` (margin included).
        self._found: float | None = None
        #: The rate set at the last slow-down.
        self._cut: float | None = None
        #: The rate before the last step up, which held for a second at least.
        self._good: float | None = None
        #: Creeping back up is quick to here, just under the rate that last got a 429;
        #: above it, the rate probes for a higher limit.
        self._top = 0.0
        #: Seconds without a 429 before creeping back up.
        self._quiet = tuning.quiet
        #: Recent starts and 429s, to tell a fixed window from a sliding one.
        self._answers = Answers(tuning.memory, tuning.fit)
        #: When a request last got an answer other than 429.
        self.last_admitted = clock()

    def __repr__(self) -> str:
        return (f"Pacer(rate={self.rate:.2f}, ceiling={self.ceiling:.2f}, "
                f"max_rate={self.max_rate:.2f})")

    def storming(self) -> bool:
        """True when nothing but 429s came back for ``tuning.storm`` seconds."""
        return self._clock() - self.last_admitted > self.tuning.storm

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
                self._answers.start(now)
                self._unsent += tracked
                return now
            await self.sleep(wait)

    def on_the_wire(self) -> None:
        """A tracked request was handed to the socket just now."""
        self._unsent -= 1
        self._sent.append(self._clock())

    def _window_wait(self, now: float) -> float:
        """Seconds until one more start keeps every window at ``_cap`` requests.

        Counted twice: by start time, and by the time requests really left (those admitted
        but not yet sent count as leaving now).
        """
        starts, sent, cap = self._starts, self._sent, self._cap
        window = self.tuning.window
        wait = starts[-cap] + window - now if len(starts) >= cap else 0.0
        old = len(sent) - cap + self._unsent + 1  # sends that must be past
        if old > len(sent):
            return max(wait, self.tuning.poll)  # more requests on their way out than a window holds
        if old > 0:
            wait = max(wait, sent[old - 1] + window - now)
        return wait

    def _take_slot(self) -> float:
        """The next start time in the spaced sequence (a start a little late keeps its slot)."""
        slot = max(self._next_slot, self._clock() - self.tuning.catch_up, self._paused_until)
        self._next_slot = slot + (1 + self.tuning.margin) / self.rate
        return slot

    def admitted(self) -> None:
        """A request got an answer other than 429: creep back up after a quiet spell.

        Up to ``_top``, just under the rate that last got a 429, after ``recover`` seconds;
        beyond it, probing for a higher limit, only after the quiet spell.
        """
        now = self.last_admitted = self._clock()
        if self.rate >= self.ceiling or now - self._last_change < 1.0:
            return
        calm = now - self._epoch
        if self.rate < self._top and calm >= self.tuning.recover:
            step = min(self._top, self.rate * self.tuning.recover_creep)
        elif calm >= self._quiet:
            step = self.rate * self.tuning.creep
        else:
            return
        self._good, self.rate = self.rate, min(self.ceiling, step)
        self._last_change = now

    def told(self, quota: Quota, *, refused: bool = False) -> None:
        """An answer stated June's rate limit: start no faster, and pause when it is spent.

        A limit without a window (the ``X-`` trio) counts over at least one second, and at
        least over the longest reset seen on an answer that was not a 429. Nothing remaining
        pauses every start until the reset (capped at ``max_pause``; a 429's pause is
        :meth:`throttled`'s), except under a window of a second or less: there the window
        cap holds the next start back until one of its own starts leaves the window, and a
        reset rounded up to a whole second would cost a second at every answer at the limit.
        """
        if quota.limit:
            if quota.window is None and quota.reset is not None and not refused:
                self._longest_reset = max(self._longest_reset, quota.reset)
            self._state(Limit(quota.limit, quota.window or max(1.0, self._longest_reset)))
        if refused or quota.remaining != 0 or quota.reset is None:
            return
        if self.stated is None or self.stated.window > 1.0:
            pause = min(self.tuning.max_pause, quota.reset)
            self._paused_until = max(self._paused_until, self._clock() + pause)

    def _state(self, limit: Limit) -> None:
        """Keep under a limit June stated; a rate that was at the old ceiling moves with it."""
        if limit == self.stated:
            return
        at_ceiling = self.rate >= self.ceiling
        self.stated = limit
        self.ceiling = min(self.max_rate, limit.per_second)
        rate = self.ceiling if at_ceiling else min(self.rate, self.ceiling)
        # The next slot was spaced at the old rate: space it at the new one.
        self._next_slot += (1 + self.tuning.margin) * (1 / rate - 1 / self.rate)
        self.rate = rate
        per_window = limit.per_second if limit.window <= 1.0 else self.max_rate
        self._cap = max(1, math.floor(min(self.max_rate, per_window)))

    def throttled(self, started: float, retry_after: float | None) -> None:
        """A request started at ``started`` got 429: pause everyone and slow down once."""
        now, tuning = self._clock(), self.tuning
        pause = min(tuning.max_pause, 1.0 if retry_after is None else retry_after)
        resumed = self._paused_until  # when the pause of the last slow-down ended
        self._paused_until = max(self._paused_until, now + pause)
        self._answers.refused(started)
        if started <= self._epoch:
            return  # sent before the last slow-down: the same congestion, already handled
        count, fixed = self._answers.congestion(started)
        found = (1 + tuning.margin) * count
        rate, climb = self._slower(found, now, resumed, fixed=fixed)
        self._found = found
        failed = self.rate
        self.rate = self._cut = min(self.ceiling, max(tuning.min_rate, tuning.floor * failed,
                                                      rate))
        self._top = max(self.rate, min(self.ceiling, climb))
        self._good = None
        self._epoch = self._last_change = now

    def _slower(self, found: float, now: float, resumed: float, *,
                fixed: bool) -> tuple[float, float]:
        """The rate after a 429 that ``found`` June's limit, and how far to climb back quickly.

        Just under ``found``, and no higher than a rate known to hold under the same limit;
        a limit a fixed window gave is not cut deeper for coming soon after the last.
        """
        tuning, failed = self.tuning, self.rate
        rate = tuning.backoff * min(failed, found)
        if self._cut is None:
            return rate, rate  # the first 429
        if failed > self._top:  # a probe above the last limit: the same one again, or a new one
            same = self._found is not None and abs(found - self._found) <= tuning.same * self._found
            self._quiet = min(tuning.max_quiet, 2 * self._quiet) if same else tuning.quiet
            rate = min(rate, self._top) if same else rate
            return rate, rate
        if failed > self._cut:  # climbing back: the last step was one too many
            rate = min(rate, self._good or self._cut)
            return rate, rate
        if not fixed and now - max(self._epoch, resumed) < tuning.hasty:  # far too high
            return min(rate, tuning.decrease * failed), rate
        return rate, rate

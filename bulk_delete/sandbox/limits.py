"""The rate limit, three ways, and the headers that tell a client about it.

Every limiter is driven by the caller's clock, never one of its own, so a test
replays it exactly. Each keeps a :class:`SlidingWindow` of the requests it let
through, whose ``peak`` is the busiest 1-second window there was: that is what
``peak_per_second`` reports, whichever way the limit counts.

    sliding  refuses while the last second holds ``limit`` admissions; refusals
             are not counted, so a client that keeps asking waits no longer
    strict   the same window, but refusals are counted: a client that keeps
             hammering stays refused until it is quiet for long enough
    fixed    counts per whole second of the clock and starts again at the next
             one, so up to 2 x limit pass across a boundary, as real ones allow
"""

from __future__ import annotations

import math
from collections import deque
from email.utils import formatdate

from bulk_delete.sandbox.config import LimiterKind, RateLimitHeaders, RetryAfterStyle

#: Width of the rate-limit window, in seconds.
WINDOW = 1.0


def _expire(times: deque[float], now: float) -> None:
    """Drop from ``times`` (oldest first) every entry a window ending at ``now`` no longer holds."""
    horizon = now - WINDOW
    while times and times[0] <= horizon:
        times.popleft()


def _wait(times: deque[float], limit: int, now: float) -> float:
    """Seconds until ``times`` (oldest first) holds fewer than ``limit`` entries.

    ``limit`` may have been lowered at runtime below what the window holds; the
    wait then covers every entry that must expire first.
    """
    return times[max(0, len(times) - limit)] + WINDOW - now


class SlidingWindow:
    """Admission times of the last second: the ``sliding`` limiter and every limiter's meter.

    A request at ``now`` sees the admissions in ``(now - 1 s, now]``. The peak is
    measured at each admission, which finds the busiest 1-second window there
    was: any window can slide right until it ends on an admission without losing
    one. Each time is appended once and popped once, so a request costs O(1).
    """

    __slots__ = ("_times", "peak")

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        #: The most admissions seen in any 1-second window.
        self.peak = 0

    def admit(self, now: float, limit: int | None) -> float | None:
        """Record an admission and return None, or refuse it and return the seconds to wait.

        A refused request is not recorded, so refusals never extend a client's wait.
        """
        times = self._times
        _expire(times, now)
        if limit is not None and len(times) >= limit:
            return _wait(times, limit, now)
        times.append(now)
        self.peak = max(self.peak, len(times))
        return None

    def quota(self, now: float, limit: int) -> tuple[int, float]:
        """Requests left in the window after the last :meth:`admit` at ``now``, and the
        seconds until it frees the next slot (0 when it holds nothing)."""
        return _quota(self._times, limit, now)

    def __repr__(self) -> str:
        return f"SlidingWindow(in_window={len(self._times)}, peak={self.peak})"


def _quota(times: deque[float], limit: int, now: float) -> tuple[int, float]:
    return max(0, limit - len(times)), _wait(times, limit, now) if times else 0.0


class _Metered:
    """A limiter that counts its own way and keeps its admissions in a SlidingWindow."""

    __slots__ = ("meter",)

    def __init__(self, meter: SlidingWindow) -> None:
        #: The admissions, for ``peak``.
        self.meter = meter

    @property
    def peak(self) -> int:
        """The most admissions seen in any 1-second window."""
        return self.meter.peak


class StrictWindow(_Metered):
    """A sliding window that counts refused requests too, like limiters keyed on attempts."""

    __slots__ = ("_tries",)

    def __init__(self, meter: SlidingWindow) -> None:
        super().__init__(meter)
        self._tries: deque[float] = deque()

    def admit(self, now: float, limit: int | None) -> float | None:
        """Count the try; admit it (None) or return the seconds of silence it must wait."""
        if limit is None:
            return self.meter.admit(now, None)
        tries = self._tries
        _expire(tries, now)
        full = len(tries) >= limit
        tries.append(now)
        if full:  # the wait counts this refusal too: longer than a sliding wait
            return _wait(tries, limit, now)
        return self.meter.admit(now, None)

    def quota(self, now: float, limit: int) -> tuple[int, float]:
        """As :meth:`SlidingWindow.quota`, over the tries."""
        return _quota(self._tries, limit, now)


class FixedWindow(_Metered):
    """``limit`` requests per whole second of the clock (so up to 2 x limit in a window across
    a boundary); the count starts again each second."""

    __slots__ = ("_count", "_second")

    def __init__(self, meter: SlidingWindow) -> None:
        super().__init__(meter)
        self._second = -math.inf
        self._count = 0

    def admit(self, now: float, limit: int | None) -> float | None:
        """Admit (None) while this second has room, else the seconds until the next second."""
        second = math.floor(now)
        if second != self._second:
            self._second, self._count = second, 0
        if limit is not None and self._count >= limit:
            return second + WINDOW - now
        self._count += 1
        return self.meter.admit(now, None)

    def quota(self, now: float, limit: int) -> tuple[int, float]:
        """Requests left in this second, and the seconds until the next one."""
        return max(0, limit - self._count), math.floor(now) + WINDOW - now


Limiter = SlidingWindow | StrictWindow | FixedWindow


def make_limiter(kind: LimiterKind, meter: SlidingWindow | None = None) -> Limiter:
    """A limiter of ``kind``; pass the old one's ``meter`` to keep its peak across a change."""
    meter = meter or SlidingWindow()
    if kind == "strict":
        return StrictWindow(meter)
    if kind == "fixed":
        return FixedWindow(meter)
    return meter


def meter_of(limiter: Limiter) -> SlidingWindow:
    """The window of admissions behind ``limiter``."""
    return limiter if isinstance(limiter, SlidingWindow) else limiter.meter


def retry_after(style: RetryAfterStyle, wait: float, now: float) -> dict[str, str]:
    """The ``Retry-After`` header for a 429, rounded up so a client that obeys it succeeds."""
    if style == "seconds":
        return {"Retry-After": str(max(1, math.ceil(wait)))}
    if style == "date":
        return {"Retry-After": formatdate(math.ceil(now + wait), usegmt=True)}
    return {}


def quota_headers(
    style: RateLimitHeaders, limit: int, remaining: int, reset: float
) -> dict[str, str]:
    """Rate-limit headers; ``reset`` is sent as whole delta-seconds, rounded up.

    ``x`` is the de-facto ``X-RateLimit-Limit/-Remaining/-Reset`` trio (Reset in seconds
    from now, not an epoch); ``ietf`` is draft-ietf-httpapi-ratelimit-headers: a
    policy of ``q`` requests per ``w`` seconds, and ``r`` left with ``t`` to go.
    """
    seconds = max(0, math.ceil(reset))
    if style == "x":
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(seconds),
        }
    if style == "ietf":
        return {
            "RateLimit-Policy": f'"default";q={limit};w={WINDOW:g}',
            "RateLimit": f'"default";r={remaining};t={seconds}',
        }
    return {}

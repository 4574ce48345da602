"""What stands between a request and its answer: the rate limit and the fault dice.

Both are driven by the caller's clock and seed, so a test can replay them exactly:
the window never reads a clock of its own, and the dice draw from one seeded
``random.Random``.
"""

from __future__ import annotations

import math
import random
from collections import deque
from email.utils import formatdate
from typing import Literal

from bulk_delete.sandbox.config import RetryAfterStyle, SandboxConfig

#: A fault the dice can choose: a 5xx answer, a dropped connection, or a hung answer.
Fault = Literal["5xx", "reset", "hang"]

#: Width of the rate-limit window, in seconds.
WINDOW = 1.0


class SlidingWindow:
    """Admission times of the last second, for the rate limit and for ``peak_per_second``.

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
        ``limit`` may have been lowered at runtime below what the window holds; the
        wait then covers every admission that must expire first.
        """
        times = self._times
        horizon = now - WINDOW
        while times and times[0] <= horizon:
            times.popleft()
        if limit is not None and len(times) >= limit:
            return times[len(times) - limit] + WINDOW - now
        times.append(now)
        self.peak = max(self.peak, len(times))
        return None

    def __repr__(self) -> str:
        return f"SlidingWindow(in_window={len(self._times)}, peak={self.peak})"


def retry_after(style: RetryAfterStyle, wait: float, now: float) -> dict[str, str]:
    """The ``Retry-After`` header for a 429, rounded up so a client that obeys it succeeds."""
    if style == "seconds":
        return {"Retry-After": str(max(1, math.ceil(wait)))}
    if style == "date":
        return {"Retry-After": formatdate(math.ceil(now + wait), usegmt=True)}
    return {}


class FaultDice:
    """Decides, request by request, whether to misbehave; replayable from a seed."""

    __slots__ = ("_rng",)

    #: The statuses a failed request is answered with, equally likely.
    STATUSES = (500, 502, 503)

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def roll(self, config: SandboxConfig) -> Fault | None:
        """The fault for the next request, or None to answer it normally.

        With every rate at zero no number is drawn, so requests served while faults
        are off do not shift the sequence a test replays.
        """
        fail, reset, hang = config.fail_rate, config.reset_rate, config.hang_rate
        if fail + reset + hang == 0:
            return None
        draw = self._rng.random()
        if draw < fail:
            return "5xx"
        if draw < fail + reset:
            return "reset"
        if draw < fail + reset + hang:
            return "hang"
        return None

    def status(self) -> int:
        """The status for a ``5xx`` fault."""
        return self._rng.choice(self.STATUSES)

"""How June counts a limit it does not state, judged from where its 429s fell.

A limit of L a second is counted one of two ways (by rate limiters at large, and by the
sandbox):

* a **sliding** second: a request is refused while the second before it holds L (a limiter
  that counts refused requests too fills it sooner, but the same way);
* **fixed** seconds: a request is refused once L got through since the window last started,
  at a moment of June's clock the client does not know; across a boundary up to 2L pass in
  one second.

Both explain a 429 by a window that began before the refused request and already held L:
for a sliding second it began one second before, for a fixed one at the last boundary. So
under fixed windows the second before a 429 holds about the rate in force, not the limit,
whenever the count restarted less than a second before it.

:class:`Answers` keeps the starts of the last ``horizon`` seconds, which of them were
refused, and the first refused start of each recent congestion. From the second congestion
on it tries both explanations on them, and measures in requests how badly each misses:

* sliding: no second admitted more than the fewest a second held before a first refusal;
* fixed, for each moment a boundary could fall (just before any start of the seconds before
  the first refusals): no window admitted more than the fewest a window held before a first
  refusal. The limit is what those windows held.

Fixed windows win only when they miss by more than ``tolerance`` requests less than the
sliding second does: the counts are of starts, and jitter moves a request across a window's
edge now and then. One congestion fits both; two at different rates tell them apart (the
second comes within seconds under fixed windows, since the first estimate was too high).
Each explanation is judged on starts, not arrivals: the latency there shifts every boundary
alike. When several boundary moments fit equally well, they are neighbours, and the limit
is the one read at the middle of them.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Sequence

#: Congestions kept for a fit: the last few, which met the same limit.
CONGESTIONS = 3


def _count(times: Sequence[float], start: float, end: float) -> int:
    """How many of the sorted ``times`` fall in ``[start, end)``."""
    return bisect_left(times, end) - bisect_left(times, start)


def _busiest(times: Sequence[float]) -> int:
    """The most of the sorted ``times`` in any one-second window."""
    return max((bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


def _fixed(admitted: Sequence[float], firsts: Sequence[float],
           boundary: float) -> tuple[int, int]:
    """How badly fixed windows with a boundary at ``boundary`` (and every whole second from
    it) explain the congestions first refused at ``firsts``; and the limit they give."""
    full = min(_count(admitted, boundary + math.floor(t - boundary), t) for t in firsts)
    start = boundary + math.floor(admitted[0] - boundary)
    busiest = max(_count(admitted, start + k, start + k + 1)
                  for k in range(math.floor(admitted[-1] - start) + 1))
    return busiest - full, min(full, busiest)


class Answers:
    """Recent starts and 429s, from which a fixed window and its count can be read."""

    def __init__(self, horizon: float, tolerance: int) -> None:
        #: Seconds of starts kept: congestions further apart are not compared.
        self.horizon = horizon
        #: Requests by which fixed windows must explain the 429s better to be believed.
        self.tolerance = tolerance
        self._starts: deque[float] = deque()
        self._refused: Counter[float] = Counter()
        #: The first refused start of each recent congestion.
        self._firsts: deque[float] = deque(maxlen=CONGESTIONS)
        #: Every start since this moment is kept.
        self._kept_since = -math.inf

    def __repr__(self) -> str:
        return f"Answers(starts={len(self._starts)}, congestions={len(self._firsts)})"

    def start(self, at: float) -> None:
        """A request started at ``at`` (no earlier than the last one)."""
        self._starts.append(at)
        self._kept_since = max(self._kept_since, at - self.horizon)
        while self._starts[0] < self._kept_since:
            old = self._starts.popleft()
            if self._refused[old]:
                self._refused[old] -= 1
                if not self._refused[old]:
                    del self._refused[old]

    def refused(self, started: float) -> None:
        """The request started at ``started`` got 429."""
        if started >= self._kept_since:
            self._refused[started] += 1

    def congestion(self, started: float) -> tuple[int, bool]:
        """A new congestion, first refused at ``started``: the limit it shows (the starts of
        the second before it, or a fixed window's count), and whether fixed windows gave it."""
        self._firsts.append(started)
        tries = [t for t in self._starts if t < started]
        second = _count(tries, started - 1.0, started)
        fixed = self._fixed_limit(started, tries)
        return (second, False) if fixed is None else (min(second, fixed), True)

    def _fixed_limit(self, started: float, tries: list[float]) -> int | None:
        """June's count per fixed window, if fixed windows explain the recent congestions
        clearly better than a sliding second (``started`` is the last of ``_firsts``)."""
        firsts = [t for t in self._firsts if t - 1.0 >= self._kept_since]
        admitted = self._admitted(tries)
        boundaries = {b for t in firsts for b in tries[bisect_left(tries, t - 1.0):
                                                     bisect_left(tries, t)]}
        if len(firsts) < 2 or not admitted or not boundaries:
            return None  # one congestion fits both; or nothing before them to count
        sliding = _busiest(admitted) - min(_count(tries, t - 1.0, t) for t in firsts)
        fits = sorted(_fixed(admitted, firsts, b) for b in boundaries)
        if sliding - fits[0][0] <= self.tolerance:
            return None
        best = [limit for miss, limit in fits if miss == fits[0][0]]
        return best[(len(best) - 1) // 2]

    def _admitted(self, tries: Sequence[float]) -> list[float]:
        """``tries`` without the refused ones (those not answered yet count as admitted)."""
        refused = self._refused.copy()
        admitted = []
        for t in tries:
            if refused[t] > 0:
                refused[t] -= 1
            else:
                admitted.append(t)
        return admitted

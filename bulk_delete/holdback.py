"""What held a rate down: judged from what the job's requests measured, never guessed, and said.

A window of sending (the whole of it for the summary, the last few seconds for the progress
line) reached its rate when requests started at least REACHED times ``--rate`` a second.
When it did not, every cause the window holds evidence of is named, in this order:

* **June's limit**: answers were 429 (``LIMIT``), or June stated a limit below ``--rate``
  in its headers (``STATED``), which the pacer keeps under;
* **the client**: it used SATURATED of a CPU or more, or its event loop woke timers LAGGING
  seconds late or more on average (a machine busy with other work): either way the process
  could not start requests on time;
* **requests in flight**: every worker was busy (a request in flight, or waiting to be sent
  again) for FULL of the window or more, so when the pacer allowed a start no worker was
  free: latency x rate needs more than ``--concurrency N``, or than ``auto``'s cap, allows.
  Not named beside the client: answers a busy client has not read yet look slow and keep
  workers busy, and more of them would not help.

When none of them shows, the window says that nothing it measured explains the shortfall.
A window shorter than JUDGED seconds is not judged: too few requests to tell.
:func:`describe_pace` says it for the summary, :func:`pace_brief` for the progress line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bulk_delete.ratelimit import Limit

#: A rate at least this share of ``--rate`` counts as reached (the pacer keeps ~0.985).
REACHED = 0.95
#: Windows shorter than this many seconds are not judged.
JUDGED = 2.0
#: Every worker busy for this share of a window: the limit on requests in flight held it.
FULL = 0.2
#: The event loop late by this many seconds on average: the client held it. Measured: ~1 ms
#: at 100/s, 2-18 ms at 2,000/s on a shared 2-core machine (the worse, the further below
#: the rate), 40-110 ms when CPU-bound at 2,800/s.
LAGGING = 0.005
#: The process using this share of a CPU or more: the client held it (and auto stops
#: growing). Measured unthrottled, CPU-bound: 0.86-0.96 of a CPU.
SATURATED = 0.8


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """Counts of a job's requests from its start to ``at``; two of them make a window."""

    at: float
    starts: int
    answers: int
    #: Seconds, summed over the answers.
    latency: float
    throttled: int
    #: Seconds during which every worker was busy.
    full: float
    #: Seconds the event loop woke a timer late, summed over ``ticks`` timers.
    lag: float
    ticks: int
    #: CPU seconds the process used.
    cpu: float


class Holdback(Enum):
    """A cause that held a rate down; the value names it in JSON events."""

    LIMIT = "june_limit"
    STATED = "june_stated_limit"
    CLIENT = "client"
    IN_FLIGHT = "in_flight"


@dataclass(frozen=True, kw_only=True)
class Pace:
    """The rate over a window of sending, what the window measured, and the causes it shows."""

    seconds: float
    #: Requests started a second, and ``--rate``.
    rate: float
    asked: float
    #: The limit June stated, if it did.
    stated: Limit | None
    #: 429 answers in the window.
    throttled: int
    #: Mean answer time, seconds; None without answers.
    latency: float | None
    #: Share of the window during which every worker was busy.
    full: float
    #: Mean lateness of the event loop, seconds; the share of a CPU the process used.
    lag: float
    cpu: float
    #: Requests in flight allowed (at the end of a recent window; for the whole sending, the
    #: most workers there were), and in flight at its end; the most in flight at once since
    #: the job began.
    limit: int
    in_flight: int
    peak: int
    #: ``--concurrency N``, or None under ``auto`` (whose cap is ``cap``).
    fixed: int | None
    cap: int

    @property
    def judged(self) -> bool:
        return self.seconds >= JUDGED

    @property
    def reached(self) -> bool:
        return self.rate >= REACHED * self.asked

    @property
    def carried(self) -> float | None:
        """Requests a second the limit carries at the window's latency (Little's law)."""
        return self.limit / self.latency if self.latency else None

    def held_down_by(self) -> tuple[Holdback, ...]:
        """The causes of a rate not reached, in the order of the module docstring."""
        if not self.judged or self.reached:
            return ()
        late = self.lag >= LAGGING or self.cpu >= SATURATED
        evidence = {
            Holdback.LIMIT: self.throttled > 0,
            Holdback.STATED: self.stated is not None and self.stated.per_second < self.asked,
            Holdback.CLIENT: late,
            Holdback.IN_FLIGHT: self.full >= FULL and not late,
        }
        return tuple(cause for cause, shown in evidence.items() if shown)


def pace(first: Seen, last: Seen, *, asked: float, stated: Limit | None, limit: int,
         in_flight: int, peak: int, fixed: int | None, cap: int) -> Pace:
    """The :class:`Pace` of the window from ``first`` to ``last``."""
    seconds = last.at - first.at
    answers, ticks = last.answers - first.answers, last.ticks - first.ticks
    return Pace(seconds=seconds,
                rate=(last.starts - first.starts) / seconds if seconds > 0 else 0.0,
                asked=asked, stated=stated, throttled=last.throttled - first.throttled,
                latency=(last.latency - first.latency) / answers if answers else None,
                full=(last.full - first.full) / seconds if seconds > 0 else 0.0,
                lag=(last.lag - first.lag) / ticks if ticks else 0.0,
                cpu=(last.cpu - first.cpu) / seconds if seconds > 0 else 0.0,
                limit=limit, in_flight=in_flight, peak=peak, fixed=fixed, cap=cap)


def pace_brief(pace: Pace) -> str:
    """The progress line's words on a pace: requests in flight, and what holds the rate down."""
    text = f"in flight {pace.in_flight} of {pace.limit}"
    causes = pace.held_down_by()
    if causes:
        text += " · held down by " + ", ".join(_cause_name(c, pace) for c in causes)
    return text


def describe_pace(pace: Pace) -> str:
    """The summary's words on the pace of the whole sending: the rate, and when it fell short
    of ``--rate``, every cause the run measured, with its evidence."""
    text = f"{pace.rate:,.1f}/s of --rate {pace.asked:g} over {pace.seconds:,.1f} s of sending"
    concurrency = "auto" if pace.fixed is None else f"--concurrency {pace.fixed}"
    latency = "" if pace.latency is None else f", June answered in {_took(pace.latency)} on average"
    if not pace.judged:
        return f"too short to judge against --rate {pace.asked:g} (under {JUDGED:g} s of sending)"
    if pace.reached:
        return f"{text}; {concurrency}, at most {pace.peak:,} in flight{latency}"
    causes = pace.held_down_by()
    if not causes:
        return (f"{text}, held down by nothing this run measured (no 429s, a worker free "
                f"when the pacer allowed a start, the event loop on time){latency}")
    return f"{text}, held down by " + "; ".join(_cause_evidence(c, pace) for c in causes)


def _took(seconds: float) -> str:
    """An answer time as people read it: milliseconds under a tenth of a second."""
    return f"{seconds * 1000:.0f} ms" if seconds < 0.1 else f"{seconds:.2f} s"


def _cause_name(cause: Holdback, pace: Pace) -> str:
    if cause is Holdback.IN_FLIGHT:
        if pace.fixed is not None:
            return f"--concurrency {pace.fixed}"
        return "latency at the cap" if pace.limit >= pace.cap else "requests in flight"
    return {Holdback.LIMIT: "June's limit (429s)", Holdback.STATED: "June's stated limit",
            Holdback.CLIENT: "this client (CPU)"}[cause]


def _cause_evidence(cause: Holdback, pace: Pace) -> str:
    """A cause's name and what the run measured of it."""
    name = _cause_name(cause, pace)
    if cause is Holdback.LIMIT:
        return f"{name}: {pace.throttled:,} answers were 429 Too Many Requests"
    if cause is Holdback.STATED:
        return f"{name} of {pace.stated}"
    if cause is Holdback.CLIENT:
        return (f"{name}: its event loop ran {pace.lag * 1000:.0f} ms late on average, "
                f"using {pace.cpu:.0%} of a CPU")
    return f"{name}: {_in_flight_evidence(pace)}"


def _in_flight_evidence(pace: Pace) -> str:
    """Why the requests in flight allowed could not carry the rate: Little's law, measured."""
    busy = f"every worker was busy {pace.full:.0%} of the time"
    if pace.latency is None or pace.carried is None:
        return f"{busy}, with no answer to time"
    carried = (f"June answered in {_took(pace.latency)} on average, so {pace.limit:,} in flight "
               f"carry {pace.carried:,.0f}/s")
    if pace.fixed is not None:
        return f"{carried} (--concurrency auto sizes it from latency)"
    return f"{carried} (the cap)" if pace.limit >= pace.cap else f"{busy}; {carried}"

"""Every tuning constant of pacing and retrying, in one frozen, documented object.

pacing.py explains what each does to the rate; retry.py uses the attempt caps and the
backoff. Tests and benchmarks pass their own :class:`Tuning`; a job uses :data:`TUNING`.
How many requests ``--concurrency auto`` keeps in flight is tuned by :class:`Sizing`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bulk_delete.types import Concurrency


@dataclass(frozen=True, kw_only=True)
class Tuning:
    """Every tuning constant of pacing and retrying, in one documented place."""

    #: Spacing is this fraction wider than 1/rate; the window this much wider than 1 s.
    margin: float = 0.015
    #: A start that is late by less than this keeps its slot, so sleep overshoot costs no rate.
    catch_up: float = 0.005
    #: How often to look again while more requests are on their way out than a window holds.
    poll: float = 0.005
    #: Retry-After (or the default pause on a 429 without one) is capped at this many seconds.
    max_pause: float = 60.0
    #: Rate never adapts below this many requests per second (nor above --rate); under a
    #: slower limit, the Retry-After pause of every 429 does the rest.
    min_rate: float = 1.0
    #: After a 429 the rate drops to this share of the rate June admitted over the last second.
    backoff: float = 0.97
    #: A 429 within ``hasty`` seconds of running at the rate the last one set: that rate was
    #: far too high (a fixed-window limit can pass twice its limit across a second boundary,
    #: so the first 429 can overestimate it twice), and drops to this share of it.
    decrease: float = 0.7
    hasty: float = 2.0
    #: Seconds without a 429 before the rate climbs back to just under the last limit...
    recover: float = 2.0
    #: ... by this factor per second.
    recover_creep: float = 1.1
    #: One 429 never lowers the rate below this share of the rate in force.
    floor: float = 0.25
    #: Seconds without a 429 before the rate creeps back up, at first.
    quiet: float = 30.0
    #: Each 429 that finds the same ceiling again (within ``same``) doubles the quiet spell,
    #: up to this.
    max_quiet: float = 120.0
    #: Two ceilings this close (relative) are the same limit found again.
    same: float = 0.1
    #: Factor per second by which the rate creeps back up after a quiet spell.
    creep: float = 1.03
    #: Seconds of starts and 429s kept to tell a fixed window from a sliding one...
    memory: float = 10.0
    #: ... which wins only when it explains the 429s better by more than this many requests.
    fit: int = 1
    #: A 429 does not use up an attempt, but a call gives up after this many per attempt.
    throttles_per_attempt: int = 4
    #: First and longest wait between transient failures (capped full jitter).
    retry_base: float = 0.5
    retry_cap: float = 30.0

    @property
    def window(self) -> float:
        """The window the hard cap counts over, a little wider than one second."""
        return 1.0 + self.margin

    @property
    def storm(self) -> float:
        """Seconds of nothing but 429s (longer than any honoured Retry-After) after which a
        call gives up: a storm that never ends ends the job with "unavailable", not after hours.
        """
        return 2 * self.max_pause


#: The tuning every job uses; tests and benchmarks may pass their own.
TUNING = Tuning()


@dataclass(frozen=True, kw_only=True)
class Sizing:
    """How ``--concurrency auto`` sizes the requests in flight (inflight.py explains the rule)."""

    #: Requests in flight allowed: this many times rate x latency (Little's law gives the mean;
    #: the rest absorbs latency's spread), and this many times the requests busy right now.
    headroom: float = 1.5
    #: Never fewer workers than this: the former fixed default, enough for any fast June.
    least: int = 16
    #: Never more: the most requests in flight ``auto`` allows (a kill -9 re-sends at most
    #: these), the connection pool's size and the listing's read-ahead under ``auto``.
    cap: int = 256
    #: Latency is the mean of the answers of this many seconds.
    memory: float = 5.0
    #: A worker retires when the workers outnumber the limit by this share: growing back
    #: and forth around the limit would buy nothing.
    slack: float = 0.25
    #: Seconds between looks at the pool and at the event loop's lateness.
    tick: float = 0.1
    #: Workers grow at most by this factor a tick, and not after a tick in which the process
    #: used a CPU to saturation (holdback.SATURATED).
    growth: float = 1.5

    def most(self, concurrency: Concurrency) -> int:
        """The most requests in flight ``concurrency`` allows: the number, or under ``auto``
        the cap."""
        return self.cap if concurrency == "auto" else concurrency


#: The sizing every job uses; tests and benchmarks may pass their own.
SIZING = Sizing()

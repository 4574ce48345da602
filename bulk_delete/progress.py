"""Counts of a submission and of a listing read so far: updated as they go, read by the display."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bulk_delete.holdback import Pace


@dataclass(kw_only=True)
class Requests:
    """Requests sent, retried and throttled since ``started``: the
    :class:`~bulk_delete.retry.Events` every tally counts."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    started: float = field(default_factory=time.monotonic)

    def request(self) -> None:
        self.requests += 1

    def retry(self) -> None:
        self.retries += 1

    def throttle(self) -> None:
        self.throttled += 1

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _per_second(self, count: int) -> float:
        elapsed = self.elapsed()
        return count / elapsed if elapsed > 0 else 0.0


@dataclass(kw_only=True)
class Tally(Requests):
    """What a submission has done so far."""

    total: int
    accepted: int = 0
    #: June said it already held a request for the ID (409, or a 4xx saying so).
    already_requested: int = 0
    rejected: int = 0
    failed: int = 0
    #: The rate and what held it down: of the last few seconds while sending, then of the
    #: whole sending once it ended; None before the first request.
    pace: Pace | None = None

    @property
    def done(self) -> int:
        return self.accepted + self.already_requested + self.rejected + self.failed

    def per_second(self) -> float:
        return self._per_second(self.done)

    def eta_seconds(self) -> float | None:
        rate = self.per_second()
        return (self.total - self.done) / rate if rate > 0 else None

    def snapshot(self) -> dict[str, float | int | str | list[str] | None]:
        """The counts, and the pace when there is one, as a log event's fields."""
        eta = self.eta_seconds()
        return {"done": self.done, "total": self.total, "accepted": self.accepted,
                "already_requested": self.already_requested, "rejected": self.rejected,
                "failed": self.failed, "requests": self.requests, "retries": self.retries,
                "throttled": self.throttled, "per_second": round(self.per_second(), 1),
                "eta_seconds": None if eta is None else round(eta),
                **({} if self.pace is None else pace_fields(self.pace))}


def pace_fields(pace: Pace) -> dict[str, float | int | str | list[str] | None]:
    """A pace as a log event's fields."""
    return {"rate_per_second": round(pace.rate, 1), "rate_asked": pace.asked,
            "rate_seconds": round(pace.seconds, 1),
            "concurrency": "auto" if pace.fixed is None else pace.fixed,
            "in_flight": pace.in_flight, "in_flight_limit": pace.limit,
            "in_flight_peak": pace.peak,
            "latency_seconds": None if pace.latency is None else round(pace.latency, 3),
            "busy_share": round(pace.full, 3), "loop_lag_seconds": round(pace.lag, 4),
            "cpu_share": round(pace.cpu, 3),
            "held_down_by": [cause.value for cause in pace.held_down_by()]}


@dataclass(kw_only=True)
class ListingTally(Requests):
    """What a listing read has done so far; the :class:`~bulk_delete.listing.Reading` listener.

    Pages and records count over every pass (the unfiltered listing, a reread, the
    state listings); the ETA is for the pass under way, when June said how many pages
    it has, and is an upper bound: a read stops once every wanted ID is found.
    """

    #: Distinct IDs the read looks for; None when it keeps every subject.
    wanted: int | None = None
    read: str = "listing"
    pages: int = 0
    records: int = 0
    found: int = 0
    #: Pages of the pass under way read so far, and how many it has when June said.
    pass_pages: int = 0
    pass_total: int | None = None

    def listing(self, read: str, wanted: int | None) -> None:
        self.read, self.wanted, self.pass_pages, self.pass_total = read, wanted, 0, None

    def page(self, records: int, found: int, pages: int | None) -> None:
        self.pages += 1
        self.pass_pages += 1
        self.records += records
        self.found = found
        if self.pass_total is None:
            self.pass_total = pages

    def per_second(self) -> float:
        """Pages a second."""
        return self._per_second(self.pages)

    def eta_seconds(self) -> float | None:
        rate = self.per_second()
        if self.pass_total is None or rate <= 0:
            return None
        return max(0, self.pass_total - self.pass_pages) / rate

    def snapshot(self) -> dict[str, float | int | str | None]:
        """The counts as a log event's fields."""
        eta = self.eta_seconds()
        return {"read": self.read, "pages": self.pages, "records": self.records,
                "found": self.found, "wanted": self.wanted, "requests": self.requests,
                "retries": self.retries, "throttled": self.throttled,
                "pass_pages": self.pass_pages, "pass_total": self.pass_total,
                "pages_per_second": round(self.per_second(), 1),
                "eta_seconds": None if eta is None else round(eta)}

"""Counts of a submission so far: updated by the workers and the retrier, read by the display."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Tally:
    """What a submission has done so far; also the :class:`~bulk_delete.retry.Events` listener."""

    total: int
    accepted: int = 0
    #: June said it already held a request for the ID (409, or a 4xx saying so).
    already_requested: int = 0
    rejected: int = 0
    failed: int = 0
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

    @property
    def done(self) -> int:
        return self.accepted + self.already_requested + self.rejected + self.failed

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def per_second(self) -> float:
        elapsed = self.elapsed()
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta_seconds(self) -> float | None:
        rate = self.per_second()
        return (self.total - self.done) / rate if rate > 0 else None

    def snapshot(self) -> dict[str, float | int | None]:
        """The counts as a log event's fields."""
        eta = self.eta_seconds()
        return {"done": self.done, "total": self.total, "accepted": self.accepted,
                "already_requested": self.already_requested, "rejected": self.rejected,
                "failed": self.failed, "requests": self.requests, "retries": self.retries,
                "throttled": self.throttled, "per_second": round(self.per_second(), 1),
                "eta_seconds": None if eta is None else round(eta)}

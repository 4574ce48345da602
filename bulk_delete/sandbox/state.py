"""What the sandbox remembers: deletion requests, their state machine, and exact counters.

A request's state is never stored. It is computed from its age whenever it is
read (requested, then started after ``start_after``, then finished after
``finish_after``), so there is no background task and a test moves time by
moving the injected clock.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

from bulk_delete.sandbox.config import SandboxConfig
from bulk_delete.sandbox.limits import FaultDice, SlidingWindow

Kind = Literal["user", "group"]
RequestState = Literal["requested", "started", "finished"]
Clock = Callable[[], float]

KINDS: tuple[Kind, ...] = ("user", "group")
STATES: tuple[RequestState, ...] = ("requested", "started", "finished")
#: The four API endpoints, by the last segment of their path.
ENDPOINTS = (
    "user_deletion_request",
    "group_deletion_request",
    "user_deletion_requests",
    "group_deletion_requests",
)


def isoformat(timestamp: float) -> str:
    """POSIX seconds as ISO-8601 UTC with milliseconds, e.g. ``2026-05-09T07:35:25.120Z``.

    Listing pages format two timestamps per record, so the date-and-time part is
    cached per whole second (records made together share it): 2.5x faster than
    ``datetime.isoformat`` on every call, and rounded the same way.
    """
    fraction, whole = math.modf(timestamp)
    seconds, micros = divmod(round(fraction * 1_000_000), 1_000_000)  # as datetime rounds
    return f"{_whole_second(int(whole) + seconds)}.{micros // 1000:03d}Z"


@lru_cache(maxsize=4096)
def _whole_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def progress(created: float, now: float, config: SandboxConfig) -> tuple[RequestState, float]:
    """The state of a request created at ``created``, and when it entered that state.

    Written as ``created <= now - delay`` (not ``now - created >= delay``) so that it
    agrees, to the last bit, with the cut-offs :meth:`Ledger.select` bisects on.
    """
    if created <= now - config.finish_after:
        return "finished", created + config.finish_after
    if created <= now - config.start_after:
        return "started", created + config.start_after
    return "requested", created


@dataclass(frozen=True, slots=True)
class Record:
    """One deletion request, as first made for its subject."""

    request_id: str
    subject: str
    created_at: float
    #: ``created_at`` formatted once: most views of a fresh record need nothing else.
    created_iso: str

    def view(self, field: str, now: float, config: SandboxConfig) -> dict[str, str]:
        """The record as the API shows it at ``now``; ``field`` is ``user_id`` or ``group_id``."""
        state, updated = progress(self.created_at, now, config)
        return {
            "id": self.request_id,
            field: self.subject,
            "state": state,
            "created_at": self.created_iso,
            "updated_at": self.created_iso if state == "requested" else isoformat(updated),
        }


class Ledger:
    """One kind's requests: one record per subject, sorted by creation time.

    Sorted, the records of each state form one contiguous run (finished, then
    started, then requested), so a filtered page is two bisections and a slice,
    not a scan. A request made "in the past" (a seeded one, or a clock that
    stepped back) is inserted in place; the usual append stays O(log n).
    """

    __slots__ = ("_by_subject", "_created", "_records")

    def __init__(self) -> None:
        self._by_subject: dict[str, Record] = {}
        self._records: list[Record] = []
        self._created: list[float] = []

    def add(self, subject: str, now: float, new_id: Callable[[], str]) -> tuple[Record, bool]:
        """The subject's record, and whether this call created it."""
        record = self._by_subject.get(subject)
        if record is not None:
            return record, False
        record = Record(new_id(), subject, now, isoformat(now))
        self._by_subject[subject] = record
        at = bisect_right(self._created, now)
        self._records.insert(at, record)
        self._created.insert(at, now)
        return record, True

    def get(self, subject: str) -> Record | None:
        """The subject's record, if one was requested."""
        return self._by_subject.get(subject)

    def select(
        self, state: RequestState | None, now: float, config: SandboxConfig
    ) -> tuple[int, int]:
        """The index range ``[lo, hi)`` of the records in ``state`` (all when None)."""
        if state is None:
            return 0, len(self._records)
        finished = bisect_right(self._created, now - config.finish_after)
        started = bisect_right(self._created, now - config.start_after)
        bounds = {"finished": (0, finished), "started": (finished, started)}
        return bounds.get(state, (started, len(self._records)))

    def page(self, lo: int, hi: int, page: int, size: int) -> list[Record]:
        """Page ``page`` (1-based) of the records in ``[lo, hi)``, newest first."""
        end = max(lo, hi - (page - 1) * size)
        start = max(lo, end - size)
        return self._records[start:end][::-1]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        """The records, oldest first."""
        return iter(self._records)


def _per_kind() -> dict[Kind, int]:
    return dict.fromkeys(KINDS, 0)


@dataclass(slots=True)
class Stats:
    """Exact counts of what reached the API endpoints (``/_sandbox/*`` is not counted)."""

    requests: int = 0
    endpoints: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENDPOINTS, 0))
    #: POSTs answered 200, duplicates included.
    accepted: dict[Kind, int] = field(default_factory=_per_kind)
    #: Accepted POSTs for a subject that already had a record.
    duplicates: dict[Kind, int] = field(default_factory=_per_kind)
    rate_limited: int = 0
    #: Faults served; ``outage`` counts the 503s of the outage knob.
    faults: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("5xx", "reset", "hang", "outage"), 0)
    )
    unauthorized: int = 0
    bad_requests: int = 0


class SandboxState:
    """Everything one sandbox knows; shared by its handlers and open to tests."""

    def __init__(self, config: SandboxConfig, clock: Clock = time.time) -> None:
        #: The knobs in force; replaced whole by :meth:`configure`.
        self.config = config
        #: POSIX seconds now; tests inject their own to move time without sleeping.
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Forget every record and count, and restart the dice and ids from the seed."""
        self.stats = Stats()
        self.ledgers: dict[Kind, Ledger] = {kind: Ledger() for kind in KINDS}
        self.window = SlidingWindow()
        self._reseed()

    def _reseed(self) -> None:
        self.dice = FaultDice(self.config.seed)
        self._ids = random.Random(f"request-ids:{self.config.seed}")

    def configure(self, changes: Mapping[str, object]) -> SandboxConfig:
        """Apply knob changes (``ValueError`` if invalid); a new seed restarts the dice."""
        new = self.config.updated(changes)
        reseed = new.seed != self.config.seed
        self.config = new
        if reseed:
            self._reseed()
        return new

    def submit(self, kind: Kind, subject: str, now: float) -> Record:
        """Accept a deletion request made at ``now``; a repeat keeps the first record.

        The API calls this for each accepted POST; a test or a demo may call it
        directly to seed requests at earlier times.
        """
        record, created = self.ledgers[kind].add(subject, now, self._new_id)
        self.stats.accepted[kind] += 1
        if not created:
            self.stats.duplicates[kind] += 1
        return record

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def snapshot(self) -> dict[str, object]:
        """The counters as ``GET /_sandbox/stats`` shows them."""
        counts: dict[str, object] = asdict(self.stats)
        counts["unique"] = {kind: len(ledger) for kind, ledger in self.ledgers.items()}
        counts["peak_per_second"] = self.window.peak
        return counts

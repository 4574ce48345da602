"""What the sandbox remembers: the ledgers, the answers keyed by Idempotency-Key, and exact
counters of what reached it.

The state is the only thing the handlers share; a test reads it directly, or
as JSON through ``GET /_sandbox/stats``.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

from bulk_delete.sandbox.config import SandboxConfig
from bulk_delete.sandbox.faults import FaultDice
from bulk_delete.sandbox.ledger import Ledger, Record
from bulk_delete.sandbox.limits import Limiter, make_limiter, meter_of

Kind = Literal["user", "group"]
Clock = Callable[[], float]

KINDS: tuple[Kind, ...] = ("user", "group")
#: The four API endpoints, by the last segment of their path.
ENDPOINTS = (
    "user_deletion_request",
    "group_deletion_request",
    "user_deletion_requests",
    "group_deletion_requests",
)


def _per_kind() -> dict[Kind, int]:
    return dict.fromkeys(KINDS, 0)


@dataclass(slots=True)
class Stats:
    """Exact counts of what reached the API endpoints (``/_sandbox/*`` is not counted).

    A POST that was applied is counted once in ``accepted`` or ``conflicts``; a
    replay of an ``Idempotency-Key`` only in ``replays``.
    """

    requests: int = 0
    endpoints: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENDPOINTS, 0))
    #: POSTs applied and answered 200: first requests, and repeats under duplicate_status 200.
    accepted: dict[Kind, int] = field(default_factory=_per_kind)
    #: Applied POSTs for a subject that already had a record, whatever they were answered.
    duplicates: dict[Kind, int] = field(default_factory=_per_kind)
    #: The duplicates answered 409 (duplicate_status 409); the rest were answered 200.
    conflicts: dict[Kind, int] = field(default_factory=_per_kind)
    #: POSTs answered again from an Idempotency-Key already seen (idempotency "honour").
    replays: dict[Kind, int] = field(default_factory=_per_kind)
    rate_limited: int = 0
    #: Faults served: ``reset`` dropped before the request was applied, ``reset_after``
    #: after; ``outage`` counts the 503s of the outage knob.
    faults: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("5xx", "reset", "reset_after", "hang", "outage"), 0)
    )
    unauthorized: int = 0
    #: 400s and 422s: bad bodies and queries, refused subjects, reused Idempotency-Keys.
    bad_requests: int = 0


@dataclass(frozen=True, slots=True)
class Remembered:
    """The request an Idempotency-Key was first used for, and the status it was answered."""

    kind: Kind
    record: Record
    status: int


class SandboxState:
    """Everything one sandbox knows; shared by its handlers and open to tests."""

    def __init__(self, config: SandboxConfig, clock: Clock = time.time) -> None:
        #: The knobs in force; replaced whole by :meth:`configure`.
        self.config = config
        #: POSIX seconds now; tests inject their own to move time without sleeping.
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Forget every record, key and count, and restart the dice and ids from the seed."""
        self.stats = Stats()
        self.ledgers: dict[Kind, Ledger] = {kind: Ledger() for kind in KINDS}
        #: Answers by Idempotency-Key, kept only while idempotency is honoured.
        self.keys: dict[str, Remembered] = {}
        self.limiter: Limiter = make_limiter(self.config.limiter)
        self._reseed()

    def _reseed(self) -> None:
        self.dice = FaultDice(self.config.seed)
        self._ids = random.Random(f"request-ids:{self.config.seed}")

    def configure(self, changes: Mapping[str, object]) -> SandboxConfig:
        """Apply knob changes (``ValueError`` if invalid); a new seed restarts the dice.

        A new ``limiter`` starts with an empty window but keeps ``peak_per_second``.
        """
        old, new = self.config, self.config.updated(changes)
        self.config = new
        if new.seed != old.seed:
            self._reseed()
        if new.limiter != old.limiter:
            self.limiter = make_limiter(new.limiter, meter_of(self.limiter))
        return new

    def submit(self, kind: Kind, subject: str, now: float) -> Record:
        """Accept a deletion request made at ``now``; a repeat keeps the first record.

        A test or a demo calls this to seed requests at earlier times; the API
        calls :meth:`apply`, which also decides the answer.
        """
        return self.apply(kind, subject, now)[0]

    def apply(self, kind: Kind, subject: str, now: float) -> tuple[Record, int]:
        """Record a POST for ``subject``: its record, and the status to answer (200 or 409)."""
        record, created = self.ledgers[kind].add(subject, now, self._new_id)
        stats = self.stats
        if not created:
            stats.duplicates[kind] += 1
            if self.config.duplicate_status == 409:
                stats.conflicts[kind] += 1
                return record, 409
        stats.accepted[kind] += 1
        return record, 200

    def replay(self, key: str, kind: Kind, subject: str) -> Remembered | None:
        """The first answer under ``key``, counted as a replay; None for a new key.

        ``ValueError`` when the key was used for another request.
        """
        remembered = self.keys.get(key)
        if remembered is None:
            return None
        if (remembered.kind, remembered.record.subject) != (kind, subject):
            raise ValueError(f"Idempotency-Key {key!r} was used for a different request")
        self.stats.replays[kind] += 1
        return remembered

    def remember(self, key: str, kind: Kind, record: Record, status: int) -> None:
        """Keep the answer to the request first made under ``key``."""
        self.keys[key] = Remembered(kind, record, status)

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def snapshot(self) -> dict[str, object]:
        """The counters as ``GET /_sandbox/stats`` shows them."""
        counts: dict[str, object] = asdict(self.stats)
        counts["unique"] = {kind: len(ledger) for kind, ledger in self.ledgers.items()}
        counts["peak_per_second"] = self.limiter.peak
        return counts

"""Deletion requests, one per subject, in listing order, with their lazy state machine.

A request's state is never stored. It is computed from its age whenever it is
read (requested, then started after ``start_after``, then finished after
``finish_after``), so there is no background task and a test moves time by
moving the injected clock.

Records are kept sorted by ``(created_at, request id)``, the order real APIs
list by (``ORDER BY created_at DESC, id DESC``). That one order serves page
numbers, state filters (each state is one contiguous run) and keyset cursors
(a cursor names the last record read, and the next page starts below it).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from bulk_delete.sandbox.config import RequestState, SandboxConfig

#: A run of records ``[lo, hi)`` by index, oldest first.
Span = tuple[int, int]
#: Where a record sits in listing order: ``(created_at, request id)``.
Position = tuple[float, str]
#: The states in index order: the oldest records are the furthest along.
_BY_AGE: tuple[RequestState, ...] = ("finished", "started", "requested")


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
    agrees, to the last bit, with the cut-offs :meth:`Ledger.spans` bisects on.
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


def position(record: Record) -> Position:
    """Where ``record`` sits in listing order."""
    return record.created_at, record.request_id


class Ledger:
    """One kind's requests: one record per subject, oldest first in listing order.

    A request made "in the past" (a seeded one, or a clock that stepped back) is
    inserted in place; the usual append stays O(log n).
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
        if at and self._created[at - 1] == now:  # same instant: the request id decides
            ties = bisect_left(self._created, now)
            at = bisect_left(self._records, position(record), ties, at, key=position)
        self._records.insert(at, record)
        self._created.insert(at, now)
        return record, True

    def get(self, subject: str) -> Record | None:
        """The subject's record, if one was requested."""
        return self._by_subject.get(subject)

    def spans(
        self, states: Collection[RequestState], now: float, config: SandboxConfig
    ) -> list[Span]:
        """The records in ``states`` as the fewest runs of indexes, oldest first."""
        total = len(self._records)
        if len(states) == len(_BY_AGE):
            return [(0, total)]
        finished = bisect_right(self._created, now - config.finish_after)
        started = bisect_right(self._created, now - config.start_after)
        bounds = {"finished": (0, finished), "started": (finished, started)}
        spans: list[Span] = []
        for state in _BY_AGE:
            if state not in states:
                continue
            lo, hi = bounds.get(state, (started, total))
            if spans and spans[-1][1] == lo:
                lo = spans.pop()[0]
            spans.append((lo, hi))
        return spans

    def below(self, place: Position) -> int:
        """The index where the records listed after ``place`` (the older ones) end."""
        return bisect_left(self._records, place, key=position)

    def newest(self, spans: list[Span], end: int, skip: int, size: int) -> list[Record]:
        """Up to ``size`` records of ``spans`` below index ``end``, newest first, after
        passing over the ``skip`` newest."""
        taken: list[Record] = []
        for lo, top in reversed(spans):
            hi = min(top, end)
            passed = min(skip, max(0, hi - lo))
            skip, hi = skip - passed, hi - passed
            taken += self._records[max(lo, hi - (size - len(taken))) : max(lo, hi)][::-1]
            if len(taken) == size:
                break
        return taken

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        """The records, oldest first."""
        return iter(self._records)


def counted(spans: list[Span], end: int) -> int:
    """How many records of ``spans`` lie below index ``end``."""
    return sum(max(0, min(hi, end) - lo) for lo, hi in spans)

"""Counts of a run, shown live: a bar on a terminal, a log line every few seconds in JSON."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bulk_delete.logs import get_logger

#: Seconds between progress log lines in JSON mode.
LOG_EVERY = 5.0


@dataclass
class Tally:
    """What a submission has done so far; updated by the workers, read by the display."""

    total: int
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.accepted + self.rejected + self.failed

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
                "rejected": self.rejected, "failed": self.failed, "requests": self.requests,
                "retries": self.retries, "throttled": self.throttled,
                "per_second": round(self.per_second(), 1),
                "eta_seconds": None if eta is None else round(eta)}


@contextlib.asynccontextmanager
async def shown(tally: Tally, log_format: Literal["console", "json"]) -> AsyncIterator[None]:
    """Show ``tally`` while the block runs: a live bar (console) or periodic log lines (JSON)."""
    if log_format == "json":
        task = asyncio.create_task(_log_lines(tally))
        try:
            yield
        finally:
            task.cancel()
        return
    bar = Progress(TextColumn("deleting"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[per_second]:.1f}/s"),
                   TextColumn("rejected {task.fields[rejected]} failed {task.fields[failed]}"),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task_id = bar.add_task("deleting", total=tally.total, per_second=0.0, rejected=0, failed=0)

    async def refresh() -> None:
        while True:
            bar.update(task_id, completed=tally.done, per_second=tally.per_second(),
                       rejected=tally.rejected, failed=tally.failed)
            await asyncio.sleep(0.2)

    with bar:
        task = asyncio.create_task(refresh())
        try:
            yield
        finally:
            task.cancel()


async def _log_lines(tally: Tally) -> None:
    log = get_logger()
    while True:
        await asyncio.sleep(LOG_EVERY)
        log.info("bulk_delete.progress", **tally.snapshot())

"""Fakes for in-process tests: virtual time, and sends that answer from a script."""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Awaitable
from typing import TypeVar

from bulk_delete.api import Answer

T = TypeVar("T")


class FakeTime:
    """Virtual time for one event loop: when every task waits, jump to the earliest wake-up.

    ``overshoot`` makes each sleep last up to that much longer, like a busy event loop.
    """

    def __init__(self, *, overshoot: float = 0.0, seed: int = 1) -> None:
        self.now = 1000.0
        self.overshoot = overshoot
        self._random = random.Random(seed)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        extra = self._random.uniform(0, self.overshoot) if self.overshoot else 0.0
        future = asyncio.get_running_loop().create_future()
        self._count += 1
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds) + extra, self._count, future))
        await future

    async def drive(self, work: Awaitable[T]) -> T:
        """Run ``work`` to the end, moving the clock whenever it and its tasks all wait."""
        task = asyncio.ensure_future(work)
        while not task.done():
            for _ in range(20):
                await asyncio.sleep(0)
            if self._sleepers and not task.done():
                wake, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                future.set_result(None)
        return task.result()


class Script:
    """A send() that answers from a list of HTTP statuses (None: no answer)."""

    def __init__(self, *statuses: int | None, retry_after: float | None = None) -> None:
        self.statuses = list(statuses)
        self.retry_after = retry_after
        self.sent = 0

    async def __call__(self) -> Answer:
        status = self.statuses[min(self.sent, len(self.statuses) - 1)]
        self.sent += 1
        return Answer(status, "boom" if status != 200 else "", self.retry_after)

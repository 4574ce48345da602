"""Fakes for in-process tests: virtual time, and sends that answer from a script."""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit

from bulk_delete.answers import Answer
from bulk_delete.pacing import Pacer
from bulk_delete.ratelimit import Quota
from bulk_delete.sandbox.limits import Limiter, retry_after
from bulk_delete.types import AuthForm

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
                if future.done():
                    continue  # its sleeper was cancelled
                self.now = max(self.now, wake)
                future.set_result(None)
        return task.result()


@dataclass
class Replayed:
    """What a job did against one of the sandbox's limiters (:func:`replay`)."""

    #: When the job began.
    began: float
    #: Every request's start, and whether the limiter let it through, in the order answered.
    answers: list[tuple[float, bool]] = field(default_factory=list)
    #: The pacer's rate after each change, with when it changed.
    rates: list[tuple[float, float]] = field(default_factory=list)

    def count(self, admitted: bool, since: float = -math.inf) -> int:
        """Requests admitted (or refused) among those started at ``since`` or later."""
        return sum(ok == admitted and start >= since for start, ok in self.answers)


async def replay(time: FakeTime, pacer: Pacer, limiter: Limiter, limit: int, *,
                 seconds: float, workers: int, latency: float) -> Replayed:
    """A job of ``seconds`` against ``limiter`` counting ``limit`` a second, no sockets:
    ``workers`` requests in flight, each reaching the limiter after half the latency and
    answered after the other half, a 429 with the sandbox's Retry-After (whole seconds)."""
    job = Replayed(began=time.now, rates=[(time.now, pacer.rate)])

    async def worker() -> None:
        while time.now - job.began < seconds:
            started = await pacer.acquire()
            await time.sleep(latency / 2)
            wait = limiter.admit(time.now, limit)
            await time.sleep(latency / 2)
            job.answers.append((started, wait is None))
            if wait is None:
                pacer.admitted()
            else:
                pause = float(retry_after("seconds", wait, time.now)["Retry-After"])
                pacer.throttled(started, pause)
            if job.rates[-1][1] != pacer.rate:
                job.rates.append((time.now, pacer.rate))

    await time.drive(asyncio.gather(*(worker() for _ in range(workers))))
    return job


class Script:
    """A send() that answers from a list of HTTP statuses (None: no answer)."""

    def __init__(self, *statuses: int | None, retry_after: float | None = None,
                 quota: Quota | None = None) -> None:
        self.statuses = list(statuses)
        self.retry_after = retry_after
        self.quota = quota
        self.sent = 0

    async def __call__(self) -> Answer:
        status = self.statuses[min(self.sent, len(self.statuses) - 1)]
        self.sent += 1
        return Answer(status, "boom" if status != 200 else "", self.retry_after,
                      quota=self.quota)


class FakeJune:
    """A :class:`~bulk_delete.api.Client` held in memory: what a test tells June to answer.

    ``answers`` maps a subject to the statuses June gives it, in turn (the last repeats);
    any other subject is accepted; with ``duplicate_status`` 409 a subject June holds already
    is answered 409. Accepted subjects are listed, newest first, in ``state`` (what June says
    of every request), ``page_size`` to a page. A request with the key in a form not in
    ``accepts`` is answered 401; every answer carries ``quota``. ``posts`` records every
    POST in order, ``forms`` the key's form of every request.
    """

    listing_url = "https://june.test/api/platform/data_management/user_deletion_requests"

    def __init__(self, *, answers: dict[str, list[int]] | None = None,
                 state: str = "requested", page_size: int = 10, listing_status: int = 200,
                 listed: list[str] | None = None, duplicate_status: int = 200,
                 accepts: tuple[AuthForm, ...] = ("raw", "basic"),
                 quota: Quota | None = None) -> None:
        self.answers = answers or {}
        self.state = state
        self.page_size = page_size
        self.listing_status = listing_status
        self.duplicate_status = duplicate_status
        self.accepts = accepts
        self.quota = quota
        self.auth_form: AuthForm = "raw"
        self.posts: list[str] = []
        self.pages: list[int] = []
        self.forms: list[AuthForm] = []
        #: Subjects June holds a request for, oldest first.
        self.held: list[str] = list(listed or [])

    def use_auth(self, form: AuthForm) -> None:
        self.auth_form = form

    async def request_deletion(self, subject: str) -> Answer:
        await asyncio.sleep(0)  # an answer never comes back in the same loop turn
        self.forms.append(self.auth_form)
        if self.auth_form not in self.accepts:
            return Answer(401, "unauthorized", quota=self.quota)
        self.posts.append(subject)
        statuses = self.answers.get(subject, [200])
        status = statuses[min(self.posts.count(subject), len(statuses)) - 1]
        if 200 <= status < 300 and subject in self.held and self.duplicate_status == 409:
            return Answer(409, f"a deletion request already exists for {subject}",
                          quota=self.quota)
        if 200 <= status < 300 and subject not in self.held:
            self.held.append(subject)
        return Answer(status, "" if status < 300 else f"refused {subject}", quota=self.quota)

    async def fetch(self, url: str) -> Answer:
        """A listing page: ``?page=N``, and ``?state=S`` lists only when S is ``state``."""
        await asyncio.sleep(0)
        self.forms.append(self.auth_form)
        if self.auth_form not in self.accepts:
            return Answer(401, "unauthorized", quota=self.quota)
        query = dict(parse_qsl(urlsplit(url).query))
        page = int(query.get("page", "1"))
        self.pages.append(page)
        if self.listing_status != 200:
            return Answer(self.listing_status, "refused")
        newest_first = self.held[::-1] if query.get("state", self.state) == self.state else []
        chunk = newest_first[(page - 1) * self.page_size:page * self.page_size]
        records = [{"user_id": s, "state": self.state} for s in chunk]
        return Answer(200, body=json.dumps({"data": records}).encode(), quota=self.quota)

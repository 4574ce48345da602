"""Sending one request until June gives a final answer: paced, with backoff on failures.

Final answers are accepted, already requested, rejected, or a key problem (AUTH).
Transient failures are retried up to ``max_attempts`` in all, with capped
full-jitter backoff (or Retry-After). 429s wait for the pacer and do not use up
attempts (a too-high ``--rate`` costs time, not IDs), up to
``throttles_per_attempt`` per attempt, or until the whole job has seen nothing
but 429s for ``tuning.storm`` seconds. Every rate limit an answer states goes to
the pacer.

What happened along the way (a request, a retry, a 429) is told to an
:class:`Events` listener, so counting and display stay out of this module.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Protocol

from bulk_delete.answers import Answer, Verdict
from bulk_delete.pacing import Pacer
from bulk_delete.wire import ON_THE_WIRE

#: Verdicts that end a call: June has given its final answer for the request.
FINAL = (Verdict.ACCEPTED, Verdict.ALREADY_REQUESTED, Verdict.REJECTED, Verdict.AUTH)


class Events(Protocol):
    """Who wants to know what a call did: progress counts it, a listing read ignores it."""

    def request(self) -> None:
        """A request got an answer (or a failure instead of one)."""

    def retry(self) -> None:
        """The call will send the same request again."""

    def throttle(self) -> None:
        """June answered 429."""


class Unobserved:
    """Events nobody counts: for one-off reads such as the preflight."""

    def request(self) -> None:
        pass

    def retry(self) -> None:
        pass

    def throttle(self) -> None:
        pass


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): capped full jitter."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


class Retrier:
    """Sends one request until a final answer; see the module docstring for the rules.

    The answer returned is the last one; a transient or throttled verdict means the
    call gave up, or that ``stopping()`` turned true.
    """

    def __init__(self, pacer: Pacer, *, max_attempts: int, events: Events | None = None,
                 stopping: Callable[[], bool] = lambda: False) -> None:
        self.pacer = pacer
        self.max_attempts = max_attempts
        self.events: Events = events or Unobserved()
        self._stopping = stopping

    def __repr__(self) -> str:
        return f"Retrier({self.pacer!r}, max_attempts={self.max_attempts})"

    async def call(self, send: Callable[[], Awaitable[Answer]]) -> tuple[Answer, int]:
        """The last answer and the number of requests it took."""
        tuning = self.pacer.tuning
        attempts = failures = throttles = 0
        while True:
            started = await self.pacer.acquire(tracked=True)
            answer = await self._send(send)
            attempts += 1
            self.events.request()
            kind = answer.verdict
            if answer.quota is not None:
                self.pacer.told(answer.quota, refused=kind is Verdict.THROTTLED)
            if kind is Verdict.THROTTLED:
                self.pacer.throttled(started, answer.wait)
                self.events.throttle()
                throttles += 1
            else:
                self.pacer.admitted()
            if kind is Verdict.TRANSIENT:
                failures += 1
            if kind in FINAL:
                return answer, attempts
            if (failures >= self.max_attempts or self._stopping() or self.pacer.storming()
                    or throttles >= tuning.throttles_per_attempt * self.max_attempts):
                return answer, attempts
            self.events.retry()
            if kind is Verdict.TRANSIENT:
                wait = answer.retry_after or backoff(failures, base=tuning.retry_base,
                                                     cap=tuning.retry_cap)
                await self.pacer.sleep(min(tuning.max_pause, wait))

    async def _send(self, send: Callable[[], Awaitable[Answer]]) -> Answer:
        """``send()``, telling the pacer when its request leaves (or that it never will)."""
        left = False

        def on_the_wire() -> None:
            nonlocal left
            if not left:
                left = True
                self.pacer.on_the_wire()

        token = ON_THE_WIRE.set(on_the_wire)
        try:
            return await send()
        finally:
            ON_THE_WIRE.reset(token)
            on_the_wire()  # no bytes left (no connection), or no hook: count it as sent now

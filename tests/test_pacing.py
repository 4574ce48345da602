"""The pacer's promises, checked on a fake clock that only moves when someone sleeps."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import random
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from bulk_delete.api import ON_THE_WIRE, Answer
from bulk_delete.pacing import (
    BACKOFF,
    CATCH_UP,
    FLOOR,
    MARGIN,
    MAX_QUIET,
    QUIET,
    STORM,
    THROTTLES_PER_ATTEMPT,
    WINDOW,
    Pacer,
    Retrier,
    backoff,
)
from bulk_delete.progress import Tally

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


def max_in_window(starts: list[float], window: float = 1.0) -> int:
    """The most starts inside any half-open window [t, t + window)."""
    starts = sorted(starts)
    return max(bisect.bisect_left(starts, t + window) - i for i, t in enumerate(starts))


async def run_workers(fake: FakeTime, pacer: Pacer, workers: int, per_worker: int) -> list[float]:
    starts: list[float] = []

    async def worker() -> None:
        for _ in range(per_worker):
            starts.append(await pacer.acquire())

    await fake.drive(asyncio.gather(*(worker() for _ in range(workers))))
    return starts


@pytest.mark.parametrize("rate", [1, 7, 10, 100, 1000])
async def test_never_more_than_rate_in_any_second(rate: int) -> None:
    """Even with sleeps that overshoot by up to 50 ms, no 1-second window holds more than rate."""
    fake = FakeTime(overshoot=0.05)
    pacer = Pacer(rate, clock=fake.clock, sleep=fake.sleep)
    starts = await run_workers(fake, pacer, workers=16, per_worker=max(3, rate // 2))
    assert max_in_window(starts) <= rate


async def test_no_burst_at_start() -> None:
    """Starts are spaced from the very first request: no full bucket to spend at once."""
    fake = FakeTime()
    pacer = Pacer(10, clock=fake.clock, sleep=fake.sleep)
    starts = sorted(await run_workers(fake, pacer, workers=16, per_worker=1))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= (1 + MARGIN) / 10 - CATCH_UP - 1e-9


@pytest.mark.parametrize("rate", [10, 1000])
async def test_sustains_at_least_97_percent_of_rate(rate: int) -> None:
    """Over many requests the pacer keeps close to the rate it is allowed."""
    fake = FakeTime()
    pacer = Pacer(rate, clock=fake.clock, sleep=fake.sleep)
    starts = await run_workers(fake, pacer, workers=16, per_worker=rate // 2)
    achieved = (len(starts) - 1) / (max(starts) - min(starts))
    assert achieved >= 0.97 * rate
    assert achieved == pytest.approx(rate / (1 + MARGIN), rel=0.01)


async def test_throttle_slows_to_what_june_admitted() -> None:
    """A 429 lowers the rate to just under the starts June admitted in the second before it."""
    fake = FakeTime()
    pacer = Pacer(30, clock=fake.clock, sleep=fake.sleep)
    for _ in range(20):
        await fake.drive(pacer.acquire())
        pacer.admitted()
    started = await fake.drive(pacer.acquire())
    pacer.throttled(started, retry_after=None)
    assert started - 1.0 < 1000.0  # the 20 admitted starts fit in under a second at 30/s
    assert pacer.rate == pytest.approx(BACKOFF * 20 * (1 + MARGIN))


async def test_throttle_reacts_once_per_congestion() -> None:
    """429s for requests started before the last slow-down do not slow it down again."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    early = [await fake.drive(pacer.acquire()) for _ in range(10)]
    pacer.throttled(early[0], retry_after=0)
    slowed = pacer.rate
    for started in early[1:]:
        pacer.throttled(started, retry_after=0)
    assert pacer.rate == slowed < 100
    later = await fake.drive(pacer.acquire())
    pacer.throttled(later, retry_after=0)
    assert pacer.rate < slowed


async def test_throttle_at_most_quarters() -> None:
    """With nothing admitted lately, one 429 cuts the rate to a quarter rather than stopping it."""
    fake = FakeTime()
    pacer = Pacer(40, clock=fake.clock, sleep=fake.sleep)
    pacer.throttled(await fake.drive(pacer.acquire()), retry_after=0)
    assert pacer.rate == 40 * FLOOR


async def test_retry_after_pauses_every_start() -> None:
    """After a 429 with Retry-After, no request starts before that time has passed."""
    fake = FakeTime()
    pacer = Pacer(50, clock=fake.clock, sleep=fake.sleep)
    started = await fake.drive(pacer.acquire())
    pacer.throttled(started, retry_after=7)
    throttled_at = fake.now
    assert await fake.drive(pacer.acquire()) >= throttled_at + 7


async def test_rate_creeps_back_but_never_above_max() -> None:
    """After a quiet spell the rate climbs back to --rate, and stays there."""
    fake = FakeTime()
    pacer = Pacer(20, clock=fake.clock, sleep=fake.sleep)
    pacer.throttled(await fake.drive(pacer.acquire()), retry_after=0)
    low = pacer.rate
    for _ in range(2000):
        await fake.drive(pacer.acquire())
        pacer.admitted()
    assert low < pacer.rate == 20


async def test_no_burst_when_a_pause_ends() -> None:
    """Requests that waited out a Retry-After start spaced at the new rate, not all at once."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    starts: list[float] = []

    async def worker() -> None:
        for _ in range(10):
            started = await pacer.acquire()
            starts.append(started)
            if len(starts) == 30:
                pacer.throttled(started, retry_after=1)

    await fake.drive(asyncio.gather(*(worker() for _ in range(16))))
    after = sorted(starts[30:])
    assert after[0] >= starts[29] + 1
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert min(gaps) >= (1 + MARGIN) / pacer.rate - CATCH_UP - 1e-9


async def _hit_limit(fake: FakeTime, pacer: Pacer, starts: int) -> None:
    """``starts`` requests as fast as the pacer allows, the last one answered 429."""
    for _ in range(starts - 1):
        await fake.drive(pacer.acquire())
        pacer.admitted()
    pacer.throttled(await fake.drive(pacer.acquire()), retry_after=0)


async def test_quiet_spell_doubles_when_the_same_limit_is_found_again() -> None:
    """Each 429 at the ceiling found before makes the rate wait twice as long to creep up."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    await _hit_limit(fake, pacer, 51)
    fake.now += QUIET + 0.1
    low = pacer.rate
    pacer.admitted()
    assert pacer.rate > low  # first time: creeps after QUIET
    await _hit_limit(fake, pacer, 51)
    low = pacer.rate
    fake.now += QUIET + 0.1
    pacer.admitted()
    assert pacer.rate == low  # the same ceiling again: QUIET is not enough any more
    fake.now += QUIET
    pacer.admitted()
    assert pacer.rate > low
    for _ in range(10):
        await _hit_limit(fake, pacer, 51)
    low = pacer.rate
    fake.now += MAX_QUIET + 0.1
    pacer.admitted()
    assert pacer.rate > low  # never waits longer than MAX_QUIET


async def test_quiet_spell_resets_when_the_limit_moves() -> None:
    """A 429 at a clearly different rate is a new limit: creep again after QUIET."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    await _hit_limit(fake, pacer, 51)
    fake.now += 2  # the last second holds no starts from the first round
    await _hit_limit(fake, pacer, 51)
    fake.now += 2
    await _hit_limit(fake, pacer, 21)
    low = pacer.rate
    fake.now += QUIET + 0.1
    pacer.admitted()
    assert pacer.rate > low


async def test_window_counts_requests_by_when_they_left() -> None:
    """A request whose bytes left late holds its place in the 1-second window from then."""
    fake = FakeTime()
    pacer = Pacer(10, clock=fake.clock, sleep=fake.sleep)
    await fake.drive(pacer.acquire(tracked=True))
    fake.now += 0.5
    left = fake.now
    pacer.on_the_wire()  # the event loop stalled: its bytes left half a second late
    for _ in range(9):
        await fake.drive(pacer.acquire(tracked=True))
        pacer.on_the_wire()
    assert await fake.drive(pacer.acquire(tracked=True)) >= left + WINDOW


async def test_requests_not_yet_sent_count_as_leaving_now() -> None:
    """Admitted requests still on their way out fill the window until they leave."""
    fake = FakeTime()
    pacer = Pacer(5, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        await fake.drive(pacer.acquire(tracked=True))

    async def sixth() -> tuple[bool, float]:
        waiting = asyncio.ensure_future(pacer.acquire(tracked=True))
        await fake.sleep(3)
        blocked = not waiting.done()
        for _ in range(5):
            pacer.on_the_wire()
        return blocked, await waiting

    blocked, started = await fake.drive(sixth())
    assert blocked
    assert started >= 1003 + WINDOW


async def test_retrier_tells_the_pacer_when_a_request_left() -> None:
    """Retrier.call passes ON_THE_WIRE to the client, and counts a request once either way."""
    fake = FakeTime()
    pacer = Pacer(2, clock=fake.clock, sleep=fake.sleep)
    retrier = Retrier(pacer, max_attempts=1, tally=Tally(total=3))

    async def stalled_send() -> Answer:
        await fake.sleep(0.6)
        hook = ON_THE_WIRE.get()
        assert hook is not None
        hook()
        hook()  # aiohttp may report one body twice: counted once
        return Answer(200)

    await fake.drive(retrier.call(stalled_send))
    left = fake.now
    await fake.drive(retrier.call(Script(200)))  # no hook called: counted when it returns
    assert await fake.drive(pacer.acquire()) >= left + WINDOW


def test_backoff_is_capped_full_jitter() -> None:
    """Backoff waits are random between zero and a doubling, capped bound."""
    for attempt, bound in [(1, 0.5), (2, 1.0), (4, 4.0), (10, 30.0)]:
        waits = [backoff(attempt) for _ in range(500)]
        assert min(waits) >= 0
        assert max(waits) <= bound
        assert max(waits) > bound / 2


def test_rate_must_be_positive() -> None:
    """A zero or negative rate is refused with a plain sentence."""
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)


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


async def call(send: Script, max_attempts: int = 4, stopping: bool = False) -> tuple[Answer, int]:
    """Run one Retrier.call on virtual time."""
    fake = FakeTime()
    retrier = Retrier(Pacer(1000, clock=fake.clock, sleep=fake.sleep),
                      max_attempts=max_attempts, tally=Tally(total=1), stopping=lambda: stopping)
    return await fake.drive(retrier.call(send))


@pytest.mark.parametrize(("statuses", "status", "attempts"), [
    ((200,), 200, 1),
    ((503, 500, 200), 200, 3),
    ((None, 408, 502, 200), 200, 4),
    ((400,), 400, 1),
    ((404,), 404, 1),
    ((409,), 409, 1),
    ((422,), 422, 1),
    ((503, 422), 422, 2),
    ((401,), 401, 1),
    ((503, 403), 403, 2),
])
async def test_retries_transient_and_stops_on_final(
        statuses: tuple[int | None, ...], status: int, attempts: int) -> None:
    """Transient failures are retried; 2xx, 4xx and auth answers end the call at once."""
    send = Script(*statuses)
    answer, used = await call(send)
    assert (answer.status, used, send.sent) == (status, attempts, attempts)


async def test_gives_up_after_max_attempts() -> None:
    """A call that keeps failing transiently stops after --max-attempts requests."""
    send = Script(503)
    answer, used = await call(send, max_attempts=3)
    assert (answer.status, used, send.sent) == (503, 3, 3)


async def test_throttles_do_not_use_up_attempts() -> None:
    """429s wait for the pacer and are retried beyond --max-attempts, up to their own cap."""
    send = Script(429, 429, 429, 429, 200, retry_after=0)
    answer, used = await call(send, max_attempts=2)
    assert (answer.status, used) == (200, 5)
    endless = Script(429, retry_after=0)
    answer, used = await call(endless, max_attempts=2)
    assert (answer.status, used) == (429, 8)


async def test_stopping_ends_retries() -> None:
    """When the job is stopping, a transient failure is not retried."""
    send = Script(503, 200)
    answer, used = await call(send, stopping=True)
    assert (answer.status, used) == (503, 1)


async def test_a_storm_that_never_ends_gives_up_after_storm_seconds() -> None:
    """Nothing but 429s (Retry-After 30 s) for STORM seconds: the call gives up before its cap."""
    fake = FakeTime()
    pacer = Pacer(10, clock=fake.clock, sleep=fake.sleep)
    retrier = Retrier(pacer, max_attempts=6, tally=Tally(total=1))
    begun = fake.now
    answer, used = await fake.drive(retrier.call(Script(429, retry_after=30)))
    assert answer.status == 429
    assert used < THROTTLES_PER_ATTEMPT * 6
    assert STORM < fake.now - begun <= STORM + 31


async def test_slowing_down_never_goes_above_a_low_rate() -> None:
    """With --rate below the adaptive floor, a 429 never raises the rate above --rate."""
    fake = FakeTime()
    pacer = Pacer(0.5, clock=fake.clock, sleep=fake.sleep)
    pacer.throttled(await fake.drive(pacer.acquire()), retry_after=0)
    assert pacer.rate == 0.5

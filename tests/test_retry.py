"""The retrier: what is retried, what is final, and how long it keeps trying, on virtual time."""

from __future__ import annotations

import pytest

from bulk_delete.answers import Answer
from bulk_delete.pacing import Pacer
from bulk_delete.progress import Tally
from bulk_delete.ratelimit import Quota
from bulk_delete.retry import Retrier, backoff
from bulk_delete.tuning import TUNING
from bulk_delete.wire import ON_THE_WIRE
from tests.fakes import FakeTime, Script


async def test_retrier_tells_the_pacer_when_a_request_left() -> None:
    """Retrier.call passes ON_THE_WIRE to the client, and counts a request once either way."""
    fake = FakeTime()
    pacer = Pacer(2, clock=fake.clock, sleep=fake.sleep)
    retrier = Retrier(pacer, max_attempts=1, events=Tally(total=3))

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
    assert await fake.drive(pacer.acquire()) >= left + TUNING.window


def test_backoff_is_capped_full_jitter() -> None:
    """Backoff waits are random between zero and a doubling, capped bound."""
    for attempt, bound in [(1, 0.5), (2, 1.0), (4, 4.0), (10, 30.0)]:
        waits = [backoff(attempt, base=0.5, cap=30.0) for _ in range(500)]
        assert min(waits) >= 0
        assert max(waits) <= bound
        assert max(waits) > bound / 2


async def call(send: Script, max_attempts: int = 4, stopping: bool = False) -> tuple[Answer, int]:
    """Run one Retrier.call on virtual time."""
    fake = FakeTime()
    retrier = Retrier(Pacer(1000, clock=fake.clock, sleep=fake.sleep),
                      max_attempts=max_attempts, events=Tally(total=1), stopping=lambda: stopping)
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
    """Nothing but 429s (Retry-After 30 s) for the storm time: the call gives up before its cap."""
    fake = FakeTime()
    pacer = Pacer(10, clock=fake.clock, sleep=fake.sleep)
    retrier = Retrier(pacer, max_attempts=6, events=Tally(total=1))
    begun = fake.now
    answer, used = await fake.drive(retrier.call(Script(429, retry_after=30)))
    assert answer.status == 429
    assert used < TUNING.throttles_per_attempt * 6
    assert TUNING.storm < fake.now - begun <= TUNING.storm + 31




async def test_the_retrier_tells_the_pacer_what_june_states() -> None:
    """Every answer's quota reaches the pacer: a stated limit becomes its ceiling."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    retrier = Retrier(pacer, max_attempts=2, events=Tally(total=1))
    await fake.drive(retrier.call(Script(200, quota=Quota(limit=20, window=1, remaining=19))))
    assert pacer.ceiling == 20


async def test_a_429_without_retry_after_waits_for_the_quota_reset() -> None:
    """A 429 whose headers give no Retry-After but a reset 5 s away: the retry waits 5 s."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    retrier = Retrier(pacer, max_attempts=2, events=Tally(total=1))
    begun = fake.now
    send = Script(429, 200, quota=Quota(limit=50, window=60, remaining=0, reset=5))
    answer, used = await fake.drive(retrier.call(send))
    assert (answer.status, used) == (200, 2)
    assert fake.now - begun >= 5


"""The pacer's promises, checked on a fake clock that only moves when someone sleeps."""

from __future__ import annotations

import asyncio
import bisect
import itertools
from typing import TypeVar

import pytest

from bulk_delete.pacing import TUNING, Pacer
from tests.fakes import FakeTime

T = TypeVar("T")


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
    assert min(gaps) >= (1 + TUNING.margin) / 10 - TUNING.catch_up - 1e-9


@pytest.mark.parametrize("rate", [10, 1000])
async def test_sustains_at_least_97_percent_of_rate(rate: int) -> None:
    """Over many requests the pacer keeps close to the rate it is allowed."""
    fake = FakeTime()
    pacer = Pacer(rate, clock=fake.clock, sleep=fake.sleep)
    starts = await run_workers(fake, pacer, workers=16, per_worker=rate // 2)
    achieved = (len(starts) - 1) / (max(starts) - min(starts))
    assert achieved >= 0.97 * rate
    assert achieved == pytest.approx(rate / (1 + TUNING.margin), rel=0.01)


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
    assert pacer.rate == pytest.approx(TUNING.backoff * 20 * (1 + TUNING.margin))


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
    assert pacer.rate == 40 * TUNING.floor


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
    assert min(gaps) >= (1 + TUNING.margin) / pacer.rate - TUNING.catch_up - 1e-9


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
    fake.now += TUNING.quiet + 0.1
    low = pacer.rate
    pacer.admitted()
    assert pacer.rate > low  # first time: creeps after TUNING.quiet
    await _hit_limit(fake, pacer, 51)
    low = pacer.rate
    fake.now += TUNING.quiet + 0.1
    pacer.admitted()
    assert pacer.rate == low  # the same ceiling again: TUNING.quiet is not enough any more
    fake.now += TUNING.quiet
    pacer.admitted()
    assert pacer.rate > low
    for _ in range(10):
        await _hit_limit(fake, pacer, 51)
    low = pacer.rate
    fake.now += TUNING.max_quiet + 0.1
    pacer.admitted()
    assert pacer.rate > low  # never waits longer than TUNING.max_quiet


async def test_quiet_spell_resets_when_the_limit_moves() -> None:
    """A 429 at a clearly different rate is a new limit: creep again after TUNING.quiet."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    await _hit_limit(fake, pacer, 51)
    fake.now += 2  # the last second holds no starts from the first round
    await _hit_limit(fake, pacer, 51)
    fake.now += 2
    await _hit_limit(fake, pacer, 21)
    low = pacer.rate
    fake.now += TUNING.quiet + 0.1
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
    assert await fake.drive(pacer.acquire(tracked=True)) >= left + TUNING.window


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
    assert started >= 1003 + TUNING.window


def test_rate_must_be_positive() -> None:
    """A zero or negative rate is refused with a plain sentence."""
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)


async def test_slowing_down_never_goes_above_a_low_rate() -> None:
    """With --rate below the adaptive floor, a 429 never raises the rate above --rate."""
    fake = FakeTime()
    pacer = Pacer(0.5, clock=fake.clock, sleep=fake.sleep)
    pacer.throttled(await fake.drive(pacer.acquire()), retry_after=0)
    assert pacer.rate == 0.5

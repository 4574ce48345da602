"""The pacer's promises, checked on a fake clock that only moves when someone sleeps."""

from __future__ import annotations

import asyncio
import bisect
import itertools
from typing import TypeVar

import pytest

from bulk_delete.pacing import Pacer
from bulk_delete.ratelimit import Quota
from bulk_delete.sandbox.config import LimiterKind
from bulk_delete.sandbox.limits import Limiter, make_limiter
from bulk_delete.tuning import TUNING
from bulk_delete.window_fit import Answers
from tests.fakes import FakeTime, Replayed, replay

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


async def _hit_limit(fake: FakeTime, pacer: Pacer, starts: int, retry_after: float = 0) -> None:
    """``starts`` requests as fast as the pacer allows, the last one answered 429."""
    for _ in range(starts - 1):
        await fake.drive(pacer.acquire())
        pacer.admitted()
    pacer.throttled(await fake.drive(pacer.acquire()), retry_after=retry_after)


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


async def test_a_stated_limit_is_the_ceiling() -> None:
    """June states 100 per 60 s: starts are spaced for 100/60 per second, whatever --rate."""
    fake = FakeTime()
    pacer = Pacer(30, clock=fake.clock, sleep=fake.sleep)
    pacer.told(Quota(limit=100, window=60, remaining=99, reset=60))
    assert pacer.ceiling == pacer.rate == pytest.approx(100 / 60)
    starts = await run_workers(fake, pacer, workers=8, per_worker=20)
    assert (len(starts) - 1) / (max(starts) - min(starts)) <= 100 / 60
    assert str(pacer.stated) == "100 per 60 s"


async def test_a_stated_one_second_limit_caps_every_window() -> None:
    """Under a stated 50 per second, no 1-second window holds more than 50, even with late
    sleeps, though --rate allows 300."""
    fake = FakeTime(overshoot=0.05)
    pacer = Pacer(300, clock=fake.clock, sleep=fake.sleep)
    pacer.told(Quota(limit=50, window=1))
    starts = await run_workers(fake, pacer, workers=16, per_worker=20)
    assert max_in_window(starts) <= 50
    assert max_in_window(starts) >= 45  # and it does not fall far short of the limit


async def test_a_stated_limit_never_raises_the_rate_above_rate() -> None:
    """A limit above --rate leaves the ceiling at --rate."""
    pacer = Pacer(10)
    pacer.told(Quota(limit=1000, window=1))
    assert pacer.ceiling == pacer.rate == 10


async def test_a_limit_without_a_window_counts_over_the_longest_reset() -> None:
    """X-RateLimit-* state no window: one second at least, or the longest reset seen."""
    short = Pacer(100)
    short.told(Quota(limit=50, remaining=3, reset=1))
    assert short.ceiling == 50
    hourly = Pacer(100)
    hourly.told(Quota(limit=5000, remaining=4999, reset=3599))
    assert hourly.ceiling == pytest.approx(5000 / 3599)
    hourly.told(Quota(limit=5000, remaining=4000, reset=2000))
    assert hourly.ceiling == pytest.approx(5000 / 3599)  # a later, shorter reset: same window


async def test_a_raised_limit_lifts_a_rate_that_was_at_the_old_one() -> None:
    """A rate held only by the stated limit follows it up; one lowered by 429s does not jump."""
    pacer = Pacer(100)
    pacer.told(Quota(limit=20, window=1))
    pacer.told(Quota(limit=40, window=1))
    assert pacer.rate == 40
    fake = FakeTime()
    throttled = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    throttled.told(Quota(limit=20, window=1))
    throttled.throttled(await fake.drive(throttled.acquire()), retry_after=0)
    low = throttled.rate
    throttled.told(Quota(limit=40, window=1))
    assert throttled.rate == low < 20


async def test_nothing_remaining_pauses_until_the_reset() -> None:
    """Remaining 0 with 7 s to the reset of a 60-second window: no start for 7 s."""
    fake = FakeTime()
    pacer = Pacer(10, clock=fake.clock, sleep=fake.sleep)
    await fake.drive(pacer.acquire())
    told_at = fake.now
    pacer.told(Quota(limit=100, window=60, remaining=0, reset=7))
    assert await fake.drive(pacer.acquire()) >= told_at + 7


async def test_nothing_remaining_pauses_at_most_max_pause() -> None:
    """A reset an hour away pauses for max_pause, like a capped Retry-After."""
    fake = FakeTime()
    pacer = Pacer(10, clock=fake.clock, sleep=fake.sleep)
    told_at = fake.now
    pacer.told(Quota(remaining=0, reset=3600))
    started = await fake.drive(pacer.acquire())
    assert told_at + TUNING.max_pause <= started < told_at + TUNING.max_pause + 1


async def test_nothing_remaining_in_a_one_second_window_waits_only_for_the_cap() -> None:
    """Remaining 0 under a 1-second window (the sliding window at the limit says so at every
    answer): no pause of a rounded-up second; the window cap alone spaces the next start."""
    fake = FakeTime()
    pacer = Pacer(50, clock=fake.clock, sleep=fake.sleep)
    starts = [await fake.drive(pacer.acquire()) for _ in range(3)]
    pacer.told(Quota(limit=50, window=1, remaining=0, reset=1))
    starts.append(await fake.drive(pacer.acquire()))
    assert starts[-1] - starts[-2] < 0.1


async def test_a_refused_answer_does_not_pause_through_its_quota() -> None:
    """A 429's quota states the limit but leaves the pause to throttled() (Retry-After)."""
    fake = FakeTime()
    pacer = Pacer(10, clock=fake.clock, sleep=fake.sleep)
    told_at = fake.now
    pacer.told(Quota(limit=5, window=60, remaining=0, reset=30), refused=True)
    assert pacer.ceiling == pytest.approx(5 / 60)
    assert await fake.drive(pacer.acquire()) < told_at + 1


async def _starts(fake: FakeTime, pacer: Pacer, count: int) -> float:
    """``count`` starts as fast as the pacer allows, no answers yet; returns the last start."""
    return [await fake.drive(pacer.acquire()) for _ in range(count)][-1]


async def test_a_probe_that_finds_the_same_limit_returns_to_the_rate_that_held() -> None:
    """After a quiet spell the rate probes above the limit; a 429 that finds about the same
    limit (a fixed window lets a few more through in some seconds) sends it back to the rate
    that held under it, not to a higher guess from the probe's second."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    await _hit_limit(fake, pacer, 51)
    held = pacer.rate
    fake.now += TUNING.quiet + 0.1
    for _ in range(3):
        pacer.admitted()
        fake.now += 1
    assert pacer.rate == pytest.approx(held * TUNING.creep ** 3)  # probing
    pacer.throttled(await _starts(fake, pacer, 55), retry_after=0)  # 53 passed in a second
    assert pacer.rate == held


async def test_a_429_soon_after_a_cut_cuts_deeper() -> None:
    """A second 429 within ``hasty`` seconds of running at the rate the first one set: that
    rate was far too high (a fixed window's first 429 can overestimate twice): decrease x it."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    await _hit_limit(fake, pacer, 51)
    cut = pacer.rate
    pacer.throttled(await _starts(fake, pacer, 20), retry_after=0)
    assert pacer.rate == pytest.approx(TUNING.decrease * cut)


async def test_after_a_deep_cut_the_rate_climbs_back_quickly_to_under_what_failed() -> None:
    """After a deep cut the rate climbs by ``recover_creep`` a second once ``recover`` seconds
    passed, up to just under the rate that failed, and no further until the quiet spell."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    await _hit_limit(fake, pacer, 51, retry_after=1)
    failed = pacer.rate
    pacer.throttled(await _starts(fake, pacer, 51), retry_after=0)
    low = pacer.rate
    top = TUNING.backoff * failed
    fake.now += TUNING.recover + 0.1
    pacer.admitted()
    assert pacer.rate == pytest.approx(low * TUNING.recover_creep)
    for _ in range(10):
        fake.now += 1
        pacer.admitted()
    climbed = pacer.rate
    assert 0.95 * top < climbed <= top
    fake.now += 5
    pacer.admitted()
    assert pacer.rate == climbed  # no probing before the quiet spell


async def test_a_429_while_climbing_back_returns_to_the_last_step_that_held() -> None:
    """Climbing back after a deep cut, a 429 at one step sends the rate to the step before."""
    fake = FakeTime()
    pacer = Pacer(100, clock=fake.clock, sleep=fake.sleep)
    await _hit_limit(fake, pacer, 51, retry_after=1)
    pacer.throttled(await _starts(fake, pacer, 51), retry_after=0)
    fake.now += TUNING.recover + 0.1
    pacer.admitted()
    held = pacer.rate
    fake.now += 1
    pacer.admitted()
    assert pacer.rate > held
    pacer.throttled(await _starts(fake, pacer, 45), retry_after=0)
    assert pacer.rate == held


async def _limited_job(kind: LimiterKind, phase: float, *, limit: int = 50, seconds: float = 15,
                       offset: float = 0.0, overshoot: float = 0.0) -> tuple[Pacer, Replayed]:
    """A job at --rate 3x ``limit`` against the sandbox's ``kind`` limiter, which counts
    whole seconds of its clock; the job starts ``phase`` into one, and the pacer's clock
    reads ``offset`` more than the limiter's."""
    fake = FakeTime(overshoot=overshoot)
    fake.now += phase
    pacer = Pacer(3 * limit, clock=lambda: fake.now + offset, sleep=fake.sleep)
    job = await replay(fake, pacer, make_limiter(kind), limit, seconds=seconds,
                       workers=max(16, limit // 4), latency=0.05)
    return pacer, job


def _slowdowns(job: Replayed) -> list[float]:
    """When the rate went down."""
    return [t for (_, before), (t, after) in itertools.pairwise(job.rates) if after < before]


@pytest.mark.parametrize(("phase", "limit", "offset"), [
    (0.7, 50, 0.0), (0.8, 50, 0.0), (0.9, 50, 0.0), (0.95, 50, 0.0), (0.9, 200, 0.0),
    (0.9, 50, 0.37),
])
async def test_a_fixed_window_met_late_in_a_second_is_read_at_the_second_429(
        phase: float, limit: int, offset: float) -> None:
    """Started late in a clock second, the first burst straddles a fixed window's boundary
    and gets up to twice the limit through, so the first 429 overestimates it; the second
    429 reads it: from then on the job starts 0.93 to 1 times the limit a second and
    nothing more is refused. Nothing assumes June's seconds begin at the client's."""
    pacer, job = await _limited_job("fixed", phase, limit=limit, offset=offset)
    slowdowns = _slowdowns(job)
    assert len(slowdowns) == 2
    assert 0.93 * limit <= pacer.rate / (1 + TUNING.margin) <= limit
    assert job.count(admitted=False, since=slowdowns[-1] + offset) == 0


@pytest.mark.parametrize("kind", ["sliding", "strict"])
@pytest.mark.parametrize("phase", [0.0, 0.5, 0.9])
async def test_sliding_windows_are_read_at_the_first_429(kind: LimiterKind, phase: float) -> None:
    """A sliding second (or one counting refusals too) is read at the first 429, wherever in
    a second the job starts: one slow-down, to 0.95 to 1 times the limit."""
    pacer, job = await _limited_job(kind, phase)
    assert len(_slowdowns(job)) == 1
    assert 0.95 * 50 <= pacer.rate / (1 + TUNING.margin) <= 50


async def test_never_more_than_rate_in_any_second_against_a_fixed_window() -> None:
    """Finding a fixed window's limit never sends more than --rate in a second, even with
    sleeps up to 10 ms late."""
    _, job = await _limited_job("fixed", 0.9, overshoot=0.01)
    assert max_in_window([start for start, _ in job.answers]) <= 150


def _congest(answers: Answers, limiter: Limiter, start: float, rate: float) -> tuple[float, int]:
    """Starts every ``1 / rate`` seconds from ``start``, each reaching ``limiter`` (50 a
    second) 0.37 s later, until it refuses one: the refused start, and how many got through."""
    admitted, at = 0, start
    while limiter.admit(at + 0.37, 50) is None:
        answers.start(at)
        admitted, at = admitted + 1, at + 1 / rate
    answers.start(at)
    answers.refused(at)
    return at, admitted


def test_two_congestions_at_different_rates_give_a_fixed_windows_count() -> None:
    """One congestion fits both ways of counting; a second at another rate gives the
    count of a fixed window whose boundaries fall anywhere in the client's second."""
    answers, limiter = Answers(10.0, 1), make_limiter("fixed")
    first, through = _congest(answers, limiter, 1000.3, 150)
    assert through > 60  # the burst straddled a boundary
    assert answers.congestion(first) == (through, False)
    second, _ = _congest(answers, limiter, first + 1.05, 0.97 * through)
    count, fixed = answers.congestion(second)
    assert fixed
    assert count in (49, 50, 51)


def test_a_sliding_second_that_explains_the_429s_as_well_is_kept() -> None:
    """50 through at 150/s, then a stream at 49.5/s refused after 71 (jitter at a sliding
    second of 50): a fixed window of 35 fits these exactly too, but the sliding second
    fits as well, so it stands."""
    answers = Answers(10.0, 1)
    for i in range(51):
        answers.start(1000 + i / 150)
    answers.refused(1000 + 50 / 150)
    assert answers.congestion(1000 + 50 / 150) == (50, False)
    stream = [1001.4 + i / 49.5 for i in range(72)]
    for at in stream:
        answers.start(at)
    answers.refused(stream[-1])
    held = sum(stream[-1] - 1 <= at < stream[-1] for at in stream)
    assert answers.congestion(stream[-1]) == (held, False)


def test_congestions_with_nothing_started_the_second_before_are_read_as_they_come() -> None:
    """At a rate of one request a second or less, the second before a 429 may hold no other
    start: there is no window to count, and the count read is what that second held."""
    answers = Answers(10.0, 1)
    answers.start(1000.0)
    for first in (1002.0, 1004.0):
        answers.start(first)
        answers.refused(first)
        assert answers.congestion(first) == (0, False)

"""Requests in flight on virtual time: auto keeps --rate whatever June's latency, up to its
cap; a number stays fixed; and a rate not reached is blamed on what the run measured."""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass
from pathlib import Path

import pytest

from bulk_delete.holdback import JUDGED, Holdback, Pace, describe_pace, pace_brief
from bulk_delete.journal import Journal
from bulk_delete.listing import Listing
from bulk_delete.pacing import Pacer
from bulk_delete.progress import Tally
from bulk_delete.ratelimit import Limit, Quota
from bulk_delete.submit import Submitter
from bulk_delete.tuning import SIZING
from bulk_delete.types import Concurrency
from tests.fakes import FakeJune, FakeTime


@dataclass
class Sample:
    """The pool a second into the job: its limit, its workers, and the tally's recent pace."""

    second: float
    limit: int
    workers: int
    pace: Pace | None


@dataclass
class Ran:
    submitter: Submitter
    june: FakeJune
    samples: list[Sample]

    @property
    def pace(self) -> Pace:
        assert self.submitter.tally.pace is not None
        return self.submitter.tally.pace


async def submit(tmp_path: Path, *, rate: float, latency: float, ids: int,
                 concurrency: Concurrency = "auto", june: FakeJune | None = None,
                 changes: tuple[tuple[float, float], ...] = (), overshoot: float = 0.0) -> Ran:
    """Submit ``ids`` IDs at ``rate`` to a June answering in ``latency`` seconds, on virtual
    time whose sleeps last up to ``overshoot`` longer; ``changes`` sets June's latency to L at
    second S, for each (S, L)."""
    time = FakeTime(overshoot=overshoot)
    june = june or FakeJune()
    june.time, june.latency = time, latency
    journal = Journal.open(tmp_path / "journal.tsv")
    submitter = Submitter(june, Pacer(rate, clock=time.clock, sleep=time.sleep), journal,
                          concurrency=concurrency, max_attempts=3, tally=Tally(total=ids),
                          clock=time.clock, cpu=time.process_time)
    began, samples = time.now, []

    async def watch() -> None:
        pending = list(changes)
        while True:
            await time.sleep(1.0)
            while pending and time.now - began >= pending[0][0]:
                june.latency = pending.pop(0)[1]
            samples.append(Sample(time.now - began, submitter.flow.limit(),
                                  submitter.flow.workers, submitter.tally.pace))

    watching = asyncio.ensure_future(watch())
    await time.drive(submitter.run(f"u{i:05d}" for i in range(ids)))
    watching.cancel()
    journal.close()
    return Ran(submitter, june, samples)


def busiest_second(times: list[float]) -> int:
    """The most arrivals inside any half-open window [t, t + 1 s)."""
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


@pytest.mark.parametrize(("rate", "latency"), [(100, 0.5), (50, 2.0)])
async def test_auto_keeps_the_rate_when_june_is_slow(tmp_path: Path, rate: int,
                                                     latency: float) -> None:
    """0.5 s at 100/s and 2 s at 50/s: the pool grows to rate x latency and beyond, the
    rate is reached, never exceeded, and nothing is said to hold it down."""
    ran = await submit(tmp_path, rate=rate, latency=latency, ids=rate * 20)
    pace = ran.pace
    assert pace.rate >= 0.95 * rate
    assert pace.held_down_by() == ()
    assert rate * latency * 0.9 <= pace.peak <= SIZING.cap  # 16 in flight could never do it
    assert busiest_second(ran.june.arrivals) <= rate
    assert len(set(ran.june.posts)) == len(ran.june.posts) == rate * 20
    assert "auto, at most" in describe_pace(pace)


async def test_auto_follows_latency_up_and_down(tmp_path: Path) -> None:
    """June slows from 0.2 s to 2 s, then recovers: the pool grows at once and keeps the rate,
    then shrinks back to its least once answers are fast again."""
    ran = await submit(tmp_path, rate=50, latency=0.2, ids=3000,
                       changes=((15.0, 2.0), (35.0, 0.2)))
    fast, slow, again = ([s for s in ran.samples if lo <= s.second < hi]
                         for lo, hi in ((5, 15), (20, 35), (45, 58)))
    assert all(s.workers <= SIZING.least * (1 + SIZING.slack) + 1 for s in fast)
    assert all(s.limit >= 50 * 2.0 and s.workers >= 50 * 2.0 for s in slow)
    assert all(s.workers <= SIZING.least * (1 + SIZING.slack) + 1 for s in again)
    recent = [s.pace for s in ran.samples if 5 <= s.second < 58]
    assert all(p is not None and p.rate >= 0.95 * 50 for p in recent)  # at every step
    assert ran.pace.held_down_by() == ()


async def test_auto_stops_at_the_cap_and_says_so(tmp_path: Path) -> None:
    """4 s at 100/s needs 400 in flight: auto stops at its cap, and the summary and the
    progress line blame latency at the cap, with the rate the cap carries."""
    ran = await submit(tmp_path, rate=100, latency=4.0, ids=2000)
    assert max(s.workers for s in ran.samples) == SIZING.cap
    assert ran.pace.peak == SIZING.cap
    assert ran.pace.held_down_by() == (Holdback.IN_FLIGHT,)
    assert 0.9 * SIZING.cap / 4.0 <= ran.pace.rate < 0.95 * 100
    assert ("held down by latency at the cap: June answered in 4.00 s on average, so 256 in "
            "flight carry 64/s (the cap)") in describe_pace(ran.pace)
    during = ran.samples[10].pace
    assert during is not None
    assert pace_brief(during) == "in flight 256 of 256 · held down by latency at the cap"


async def test_a_fixed_concurrency_stays_fixed(tmp_path: Path) -> None:
    """--concurrency 16 at 0.5 s keeps 16 workers whatever the latency, carries 32/s of the
    100 asked, and the progress line and the summary name it."""
    ran = await submit(tmp_path, rate=100, latency=0.5, ids=1000, concurrency=16)
    sending = [s for s in ran.samples if s.second < 30]
    assert {s.workers for s in sending} == {16}
    assert ran.pace.peak == 16
    assert ran.pace.held_down_by() == (Holdback.IN_FLIGHT,)
    assert describe_pace(ran.pace) == (
        "32.1/s of --rate 100 over 31.1 s of sending, held down by --concurrency 16: June "
        "answered in 0.50 s on average, so 16 in flight carry 32/s (--concurrency auto sizes it "
        "from latency)")
    during = sending[10].pace
    assert during is not None
    assert pace_brief(during).endswith("held down by --concurrency 16")
    assert ran.submitter.tally.snapshot()["held_down_by"] == ["in_flight"]


async def test_429s_are_blamed_on_june(tmp_path: Path) -> None:
    """Answers 429: June's limit held the rate down, with the count of 429s as evidence."""
    june = FakeJune(answers={f"u{i:05d}": [429, 200] for i in range(0, 1000, 25)})
    ran = await submit(tmp_path, rate=100, latency=0.05, ids=1000, june=june)
    assert ran.pace.held_down_by() == (Holdback.LIMIT,)
    assert f"June's limit (429s): {ran.pace.throttled} answers were 429" in describe_pace(ran.pace)
    assert ran.pace.throttled > 0


async def test_a_stated_limit_below_the_rate_is_blamed_on_june(tmp_path: Path) -> None:
    """June states 20 a second in its headers: the pacer keeps under it and the summary says so."""
    june = FakeJune(quota=Quota(limit=20, window=1.0, remaining=10, reset=0.5))
    ran = await submit(tmp_path, rate=100, latency=0.05, ids=200, june=june)
    assert ran.pace.held_down_by() == (Holdback.STATED,)
    assert "held down by June's stated limit of 20 per 1 s" in describe_pace(ran.pace)


async def test_a_busy_client_is_blamed_on_itself_not_on_the_pool(tmp_path: Path) -> None:
    """Each request costs 20 ms of the event loop: 50/s at most. The loop's lateness is the
    evidence; the workers it keeps busy are not blamed, nor are more of them started (their
    answers, read late, look slow)."""
    june = FakeJune(cpu=0.02)
    ran = await submit(tmp_path, rate=100, latency=0.01, ids=1000, june=june)
    assert max(s.workers for s in ran.samples) <= SIZING.growth * SIZING.least
    assert ran.pace.rate < 0.6 * 100
    assert ran.pace.held_down_by() == (Holdback.CLIENT,)
    assert "held down by this client (CPU): its event loop ran" in describe_pace(ran.pace)


async def test_a_late_event_loop_alone_does_not_stop_auto(tmp_path: Path) -> None:
    """Every sleep lasts up to 50 ms longer (a machine busy with other work) while the client
    spends no CPU of its own: auto grows all the same, and the rate is kept."""
    ran = await submit(tmp_path, rate=100, latency=0.5, ids=1500, overshoot=0.05)
    assert ran.pace.lag > 0.02
    assert ran.pace.rate >= 0.95 * 100
    assert ran.pace.held_down_by() == ()


def pace(**changes: object) -> Pace:
    """A pace of 10 s at 98/s of 100 that nothing held down; ``changes`` make it otherwise."""
    fields: dict[str, object] = {
        "seconds": 10.0, "rate": 98.0, "asked": 100.0, "stated": None, "throttled": 0,
        "latency": 0.1, "full": 0.0, "lag": 0.001, "cpu": 0.2, "limit": 16, "in_flight": 10,
        "peak": 12,
        "fixed": None, "cap": 256}
    return Pace(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "causes", "words"), [
    ({}, (), "98.0/s of --rate 100 over 10.0 s of sending; auto, at most 12 in flight, June "
             "answered in 0.10 s on average"),
    ({"latency": 0.004}, (), "June answered in 4 ms on average"),
    ({"rate": 50.0, "seconds": JUDGED - 0.1}, (), "too short to judge against --rate 100"),
    ({"rate": 50.0}, (), "held down by nothing this run measured (no 429s, a worker free when "
                         "the pacer allowed a start, the event loop on time)"),
    ({"rate": 50.0, "throttled": 3, "stated": Limit(60, 1.0)},
     (Holdback.LIMIT, Holdback.STATED), "answers were 429 Too Many Requests; June's stated limit"),
    ({"rate": 50.0, "stated": Limit(600, 1.0)}, (), "nothing this run measured"),
    ({"rate": 50.0, "full": 0.5, "limit": 40},
     (Holdback.IN_FLIGHT,), "held down by requests in flight: every worker was busy 50% of the "
                            "time; June answered in 0.10 s on average, so 40 in flight carry "
                            "400/s"),
    ({"rate": 50.0, "full": 0.5, "lag": 0.05}, (Holdback.CLIENT,), "ran 50 ms late on average"),
    ({"rate": 50.0, "cpu": 0.95}, (Holdback.CLIENT,), "ms late on average, using 95% of a CPU"),
])
def test_what_a_pace_blames(changes: dict[str, object], causes: tuple[Holdback, ...],
                            words: str) -> None:
    """Each cause needs its evidence; a short window or a rate reached blames nothing."""
    judged = pace(**changes)
    assert judged.held_down_by() == causes
    assert words in describe_pace(judged)


@pytest.mark.parametrize(("window", "pages_per_second"), [("auto", 100), (16, 16)])
async def test_the_listing_reads_ahead_as_latency_needs_under_auto(
        window: Concurrency, pages_per_second: float) -> None:
    """Pages answered in 1 s at --rate 100: under auto the read comes to keep ~100 pages in
    flight (doubling up to it: never more than twice the pages read) and reads at the rate;
    a fixed window of 16 reads 16 pages a second."""
    time = FakeTime()
    june = FakeJune(listed=[f"u{i:05d}" for i in range(10_000)], page_size=10, time=time,
                    latency=1.0)
    listing = Listing(june, Pacer(100, clock=time.clock, sleep=time.sleep), kind="user",
                      auth_style="raw", max_attempts=2, window=window)
    found = await time.drive(listing.read())
    assert found.frame.height == 10_000
    assert found.stops == ()
    later = june.arrivals[len(june.arrivals) // 2:]  # once the doubling is over
    per_second = (len(later) - 1) / (later[-1] - later[0])
    assert per_second == pytest.approx(pages_per_second, rel=0.05)

"""Adaptive pacing on virtual time: the share of an unstated limit kept, by start phase.

    .venv/bin/python bench/adaptive_phases.py                      # limit 50, --rate 150, 30 s
    .venv/bin/python bench/adaptive_phases.py --limit 200 --phases 40

``bench/adaptive.py`` measures the real CLI against the real sandbox, so each run starts
wherever in the clock second it happens to start. Against a limiter that counts whole clock
seconds, that moment decides the result: a first burst that straddles a second boundary gets
up to twice the limit through before the first 429. This script replays the same job without
sockets or a wall clock: the real :class:`~bulk_delete.pacing.Pacer` on virtual time
(``tests/fakes.FakeTime``), ``--workers`` requests in flight, each reaching the sandbox's own
limiter (``bulk_delete.sandbox.limits``) after half the latency and answered after the other
half, a 429 honouring the sandbox's Retry-After. It starts the job at ``--phases`` evenly
spaced moments of a clock second and prints, per limiter, what share of the limit each
start kept and the share of requests refused. The same inputs give the same figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from harness import ROOT, Figure, at_least, at_most, little, report

sys.path.insert(0, str(ROOT))  # tests.fakes: the virtual clock the pacing tests use

from bulk_delete.pacing import Pacer
from bulk_delete.sandbox.config import LimiterKind
from bulk_delete.sandbox.limits import make_limiter
from tests.fakes import FakeTime, replay

KINDS: tuple[LimiterKind, ...] = ("sliding", "strict", "fixed")


async def one_job(kind: LimiterKind, phase: float, *, limit: int, rate: float, seconds: float,
                  workers: int, latency: float) -> tuple[float, float]:
    """Throughput ÷ limit, and 429s ÷ requests, of one job started ``phase`` into a second."""
    time = FakeTime()
    time.now += phase
    pacer = Pacer(rate, clock=time.clock, sleep=time.sleep)
    job = await replay(time, pacer, make_limiter(kind), limit, seconds=seconds,
                       workers=workers, latency=latency)
    admitted = job.count(admitted=True)
    return admitted / seconds / limit, 1 - admitted / len(job.answers)


#: The target: from any start moment, at least this share of the real limit, at most this
#: share of 429s.
MIN_THROUGHPUT = 0.93
MAX_THROTTLED = 0.05


def measure(limit: int, rate: float, seconds: float, phases: int, workers: int,
            latency: float, *, by_start: bool = False) -> list[Figure]:
    figures = []
    for kind in KINDS:
        results = [asyncio.run(one_job(kind, i / phases, limit=limit, rate=rate,
                                       seconds=seconds, workers=workers, latency=latency))
                   for i in range(phases)]
        kept = [share for share, _ in results]
        case = (f"{kind} limit {limit}, --rate {rate:g}, {latency * 1000:g} ms, c {workers}, "
                f"{phases} starts")
        figures += [
            Figure("adaptive phases", case, "throughput ÷ limit", kept,
                   f">= {MIN_THROUGHPUT:.2f}", at_least(MIN_THROUGHPUT)),
            Figure("adaptive phases", case, f"starts below {MIN_THROUGHPUT:.2f}",
                   [sum(k < MIN_THROUGHPUT for k in kept)], fmt="{:.0f}",
                   lower_is_better=True),
            Figure("adaptive phases", case, "429s ÷ requests", [r for _, r in results],
                   f"<= {MAX_THROTTLED:.2f}", at_most(MAX_THROTTLED), lower_is_better=True),
        ]
        if by_start:
            figures += [Figure("adaptive phases", f"{kind} limit {limit}, started "
                               f"{i / phases:.2f} s into a second", metric, [value])
                        for i, result in enumerate(results)
                        for metric, value in zip(("throughput ÷ limit", "429s ÷ requests"),
                                                 result, strict=True)]
    return figures


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """For run_all.py: deterministic, so one run at either size (limit 200 too when full)."""
    del repeats
    limits = [50] if quick else [50, 200]
    return [figure for limit in limits
            for figure in measure(limit, 3.0 * limit, 30.0, 20, little(3 * limit, 50), 0.05)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=50, help="the limit June does not state")
    parser.add_argument("--rate", type=float, default=150, help="as --rate")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each job")
    parser.add_argument("--phases", type=int, default=20, help="start moments in a second")
    parser.add_argument("--workers", type=int, help="as --concurrency (default: as adaptive.py)")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--by-start", action="store_true",
                        help="a row per start too: share of the limit kept, share of 429s")
    args = parser.parse_args()
    workers = args.workers or little(args.rate, args.latency_ms)
    figures = measure(args.limit, args.rate, args.seconds, args.phases, workers,
                      args.latency_ms / 1000, by_start=args.by_start)
    report("Adaptive pacing on virtual time, by start phase", figures, args.phases)


if __name__ == "__main__":
    main()

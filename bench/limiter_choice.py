"""Which limiter spaces the requests: aiolimiter against the project's Pacer, measured.

    .venv/bin/python bench/limiter_choice.py                     # rates 10, 100, 1000; 10 s each
    .venv/bin/python bench/limiter_choice.py --rates 100 --seconds 5 --repeat 3

For each rate R, with and without event-loop stalls, each limiter paces ``R x seconds`` real
POSTs (``bulk_delete.api`` client, ``little(R, 50 ms)`` workers) to a sandbox with 50 ms latency
on loopback, in its own process. The limiters:

* **Pacer**: ``bulk_delete.pacing.Pacer(R)``, as the submitter uses it (each request tracked
  until its bytes leave, through ``wire.ON_THE_WIRE``);
* **AsyncLimiter(R/20, 0.05)**: aiolimiter with a small bucket (a burst of 1/20 s), at least
  one token (``AsyncLimiter(R * 0.05, 0.05)`` itself raises ValueError on every acquire below
  R = 20: a bucket smaller than one token admits nothing);
* **AsyncLimiter(R, 1)**: aiolimiter's usual form, a bucket of a whole second.

"Stalls" is a task that blocks the event loop for 20-50 ms every 0.2-0.8 s, as a garbage
collection or a busy machine does. It reports, per limiter and case: the busiest 1-second window
of request starts (when the limiter let a request go), the busiest 1-second window of arrivals
at the sandbox (its ``peak_per_second``), both against the promise "at most R", and the steady
rate: starts per second from one second after the first start to the last, as a share of R
(target: >= 0.97).

What aiolimiter 1.3.0 cannot do that the pacer needs (from ``aiolimiter/leakybucket.py`` and
its docs):

* **change the rate at runtime**: the drain rate (``_rate_per_sec``) is computed once in
  ``__init__``; assigning ``max_rate`` later changes the bucket's size, not its rate, and a
  new limiter forgets its waiters and its level. The pacer lowers its rate on 429 and creeps
  back up;
* **pause every caller** until a Retry-After has passed: waiters are woken by the bucket's
  level alone, and there is no call to hold them;
* **count the moment bytes leave**: a request is counted when ``acquire`` returns; aiohttp
  writes a POST body later (on Python 3.11 a loop turn later), and after a stall several
  admitted requests leave together;
* **cap every 1-second window at R**: a leaky bucket of ``b`` tokens admits up to ``b + R``
  in a second (2R for ``AsyncLimiter(R, 1)``, 1.05R for the small bucket, after the bucket has
  drained during a quiet spell or a stall).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from harness import (
    KEY,
    Figure,
    Sandbox,
    at_least,
    at_most,
    little,
    pin_self,
    repeat,
    report,
    sustained,
)

from bulk_delete.api import open_client
from bulk_delete.pacing import Pacer
from bulk_delete.types import Secret
from bulk_delete.wire import ON_THE_WIRE

NAME = "limiter choice"
LATENCY_MS = 50
#: A stall blocks the loop this long (seconds), as a garbage collection does ...
STALL = (0.020, 0.050)
#: ... once per this many seconds.
EVERY = (0.2, 0.8)


@dataclass(frozen=True)
class Gate:
    """One limiter seen the same way: wait for a slot; hear when the request's bytes left."""

    admit: Callable[[], Awaitable[object]]
    left: Callable[[], None] = lambda: None


def pacer(rate: float) -> Gate:
    paced = Pacer(rate)
    return Gate(lambda: paced.acquire(tracked=True), paced.on_the_wire)


def small_bucket(rate: float) -> Gate:
    tokens = max(1.0, rate * 0.05)
    return Gate(AsyncLimiter(tokens, tokens / rate).acquire)


def whole_second(rate: float) -> Gate:
    return Gate(AsyncLimiter(rate, 1).acquire)


LIMITERS: dict[str, Callable[[float], Gate]] = {
    "Pacer": pacer,
    "AsyncLimiter(R/20, 0.05)": small_bucket,
    "AsyncLimiter(R, 1)": whole_second,
}


def busiest(times: list[float]) -> int:
    """The most times in any 1-second window ``(t - 1, t]``, as the sandbox counts arrivals."""
    ordered, first, most = sorted(times), 0, 0
    for last, now in enumerate(ordered):
        while ordered[first] <= now - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def steady(starts: list[float]) -> float:
    """Starts per second after the first second, so a burst at start-up is not in it."""
    return sustained([t for t in starts if t >= min(starts) + 1.0])


async def stall_now_and_then(rng: random.Random) -> None:
    while True:
        await asyncio.sleep(rng.uniform(*EVERY))
        time.sleep(rng.uniform(*STALL))  # noqa: ASYNC251 - blocks the loop on purpose


async def drive(url: str, make: Callable[[float], Gate], rate: int, count: int, *,
                stalls: bool, seed: int) -> list[float]:
    """Send ``count`` POSTs paced by ``make(rate)``; the monotonic time each was let go."""
    gate, starts = make(rate), []
    subjects: Iterator[str] = iter(f"l{seed:03d}-{i:07d}" for i in range(count))
    concurrency = little(rate, LATENCY_MS)
    async with open_client(base_url=url, kind="user", key=Secret(KEY), auth_style="raw",
                           request_timeout=30, concurrency=concurrency) as client:

        async def worker() -> None:
            for subject in subjects:
                await gate.admit()
                starts.append(time.monotonic())
                told = False

                def left() -> None:
                    nonlocal told
                    if not told:
                        told = True
                        gate.left()

                token = ON_THE_WIRE.set(left)
                try:
                    answer = await client.request_deletion(subject)
                finally:
                    ON_THE_WIRE.reset(token)
                    left()  # no bytes left (no connection): counts as leaving now
                if answer.status != 200:
                    raise SystemExit(f"{subject}: {answer}")

        staller = asyncio.create_task(stall_now_and_then(random.Random(seed))) if stalls else None
        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            if staller is not None:
                staller.cancel()
    return starts


def one_case(name: str, rate: int, seconds: float, *, stalls: bool, seed: int) -> list[Figure]:
    count = max(50, round(rate * seconds))
    with Sandbox(latency_ms=LATENCY_MS) as june:
        starts = asyncio.run(drive(june.url, LIMITERS[name], rate, count, stalls=stalls,
                                   seed=seed))
        arrivals = june.stats()["peak_per_second"]
    case = f"{name}, R {rate}, " + ("stalls 20-50 ms" if stalls else "no stalls")
    return [
        Figure(NAME, case, "busiest 1 s of starts", [busiest(starts)], f"<= {rate}",
               at_most(rate), fmt="{:.0f}", lower_is_better=True),
        Figure(NAME, case, "busiest 1 s at the sandbox", [arrivals], f"<= {rate}",
               at_most(rate), fmt="{:.0f}", lower_is_better=True),
        Figure(NAME, case, "steady starts/s ÷ R", [steady(starts) / rate], ">= 0.97",
               at_least(0.97)),
    ]


def measure(rates: list[int], seconds: float) -> list[Figure]:
    pin_self()
    figures: list[Figure] = []
    for seed, (rate, stalls, name) in enumerate(
            (r, s, n) for r in rates for s in (False, True) for n in LIMITERS):
        figures += one_case(name, rate, seconds, stalls=stalls, seed=seed)
    return figures


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    seconds = 5.0 if quick else 10.0
    return repeat(lambda: measure([10, 100, 1000], seconds), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,100,1000", help="comma-separated rates R")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="requests = R x seconds, so a case lasts about this long")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rates = [int(x) for x in args.rates.split(",") if x]
    result = repeat(lambda: measure(rates, args.seconds), args.repeat)
    report("Limiter choice: aiolimiter against the Pacer, real POSTs to a 50 ms sandbox",
           result, args.repeat)


if __name__ == "__main__":
    main()

"""What the on-the-wire hook costs: bulk_delete.wire's payload override versus aiohttp tracing.

    .venv/bin/python bench/wire_hook.py                  # 6 rounds of 4,000 POSTs per variant
    .venv/bin/python bench/wire_hook.py --ids 2000 --repeat 3

One sandbox (no limit, no latency) runs in its own process; this process POSTs from 16
workers on one aiohttp session, three ways, in rotating order each round:

* **bare**: a bytes body, no hook (the floor);
* **payload**: a :class:`bulk_delete.wire.Body`, whose ``write_with_length`` calls the hook;
* **tracing**: a bytes body and a ``TraceConfig`` whose ``on_request_chunk_sent`` calls it,
  the public API that fires at the same moment (see bulk_delete/wire.py).

It reports the client's CPU microseconds per request of each (``time.process_time``, pooled
over the rounds), the extra CPU of each hook as a share of the bare POST's, and checks that
each hook ran once per request.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from harness import API, KEY, Figure, Sandbox, repeat, report

from bulk_delete.api import deletion_body
from bulk_delete.wire import ON_THE_WIRE, Body

NAME = "on-the-wire hook"
VARIANTS = ("bare", "payload", "tracing")
_serial = itertools.count()


async def _on_chunk_sent(_session: Any, _context: Any, _params: Any) -> None:
    hook = ON_THE_WIRE.get()
    if hook is not None:
        hook()


def _tracing() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_request_chunk_sent.append(_on_chunk_sent)
    return config


async def post_all(url: str, variant: str, count: int, concurrency: int) -> float:
    """``count`` POSTs of fresh IDs from ``concurrency`` workers; the client's CPU seconds."""
    calls = 0

    def hook() -> None:
        nonlocal calls
        calls += 1

    wrap: Callable[[bytes], Any] = (
        (lambda body: Body(body, content_type="application/json")) if variant == "payload"
        else (lambda body: body))
    ids = iter([f"w{next(_serial)}-{i}" for i in range(count)])
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            trace_configs=[_tracing()] if variant == "tracing" else None,
            headers={"Authorization": KEY, "Content-Type": "application/json"}) as session:

        async def worker() -> None:
            ON_THE_WIRE.set(hook)
            for subject in ids:
                async with session.post(f"{url}{API}user_deletion_request",
                                        data=wrap(deletion_body("user", subject))) as answer:
                    await answer.read()

        cpu = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu = time.process_time() - cpu
    if calls != (0 if variant == "bare" else count):
        raise SystemExit(f"{variant}: the hook ran {calls} times for {count} requests")
    return cpu


def measure(count: int, rounds: int, concurrency: int) -> list[Figure]:
    """``rounds`` rounds of every variant, order rotated each round; CPU pooled per variant."""
    cpu = dict.fromkeys(VARIANTS, 0.0)
    with Sandbox() as june:
        for number in range(rounds):
            for variant in VARIANTS[number % 3:] + VARIANTS[:number % 3]:
                cpu[variant] += asyncio.run(post_all(june.url, variant, count, concurrency))
    per = {variant: seconds * 1e6 / (count * rounds) for variant, seconds in cpu.items()}
    case = f"{rounds} x {count:,} POSTs, c {concurrency}"
    return [
        *(Figure(NAME, case, f"{variant} client CPU µs / request", [per[variant]],
                 fmt="{:.1f}", lower_is_better=True) for variant in VARIANTS),
        *(Figure(NAME, case, f"{variant} hook: extra CPU ÷ bare",
                 [per[variant] / per["bare"] - 1], fmt="{:.1%}", lower_is_better=True)
          for variant in VARIANTS[1:]),
    ]


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    return repeat(lambda: measure(2_000 if quick else 4_000, 6, 16), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=4_000, help="POSTs per variant per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    result = repeat(lambda: measure(args.ids, args.rounds, args.concurrency), args.repeat)
    report("On-the-wire hook: client CPU per POST, sandbox without limit or latency", result,
           args.repeat)


if __name__ == "__main__":
    main()

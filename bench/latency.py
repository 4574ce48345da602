"""Latency: with no --concurrency flag, a slow June still gets --rate (target: 95 % of it).

    .venv/bin/python bench/latency.py                     # 20 s per case, 1 repeat
    .venv/bin/python bench/latency.py --seconds 10 --repeat 2

Every case starts a fresh sandbox in its own process with ``--latency-ms`` and runs the real
CLI (``python -m bulk_delete submit``) over as many new IDs as it sends in ``--seconds``
(``rate x seconds``, or what the requests in flight carry when they hold it down). It
reports:

* **auto**, no flag: 0.5 s at ``--rate 100`` and 2 s at ``--rate 50`` (50 and 100 requests in
  flight needed, the old default 16 carried 32/s and 8/s): accepted/s ÷ rate between the first
  and last accepted answer (target >= 0.95), the sandbox's busiest second (<= rate), the most
  requests in flight, and whether the summary blamed nothing (1) as it should;
* **the cap**: 2 s at ``--rate 200`` needs 400 in flight; auto stops at 256, which carry
  128/s: accepted/s ÷ that, and whether the summary blamed latency at the cap (1);
* **a fixed number**: ``--concurrency 16`` at 0.5 s and ``--rate 100``: accepted/s, and
  whether the summary named ``--concurrency 16`` (1);
* **the pool's size**: unthrottled, no latency, in this process: 16 workers through a client
  whose connection pool allows 256 (``auto``) versus 16, alternating rounds; IDs/s ratio;
* **auto unthrottled**: the CLI at ``--rate 10000`` against a sandbox without latency, auto
  versus ``--concurrency 16``, alternating: IDs/s ratio. The sandbox shares the machine, so
  the more requests in flight, the slower it answers; auto sees a slow June and grows.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import (
    KEY,
    Figure,
    Sandbox,
    at_least,
    at_most,
    journal_times,
    pin_self,
    repeat,
    report,
    run_cli,
    sustained,
    workdir,
    write_ids,
)

from bulk_delete.api import open_client
from bulk_delete.journal import Journal
from bulk_delete.logs import configure
from bulk_delete.pacing import Pacer
from bulk_delete.progress import Tally
from bulk_delete.submit import Submitter
from bulk_delete.tuning import SIZING
from bulk_delete.types import Concurrency, Secret

NAME = "latency"
TARGET = 0.95
_serial = itertools.count()


def fresh_ids(count: int) -> list[str]:
    batch = next(_serial)
    return [f"l{batch:03d}-{i:08d}" for i in range(count)]


def submitted(stderr: str) -> dict[str, Any]:
    """The CLI's ``bulk_delete.submitted`` event."""
    return next(json.loads(line) for line in stderr.splitlines()
                if '"bulk_delete.submitted"' in line)


def cli_case(rate: int, latency_ms: int, count: int,
             *flags: str) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """accepted/s, the submitted event and the sandbox's stats of one CLI run over ``count``."""
    with workdir("latency") as tmp, Sandbox(latency_ms=latency_ms) as june:
        source = write_ids(Path(tmp) / "ids.csv", fresh_ids(count))
        checkpoint = Path(tmp) / "state"
        done, _, _ = run_cli("submit", str(source), "--api-url", june.url, "--rate", str(rate),
                             *flags, checkpoint=checkpoint)
        stats = june.stats()
        times = journal_times(checkpoint)
    if len(times) != count or stats["unique"]["user"] != count:
        raise SystemExit(f"rate {rate}, {latency_ms} ms: {len(times)} of {count} accepted")
    return sustained(times), submitted(done.stderr), stats


def auto_case(rate: int, latency_ms: int, seconds: float) -> list[Figure]:
    per_second, event, stats = cli_case(rate, latency_ms, round(rate * seconds))
    case = f"rate {rate}, {latency_ms} ms, no flag (auto)"
    return [
        Figure(NAME, case, "accepted/s ÷ rate", [per_second / rate], f">= {TARGET}",
               at_least(TARGET)),
        Figure(NAME, case, "sandbox peak_per_second", [stats["peak_per_second"]], f"<= {rate}",
               at_most(rate), fmt="{:.0f}", lower_is_better=True),
        Figure(NAME, case, "most requests in flight", [event["in_flight_peak"]], fmt="{:.0f}"),
        Figure(NAME, case, "summary blames nothing", [float(event["held_down_by"] == [])],
               "= 1", at_least(1), fmt="{:.0f}"),
    ]


def cap_case(rate: int, latency_ms: int, seconds: float) -> list[Figure]:
    carried = SIZING.cap / (latency_ms / 1000)
    per_second, event, _ = cli_case(rate, latency_ms, round(carried * seconds))
    case = f"rate {rate}, {latency_ms} ms, no flag: needs {rate * latency_ms // 1000} in flight"
    return [
        Figure(NAME, case, f"accepted/s ÷ {carried:g} (cap ÷ latency)", [per_second / carried],
               ">= 0.9", at_least(0.9)),
        Figure(NAME, case, "most requests in flight", [event["in_flight_peak"]],
               f"<= {SIZING.cap}", at_most(SIZING.cap), fmt="{:.0f}", lower_is_better=True),
        Figure(NAME, case, "summary blames latency at the cap",
               [float(event["held_down_by"] == ["in_flight"])], "= 1", at_least(1), fmt="{:.0f}"),
    ]


def fixed_case(rate: int, latency_ms: int, seconds: float, concurrency: int) -> list[Figure]:
    per_second, event, _ = cli_case(rate, latency_ms,
                                    round(concurrency / (latency_ms / 1000) * seconds),
                                    "--concurrency", str(concurrency))
    case = f"rate {rate}, {latency_ms} ms, --concurrency {concurrency}"
    return [
        Figure(NAME, case, "accepted/s", [per_second], fmt="{:.1f}"),
        Figure(NAME, case, f"summary blames --concurrency {concurrency}",
               [float(event["held_down_by"] == ["in_flight"] and event["concurrency"] ==
                      concurrency)], "= 1", at_least(1), fmt="{:.0f}"),
    ]


async def through_pool(url: str, ids: list[str], pool: Concurrency) -> float:
    """Seconds for 16 workers to send ``ids`` through a client whose pool is sized for ``pool``."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(Path(tmp) / "journal.tsv")
        started = time.perf_counter()
        async with open_client(base_url=url, kind="user", key=Secret(KEY), auth_style="raw",
                               request_timeout=30, concurrency=pool) as client:
            submitter = Submitter(client, Pacer(10_000), journal, concurrency=16,
                                  max_attempts=6, tally=Tally(total=len(ids)))
            await submitter.run(iter(ids))
        journal.close()
        return time.perf_counter() - started


def pool_case(count: int, rounds: int) -> list[Figure]:
    pin_self()
    configure("json", stream=io.StringIO())  # the client's own log lines are not the table
    totals = {"auto": 0.0, 16: 0.0}
    with Sandbox() as june:
        for number in range(rounds):
            pools: list[Concurrency] = ["auto", 16] if number % 2 == 0 else [16, "auto"]
            for pool in pools:
                totals[pool] += asyncio.run(through_pool(june.url, fresh_ids(count), pool))
    case = f"16 workers, unthrottled, {rounds} x {count:,} IDs"
    return [Figure(NAME, case, f"IDs/s pool {SIZING.cap} ÷ pool 16", [totals[16] / totals["auto"]],
                   ">= 0.95", at_least(0.95), fmt="{:.2f}")]


def unthrottled_case(count: int, rounds: int) -> list[Figure]:
    rates: dict[str, list[float]] = {"auto": [], "16": []}
    with Sandbox() as june:
        for number in range(rounds):
            for flag in ("auto", "16") if number % 2 == 0 else ("16", "auto"):
                with workdir("latency") as tmp:
                    source = write_ids(Path(tmp) / "ids.csv", fresh_ids(count))
                    run_cli("submit", str(source), "--api-url", june.url, "--rate", "10000",
                            "--concurrency", flag, checkpoint=Path(tmp) / "state")
                    rates[flag].append(sustained(journal_times(Path(tmp) / "state")))
    case = f"CLI at --rate 10000, 0 ms, {rounds} x {count:,} IDs"
    return [Figure(NAME, case, "IDs/s auto ÷ --concurrency 16",
                   [sum(rates["auto"]) / sum(rates["16"])], fmt="{:.2f}")]


def measure(seconds: float, pool_ids: int, rounds: int) -> list[Figure]:
    """Every case; the pool's in ``rounds`` pairs of ``pool_ids``, the CLI's in half as many."""
    return [*auto_case(100, 500, seconds), *auto_case(50, 2000, seconds),
            *cap_case(200, 2000, seconds), *fixed_case(100, 500, seconds, 16),
            *pool_case(pool_ids, rounds), *unthrottled_case(pool_ids, max(1, rounds // 2))]


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    seconds, pool_ids = (10.0, 4_000) if quick else (20.0, 10_000)
    return repeat(lambda: measure(seconds, pool_ids, 8), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each CLI run")
    parser.add_argument("--pool-ids", type=int, default=10_000,
                        help="IDs per round of the pool and unthrottled comparisons")
    parser.add_argument("--rounds", type=int, default=8,
                        help="alternating rounds of the pool pair (the CLI pair: half)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    result = repeat(lambda: measure(args.seconds, args.pool_ids, args.rounds), args.repeat)
    report("Latency: --concurrency auto against a slow sandbox", result, args.repeat)


if __name__ == "__main__":
    main()

"""Faults: 3 % 5xx, 1 % dropped connections and a few hung answers cost little time.

    .venv/bin/python bench/faults.py                        # rate 100, 50 ms, 60 s
    .venv/bin/python bench/faults.py --seconds 15 --repeat 3

It starts a sandbox with ``--fail-rate 0.03 --reset-rate 0.01 --hang-rate 0.002`` (a hung
answer comes after 60 s, and June still applies it) and runs the real CLI with ``--rate R
--timeout 5`` over ``R x seconds`` new IDs. It reports:

* accepted / IDs with exit 0 and no manual step (target 1.0);
* steady throughput / rate: accepted answers per second over the first 99 % of IDs, from the
  journal's timestamps (target >= 0.9). Every failed attempt spends a slot of ``--rate``, so
  4 % of faults cost about 4 % of throughput;
* whole-run throughput / rate, over every ID: it also holds the tail, where the last hung
  requests wait out ``--timeout`` and their retries' backoff. Over a 5-million-ID job that tail
  is the same few seconds, so the steady figure is the one that scales;
* requests / IDs: what the faults cost in extra requests.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import (
    Figure,
    Sandbox,
    at_least,
    journal_times,
    little,
    repeat,
    report,
    run_cli,
    sustained,
    workdir,
    write_ids,
)

NAME = "faults"
FAULTS = {"fail_rate": 0.03, "reset_rate": 0.01, "hang_rate": 0.002, "hang_seconds": 60}
TIMEOUT = 5
STEADY = 0.99


def measure(rate: int, latency_ms: int, seconds: float) -> list[Figure]:
    count = round(rate * seconds)
    concurrency = little(rate, latency_ms)
    with workdir(NAME) as tmp, Sandbox(latency_ms=latency_ms, **FAULTS) as june:
        source = write_ids(Path(tmp) / "ids.csv", (f"f{i:08d}" for i in range(count)))
        checkpoint = Path(tmp) / "state"
        result, _, _ = run_cli("submit", str(source), "--api-url", june.url, "--rate", str(rate),
                               "--concurrency", str(concurrency), "--timeout", str(TIMEOUT),
                               checkpoint=checkpoint)
        stats = june.stats()
        times = sorted(journal_times(checkpoint))
    accepted = len(times) if result.returncode == 0 else 0
    case = f"rate {rate}, {latency_ms} ms, c {concurrency}, 3 % 5xx, 1 % resets, 0.2 % hangs"
    steady = times[: max(2, round(STEADY * len(times)))]
    return [
        Figure(NAME, case, "accepted ÷ IDs (exit 0)", [accepted / count], "= 1",
               at_least(1.0), fmt="{:.3f}"),
        Figure(NAME, case, "steady accepted/s ÷ rate (first 99 %)",
               [sustained(steady) / rate], ">= 0.90", at_least(0.9)),
        Figure(NAME, case, "whole-run accepted/s ÷ rate", [sustained(times) / rate]),
        Figure(NAME, case, "requests ÷ IDs", [stats["requests"] / count], fmt="{:.3f}",
               lower_is_better=True),
    ]


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    seconds = 20.0 if quick else 60.0
    return repeat(lambda: measure(100, 50, seconds), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=50, help="sandbox latency")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="IDs = rate x seconds, so a run lasts about this long")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    result = repeat(lambda: measure(args.rate, args.latency_ms, args.seconds), args.repeat)
    report("Faults: 5xx, dropped connections and hung answers", result, args.repeat)


if __name__ == "__main__":
    main()

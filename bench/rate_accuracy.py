"""Rate accuracy: how close to ``--rate`` the CLI sustains, and never above it.

    .venv/bin/python bench/rate_accuracy.py                  # 20 s per case, 1 repeat
    .venv/bin/python bench/rate_accuracy.py --seconds 5 --repeat 3
    .venv/bin/python bench/rate_accuracy.py --rates 100 --latencies 50

For every ``--rate`` R and sandbox latency L it starts a fresh sandbox in its own process and
runs the real CLI (``python -m bulk_delete submit``) over ``R x seconds`` new IDs, with
``--concurrency`` from Little's law (R x L x 1.5, at least the default 16). It reports:

* accepted/s / R: answers per second between the first and last accepted answer, from the
  journal's own timestamps, divided by R (target >= 0.97);
* the sandbox's ``peak_per_second``: the most requests it admitted in any 1-second window
  (target <= R);
* the same run against a sandbox whose ``--rate-limit`` equals R: 429s served (target 0).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import (
    Figure,
    Sandbox,
    at_least,
    at_most,
    journal_times,
    little,
    repeat,
    report,
    run_cli,
    sustained,
    workdir,
    write_ids,
)

TARGET = 0.97
NAME = "rate accuracy"


def one_case(rate: int, latency_ms: int, seconds: float, *, limited: bool) -> list[Figure]:
    """Submit ``rate x seconds`` IDs at ``--rate rate`` and measure what the sandbox saw."""
    count = max(50, round(rate * seconds))
    concurrency = little(rate, latency_ms)
    with workdir("rate") as tmp, Sandbox(latency_ms=latency_ms,
                                         rate_limit=rate if limited else None) as june:
        source = write_ids(Path(tmp) / "ids.csv", (f"r{i:08d}" for i in range(count)))
        checkpoint = Path(tmp) / "state"
        run_cli("submit", str(source), "--api-url", june.url, "--rate", str(rate),
                "--concurrency", str(concurrency), checkpoint=checkpoint)
        stats = june.stats()
        times = journal_times(checkpoint)
    if len(times) != count or stats["unique"]["user"] != count:
        raise SystemExit(f"rate {rate}: {len(times)} of {count} accepted; stats {stats}")
    case = f"rate {rate}, {latency_ms} ms, c {concurrency}" + (", limit = rate" if limited else "")
    figures = [
        Figure(NAME, case, "accepted/s ÷ rate", [sustained(times) / rate], f">= {TARGET}",
               at_least(TARGET)),
        Figure(NAME, case, "sandbox peak_per_second", [stats["peak_per_second"]], f"<= {rate}",
               at_most(rate), fmt="{:.0f}", lower_is_better=True),
    ]
    if limited:
        figures.append(Figure(NAME, case, "429s served", [stats["rate_limited"]], "= 0",
                              at_most(0), fmt="{:.0f}", lower_is_better=True))
    return figures


def measure(rates: list[int], latencies: list[int], seconds: float,
            limited_latencies: list[int]) -> list[Figure]:
    figures: list[Figure] = []
    for rate in rates:
        for latency in latencies:
            figures += one_case(rate, latency, seconds, limited=False)
        for latency in limited_latencies:
            figures += one_case(rate, latency, seconds, limited=True)
    return figures


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    seconds = 5.0 if quick else 20.0
    return repeat(lambda: measure([10, 100, 1000], [0, 50, 200], seconds, [0, 200]), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,100,1000", help="comma-separated --rate values")
    parser.add_argument("--latencies", default="0,50,200", help="sandbox latencies, ms")
    parser.add_argument("--limited-latencies", default="0,200",
                        help="latencies of the runs whose sandbox limit equals --rate")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    def numbers(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x]

    result = repeat(lambda: measure(numbers(args.rates), numbers(args.latencies), args.seconds,
                                    numbers(args.limited_latencies)), args.repeat)
    report("Rate accuracy: bulk-delete submit against the sandbox", result, args.repeat)


if __name__ == "__main__":
    main()

"""Adaptive rate: ``--rate`` 3x above the server's real limit costs time, not IDs.

    .venv/bin/python bench/adaptive.py            # limits 50 and 200, each limiter, 30 s each
    .venv/bin/python bench/adaptive.py --limits 50 --limiters fixed --seconds 30 --repeat 3

For each real limit L and each way of counting it (the sandbox's ``--limiter``: ``sliding``
1-second window; ``strict``, which counts refused requests too; ``fixed`` windows on whole
clock seconds, which let up to 2L through across a boundary) it starts a sandbox with
``--rate-limit L`` (and ``--latency-ms``, 50 by default) in its own process and runs the real
CLI with ``--rate 3L`` over ``L x seconds`` new IDs. The sandbox states no limit in its
headers: the client must find it. It reports:

* throughput / L: accepted answers per second between the first and last, from the journal's
  timestamps, divided by L (target: >= 0.93);
* 429s as a share of all requests the sandbox served (target: <= 5 %);
* accepted / IDs: every ID must end accepted, with exit code 0 (target 1.0).

The first 429 pauses the job for its Retry-After (the sandbox rounds it up to a whole second)
and each later probe for a higher limit costs about as much, so throughput grows with the
run's length: 30 s is the size measured.
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

NAME = "adaptive"
OVERSHOOT = 3
#: The target: throughput at least this share of the real limit, with at most this share of 429s.
MIN_THROUGHPUT = 0.93
MAX_THROTTLED = 0.05


LIMITERS = ("sliding", "strict", "fixed")


def one_case(limit: int, limiter: str, latency_ms: int, seconds: float) -> list[Figure]:
    count = round(limit * seconds)
    rate = OVERSHOOT * limit
    concurrency = little(rate, latency_ms)
    with workdir("adaptive") as tmp, Sandbox(rate_limit=limit, limiter=limiter,
                                             latency_ms=latency_ms) as june:
        source = write_ids(Path(tmp) / "ids.csv", (f"a{i:08d}" for i in range(count)))
        checkpoint = Path(tmp) / "state"
        result, _, _ = run_cli("submit", str(source), "--api-url", june.url, "--rate", str(rate),
                               "--concurrency", str(concurrency), checkpoint=checkpoint)
        stats = june.stats()
        times = journal_times(checkpoint)
    accepted = len(times) if result.returncode == 0 else 0
    case = f"{limiter} limit {limit}, --rate {rate}, {latency_ms} ms, c {concurrency}"
    return [
        Figure(NAME, case, "throughput ÷ limit", [sustained(times) / limit],
               f">= {MIN_THROUGHPUT:.2f}", at_least(MIN_THROUGHPUT)),
        Figure(NAME, case, "429s ÷ requests", [stats["rate_limited"] / stats["requests"]],
               f"<= {MAX_THROTTLED:.2f}", at_most(MAX_THROTTLED), fmt="{:.3f}",
               lower_is_better=True),
        Figure(NAME, case, "accepted ÷ IDs (exit 0)", [accepted / count], "= 1", at_least(1.0),
               fmt="{:.3f}"),
    ]


def measure(limits: list[int], limiters: list[str], latency_ms: int,
            seconds: float) -> list[Figure]:
    figures: list[Figure] = []
    for limit in limits:
        for limiter in limiters:
            figures += one_case(limit, limiter, latency_ms, seconds)
    return figures


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``: reduced, the limit of 50 alone."""
    limits = [50] if quick else [50, 200]
    return repeat(lambda: measure(limits, list(LIMITERS), 50, 30.0), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", default="50,200", help="sandbox --rate-limit values")
    parser.add_argument("--limiters", default=",".join(LIMITERS),
                        help="sandbox --limiter values: " + ", ".join(LIMITERS))
    parser.add_argument("--latency-ms", type=int, default=50, help="sandbox latency")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="IDs = limit x seconds, so a run lasts about this long")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    limits = [int(x) for x in args.limits.split(",") if x]
    limiters = [x for x in args.limiters.split(",") if x]
    result = repeat(lambda: measure(limits, limiters, args.latency_ms, args.seconds),
                    args.repeat)
    report(f"Adaptive: --rate {OVERSHOOT}x the sandbox's --rate-limit", result, args.repeat)


if __name__ == "__main__":
    main()

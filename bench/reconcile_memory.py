"""Reconcile memory (SPEC §8): the peak of ``bulk-delete reconcile``, N journalled against N listed.

    .venv/bin/python bench/reconcile_memory.py                    # 5,000,000 IDs (~5 min)
    .venv/bin/python bench/reconcile_memory.py --records 500000 --repeat 3

A sandbox holding N finished deletion requests (``bench/seeded_sandbox.py``, 100 records a
page, no latency, in its own process) and a checkpoint directory whose journal holds the same
N IDs as accepted (``reconcile_speed.journalled``); the real CLI runs ``python -m bulk_delete
reconcile --rate 10000`` to its end (every ID finished: exit 0), started through
``harness.run_with_peak``, so its peak resident memory is its own. Every ID is found on the
first read of the listing, so the listing is read once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import Figure, Sandbox, at_most, cli_env, repeat, report, run_with_peak, workdir
from reconcile_speed import SEEDED, journalled

BENCH = "reconcile memory"
#: SPEC §8: 5 M IDs against 5 M listed records in at most 1.2 GB.
TARGET_MB = 1.2 * 1024
FULL = 5_000_000
RATE = 10_000


def measure(records: int, concurrency: int) -> list[Figure]:
    with workdir("reconcile-memory") as tmp, Sandbox(script=SEEDED, records=records) as june:
        checkpoint = journalled(Path(tmp) / "state", june.url, records)
        command = [sys.executable, "-m", "bulk_delete", "reconcile", "--api-url", june.url,
                   "--rate", str(RATE), "--concurrency", str(concurrency)]
        result, peak_mb = run_with_peak(command, env=cli_env(checkpoint))
    if result.returncode != 0:
        raise SystemExit(f"reconcile exited {result.returncode}:\n{result.stderr[-3000:]}")
    full = records == FULL
    case = f"{records:,} journalled against {records:,} listed, c {concurrency}"
    return [
        Figure(BENCH, case, "peak MB", [peak_mb],
               f"<= {TARGET_MB:.0f}" if full else f"(<= {TARGET_MB:.0f} at 5M)",
               at_most(TARGET_MB) if full else None, fmt="{:,.0f}", lower_is_better=True),
    ]


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    records = 500_000 if quick else FULL
    return repeat(lambda: measure(records, 16), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=FULL)
    parser.add_argument("--concurrency", type=int, default=16, help="as --concurrency")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    result = repeat(lambda: measure(args.records, args.concurrency), args.repeat)
    report("Reconcile memory: the real CLI's peak, started from a small process", result,
           args.repeat)


if __name__ == "__main__":
    main()

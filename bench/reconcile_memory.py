"""Reconcile memory: 5 M journalled IDs against 5 M listed records, peak resident memory.

    .venv/bin/python bench/reconcile_memory.py                  # 5,000,000 IDs
    .venv/bin/python bench/reconcile_memory.py --records 1000000 --repeat 3

A checkpoint is prepared (``bench/reconcile_checkpoint.py``, a process of its own) as a real
run leaves it: a plan made by the tool's own planning from an input CSV, and a journal with
every ID accepted. A sandbox (``bench/seeded_sandbox.py``, in its own process) lists every
one of those IDs, finished. Then the real CLI reconciles twice, as a daily cron would:

* **first**: no state history yet, so every ID is wanted and June's whole listing is read;
  every record is kept in the history and written to the report, summary and page;
* **again**: the history already holds every ID finished, so nothing is wanted.

Each reconcile is started through ``harness.run_with_peak`` (a small launcher), so its peak
is its own. The whole reconcile is in the figure: journal and plans read, the listing paged
and parsed, the history folded and appended, the report joined and every file written,
digests included. The state history's size on disk per million IDs is printed too.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from harness import (
    ROOT,
    Figure,
    Sandbox,
    at_most,
    cli_env,
    repeat,
    report,
    run_with_peak,
    workdir,
)
from reconcile_speed import SEEDED

HERE = Path(__file__).resolve().parent
BENCH = "reconcile memory"
#: The target: at most 1.2 GB (MB here are 2**20 bytes, as in plan_scale.py).
TARGET_MB = 1.2 * 1024
FULL = 5_000_000
RATE = 10_000
#: The sandbox's oldest request was made this many seconds ago.
AGE = 86_400
#: Records per listing page: June's is unknown; 1,000 keeps the run short and moves the peak
#: little.
PAGE_SIZE = 1000


def measure(records: int, concurrency: int) -> list[Figure]:
    with workdir("reconcile-memory") as tmp, Sandbox(script=SEEDED, records=records,
                                                     page_size=PAGE_SIZE, age=AGE) as june:
        subprocess.run([sys.executable, str(HERE / "reconcile_checkpoint.py"), tmp,
                        str(records), june.url, str(AGE)], cwd=ROOT, check=True)
        state = Path(tmp) / "state"
        command = [sys.executable, "-m", "bulk_delete", "reconcile", "--api-url", june.url,
                   "--rate", str(RATE), "--concurrency", str(concurrency)]
        peaks = []
        for _ in ("first", "again"):
            result, peak_mb = run_with_peak(command, env=cli_env(state))
            if result.returncode != 0:
                raise SystemExit(f"reconcile exited {result.returncode}:\n{result.stderr[-3000:]}")
            peaks.append(peak_mb)
        history = sum(p.stat().st_size for p in (state / "history").glob("*.parquet"))
    full = records == FULL
    target = f"<= {TARGET_MB:.0f}" if full else f"(<= {TARGET_MB:.0f} at 5M)"
    case = f"{records:,} journalled against {records:,} listed, c {concurrency}"
    return [
        Figure(BENCH, case, f"{which} reconcile, peak MB", [peak], target,
               at_most(TARGET_MB) if full else None, fmt="{:,.0f}", lower_is_better=True)
        for which, peak in zip(("first", "again (history known)"), peaks, strict=True)
    ] + [Figure(BENCH, case, "state history, MB per million IDs",
                [history / 1e6 / (records / 1e6)], fmt="{:.1f}", lower_is_better=True)]


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

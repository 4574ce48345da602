"""Every benchmark, at reduced size by default, as one Markdown table for docs/performance.md.

    .venv/bin/python bench/run_all.py                        # reduced sizes, 3 repeats (~20 min)
    .venv/bin/python bench/run_all.py --full --repeat 1      # the sizes the targets name (~25 min)
    .venv/bin/python bench/run_all.py --only adaptive,peer --repeat 1

Each benchmark starts its own sandbox process(es). A figure shows the range over the repeats
(worst to best for its target), and a target counts as met only if every repeat met it. The
machine is shared, so rerun before trusting a miss. Reduced sizes: rate accuracy 5 s per case,
latency 10 s per case, adaptive 30 s per limiter at the limit of 50 alone (its replay on
virtual time too, once: it is deterministic), faults 20 s, overhead 6 x 2,000 IDs per
side, planning 2 million rows against 1 million done IDs, resume 1 million journalled IDs,
reconcile 20,000 records, reconcile memory 500,000 IDs, incremental reconcile 20,000 old +
200 new records, listing memory 500,000 records, peer 150 IDs, limiter choice 5 s per case,
on-the-wire hook 6 x 2,000 POSTs per variant, retain 200,000 finished IDs.
The memory check runs first: a peak-memory figure is only trusted after it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import traceback
from collections.abc import Callable

import adaptive
import adaptive_phases
import faults
import latency
import limiter_choice
import listing_memory
import memory_check
import overhead
import peer
import plan_scale
import rate_accuracy
import reconcile_incremental
import reconcile_memory
import reconcile_speed
import resume_cost
import retain_scale
import sandbox_throughput
import wire_hook
from harness import Figure, at_most, merge, repeat, report


def planning(*, quick: bool, repeats: int) -> list[Figure]:
    """bench/plan_scale.py: the tool's planning against bare polars, in fresh processes."""
    rows, done = (2_000_000, 1_000_000) if quick else (10_000_000, 5_000_000)
    directory = plan_scale.Path(plan_scale.tempfile.gettempdir()) / (
        f"bulk-delete-plan-{rows}-{done}-short")
    csv_path, done_path = plan_scale.generate(directory, rows, done, "short")
    full = not quick
    case = f"{rows / 1e6:g}M rows, {done / 1e6:g}M done"

    def once() -> list[Figure]:
        tool = plan_scale.measure("tool", csv_path, done_path)
        bare = plan_scale.measure("polars", csv_path, done_path)
        return [
            Figure("planning scale", case, "seconds", [tool["seconds"]],
                   "<= 8 (at 10M)" if full else "(<= 8 at 10M)",
                   at_most(plan_scale.TARGET_SECONDS) if full else None, fmt="{:.2f}",
                   lower_is_better=True),
            Figure("planning scale", case, "peak MB", [tool["peak_mb"]],
                   "<= 1536 (at 10M)" if full else "(<= 1536 at 10M)",
                   at_most(plan_scale.TARGET_MB) if full else None, fmt="{:.0f}",
                   lower_is_better=True),
            Figure("planning scale", case, "seconds ÷ bare polars",
                   [tool["seconds"] / bare["seconds"]], fmt="{:.2f}", lower_is_better=True),
        ]

    return repeat(once, repeats)


def yardstick(*, quick: bool, repeats: int) -> list[Figure]:
    """bench/sandbox_throughput.py: what one sandbox core serves, so it is never the limit."""
    posts, pages = (5_000, 500) if quick else (20_000, 3_000)

    def once() -> list[Figure]:
        proc, url = sandbox_throughput.start_server(cpu=None)
        try:
            phases, _ = asyncio.run(sandbox_throughput.run(url, proc.pid, posts, pages, 16))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return [Figure("sandbox yardstick", phase.name, "requests per server CPU-second",
                       [phase.requests / phase.server_cpu], fmt="{:,.0f}") for phase in phases]

    return repeat(once, repeats)


BENCHMARKS: dict[str, Callable[..., list[Figure]]] = {
    "memory_check": memory_check.figures,
    "rate_accuracy": rate_accuracy.figures,
    "latency": latency.figures,
    "adaptive": adaptive.figures,
    "adaptive_phases": adaptive_phases.figures,
    "faults": faults.figures,
    "overhead": overhead.figures,
    "plan_scale": planning,
    "resume_cost": resume_cost.figures,
    "reconcile_speed": reconcile_speed.figures,
    "reconcile_memory": reconcile_memory.figures,
    "reconcile_incremental": reconcile_incremental.figures,
    "listing_memory": listing_memory.figures,
    "peer": peer.figures,
    "sandbox_throughput": yardstick,
    "limiter_choice": limiter_choice.figures,
    "wire_hook": wire_hook.figures,
    "retain_scale": retain_scale.figures,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full sizes instead of reduced")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help=f"comma-separated of: {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    chosen = [name for name in BENCHMARKS if not args.only or name in args.only.split(",")]
    figures: list[Figure] = []
    for name in chosen:
        started = time.perf_counter()
        try:
            figures += BENCHMARKS[name](quick=not args.full, repeats=args.repeat)
        except (Exception, SystemExit):  # one broken benchmark must not hide the others
            traceback.print_exc()
            figures.append(Figure(name, "FAILED", "see the traceback above", [float("nan")]))
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    size = "full size" if args.full else "reduced size"
    report(f"bulk-delete benchmarks ({size})", merge([figures]), args.repeat)


if __name__ == "__main__":
    main()

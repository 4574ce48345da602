"""Listing read memory: what reading June's listing adds to a reconcile's peak, at 5 M records.

    .venv/bin/python bench/listing_memory.py                      # 5,000,000 listed and wanted
    .venv/bin/python bench/listing_memory.py --records 500000 --repeat 3

A sandbox (``bench/seeded_sandbox.py``, in its own process) lists N finished requests, 100
a page, each with a UUID request id and two timestamps. A fresh process (this script with
``--child``, started through ``harness.run_with_peak``, which reports its whole peak) holds
the N wanted IDs as a polars Series, as reconcile does (the journal's IDs), then resets its
peak-memory mark (``5`` into ``/proc/self/clear_refs``) and runs ``Listing.read(wanted)``
through the real client. It reports its resident memory before the read, the peak during it
(``VmHWM``) and after it, with the frame returned still held; the read's own cost is the
peak less what was resident before. The target gives the whole reconcile 1.2 GB at 5 M IDs; the
listing read is meant to be a small part of that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import polars as pl
from harness import KEY, Figure, Sandbox, repeat, report, run_with_peak
from seeded_sandbox import subject

from bulk_delete.api import open_client
from bulk_delete.listing import Listing
from bulk_delete.pacing import Pacer
from bulk_delete.types import Secret

BENCH = "listing memory"
SEEDED = (str(Path(__file__).with_name("seeded_sandbox.py")),)
FULL = 5_000_000


def status_mb(field: str) -> float:
    """A ``/proc/self/status`` figure (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} in /proc/self/status")


def reset_peak() -> float:
    """Start the peak mark (VmHWM) again from what is resident now, and return that in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_mb("VmRSS")


async def child(url: str, records: int, concurrency: int) -> dict[str, float]:
    """Read the listing for every seeded ID; the memory figures of this process."""
    wanted = pl.Series("id", [subject(i) for i in range(records)], dtype=pl.String)
    async with open_client(base_url=url, kind="user", key=Secret(KEY), auth_style="raw",
                           request_timeout=60, concurrency=concurrency) as client:
        listing = Listing(client, Pacer(100_000), kind="user", auth_style="raw",
                          max_attempts=3, window=concurrency)
        before = reset_peak()
        found = (await listing.read(wanted)).frame
        peak, after = status_mb("VmHWM"), status_mb("VmRSS")
    if found.height != records or found["found_in"].cast(pl.String).ne("listing").any():
        raise SystemExit(f"the read found {found.height:,} of {records:,}")
    return {"before_mb": before, "peak_mb": peak, "after_mb": after}


def measure(records: int, concurrency: int) -> list[Figure]:
    with Sandbox(script=SEEDED, records=records, page_size=100) as june:
        done, process_peak = run_with_peak([sys.executable, __file__, "--child", june.url,
                                            "--records", str(records),
                                            "--concurrency", str(concurrency)])
    if done.returncode != 0:
        raise SystemExit(f"the measured read failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.splitlines()[-1])
    case = f"{records:,} listed and wanted, 100 a page, c {concurrency}"
    return [
        Figure(BENCH, case, "process peak MB (harness.run_with_peak)", [process_peak],
               fmt="{:,.0f}", lower_is_better=True),
        Figure(BENCH, case, "resident before the read MB", [figures["before_mb"]],
               fmt="{:,.0f}", lower_is_better=True),
        Figure(BENCH, case, "peak during the read MB", [figures["peak_mb"]], fmt="{:,.0f}",
               lower_is_better=True),
        Figure(BENCH, case, "read's own peak MB (peak - before)",
               [figures["peak_mb"] - figures["before_mb"]], fmt="{:,.0f}",
               lower_is_better=True),
        Figure(BENCH, case, "resident after the read, frame held (after - before) MB",
               [figures["after_mb"] - figures["before_mb"]], fmt="{:,.0f}",
               lower_is_better=True),
    ]


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    return repeat(lambda: measure(500_000 if quick else FULL, 16), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=FULL)
    parser.add_argument("--concurrency", type=int, default=16, help="as --concurrency")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.child, args.records, args.concurrency))))
        return
    result = repeat(lambda: measure(args.records, args.concurrency), args.repeat)
    report("Listing read memory: one process reading the whole listing for every ID", result,
           args.repeat)


if __name__ == "__main__":
    main()

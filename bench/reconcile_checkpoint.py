"""Helpers of ``bench/reconcile_memory.py``, each run as its own process (not a benchmark).

    python bench/reconcile_checkpoint.py prepare DIR IDS URL AGE   # as a run leaves it
    python bench/reconcile_checkpoint.py listing URL           # June's listing read, nothing else

``prepare`` writes ``DIR/ids.csv`` (subjects ``s000000000``, ... as ``seeded_sandbox.py``
names them), then a checkpoint for ``URL`` in ``DIR/state`` as a run leaves it: the plan made
from that file by the tool's own planning, and a journal with every ID accepted. ``listing``
reads the sandbox's whole listing through :class:`bulk_delete.listing.Listing`, as a
reconcile does, and drops it: the share of a reconcile's peak that is the listing's alone.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import polars as pl
from seeded_sandbox import subject

from bulk_delete import inputs, plan
from bulk_delete.api import open_client
from bulk_delete.checkpoint import Checkpoint
from bulk_delete.config import Secret
from bulk_delete.journal import COLUMNS, HEADER, NAME
from bulk_delete.listing import Listing
from bulk_delete.pacing import Pacer

KEY = "sk_bench_0123456789"


def prepare(directory: Path, ids: int, api_url: str, age: float) -> None:
    """Each ID journalled accepted about two minutes before the sandbox (started a little
    earlier) says it made the request, so hours to finish are small and positive."""
    source = directory / "ids.csv"
    pl.Series("user_id", [subject(i) for i in range(ids)], dtype=pl.String).to_frame() \
        .write_csv(source)
    with Checkpoint.open(directory / "state", kind="user", api_host=api_url,
                         create=True) as checkpoint:
        read = inputs.read_ids([source], kind="user")
        checkpoint.save_plan(plan.make_plan(read.ids, read.files, pl.Series(dtype=pl.String))
                             .for_report())
        now = time.time()
        lines = pl.DataFrame({"id": [subject(i) for i in range(ids)]}).with_columns(
            outcome=pl.lit("accepted"), http_status=pl.lit("200"), attempts=pl.lit("1"),
            at=pl.from_epoch(pl.Series([int((now - age * (1 - i / ids / 2) - 120) * 1000)
                                        for i in range(ids)]), time_unit="ms")
            .dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
            error=pl.lit(""))
        with (directory / "state" / NAME).open("wb") as f:
            f.write(HEADER.encode())
            lines.select(COLUMNS).write_csv(f, separator="\t", quote_style="never",
                                             include_header=False)


async def listing(api_url: str) -> int:
    async with open_client(base_url=api_url, kind="user", key=Secret(KEY), auth_style="raw",
                           request_timeout=30, concurrency=8) as client:
        found = await Listing(client, Pacer(10_000), kind="user", auth_style="raw",
                              max_attempts=6, window=8).read()
    return found.height


def main() -> None:
    if sys.argv[1] == "prepare":
        prepare(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
    else:
        print(asyncio.run(listing(sys.argv[2])))


if __name__ == "__main__":
    main()

"""The checkpoint ``bench/reconcile_memory.py`` reconciles, made in a process of its own.

    python bench/reconcile_checkpoint.py DIR IDS URL AGE

Writes ``DIR/ids.csv`` (subjects ``s000000000``, ... as ``seeded_sandbox.py`` names them),
then a checkpoint for ``URL`` in ``DIR/state`` as a run leaves it: the plan made from that
file by the tool's own planning, and a journal with every ID accepted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import polars as pl
from seeded_sandbox import subject

from bulk_delete import inputs, plan
from bulk_delete.checkpoint import Checkpoint
from bulk_delete.journal import COLUMNS, HEADER, NAME


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


def main() -> None:
    prepare(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))


if __name__ == "__main__":
    main()

"""What rows erased by ``retain`` still count for: the anonymous remainder of each row.

    erased/000001.parquet, ...    one file per retain that erased rows, recorded in digests.jsonl

A row erased from the evidence takes its ID, its dates and June's request id with it; what it
counted for stays, so the counts of summary.json and the regulator's figures (requests sent,
completed, median and 90th-percentile hours to finish) do not change::

    outcome  server_state  hours_to_finish  erased_at

Summing up (evidence.py, republish.py), these rows, with no ID, join the report's own rows:
every count and figure is taken over both, and ``retention`` says how many rows were erased
and when, and how many of the report's rows name a pseudonym instead of an ID.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from bulk_delete.files import next_numbered, numbered
from bulk_delete.pseudonyms import is_pseudonym

DIRECTORY = "erased"
#: What the digest record calls these files.
ROLE = "erasure"
SCHEMA = {"outcome": pl.String, "server_state": pl.String, "hours_to_finish": pl.Float64,
          "erased_at": pl.String}


def files(directory: Path) -> list[Path]:
    """The erasure files of a checkpoint directory, oldest first."""
    return numbered(directory / DIRECTORY)


def scan(directories: Sequence[Path], also: pl.DataFrame | None = None) -> pl.LazyFrame:
    """Every erased row's remainder, over the directories (none when nothing was erased),
    and ``also`` (what a retain is erasing now)."""
    paths = [path for directory in directories for path in files(directory)]
    found = pl.scan_parquet(paths, schema=SCHEMA) if paths else pl.LazyFrame(schema=SCHEMA)
    return found if also is None else pl.concat([found, also.lazy()])


def remainder(rows: pl.DataFrame, erased_at: str) -> pl.DataFrame:
    """What report rows about to be erased still count for."""
    return rows.select("outcome", "server_state", "hours_to_finish",
                       erased_at=pl.lit(erased_at)).cast(SCHEMA)  # type: ignore[arg-type]


def with_erased(rows: pl.LazyFrame, directories: Sequence[Path],
                also: pl.DataFrame | None = None) -> pl.LazyFrame:
    """The report's rows and, after them, the remainder of every erased row (and ``also``),
    with no ID and nothing that needs attention: what the summary and the page count."""
    erased = scan(directories, also).select(
        "outcome", "server_state", "hours_to_finish", overdue=pl.lit(value=False))
    return pl.concat([rows, erased], how="diagonal_relaxed")


def next_path(directory: Path) -> Path:
    return next_numbered(directory / DIRECTORY)


def retention(rows: pl.LazyFrame, directories: Sequence[Path],
              also: pl.DataFrame | None = None) -> dict[str, Any]:
    """summary.json's ``retention``: the report's rows that name a pseudonym, and the rows
    erased (``also`` included), in all and by each retain that erased some (when, how many)."""
    pseudonymized = rows.select(is_pseudonym().sum()).collect().item()
    by_time = (scan(directories, also).group_by("erased_at").len().sort("erased_at")
               .collect().rows())
    return {"pseudonymized_rows": int(pseudonymized),
            "erased_rows": sum(n for _, n in by_time),
            "erasures": [{"at": at, "rows": n} for at, n in by_time]}

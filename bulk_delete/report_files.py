"""The per-ID report (CSV, Parquet, JSON or JSON Lines by suffix) and its summary.

Both are written atomically and readable by the owner only: IDs are personal data. The
report is streamed from its rows (a LazyFrame over the rows on disk), so five million rows
never sit in memory as one frame, in any of the four formats.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from bulk_delete.errors import UsageError
from bulk_delete.files import write_private

SUFFIXES = (".csv", ".parquet", ".json", ".jsonl")


def check_path(path: Path) -> None:
    """A usage error, before any work, when the report format is unknown."""
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"--report {path}: the suffix must be one of {', '.join(SUFFIXES)}")


def write(rows: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    """Write the report in the format its suffix names."""
    lazy = rows.lazy()
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_private(path, lazy.sink_csv)
    elif suffix == ".parquet":
        write_private(path, lazy.sink_parquet)
    elif suffix == ".json":
        write_private(path, lambda tmp: _json_array(lazy, tmp))
    else:
        write_private(path, lazy.sink_ndjson)


def _json_array(rows: pl.LazyFrame, path: Path) -> None:
    """One JSON array of row objects, written a batch at a time (polars' write_json needs
    the whole frame in memory)."""
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        separator = "\n"
        for batch in rows.collect_batches():
            # JSON escapes a newline inside a string: every newline ends a row object.
            for line in batch.write_ndjson().split("\n"):
                if line:
                    out.write(separator + line)
                    separator = ",\n"
        out.write("\n]\n")


def write_summary(summary: dict[str, Any], path: Path) -> None:
    """summary.json: counts by outcome and state, what needs attention, the figures."""
    text = json.dumps(summary, indent=2) + "\n"
    write_private(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

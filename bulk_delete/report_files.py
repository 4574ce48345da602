"""The per-ID report (CSV, Parquet, JSON or JSON Lines by suffix) and its summary.

Both are written atomically and readable by the owner only: IDs are personal data. The
report is streamed from its rows (a LazyFrame over the rows on disk), so five million rows
never sit in memory as one frame, in any of the four formats.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
    write_private(path, writer(rows, path.suffix))


def writer(rows: pl.DataFrame | pl.LazyFrame, suffix: str) -> Callable[[Path], object]:
    """What writes ``rows`` as a report in the format ``suffix`` names, into a given file."""
    lazy = rows.lazy()
    suffix = suffix.lower()
    if suffix == ".csv":
        return lazy.sink_csv
    if suffix == ".parquet":
        return lazy.sink_parquet
    if suffix == ".json":
        return lambda tmp: _json_array(lazy, tmp)
    return lazy.sink_ndjson


def scan(path: Path, suffix: str | None = None) -> pl.LazyFrame:
    """A report as written, in its own columns: CSV as text (so writing it again gives the
    same bytes), the others with the types their format holds; ``suffix`` names the format
    when the file's own name does not. Only a JSON array is read whole (polars has no lazy
    reader for one)."""
    suffix = (suffix or path.suffix).lower()
    if suffix == ".csv":
        return pl.scan_csv(path, infer_schema=False)
    if suffix == ".parquet":
        return pl.scan_parquet(path)
    if suffix == ".json":
        return pl.read_json(path, infer_schema_length=None).lazy()
    return pl.scan_ndjson(path, infer_schema_length=None)


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

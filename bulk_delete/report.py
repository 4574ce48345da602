"""The per-ID report (CSV, Parquet, JSON or JSON Lines by suffix) and its summary.

Both are written atomically and readable by the owner only: IDs are personal data.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from bulk_delete.checkpoint import write_private
from bulk_delete.errors import UsageError

SUFFIXES = (".csv", ".parquet", ".json", ".jsonl")


def check_path(path: Path) -> None:
    """A usage error, before any work, when the report format is unknown."""
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"--report {path}: the suffix must be one of {', '.join(SUFFIXES)}")


def write(rows: pl.DataFrame, path: Path) -> None:
    """Write the report in the format its suffix names."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_private(path, rows.write_csv)
    elif suffix == ".parquet":
        write_private(path, rows.write_parquet)
    elif suffix == ".json":
        write_private(path, rows.write_json)
    else:
        write_private(path, rows.write_ndjson)


def write_summary(summary: dict[str, dict[str, int]], path: Path) -> None:
    """summary.json: counts by outcome and state, and what needs attention."""
    text = json.dumps(summary, indent=2) + "\n"
    write_private(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

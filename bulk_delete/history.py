"""The state history: what every reconcile saw at June of each ID it sent, kept for good.

    history/000001.parquet, 000002.parquet, ...   one file per reconcile, never rewritten
                                                  (but by retain, in place: retain.py)

A file holds a row for each sent ID whose record at June changed since the last known state
(first listed, or a new state, request id or June timestamp), sorted by ID::

    id                      the subject
    state, request_id       as June's listing showed them (any state June names is kept)
    created_at, updated_at  June's own timestamps, as June wrote them
    found_in                which read of the listing found the record
    seen_at                 when this reconcile read it (UTC)
    started_at, finished_at when the request was first seen started / finished: June's
                            ``updated_at`` of that sighting when it reads as ISO-8601, else
                            ``seen_at``; carried from row to row, so an ID's last row says all

Only changes are written, so a daily reconcile of 5 million IDs adds rows for those that
moved, and a request seen finished once stays finished after June purges it (90 days). The
files are sorted by ID in row groups of ROW_GROUP rows: reading one ID (``lookup``) or one
range of IDs (a reconcile, a range at a time) reads a row group per file, not the file.
Parquet rather than an append-only text log: the same rows as text took several times the
space (June's request ids and times compress well by column), and finding one ID in text
means parsing every line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import polars as pl

from bulk_delete.files import next_numbered, numbered, write_private

DIRECTORY = "history"
#: Rows per Parquet row group: the most a lookup of one ID decodes from one file.
ROW_GROUP = 50_000
_TIME = pl.Datetime("ms", "UTC")
SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(), "state": pl.String(), "request_id": pl.String(),
    "created_at": pl.String(), "updated_at": pl.String(), "found_in": pl.String(),
    "seen_at": _TIME, "started_at": _TIME, "finished_at": _TIME,
}
#: What June says of a record; a change in any of them is a new row.
JUNE_FIELDS = ("state", "request_id", "created_at", "updated_at")
#: What the listing gives, as history names it (``found_in`` may be null).
OBSERVED = {"id": pl.String, **dict.fromkeys((*JUNE_FIELDS, "found_in"), pl.String)}
#: ISO-8601 shapes June may use: Z with or without fractions, an offset, minutes only.
_FORMATS = ("%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%MZ")


def files(directory: Path) -> list[Path]:
    """The history files of a checkpoint directory, oldest first."""
    return numbered(directory / DIRECTORY)


def scan(directory: Path) -> pl.LazyFrame:
    """Every history row, oldest file first (no rows when there is no history yet)."""
    paths = files(directory)
    if not paths:
        return pl.LazyFrame(schema=SCHEMA)
    return pl.scan_parquet(paths, schema=SCHEMA)


def finished(directory: Path) -> pl.LazyFrame:
    """``id`` of every ID ever seen finished."""
    return scan(directory).filter(pl.col("finished_at").is_not_null()).select("id").unique()


def latest(rows: pl.LazyFrame) -> pl.DataFrame:
    """The last row of each ID: its latest known state, with when it started and finished.

    ``is_last_distinct`` keeps the rows as they are (a group-by or ``unique`` peaked at
    twice the memory on a million IDs).
    """
    return rows.filter(pl.col("id").is_last_distinct()).collect()


def june_time(column: str) -> pl.Expr:
    """June's ISO-8601 text as a UTC datetime; null when it is missing or in another shape."""
    return pl.coalesce(*(pl.col(column).str.to_datetime(f, time_unit="ms", time_zone="UTC",
                                                        strict=False) for f in _FORMATS))


def changes(observed: pl.DataFrame, previous: pl.DataFrame, seen_at: datetime) -> pl.DataFrame:
    """The rows to append: each observed ID that is new or differs in a field June gives.

    ``observed`` has the columns of OBSERVED (one row per ID); ``previous`` the latest row
    of each ID before this read (:func:`latest`).
    """
    when = pl.coalesce(june_time("updated_at"), pl.col("seen_at"))
    joined = observed.join(previous.select("id", *JUNE_FIELDS, "started_at", "finished_at"),
                           on="id", how="left", suffix="_before", maintain_order="left")
    moved = pl.any_horizontal(pl.col(f).ne_missing(pl.col(f"{f}_before")) for f in JUNE_FIELDS)
    return (
        joined.filter(moved)
        .with_columns(seen_at=pl.lit(seen_at, SCHEMA["seen_at"]))
        .with_columns(
            started_at=pl.col("started_at").fill_null(
                pl.when(pl.col("state") == "started").then(when)),
            finished_at=pl.col("finished_at").fill_null(
                pl.when(pl.col("state") == "finished").then(when)),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in SCHEMA.items())
    )


def advance(previous: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """The latest row of each ID once ``new`` (from :func:`changes`) is appended."""
    return latest(pl.concat([previous.select(list(SCHEMA)), new.select(list(SCHEMA))]).lazy())


def append(directory: Path, rows: pl.LazyFrame) -> Path | None:
    """Write one reconcile's changed rows as the next history file (nothing when none).

    ``rows`` must already be sorted by ID; they are streamed to the file, never collected.
    The caller holds the checkpoint's lock, so the next number is free.
    """
    if not rows.select(pl.len()).collect().item():
        return None
    path = next_numbered(directory / DIRECTORY)
    write_private(path, writer(rows))
    return path


def writer(rows: pl.LazyFrame) -> Callable[[Path], object]:
    """What writes history rows (sorted by ID) into a given file, as history files are."""
    return lambda tmp: rows.select(list(SCHEMA)).sink_parquet(
        tmp, row_group_size=ROW_GROUP, statistics=True)

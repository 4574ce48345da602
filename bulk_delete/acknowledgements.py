"""A person's decision on rows that need attention: who, when and why, kept with the evidence.

    acknowledged/000001.parquet, ...    one file per ``acknowledge``, recorded in digests.jsonl

A row needs a person (exit 4) when it is rejected, pending, missing, unverified or overdue
(report_rows.ATTENTION). A scheduler that sees 4 every night, for ten IDs June has no user
for, teaches people to ignore it; so a person may settle such a row, for one kind of
attention, with a reason. Each file holds a row per ID and kind settled::

    id  category  by  at  reason          category: rejected, missing, unverified, overdue

The report shows the decision in its ``acknowledged*`` columns (the categories settled, and
who, when and why of the latest), and a row counts for exit 4 only in the categories nobody
settled: the same ID overdue, acknowledged, then missing needs a person again, and a new
rejection still exits 4. The files name IDs, so ``retain`` pseudonymizes and erases them too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from bulk_delete.errors import UsageError
from bulk_delete.files import next_numbered, numbered
from bulk_delete.report_rows import ACKNOWLEDGEABLE, TIME_FORMAT, acknowledged, needs

DIRECTORY = "acknowledged"
#: What the digest record calls these files.
ROLE = "acknowledgement"
SCHEMA = {"id": pl.String, "category": pl.String, "by": pl.String, "at": pl.String,
          "reason": pl.String}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: IDs named in an error before "and N more".
SHOWN = 5


def files(directory: Path) -> list[Path]:
    """The acknowledgement files of a checkpoint directory, oldest first."""
    return numbered(directory / DIRECTORY)


def scan(directory: Path) -> pl.LazyFrame:
    """Every acknowledgement, oldest first (none when nobody acknowledged anything)."""
    paths = files(directory)
    return pl.scan_parquet(paths, schema=SCHEMA) if paths else pl.LazyFrame(schema=SCHEMA)


def per_id(rows: pl.LazyFrame) -> pl.DataFrame:
    """``id`` and the report's ``acknowledged*`` columns: every category settled, sorted and
    comma-separated, and who, when and why of the latest decision."""
    return (rows.group_by("id", maintain_order=True).agg(
        acknowledged=pl.col("category").unique().sort().str.join(","),
        acknowledged_by=pl.col("by").last(), acknowledged_at=pl.col("at").last(),
        acknowledged_reason=pl.col("reason").last()).collect())


def chosen(rows: pl.DataFrame, *, ids: Sequence[str] = (), category: str | None = None,
           before: datetime | None = None) -> pl.DataFrame:
    """``id`` and ``category`` of each report row to settle: the named IDs in every kind of
    attention they need now, or the rows of one category (submitted before ``before``) that
    nobody settled yet. A named ID that is not in the report, or needs nothing a person can
    settle, is a usage error: nothing is recorded for a typo."""
    if category is not None:
        picked = rows.filter(needs(category) & ~acknowledged(category))
        if before is not None:
            picked = picked.filter(pl.col("submitted_at") < before.strftime(TIME_FORMAT))
        return picked.select("id", category=pl.lit(category))
    named = rows.filter(pl.col("id").is_in(list(ids)))
    found = named.select("id", *(needs(c).alias(c) for c in ACKNOWLEDGEABLE)).unpivot(
        index="id", variable_name="category").filter("value").drop("value")
    wrong = [f"{i!r} " + ("needs nothing to acknowledge" if i in named["id"] else
                          "is not in the report")
             for i in dict.fromkeys(ids) if i not in found["id"]]
    if wrong:
        more = f" and {len(wrong) - SHOWN} more" if len(wrong) > SHOWN else ""
        raise UsageError("nothing recorded: " + "; ".join(wrong[:SHOWN]) + more)
    return found


def entries(picked: pl.DataFrame, *, by: str, reason: str, at: str) -> pl.DataFrame:
    """The rows of an acknowledgement file for the rows :func:`chosen` picked."""
    said = _CONTROL.sub(" ", reason).strip()
    if not said:
        raise UsageError("--reason is empty: say why, for whoever reads the report later")
    return picked.select("id", "category", by=pl.lit(by), at=pl.lit(at),
                         reason=pl.lit(said)).cast(SCHEMA)  # type: ignore[arg-type]


def next_path(directory: Path) -> Path:
    return next_numbered(directory / DIRECTORY)


def parse_before(text: str) -> datetime:
    """``--before``: an ISO-8601 date or time; a time without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--before {text!r} is not a date (YYYY-MM-DD) or an ISO-8601 "
                         "time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

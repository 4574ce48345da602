"""What June says happened, joined with what the journal says was sent: one row per ID.

    journal (latest outcome per ID) + plans (IDs read but never sent, invalid rows)
        left-joined with June's listing (most advanced state per subject)
        -> report rows -> summary and exit code
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from bulk_delete.config import Kind
from bulk_delete.errors import ExitCode
from bulk_delete.journal import FAILED, INVALID, PENDING, REJECTED, REQUESTED

#: June's instants as the report writes them: ISO 8601 in UTC, fractions only as needed.
ISO = "%Y-%m-%dT%H:%M:%S%.fZ"
#: Report columns, in order (SPEC §7).
COLUMNS = ("id", "kind", "outcome", "http_status", "error", "attempts", "submitted_at",
           "server_state", "server_updated_at", "overdue")


def report_rows(journal: pl.DataFrame, plans: pl.LazyFrame | None, listed: pl.DataFrame,
                *, kind: Kind, now: datetime, deadline_hours: float) -> pl.DataFrame:
    """One row per ID: its last outcome, and June's state for it (``listed``: Listing.read)."""
    latest = (
        journal.unique("id", keep="last", maintain_order=True)
        .select(
            "id",
            pl.col("outcome").replace(FAILED, PENDING),
            pl.col("http_status").cast(pl.Int64),
            "error",
            pl.col("attempts").cast(pl.Int64),
            pl.col("at").alias("submitted_at"),
        )
    )
    frames = [latest]
    if plans is not None:
        planned = plans.collect()
        unsent = (planned.filter(pl.col("outcome") == PENDING).unique("id", maintain_order=True)
                  .join(latest, on="id", how="anti"))
        # A file read by several runs is in several plans: its invalid rows, once each.
        invalid = (planned.filter(pl.col("outcome") == INVALID)
                   .unique(["id", "error"], maintain_order=True))
        frames += [frame.select("id", "outcome", "error") for frame in (unsent, invalid)]
    rows = pl.concat(frames, how="diagonal_relaxed")
    server = listed.select(pl.col("subject").alias("id"),
                           pl.col("state").cast(pl.String).alias("server_state"),
                           pl.col("updated_at").dt.to_string(ISO).alias("server_updated_at"))
    deadline = (now - timedelta(hours=deadline_hours)).isoformat().replace("+00:00", "Z")
    return (
        rows.join(server, on="id", how="left", maintain_order="left")
        .with_columns(
            pl.lit(kind).alias("kind"),
            pl.when(pl.col("outcome") == INVALID).then(None)
            .otherwise(pl.col("server_state").fill_null("missing")).alias("server_state"),
        )
        .with_columns(
            (pl.col("outcome").is_in(REQUESTED) & (pl.col("server_state") != "finished")
             & (pl.col("submitted_at") < deadline)).fill_null(value=False).alias("overdue"),
        )
        .select(COLUMNS)
    )


def summarize(rows: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Counts by outcome and by server state, plus what needs attention."""
    requested = rows.filter(pl.col("outcome").is_in(REQUESTED))

    def counts(column: str, frame: pl.DataFrame) -> dict[str, int]:
        pairs = frame.group_by(column).len().sort(column).rows()
        return {str(key): int(n) for key, n in pairs}

    return {
        "outcome": counts("outcome", rows),
        "server_state": counts("server_state", requested),
        "attention": {
            "rejected": int((rows["outcome"] == REJECTED).sum()),
            "pending": int((rows["outcome"] == PENDING).sum()),
            "missing": int((requested["server_state"] == "missing").sum()),
            "overdue": int(rows["overdue"].sum()),
        },
    }


def exit_code(summary: dict[str, dict[str, int]], *, pending_ok: bool = False) -> ExitCode:
    """4 when anything needs attention, 3 while June is still working (0 if ``pending_ok``),
    else 0."""
    if any(summary["attention"].values()):
        return ExitCode.ATTENTION
    working = any(n for state, n in summary["server_state"].items() if state != "finished")
    return ExitCode.IN_PROGRESS if working and not pending_ok else ExitCode.OK

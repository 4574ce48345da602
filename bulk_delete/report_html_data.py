"""What report.html shows, computed: the page's data, its histogram, its lists and runs.

page.py turns these into HTML; everything here is plain values and polars, tested
without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from bulk_delete.digests import InputFile
from bulk_delete.errors import ExitCode
from bulk_delete.report_rows import ACKNOWLEDGEABLE, acknowledged, needs
from bulk_delete.types import Kind

#: Rows of each attention list written into the page; the report holds them all.
FIRST_ROWS = 20
#: Histogram bins up to the deadline; as many again after it, then one open-ended bin.
BINS_TO_DEADLINE = 12


# eq=False: a DataFrame has no truth value, so field-wise equality means nothing here.
@dataclass(frozen=True, kw_only=True, eq=False)
class PageData:
    """What the page shows; render() derives only the histogram and the first rows."""

    #: The report rows, one per ID, with the report's columns (lazy: only the first rows
    #: of each list and the hours to finish are read).
    rows: pl.DataFrame | pl.LazyFrame
    #: The content of summary.json: outcome, server_state, attention, figures.
    summary: dict[str, Any]
    #: The lines of runs.jsonl, oldest first.
    runs: list[dict[str, Any]]
    #: The process writing the page: its run has no end line yet.
    writer: int | None = None
    inputs: list[InputFile]
    tool_version: str
    #: ISO-8601 UTC.
    generated_at: str
    kind: Kind
    api_host: str
    deadline_hours: float

    def __post_init__(self) -> None:
        if not self.deadline_hours > 0:  # also refuses NaN
            raise ValueError(f"deadline_hours must be positive, not {self.deadline_hours}")


@dataclass(frozen=True)
class Bin:
    """Requests that finished in (low, high] hours; high None is the open last bin."""

    low: float
    high: float | None
    count: int


@dataclass(frozen=True)
class Attention:
    """One list of IDs that need someone to act, as the summary counts it."""

    name: str
    says: str
    where: pl.Expr
    columns: tuple[str, ...]


def attention_lists(deadline_hours: float,
                    unverified_reason: str | None = None) -> tuple[Attention, ...]:
    """The lists of what nobody acknowledged, with the conditions summarize counts;
    ``unverified_reason`` is summary.json's, said with its list."""
    why = f" Why: {unverified_reason}." if unverified_reason else ""
    says = {
        "rejected": ("June refused the request: these people were not erased.",
                     ("id", "http_status", "error", "attempts", "submitted_at")),
        "pending": ("Read but not accepted: never sent, or every retry failed. Running "
                    "submit again sends them.", ("id", "error", "attempts", "submitted_at")),
        "missing": ("Accepted, but June does not list the request.",
                    ("id", "outcome", "submitted_at", "june_request_id", "server_updated_at")),
        "unverified": ("Accepted, and not found in June's listing, but the listing was not "
                       "read to the end June signals, so they are not called missing: June "
                       f"may list them further on.{why} Run doctor, check --api-url, then "
                       "reconcile again.", ("id", "outcome", "submitted_at", "unverified_reason")),
        "overdue": (f"Accepted more than {deadline_hours:g} h ago and not finished.",
                    ("id", "submitted_at", "server_state", "started_seen_at", "june_request_id")),
    }
    return tuple(Attention(name, text, needs(name) & ~acknowledged(name), columns)
                 for name, (text, columns) in says.items())


#: The rows a person acknowledged in some attention they still need: shown with the decision.
ACKNOWLEDGED = Attention(
    "acknowledged", "A person decided these need nobody any more; the decision, who and when "
    "(bulk-delete acknowledge). They no longer make exit 4.",
    pl.any_horizontal(needs(name) & acknowledged(name) for name in ACKNOWLEDGEABLE),
    ("id", "outcome", "acknowledged", "acknowledged_by", "acknowledged_at",
     "acknowledged_reason"))


def histogram(hours: pl.Series, deadline_hours: float) -> list[Bin]:
    """Counts of hours to finish; bins hold their upper edge, so the deadline itself is in time."""
    width = deadline_hours / BINS_TO_DEADLINE
    last = 2 * BINS_TO_DEADLINE
    finished = hours.cast(pl.Float64).drop_nulls().drop_nans()
    index = ((finished / width).ceil() - 1).clip(0, last).cast(pl.Int64)
    counts = dict(index.value_counts().iter_rows())
    return [Bin(i * width, (i + 1) * width if i < last else None, counts.get(i, 0))
            for i in range(last + 1)]


def first_rows(rows: pl.DataFrame | pl.LazyFrame, attention: Attention) -> pl.DataFrame:
    """The first FIRST_ROWS rows of one list, in report order, with its columns only."""
    return (rows.lazy().filter(attention.where).select(attention.columns)
            .head(FIRST_ROWS).collect())


def run_history(runs: list[dict[str, Any]],
                writer: int | None = None) -> list[tuple[Any, ...]]:
    """One row per run (command, started, ended, exit code, pid): a start joined to its end.

    A run with no end line was killed or is still running (``writer``, the process that
    writes the page, has not recorded its end yet); an end with no start line (a damaged
    line) still shows how its run ended.
    """
    table: list[dict[str, Any]] = []
    running: dict[Any, dict[str, Any]] = {}
    for line in runs:
        event, pid = line.get("event"), line.get("pid")
        if event not in ("start", "end"):
            continue
        if event == "start" or pid not in running:
            running[pid] = {"command": line.get("command"), "pid": pid, "started": None,
                            "ended": "no end recorded", "exit": None}
            table.append(running[pid])
        if event == "start":
            running[pid]["started"] = line.get("at")
        else:
            running.pop(pid).update(ended=line.get("at"), exit=exit_label(line.get("exit_code")))
    for row in table:
        if writer is not None and row["pid"] == writer and row["exit"] is None:
            row["ended"] = "running: it wrote this page"
    return [(r["command"], r["started"], r["ended"], r["exit"], r["pid"]) for r in table]


def exit_label(code: Any) -> str | None:
    """An exit code with its name: ``4 (attention)``."""
    if code is None:
        return None
    try:
        return f"{code} ({ExitCode(code).name.lower().replace('_', ' ')})"
    except ValueError:
        return str(code)

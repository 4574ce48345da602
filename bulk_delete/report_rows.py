"""What June says happened, joined with what the journal says was sent: one row per ID.

    journal (latest outcome per ID) + plans (IDs read but never sent, invalid rows)
        left-joined with the state history (history.py) and this read of June's listing
        -> report rows, sorted by ID, invalid rows last -> summary and exit code

A request ever seen finished stays ``finished``, even once June's listing no longer shows
it (June purges after 90 days). Any other sent ID shows the state June lists now, or
``missing`` when June does not list it in a listing read to a proven end; when a read
stopped short (next_page.Stop), an ID it did not find is ``unverified``, with the reason. A
row that needs attention (ATTENTION) counts for exit 4 until a person acknowledges it
(acknowledgements.py): the decision is in its ``acknowledged*`` columns. The functions here
work on one range of IDs in memory; evidence.py runs them a range at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

from bulk_delete import history
from bulk_delete.errors import ExitCode
from bulk_delete.journal import (
    ALREADY_REQUESTED,
    FAILED,
    INVALID,
    PENDING,
    REJECTED,
    REQUESTED,
)
from bulk_delete.types import Kind

#: Report columns and types, in order: the request, June's answer and state, the dates an
#: auditor asks for, then which read of the listing found it.
SCHEMA = {"id": pl.String, "kind": pl.String, "outcome": pl.String, "http_status": pl.Int64,
          "error": pl.String, "attempts": pl.Int64, "submitted_at": pl.String,
          "server_state": pl.String, "server_updated_at": pl.String,
          "june_request_id": pl.String, "started_seen_at": pl.String,
          "finished_seen_at": pl.String, "hours_to_finish": pl.Float64,
          "overdue": pl.Boolean, "found_in": pl.String,
          "unverified_reason": pl.String, "acknowledged": pl.String,
          "acknowledged_by": pl.String, "acknowledged_at": pl.String,
          "acknowledged_reason": pl.String}
COLUMNS = tuple(SCHEMA)
#: What each report column holds, for whoever reads the report without this code: written
#: into summary.json and report.html beside it.
MEANING = {
    "id": "the ID exactly as the input file holds it; once retain has pseudonymized it, its "
          "keyed pseudonym (pseudonym: and 64 hex digits), never an ID",
    "kind": "user or group: the June endpoint the request went to",
    "outcome": "accepted (June took the request); already_requested (June already held one: "
               "it answered 409 or said so, or --skip-existing found it listed); rejected "
               "(June's final 4xx); pending (not sent yet, or gave up after retries: a rerun "
               "sends it); invalid (empty or control characters: never sent)",
    "http_status": "June's last answer to the deletion request",
    "error": "June's message with that answer (the ID in it pseudonymized with the row), or "
             "why the row is invalid",
    "attempts": "the requests it took to get that answer",
    "submitted_at": "when that answer came (UTC)",
    "server_state": "finished once ever seen finished; else what June's listing says now "
                    "(requested, started, or another state June names); missing when June "
                    "does not list it in a listing read to the end June signalled; "
                    "unverified when a read stopped before that end (see unverified_reason); "
                    "empty for a row June never accepted (rejected, pending, invalid): the "
                    "listing is not searched for it",
    "server_updated_at": "June's updated_at of the request, as last listed",
    "june_request_id": "June's own id of the deletion request",
    "started_seen_at": "when the request was first seen started: June's own time when it "
                       "gives one, else the time of the reconcile that saw it",
    "finished_seen_at": "when the request was first seen finished, the same way",
    "hours_to_finish": "hours from submitted_at (already_requested: from June's created_at) "
                       "to finished_seen_at",
    "overdue": "requested more than deadline_hours ago and still not finished",
    "found_in": "which read of June's listing found the record: listing (unfiltered) or "
                "state=S (the listing of state S)",
    "unverified_reason": "for an unverified row, each read of June's listing that stopped "
                         "before June said it had ended, as 'READ page N: CAUSE': repeat (a "
                         "page repeated the one before where more were expected), page_cap, "
                         "foreign_host (a next link to another host: not followed), "
                         "undecodable (a page that is not a listing), unfollowable (a next "
                         "page it cannot ask for); summary.json says each in full",
    "acknowledged": "what a person acknowledged of the row's attention (rejected, missing, "
                    "unverified, overdue; comma-separated): it no longer makes exit 4",
    "acknowledged_by": "who acknowledged it last (bulk-delete acknowledge)",
    "acknowledged_at": "when they acknowledged it (UTC)",
    "acknowledged_reason": "why, in their words",
}
#: server_state of a sent ID that a read stopped short of proving missing.
UNVERIFIED = "unverified"
#: What makes a row need a person (exit 4), by the name summary.json counts it under.
ATTENTION = {
    "rejected": pl.col("outcome") == REJECTED,
    "pending": pl.col("outcome") == PENDING,
    "missing": pl.col("outcome").is_in(REQUESTED) & (pl.col("server_state") == "missing"),
    "unverified": pl.col("outcome").is_in(REQUESTED) & (pl.col("server_state") == UNVERIFIED),
    "overdue": pl.col("overdue").fill_null(value=False),
}
#: The attention a person can acknowledge (``pending`` is not: a rerun sends it).
ACKNOWLEDGEABLE = ("rejected", "missing", "unverified", "overdue")
#: How the report writes a time: as the journal does (UTC, milliseconds, Z).
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"
#: The columns of a listing read that the report uses.
LISTED = ("subject", "state", "request_id", "created_at", "updated_at", "found_in")
#: June's instants as the history and report keep them: ISO 8601 UTC, fractions as needed.
ISO_INSTANT = "%Y-%m-%dT%H:%M:%S%.fZ"


def needs(name: str) -> pl.Expr:
    """A row needs attention of this name (one of ATTENTION)."""
    return ATTENTION[name]


def acknowledged(name: str) -> pl.Expr:
    """A person acknowledged this attention of the row."""
    return pl.col("acknowledged").fill_null("").str.split(",").list.contains(name)


def latest_outcomes(journal: pl.DataFrame) -> pl.DataFrame:
    """Each ID's last journal line: outcome (failed reads pending), status, error, attempts."""
    return (
        journal.unique("id", keep="last", maintain_order=True)
        .select(
            "id",
            pl.col("outcome").cast(pl.String).replace(FAILED, PENDING),
            pl.col("http_status").cast(pl.Int64),
            "error",
            pl.col("attempts").cast(pl.Int64),
            pl.col("at").alias("submitted_at"),
        )
    )


def listed_frame(listed: pl.DataFrame) -> pl.DataFrame:
    """A listing read (listed.LISTED_SCHEMA) with the columns of LISTED as text: June's
    instants in ISO 8601 UTC, as the history keeps them. Text stays as it is."""

    def text(name: str) -> pl.Expr:
        if listed.schema[name].is_temporal():
            return pl.col(name).dt.to_string(ISO_INSTANT)
        return pl.col(name).cast(pl.String)

    return listed.select(text(name) for name in LISTED)


def observed(listed: pl.DataFrame, outcomes: pl.DataFrame,
             previous: pl.DataFrame) -> pl.DataFrame:
    """What this read saw of the sent IDs not yet known finished, as history.OBSERVED."""
    sent = outcomes.filter(pl.col("outcome").is_in(REQUESTED)).select("id")
    done = previous.filter(pl.col("finished_at").is_not_null()).select("id")
    return (
        listed_frame(listed).rename({"subject": "id"})
        .join(sent, on="id", how="semi", maintain_order="left")
        .join(done, on="id", how="anti", maintain_order="left")
        .select(pl.col(name).cast(dtype) for name, dtype in history.OBSERVED.items())
    )


def report_rows(outcomes: pl.DataFrame, plans: pl.DataFrame | pl.LazyFrame | None,
                listed: pl.DataFrame, *, kind: Kind, now: datetime, deadline_hours: float,
                seen: pl.DataFrame | None = None, unverified: str | None = None,
                acknowledgements: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per ID, sorted by ID, invalid rows last.

    ``outcomes``: the :func:`latest_outcomes` of these IDs' journal lines; ``plans``: their
    planned rows (pending and invalid); ``listed``: this read of June's listing; ``seen``:
    the latest history row of each ID once this read's changes are in
    (:func:`bulk_delete.history.advance`), by default what this read alone shows (a first
    reconcile); ``unverified``: why the read was not proven to its end (None: it was),
    which makes the sent IDs it did not find unverified rather than missing;
    ``acknowledgements``: ``id`` and the ``acknowledged*`` columns of the IDs a person
    acknowledged (acknowledgements.per_id).
    """
    frames = [outcomes]
    invalid = pl.DataFrame(schema={"id": pl.String, "outcome": pl.String, "error": pl.String})
    if plans is not None:
        planned = plans.lazy().select("id", pl.col("outcome").cast(pl.String), "error").collect()
        unsent = (planned.filter(pl.col("outcome") == PENDING).unique("id", maintain_order=True)
                  .join(outcomes, on="id", how="anti"))
        # A file read by several runs is in several plans: its invalid rows, once each.
        invalid = (planned.filter(pl.col("outcome") == INVALID)
                   .unique(["id", "error"], maintain_order=True))
        frames.append(unsent)
    rows = pl.concat(frames, how="diagonal_relaxed").sort("id")
    rows = pl.concat([rows, invalid], how="diagonal_relaxed")
    if seen is None:
        nothing = history.latest(pl.LazyFrame(schema=history.SCHEMA))
        seen = history.advance(nothing, history.changes(
            observed(listed, outcomes, nothing), nothing, now))
    if acknowledgements is None:
        acknowledgements = pl.DataFrame(schema={"id": pl.String, **{
            name: pl.String for name in SCHEMA if name.startswith("acknowledged")}})
    rows = rows.join(acknowledgements, on="id", how="left", maintain_order="left")
    return _joined(rows, listed_frame(listed), seen, kind=kind, now=now,
                   deadline_hours=deadline_hours, unverified=unverified)


def _joined(rows: pl.DataFrame, listed: pl.DataFrame, seen: pl.DataFrame, *, kind: Kind,
            now: datetime, deadline_hours: float, unverified: str | None) -> pl.DataFrame:
    june = listed.select(pl.col("subject").alias("id"), *(pl.col(c).alias(f"now_{c}")
                                                          for c in LISTED[1:]))
    known = seen.select("id", *(pl.col(c).alias(f"was_{c}") for c in LISTED[2:]),
                        "started_at", "finished_at")
    deadline = (now - timedelta(hours=deadline_hours)).isoformat().replace("+00:00", "Z")
    field = {c: pl.coalesce(f"now_{c}", f"was_{c}") for c in LISTED[2:]}
    submitted = pl.col("submitted_at").str.to_datetime(TIME_FORMAT, time_unit="ms",
                                                       time_zone="UTC", strict=False)
    # An ID June already held (--skip-existing) was submitted when June made its request.
    start = pl.when(pl.col("outcome") == ALREADY_REQUESTED).then(
        pl.coalesce(history.june_time("created_at"), submitted)).otherwise(submitted)
    unfound = pl.col("now_state").is_null() & pl.col("outcome").is_in(REQUESTED)
    state = (pl.when(pl.col("outcome") == INVALID).then(None)
             .when(pl.col("finished_at").is_not_null()).then(pl.lit("finished"))
             .when(unfound).then(pl.lit("missing" if unverified is None else UNVERIFIED))
             # A row June never accepted (rejected, pending) is not looked for in the listing:
             # its state is what June happens to list, else unknown, never "missing".
             .otherwise(pl.col("now_state")))
    return (
        rows.join(june, on="id", how="left", maintain_order="left")
        .join(known, on="id", how="left", maintain_order="left")
        .with_columns(server_state=state, **field)
        .with_columns(
            kind=pl.lit(kind),
            server_updated_at="updated_at",
            june_request_id="request_id",
            started_seen_at=pl.col("started_at").dt.strftime(TIME_FORMAT),
            finished_seen_at=pl.col("finished_at").dt.strftime(TIME_FORMAT),
            # June may show a record finished before this submission (an earlier request
            # for the same person): it took no time once asked.
            hours_to_finish=((pl.col("finished_at") - start).dt.total_milliseconds()
                             / 3_600_000).clip(lower_bound=0).round(2),
            overdue=(pl.col("outcome").is_in(REQUESTED) & (pl.col("server_state") != "finished")
                     & (pl.col("submitted_at") < deadline)).fill_null(value=False),
            unverified_reason=pl.when(pl.col("server_state") == UNVERIFIED).then(
                pl.lit(unverified, dtype=pl.String)),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in SCHEMA.items())
    )


def summarize(rows: pl.DataFrame | pl.LazyFrame) -> dict[str, Any]:
    """Counts by outcome and by June's state, what needs attention that nobody acknowledged
    (``attention``, what exit 4 is about) and what a person did (``acknowledged``), and the
    figures a regulator asks for (CCPA §7102: requests, completed, median days to complete).
    """
    lazy = rows.lazy()
    if "acknowledged" not in lazy.collect_schema():  # a report written before they existed
        lazy = lazy.with_columns(acknowledged=pl.lit(None, pl.String))
    requested = lazy.filter(pl.col("outcome").is_in(REQUESTED))
    finished = requested.filter(pl.col("server_state") == "finished")
    outcome, state, attention, decided, hours = pl.collect_all([
        lazy.group_by("outcome").len().sort("outcome"),
        requested.group_by("server_state").len().sort("server_state"),
        lazy.select(**{name: (needs(name) & ~acknowledged(name)).sum() for name in ATTENTION}),
        lazy.select(**{name: (needs(name) & acknowledged(name)).sum() for name in ACKNOWLEDGEABLE}),
        finished.select(
            completed=pl.len(),
            median=pl.col("hours_to_finish").median(),
            p90=pl.col("hours_to_finish").quantile(0.9, interpolation="linear"),
        ),
    ])
    sent = int(state["len"].sum())
    done = int(hours["completed"][0])
    return {
        "outcome": _counts(outcome),
        "server_state": _counts(state),
        "attention": {name: int(n) for name, n in attention.row(0, named=True).items()},
        "acknowledged": {name: int(n) for name, n in decided.row(0, named=True).items()},
        "figures": {"requests_sent": sent, "completed": done, "still_open": sent - done,
                    "median_hours_to_finish": _rounded(hours["median"][0]),
                    "p90_hours_to_finish": _rounded(hours["p90"][0])},
    }


def _counts(frame: pl.DataFrame) -> dict[str, int]:
    return {str(key): int(n) for key, n in frame.rows()}


def _rounded(hours: float | None) -> float | None:
    return None if hours is None else round(hours, 2)


def exit_code(summary: dict[str, Any], *, pending_ok: bool = False) -> ExitCode:
    """4 when anything needs attention nobody acknowledged, 3 while June is still working (0 if
    ``pending_ok``), else 0. A missing or unverified row a person acknowledged is settled:
    June is not working on it."""
    if any(summary["attention"].values()):
        return ExitCode.ATTENTION
    settled = ("finished", "missing", UNVERIFIED)
    working = any(n for state, n in summary["server_state"].items() if state not in settled)
    return ExitCode.IN_PROGRESS if working and not pending_ok else ExitCode.OK

"""Report rows, summary, exit code and report files, from a journal and a listing."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from bulk_delete.errors import ExitCode, UsageError
from bulk_delete.journal import COLUMNS as JOURNAL_COLUMNS
from bulk_delete.listing import Record, as_frame
from bulk_delete.present import describe
from bulk_delete.report_files import check_path, write, write_summary
from bulk_delete.report_rows import (
    COLUMNS,
    MEANING,
    exit_code,
    latest_outcomes,
    report_rows,
    summarize,
)

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
RECENT = "2026-06-10T11:00:00.000Z"
OLD = (NOW - timedelta(hours=100)).isoformat().replace("+00:00", "Z")


def journal(*rows: tuple[str, str, str | None, str, str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=dict.fromkeys(JOURNAL_COLUMNS, pl.String),
                        orient="row")


def plans(*rows: tuple[str, str, str]) -> pl.LazyFrame:
    return pl.DataFrame(list(rows), schema=["id", "outcome", "error"], orient="row").lazy()


def rows_for(records: pl.DataFrame, listed: dict[str, Record],
             planned: pl.LazyFrame | None = None) -> pl.DataFrame:
    return report_rows(latest_outcomes(records), planned, as_frame(list(listed.values())),
                       kind="user", now=NOW, deadline_hours=72)


def test_one_row_per_id_with_its_latest_outcome() -> None:
    """An ID that failed in one run and was accepted in the next shows as accepted once; a
    rejected ID is not looked for in June's listing, so its state is unknown, not missing."""
    records = journal(("a", "failed", "503", "6", OLD, "down"),
                      ("a", "accepted", "200", "1", RECENT, None),
                      ("b", "rejected", "422", "1", RECENT, "malformed"))
    rows = rows_for(records, {"a": Record("a", "finished", updated_at="2026-06-10T11:30Z")})
    assert rows.columns == list(COLUMNS)
    assert rows.select("id", "outcome", "http_status", "error", "server_state").rows() == [
        ("a", "accepted", 200, None, "finished"),
        ("b", "rejected", 422, "malformed", None),
    ]
    assert rows["server_updated_at"][0] == "2026-06-10T11:30:00Z"
    assert set(rows["kind"]) == {"user"}


def test_failed_and_unsent_ids_are_pending() -> None:
    """IDs that gave up, or were read but never sent, are pending, with no state June's listing
    was searched for; invalid rows are reported."""
    records = journal(("a", "failed", None, "6", RECENT, "timed out"))
    planned = plans(("a", "pending", ""), ("b", "pending", ""), ("", "invalid", "empty ID"))
    rows = rows_for(records, {}, planned)
    assert rows.select("id", "outcome", "error", "server_state").rows() == [
        ("a", "pending", "timed out", None),
        ("b", "pending", "", None),
        ("", "invalid", "empty ID", None),
    ]


def test_a_file_read_by_two_runs_reports_its_invalid_rows_once() -> None:
    """Each run keeps its plan: the same invalid row in two plans is one report row."""
    twice = [("", "invalid", "empty ID at ids.csv:3"), (" ", "invalid", "empty ID at ids.csv:9")]
    planned = plans(*twice, ("", "invalid", "empty ID at new.csv:3"), *twice)
    rows = rows_for(journal(), {}, planned)
    assert rows.select("id", "error").rows() == [("", "empty ID at ids.csv:3"),
                                                 (" ", "empty ID at ids.csv:9"),
                                                 ("", "empty ID at new.csv:3")]


def test_overdue_after_the_deadline_only_when_not_finished() -> None:
    """Accepted more than 72 h ago and still not finished is overdue; finished never is."""
    records = journal(("old", "accepted", "200", "1", OLD, None),
                      ("done", "accepted", "200", "1", OLD, None),
                      ("new", "accepted", "200", "1", RECENT, None))
    listed = {"old": Record("old", "started"), "done": Record("done", "finished"),
              "new": Record("new", "requested")}
    rows = rows_for(records, listed)
    assert dict(rows.select("id", "overdue").rows()) == {"old": True, "done": False,
                                                         "new": False}


@pytest.mark.parametrize(("records", "listed", "code"), [
    ([("a", "accepted", "200", "1", RECENT, None)], {"a": "finished"}, ExitCode.OK),
    ([("a", "already_requested", None, "0", RECENT, None)], {"a": "finished"}, ExitCode.OK),
    ([("a", "accepted", "200", "1", RECENT, None)], {"a": "started"}, ExitCode.IN_PROGRESS),
    ([("a", "accepted", "200", "1", RECENT, None)], {"a": "requested"}, ExitCode.IN_PROGRESS),
    ([("a", "accepted", "200", "1", RECENT, None)], {}, ExitCode.ATTENTION),
    ([("a", "rejected", "404", "1", RECENT, "no")], {}, ExitCode.ATTENTION),
    ([("a", "failed", "503", "6", RECENT, "x")], {}, ExitCode.ATTENTION),
    ([("a", "accepted", "200", "1", OLD, None)], {"a": "started"}, ExitCode.ATTENTION),
])
def test_exit_codes(records: list[tuple[str, str, str | None, str, str, str | None]],
                    listed: dict[str, str], code: ExitCode) -> None:
    """0 all finished, 3 still in progress, 4 rejected, missing, pending or overdue."""
    rows = rows_for(journal(*records), {s: Record(s, state) for s, state in listed.items()})
    assert exit_code(summarize(rows)) is code


@pytest.mark.parametrize(("listed", "settled", "code"), [
    ({}, "missing", ExitCode.OK),
    ({"b": "started"}, "missing", ExitCode.IN_PROGRESS),
    ({}, "overdue", ExitCode.ATTENTION),
])
def test_acknowledged_attention_is_settled(listed: dict[str, str], settled: str,
                                           code: ExitCode) -> None:
    """A missing ID a person acknowledged neither needs attention nor keeps the job "in
    progress": only June's open requests do; acknowledging another category settles nothing."""
    records = journal(("a", "accepted", "200", "1", RECENT, None),
                      *([("b", "accepted", "200", "1", RECENT, None)] if listed else []))
    decided = pl.DataFrame({"id": ["a"], "acknowledged": [settled], "acknowledged_by": ["dpo"],
                            "acknowledged_at": [RECENT], "acknowledged_reason": ["checked"]})
    rows = report_rows(latest_outcomes(records), None,
                       as_frame([Record(s, state) for s, state in listed.items()]),
                       kind="user", now=NOW, deadline_hours=72, acknowledgements=decided)
    assert exit_code(summarize(rows)) is code


def test_summary_counts() -> None:
    """The summary counts outcomes, June's states for requested IDs, what needs attention,
    and the regulator's figures (a finished record with no time of June's counts from now)."""
    records = journal(("a", "accepted", "200", "1", RECENT, None),
                      ("b", "accepted", "200", "1", RECENT, None),
                      ("c", "rejected", "400", "1", RECENT, "bad"))
    summary = summarize(rows_for(records, {"a": Record("a", "finished")}))
    assert summary == {
        "outcome": {"accepted": 2, "rejected": 1},
        "server_state": {"finished": 1, "missing": 1},
        "attention": {"rejected": 1, "pending": 0, "missing": 1, "unverified": 0, "overdue": 0},
        "acknowledged": {"rejected": 0, "missing": 0, "unverified": 0, "overdue": 0},
        "figures": {"requests_sent": 2, "completed": 1, "still_open": 1,
                    "median_hours_to_finish": 1.0, "p90_hours_to_finish": 1.0},
    }
    assert "accepted 2" in describe(summary, Path("r.csv"))


def test_a_read_stopped_short_makes_unfound_sent_ids_unverified() -> None:
    """With a reason, a sent ID the read did not find is unverified (counted as attention,
    exit 4) and carries the reason; what June lists keeps its state; an ID never sent stays
    as it was; no row is missing."""
    records = journal(("a", "accepted", "200", "1", RECENT, None),
                      ("b", "already_requested", "409", "1", RECENT, None),
                      ("c", "accepted", "200", "1", RECENT, None),
                      ("d", "failed", "503", "6", RECENT, "down"))
    rows = report_rows(latest_outcomes(records), None, as_frame([Record("c", "started")]),
                       kind="user", now=NOW, deadline_hours=72,
                       unverified="listing page 2: repeat")
    assert rows.select("id", "server_state", "unverified_reason").rows() == [
        ("a", "unverified", "listing page 2: repeat"),
        ("b", "unverified", "listing page 2: repeat"),
        ("c", "started", None), ("d", None, None)]
    summary = summarize(rows)
    assert summary["attention"]["unverified"] == 2
    assert summary["attention"]["missing"] == 0
    assert exit_code(summary) is ExitCode.ATTENTION


def test_every_report_column_is_explained() -> None:
    """summary.json and report.html say what each column holds, in the report's order: a
    column added without a meaning would reach an auditor unexplained."""
    assert tuple(MEANING) == COLUMNS
    assert all(len(meaning) > 10 for meaning in MEANING.values())


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".jsonl"])
def test_report_formats_round_trip(tmp_path: Path, suffix: str) -> None:
    """Each format holds the same rows, IDs as strings, and is readable by the owner only."""
    records = journal(("00123", "accepted", "200", "1", RECENT, None),
                      ("1e5", "rejected", "422", "2", RECENT, "bad, \"quoted\""))
    rows = rows_for(records, {"00123": Record("00123", "finished")})
    path = tmp_path / f"report{suffix}"
    write(rows, path)
    read = {".csv": lambda p: pl.read_csv(p, schema_overrides={"id": pl.String}),
            ".parquet": pl.read_parquet, ".json": pl.read_json, ".jsonl": pl.read_ndjson}[suffix]
    back = read(path)
    assert back["id"].to_list() == ["00123", "1e5"]
    assert back["error"].to_list()[1] == 'bad, "quoted"'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_summary_file(tmp_path: Path) -> None:
    """summary.json is plain JSON, owner-only."""
    path = tmp_path / "summary.json"
    write_summary({"outcome": {"accepted": 1}}, path)
    assert json.loads(path.read_text()) == {"outcome": {"accepted": 1}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unknown_report_suffix_is_a_usage_error() -> None:
    """A report path with an unknown suffix is refused before any work."""
    with pytest.raises(UsageError, match=r"\.csv, \.parquet, \.json, \.jsonl"):
        check_path(Path("report.xlsx"))


def test_hours_to_finish_count_from_the_submission() -> None:
    """From submitted_at to June's finish time; for an ID June already held, from June's
    created_at; 0 when June shows it finished before it was sent."""
    sent = "2026-06-10T10:00:00.000Z"
    records = journal(("a", "accepted", "200", "1", sent, None),
                      ("b", "already_requested", None, "0", sent, None),
                      ("c", "accepted", "200", "1", sent, None))
    listed = {"a": Record("a", "finished", updated_at="2026-06-10T16:30:00Z"),
              "b": Record("b", "finished", created_at="2026-06-09T10:00:00Z",
                          updated_at="2026-06-10T16:00:00Z"),
              "c": Record("c", "finished", updated_at="2026-06-09T00:00:00Z")}
    rows = rows_for(records, listed)
    assert dict(rows.select("id", "hours_to_finish").rows()) == {"a": 6.5, "b": 30.0, "c": 0.0}
    assert rows["finished_seen_at"].to_list() == ["2026-06-10T16:30:00.000Z",
                                                  "2026-06-10T16:00:00.000Z",
                                                  "2026-06-09T00:00:00.000Z"]

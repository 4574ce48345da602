"""The state history: what each reconcile saw is kept, only changes are written, a request
seen finished stays finished, and a reconcile done a range of IDs at a time says the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from bulk_delete import evidence, history
from bulk_delete.errors import CheckpointError, ExitCode
from tests.fakes import Harness, TimedJune

SEEN = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
NOTHING = history.latest(pl.LazyFrame(schema=history.SCHEMA))


def observed(*rows: tuple[str, str, str | None]) -> pl.DataFrame:
    """Listing rows (id, state, June's updated_at) as history.changes takes them."""
    return pl.DataFrame([(i, state, f"req-{i}", "2026-06-01T00:00:00Z", updated, "unfiltered")
                         for i, state, updated in rows], schema=history.OBSERVED, orient="row")


def test_only_what_moved_is_a_new_row() -> None:
    """A first sighting and a new state are rows; the same record seen again is not."""
    first = history.changes(observed(("a", "requested", None), ("b", "requested", None)),
                            NOTHING, SEEN)
    assert first["id"].to_list() == ["a", "b"]
    before = history.advance(NOTHING, first)
    again = history.changes(observed(("a", "requested", None), ("b", "started", None)),
                            before, SEEN)
    assert again.select("id", "state").rows() == [("b", "started")]


def test_started_and_finished_take_junes_time_else_the_time_seen() -> None:
    """June's updated_at, when it reads as ISO-8601, dates a state; else the reconcile's time.
    The times are carried to later rows, so an ID's last row says when it started and ended."""
    started = history.changes(observed(("a", "started", "2026-06-09T08:00:00Z"),
                                       ("b", "started", "yesterday")), NOTHING, SEEN)
    assert started["started_at"].to_list() == [datetime(2026, 6, 9, 8, tzinfo=UTC), SEEN]
    later = datetime(2026, 6, 11, tzinfo=UTC)
    done = history.changes(observed(("a", "finished", "2026-06-10T20:30:00.250+00:00")),
                           history.advance(NOTHING, started), later)
    assert done.select("started_at", "finished_at").row(0) == (
        datetime(2026, 6, 9, 8, tzinfo=UTC), datetime(2026, 6, 10, 20, 30, 0, 250000, tzinfo=UTC))


def text(moment: datetime) -> str:
    """A time as the report writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def report(tmp_path: Path) -> pl.DataFrame:
    return pl.read_csv(tmp_path / "state" / "report.csv", infer_schema=False)


async def test_history_across_reconciles_keeps_finished_after_june_purges(
        tmp_path: Path) -> None:
    """requested, started, finished, then gone from June's listing: still finished (never
    missing), with June's times of each state; each reconcile writes only what moved."""
    june = TimedJune()
    run = Harness(tmp_path, june)
    await run.submit(["a", "b", "c"])
    later = datetime.now(UTC).replace(microsecond=0)  # June's clock, after the submission
    started, finished = later + timedelta(hours=1), later + timedelta(hours=25)

    june.state, june.updated_at = "requested", f"{later.isoformat()}"
    assert await run.reconcile() is ExitCode.IN_PROGRESS
    june.state, june.updated_at = "started", started.isoformat()
    assert await run.reconcile() is ExitCode.IN_PROGRESS
    assert set(report(tmp_path)["started_seen_at"]) == {text(started)}
    june.state, june.updated_at = "finished", finished.isoformat()
    assert await run.reconcile() is ExitCode.OK
    june.held.clear()  # June purged its records
    assert await run.reconcile() is ExitCode.OK

    rows = report(tmp_path)
    assert set(rows["server_state"]) == {"finished"}
    assert set(rows["june_request_id"]) == {"req-a", "req-b", "req-c"}
    assert set(rows["started_seen_at"]) == {text(started)}
    assert set(rows["finished_seen_at"]) == {text(finished)}
    submitted = rows["submitted_at"].str.to_datetime(time_zone="UTC")
    expected = (finished - submitted).dt.total_seconds() / 3600
    assert (rows["hours_to_finish"].cast(pl.Float64) - expected).abs().max() < 0.01
    files = history.files(tmp_path / "state")
    assert [pl.read_parquet(f).height for f in files] == [3, 3, 3]  # nothing moved at the end
    assert pl.read_parquet(files[-1])["state"].to_list() == ["finished"] * 3


async def test_what_the_listing_must_show_leaves_out_the_finished(tmp_path: Path) -> None:
    """Once an ID is known finished, the next reconcile no longer wants it from June; --full
    wants every sent ID again."""
    june = TimedJune()
    run = Harness(tmp_path, june)
    await run.submit(["a", "b"])
    june.state = "finished"
    await run.reconcile()
    await run.submit(["a", "b", "c"])
    with evidence.Workspace(tmp_path, [tmp_path / "state"]) as work:
        assert work.wanted(full=False).to_list() == ["c"]
        assert work.wanted(full=True).to_list() == ["a", "b", "c"]


@pytest.mark.parametrize("ids", [40, 7])
async def test_a_range_at_a_time_writes_the_same_evidence(tmp_path: Path, ids: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut into ranges of three IDs, a reconcile writes the same report rows and history
    rows as in one piece, and the report is sorted by ID."""
    subjects = [f"u{i:03d}" for i in range(ids)]
    outputs, cuts = [], []
    bounds = evidence._bounds
    monkeypatch.setattr(evidence, "_bounds", lambda members: cuts.append(bounds(members))
                        or cuts[-1])
    for ranged in (False, True):
        if ranged:
            monkeypatch.setattr(evidence, "RANGE", 3)
            monkeypatch.setattr(evidence, "SAMPLE_EVERY", 1)
        where = tmp_path / ("ranged" if ranged else "whole")
        where.mkdir()
        june = TimedJune()
        run = Harness(where, june)
        await run.submit([*subjects, ""])
        june.held.remove(subjects[5])
        june.state, june.updated_at = "started", "2026-06-10T10:00:00Z"
        await run.reconcile()
        rows = report(where).with_columns(pl.col("error").str.replace(str(where), ""))
        seen = pl.read_parquet(history.files(where / "state")[0]).select("id", "state")
        outputs.append((rows, seen))
    assert [len(c) for c in cuts] == [0, ids // 3]  # one range, then ranges of three
    (whole, whole_seen), (ranged_rows, ranged_seen) = outputs
    assert ranged_rows.drop("submitted_at").equals(whole.drop("submitted_at"))
    assert ranged_seen.equals(whole_seen)
    assert whole["id"].to_list()[:-1] == subjects and whole["outcome"][-1] == "invalid"
    assert whole.filter(pl.col("id") == subjects[5])["server_state"].to_list() == ["missing"]


async def test_a_corrupt_journal_stops_reconcile_before_the_listing(tmp_path: Path) -> None:
    """A damaged journal line stops reconcile with its number before any page is read."""
    june = TimedJune()
    run = Harness(tmp_path, june)
    await run.submit(["a"])
    path = tmp_path / "state" / "journal.tsv"
    path.write_bytes(path.read_bytes().replace(b"a\taccepted", b"a\tacepted"))
    pages = len(june.pages)
    with pytest.raises(CheckpointError, match="line 2 is corrupt"):
        await run.reconcile()
    assert len(june.pages) == pages

"""acknowledge: a person's decision on rows that need attention is kept (who, when, why),
shown with the rows, chained in the digests; exit 4 then means something nobody decided."""

from __future__ import annotations

import getpass
import json
import re
from pathlib import Path

import polars as pl
import pytest

from bulk_delete import acknowledgements, job, offline, stories
from bulk_delete.errors import ExitCode, UsageError
from bulk_delete.pseudonyms import key_from
from bulk_delete.retain import Policy
from bulk_delete.stories import story_text
from bulk_delete.verification import failures, verify
from tests.fakes import FakeJune, Harness, bulk_delete, cli_env

GHOSTS = ["ghost-1@example.org", "ghost-2@example.org"]
REASON = "June has no such user: nothing to erase"


def june() -> FakeJune:
    """June finishes every request at once and has no user for the ghosts (404)."""
    return FakeJune(state="finished", answers={g: [404] for g in [*GHOSTS, "ghost-3@x.org"]})


async def nightly(run: Harness, ids: list[str]) -> ExitCode:
    """The cron: submit the day's export, then reconcile."""
    return await run.time.drive(job.run(run.settings(), run.source(ids), run.view,
                                        skip_existing=False, checking=job.Checking(),
                                        connect=run.connect))


async def acknowledge(run: Harness, *ids: str, category: str | None = None,
                      before: str | None = None, by: str | None = "alice") -> ExitCode:
    return await offline.acknowledge(run.settings(), run.view, ids=ids, category=category,
                                     before=before, reason=REASON, by=by)


def report(run: Harness) -> pl.DataFrame:
    return pl.read_csv(run.tmp_path / "state" / "report.csv", infer_schema=False)


def summary(run: Harness) -> dict[str, dict[str, int]]:
    return json.loads((run.tmp_path / "state" / "summary.json").read_text())  # type: ignore[no-any-return]


async def test_an_acknowledged_rejection_no_longer_makes_a_clean_night_exit_4(
        tmp_path: Path) -> None:
    """Day 1: two rejections, exit 4. Acknowledged, they stay in the report with the
    decision; day 2's new IDs all go through: exit 0; day 3 brings a new rejection: exit 4."""
    run = Harness(tmp_path, june())
    assert await nightly(run, [*GHOSTS, "a@example.org"]) is ExitCode.ATTENTION
    assert await acknowledge(run, *GHOSTS) is ExitCode.OK
    rows = report(run).filter(pl.col("id").is_in(GHOSTS))
    assert rows["outcome"].to_list() == ["rejected", "rejected"]
    assert set(rows.select("acknowledged", "acknowledged_by", "acknowledged_reason").rows()) == {
        ("rejected", "alice", REASON)}
    assert summary(run)["attention"]["rejected"] == 0
    assert summary(run)["acknowledged"]["rejected"] == 2
    page = (tmp_path / "state" / "report.html").read_text()
    assert "<h3>Acknowledged: 2</h3>" in page and REASON in page
    assert failures(verify(tmp_path / "state")) == 0

    assert await nightly(run, ["b@example.org", "c@example.org"]) is ExitCode.OK
    assert await nightly(run, ["d@example.org", "ghost-3@x.org"]) is ExitCode.ATTENTION
    assert summary(run)["attention"]["rejected"] == 1
    assert report(run).filter(pl.col("id") == GHOSTS[0])["acknowledged_by"].to_list() == [
        "alice"]


async def test_one_outcome_before_a_date_and_the_os_user(tmp_path: Path) -> None:
    """--outcome rejected acknowledges the rows nobody settled, submitted before --before;
    without --by, the person is the operating system's user."""
    run = Harness(tmp_path, june())
    await nightly(run, [*GHOSTS, "a@example.org"])
    assert await acknowledge(run, category="rejected", before="2000-01-01") is ExitCode.OK
    assert summary(run)["attention"]["rejected"] == 2  # none was submitted before 2000
    assert await acknowledge(run, category="rejected", by=None) is ExitCode.OK
    assert set(report(run).filter(pl.col("acknowledged").is_not_null())["acknowledged_by"]) == {
        getpass.getuser()}
    assert len(acknowledgements.files(tmp_path / "state")) == 1  # the empty one wrote nothing
    assert await acknowledge(run, category="rejected") is ExitCode.OK  # all settled: nothing
    assert len(acknowledgements.files(tmp_path / "state")) == 1


async def test_an_id_that_needs_nothing_is_refused_and_nothing_recorded(tmp_path: Path) -> None:
    """A typo, or an ID that is finished, is a usage error naming it; nothing is recorded."""
    run = Harness(tmp_path, june())
    await nightly(run, [*GHOSTS, "a@example.org"])
    with pytest.raises(UsageError, match=re.escape(
            "'a@example.org' needs nothing to acknowledge; 'typo@example.org' is not in the "
            "report")):
        await acknowledge(run, GHOSTS[0], "a@example.org", "typo@example.org")
    assert acknowledgements.files(tmp_path / "state") == []
    with pytest.raises(UsageError, match="not both"):
        await acknowledge(run, GHOSTS[0], category="rejected")


async def test_a_missing_request_acknowledged_then_finished_is_pseudonymized_with_it(
        tmp_path: Path) -> None:
    """Acknowledgements name IDs: once the request finishes, retain replaces the ID in the
    acknowledgement file and in the reason too; lookup shows the decision."""
    fake = june()
    run = Harness(tmp_path, fake)
    lost = "lost@example.org"
    await run.submit([lost, "a@example.org"])
    fake.held.remove(lost)  # June does not list it
    assert await run.reconcile() is ExitCode.ATTENTION
    await offline.acknowledge(run.settings(), run.view, ids=[lost], category=None, before=None,
                              reason=f"{lost}: June support ticket 4411", by="bob")
    assert summary(run)["attention"]["missing"] == 0
    [story] = stories.of(tmp_path / "state", [lost])
    assert "  decision:   missing acknowledged by bob at " in story_text(story)
    fake.held.append(lost)  # listed again, finished
    assert await run.reconcile() is ExitCode.OK
    key = key_from(b"a pseudonym key of 32 bytes long")
    await offline.retain(run.settings(), run.view, Policy(pseudonymize_after=0, key=key))
    state = tmp_path / "state"
    [file] = acknowledgements.files(state)
    assert lost.encode() not in file.read_bytes()
    decided = pl.read_parquet(file)
    assert decided["id"].to_list() == [key.one("user", lost)]
    assert decided["reason"].to_list() == [f"{key.one('user', lost)}: June support ticket 4411"]
    assert lost.encode() not in (state / "report.csv").read_bytes()
    assert failures(verify(state)) == 0


def test_unverified_rows_can_be_acknowledged_like_missing_ones() -> None:
    """--outcome unverified picks the requested rows whose state is unverified, so the
    category works as soon as reconcile writes it."""
    rows = pl.DataFrame({"id": ["a", "b", "c"], "outcome": ["accepted"] * 3,
                         "server_state": ["unverified", "missing", "finished"],
                         "overdue": [False] * 3, "submitted_at": ["2026-01-01T00:00:00.000Z"] * 3,
                         "acknowledged": [None, None, None]}, schema_overrides={
                             "acknowledged": pl.String})
    picked = acknowledgements.chosen(rows, category="unverified")
    assert picked.rows() == [("a", "unverified")]
    assert acknowledgements.chosen(rows, ids=["a", "b"]).sort("id").rows() == [
        ("a", "unverified"), ("b", "missing")]


async def test_acknowledge_on_the_command_line(tmp_path: Path) -> None:
    """One line says what was acknowledged, by whom and why; a report still verifies."""
    run = Harness(tmp_path, june())
    await nightly(run, [*GHOSTS, "a@example.org"])
    done = bulk_delete("acknowledge", "--outcome", "rejected", "--reason", REASON, "--by",
                       "carol", env=cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console"))
    assert done.returncode == 0, done.stderr
    assert "acknowledged: rejected 2, by carol at " in done.stdout and REASON in done.stdout
    assert failures(verify(tmp_path / "state")) == 0
    empty = bulk_delete("acknowledge", "--outcome", "rejected", env=cli_env(tmp_path))
    assert empty.returncode == 2 and "--reason" in empty.stderr

"""The worker pool in-process: when it stops early, and what it journals, on virtual time."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulk_delete.errors import ApiUnavailable
from bulk_delete.journal import Journal, read
from bulk_delete.pacing import Pacer
from bulk_delete.progress import Tally
from bulk_delete.submit import BREAKER, Ending, Submitter
from tests.fakes import FakeJune, FakeTime

IDS = [f"u{i:03d}" for i in range(40)]


async def submit(tmp_path: Path, june: FakeJune, ids: list[str], *,
                 max_attempts: int = 2) -> tuple[Submitter, list[tuple[str, str]]]:
    """Run a Submitter over ``ids`` at 50/s on virtual time; the journal's (id, outcome)s."""
    time = FakeTime()
    journal = Journal.open(tmp_path / "journal.tsv")
    submitter = Submitter(june, Pacer(50, clock=time.clock, sleep=time.sleep), journal,
                          concurrency=4, max_attempts=max_attempts, tally=Tally(total=len(ids)))
    await time.drive(submitter.run(iter(ids)))
    journal.close()
    return submitter, read(tmp_path / "journal.tsv").select("id", "outcome").rows()


async def test_every_id_gets_one_final_line(tmp_path: Path) -> None:
    """Accepted and rejected IDs each get exactly one journal line, in any order."""
    june = FakeJune(answers={"u007": [404]})
    submitter, lines = await submit(tmp_path, june, IDS)
    assert submitter.ending is Ending.DONE
    assert sorted(lines) == sorted((i, "rejected" if i == "u007" else "accepted") for i in IDS)
    assert (submitter.tally.accepted, submitter.tally.rejected) == (39, 1)


async def test_three_ids_in_a_row_giving_up_stop_the_job(tmp_path: Path) -> None:
    """June down: BREAKER IDs journalled failed, then no new ID is taken (exit 6 follows)."""
    june = FakeJune(answers={i: [503] for i in IDS})
    submitter, lines = await submit(tmp_path, june, IDS)
    assert submitter.ending is Ending.UNAVAILABLE
    failed = [i for i, outcome in lines if outcome == "failed"]
    assert BREAKER <= len(failed) < len(IDS)
    assert len(set(june.posts)) < len(IDS)
    with pytest.raises(ApiUnavailable, match=r"gave up after 2 attempts \(the last: refused u"):
        submitter.exit_code("raw")  # the message says what the IDs met (a dead proxy, say)


async def test_a_failure_between_successes_does_not_stop_the_job(tmp_path: Path) -> None:
    """One ID that gives up is journalled failed (a rerun sends it again); the rest go on."""
    june = FakeJune(answers={"u010": [503]})
    submitter, lines = await submit(tmp_path, june, IDS)
    assert ("u010", "failed") in lines
    assert sum(outcome == "accepted" for _, outcome in lines) == len(IDS) - 1
    assert submitter.ending is Ending.UNAVAILABLE  # failed IDs remain: exit 6, a rerun resumes


async def test_a_rejected_key_stops_everyone_and_marks_nothing_failed(tmp_path: Path) -> None:
    """A 401 mid-run stops the pool: no ID is journalled failed and few are sent after it."""
    june = FakeJune(answers={"u005": [401]})
    submitter, lines = await submit(tmp_path, june, IDS)
    assert submitter.ending is Ending.AUTH
    assert all(outcome == "accepted" for _, outcome in lines)
    assert "u005" not in [i for i, _ in lines]
    assert len(june.posts) < len(IDS)

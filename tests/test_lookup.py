"""lookup: one ID's story, offline, for an accepted, a rejected, an invalid and an unknown ID."""

from __future__ import annotations

import json
from pathlib import Path

from bulk_delete import stories
from bulk_delete.digests import file_digest
from bulk_delete.stories import story_text
from tests.fakes import FakeJune, Harness, bulk_delete, cli_env

IDS = ["u01", "u02", "u03", "", "u04"]  # line 5 is empty: invalid


async def looked_up(tmp_path: Path) -> tuple[Harness, Path]:
    """A job where u03 was refused twice over two runs and the rest accepted and finished."""
    run = Harness(tmp_path, FakeJune(answers={"u03": [422]}, state="finished"))
    await run.submit(IDS)
    await run.reconcile()
    return run, tmp_path / "state"


async def test_an_accepted_id_from_input_line_to_finished(tmp_path: Path) -> None:
    """Its file and line with the file's SHA-256, the answer, the submission, each state."""
    _, state = await looked_up(tmp_path)
    [story] = stories.of(state, ["u02"])
    source = tmp_path / "ids.csv"
    assert [(s["file"], s["line"], s["outcome"], s["sha256"]) for s in story.sources] == [
        (str(source), 3, "pending", file_digest(source)[1])]
    assert [(j["outcome"], j["http_status"], j["attempts"]) for j in story.journal] == [
        ("accepted", 200, 1)]
    assert [h["state"] for h in story.states] == ["finished"]
    about = story.summary()
    assert about["outcome"] == "accepted" and about["last_seen_state"] == "finished"
    assert about["submitted_at"] == story.journal[0]["at"]
    assert about["finished_seen_at"] == story.states[0]["finished_at"]
    text = story_text(story)
    assert f"read from:  {source}, line 3" in text and "accepted  HTTP 200" in text


async def test_a_rejected_id_shows_june_s_answer(tmp_path: Path) -> None:
    """A refused ID: the 422 and June's message, no state at June."""
    _, state = await looked_up(tmp_path)
    [story] = stories.of(state, ["u03"])
    assert [(j["outcome"], j["http_status"], j["error"]) for j in story.journal] == [
        ("rejected", 422, "refused u03")]
    assert story.states == [] and story.summary()["submitted_at"] is None


async def test_an_invalid_row_is_found_by_its_value(tmp_path: Path) -> None:
    """An empty value is looked up as '': its file, line and why it was never sent."""
    _, state = await looked_up(tmp_path)
    [story] = stories.of(state, [""])
    assert [(s["line"], s["outcome"], s["error"]) for s in story.sources] == [
        (5, "invalid", f"empty ID at {tmp_path / 'ids.csv'}:5")]
    assert story.journal == [] and story.summary()["outcome"] == "invalid"


async def test_an_unknown_id_says_so(tmp_path: Path) -> None:
    """An ID the checkpoint never saw is unknown, in words a person reads."""
    _, state = await looked_up(tmp_path)
    [story] = stories.of(state, ["someone-else"])
    assert not story.known
    assert "not in this checkpoint" in story_text(story)


async def test_lookup_on_the_command_line_needs_no_key(tmp_path: Path) -> None:
    """--json gives one document with every asked ID, in order; no key is needed."""
    await looked_up(tmp_path)
    env = cli_env(tmp_path)
    del env["JUNE_API_KEY"]
    done = bulk_delete("lookup", "u01", "nobody", "u03", "--json", env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert [(a["id"], a["known"], a["outcome"]) for a in answer] == [
        ("u01", True, "accepted"), ("nobody", False, None), ("u03", True, "rejected")]

"""retain as a user runs it: a real process killed with SIGKILL mid-rewrite leaves the old
files or the new ones, never a mix that verify accepts; and the cron's options end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bulk_delete import offline, rewrite
from bulk_delete.digests import NAME, read_chain
from bulk_delete.pseudonyms import load
from bulk_delete.retain import Policy
from bulk_delete.verification import failures, verify
from tests.fakes import FakeJune, Harness, June, bulk_delete, cli_env, write_ids

IDS = [f"person-{i:02d}@example.org" for i in range(8)]
#: The files retain rewrites here, in the order it renames them.
REWRITTEN = 6


def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "pseudonyms.key"
    path.write_bytes(b"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n")
    return path


def naming(state: Path) -> set[str]:
    """The checkpoint's files whose bytes name one of IDS."""
    return {str(p.relative_to(state)) for p in state.rglob("*") if p.is_file()
            and p.name != "lock" and any(i.encode() in p.read_bytes() for i in IDS)}


def retain_until(point: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Start ``retain`` and SIGKILL it where the test hook stops it."""
    env = cli_env(tmp_path, **{rewrite.PAUSE: f"retain:{point}"})
    job = subprocess.Popen(
        [sys.executable, "-m", "bulk_delete", "retain", "--pseudonymize-after", "0",
         "--pseudonym-key-file", str(key_file(tmp_path))],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert job.stderr is not None
    while f"paused at retain:{point}" not in (line := job.stderr.readline()):
        assert line, f"retain ended without reaching {point}: {job.communicate()}"
    os.kill(job.pid, signal.SIGKILL)
    out, err = job.communicate(timeout=30)
    assert job.returncode == -signal.SIGKILL
    return subprocess.CompletedProcess(job.args, job.returncode, out, err)


def rewrites(state: Path) -> list[dict[str, object]]:
    return [link.record for link in read_chain(state / NAME)[0]
            if link.record and link.record.get("mode") == "rewrite"]


@pytest.mark.parametrize(("point", "renamed"), [("staged", 0), ("renamed:2", 2),
                                                ("renamed:5", 5), ("recorded", REWRITTEN)])
async def test_kill_9_mid_retain_never_leaves_a_mix_that_verifies(tmp_path: Path, point: str,
                                                                 renamed: int) -> None:
    """Killed after staging, after 2 or 5 of 6 renames, or after recording: verify accepts
    only all-old or all-new files; the next command finishes (or undoes) the rewrite, and
    verify then passes with no ID left in plain text."""
    run = Harness(tmp_path, FakeJune(state="finished"))
    await run.submit(IDS)
    await run.reconcile()
    state = tmp_path / "state"
    [plan] = [str(p.relative_to(state)) for p in (state / "plans").glob("*.parquet")]
    # The files that name the IDs, in the order retain renames them (the summary and the
    # page, renamed last, name none of them: nothing needs attention).
    ordered = ["journal.tsv", plan, "history/000001.parquet", "report.csv"]
    assert naming(state) == set(ordered)

    retain_until(point, tmp_path)
    assert naming(state) == set(ordered[renamed:])  # the renamed ones name pseudonyms
    failed = failures(verify(state))
    assert failed == (0 if renamed in (0, REWRITTEN) else renamed)  # all old / all new pass
    assert rewrite.interrupted(state) == ("staging" if renamed == 0 else "ready")

    await offline.retain(run.settings(), run.view,
                         Policy(pseudonymize_after=0, key=load(key_file(tmp_path), [state])))
    assert naming(state) == set()
    assert failures(verify(state)) == 0
    assert rewrite.interrupted(state) is None
    [event] = rewrites(state)
    assert event["pseudonymized"] == len(IDS)
    assert not list(state.rglob(".*.rewrite"))


def test_the_cron_policy_and_the_key_on_the_command_line(june: June, tmp_path: Path) -> None:
    """run with --pseudonymize-after 0 leaves no ID in plain text; submit without the key
    exits 2 with one line and sends nothing; lookup without the key says it needs it, with
    the key it finds the person."""
    june.configure(start_after=0, finish_after=0)
    env = cli_env(tmp_path)
    source = write_ids(tmp_path / "ids.csv", IDS)
    key = str(key_file(tmp_path))
    done = bulk_delete("run", str(source), "--api-url", june.url, "--rate", "500",
                       "--pseudonymize-after", "0", "--erase-after", "730",
                       "--pseudonym-key-file", key, env=env)
    assert done.returncode == 0, done.stderr
    assert f"pseudonymized {len(IDS)} IDs" in done.stdout
    assert naming(tmp_path / "state") == set()
    posts = june.posts()
    refused = bulk_delete("submit", str(source), "--api-url", june.url, env=env)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "needs their key" in refused.stderr and june.posts() == posts
    again = bulk_delete("submit", str(source), "--api-url", june.url, env={
        **env, "BULK_DELETE_PSEUDONYM_KEY_FILE": key})
    assert again.returncode == 0 and "nothing to send" in again.stdout, again.stderr
    human = {**env, "BULK_DELETE_LOG_FORMAT": "console"}
    blind = bulk_delete("lookup", IDS[3], env=human)
    assert blind.returncode == 0 and "give their key" in blind.stdout
    found = bulk_delete("lookup", IDS[3], "--pseudonym-key-file", key, env=human)
    assert found.returncode == 0 and "held as:    pseudonym:" in found.stdout
    assert "finished" in found.stdout

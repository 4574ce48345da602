"""verify: every kind of edit to the checkpoint, the report, an input file or the digest
record itself is named (exit 4); growing append-only files and deleted inputs are not."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bulk_delete import job
from bulk_delete.digests import NAME, read_chain, sha256
from bulk_delete.errors import ExitCode, UsageError
from bulk_delete.verification import verify
from tests.fakes import FakeJune, Harness, bulk_delete, cli_env

IDS = ["u01", "u02", "u03", "u04"]
REPO = Path(__file__).resolve().parent.parent


async def checked_job(tmp_path: Path) -> tuple[Harness, Path]:
    """A job that submitted and reconciled: every kind of file is on the record."""
    run = Harness(tmp_path, FakeJune(state="finished"))
    await run.submit(IDS)
    await run.reconcile()
    return run, tmp_path / "state"


def findings(state: Path, **options: object) -> dict[str, str]:
    """What verify says of each file, by path."""
    return {f.path: f.status for each in verify(state, **options)  # type: ignore[arg-type]
            for f in each.findings}


def replace_in(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data, (old, path)
    path.write_bytes(data.replace(old, new, 1))


async def test_an_untouched_checkpoint_verifies(tmp_path: Path) -> None:
    """Input file, plan, history, report, summary, page, journal and runs all match: exit 0."""
    run, state = await checked_job(tmp_path)
    found = findings(state)
    assert set(found.values()) == {"ok"}
    source = str(tmp_path / "ids.csv")
    assert {source, "journal.tsv", "runs.jsonl", "report.csv", "summary.json", "report.html",
            "history/000001.parquet"} <= set(found)
    assert any(name.startswith("plans/") for name in found)
    assert job.verify(run.settings(), run.view, report=None, head=None) is ExitCode.OK


def _journal_line(state: Path, _: Path) -> None:
    replace_in(state / "journal.tsv", b"u02\taccepted", b"u02\trejected")


def _journal_cut(state: Path, _: Path) -> None:
    data = (state / "journal.tsv").read_bytes()
    (state / "journal.tsv").write_bytes(data[:data.rindex(b"\n", 0, len(data) - 1) + 1])


def _report_cell(state: Path, _: Path) -> None:
    replace_in(state / "report.csv", b"u03,user,accepted", b"u03,user,rejected")


def _input_file(_: Path, source: Path) -> None:
    replace_in(source, b"u04", b"u05")


def _digest_record(state: Path, _: Path) -> None:
    replace_in(state / NAME, b'"command": "submit"', b'"command": "reconcile"')


def _history_file(state: Path, _: Path) -> None:
    (state / "history" / "000001.parquet").write_bytes(b"PAR1 not the history PAR1")


EDITS: dict[str, tuple[Callable[[Path, Path], None], str, str]] = {
    "a journal line": (_journal_line, "journal.tsv", "edited"),
    "the journal truncated": (_journal_cut, "journal.tsv", "truncated"),
    "a report cell": (_report_cell, "report.csv", "changed"),
    "an input file": (_input_file, "ids.csv", "changed"),
    "a digest record": (_digest_record, NAME, "edited"),
    "a history file": (_history_file, "history/000001.parquet", "changed"),
}


@pytest.mark.parametrize("edit", EDITS)
async def test_each_kind_of_edit_is_named(tmp_path: Path, edit: str) -> None:
    """Editing any recorded file names that file and nothing else, and exits 4."""
    run, state = await checked_job(tmp_path)
    change, name, status = EDITS[edit]
    change(state, tmp_path / "ids.csv")
    found = findings(state)
    failed = {path: s for path, s in found.items() if s not in ("ok", "grown")}
    assert failed == {(str(tmp_path / name) if name == "ids.csv" else name): status}
    assert job.verify(run.settings(), run.view, report=None, head=None) is ExitCode.ATTENTION


async def test_growth_and_deleted_inputs_are_not_failures(tmp_path: Path) -> None:
    """A journal that grew since its digest, and an input file deleted after it was read,
    are named but pass (exit 0)."""
    run, state = await checked_job(tmp_path)
    with (state / "journal.tsv").open("a") as f:
        f.write("u09\taccepted\t200\t1\t2026-06-10T12:00:00.000Z\t\n")
    (tmp_path / "ids.csv").unlink()
    found = findings(state)
    assert found["journal.tsv"] == "grown" and found[str(tmp_path / "ids.csv")] == "gone"
    assert job.verify(run.settings(), run.view, report=None, head=None) is ExitCode.OK


async def test_a_file_no_record_names_fails(tmp_path: Path) -> None:
    """A history file slipped in beside the recorded ones is unrecorded: exit 4."""
    _, state = await checked_job(tmp_path)
    shutil.copy(state / "history" / "000001.parquet", state / "history" / "000002.parquet")
    assert findings(state)["history/000002.parquet"] == "unrecorded"


async def test_a_kept_head_shows_a_record_rewritten_whole(tmp_path: Path) -> None:
    """Rewriting the record with every prev recomputed passes the chain, not a kept head."""
    _, state = await checked_job(tmp_path)
    kept = read_chain(state / NAME)[1]
    assert set(findings(state, head=kept).values()) == {"ok"}
    lines = (state / NAME).read_bytes().split(b"\n")[:-1]
    header, records = lines[0] + b"\n", [json.loads(line) for line in lines[1:]]
    records = [r for r in records if r["role"] != "report"]  # the report's record dropped
    text, prev = header, sha256(header)
    for seq, record in enumerate(records, start=1):
        line = (json.dumps({**record, "seq": seq, "prev": prev}) + "\n").encode()
        text, prev = text + line, sha256(line)
    (state / NAME).write_bytes(text)
    assert NAME not in findings(state)  # the chain itself holds together
    assert findings(state, head=kept)[NAME] == "edited"


async def test_a_report_handed_on_is_checked_wherever_it_is(tmp_path: Path) -> None:
    """A copy of the report matches the one recorded; an edited copy matches none."""
    _, state = await checked_job(tmp_path)
    copy = tmp_path / "for-the-auditor.csv"
    shutil.copy(state / "report.csv", copy)
    assert findings(state, report=copy)[str(copy)] == "ok"
    replace_in(copy, b"finished", b"started")
    assert findings(state, report=copy)[str(copy)] == "changed"


def test_not_a_checkpoint_is_a_usage_error(tmp_path: Path) -> None:
    """verify on a directory that holds no job is a usage error, not a pass."""
    with pytest.raises(UsageError, match="not a checkpoint directory"):
        verify(tmp_path)


def test_verify_on_the_command_line(tmp_path: Path) -> None:
    """The example in docs/report.md: a sandbox run verifies (0); an edited report cell exits 4 with
    the file named; a missing directory is one line and exit 2."""
    env = cli_env(tmp_path)
    del env["JUNE_API_KEY"]
    state = tmp_path / "state"
    done = bulk_delete("run", "sample_data/users.csv", "--sandbox", "--rate", "500", env=env,
                       cwd=REPO)
    assert done.returncode == 3, done.stderr
    head = read_chain(state / NAME)[1]
    assert f"head {head}" in done.stdout
    ok = bulk_delete("verify", "--head", str(head), env=env, cwd=REPO)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "every file matches its record: exit 0" in ok.stdout
    replace_in(state / "report.csv", b",accepted,", b",rejected,")
    bad = bulk_delete("verify", env=env, cwd=REPO)
    assert bad.returncode == 4, bad.stdout
    assert "  CHANGED    report.csv: its SHA-256 is not the one recorded" in bad.stdout
    assert "result:      1 file does not match the record (" in bad.stdout
    gone = bulk_delete("verify", "--checkpoint-dir", str(tmp_path / "nope"), env=env)
    assert gone.returncode == 2
    assert gone.stderr.count("\n") == 1 and "not a checkpoint directory" in gone.stderr

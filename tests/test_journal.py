"""The journal and checkpoint directory: what survives a crash, what is refused."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulk_delete.appendlog import AppendLog, repair_torn_tail
from bulk_delete.checkpoint import Checkpoint, read_manifest
from bulk_delete.errors import CheckpointError
from bulk_delete.journal import (
    COLUMNS,
    HEADER,
    Journal,
    Outcome,
    read,
    utc_now,
)

IDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r\x0b\x0c"),
    min_size=1, max_size=20,
).filter(lambda s: s.isprintable())


def write(path: Path, outcomes: list[Outcome]) -> None:
    journal = Journal.open(path)
    for outcome in outcomes:
        journal.append(outcome)
    journal.close()


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    """What is appended reads back field by field, with odd IDs and messages intact."""
    path = tmp_path / "journal.tsv"
    outcomes = [
        Outcome("00123", "accepted", 200, 1),
        Outcome("1e5", "rejected", 422, 2, "user_id is\tnot\nvalid"),
        Outcome('quote"d, comma', "failed", None, 6, "timed out"),
        Outcome("ünïcødé ✓", "already_requested", None, 0),
    ]
    write(path, outcomes)
    rows = read(path).rows(named=True)
    assert [r["id"] for r in rows] == ["00123", "1e5", 'quote"d, comma', "ünïcødé ✓"]
    assert [r["outcome"] for r in rows] == ["accepted", "rejected", "failed", "already_requested"]
    assert [r["http_status"] for r in rows] == ["200", "422", None, None]
    assert rows[1]["error"] == "user_id is not valid"
    assert [r["attempts"] for r in rows] == ["1", "2", "6", "0"]


def test_final_only_leaves_out_failed(tmp_path: Path) -> None:
    """Failed IDs are not final: a rerun must send them again."""
    path = tmp_path / "journal.tsv"
    write(path, [Outcome("a", "accepted", 200, 1), Outcome("b", "failed", 503, 6),
                 Outcome("c", "rejected", 404, 1)])
    assert read(path, final_only=True)["id"].to_list() == ["a", "c"]
    assert read(path, final_only=True, columns=["id"]).to_dict(as_series=False) == {
        "id": ["a", "c"]}


def test_utc_now_is_iso_with_milliseconds() -> None:
    """Timestamps read as ISO-8601 UTC with milliseconds and a Z, and tell the time now."""
    before = datetime.now(UTC)
    stamp = utc_now()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= when <= after


def test_non_ascii_digits_are_corruption(tmp_path: Path) -> None:
    """Only ASCII digits count as digits: a status written in other numerals is a bad line."""
    path = tmp_path / "journal.tsv"
    write(path, [Outcome("a", "accepted", 200, 1)])
    with path.open("ab") as f:
        f.write("b\taccepted\t\u0662\u0660\u0660\t1\t2024-01-01T00:00:00.000Z\t\n".encode())
    write(path, [Outcome("c", "accepted", 200, 1)])
    with pytest.raises(CheckpointError, match=r"line 3 is corrupt"):
        read(path)


def test_files_are_owner_only(tmp_path: Path) -> None:
    """The journal holds personal data: mode 0600, directory 0700."""
    with Checkpoint.open(tmp_path / "state", kind="user", api_host="https://api.june.so",
                         create=True) as checkpoint:
        checkpoint.journal().append(Outcome("a", "accepted", 200, 1))
        paths = [checkpoint.journal_path, checkpoint.directory / "manifest.json",
                 checkpoint.directory / "lock"]
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in paths}
    assert modes == {"journal.tsv": 0o600, "manifest.json": 0o600, "lock": 0o600}
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700


# No deadline: examples do real file I/O, whose time depends on the machine, not the code.
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(IDS, min_size=1, max_size=5), data=st.data())
def test_torn_last_line_is_cut_at_any_byte(tmp_path: Path, ids: list[str],
                                            data: st.DataObject) -> None:
    """A crash mid-write at any byte of the last line loses that line only, and appends work."""
    path = tmp_path / "torn.tsv"
    path.unlink(missing_ok=True)
    write(path, [Outcome(i, "accepted", 200, 1) for i in ids])
    whole = path.read_bytes()
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    cut = data.draw(st.integers(min_value=last_start, max_value=len(whole) - 1))
    path.write_bytes(whole[:cut])
    write(path, [Outcome("after", "accepted", 200, 1)])
    assert read(path)["id"].to_list() == [*ids[:-1], "after"]


def test_torn_header_is_rewritten(tmp_path: Path) -> None:
    """A crash while the header itself was written leaves a journal that opens cleanly."""
    path = tmp_path / "journal.tsv"
    path.write_bytes(HEADER.encode()[:7])
    write(path, [Outcome("a", "accepted", 200, 1)])
    assert read(path)["id"].to_list() == ["a"]


def test_reading_ignores_a_line_being_written(tmp_path: Path) -> None:
    """status reads without the lock: a half-written last line is left out, not an error."""
    path = tmp_path / "journal.tsv"
    write(path, [Outcome("a", "accepted", 200, 1)])
    with path.open("ab") as f:
        f.write(b"b\tacc")
    assert read(path)["id"].to_list() == ["a"]


@pytest.mark.parametrize("bad_line", [
    b"x\taccepted\n",
    b"x\taccepted\t200\t1\t2026-01-01T00:00:00Z\t\textra\n",
    b"x\tdeleted\t200\t1\t2026-01-01T00:00:00Z\t\n",
    b"x\taccepted\t2OO\t1\t2026-01-01T00:00:00Z\t\n",
    b"\xff\xfe\taccepted\t200\t1\t2026-01-01T00:00:00Z\t\n",
    b"\n",
])
@pytest.mark.parametrize("columns", [COLUMNS, ["id"]], ids=["all columns", "IDs only"])
def test_corruption_before_the_end_is_an_error(tmp_path: Path, bad_line: bytes,
                                               columns: list[str]) -> None:
    """A bad line that is not the torn tail stops the job and names its line number, also
    when only the IDs are read (as planning does)."""
    path = tmp_path / "journal.tsv"
    write(path, [Outcome("a", "accepted", 200, 1)])
    with path.open("ab") as f:
        f.write(bad_line)
    write(path, [Outcome("b", "accepted", 200, 1)])
    with pytest.raises(CheckpointError, match=r"line 3 is corrupt"):
        read(path, final_only=True, columns=columns)


def test_foreign_file_is_refused(tmp_path: Path) -> None:
    """A file without the journal header is not taken for a journal."""
    path = tmp_path / "journal.tsv"
    path.write_text("user_id\nabc\n")
    with pytest.raises(CheckpointError, match="no journal header"):
        read(path)


def test_repair_reports_bytes_cut(tmp_path: Path) -> None:
    """Only the bytes after the last newline are cut."""
    path = tmp_path / "j"
    path.write_bytes(b"one\ntwo\nthr")
    assert repair_torn_tail(path) == 3
    assert path.read_bytes() == b"one\ntwo\n"
    assert repair_torn_tail(path) == 0


def test_disk_full_stops_further_appends(tmp_path: Path) -> None:
    """ENOSPC (here from /dev/full) is a clear error, and the journal takes nothing more."""
    journal = Journal(AppendLog(tmp_path / "journal.tsv", os.open("/dev/full", os.O_WRONLY),
                                "journal"))
    with pytest.raises(CheckpointError, match="No space left on device"):
        journal.append(Outcome("a", "accepted", 200, 1))
    with pytest.raises(CheckpointError, match="closed after an earlier write error"):
        journal.append(Outcome("b", "accepted", 200, 1))


def test_second_process_is_refused(tmp_path: Path) -> None:
    """A second process on a locked directory is refused at once, naming the holder's pid."""
    directory = tmp_path / "state"
    with Checkpoint.open(directory, kind="user", api_host="h", create=True):
        probe = subprocess.run(
            [sys.executable, "-c",
             "from pathlib import Path; from bulk_delete.checkpoint import Checkpoint\n"
             f"Checkpoint.open(Path({str(directory)!r}), kind='user', api_host='h', create=True)"],
            capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode != 0
    assert f"in use by another bulk-delete process (pid {os.getpid()})" in probe.stderr


def test_lock_is_released_on_close(tmp_path: Path) -> None:
    """While a checkpoint is open nobody else gets it; once closed, the next run does."""
    directory = tmp_path / "state"
    first = Checkpoint.open(directory, kind="user", api_host="h", create=True)
    with pytest.raises(CheckpointError, match="in use by another bulk-delete process"):
        Checkpoint.open(directory, kind="user", api_host="h", create=True)
    first.close()
    with Checkpoint.open(directory, kind="user", api_host="h", create=True):
        assert (directory / "lock").read_text() == str(os.getpid())


@pytest.mark.parametrize(("kind", "host", "message"), [
    ("group", "https://api.june.so", "kind 'user', not 'group'"),
    ("user", "https://eu.example", "API host 'https://api.june.so', not 'https://eu.example'"),
])
def test_mismatched_job_is_refused(tmp_path: Path, kind: str, host: str, message: str) -> None:
    """A directory made for users on one API is not reused for groups or another API."""
    directory = tmp_path / "state"
    Checkpoint.open(directory, kind="user", api_host="https://api.june.so", create=True).close()
    with pytest.raises(CheckpointError, match=message):
        Checkpoint.open(directory, kind=kind, api_host=host, create=True)  # type: ignore[arg-type]


def test_manifest_records_the_job(tmp_path: Path) -> None:
    """The manifest names kind, API host, tool version and creation time."""
    Checkpoint.open(tmp_path, kind="group", api_host="sandbox", create=True).close()
    manifest = read_manifest(tmp_path)
    assert manifest is not None
    assert (manifest.kind, manifest.api_host) == ("group", "sandbox")
    assert manifest.tool_version and manifest.created_at.startswith("20")


def test_missing_checkpoint_is_a_usage_error(tmp_path: Path) -> None:
    """Reconcile on a directory that never held a job says so."""
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        Checkpoint.open(tmp_path / "nothing", kind=None, api_host=None, create=False)

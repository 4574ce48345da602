"""No secret leaked: the API key never appears in any output or file, and personal data is private.

A distinctive key is used for real runs with faults, rejections, a wrong key and a forced
internal error (a traceback), in console and JSON logs. Afterwards every byte the job wrote
under the test's directory, and everything it printed, is searched for the key in each form
it could take: as typed, as standard Basic auth (``base64(key:)``), base64 without the colon,
and any 12-character piece of it (a key cut in half by a truncated message is still a leak).
"""

from __future__ import annotations

import base64
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from bulk_delete.journal import read
from tests.fakes import June, bulk_delete, cli_env, write_ids

SECRET = "sk_live_Q7bV2xN9mK4pR8tW3yZ6aC1d"
#: The key of a second, wrong setup: it must not leak either.
WRONG = "sk_live_WrOnG5hJ8kL2nP4qS6uV9xZ0"
PIECE = 12


def forms(key: str) -> list[str]:
    """Every way ``key`` could show up in text: whole, base64'd, or a 12-character piece."""
    whole = [key, base64.b64encode(f"{key}:".encode()).decode(), base64.b64encode(key.encode())
             .decode()]
    return whole + [key[i:i + PIECE] for i in range(len(key) - PIECE + 1)]


def leaks(text: str | bytes, keys: tuple[str, ...] = (SECRET, WRONG)) -> list[str]:
    """The forms of ``keys`` found in ``text``."""
    data = text.encode() if isinstance(text, str) else text
    return [form for key in keys for form in forms(key) if form.encode() in data]


def assert_no_leak(tmp_path: Path, outputs: list[subprocess.CompletedProcess[str]]) -> None:
    """Nothing printed and no file under tmp_path holds the key in any form."""
    for done in outputs:
        assert not leaks(done.stdout), (done.args, done.stdout)
        assert not leaks(done.stderr), (done.args, done.stderr)
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert files
    for path in files:
        assert not leaks(path.read_bytes()), path


def env_for(tmp_path: Path, log_format: str, key: str = SECRET) -> dict[str, str]:
    return cli_env(tmp_path, JUNE_API_KEY=key, BULK_DELETE_LOG_FORMAT=log_format)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("log_format", "auth_style"), [
    ("console", "raw"), pytest.param("json", "basic", marks=pytest.mark.slow)])
def test_key_never_shows_in_output_or_files(june: June, tmp_path: Path, log_format: str,
                                            auth_style: str) -> None:
    """run with faults and rejections, reconcile with a wrong key that June echoes back, status
    and a dry run: the key is in no output and no file, in any form."""
    june.configure(api_key=SECRET, auth_style=auth_style, fail_rate=0.1, reset_rate=0.05,
                   reject_prefix="bad", start_after=0, finish_after=0, seed=4)
    source = write_ids(tmp_path / "ids.csv", [*(f"u{i}" for i in range(20)), "bad1", "bad2"])
    env = {**env_for(tmp_path, log_format), "JUNE_AUTH_STYLE": auth_style}
    report = tmp_path / "out" / "report.jsonl"
    outputs = [bulk_delete("run", str(source), "--api-url", june.url, "--rate", "500",
                           "--max-attempts", "12", "--report", str(report), env=env)]
    assert outputs[0].returncode == 4, outputs[0].stderr
    june.configure(echo_key=True)
    wrong = {**env, "JUNE_API_KEY": WRONG}
    # --full: every ID is known finished, and only a whole read asks June anything.
    outputs.append(bulk_delete("reconcile", "--full", "--api-url", june.url, env=wrong))
    assert outputs[-1].returncode == 5, outputs[-1].stderr
    assert "June rejected the API key" in outputs[-1].stderr
    outputs.append(bulk_delete("status", env=env))
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    outputs.append(bulk_delete("submit", str(source), "--dry-run", "--api-url", june.url,
                               env=env))
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    assert_no_leak(tmp_path, outputs)
    assert june.stats()["unauthorized"] >= 1


def test_checkpoint_and_report_files_are_owner_only(june: June, tmp_path: Path) -> None:
    """Every file in the checkpoint directory and the report beside it is 0600, every
    directory of the checkpoint 0700: IDs are personal data."""
    june.configure(api_key=SECRET, start_after=0, finish_after=0)
    source = write_ids(tmp_path / "ids.csv", ["u1", "u2"])
    env = env_for(tmp_path, "json")
    done = bulk_delete("run", str(source), "--api-url", june.url, env=env)
    assert done.returncode == 0, done.stderr
    reported = bulk_delete("reconcile", "--report", str(tmp_path / "state" / "r.parquet"),
                           "--api-url", june.url, env=env)
    assert reported.returncode == 0, reported.stderr
    state = tmp_path / "state"
    files = [path for path in state.rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert {"journal.tsv", "manifest.json", "lock", "runs.jsonl", "report.csv",
            "summary.json", "r.parquet"} <= names
    assert any(path.parent.name == "plans" for path in files)
    assert {str(path.relative_to(state)): oct(mode(path)) for path in files
            if mode(path) != 0o600} == {}
    directories = [state, *(path for path in state.rglob("*") if path.is_dir())]
    assert {str(path): oct(mode(path)) for path in directories if mode(path) != 0o700} == {}


def test_report_directory_the_tool_creates_is_owner_only(june: June, tmp_path: Path) -> None:
    """A --report directory that did not exist is created 0700, like the checkpoint's."""
    june.configure(api_key=SECRET, start_after=0, finish_after=0)
    source = write_ids(tmp_path / "ids.csv", ["u1"])
    report = tmp_path / "audit" / "2026" / "report.csv"
    done = bulk_delete("run", str(source), "--api-url", june.url, "--report", str(report),
                       env=env_for(tmp_path, "json"))
    assert done.returncode == 0, done.stderr
    assert mode(report) == 0o600
    assert oct(mode(report.parent)) == oct(0o700)


#: Runs the CLI with a bug planted in the client: the error names the request's headers.
BROKEN_CLIENT = """
import sys
from bulk_delete import api
from bulk_delete.cli import main

async def broken(self, subject):
    headers = {**self._session.headers, **self._headers}  # the key is in a local, too
    raise RuntimeError(f"cannot send {subject} with headers {headers}")

api.JuneClient.request_deletion = broken
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(("log_format", "auth_style"), [("console", "raw"), ("json", "basic")])
def test_internal_error_traceback_never_shows_the_key(june: June, tmp_path: Path,
                                                      log_format: str, auth_style: str) -> None:
    """A bug whose message and locals hold the key: exit 1 with a traceback, and no key in it."""
    june.configure(api_key=SECRET, auth_style="any")
    source = write_ids(tmp_path / "ids.csv", ["u1", "u2", "u3"])
    env = {**env_for(tmp_path, log_format), "JUNE_AUTH_STYLE": auth_style}
    done = subprocess.run(
        [sys.executable, "-c", BROKEN_CLIENT, "submit", str(source), "--api-url", june.url],
        env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" in done.stderr
    assert "RuntimeError: cannot send u" in done.stderr
    assert "[REDACTED]" in done.stderr  # the headers were printed, the key replaced
    assert "internal error (a bug)" in done.stderr
    assert_no_leak(tmp_path, [done])


def echoing_rejections(june: June, tmp_path: Path, subjects: list[str]) -> list[
        subprocess.CompletedProcess[str]]:
    """Submit ``subjects`` to a June that rejects them quoting the Authorization header."""
    june.configure(api_key=SECRET, echo_key=True, reject_prefix="bad")
    source = write_ids(tmp_path / "ids.csv", subjects)
    done = bulk_delete("run", str(source), "--api-url", june.url,
                       env=env_for(tmp_path, "json"))
    assert done.returncode == 4, done.stderr
    journal = read(tmp_path / "state" / "journal.tsv")
    rejected = journal.filter(pl.col("outcome") == "rejected")["error"].to_list()
    assert len(rejected) == 1 and "unknown user: bad" in rejected[0], rejected
    return [done]


def test_key_echoed_in_a_rejection_stays_out_of_journal_and_report(june: June,
                                                                   tmp_path: Path) -> None:
    """A 422 whose message quotes our Authorization header is journalled with the key redacted."""
    outputs = echoing_rejections(june, tmp_path, ["u1", "bad1"])
    assert_no_leak(tmp_path, outputs)


def test_key_cut_by_message_truncation_never_shows(june: June, tmp_path: Path) -> None:
    """An echoed key that straddles the 300-character message cut leaves no fragment behind."""
    long_subject = "bad" + "x" * 245  # puts the key across character 300 of June's message
    outputs = echoing_rejections(june, tmp_path, ["u1", long_subject])
    assert_no_leak(tmp_path, outputs)


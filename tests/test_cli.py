"""The command line as users meet it: help, precedence, dry runs, one-line errors."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.fakes import KEY, June, bulk_delete, cli_env, write_ids

REPO = Path(__file__).resolve().parent.parent


def test_help_lists_commands_and_never_a_key_flag(tmp_path: Path) -> None:
    """-h shows every command; no option takes the key itself (flags show in ps)."""
    shown = bulk_delete("-h", env=cli_env(tmp_path))
    assert shown.returncode == 0
    for command in ("submit", "run", "reconcile", "status", "verify", "lookup", "sandbox"):
        assert command in shown.stdout
    submit_help = bulk_delete("submit", "--help", env=cli_env(tmp_path)).stdout
    assert "--api-key-file" in submit_help
    assert "--api-key " not in submit_help
    assert KEY not in submit_help
    assert "BULK_DELETE_RATE" in submit_help


@pytest.mark.parametrize("command", ["verify", "lookup"])
def test_offline_commands_show_an_example(tmp_path: Path, command: str) -> None:
    """verify and lookup explain themselves with an Example block, and need no key."""
    env = cli_env(tmp_path)
    del env["JUNE_API_KEY"]
    shown = bulk_delete(command, "-h", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Example:" in shown.stdout and f"bulk-delete {command}" in shown.stdout


def test_dry_run_needs_no_key_and_sends_nothing(june: June, tmp_path: Path) -> None:
    """--dry-run prints the plan and the first requests, with no key set."""
    source = write_ids(tmp_path / "ids.csv", ["00123", "1e5", "00123", ""])
    env = cli_env(tmp_path)
    del env["JUNE_API_KEY"]
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert 'user_deletion_request {"user_id": "00123"}' in done.stdout
    assert 'user_deletion_request {"user_id": "1e5"}' in done.stdout
    assert "dry run: 2 requests would be sent; nothing was sent" in done.stdout
    assert june.stats()["requests"] == 0
    assert not (tmp_path / "state").exists()


def test_flags_beat_variables_beat_defaults(tmp_path: Path) -> None:
    """--kind beats BULK_DELETE_KIND, which beats the default; same for the API URL."""
    source = write_ids(tmp_path / "ids.csv", ["g1"], column="id")
    env = cli_env(tmp_path, BULK_DELETE_KIND="group", JUNE_API_URL="https://eu.example")
    from_env = bulk_delete("submit", str(source), "--dry-run", env=env).stdout
    assert "https://eu.example/api/platform/data_management/group_deletion_request" in from_env
    from_flags = bulk_delete("submit", str(source), "--dry-run", "--kind", "user",
                             "--api-url", "https://api.june.so", env=env).stdout
    assert "https://api.june.so/api/platform/data_management/user_deletion_request" in from_flags
    plain = {k: v for k, v in env.items() if k not in ("BULK_DELETE_KIND", "JUNE_API_URL")}
    default = bulk_delete("submit", str(source), "--dry-run", env=plain).stdout
    assert "https://api.june.so/api/platform/data_management/user_deletion_request" in default


@pytest.mark.parametrize(("args", "env_extra", "message"), [
    (["--rate", "0"], {}, "Invalid value for '--rate'"),
    (["--rate", "fast"], {}, "Invalid value for '--rate'"),
    (["--concurrency", "-1"], {}, "Invalid value for '--concurrency'"),
    ([], {"BULK_DELETE_CONCURRENCY": "lots"}, "'lots' is neither auto nor a whole number"),
    (["--timeout", "0"], {}, "Invalid value for '--timeout'"),
    ([], {"BULK_DELETE_RATE": "lots"}, "BULK_DELETE_RATE"),
    (["--kind", "people"], {}, "Invalid value for '--kind'"),
    (["--api-url", "http://api.june.so"], {}, "refusing plain http:// to api.june.so"),
    (["--api-key-file", "KEYFILE"], {}, "both JUNE_API_KEY and an API key file are set"),
    ([], {"JUNE_API_KEY": ""}, "JUNE_API_KEY is empty"),
    (["missing.csv"], {}, "missing.csv"),
    (["--report", "out.xlsx"], {}, "the suffix must be one of"),
])
def test_bad_usage_is_one_line_and_exit_2(june: June, tmp_path: Path, args: list[str],
                                          env_extra: dict[str, str], message: str) -> None:
    """Bad flags, variables or inputs: exit 2, one clear line, no traceback, nothing sent."""
    source = write_ids(tmp_path / "ids.csv", ["a", "b"])
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    args = [str(key_file) if a == "KEYFILE" else a for a in args]
    inputs = [] if "missing.csv" in args else [str(source)]
    env = cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console", **env_extra)
    where = [] if "--api-url" in args else ["--api-url", june.url]
    done = bulk_delete("run", *inputs, *args, *where, env=env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert june.stats()["requests"] == 0


def test_missing_key_says_how_to_set_one(tmp_path: Path) -> None:
    """Without a key, a real run stops before reading anything and names both sources."""
    source = write_ids(tmp_path / "ids.csv", ["a"])
    env = cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console")
    del env["JUNE_API_KEY"]
    done = bulk_delete("submit", str(source), env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == ("bulk-delete: no API key: set JUNE_API_KEY, or "
                                   "JUNE_API_KEY_FILE / --api-key-file to a file holding it")


def test_key_file_variable(june: June, tmp_path: Path) -> None:
    """JUNE_API_KEY_FILE, as a mounted secret provides it, works without JUNE_API_KEY."""
    key_file = tmp_path / "secret"
    key_file.write_text(KEY + "\n")
    env = cli_env(tmp_path, JUNE_API_KEY_FILE=str(key_file))
    del env["JUNE_API_KEY"]
    source = write_ids(tmp_path / "ids.csv", ["a", "b"])
    done = bulk_delete("submit", str(source), "--api-url", june.url, env=env)
    assert done.returncode == 0, done.stderr
    assert june.stats()["unique"]["user"] == 2


def exit_by_report(tmp_path: Path) -> int:
    """The exit code the report just written calls for: 3 while June still works on an
    accepted request (the built-in sandbox finishes each a few seconds after it was sent),
    else 0."""
    report = pl.read_csv(tmp_path / "state" / "report.csv", infer_schema=False)
    working = report.filter(pl.col("outcome") == "accepted", pl.col("server_state") != "finished")
    return 3 if working.height else 0


def test_sandbox_run_over_sample_data(tmp_path: Path) -> None:
    """The README's first command: a full run on the built-in sandbox, said loudly."""
    env = cli_env(tmp_path)
    del env["JUNE_API_KEY"]
    done = bulk_delete("run", "sample_data/users.csv", "--sandbox", "--rate", "200",
                       env=env, cwd=REPO)
    assert done.returncode == 3, done.stderr  # June is still working on the requests
    assert "SANDBOX" in done.stderr
    assert "nothing real is deleted" in done.stderr
    assert "accepted 196" in done.stdout
    assert (tmp_path / "state" / "report.csv").exists()
    again = bulk_delete("reconcile", env={**env, "JUNE_API_KEY": KEY}, cwd=REPO)
    assert again.returncode == 2
    assert "holds a sandbox job; add --sandbox" in again.stderr
    with_sandbox = bulk_delete("reconcile", "--sandbox", env=env, cwd=REPO)
    assert with_sandbox.returncode == exit_by_report(tmp_path), with_sandbox.stderr
    assert "accepted 196" in with_sandbox.stdout
    # The first command again: a new sandbox that still knows what the first one was sent.
    rerun = bulk_delete("run", "sample_data/users.csv", "--sandbox", "--rate", "200",
                        env=env, cwd=REPO)
    assert rerun.returncode == exit_by_report(tmp_path), rerun.stdout + rerun.stderr
    assert "nothing to send" in rerun.stdout
    report = pl.read_csv(tmp_path / "state" / "report.csv", infer_schema=False)
    assert report["outcome"].value_counts(sort=True).rows() == [("accepted", 196),
                                                                ("invalid", 2)]


def test_sandbox_job_and_real_job_never_share_a_checkpoint(june: June, tmp_path: Path) -> None:
    """A checkpoint made on the sandbox refuses a run against a real API, and the other way."""
    source = write_ids(tmp_path / "ids.csv", ["a"])
    env = cli_env(tmp_path)
    assert bulk_delete("submit", str(source), "--sandbox", env=env).returncode == 0
    real = bulk_delete("submit", str(source), "--api-url", june.url, env=env)
    assert real.returncode == 2
    assert "API host 'sandbox'" in real.stderr


def test_module_entry_point_and_version(tmp_path: Path) -> None:
    """python -m bulk_delete --version answers like the console script."""
    done = bulk_delete("--version", env=cli_env(tmp_path))
    assert done.returncode == 0
    assert done.stdout.startswith("bulk-delete, version ")


def test_terminal_shows_a_live_progress_bar(june: June, tmp_path: Path) -> None:
    """On a terminal: a progress bar with done/total and rate, then the summary; no JSON."""
    source = write_ids(tmp_path / "ids.csv", [f"u{i}" for i in range(60)])
    env = cli_env(tmp_path)
    del env["BULK_DELETE_LOG_FORMAT"]  # auto: the terminal decides
    controller, terminal = pty.openpty()
    job = subprocess.Popen([sys.executable, "-m", "bulk_delete", "submit", str(source),
                            "--api-url", june.url, "--rate", "40"],
                           env=env, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(controller)
    assert job.wait(timeout=60) == 0
    text = screen.decode(errors="replace")
    assert "deleting" in text
    assert "/60" in text
    assert "/s" in text
    assert "sent:        accepted 60" in text
    assert '{"' not in text

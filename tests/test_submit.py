"""submit end to end: the CLI as a process against the sandbox on a real socket."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.fakes import KEY, June, bulk_delete, cli_env, ids, journal_of, wait_until, write_ids


def test_every_id_is_sent_once_and_journalled(june: June, tmp_path: Path) -> None:
    """Each planned ID reaches June exactly once and is journalled as accepted; exit 0."""
    source = write_ids(tmp_path / "ids.csv", [*ids(300), "u00001", "  u00002 "])
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "500",
                       env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    stats = june.stats()
    assert june.posts() == 300
    assert (stats["unique"]["user"], stats["duplicates"]["user"]) == (300, 0)
    records = journal_of(tmp_path)
    assert sorted(records["id"]) == ids(300)
    assert set(records["outcome"]) == {"accepted"}
    assert "accepted 300" in done.stdout


def test_rerun_sends_nothing(june: June, tmp_path: Path) -> None:
    """A second run over the same file finds everything done and sends nothing."""
    source = write_ids(tmp_path / "ids.csv", ids(50))
    env = cli_env(tmp_path)
    assert bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "500",
                       env=env).returncode == 0
    again = bulk_delete("submit", str(source), "--api-url", june.url, env=env)
    assert again.returncode == 0, again.stderr
    assert "nothing to send" in again.stdout
    assert june.posts() == 50


def test_new_files_add_only_new_ids(june: June, tmp_path: Path) -> None:
    """The daily cron case: yesterday's file plus today's sends only today's new IDs."""
    env = cli_env(tmp_path)
    monday = write_ids(tmp_path / "monday.csv", ids(40))
    write_ids(tmp_path / "tuesday.csv", ids(60)[30:])
    assert bulk_delete("submit", str(monday), "--api-url", june.url, "--rate", "500",
                       env=env).returncode == 0
    second = bulk_delete("submit", str(tmp_path / "*.csv"), "--api-url", june.url, "--rate",
                         "500", env=env)
    assert second.returncode == 0, second.stderr
    stats = june.stats()
    assert (june.posts(), stats["duplicates"]["user"]) == (60, 0)


def test_faults_end_with_every_id_accepted(june: June, tmp_path: Path) -> None:
    """5xx, dropped connections and answers that hang past --timeout are all retried away."""
    june.configure(fail_rate=0.15, reset_rate=0.1, hang_rate=0.05, hang_seconds=3.0, seed=7)
    source = write_ids(tmp_path / "ids.csv", ids(200))
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "500",
                       "--timeout", "0.5", "--max-attempts", "10", env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    stats = june.stats()
    assert stats["unique"]["user"] == 200
    assert stats["faults"]["5xx"] > 0
    assert stats["faults"]["reset"] > 0
    assert stats["faults"]["hang"] > 0
    assert set(journal_of(tmp_path)["outcome"]) == {"accepted"}


def test_rejections_are_final_and_not_retried(june: June, tmp_path: Path) -> None:
    """A 422 is recorded with June's message, sent once, never again; exit 4."""
    june.configure(reject_prefix="bad")
    source = write_ids(tmp_path / "ids.csv", [*ids(20), "bad1", "bad2"])
    env = cli_env(tmp_path)
    first = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "500", env=env)
    assert first.returncode == 4, first.stderr
    records = journal_of(tmp_path).filter(pl.col("outcome") == "rejected")
    assert records.select("id", "http_status", "error").sort("id").rows() == [
        ("bad1", "422", "unknown user: bad1"), ("bad2", "422", "unknown user: bad2")]
    again = bulk_delete("submit", str(source), "--api-url", june.url, env=env)
    assert again.returncode == 0
    assert june.posts() == 22


@pytest.mark.parametrize(("style", "reads", "message"), [
    ("auto", 2, "June refused the API key in both forms it may take ('Basic <key>' as June "
                "documents it, then standard Basic 'Basic base64(key:)')"),
    ("raw", 1, "June rejected the API key (HTTP 401: missing or wrong API key"),
    ("basic", 1, "try --auth-style raw"),
])
def test_bad_key_stops_at_once(june: June, tmp_path: Path, style: str, reads: int,
                               message: str) -> None:
    """A 401 stops the job with exit 5 before any deletion is sent; nothing is marked failed.
    The message names the forms auto tried, or the form to try instead of a forced one."""
    source = write_ids(tmp_path / "ids.csv", ids(500))
    env = {**cli_env(tmp_path), "JUNE_API_KEY": "wrong-key", "JUNE_AUTH_STYLE": style}
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "1000",
                       "--concurrency", "4", env=env)
    assert done.returncode == 5, done.stderr
    assert message in done.stderr
    assert june.posts() == 0  # the listing read before the first deletion already got 401
    assert june.stats()["endpoints"]["user_deletion_requests"] == reads
    assert journal_of(tmp_path).height == 0


def test_basic_auth_style(june: June, tmp_path: Path) -> None:
    """--auth-style basic sends standard Basic auth, which a basic-only server accepts."""
    june.configure(auth_style="basic")
    source = write_ids(tmp_path / "ids.csv", ids(5))
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--auth-style", "basic",
                       env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr


def test_unreachable_api_exits_6_and_rerun_completes(june: June, tmp_path: Path) -> None:
    """With June down the job gives up with exit 6; once it is back, a rerun finishes the rest."""
    source = write_ids(tmp_path / "ids.csv", ids(30))
    env = cli_env(tmp_path)
    june.stop()
    down = bulk_delete("submit", str(source), "--api-url", june.url, "--max-attempts", "2",
                       "--rate", "500", env=env)
    assert down.returncode == 6, down.stderr
    assert "a rerun resumes" in down.stderr
    june.start()
    up = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "500", env=env)
    assert up.returncode == 0, up.stderr
    assert june.stats()["unique"]["user"] == 30
    latest = journal_of(tmp_path).unique("id", keep="last")
    assert set(latest["outcome"]) == {"accepted"}


@pytest.mark.parametrize("limiter", ["sliding", "strict", "fixed"])
def test_rate_limit_costs_time_not_ids(june: June, tmp_path: Path, limiter: str) -> None:
    """With --rate three times a limit June does not state, however June counts it (a sliding
    window, one that counts refused requests too, fixed clock seconds), 429s slow the job
    down but every ID gets through, and the rate comes down to the limit: a client that kept
    its --rate would see two requests in three refused (and a strict limiter never lets it in)."""
    june.configure(rate_limit=40, limiter=limiter)
    source = write_ids(tmp_path / "ids.csv", ids(150))
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "120",
                       "--max-attempts", "2", env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    stats = june.stats()
    assert stats["unique"]["user"] == 150
    assert 0 < stats["rate_limited"] < stats["requests"] / 4


def test_never_faster_than_rate(june: June, tmp_path: Path) -> None:
    """No 1-second window at June holds more than --rate requests, start-up included. This June
    has no limit and refuses nothing, so the busiest window it measures is the client's own."""
    source = write_ids(tmp_path / "ids.csv", ids(120))
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "50",
                       env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    stats = june.stats()
    assert stats["rate_limited"] == 0
    assert stats["peak_per_second"] <= 50


def test_auto_concurrency_carries_the_rate_past_a_slow_june(june: June, tmp_path: Path) -> None:
    """June answers in 1 s, so --rate 40 needs ~40 requests in flight: with no flag, auto grows
    past the 16 it starts with, never sends faster than --rate, sends each ID once, and the
    summary gives the rate and the requests in flight."""
    june.configure(latency_ms=1000)
    source = write_ids(tmp_path / "ids.csv", ids(120))
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "40",
                       env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    stats = june.stats()
    assert (stats["unique"]["user"], stats["duplicates"]["user"]) == (120, 0)
    assert stats["peak_per_second"] <= 40
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    [submitted] = [e for e in events if e["event"] == "bulk_delete.submitted"]
    assert submitted["concurrency"] == "auto"
    assert 16 < submitted["in_flight_peak"] <= 256
    assert submitted["latency_seconds"] >= 1.0
    assert "of --rate 40 over" in done.stdout


def test_second_process_is_refused(june: June, tmp_path: Path) -> None:
    """While a job runs, a second one on the same checkpoint exits 2 at once and sends nothing."""
    source = write_ids(tmp_path / "ids.csv", ids(40))
    env = cli_env(tmp_path)
    first = subprocess.Popen([sys.executable, "-m", "bulk_delete", "submit", str(source),
                              "--api-url", june.url, "--rate", "10"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: june.stats()["requests"] > 0, "the first job sent a request")
        second = bulk_delete("submit", str(source), "--api-url", june.url, env=env)
        assert first.poll() is None, "the first job ended before the second one was refused"
        assert second.returncode == 2
        assert "in use by another bulk-delete process" in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_key_never_written_anywhere(june: June, tmp_path: Path) -> None:
    """After a run with faults, rejections and a report, the key is in no file and no output."""
    june.configure(fail_rate=0.2, reject_prefix="bad", seed=3)
    source = write_ids(tmp_path / "ids.csv", [*ids(30), "bad1"])
    env = cli_env(tmp_path)
    outputs = []
    for args in (["run", str(source), "--api-url", june.url, "--rate", "500"],
                 ["status"], ["reconcile", "--report", str(tmp_path / "r.jsonl")]):
        done = bulk_delete(*args, env=env)
        outputs += [done.stdout, done.stderr]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 6
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
    assert not any(KEY in text for text in outputs)


def test_status_counts_outcomes_offline(june: June, tmp_path: Path) -> None:
    """status reads the checkpoint without the API: counts by outcome and the last run."""
    june.configure(reject_prefix="bad")
    source = write_ids(tmp_path / "ids.csv", [*ids(10), "bad1"])
    env = cli_env(tmp_path)
    bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "500", env=env)
    june.stop()
    shown = bulk_delete("status", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "11 in the journal, accepted 10, rejected 1" in shown.stdout
    assert "last run:    submit" in shown.stdout
    assert "exit code 4" in shown.stdout


def test_json_progress_lines(june: June, tmp_path: Path) -> None:
    """In JSON mode the run ends with a structured summary event carrying the counts."""
    source = write_ids(tmp_path / "ids.csv", ids(10))
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "500",
                       env=cli_env(tmp_path))
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    submitted = [e for e in events if e["event"] == "bulk_delete.submitted"]
    assert submitted[0]["accepted"] == 10
    assert submitted[0]["ending"] == "done"


def test_unwritable_checkpoint_is_exit_2(tmp_path: Path) -> None:
    """A checkpoint directory that cannot be created stops before anything is read or sent."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    source = write_ids(tmp_path / "ids.csv", ids(3))
    env = {**cli_env(tmp_path), "BULK_DELETE_CHECKPOINT_DIR": str(blocker / "state")}
    done = bulk_delete("submit", str(source), env=env)
    assert done.returncode == 2
    assert "cannot create checkpoint directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_wrong_api_path_stops_before_any_deletion(june: June, tmp_path: Path) -> None:
    """A wrong --api-url path (404 everywhere) is caught by one listing read: exit 2, no POST."""
    source = write_ids(tmp_path / "ids.csv", ids(20))
    done = bulk_delete("submit", str(source), "--api-url", june.url + "/v2", env=cli_env(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "answered 404 Not Found: check --api-url" in done.stderr
    assert june.posts() == 0
    assert journal_of(tmp_path).height == 0

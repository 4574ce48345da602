"""Real signals against a real process: SIGTERM, SIGINT and kill -9 lose no ID."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bulk_delete.journal import read
from bulk_delete.submit import GRACE
from tests.fakes import June, bulk_delete, cli_env, wait_until, write_ids

#: Fixed, so a kill -9 re-sends at most this many: under --concurrency auto the bound is the
#: number in flight at the crash, which a test outside the process cannot know.
CONCURRENCY = 8


def start(source: Path, june: June, env: dict[str, str], rate: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bulk_delete", "submit", str(source), "--api-url", june.url,
         "--rate", str(rate), "--concurrency", str(CONCURRENCY)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_requests(june: June, at_least: int, timeout: float = 60) -> None:
    """Poll June's counters until that many deletions arrived: the job is well under way."""
    wait_until(lambda: june.posts() >= at_least, f"{at_least} deletions arrived", timeout)


def finish_and_check(source: Path, june: June, env: dict[str, str], n: int,
                     max_duplicates: int) -> int:
    """A rerun completes the job: every ID accepted once at June, duplicates within bounds.

    Returns the number of duplicate deletion requests June received.
    """
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "1000", env=env)
    assert done.returncode == 0, done.stderr
    stats = june.stats()
    assert stats["unique"]["user"] == n
    assert stats["duplicates"]["user"] <= max_duplicates
    journal = read(Path(env["BULK_DELETE_CHECKPOINT_DIR"]) / "journal.tsv")
    assert journal["id"].n_unique() == n
    assert set(journal["outcome"]) == {"accepted"}
    return int(stats["duplicates"]["user"])


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_gracefully_and_resumes(june: June, tmp_path: Path, sig: int,
                                             code: int) -> None:
    """SIGTERM/SIGINT: in-flight requests finish, the journal is flushed, exit 143/130 fast."""
    june.configure(latency_ms=100)
    n = 400
    source = write_ids(tmp_path / "ids.csv", [f"u{i}" for i in range(n)])
    env = cli_env(tmp_path)
    job = start(source, june, env, rate=50)
    wait_for_requests(june, 30)
    sent = time.monotonic()
    job.send_signal(sig)
    _, stderr = job.communicate(timeout=30)
    took = time.monotonic() - sent
    assert job.returncode == code, stderr
    assert took < 6, f"stopping took {took:.1f} s"
    assert '"bulk_delete.stopping"' in stderr
    requested = june.posts()
    journalled = read(tmp_path / "state" / "journal.tsv").height
    assert requested - journalled <= CONCURRENCY
    duplicates = finish_and_check(source, june, env, n, max_duplicates=CONCURRENCY)
    print(f"\n{signal.Signals(sig).name}: exit {code} {took:.2f} s after the signal, "
          f"{n} IDs, 0 lost, {duplicates} duplicates after the rerun")


def kill_at_random_moments(source: Path, june: June, env: dict[str, str], kills: int, *,
                           seed: int) -> None:
    """Start a submit ``kills`` times and kill -9 each at a random moment after its first POST."""
    dice = random.Random(seed)
    for _ in range(kills):
        before = june.posts()
        job = start(source, june, env, rate=400)
        wait_for_requests(june, before + 1)
        time.sleep(dice.uniform(0.0, 0.3))  # the random moment of the crash
        job.kill()
        job.communicate(timeout=30)
        assert job.returncode == -signal.SIGKILL


def test_kill_9_at_random_moments_loses_nothing(june: June, tmp_path: Path) -> None:
    """Ten kill -9 at random moments, then a rerun: zero lost, duplicates <= concurrency a kill."""
    june.configure(latency_ms=20)
    n, kills = 1500, 10
    source = write_ids(tmp_path / "ids.csv", [f"u{i}" for i in range(n)])
    env = cli_env(tmp_path)
    kill_at_random_moments(source, june, env, kills, seed=2026)
    assert june.stats()["unique"]["user"] < n, "the job finished before the kills were done"
    duplicates = finish_and_check(source, june, env, n, max_duplicates=CONCURRENCY * kills)
    print(f"\nkill -9: {kills} kills, {n} IDs, 0 lost, {duplicates} duplicates "
          f"(bound {CONCURRENCY * kills})")


def test_kill_9_against_409_for_repeats_rejects_nothing(june: June, tmp_path: Path) -> None:
    """kill -9 at five random moments against a June that answers repeats 409: the reruns'
    repeats of the requests in flight at each kill are already_requested, never rejected."""
    june.configure(latency_ms=20, duplicate_status=409)
    n, kills = 600, 5
    source = write_ids(tmp_path / "ids.csv", [f"u{i}" for i in range(n)])
    env = cli_env(tmp_path)
    kill_at_random_moments(source, june, env, kills, seed=409)
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "1000", env=env)
    assert done.returncode == 0, done.stderr
    stats = june.stats()
    assert stats["unique"]["user"] == n
    assert 0 < stats["conflicts"]["user"] == stats["duplicates"]["user"] <= CONCURRENCY * kills
    journal = read(tmp_path / "state" / "journal.tsv")
    assert set(journal["outcome"]) == {"accepted", "already_requested"}
    assert journal["id"].n_unique() == n
    already = journal.filter(journal["outcome"] == "already_requested")
    assert set(already["http_status"]) == {"409"}


def test_second_signal_stops_at_once(june: June, tmp_path: Path) -> None:
    """A second Ctrl-C does not wait for slow requests in flight."""
    source = write_ids(tmp_path / "ids.csv", [f"u{i}" for i in range(50)])
    job = start(source, june, cli_env(tmp_path), rate=50)
    wait_for_requests(june, 1)
    june.configure(latency_ms=20_000)  # from now on, requests hang in flight
    wait_for_requests(june, june.posts() + 2)
    sent = time.monotonic()
    job.send_signal(signal.SIGINT)
    assert job.stderr is not None
    while "bulk_delete.stopping" not in (line := job.stderr.readline()):
        assert line, "the job ended before it said it was stopping"
        # signals do not queue: the second must come after the first was handled
    job.send_signal(signal.SIGINT)
    job.communicate(timeout=30)
    assert job.returncode == 130
    assert time.monotonic() - sent < GRACE


def test_sigterm_while_reading_the_listing(june: June, tmp_path: Path) -> None:
    """SIGTERM during a slow reconcile ends it at once with exit 143, writing no half report."""
    source = write_ids(tmp_path / "ids.csv", [f"u{i}" for i in range(30)])
    env = cli_env(tmp_path)
    assert bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "500",
                       env=env).returncode == 0
    june.configure(listing_latency_ms=30_000, page_size=5)
    listed = june.stats()["endpoints"]["user_deletion_requests"]
    job = subprocess.Popen([sys.executable, "-m", "bulk_delete", "reconcile", "--api-url",
                            june.url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    wait_until(lambda: june.stats()["endpoints"]["user_deletion_requests"] > listed,
               "the reconcile asked for a listing page")
    sent = time.monotonic()
    job.send_signal(signal.SIGTERM)
    _, stderr = job.communicate(timeout=30)
    assert job.returncode == 143, stderr
    assert time.monotonic() - sent < GRACE
    assert not (tmp_path / "state" / "report.csv").exists()

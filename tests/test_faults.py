"""The faults matrix: June misbehaving in every way we know, and the job still losing nothing.

Each test runs the CLI as a process against the sandbox on a real socket, makes June fail
(5xx, dropped connections, hung answers, 429 storms, odd bodies, an API that goes away),
and checks three things: the documented exit code, every ID accepted exactly where June
counts unique subjects, and a journal that agrees. Duplicates are allowed only where a
request may have landed without its answer (a hang past --timeout, a server that stopped
with requests in flight), and then never more than those requests.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from bulk_delete.checkpoint import Checkpoint
from bulk_delete.journal import Outcome, read
from tests.fakes import June, bulk_delete, cli_env, ids, journal_of, wait_until, write_ids

CONCURRENCY = 8
#: Every run must end by itself well within this (seconds): "never stuck".
ENDS_WITHIN = 90



def submit(june: June, tmp_path: Path, source: Path,
           *args: str) -> subprocess.CompletedProcess[str]:
    """Submit ``source`` to ``june`` with the test's checkpoint directory, to the end."""
    return bulk_delete("submit", str(source), "--api-url", june.url, "--concurrency",
                       str(CONCURRENCY), *args, env=cli_env(tmp_path), timeout=ENDS_WITHIN)


def launch(june: June, tmp_path: Path, source: Path, *args: str) -> subprocess.Popen[str]:
    """Start a submit in the background, for faults the test switches on and off mid-run."""
    return subprocess.Popen(
        [sys.executable, "-m", "bulk_delete", "submit", str(source), "--api-url", june.url,
         "--concurrency", str(CONCURRENCY), *args],
        env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(job: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for a background job to end by itself; its exit code and stderr."""
    _, stderr = job.communicate(timeout=ENDS_WITHIN)
    return job.returncode, stderr


def assert_nothing_lost(june: June, tmp_path: Path, expected: list[str], *,
                        max_duplicates: int = 0) -> None:
    """Every ID is held once by June and journalled as accepted; duplicates within a bound."""
    stats = june.stats()
    assert stats["unique"]["user"] == len(expected)
    assert stats["duplicates"]["user"] <= max_duplicates, stats
    latest = journal_of(tmp_path).unique("id", keep="last")
    assert sorted(latest["id"]) == sorted(expected)
    assert set(latest["outcome"]) == {"accepted"}


# --- submit: faults drawn at random -----------------------------------------------------------

#: Low enough that no ID meets a long run of faults, whose full-jitter backoff takes seconds.
FAULTS = {"fail_rate": 0.1, "reset_rate": 0.06, "hang_rate": 0.04, "hang_seconds": 1.0}
#: What the journal keeps of June's 422 message, by body style.
REJECTION = {"text": "error=unknown user: bad1", "empty": "HTTP 422",
             "html": "<!DOCTYPE html> <html><body><h1>June</h1><pre>error=unknown user: bad1"
                     "</pre></body></html>"}


@pytest.mark.parametrize("body_style", [
    "text", "empty", pytest.param("html", marks=pytest.mark.slow)])
def test_random_faults_with_odd_bodies_lose_nothing(june: June, tmp_path: Path,
                                                    body_style: str) -> None:
    """5xx, resets and hangs past --timeout, with text, empty or HTML bodies on 2xx and on
    errors, cost no ID; rejections keep what June said; exit 4 for the rejections."""
    june.configure(seed=1, reject_prefix="bad", body_style=body_style, **FAULTS)
    expected = ids(80)
    source = write_ids(tmp_path / "ids.csv", [*expected, "bad1"])
    done = submit(june, tmp_path, source, "--rate", "500", "--timeout", "0.5",
                  "--max-attempts", "12", "--concurrency", "16")
    assert done.returncode == 4, done.stderr
    stats = june.stats()
    assert all(stats["faults"][fault] > 0 for fault in ("5xx", "reset", "hang")), stats
    latest = journal_of(tmp_path).unique("id", keep="last")
    rejected = latest.filter(pl.col("outcome") == "rejected")
    assert rejected.select("id", "http_status", "error").rows() == [
        ("bad1", "422", REJECTION[body_style])]
    accepted = latest.filter(pl.col("outcome") == "accepted")
    assert sorted(accepted["id"]) == expected
    assert stats["unique"]["user"] == len(expected)
    # Only a hung request, or one whose answer was dropped after June applied it, can land
    # after the client gave up on it.
    assert stats["duplicates"]["user"] <= stats["faults"]["hang"] + stats["faults"]["reset_after"]


def test_a_burst_of_5xx_is_ridden_out(june: June, tmp_path: Path) -> None:
    """Every request failing for a while (a 5xx burst) slows the job, loses nothing: exit 0."""
    expected = ids(200)
    source = write_ids(tmp_path / "ids.csv", expected)
    june.configure(fail_rate=1.0)
    job = launch(june, tmp_path, source, "--rate", "200")
    wait_until(lambda: june.stats()["faults"]["5xx"] >= 12, "the burst was served")
    june.configure(fail_rate=0.0)
    code, stderr = finish(job)
    assert code == 0, stderr
    assert_nothing_lost(june, tmp_path, expected)


# --- submit: 429 storms -----------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [
    "date", pytest.param("none", marks=pytest.mark.slow),
    pytest.param("seconds", marks=pytest.mark.slow)])
def test_a_429_storm_costs_time_not_ids(june: June, tmp_path: Path, retry_after: str) -> None:
    """Every request answered 429 for a while (Retry-After as a date, absent, or in seconds)
    slows the job down and loses nothing: exit 0."""
    expected = ids(60)
    source = write_ids(tmp_path / "ids.csv", expected)
    june.configure(storm=True, retry_after=retry_after)
    job = launch(june, tmp_path, source, "--rate", "300")
    wait_until(lambda: june.stats()["rate_limited"] >= 2, "the client met the storm twice")
    june.configure(storm=False)
    code, stderr = finish(job)
    assert code == 0, stderr
    assert_nothing_lost(june, tmp_path, expected)  # a 429 is never applied


@pytest.mark.slow
def test_a_429_storm_that_never_ends_is_exit_6(june: June, tmp_path: Path) -> None:
    """June answering nothing but 429 ends the job by itself with exit 6; a rerun completes."""
    # Slow: every 429 cuts the rate, down to one request a second, and an ID gives up after
    # four 429s per attempt (here one attempt; three IDs in a row must give up).
    expected = ids(20)
    source = write_ids(tmp_path / "ids.csv", expected)
    june.configure(storm=True, retry_after="none")
    stormy = submit(june, tmp_path, source, "--rate", "300", "--max-attempts", "1",
                    "--concurrency", "2")
    assert stormy.returncode == 6, stormy.stderr
    assert "a rerun resumes" in stormy.stderr
    assert june.stats()["unique"]["user"] == 0
    june.configure(storm=False)
    calm = submit(june, tmp_path, source, "--rate", "300")
    assert calm.returncode == 0, calm.stderr
    assert_nothing_lost(june, tmp_path, expected)


# --- submit: the API goes away ----------------------------------------------------------------


def test_an_api_gone_for_a_moment_is_ridden_out(june: June, tmp_path: Path) -> None:
    """June unreachable for ~1.5 s mid-run, far less than ten attempts' backoff lasts: the run
    completes by itself (exit 0), nothing lost, duplicates only among the requests in flight
    at the stop."""
    expected = ids(200)
    source = write_ids(tmp_path / "ids.csv", expected)
    job = launch(june, tmp_path, source, "--rate", "150", "--max-attempts", "10")
    wait_until(lambda: june.stats()["requests"] >= 40, "the job was well under way")
    june.stop()
    outage_ends = time.monotonic() + 1.5
    while time.monotonic() < outage_ends and job.poll() is None:
        time.sleep(0.05)  # the outage itself lasts this long; no condition to wait for
    june.start()
    code, stderr = finish(job)
    assert code == 0, stderr
    assert_nothing_lost(june, tmp_path, expected, max_duplicates=CONCURRENCY)


def test_an_api_gone_for_good_is_exit_6_then_a_rerun_completes(june: June,
                                                                 tmp_path: Path) -> None:
    """June unreachable mid-run until the job gives up: it ends by itself with exit 6 naming
    the rerun; once June is back a rerun completes, nothing lost, duplicates only among the
    requests in flight at the stop."""
    expected = ids(200)
    source = write_ids(tmp_path / "ids.csv", expected)
    job = launch(june, tmp_path, source, "--rate", "150", "--max-attempts", "2")
    wait_until(lambda: june.stats()["requests"] >= 40, "the job was well under way")
    june.stop()
    code, stderr = finish(job)
    assert code == 6, stderr
    assert "a rerun resumes" in stderr
    june.start()
    again = submit(june, tmp_path, source, "--rate", "500")
    assert again.returncode == 0, again.stderr
    assert_nothing_lost(june, tmp_path, expected, max_duplicates=CONCURRENCY)


def test_outage_is_exit_6_then_a_rerun_recovers(june: June, tmp_path: Path) -> None:
    """503 everywhere: exit 6 naming the rerun, IDs journalled failed; once June is back, exit 0."""
    expected = ids(40)
    source = write_ids(tmp_path / "ids.csv", expected)
    june.configure(outage=True)
    down = submit(june, tmp_path, source, "--rate", "500", "--max-attempts", "3")
    assert down.returncode == 6, down.stderr
    assert ("gave up after 3 attempts (the last: sandbox outage: the API is down); "
            "a rerun resumes") in down.stderr
    failed = journal_of(tmp_path)
    assert set(failed["outcome"]) == {"failed"}
    assert set(failed["http_status"]) == {"503"}
    june.configure(outage=False)
    up = submit(june, tmp_path, source, "--rate", "500")
    assert up.returncode == 0, up.stderr
    assert_nothing_lost(june, tmp_path, expected)


# --- reconcile and run: the listing misbehaves -------------------------------------------------


def submitted(june: June, tmp_path: Path, n: int) -> list[str]:
    """``n`` IDs submitted cleanly, and finished at June at once."""
    june.configure(start_after=0, finish_after=0)
    expected = ids(n)
    done = submit(june, tmp_path, write_ids(tmp_path / "ids.csv", expected), "--rate", "1000")
    assert done.returncode == 0, done.stderr
    return expected


def reconcile(june: June, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return bulk_delete("reconcile", "--api-url", june.url, "--concurrency", str(CONCURRENCY),
                       *args, env=cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console"),
                       timeout=ENDS_WITHIN)


def report_of(tmp_path: Path) -> pl.DataFrame:
    return pl.read_csv(tmp_path / "state" / "report.csv", schema_overrides={"id": pl.String})


LISTING_FAULTS = [
    pytest.param({"rate_limit": 3, "retry_after": "date"}, id="429s"),
    pytest.param({"listing_latency_ms": 300}, id="slow pages", marks=pytest.mark.slow),
    pytest.param({"fail_rate": 0.3, "reset_rate": 0.1, "seed": 2}, id="5xx and resets",
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("knobs", LISTING_FAULTS)
def test_listing_faults_still_find_every_id(june: June, tmp_path: Path,
                                            knobs: dict[str, object]) -> None:
    """Throttled (Retry-After as a date), slow or failing listing pages are waited for and
    retried: every ID is found finished, exit 0."""
    expected = submitted(june, tmp_path, 40)
    june.configure(page_size=10, **knobs)
    done = reconcile(june, tmp_path, "--max-attempts", "12")
    assert done.returncode == 0, done.stderr
    report = report_of(tmp_path)
    assert sorted(report["id"]) == expected
    assert set(report["server_state"]) == {"finished"}
    stats = june.stats()
    served = stats["rate_limited"] + sum(stats["faults"].values())
    assert served > 0 or "listing_latency_ms" in knobs, "no fault was served"


def test_listing_slower_than_timeout_is_exit_6(june: June, tmp_path: Path) -> None:
    """Listing pages that outlast --timeout on every attempt end reconcile with exit 6."""
    submitted(june, tmp_path, 5)
    june.configure(listing_latency_ms=3000)
    done = reconcile(june, tmp_path, "--timeout", "0.3", "--max-attempts", "2")
    assert done.returncode == 6, done.stderr
    assert done.stderr.strip() == ("bulk-delete: listing page 1: timed out after 2 attempts; "
                                   "a rerun resumes")
    assert not (tmp_path / "state" / "report.csv").exists()


def test_listing_that_ignores_page_ends(june: June, tmp_path: Path) -> None:
    """A server that serves page 1 for every page: harmless on one page; beyond, reconcile
    stops paging and, as nothing proves page 1 was all there is, reports the IDs it cannot
    see unverified with the reason, never missing: exit 4, with the line saying why."""
    expected = submitted(june, tmp_path, 30)
    june.configure(ignore_page=True, page_size=100, finish_after=3600)
    whole = reconcile(june, tmp_path)
    assert whole.returncode == 3, whole.stderr
    june.configure(page_size=10)
    before = june.stats()["endpoints"]["user_deletion_requests"]
    cut = reconcile(june, tmp_path)
    assert cut.returncode == 4, cut.stderr
    report = report_of(tmp_path)
    assert sorted(report["id"]) == expected
    assert (report["server_state"] == "unverified").sum() == 20
    assert (report["server_state"] == "missing").sum() == 0
    assert set(report.filter(pl.col("server_state") == "unverified")["unverified_reason"]) == {
        "listing page 2: repeat; state=started page 2: repeat"}
    said = [line for line in cut.stdout.splitlines() if line.startswith("unverified:")]
    assert len(said) == 1 and "page 2 repeats page 1 where more were expected" in said[0]
    pages = june.stats()["endpoints"]["user_deletion_requests"] - before
    assert pages <= 4 * (CONCURRENCY + 1), f"{pages} listing requests for one repeated page"


@pytest.mark.parametrize("style", [
    "html", pytest.param("text", marks=pytest.mark.slow),
    pytest.param("empty", marks=pytest.mark.slow)])
def test_listing_that_is_not_json_leaves_ids_unverified(june: June, tmp_path: Path,
                                                        style: str) -> None:
    """A 200 listing page in HTML, plain text or empty, after every ID was submitted: no ID
    is proven finished or missing, so `run` reports them unverified with what the page is,
    exit 4 and one line saying why; once the listing is JSON again, a rerun exits 0."""
    june.configure(start_after=0, finish_after=0, listing_body_style=style)
    expected = ids(30)
    source = write_ids(tmp_path / "ids.csv", expected)
    env = cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console")
    done = bulk_delete("run", str(source), "--api-url", june.url, "--rate", "500", env=env,
                       timeout=ENDS_WITHIN)
    assert done.returncode == 4, done.stderr
    said = [line for line in done.stdout.splitlines() if line.startswith("unverified:")]
    assert len(said) == 1, done.stdout
    assert "listing: listing page 1 is not JSON (it starts " in said[0]
    assert_nothing_lost(june, tmp_path, expected)
    report = report_of(tmp_path)
    assert sorted(report["id"]) == expected
    assert set(report["server_state"]) == {"unverified"}
    june.configure(listing_body_style=None)
    again = bulk_delete("run", str(source), "--api-url", june.url, env=env, timeout=ENDS_WITHIN)
    assert again.returncode == 0, again.stderr
    assert "nothing to send" in again.stdout
    assert set(report_of(tmp_path)["server_state"]) == {"finished"}


# --- the disk: a journal that cannot be written ------------------------------------------------

#: Runs the CLI with the journal's file swapped for /dev/full after ``limit`` outcomes: from
#: then on every write gets ENOSPC from the kernel itself, as on a disk that filled up.
FULL_AFTER = """
import os, sys
from bulk_delete import appendlog
from bulk_delete.cli import main

limit = int(sys.argv[1])
append = appendlog.AppendLog.append
appended = 0

def filling_up(self, data):
    global appended
    appended += self.label == "journal"
    if appended == limit + 1:
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, self._fd)
        os.close(full)
    append(self, data)

appendlog.AppendLog.append = filling_up
sys.exit(main(sys.argv[2:]))
"""


def test_disk_full_mid_run_stops_before_sending_what_it_cannot_record(june: June,
                                                                      tmp_path: Path) -> None:
    """ENOSPC on the journal after N outcomes: the job stops with exit 2 and a clear line,
    having sent at most N + concurrency requests; a rerun completes with nothing lost."""
    recorded = 50
    expected = ids(400)
    source = write_ids(tmp_path / "ids.csv", expected)
    env = cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console")
    full = subprocess.run(
        [sys.executable, "-c", FULL_AFTER, str(recorded), "submit", str(source), "--api-url",
         june.url, "--rate", "300", "--concurrency", str(CONCURRENCY)],
        env=env, capture_output=True, text=True, timeout=ENDS_WITHIN, check=False)
    assert full.returncode == 2, full.stderr
    last = full.stderr.strip().splitlines()[-1]
    assert last == (f"bulk-delete: cannot write journal {tmp_path / 'state' / 'journal.tsv'}: "
                    "No space left on device"), full.stderr
    assert "Traceback" not in full.stderr
    assert journal_of(tmp_path).height == recorded
    assert june.posts() <= recorded + CONCURRENCY
    again = submit(june, tmp_path, source, "--rate", "1000")
    assert again.returncode == 0, again.stderr
    assert_nothing_lost(june, tmp_path, expected, max_duplicates=CONCURRENCY)


#: Runs the CLI with files limited to argv[1] bytes (RLIMIT_FSIZE): a write beyond fails with
#: EFBIG, as on a disk that is full, for any user. SIGXFSZ is ignored so the write fails
#: instead of killing the process; both survive the exec.
FILES_NO_BIGGER_THAN = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
os.execv(sys.executable, [sys.executable, "-m", "bulk_delete", *sys.argv[2:]])
"""


def test_checkpoint_that_cannot_be_written_at_start_is_a_clear_error(june: June,
                                                                     tmp_path: Path) -> None:
    """A disk too full to save the plan: exit 2 with one line, nothing sent, no stray file."""
    dice = random.Random(3)  # random IDs: a plan that does not compress below the limit
    source = write_ids(tmp_path / "ids.csv",
                       [f"{dice.getrandbits(128):032x}" for _ in range(3000)])
    done = subprocess.run(
        [sys.executable, "-c", FILES_NO_BIGGER_THAN, "16384", "submit", str(source),
         "--api-url", june.url, "--rate", "1000"],
        env=cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console"), capture_output=True,
        text=True, timeout=ENDS_WITHIN, check=False)
    assert june.stats()["requests"] == 0
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith("bulk-delete: cannot write"), done.stderr
    assert not list((tmp_path / "state").rglob(".*.tmp"))


MOUNT = shutil.which("mount")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs under tmp_path: a disk that really fills up (needs mount rights)."""
    where = tmp_path / "disk"
    where.mkdir()
    if MOUNT is None:
        pytest.skip("no mount command here")
    done = subprocess.run([MOUNT, "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs",
                           str(where)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run([MOUNT.replace("mount", "umount"), "-l", str(where)],
                       capture_output=True, check=False)


def fill(disk: Path) -> None:
    """Take every free block of ``disk``."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError, match="No space left") as full:  # noqa: PT012 - until full
            while True:
                os.write(fd, bytes(65536))
    finally:
        os.close(fd)
    assert full.value.errno == errno.ENOSPC


@pytest.mark.slow
def test_filesystem_filling_up_mid_run(june: June, tmp_path: Path, small_disk: Path) -> None:
    """A real filesystem running out of space mid-run: exit 2 naming the journal, at most
    concurrency requests unrecorded; with space freed, a rerun completes, nothing lost."""
    expected = ids(1500)
    source = write_ids(tmp_path / "ids.csv", expected)
    env = cli_env(tmp_path, BULK_DELETE_CHECKPOINT_DIR=str(small_disk / "state"))
    job = subprocess.Popen(
        [sys.executable, "-m", "bulk_delete", "submit", str(source), "--api-url", june.url,
         "--rate", "300", "--concurrency", str(CONCURRENCY)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: june.stats()["requests"] >= 100, "the job was well under way")
    fill(small_disk)
    code, stderr = finish(job)
    assert code == 2, stderr
    assert f"cannot write journal {small_disk / 'state' / 'journal.tsv'}" in stderr
    recorded = read(small_disk / "state" / "journal.tsv").height
    assert recorded < len(expected), "the job finished before the disk was full"
    assert june.posts() <= recorded + CONCURRENCY
    (small_disk / "filler").unlink()
    again = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "1000",
                        env=env, timeout=ENDS_WITHIN)
    assert again.returncode == 0, again.stderr
    stats = june.stats()
    assert stats["unique"]["user"] == len(expected)
    assert stats["duplicates"]["user"] <= CONCURRENCY
    latest = read(small_disk / "state" / "journal.tsv").unique("id", keep="last")
    assert sorted(latest["id"]) == expected
    assert set(latest["outcome"]) == {"accepted"}


def test_read_only_checkpoint_is_refused_and_status_still_reads_it(
        june: June, tmp_path: Path, small_disk: Path) -> None:
    """A checkpoint on a read-only filesystem (chmod means nothing to root): submit exits 2
    before sending; status, which only reads, still shows what it holds."""
    state = small_disk / "state"
    with Checkpoint.open(state, kind="user", api_host=june.url, create=True) as checkpoint:
        checkpoint.journal().append(Outcome(ids(1)[0], "accepted", 200, 1))
    assert MOUNT is not None
    subprocess.run([MOUNT, "-o", "remount,ro", str(small_disk)], check=True)
    env = cli_env(tmp_path, BULK_DELETE_CHECKPOINT_DIR=str(state),
                  BULK_DELETE_LOG_FORMAT="console")
    source = write_ids(tmp_path / "ids.csv", ids(5))
    refused = bulk_delete("submit", str(source), "--api-url", june.url, env=env)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip() == (f"bulk-delete: cannot write in {state}: "
                                      "Read-only file system")
    assert june.stats()["requests"] == 0
    shown = bulk_delete("status", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "1 in the journal, accepted 1" in shown.stdout

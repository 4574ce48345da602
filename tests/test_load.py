"""Load: one long run of hundreds of thousands of IDs, with memory that stays flat.

The sandbox runs in a process of its own (its own interpreter and core), so the client is
measured alone. While the job runs, the client's resident memory (VmRSS) is sampled next
to its progress (June's count of accepted IDs); memory must not grow with the number of
IDs sent. BULK_DELETE_LOAD_IDS sets the size (default 200,000; .ci/run can run it small).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bulk_delete.journal import read
from tests.fakes import KEY, cli_env

LOAD_IDS = int(os.environ.get("BULK_DELETE_LOAD_IDS", "200000"))
#: Resident memory may grow this much between 25 % and 90 % of the IDs sent (allocator and
#: socket-buffer noise); keeping even 100 bytes per ID would add ~13 MB at the full size.
RSS_SLACK = 8 << 20


@dataclass(frozen=True)
class Sample:
    """The client's memory at one moment, with how far the job had got."""

    seconds: float
    accepted: int
    rss: int
    peak: int


@pytest.fixture
def remote_june() -> Iterator[str]:
    """A sandbox in its own process that finishes requests at once; yields its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "bulk_delete.sandbox", "--port", "0", "--api-key", KEY,
         "--start-after", "0", "--finish-after", "0", "--page-size", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    try:
        yield line.split("listening on ")[1].split()[0]
    finally:
        server.terminate()
        server.wait(timeout=30)


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_sandbox/stats", timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def memory(pid: int) -> tuple[int, int]:
    """Resident and peak resident memory of ``pid``, in bytes, from /proc."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024)


def watch(job: subprocess.Popen[str], url: str) -> list[Sample]:
    """Sample the job's memory and progress every 0.2 s until it exits."""
    samples: list[Sample] = []
    started = time.monotonic()
    while job.poll() is None:
        try:
            rss, peak = memory(job.pid)
        except (FileNotFoundError, ProcessLookupError, KeyError):
            break  # it has just exited (a zombie has no VmRSS)
        accepted = stats(url)["accepted"]["user"]
        samples.append(Sample(time.monotonic() - started, accepted, rss, peak))
        time.sleep(0.2)  # the sampling period, not a wait for a condition
    return samples


def at(samples: list[Sample], share: float) -> Sample:
    """The first sample taken once ``share`` of the IDs were accepted; fails the test when
    the job ended before a sample caught it there (too small a LOAD_IDS for the period)."""
    reached = [s for s in samples if s.accepted >= share * LOAD_IDS]
    last = f"{samples[-1].accepted:,} at {samples[-1].seconds:.1f} s" if samples else "none"
    assert reached, (f"no sample once {share:.0%} of {LOAD_IDS:,} IDs were accepted "
                     f"({len(samples)} samples, the last: {last}); raise BULK_DELETE_LOAD_IDS")
    return reached[0]


@pytest.mark.slow
def test_hundreds_of_thousands_of_ids_with_flat_memory(remote_june: str, tmp_path: Path) -> None:
    """A run of LOAD_IDS IDs ends with exit 0, each ID sent once and journalled, and the
    client's memory at 90 % of the IDs is no more than at 25 % (within RSS_SLACK)."""
    source = tmp_path / "ids.csv"
    source.write_text("user_id\n" + "".join(f"user-{i:09d}\n" for i in range(LOAD_IDS)))
    job = subprocess.Popen(
        [sys.executable, "-m", "bulk_delete", "run", str(source), "--api-url", remote_june,
         "--rate", "10000", "--concurrency", "32"],
        env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        samples = watch(job, remote_june)
        stdout, stderr = job.communicate(timeout=600)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, stderr[-3000:]
    counts = stats(remote_june)
    assert counts["unique"]["user"] == LOAD_IDS
    assert counts["duplicates"]["user"] == 0
    journal = read(tmp_path / "state" / "journal.tsv")
    assert journal.height == LOAD_IDS
    assert journal["id"].n_unique() == LOAD_IDS
    quarter, most = at(samples, 0.25), at(samples, 0.9)
    sent = next(line for line in stdout.splitlines() if line.startswith("sent:"))
    shown = [at(samples, share) for share in (0.1, 0.25, 0.5, 0.75, 0.9)]
    print(f"\nload: {LOAD_IDS:,} IDs; {sent}; RSS (MiB) by share of IDs accepted: "
          + ", ".join(f"{s.accepted / LOAD_IDS:.0%} {s.rss / 2**20:.1f} @ {s.seconds:.0f} s"
                      for s in shown)
          + f"; peak {samples[-1].peak / 2**20:.1f} MiB, whole run {samples[-1].seconds:.0f} s")
    assert most.rss - quarter.rss <= RSS_SLACK, samples

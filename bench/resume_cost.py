"""Resume cost: time from process start to the first request when the journal is already big.

    .venv/bin/python bench/resume_cost.py                    # 5,000,000 journalled + 1,000 new
    .venv/bin/python bench/resume_cost.py --journalled 500000 --repeat 3

A checkpoint journal of N accepted outcomes is written in the real format (``journal.HEADER``
and ``Outcome.line``) once per size into the temp directory and reused; an input CSV holds those
N IDs plus ``--new`` IDs that are not in it. Each measurement copies the journal into a fresh
checkpoint directory (with a manifest for this run's sandbox), starts the real CLI
(``python -m bulk_delete submit``) as a subprocess, and polls the sandbox's stats every few
milliseconds until the first request has reached it. Measured in the same run:

* **resume**: the big input against the big journal (what a rerun or the daily cron pays);
* **no journal**: the same big input with an empty checkpoint (stopped with SIGTERM after the
  first request, since it would send everything);
* **start-up**: an input of only the new IDs and an empty checkpoint: the fixed cost of the
  interpreter, imports and the checkpoint.

The resume run then goes on to the end: it must send exactly the new IDs, each once.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import time
from pathlib import Path

from harness import (
    Figure,
    Sandbox,
    repeat,
    report,
    start_cli,
    workdir,
    write_ids,
)

from bulk_delete.checkpoint import Checkpoint
from bulk_delete.journal import HEADER, NAME, Outcome

NAME_ = "resume cost"
POLL = 0.003
CACHE = Path("/tmp")


def journalled_id(i: int) -> str:
    return f"j{i:09d}"


def generate(count: int, new: int) -> tuple[Path, Path, Path]:
    """The cached journal, the big input (journalled + new IDs) and the small one (new only)."""
    directory = CACHE / f"bulk-delete-resume-{count}-{new}"
    journal, big, small = directory / NAME, directory / "big.csv", directory / "new.csv"
    if journal.exists() and big.exists() and small.exists():
        return journal, big, small
    directory.mkdir(parents=True, exist_ok=True)
    tmp = journal.with_suffix(".tmp")
    with tmp.open("wb") as f:
        f.write(HEADER.encode())
        step = 100_000
        for start in range(0, count, step):
            f.write(b"".join(Outcome(journalled_id(i), "accepted", 200, 1).line()
                             for i in range(start, min(count, start + step))))
    tmp.replace(journal)
    fresh = [f"n{i:09d}" for i in range(new)]
    write_ids(big, [*(journalled_id(i) for i in range(count)), *fresh])
    write_ids(small, fresh)
    return journal, big, small


def prepare(tmp: Path, name: str, url: str, journal: Path | None) -> Path:
    """A checkpoint directory for ``url`` holding a copy of ``journal`` (or none)."""
    checkpoint = tmp / name
    Checkpoint.open(checkpoint, kind="user", api_host=url, create=True).close()
    if journal is not None:
        shutil.copyfile(journal, checkpoint / NAME)
    return checkpoint


def first_request(june: Sandbox, source: Path, checkpoint: Path,
                  *, finish: bool) -> tuple[float, int | None]:
    """Seconds from starting the CLI to the sandbox's first request; the exit code if finished.

    The first request may be a listing page (a key check) rather than a deletion request:
    either way it is the moment the job starts talking to June.
    """
    before = june.stats()["requests"]
    started = time.perf_counter()
    proc = start_cli("submit", str(source), "--api-url", june.url, "--rate", "1000",
                     checkpoint=checkpoint, pin=False)
    try:
        while june.stats()["requests"] == before:
            if proc.poll() is not None:
                raise SystemExit(f"the CLI ended before sending anything:\n{proc.stderr.read()}")
            time.sleep(POLL)
        seconds = time.perf_counter() - started
        if not finish:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return seconds, proc.returncode if finish else None


def measure(count: int, new: int) -> list[Figure]:
    journal, big, small = generate(count, new)
    figures = []
    with workdir("resume") as tmp_name, Sandbox() as june:
        tmp = Path(tmp_name)
        startup, _ = first_request(june, small, prepare(tmp, "small", june.url, None),
                                   finish=False)
        cold, _ = first_request(june, big, prepare(tmp, "cold", june.url, None), finish=False)
        before = june.stats()
        resumed, code = first_request(june, big, prepare(tmp, "resume", june.url, journal),
                                      finish=True)
        after = june.stats()
    posts = "user_deletion_request"  # a run may also read the listing (a key check)
    sent = after["endpoints"][posts] - before["endpoints"][posts]
    if code != 0 or sent != new:
        raise SystemExit(f"resume run sent {sent} deletion requests for {new} new IDs, "
                         f"exit {code}")
    case = f"{count:,} journalled + {new:,} new IDs"
    figures += [
        Figure(NAME_, case, "s to first request, resume", [resumed], fmt="{:.2f}",
               lower_is_better=True),
        Figure(NAME_, case, "s to first request, no journal", [cold], fmt="{:.2f}",
               lower_is_better=True),
        Figure(NAME_, f"{new:,} new IDs only", "s to first request, start-up", [startup],
               fmt="{:.2f}", lower_is_better=True),
        Figure(NAME_, case, "deletion requests sent ÷ new IDs", [sent / new], "= 1",
               lambda value: value == 1.0, fmt="{:.3f}"),
    ]
    return figures


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    count = 1_000_000 if quick else 5_000_000
    return repeat(lambda: measure(count, 1_000), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journalled", type=int, default=5_000_000,
                        help="outcomes already in the journal (and in the input)")
    parser.add_argument("--new", type=int, default=1_000, help="IDs in the input not yet sent")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    result = repeat(lambda: measure(args.journalled, args.new), args.repeat)
    report("Resume cost: the real CLI with a big journal, to its first request", result,
           args.repeat)


if __name__ == "__main__":
    main()

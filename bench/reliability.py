"""Reliability figures: the signal and load tests at full size, their measurements printed.

    .venv/bin/python bench/reliability.py                  # load at 200,000 IDs (~3 min)
    .venv/bin/python bench/reliability.py --load-ids 20000

The figures of the Reliability table (docs/performance.md) come from tests that try to break a
real job: ``tests/test_signals.py`` (kill -9 at ten random moments, SIGTERM and SIGINT mid-run,
each followed by a rerun) and ``tests/test_load.py`` (one ``run`` over N IDs, its resident
memory sampled as it goes). Each prints what it measured when pytest runs with ``-s``; this
script runs them so, at the full load size, and prints those lines. Their assertions are the
targets: a failing test fails the script.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from harness import ROOT

TESTS = ("tests/test_signals.py", "tests/test_load.py")
#: The lines the tests print with their measurements.
MEASURED = ("kill -9:", "SIGTERM:", "SIGINT:", "load:")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-ids", type=int, default=200_000, help="IDs of the load test")
    args = parser.parse_args()
    env = {**os.environ, "BULK_DELETE_LOAD_IDS": str(args.load_ids)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:randomly",
                           "-p", "no:xdist", *TESTS], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    lines = done.stdout.splitlines()
    for line in lines:
        if line.startswith(MEASURED):
            print(line)
    print(lines[-1] if lines else "pytest printed nothing")
    if done.returncode:
        sys.exit(done.stdout[-3000:] + done.stderr[-2000:])


if __name__ == "__main__":
    main()

"""Peak memory of a child, measured right: a fat parent must not lend its peak to the child.

    .venv/bin/python bench/memory_check.py              # parent holds 1,024 MB
    .venv/bin/python bench/memory_check.py --parent-mb 512

This process first touches ``--parent-mb`` of memory and lets it go, as a benchmark that
generates its input does. Then it starts children three ways:

* a bare interpreter through ``harness.run_with_peak`` (must report its own small peak);
* an interpreter that touches 256 MB, the same way (must report ~256 MB more than the bare
  one);
* a bare interpreter started directly, its ``ru_maxrss`` read with ``wait4``: the figure
  ``bench/plan_scale.py`` once reported, which starts from this parent's peak.

It exits 1 when ``run_with_peak`` misses, so ``bench/run_all.py`` shows it first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from harness import Figure, at_least, at_most, report, run_with_peak

NAME = "memory check"
BARE = [sys.executable, "-c", "pass"]
#: A child that holds this much more than a bare interpreter.
HELD_MB = 256
HOLDS = [sys.executable, "-c", f"b = bytearray({HELD_MB} << 20); b[::4096] = b'x' * len(b[::4096])"]
#: A bare interpreter peaks at ~10 MB; anything near the parent's size is the parent's.
BARE_MAX_MB = 64


def touch(mb: int) -> None:
    """Make this process's peak resident memory at least ``mb``, then give it back."""
    block = bytearray(mb << 20)
    block[::4096] = b"x" * len(block[::4096])
    del block


def direct_peak_mb(command: list[str]) -> float:
    """``ru_maxrss`` of ``command`` started straight from this process: the wrong way."""
    proc = subprocess.Popen(command)
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0  # reaped above
    return usage.ru_maxrss / 1024


def measure(parent_mb: int) -> list[Figure]:
    touch(parent_mb)
    _, bare = run_with_peak(BARE)
    _, holds = run_with_peak(HOLDS)
    wrong = direct_peak_mb(BARE)
    case = f"parent peaked at {parent_mb:,} MB"
    return [
        Figure(NAME, case, "bare child, run_with_peak MB", [bare], f"<= {BARE_MAX_MB}",
               at_most(BARE_MAX_MB), fmt="{:.0f}", lower_is_better=True),
        Figure(NAME, case, f"(child holding {HELD_MB} MB - bare) ÷ {HELD_MB} MB",
               [(holds - bare) / HELD_MB], ">= 0.95", at_least(0.95), fmt="{:.2f}"),
        Figure(NAME, case, "bare child, direct ru_maxrss MB (wrong)", [wrong], fmt="{:.0f}"),
    ]


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py`` (one run: the check is exact, not statistical)."""
    del quick, repeats
    return measure(1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent-mb", type=int, default=1024)
    args = parser.parse_args()
    result = measure(args.parent_mb)
    report("Memory check: a child's peak, started from a fat parent", result, 1)
    sys.exit(0 if all(f.verdict() == "met" for f in result if f.meets) else 1)


if __name__ == "__main__":
    main()

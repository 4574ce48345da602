"""Peer comparison: bulk-delete versus the loop a team would otherwise write, same limits.

    .venv/bin/python bench/peer.py                           # 500 IDs, rate 50, 100 ms
    .venv/bin/python bench/peer.py --ids 150 --repeat 3

The peer is a plain sequential script (``bench/naive_peer.py``, run as its own process): read the
CSV, then for each ID one blocking ``urllib.request`` POST, a sleep that keeps starts at least
``1 / rate`` apart, and the same retries as bulk-delete (up to 6 attempts for 408/5xx/network
errors with capped full-jitter backoff, Retry-After honoured on 429). It is correct and polite;
it just never has more than one request in flight.

Both run as fresh processes against a fresh sandbox with the same ``--latency-ms``, each over
the same IDs; the wall time from process start to exit is compared. With latency L and rate R
the peer cannot beat ``1 / max(L, 1/R)`` IDs per second; bulk-delete keeps ``R x L`` requests
in flight and sustains about R.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from harness import (
    ROOT,
    Figure,
    Sandbox,
    at_least,
    repeat,
    report,
    run_cli,
    workdir,
    write_ids,
)

BENCH = "peer"


def run_peer(url: str, source: Path, rate: float) -> float:
    """The naive loop as its own process: wall seconds from start to exit."""
    started = time.perf_counter()
    script = Path(__file__).with_name("naive_peer.py")
    done = subprocess.run([sys.executable, str(script), url, str(source), str(rate)],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"peer failed:\n{done.stderr}")
    return seconds


def measure(count: int, rate: int, latency_ms: int) -> list[Figure]:
    with workdir("peer") as tmp:
        source = write_ids(Path(tmp) / "ids.csv", (f"p{i:08d}" for i in range(count)))
        with Sandbox(latency_ms=latency_ms) as june:
            peer_s = run_peer(june.url, source, rate)
            peer_stats = june.stats()
        with Sandbox(latency_ms=latency_ms) as june:
            _, tool_s, _ = run_cli("submit", str(source), "--api-url", june.url,
                                   "--rate", str(rate), checkpoint=Path(tmp) / "state")
            tool_stats = june.stats()
    for stats in (peer_stats, tool_stats):
        if stats["unique"]["user"] != count or stats["duplicates"]["user"]:
            raise SystemExit(f"not every ID was accepted exactly once: {stats}")
    case = f"{count:,} IDs, rate {rate}, {latency_ms} ms"
    return [
        Figure(BENCH, case, "naive loop IDs/s (start to exit)", [count / peer_s],
               fmt="{:.1f}"),
        Figure(BENCH, case, "bulk-delete IDs/s (start to exit)", [count / tool_s],
               fmt="{:.1f}"),
        Figure(BENCH, case, "speed-up", [peer_s / tool_s], ">= 1", at_least(1.0),
               fmt="{:.1f}x"),
    ]


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    count = 150 if quick else 500
    return repeat(lambda: measure(count, 50, 100), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=500)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    result = repeat(lambda: measure(args.ids, args.rate, args.latency_ms), args.repeat)
    report("Peer: a sequential urllib loop versus bulk-delete, same rate and latency", result,
           args.repeat)


if __name__ == "__main__":
    main()

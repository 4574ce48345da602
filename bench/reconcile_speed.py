"""Reconcile speed: paging June's listing against the floor that ``--rate`` sets.

    .venv/bin/python bench/reconcile_speed.py                # 100,000 records, rate 50, 200 ms
    .venv/bin/python bench/reconcile_speed.py --records 20000 --repeat 3

A sandbox holding ``--records`` finished deletion requests (``bench/seeded_sandbox.py``, pages
of ``--page-size``, ``--latency-ms`` on every request) runs in its own process. A checkpoint
directory names that sandbox and journals every one of those IDs as accepted; then the real
CLI runs ``python -m bulk_delete reconcile --rate R --concurrency C`` to its end.

No client can page faster than ``pages / R`` seconds (the rate floor); with one page in
flight at a time it would take ``pages x latency`` instead, so this is where concurrency
matters. It reports the wall time of the command (start-up and report included), the floor,
and floor / time (1.0 would be a client that pages exactly at ``--rate``), and checks that the
report says every ID finished (exit 0).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from harness import Figure, Sandbox, repeat, report, run_cli, workdir
from seeded_sandbox import subject

from bulk_delete.checkpoint import Checkpoint
from bulk_delete.journal import HEADER, NAME, Outcome

BENCH = "reconcile speed"


#: The sandbox that starts with records listed.
SEEDED = (str(Path(__file__).with_name("seeded_sandbox.py")),)


def journalled(checkpoint: Path, url: str, records: int) -> Path:
    """A checkpoint directory for ``url`` whose journal holds every seeded subject, accepted."""
    Checkpoint.open(checkpoint, kind="user", api_host=url, create=True).close()
    with (checkpoint / NAME).open("wb") as f:
        f.write(HEADER.encode())
        step = 100_000
        for start in range(0, records, step):
            f.write(b"".join(Outcome(subject(i), "accepted", 200, 1).line()
                             for i in range(start, min(records, start + step))))
    return checkpoint


def measure(records: int, rate: int, latency_ms: int, page_size: int,
            concurrency: int) -> list[Figure]:
    pages = math.ceil(records / page_size)
    floor = pages / rate
    with workdir("reconcile") as tmp, Sandbox(script=SEEDED, records=records,
                                              latency_ms=latency_ms, page_size=page_size) as june:
        checkpoint = journalled(Path(tmp) / "state", june.url, records)
        result, seconds, _ = run_cli("reconcile", "--api-url", june.url, "--rate", str(rate),
                                     "--concurrency", str(concurrency), checkpoint=checkpoint)
        served = june.stats()["endpoints"]["user_deletion_requests"]
        summary = json.loads((checkpoint / "summary.json").read_text())
    if result.returncode != 0:
        raise SystemExit(f"reconcile exited {result.returncode}: {summary}")
    case = (f"{records:,} records, {pages:,} pages, rate {rate}, {latency_ms} ms, "
            f"c {concurrency}")
    return [
        Figure(BENCH, case, "reconcile wall s", [seconds], fmt="{:.1f}", lower_is_better=True),
        Figure(BENCH, case, "rate floor s (pages ÷ rate)", [floor], fmt="{:.1f}"),
        Figure(BENCH, case, "floor ÷ wall", [floor / seconds], fmt="{:.2f}"),
        Figure(BENCH, case, "listing requests ÷ pages", [served / pages], fmt="{:.2f}",
               lower_is_better=True),
    ]


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    records = 20_000 if quick else 100_000
    return repeat(lambda: measure(records, 50, 200, 100, 16), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16, help="as --concurrency")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    result = repeat(lambda: measure(args.records, args.rate, args.latency_ms, args.page_size,
                                    args.concurrency), args.repeat)
    report("Reconcile speed: the real CLI paging a seeded sandbox", result, args.repeat)


if __name__ == "__main__":
    main()

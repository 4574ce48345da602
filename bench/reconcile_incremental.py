"""Incremental reconcile: listing pages read when only the newest IDs are looked for.

    .venv/bin/python bench/reconcile_incremental.py          # 100,000 old + 1,000 new, 100 a page
    .venv/bin/python bench/reconcile_incremental.py --old 20000 --new 200 --repeat 3

A sandbox (``bench/seeded_sandbox.py``, in its own process) lists ``--old`` + ``--new``
deletion requests, newest first, ``--page-size`` a page, ``--latency-ms`` on every request;
every one is finished. As a daily job meets it: the checkpoint journals the ``--old``
subjects, and a first reconcile keeps them in the state history as finished; then the
``--new`` newest are journalled too. The real CLI runs ``reconcile`` on that: it looks only
for the new IDs; and once more with ``--full``, which reads every page for every ID, as
every reconcile did before reads stopped early. The sandbox's own request count gives the
pages each read asked for; the minimal is the pages that hold the new IDs. Target:
incremental ÷ minimal <= 2.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from harness import Figure, Sandbox, at_most, repeat, report, run_cli, workdir
from seeded_sandbox import subject

from bulk_delete.checkpoint import Checkpoint
from bulk_delete.journal import HEADER, NAME, Outcome

BENCH = "reconcile incremental"
SEEDED = (str(Path(__file__).with_name("seeded_sandbox.py")),)
TARGET = 2.0


def measure(old: int, new: int, page_size: int, latency_ms: int,
            concurrency: int) -> list[Figure]:
    minimal = math.ceil(new / page_size)
    with workdir("incremental") as tmp, Sandbox(script=SEEDED, records=old + new,
                                                page_size=page_size,
                                                latency_ms=latency_ms) as june:
        checkpoint = Path(tmp) / "state"
        Checkpoint.open(checkpoint, kind="user", api_host=june.url, create=True).close()
        with (checkpoint / NAME).open("wb") as f:
            f.write(HEADER.encode())
            f.write(b"".join(Outcome(subject(i), "accepted", 200, 1).line() for i in range(old)))
        known, _, _ = run_cli("reconcile", "--api-url", june.url, "--rate", "1000",
                              "--concurrency", str(concurrency), checkpoint=checkpoint)
        if known.returncode != 0:
            raise SystemExit(f"the first reconcile exited {known.returncode}: {known.stderr}")
        with (checkpoint / NAME).open("ab") as f:
            f.write(b"".join(Outcome(subject(i), "accepted", 200, 1).line()
                             for i in range(old, old + new)))
        pages = {}
        for name, extra in (("incremental", ()), ("full", ("--full",))):
            before = june.stats()["endpoints"]["user_deletion_requests"]
            result, _, _ = run_cli("reconcile", "--api-url", june.url, "--rate", "1000",
                                   "--concurrency", str(concurrency), *extra,
                                   checkpoint=checkpoint)
            summary = json.loads((checkpoint / "summary.json").read_text())
            if result.returncode != 0 or summary["attention"]["missing"]:
                raise SystemExit(f"reconcile {name} exited {result.returncode}: {summary}")
            pages[name] = june.stats()["endpoints"]["user_deletion_requests"] - before
    case = (f"{old:,} old + {new:,} new, newest first, {page_size} a page, {latency_ms} ms, "
            f"c {concurrency}")
    return [
        Figure(BENCH, case, "minimal pages (those holding the new IDs)", [minimal], fmt="{:,.0f}"),
        Figure(BENCH, case, "pages read", [pages["incremental"]], fmt="{:,.0f}",
               lower_is_better=True),
        Figure(BENCH, case, "pages read ÷ minimal", [pages["incremental"] / minimal],
               f"<= {TARGET:g}", at_most(TARGET), fmt="{:.2f}", lower_is_better=True),
        Figure(BENCH, case, "pages read with --full (the whole listing)", [pages["full"]],
               fmt="{:,.0f}", lower_is_better=True),
        Figure(BENCH, case, "--full ÷ minimal", [pages["full"] / minimal], fmt="{:.1f}",
               lower_is_better=True),
    ]


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    old, new = (20_000, 200) if quick else (100_000, 1_000)
    return repeat(lambda: measure(old, new, 100, 50, 16), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=int, default=100_000, help="requests known finished")
    parser.add_argument("--new", type=int, default=1_000, help="requests still looked for")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16, help="as --concurrency")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    result = repeat(lambda: measure(args.old, args.new, args.page_size, args.latency_ms,
                                    args.concurrency), args.repeat)
    report("Incremental reconcile: listing pages read for the newest IDs", result, args.repeat)


if __name__ == "__main__":
    main()

"""Client overhead: unthrottled IDs/s with the journal on, versus a bare aiohttp loop.

    .venv/bin/python bench/overhead.py                   # 6 rounds of 5,000 IDs per side
    .venv/bin/python bench/overhead.py --ids 2000 --rounds 6 --repeat 3

One sandbox (no limit, no latency) runs in its own process; this process is the client. Each
round measures, back to back and in alternating order:

* **bulk-delete**: the submit pipeline as ``job.py`` wires it (pacer at ``--rate 10000``, the
  Submitter's workers, retries, tally, JSON progress, the journal written line by line and
  fsynced in groups) over fresh IDs;
* **bare aiohttp**: the same number of workers, one ``ClientSession`` with the same connector,
  timeout and headers, POSTing the same bodies and reading each answer; nothing else.

It reports accepted IDs/s of each over all rounds pooled, their ratio (target >= 0.7, and
>= 2,000 IDs/s), and the client's CPU seconds per 10,000 IDs (``time.process_time``, all
threads). Finally it runs the
real CLI (``python -m bulk_delete submit --rate 10000``) once and takes its sustained rate from
the journal's timestamps, so what ``job.py`` adds is visible too.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from harness import (
    API,
    KEY,
    Figure,
    Sandbox,
    at_least,
    journal_times,
    pin_self,
    repeat,
    report,
    run_cli,
    sustained,
    workdir,
    write_ids,
)

from bulk_delete import __version__
from bulk_delete.api import open_client
from bulk_delete.journal import Journal
from bulk_delete.logs import configure
from bulk_delete.pacing import Pacer
from bulk_delete.present import View
from bulk_delete.progress import Tally
from bulk_delete.submit import Submitter
from bulk_delete.types import Secret

NAME = "client overhead"
#: ``--rate`` for the unthrottled runs: the CLI's maximum, far above what one core can send.
RATE = 10_000
TIMEOUT = 30.0
_serial = itertools.count()


def fresh_ids(count: int) -> list[str]:
    """IDs never sent before in this process, so every POST creates a record."""
    batch = next(_serial)
    return [f"o{batch:03d}-{i:08d}" for i in range(count)]


async def with_tool(url: str, ids: list[str], concurrency: int) -> tuple[float, float]:
    """The submit pipeline over ``ids``: wall seconds and CPU seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(Path(tmp) / "journal.tsv")
        tally = Tally(total=len(ids))
        cpu, started = time.process_time(), time.perf_counter()
        async with open_client(base_url=url, kind="user", key=Secret(KEY), auth_style="raw",
                               request_timeout=TIMEOUT, concurrency=concurrency) as client:
            submitter = Submitter(client, Pacer(RATE), journal, concurrency=concurrency,
                                  max_attempts=6, tally=tally)
            async with View("json").sending(tally):
                await submitter.run(iter(ids))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        journal.close()
    if tally.accepted != len(ids):
        raise SystemExit(f"bulk-delete accepted {tally.accepted} of {len(ids)}")
    return seconds, cpu


async def with_bare_aiohttp(url: str, ids: list[str], concurrency: int) -> tuple[float, float]:
    """The least a client can do: workers POSTing from one shared iterator."""
    accepted = 0
    cpu, started = time.process_time(), time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=TIMEOUT, sock_connect=10.0),
        headers={"Authorization": f"Basic {KEY}", "Content-Type": "application/json",
                 "User-Agent": f"bulk-delete/{__version__}"},
    ) as session:
        post_url = f"{url}{API}user_deletion_request"
        shared: Iterator[str] = iter(ids)

        async def worker() -> None:
            nonlocal accepted
            for subject in shared:
                body = json.dumps({"user_id": subject}).encode()
                async with session.post(post_url, data=body, allow_redirects=False) as answer:
                    await answer.read()
                    accepted += answer.status == 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if accepted != len(ids):
        raise SystemExit(f"bare aiohttp accepted {accepted} of {len(ids)}")
    return seconds, cpu


def measure(count: int, rounds: int, concurrency: int, cli_ids: int) -> list[Figure]:
    """``rounds`` back-to-back pairs of ``count`` IDs each; the ratio of the pooled times.

    Other work on a shared machine slows single phases by 20 % and more; alternating short
    phases and pooling them spreads such spells over both sides alike.
    """
    configure("json")  # progress lines every few seconds, as the CLI logs when not on a terminal
    pin_self()
    totals = {"tool": [0.0, 0.0], "bare": [0.0, 0.0]}  # wall seconds, CPU seconds
    with Sandbox() as june:
        for number in range(rounds):
            phases = [("tool", with_tool), ("bare", with_bare_aiohttp)]
            for name, phase in phases if number % 2 == 0 else phases[::-1]:
                seconds, cpu = asyncio.run(phase(june.url, fresh_ids(count), concurrency))
                totals[name][0] += seconds
                totals[name][1] += cpu
        figures = cli_run(june, cli_ids, concurrency) if cli_ids else []
    ids = count * rounds
    (tool_s, tool_cpu), (bare_s, bare_cpu) = totals["tool"], totals["bare"]
    case = f"{rounds} x {count:,} IDs each, c {concurrency}"
    return [
        Figure(NAME, case, "bulk-delete IDs/s", [ids / tool_s], ">= 2000", at_least(2000),
               fmt="{:,.0f}"),
        Figure(NAME, case, "bare aiohttp IDs/s", [ids / bare_s], fmt="{:,.0f}"),
        Figure(NAME, case, "IDs/s ratio bulk-delete ÷ bare", [bare_s / tool_s], ">= 0.70",
               at_least(0.7), fmt="{:.2f}"),
        Figure(NAME, case, "bulk-delete CPU s / 10k IDs", [tool_cpu * 10_000 / ids],
               fmt="{:.2f}", lower_is_better=True),
        Figure(NAME, case, "bare aiohttp CPU s / 10k IDs", [bare_cpu * 10_000 / ids],
               fmt="{:.2f}", lower_is_better=True),
        *figures,
    ]


def cli_run(june: Sandbox, count: int, concurrency: int) -> list[Figure]:
    """The real CLI at ``--rate 10000``: sustained accepted/s between first and last answer."""
    with workdir("overhead") as tmp:
        source = write_ids(Path(tmp) / "ids.csv", fresh_ids(count))
        checkpoint = Path(tmp) / "state"
        _, _, cpu = run_cli("submit", str(source), "--api-url", june.url, "--rate", str(RATE),
                            "--concurrency", str(concurrency), checkpoint=checkpoint)
        times = journal_times(checkpoint)
    case = f"CLI, {count:,} IDs, c {concurrency}"
    return [
        Figure(NAME, case, "CLI sustained IDs/s", [sustained(times)], ">= 2000", at_least(2000),
               fmt="{:,.0f}"),
        Figure(NAME, case, "CLI process CPU s (start to exit)", [cpu], fmt="{:.2f}",
               lower_is_better=True),
    ]


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """The figures for ``bench/run_all.py``."""
    count = 2_000 if quick else 5_000
    return repeat(lambda: measure(count, 6, 16, 5 * count), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=5_000, help="IDs per measured phase")
    parser.add_argument("--rounds", type=int, default=6, help="tool/bare pairs per repeat")
    parser.add_argument("--concurrency", type=int, default=16, help="as --concurrency")
    parser.add_argument("--cli-ids", type=int, default=25_000,
                        help="IDs for the end-to-end CLI run (0: skip it)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    result = repeat(lambda: measure(args.ids, args.rounds, args.concurrency, args.cli_ids),
                    args.repeat)
    report("Client overhead: unthrottled, sandbox without limit or latency", result, args.repeat)


if __name__ == "__main__":
    main()

"""How many requests per second the sandbox serves, so it is never the bottleneck.

Starts ``python -m bulk_delete.sandbox --port 0`` in a subprocess (pinned to one
core when there are two or more) and drives it from this process with aiohttp:
first unique-ID POSTs, then listing pages of 100 records. For each phase it
prints the requests/s achieved and the server's own CPU time (from
``/proc/<pid>/stat``): when the server was not busy all the time, the client was
the limit, and requests per server CPU-second is what one core can serve.

    .venv/bin/python bench/sandbox_throughput.py --posts 20000 --pages 3000

Flags after ``--`` go to the sandbox, to measure a variant's path, e.g.
``-- --paging link --shape jsonapi --rate-limit 1000000 --rate-limit-headers ietf``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

API = "/api/platform/data_management/"
HEADERS = {"Authorization": "Basic sandbox", "Content-Type": "application/json"}


@dataclass(frozen=True)
class Phase:
    """One measured phase: requests answered, wall seconds, server CPU seconds."""

    name: str
    requests: int
    seconds: float
    server_cpu: float

    def line(self) -> str:
        rate = self.requests / self.seconds
        busy = self.server_cpu / self.seconds
        per_core = self.requests / self.server_cpu if self.server_cpu else float("inf")
        return (
            f"  {self.name:<28} {rate:7.0f} req/s   server busy {busy:4.0%}"
            f"   -> {per_core:7.0f} req per server CPU-second"
        )


def start_server(
    cpu: int | None, flags: Sequence[str] = ()
) -> tuple[subprocess.Popen[str], str]:
    """The sandbox subprocess (given ``flags``) and its base URL, read from its start-up line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulk_delete.sandbox", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    if cpu is not None:
        os.sched_setaffinity(proc.pid, {cpu})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://[\w.]+:\d+", line)
    if match is None:
        proc.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc, match.group(0)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    name: str, pid: int, requests: Iterator[Callable[[], Any]], concurrency: int
) -> Phase:
    """Send every request with ``concurrency`` workers, each expecting a 200."""
    done = 0

    async def worker() -> None:
        nonlocal done
        for make in requests:  # one shared iterator: each worker takes the next request
            async with make() as response:
                await response.read()
                assert response.status == 200, response.status
            done += 1

    cpu, started = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Phase(name, done, time.perf_counter() - started, cpu_seconds(pid) - cpu)


async def run(
    url: str, pid: int, posts: int, pages: int, concurrency: int
) -> tuple[list[Phase], dict[str, Any]]:
    """POST ``posts`` unique IDs, then GET ``pages`` listing pages; the phases and stats."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector, headers=HEADERS) as session:
        post_url, list_url = f"{API}user_deletion_request", f"{API}user_deletion_requests"
        bodies = (b'{"user_id":"u%d"}' % i for i in range(posts))
        submits = ((lambda body=body: session.post(post_url, data=body)) for body in bodies)
        phases = [await drive("POST user_deletion_request", pid, submits, concurrency)]
        numbers = itertools.islice(itertools.cycle(range(1, max(1, posts // 100) + 1)), pages)
        lists = ((lambda n=n: session.get(list_url, params={"page": str(n)})) for n in numbers)
        phases.append(await drive("GET listing page (100 rec.)", pid, lists, concurrency))
        async with session.get("/_sandbox/stats") as response:
            stats = await response.json()
    return phases, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000, help="unique user IDs to POST")
    parser.add_argument("--pages", type=int, default=3_000, help="listing pages to GET")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("sandbox_flags", nargs="*", help="flags for the sandbox, after --")
    args = parser.parse_args()

    pin = len(os.sched_getaffinity(0)) >= 2
    proc, url = start_server(cpu=0 if pin else None, flags=args.sandbox_flags)
    if pin:
        os.sched_setaffinity(0, {1})
    try:
        phases, stats = asyncio.run(run(url, proc.pid, args.posts, args.pages, args.concurrency))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert stats["accepted"]["user"] == stats["unique"]["user"] == phases[0].requests, stats
    assert stats["requests"] == phases[0].requests + phases[1].requests, stats
    where = "server on cpu 0, client on cpu 1" if pin else "not pinned"
    variant = " ".join(args.sandbox_flags) or "defaults"
    print(f"sandbox throughput ({where}, concurrency {args.concurrency}, {variant})")
    for phase in phases:
        print(phase.line())
    print(f"  stats agree with the client; peak_per_second {stats['peak_per_second']}")


if __name__ == "__main__":
    main()

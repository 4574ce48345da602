"""The sandbox server, already holding ``--records`` deletion requests, in its own process.

    .venv/bin/python bench/seeded_sandbox.py --port 0 --records 100000 --latency-ms 200

Seeding through the state (``SandboxState.submit``, as a demo's reconcile does) takes a
fraction of a second where 100,000 POSTs would take most of a minute. Subjects are
``s000000000``, ``s000000001``, ...; their requests were made between ``--age`` and half of it ago,
so with the default start/finish delays they are all finished. Prints the same start-up line
as ``python -m bulk_delete.sandbox`` and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import time

from bulk_delete.sandbox import SandboxConfig, SandboxServer


def subject(i: int) -> str:
    return f"s{i:09d}"


async def serve(args: argparse.Namespace) -> None:
    config = SandboxConfig(api_key=args.api_key, seed=args.seed, latency_ms=args.latency_ms,
                           page_size=args.page_size, rate_limit=args.rate_limit)
    server = SandboxServer(config, host="127.0.0.1", port=args.port)
    now = time.time()
    for i in range(args.records):
        server.state.submit("user", subject(i), now - args.age * (1 - i / args.records / 2))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    gc.collect()
    gc.freeze()
    gc.disable()  # a steadier yardstick, as bench/quiet_sandbox.py explains
    async with server:
        print(f"bulk-delete sandbox listening on {server.url} with {args.records:,} records",
              flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="sandbox")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--rate-limit", type=int, default=None)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--age", type=float, default=3600.0,
                        help="the oldest request was made this many seconds ago")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()

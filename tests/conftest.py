"""Shared fixtures, and only fixtures: logging reset, a server on a real loopback socket, and
a June sandbox for tests that run the CLI as a process. What they build, and every helper a
test imports, is in fakes.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import structlog
from aiohttp import web

from bulk_delete.logs import set_secrets
from bulk_delete.sandbox import SandboxConfig
from tests.fakes import KEY, Handler, June, Serve


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a server on a real loopback socket whose every route answers with ``handler``.

    For shapes and failures the sandbox does not make: yields ``start(handler) -> base URL``.
    """
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """structlog configuration and registered secrets are global: reset them around each test."""
    yield
    structlog.reset_defaults()
    set_secrets([])


@pytest.fixture
def june() -> Iterator[June]:
    """A June sandbox with the test key, no limits and no faults (tests add their own)."""
    server = June(SandboxConfig(api_key=KEY))
    yield server
    server.close()

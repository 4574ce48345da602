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
from tests.fakes import ALLOW_ALL, KEY, KEY_ID, S3, SECRET, Handler, June, Serve


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


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    """A real S3-compatible server (moto) on loopback, one per test module."""
    import boto3  # only the modules that read buckets pay for these imports
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    session = {"endpoint_url": endpoint, "aws_access_key_id": KEY_ID,
               "aws_secret_access_key": SECRET, "region_name": "us-east-1"}
    iam = boto3.client("iam", **session)
    keys = []
    for user in ("reader", "nobody"):
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys.append((key["AccessKeyId"], key["SecretAccessKey"]))
    iam.put_user_policy(UserName="reader", PolicyName="all", PolicyDocument=ALLOW_ALL)
    yield S3(endpoint, boto3.client("s3", **session), *keys)
    server.stop()

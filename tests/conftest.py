"""Shared fixtures: logging reset, a June sandbox on a real socket, and the CLI as a process."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pytest
import structlog
import trustme
from aiohttp import web

from bulk_delete.journal import read
from bulk_delete.logs import set_secrets
from bulk_delete.sandbox import SandboxConfig, SandboxServer

T = TypeVar("T")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], Awaitable[str]]


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


KEY = "sk_sandbox_7f3e9a1b"


class June:
    """A sandbox June served from a background thread, for tests that run the CLI as a process.

    The test's own thread blocks on subprocesses; the server keeps answering on its loop.
    With ``ca``, it serves HTTPS with a certificate of that CA for 127.0.0.1, localhost and
    june.test (the host name tests reach through a proxy).
    """

    def __init__(self, config: SandboxConfig, *, ca: trustme.CA | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client_tls: ssl.SSLContext | None = None
        server_tls = None
        if ca is not None:
            server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost", "june.test").configure_cert(server_tls)
            self._client_tls = ssl.create_default_context()
            ca.configure_trust(self._client_tls)
        self.server = SandboxServer(config, ssl_context=server_tls)
        self._call(self.server.start())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    @property
    def url(self) -> str:
        return self.server.url

    def stats(self) -> dict[str, Any]:
        """Exact counts of what reached the server, read over HTTP as any client would."""
        with urllib.request.urlopen(f"{self.url}/_sandbox/stats", timeout=10,
                                    context=self._client_tls) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def posts(self) -> int:
        """Deletion requests that reached the server (listing reads not counted)."""
        endpoints = self.stats()["endpoints"]
        return int(endpoints["user_deletion_request"] + endpoints["group_deletion_request"])

    def configure(self, **knobs: Any) -> None:
        self._loop.call_soon_threadsafe(self.server.state.configure, knobs)

    def stop(self) -> None:
        self._call(self.server.stop())

    def start(self) -> None:
        self._call(self.server.start())

    def close(self) -> None:
        self._call(self.server.stop())
        self._call(_cancel_the_rest())  # hung handlers, so the loop closes with no task pending
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _cancel_the_rest() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def june() -> Iterator[June]:
    """A June sandbox with the test key, no limits and no faults (tests add their own)."""
    server = June(SandboxConfig(api_key=KEY))
    yield server
    server.close()


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment a user would set: the key, JSON logs, state under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUNE_", "BULK_DELETE_"))}
    env.update({"JUNE_API_KEY": KEY, "BULK_DELETE_LOG_FORMAT": "json",
                "BULK_DELETE_CHECKPOINT_DIR": str(tmp_path / "state"), **extra})
    return env


def bulk_delete(*args: str, env: dict[str, str], timeout: float = 120,
                cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bulk_delete ARGS`` to the end, as a user would."""
    return subprocess.run([sys.executable, "-m", "bulk_delete", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def ids(n: int, prefix: str = "u") -> list[str]:
    """``n`` distinct IDs: u00000, u00001, ..."""
    return [f"{prefix}{i:05d}" for i in range(n)]


def journal_of(tmp_path: Path) -> pl.DataFrame:
    """The journal of the job whose checkpoint is ``tmp_path/state`` (as cli_env sets it)."""
    return read(tmp_path / "state" / "journal.tsv")


def write_ids(path: Path, ids: list[str], column: str = "user_id") -> Path:
    """A one-column CSV of IDs, as an export would hold them."""
    path.write_text(column + "\n" + "".join(f"{i}\n" for i in ids), encoding="utf-8")
    return path


#: The test key's secret half: it must appear in no output and no file.
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


@dataclass
class S3:
    """The moto server, a client to set buckets up, and two IAM users' keys."""

    endpoint: str
    client: Any
    #: Access key id and secret of a user allowed everything, and of one allowed nothing.
    reader: tuple[str, str]
    nobody: tuple[str, str]

    def env(self, key: tuple[str, str] = (KEY_ID, SECRET)) -> dict[str, str]:
        """What a user sets to reach an S3-compatible store: nothing more."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": key[0], "AWS_SECRET_ACCESS_KEY": key[1],
                "AWS_REGION": "us-east-1"}

    def put(self, bucket: str, key: str, body: bytes) -> str:
        """Store an object; its URL."""
        self.client.put_object(Bucket=bucket, Key=key, Body=body)
        return f"s3://{bucket}/{key}"


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

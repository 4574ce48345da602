"""The connection a command works through: one client and one pacer, to June or the sandbox."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from bulk_delete import local_sandbox
from bulk_delete.api import Client, JuneClient, open_client
from bulk_delete.config import Settings
from bulk_delete.pacing import Pacer


@dataclass(frozen=True)
class Connection:
    """One client, one pacer for every request of a command, and the settings in force.

    With ``--sandbox`` the settings point at the in-process sandbox, whose URL
    ``sandbox_url`` also names; it is None against June.
    """

    client: Client
    pacer: Pacer
    settings: Settings
    sandbox_url: str | None = None


class Connect(Protocol):
    """How a command opens its connection; tests pass one that yields a fake client."""

    def __call__(self, settings: Settings,
                 journal_path: Path) -> contextlib.AbstractAsyncContextManager[Connection]: ...


@contextlib.asynccontextmanager
async def connect(settings: Settings, journal_path: Path) -> AsyncIterator[Connection]:
    """A client for June, or for an in-process sandbox seeded from ``journal_path``."""
    pacer = Pacer(settings.rate)
    if settings.sandbox:
        async with local_sandbox.started(settings.kind, journal_path) as (url, key):
            local = replace(settings, api_url=url, api_key=key, auth_style="raw")
            async with _client(local) as client:
                yield Connection(client, pacer, local, sandbox_url=url)
        return
    async with _client(settings) as client:
        yield Connection(client, pacer, settings)


def _client(settings: Settings) -> contextlib.AbstractAsyncContextManager[JuneClient]:
    return open_client(base_url=settings.api_url, kind=settings.kind, key=settings.require_key(),
                       auth_style=settings.auth_style, request_timeout=settings.timeout,
                       concurrency=settings.concurrency, ca_bundle=settings.ca_bundle)

"""The connection a command works through: one client, one pacer, June or the sandbox."""

from __future__ import annotations

import contextlib
import functools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime

import click
import polars as pl

from bulk_delete import journal, progress, shards
from bulk_delete.api import JuneClient, open_client
from bulk_delete.checkpoint import Checkpoint
from bulk_delete.config import Secret, Settings
from bulk_delete.errors import ApiUnavailable
from bulk_delete.listing import most_advanced, read_listing, top_of_listing
from bulk_delete.logs import get_logger
from bulk_delete.pacing import Pacer, Retrier
from bulk_delete.reconcile import REQUESTED
from bulk_delete.sandbox import SandboxConfig, SandboxServer


@dataclass(frozen=True)
class Connection:
    """One client, one pacer for every request of a command, and the settings in force."""

    client: JuneClient
    pacer: Pacer
    settings: Settings


@contextlib.asynccontextmanager
async def connect(settings: Settings, checkpoint: Checkpoint) -> AsyncIterator[Connection]:
    """A client for June, or for an in-process sandbox when ``settings.sandbox``.

    A sandbox lives only as long as its process, so each one starts with the requests that
    earlier sandbox runs journalled in ``checkpoint``: a rerun or a later reconcile finds them
    listed, as it would at June.
    """
    pacer = Pacer(settings.rate)
    if not settings.sandbox:
        async with open_client(base_url=settings.api_url, kind=settings.kind,
                               key=settings.require_key(), auth_style=settings.auth_style,
                               request_timeout=settings.timeout,
                               concurrency=settings.concurrency,
                               ca_bundle=settings.ca_bundle) as client:
            yield Connection(client, pacer, settings)
        return
    key = secrets.token_urlsafe(16)
    config = SandboxConfig(api_key=key, start_after=2.0, finish_after=6.0)
    async with SandboxServer(config) as server:
        _seed_sandbox(server, checkpoint)
        click.echo(f"SANDBOX: requests go to a local imitation of June at {server.url}; "
                   "nothing real is deleted.", err=True)
        local = replace(settings, api_url=server.url, api_key=Secret(key), auth_style="raw")
        async with open_client(base_url=server.url, kind=settings.kind, key=Secret(key),
                               auth_style="raw", request_timeout=settings.timeout,
                               concurrency=settings.concurrency) as client:
            yield Connection(client, pacer, local)


def _seed_sandbox(server: SandboxServer, checkpoint: Checkpoint) -> None:
    """Give a fresh sandbox the requests an earlier sandbox run sent, at their journal times."""
    sent = journal.read(checkpoint.journal_path, final_only=True).filter(
        pl.col("outcome").is_in(REQUESTED))
    for subject, at in sent.select("id", "at").iter_rows():
        when = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        server.state.submit(checkpoint.manifest.kind, subject, when)


async def read_june_listing(conn: Connection, expected: pl.Series | None = None) -> pl.DataFrame:
    """June's listing, read a window of pages at a time; page by page if ``expected`` is missing.

    Pages read side by side can miss a record that new requests pushed across a page
    boundary between two fetches; a page-by-page pass cannot (records only move down).
    So when an ID we sent is not found and page 1 changed while the pages were read, the
    listing is read once more, page by page. When page 1 did not change, nothing arrived to
    push records along: the IDs not found are missing, and the (slow) second pass is saved.
    """
    settings = conn.settings
    retrier = Retrier(conn.pacer, max_attempts=settings.max_attempts,
                      tally=progress.Tally(total=0))

    # A shard reads every page but keeps only its own IDs' records (a 1/N share of memory).
    keep = None if settings.shard is None else functools.partial(
        shards.in_shard, index=settings.shard[0], count=settings.shard[1])

    async def read(window: int) -> pl.DataFrame:
        return await read_listing(conn.client, retrier, kind=settings.kind,
                                  auth_style=settings.auth_style, window=window, keep=keep)

    async def top() -> list[str]:
        return await top_of_listing(conn.client, retrier, kind=settings.kind,
                                    auth_style=settings.auth_style)

    if expected is None or settings.concurrency == 1:
        return await read(settings.concurrency)
    before = await top()
    found = await read(settings.concurrency)
    if expected.is_in(found["subject"].implode()).all():
        return found
    if await top() == before:
        get_logger().info("bulk_delete.listing_stable",
                          detail="page 1 did not change while the listing was read")
        return found
    get_logger().info("bulk_delete.listing_reread", reason="sent IDs not found")
    return most_advanced(pl.concat([found, await read(1)]))


async def preflight(conn: Connection) -> None:
    """Ask for listing page 1 before the first deletion: a wrong key or URL stops the job here.

    A wrong --api-url path would otherwise answer 404 to every deletion, and 404 is final
    for an ID: the whole list would be journalled as rejected. Only those two answers
    (AuthError, UsageError) matter here; any other failure leaves the deletions to speak
    for themselves.
    """
    settings = conn.settings
    retrier = Retrier(conn.pacer, max_attempts=1, tally=progress.Tally(total=0))
    with contextlib.suppress(ApiUnavailable):
        await top_of_listing(conn.client, retrier, kind=settings.kind,
                             auth_style=settings.auth_style)

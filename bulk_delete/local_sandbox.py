"""``--sandbox``: the built-in June imitation, started in-process for one command.

A sandbox lives only as long as its process, so each one starts with the requests
that earlier sandbox runs journalled in the checkpoint: a rerun or a later
reconcile finds them listed, as it would at June.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import polars as pl

from bulk_delete import journal
from bulk_delete.sandbox import SandboxConfig, SandboxServer
from bulk_delete.types import Kind, Secret

#: Seconds until a sandbox request is started, then finished: a demo should not wait 72 h.
START_AFTER, FINISH_AFTER = 2.0, 6.0


@contextlib.asynccontextmanager
async def started(kind: Kind, journal_path: Path) -> AsyncIterator[tuple[str, Secret]]:
    """A sandbox on a free loopback port, seeded from the journal: yields its URL and key."""
    key = secrets.token_urlsafe(16)
    config = SandboxConfig(api_key=key, start_after=START_AFTER, finish_after=FINISH_AFTER)
    async with SandboxServer(config) as server:
        _seed(server, kind, journal_path)
        yield server.url, Secret(key)


def _seed(server: SandboxServer, kind: Kind, journal_path: Path) -> None:
    """Give a fresh sandbox the requests an earlier sandbox run sent, at their journal times."""
    sent = journal.read(journal_path, final_only=True).filter(
        pl.col("outcome").is_in(journal.REQUESTED))
    for subject, at in sent.select("id", "at").iter_rows():
        when = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        server.state.submit(kind, subject, when)

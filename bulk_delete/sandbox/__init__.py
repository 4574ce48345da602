"""A June-compatible API server for demos, tests and benchmarks; it deletes nothing real.

It depends on nothing else in ``bulk_delete``, so it can judge the client as a
yardstick. Where June's documentation is silent it plays every plausible choice
(409 for repeats, Idempotency-Key, hidden states, cursor, next-link and Link-header
paging, JSON:API pages, auth forms, rate-limit headers, three limiters), one knob each.
One idea per module:

    config.py   SandboxConfig: every knob, validated, replaced whole at runtime
    ledger.py   records in listing order, the lazy requested -> started -> finished machine
    state.py    the ledgers, answers by Idempotency-Key, and exact counters
    limits.py   the sliding, strict and fixed-window rate limits and their headers
    faults.py   the seeded fault dice: 5xx, drops before or after applying, hangs
    pages.py    listing queries in; pages by number, cursor or link, flat or JSON:API, out
    bodies.py   JSON request bodies in; JSON, plain-text, HTML or empty answers out
    app.py      the four June endpoints behind one gate of limits and faults
    control.py  /_sandbox/{stats,config,reset}, for tests and benchmarks
    server.py   SandboxServer: an async context manager on a real socket
    cli.py      the ``bulk-delete sandbox`` command
"""

from __future__ import annotations

from bulk_delete.sandbox.config import SandboxConfig
from bulk_delete.sandbox.server import SandboxServer
from bulk_delete.sandbox.state import SandboxState

__all__ = ["SandboxConfig", "SandboxServer", "SandboxState"]

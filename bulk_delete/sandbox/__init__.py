"""A June-compatible API server for demos, tests and benchmarks; it deletes nothing real.

It depends on nothing else in ``bulk_delete``, so it can judge the client as a
yardstick. One idea per module:

    config.py   SandboxConfig: every knob, validated, replaced whole at runtime
    state.py    records, the lazy requested -> started -> finished machine, counters
    limits.py   the sliding-window rate limit and the seeded fault dice
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

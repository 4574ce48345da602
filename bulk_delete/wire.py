"""When a request's bytes leave: the one place that leans on how aiohttp writes a body.

Why: the pacer counts each request against its 1-second window at the moment its bytes are
handed to the socket, not when it was admitted. aiohttp writes a POST body from a task of
its own (on Python 3.11 a loop turn after the request was started), and the event loop may
stall in between (a garbage collection, a busy machine); were requests counted at
admission, a stall would let several that were admitted apart reach June together.

What it relies on (aiohttp 3.13 and 3.14, tested on 3.13.5 and 3.14.5): ``ClientRequest``
writes a :class:`aiohttp.payload.Payload` body by awaiting its
``write_with_length(writer, content_length)``, and :class:`~aiohttp.payload.BytesPayload`
hands the bytes to the writer (with the headers, coalesced into one transport write) in
that same call. :class:`Body` calls :data:`ON_THE_WIRE` first. ``write_with_length`` is
not in aiohttp's documented API: a release that writes bodies another way silently stops
the call, and the pacer then counts each request when its answer comes back (retry.py),
late.
``tests/test_wire.py`` is the canary: it fails, naming the aiohttp version, when the call
does not happen on a real request or the method's signature changes; pyproject.toml caps
aiohttp below 4.

Why not aiohttp's public tracing (``TraceConfig``): ``on_request_headers_sent`` fires when
the headers are only buffered, before the body's task runs (a loop turn early on 3.11, the
stall this is about). ``on_request_chunk_sent`` fires at the right moment for every body,
but tracing every request costs CPU: about a fifth more client CPU than a bare aiohttp
POST, against a few per cent for this override (``bench/wire_hook.py``). It is the fallback
should the payload API go.

A GET has no body to hook: :func:`announce` is called just before aiohttp is asked to send
it. On a kept-alive connection its bytes leave in that same loop turn; on a new one, once
the connection is made.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

import aiohttp.payload
from aiohttp.abc import AbstractStreamWriter

#: Set by the pacer around each request: called when the request's bytes reach the socket.
ON_THE_WIRE: ContextVar[Callable[[], None] | None] = ContextVar("bulk_delete_on_the_wire",
                                                               default=None)


def announce() -> None:
    """Tell the request's :data:`ON_THE_WIRE` hook, if one is set, that its bytes leave now."""
    hook = ON_THE_WIRE.get()
    if hook is not None:
        hook()


class Body(aiohttp.payload.BytesPayload):
    """A request body that calls :func:`announce` as aiohttp writes it, headers included."""

    async def write_with_length(self, writer: AbstractStreamWriter,
                                content_length: int | None) -> None:
        announce()
        await super().write_with_length(writer, content_length)

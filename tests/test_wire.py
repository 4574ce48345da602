"""The canary of bulk_delete/wire.py: aiohttp still writes a request body through the payload
method the pacer's on-the-wire hook overrides. Each failure names the installed aiohttp."""

from __future__ import annotations

import inspect

import aiohttp
import aiohttp.payload
from aiohttp import web

from bulk_delete.wire import ON_THE_WIRE, Body
from tests.fakes import Serve

CHANGED = (f"aiohttp {aiohttp.__version__} changed how it writes a request body, which the "
           "pacer's on-the-wire hook relies on (see bulk_delete/wire.py)")


async def test_the_hook_runs_once_as_each_request_is_written(serve: Serve) -> None:
    """Three POSTs of a wire.Body on one aiohttp session, to a real loopback server: the hook
    runs once for each, before the server sees it."""
    events: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        events.append(f"served {await request.text()}")
        return web.Response(text="{}")

    url = await serve(handler)
    token = ON_THE_WIRE.set(lambda: events.append("wire"))
    try:
        async with aiohttp.ClientSession() as session:
            for n in range(3):
                body = Body(f'{{"user_id": "u{n}"}}'.encode(), content_type="application/json")
                async with session.post(url, data=body) as answer:
                    assert answer.status == 200
    finally:
        ON_THE_WIRE.reset(token)
    assert events == [event for n in range(3)
                      for event in ("wire", f'served {{"user_id": "u{n}"}}')], CHANGED


def test_the_overridden_method_keeps_its_signature() -> None:
    """BytesPayload.write_with_length still takes (writer, content_length), as Body's
    override does, and Body overrides nothing else."""
    expected = ["self", "writer", "content_length"]
    theirs = inspect.signature(aiohttp.payload.BytesPayload.write_with_length)
    assert list(theirs.parameters) == expected, f"{CHANGED}: {theirs}"
    assert list(inspect.signature(Body.write_with_length).parameters) == expected
    assert [name for name in vars(Body) if callable(vars(Body)[name])] == ["write_with_length"]

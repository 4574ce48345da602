"""The HTTP side: June's four endpoints, behind one gate of faults and limits.

Every API request passes one gate, in this order, and the first refusal answers:

    counted -> outage (503) -> storm (429) -> rate limit (429) -> latency -> auth (401)
            -> fault dice (5xx | dropped connection | hang, then carry on) -> handler

So a 429 costs no latency, a rejected key is never admitted to the dice, and
``peak_per_second`` counts exactly the requests the rate limiter let through.
Handlers log nothing (this is the hot path) and read ``state.config`` again after
every wait, so a knob changed at runtime applies to requests already waiting.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache

from aiohttp import web

from bulk_delete.sandbox.bodies import answer, error, json_object
from bulk_delete.sandbox.config import AuthStyle
from bulk_delete.sandbox.control import add_control_routes
from bulk_delete.sandbox.limits import retry_after
from bulk_delete.sandbox.state import KINDS, STATES, Kind, RequestState, SandboxState

API_PREFIX = "/api/platform/data_management/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATE_NAMES: dict[str, RequestState] = {name: name for name in STATES}
#: SO_LINGER on, timeout 0: closing the socket sends a TCP reset, not a polite FIN.
_LINGER_RESET = struct.pack("ii", 1, 0)
#: Seconds a 429 of the ``storm`` knob asks the client to wait.
STORM_WAIT = 1.0


def build_app(state: SandboxState) -> web.Application:
    """A fresh application over ``state``; a restarted server builds a new one."""
    app = web.Application()
    for kind in KINDS:
        app.router.add_post(f"{API_PREFIX}{kind}_deletion_request", _submit(state, kind))
        app.router.add_get(f"{API_PREFIX}{kind}_deletion_requests", _listing(state, kind))
    add_control_routes(app, state)
    return app


@lru_cache(maxsize=16)
def accepted_authorizations(api_key: str, style: AuthStyle) -> frozenset[str]:
    """The ``Authorization`` header values that carry ``api_key`` in ``style``."""
    raw = f"Basic {api_key}"
    basic = "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()
    return frozenset({"raw": [raw], "basic": [basic], "any": [raw, basic]}[style])


async def _gate(state: SandboxState, request: web.Request, endpoint: str) -> web.Response | None:
    """Count the request and apply outage, rate limit, latency, auth and faults.

    None lets the request through to its handler; anything else is the answer.
    """
    stats, config = state.stats, state.config
    stats.requests += 1
    stats.endpoints[endpoint] += 1
    if config.outage:
        stats.faults["outage"] += 1
        return _error(state, request, 503, "sandbox outage: the API is down")
    now = state.clock()
    if config.storm:
        stats.rate_limited += 1
        headers = retry_after(config.retry_after, STORM_WAIT, now)
        return _error(state, request, 429, "sandbox storm: too many requests", headers)
    wait = state.window.admit(now, config.rate_limit)
    if wait is not None:
        stats.rate_limited += 1
        headers = retry_after(config.retry_after, wait, now)
        return _error(state, request, 429, "rate limit exceeded", headers)
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    header = request.headers.get("Authorization")
    if header not in accepted_authorizations(config.api_key, config.auth_style):
        stats.unauthorized += 1
        message = f"missing or wrong API key (this sandbox expects auth_style {config.auth_style})"
        return _error(state, request, 401, message)
    return await _misbehave(state, request)


def _error(
    state: SandboxState,
    request: web.Request,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An error answer in the configured style; with ``echo_key`` it quotes the credentials."""
    config = state.config
    if config.echo_key:
        message = f"{message} (Authorization: {request.headers.get('Authorization', '')})"
    return error(config.body_style, status, message, headers)


async def _misbehave(state: SandboxState, request: web.Request) -> web.Response | None:
    """Roll the fault dice: a 5xx, a dropped connection, a hang, or nothing.

    Failed and dropped requests are not applied; a hung one is, once it wakes,
    like a server that was slow rather than dead (aiohttp does not cancel a
    handler whose client gave up, so this holds after a client timeout too).
    """
    config = state.config
    fault = state.dice.roll(config)
    if fault is None:
        return None
    state.stats.faults[fault] += 1
    if fault == "5xx":
        return _error(state, request, state.dice.status(), "sandbox fault injected")
    if fault == "reset":
        return _drop(request)
    await asyncio.sleep(config.hang_seconds)
    return None


def _drop(request: web.Request) -> web.Response:
    """Reset the connection with nothing written; the client sees a connection error.

    ``force_close`` is aiohttp's own way to end a connection; the response returned
    here is never sent, because aiohttp then finds the transport closed and drops
    it without logging.
    """
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    request.protocol.force_close()
    return web.Response()


def _submit(state: SandboxState, kind: Kind) -> Handler:
    field, endpoint = f"{kind}_id", f"{kind}_deletion_request"

    async def submit(request: web.Request) -> web.Response:
        # Read first: once a client gives up during latency or a hang, aiohttp
        # fails any later read, and the request must still be applied.
        body = await request.read()
        denied = await _gate(state, request, endpoint)
        if denied is not None:
            return denied
        try:
            subject = _subject(body, field)
        except ValueError as exc:
            state.stats.bad_requests += 1
            return _error(state, request, 400, str(exc))
        if _refused(subject, state.config.reject_prefix):
            state.stats.bad_requests += 1
            return _error(state, request, 422, f"unknown {kind}: {subject}")
        now = state.clock()
        record = state.submit(kind, subject, now)
        return answer(state.config.body_style, 200, record.view(field, now, state.config))

    return submit


def _subject(body: bytes, field: str) -> str:
    """The subject named in a POST body, or ``ValueError`` saying what is wrong."""
    subject = json_object(body).get(field)
    if not isinstance(subject, str) or not subject:
        raise ValueError(f"{field} must be a non-empty string")
    return subject


def _refused(subject: str, prefix: str | None) -> bool:
    """Whether the ``reject_prefix`` knob makes June refuse this subject."""
    return prefix is not None and subject.startswith(prefix)


def _listing(state: SandboxState, kind: Kind) -> Handler:
    field, endpoint = f"{kind}_id", f"{kind}_deletion_requests"

    async def listing(request: web.Request) -> web.Response:
        denied = await _gate(state, request, endpoint)
        if denied is not None:
            return denied
        if state.config.listing_latency_ms:
            await asyncio.sleep(state.config.listing_latency_ms / 1000)
        config = state.config
        try:
            wanted, page = _listing_query(request.query)
        except ValueError as exc:
            state.stats.bad_requests += 1
            return _error(state, request, 400, str(exc))
        page = 1 if config.ignore_page else page
        now, ledger, size = state.clock(), state.ledgers[kind], config.page_size
        lo, hi = ledger.select(wanted, now, config)
        records = [record.view(field, now, config) for record in ledger.page(lo, hi, page, size)]
        total = hi - lo
        payload = {
            "data": records,
            "page": page,
            "per_page": size,
            "total": total,
            "has_more": page * size < total,
        }
        return answer(config.listing_body_style or config.body_style, 200, payload)

    return listing


def _listing_query(query: Mapping[str, str]) -> tuple[RequestState | None, int]:
    """``state`` and ``page`` from a listing's query string, or ``ValueError``."""
    name = query.get("state")
    wanted = None if name is None else _STATE_NAMES.get(name)
    if name is not None and wanted is None:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    page = query.get("page", "1")
    if not (page.isascii() and page.isdigit()) or int(page) < 1:
        raise ValueError("page must be a positive integer; pages start at 1")
    return wanted, int(page)

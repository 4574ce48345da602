"""The HTTP side: June's four endpoints, behind one gate of faults and limits.

Every API request passes one gate, in this order, and the first refusal answers:

    counted -> outage (503) -> storm (429) -> rate limit (429) -> latency -> auth (401)
            -> fault dice (5xx | drop | hang, then carry on) -> handler [-> drop after]

So a 429 costs no latency, a rejected key is never admitted to the dice, and
``peak_per_second`` counts exactly the requests the rate limiter let through.
Rate-limit headers go on every answer from the limiter on (its 429s included);
the outage's 503s and the storm's 429s never reach it and carry none. A drop
before the handler applies nothing; a drop after it (``reset_after``) leaves
the request applied and its answer unsent, as when a server's reply is lost.
Handlers log nothing (this is the hot path) and read ``state.config`` again after
every wait, so a knob changed at runtime applies to requests already waiting.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from aiohttp import web

from bulk_delete.sandbox.bodies import answer, error, json_object
from bulk_delete.sandbox.config import AuthStyle
from bulk_delete.sandbox.control import add_control_routes
from bulk_delete.sandbox.ledger import Record
from bulk_delete.sandbox.limits import quota_headers, retry_after
from bulk_delete.sandbox.pages import listing_page, parse_query
from bulk_delete.sandbox.state import KINDS, Kind, SandboxState

API_PREFIX = "/api/platform/data_management/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: What an endpoint does once the gate let a request through: (request, its body) -> answer.
Action = Callable[[web.Request, bytes], Awaitable[web.Response]]

#: SO_LINGER on, timeout 0: closing the socket sends a TCP reset, not a polite FIN.
_LINGER_RESET = struct.pack("ii", 1, 0)
#: Seconds a 429 of the ``storm`` knob asks the client to wait.
STORM_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request the gate let through: headers its answer carries, and whether to drop it
    once applied."""

    headers: Mapping[str, str] | None = None
    drop_after: bool = False


_ADMITTED = Admitted()


def build_app(state: SandboxState) -> web.Application:
    """A fresh application over ``state``; a restarted server builds a new one."""
    app = web.Application()
    for kind in KINDS:
        post, get = f"{kind}_deletion_request", f"{kind}_deletion_requests"
        app.router.add_post(API_PREFIX + post, _endpoint(state, post, _submit(state, kind)))
        app.router.add_get(API_PREFIX + get, _endpoint(state, get, _listing(state, kind)))
    add_control_routes(app, state)
    return app


@lru_cache(maxsize=16)
def accepted_authorizations(api_key: str, style: AuthStyle) -> frozenset[str]:
    """The ``Authorization`` header values that carry ``api_key`` in ``style``."""
    raw = f"Basic {api_key}"
    basic = "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()
    return frozenset({"raw": [raw], "basic": [basic], "any": [raw, basic]}[style])


def _endpoint(state: SandboxState, endpoint: str, action: Action) -> Handler:
    async def serve(request: web.Request) -> web.Response:
        # Read first: once a client gives up during latency or a hang, aiohttp
        # fails any later read, and the request must still be applied.
        body = await request.read()
        passed = await _gate(state, request, endpoint)
        if isinstance(passed, web.Response):
            return passed
        response = await action(request, body)
        if passed.drop_after:
            return _drop(request)
        if passed.headers:
            response.headers.update(passed.headers)
        return response

    return serve


async def _gate(
    state: SandboxState, request: web.Request, endpoint: str
) -> web.Response | Admitted:
    """Count the request and apply outage, rate limit, latency, auth and faults.

    An :class:`Admitted` lets the request through to its handler; a response is the answer.
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
    wait, quota = _limit(state, now)
    if wait is not None:
        stats.rate_limited += 1
        headers = {**retry_after(config.retry_after, wait, now), **(quota or {})}
        return _error(state, request, 429, "rate limit exceeded", headers)
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    header = request.headers.get("Authorization")
    if header not in accepted_authorizations(config.api_key, config.auth_style):
        stats.unauthorized += 1
        message = f"missing or wrong API key (this sandbox expects auth_style {config.auth_style})"
        return _error(state, request, 401, message, quota)
    return await _misbehave(state, request, quota)


def _limit(state: SandboxState, now: float) -> tuple[float | None, dict[str, str] | None]:
    """Ask the limiter: the seconds to wait when refused (else None), and the rate-limit
    headers the answer carries (None when there are none to send)."""
    config, limiter = state.config, state.limiter
    limit, style = config.rate_limit, config.rate_limit_headers
    wait = limiter.admit(now, limit)
    if limit is None or style == "none":
        return wait, None
    return wait, quota_headers(style, limit, *limiter.quota(now, limit))


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


async def _misbehave(
    state: SandboxState, request: web.Request, headers: Mapping[str, str] | None
) -> web.Response | Admitted:
    """Roll the fault dice: a 5xx, a drop before or after applying, a hang, or nothing.

    Failed requests and those dropped before are not applied; a hung one is, once
    it wakes, like a server that was slow rather than dead (aiohttp does not cancel
    a handler whose client gave up, so this holds after a client timeout too).
    """
    config = state.config
    fault = state.dice.roll(config)
    if fault is None:
        return _ADMITTED if headers is None else Admitted(headers)
    state.stats.faults[fault] += 1
    if fault == "5xx":
        return _error(state, request, state.dice.status(), "sandbox fault injected", headers)
    if fault == "reset":
        return _drop(request)
    if fault == "hang":
        await asyncio.sleep(config.hang_seconds)
    return Admitted(headers, drop_after=fault == "reset_after")


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


def _submit(state: SandboxState, kind: Kind) -> Action:
    field = f"{kind}_id"

    async def submit(request: web.Request, body: bytes) -> web.Response:
        try:
            subject = _subject(body, field)
        except ValueError as exc:
            return _bad(state, request, 400, str(exc))
        key = _idempotency_key(state, request)
        if key is not None:
            try:
                remembered = state.replay(key, kind, subject)
            except ValueError as exc:
                return _bad(state, request, 422, str(exc))
            if remembered is not None:
                return _posted(state, request, remembered.record, remembered.status, field,
                               now=state.clock())
        if _refused(subject, state.config.reject_prefix):
            return _bad(state, request, 422, f"unknown {kind}: {subject}")
        now = state.clock()
        record, status = state.apply(kind, subject, now)
        if key is not None:
            state.remember(key, kind, record, status)
        return _posted(state, request, record, status, field, now=now)

    return submit


def _idempotency_key(state: SandboxState, request: web.Request) -> str | None:
    """The request's ``Idempotency-Key`` when the sandbox honours it, else None."""
    if state.config.idempotency == "ignore":
        return None
    return request.headers.get("Idempotency-Key")


def _posted(
    state: SandboxState, request: web.Request, record: Record, status: int, field: str, *,
    now: float,
) -> web.Response:
    """The answer to an applied POST at ``now``: the record, or a 409 naming the request that
    exists."""
    config = state.config
    if status == 409:
        message = f"a deletion request already exists for {field} {record.subject}"
        return _error(state, request, 409, f"{message} (request {record.request_id})")
    return answer(config.body_style, 200, record.view(field, now, config))


def _bad(state: SandboxState, request: web.Request, status: int, message: str) -> web.Response:
    """A 400 or 422 for a request that cannot be applied, counted as a bad request."""
    state.stats.bad_requests += 1
    return _error(state, request, status, message)


def _subject(body: bytes, field: str) -> str:
    """The subject named in a POST body, or ``ValueError`` saying what is wrong."""
    subject = json_object(body).get(field)
    if not isinstance(subject, str) or not subject:
        raise ValueError(f"{field} must be a non-empty string")
    return subject


def _refused(subject: str, prefix: str | None) -> bool:
    """Whether the ``reject_prefix`` knob makes June refuse this subject."""
    return prefix is not None and subject.startswith(prefix)


def _listing(state: SandboxState, kind: Kind) -> Action:
    async def listing(request: web.Request, _body: bytes) -> web.Response:
        if state.config.listing_latency_ms:
            await asyncio.sleep(state.config.listing_latency_ms / 1000)
        config = state.config
        try:
            query = parse_query(request.query, config)
        except ValueError as exc:
            return _bad(state, request, 400, str(exc))
        ledger, now = state.ledgers[kind], state.clock()
        page, headers = listing_page(ledger, kind, query, url=request.url, now=now,
                                     config=config)
        return answer(config.listing_body_style or config.body_style, 200, page, headers)

    return listing

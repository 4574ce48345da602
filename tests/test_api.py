"""The June client: statuses to verdicts, headers read, and every network failure as an Answer."""

from __future__ import annotations

import asyncio
import base64
import inspect
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aioresponses import aioresponses

from bulk_delete.answers import Answer, Verdict, server_message, verdict
from bulk_delete.api import open_client
from bulk_delete.auth import auth_header
from bulk_delete.ratelimit import Quota
from bulk_delete.tuning import SIZING
from bulk_delete.types import Concurrency, Secret
from bulk_delete.wire import ON_THE_WIRE
from tests.fakes import Serve

POST = "/api/platform/data_management/user_deletion_request"


@pytest.mark.parametrize(("status", "expected"), [
    (200, Verdict.ACCEPTED), (201, Verdict.ACCEPTED), (202, Verdict.ACCEPTED),
    (204, Verdict.ACCEPTED), (400, Verdict.REJECTED), (404, Verdict.REJECTED),
    (409, Verdict.ALREADY_REQUESTED), (422, Verdict.REJECTED), (401, Verdict.AUTH),
    (403, Verdict.AUTH),
    (429, Verdict.THROTTLED), (408, Verdict.TRANSIENT), (500, Verdict.TRANSIENT),
    (502, Verdict.TRANSIENT), (503, Verdict.TRANSIENT), (504, Verdict.TRANSIENT),
    (301, Verdict.TRANSIENT), (None, Verdict.TRANSIENT),
])
def test_verdicts(status: int | None, expected: Verdict) -> None:
    """Each status class means what the client makes of it: final, transient, throttled, auth."""
    assert verdict(status) is expected


@pytest.mark.parametrize(("status", "message", "expected"), [
    (409, "", Verdict.ALREADY_REQUESTED),
    (409, "conflict", Verdict.ALREADY_REQUESTED),
    (422, "A deletion request already exists for this user", Verdict.ALREADY_REQUESTED),
    (400, "User ALREADY REQUESTED for deletion", Verdict.ALREADY_REQUESTED),
    (400, "this user has already been requested", Verdict.ALREADY_REQUESTED),
    (422, "Duplicate deletion request", Verdict.ALREADY_REQUESTED),
    (404, "deletion request already submitted", Verdict.ALREADY_REQUESTED),
    (422, "user_id is malformed", Verdict.REJECTED),
    (404, "unknown user", Verdict.REJECTED),
    (401, "key already revoked", Verdict.AUTH),
    (403, "duplicate key", Verdict.AUTH),
    (429, "duplicate request, slow down", Verdict.THROTTLED),
    (503, "already exists", Verdict.TRANSIENT),
    (200, "already exists", Verdict.ACCEPTED),
])
def test_repeats_are_already_requested(status: int, message: str, expected: Verdict) -> None:
    """409, and a 4xx (not 401/403/429) whose message says the request exists, are repeats."""
    assert verdict(status, message) is expected
    assert Answer(status, message).verdict is expected


@pytest.mark.parametrize(("body", "message"), [
    (b'{"error": "user_id is required"}', "user_id is required"),
    (b'{"message": "not found"}', "not found"),
    (b'{"errors": ["a", "b"]}', '["a", "b"]'),
    (b"plain\ntext  body", "plain text body"),
    (b"", ""),
    (b"\xff\xfe", "\ufffd\ufffd"),
])
def test_server_message(body: bytes, message: str) -> None:
    """Error bodies become one line: the JSON message field, or the flattened text."""
    assert server_message(body) == message


def test_auth_header_styles() -> None:
    """raw sends the key as June documents; basic sends standard base64(key:)."""
    key = Secret("sk_1")
    assert auth_header(key, "raw") == "Basic sk_1"
    assert auth_header(key, "basic") == "Basic " + base64.b64encode(b"sk_1:").decode()


async def post(url: str, subject: str = "u1", seconds: float = 5) -> Answer:
    async with open_client(base_url=url, kind="user", key=Secret("sk_1"), auth_style="raw",
                           request_timeout=seconds, concurrency=2) as client:
        return await client.request_deletion(subject)


async def test_sends_json_body_and_headers(serve: Serve) -> None:
    """One POST with the subject as JSON, the key in Authorization, JSON content type."""
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(body=await request.json(), auth=request.headers["Authorization"],
                    type=request.headers["Content-Type"])
        return web.Response(status=202)

    answer = await post(await serve(handler), subject='00123 "x"')
    assert answer.status == 202
    assert seen == {"body": {"user_id": '00123 "x"'}, "auth": "Basic sk_1",
                    "type": "application/json"}


async def test_each_post_carries_a_stable_idempotency_key(serve: Serve) -> None:
    """The Idempotency-Key is the same for the same kind and ID in every run, differs between
    IDs and kinds and keys, and holds no trace of the ID."""
    keys: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        keys.append(request.headers["Idempotency-Key"])
        return web.Response()

    url = await serve(handler)
    for key, kind, subject in [("sk_1", "user", "00123"), ("sk_1", "user", "00123"),
                               ("sk_1", "user", "00124"), ("sk_1", "group", "00123"),
                               ("sk_2", "user", "00123")]:
        async with open_client(base_url=url, kind=kind, key=Secret(key),  # type: ignore[arg-type]
                               auth_style="raw", request_timeout=5, concurrency=1) as client:
            await client.request_deletion(subject)
    assert keys[0] == keys[1]
    assert len(set(keys)) == 4
    assert all(len(k) == 32 and "00123" not in k and "sk_1" not in k for k in keys)


async def test_use_auth_switches_the_form_of_every_later_request(serve: Serve) -> None:
    """auto starts with the documented form; use_auth changes it for POSTs and GETs alike."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers["Authorization"])
        return web.Response(text="[]")

    async with open_client(base_url=await serve(handler), kind="user", key=Secret("sk_1"),
                           auth_style="auto", request_timeout=5, concurrency=1) as client:
        await client.fetch(client.listing_url)
        client.use_auth("basic")
        await client.fetch(client.listing_url)
        await client.request_deletion("u1")
    basic = "Basic " + base64.b64encode(b"sk_1:").decode()
    assert seen == ["Basic sk_1", basic, basic]


async def test_rate_limit_headers_reach_the_answer(serve: Serve) -> None:
    """A 2xx and a 429 both carry the quota their headers state."""
    async def handler(request: web.Request) -> web.Response:
        headers = {"RateLimit-Policy": '"default";q=10;w=1', "RateLimit": '"default";r=0;t=1'}
        if request.method == "GET":
            return web.Response(status=429, headers={**headers, "Retry-After": "2"})
        return web.Response(headers=headers)

    async with open_client(base_url=await serve(handler), kind="user", key=Secret("sk_1"),
                           auth_style="raw", request_timeout=5, concurrency=1) as client:
        accepted = await client.request_deletion("u1")
        throttled = await client.fetch(client.listing_url)
    quota = Quota(limit=10, window=1.0, remaining=0, reset=1.0)
    assert (accepted.verdict, accepted.quota) == (Verdict.ACCEPTED, quota)
    assert (throttled.verdict, throttled.quota, throttled.wait) == (Verdict.THROTTLED, quota, 2.0)


@pytest.mark.parametrize(("header", "expected"), [
    ('</l?cursor=2>; rel="next", </l>; rel="first"', "/l?cursor=2"),
    ('</l?cursor=9>; rel="prev", </l>; rel="first"', ""),  # the last page of a Link listing
    ('</schema>; rel="describedby"', None),  # not about paging: says nothing of the end
    (None, None),
])
async def test_the_link_header_tells_the_next_page_or_the_last(
        serve: Serve, header: str | None, expected: str | None) -> None:
    """A listing answer's next_link: the next URL resolved against the page's, "" when the
    header names other pages of the listing and no next, None when it says nothing of paging."""
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"data": []}, headers={"Link": header} if header else None)

    base = await serve(handler)
    async with open_client(base_url=base, kind="user", key=Secret("sk_1"),
                           auth_style="raw", request_timeout=5, concurrency=1) as client:
        answer = await client.fetch(client.listing_url)
    assert answer.next_link == (f"{base}{expected}" if expected else expected)


async def test_any_2xx_body_is_accepted(serve: Serve) -> None:
    """A 2xx with a non-JSON body is still accepted: the body is not June's contract."""
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text="<html>ok</html>")

    assert (await post(await serve(handler))).verdict is Verdict.ACCEPTED


async def test_hung_answer_is_a_timeout(serve: Serve) -> None:
    """An answer slower than --timeout is a transient 'timed out', not a hang."""
    release = asyncio.Event()

    async def handler(_request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    answer = await post(await serve(handler), seconds=0.2)
    release.set()
    assert (answer.status, answer.message) == (None, "timed out")


async def test_dropped_connection_is_transient(serve: Serve) -> None:
    """A connection closed without an answer is a transient connection failure."""
    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    answer = await post(await serve(handler))
    assert answer.status is None
    assert answer.message.startswith("connection failed")


async def test_refused_connection_is_transient() -> None:
    """Nobody listening is a transient failure too (the API may come back)."""
    answer = await post("http://127.0.0.1:9")
    assert answer.verdict is Verdict.TRANSIENT


async def test_redirects_are_not_followed(serve: Serve) -> None:
    """The key goes to the configured host only: a redirect is reported, never followed."""
    followed = False

    async def handler(request: web.Request) -> web.Response:
        nonlocal followed
        if request.path == "/elsewhere":
            followed = True
            return web.Response()
        raise web.HTTPFound("/elsewhere")

    answer = await post(await serve(handler))
    assert answer.status == 302
    assert "not followed" in answer.message
    assert not followed


class MockedResponse(ClientResponse):
    """A ClientResponse that aioresponses 0.7.9 can build on aiohttp 3.14 too.

    aiohttp 3.14 made ``stream_writer`` (the writer of the request, read only for its
    ``output_size`` once the request is sent) a required argument, and aioresponses 0.7.9
    does not pass it (its issue #289): this passes a writer that sent nothing. When
    aioresponses passes one itself, that one is kept.
    """

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


async def test_error_answer_keeps_message_and_retry_after() -> None:
    """A 429 keeps its Retry-After; a 422 keeps the server's message (mocked transport)."""
    url = "https://api.june.so"
    with aioresponses() as mocked:
        mocked.post(url + POST, status=429, headers={"Retry-After": "3"}, body="slow down",
                    response_class=MockedResponse)
        mocked.post(url + POST, status=422, payload={"error": "user_id malformed"},
                    response_class=MockedResponse)
        async with open_client(base_url=url, kind="user", key=Secret("sk_1"), auth_style="raw",
                               request_timeout=5, concurrency=2) as client:
            throttled = await client.request_deletion("a")
            rejected = await client.request_deletion("b")
    assert (throttled.status, throttled.retry_after, throttled.message) == (429, 3.0, "slow down")
    assert (rejected.status, rejected.message) == (422, "user_id malformed")


async def test_on_the_wire_runs_as_the_request_is_written(serve: Serve) -> None:
    """The ON_THE_WIRE hook runs before the server sees a POST or a GET, never after."""
    events: list[str] = []

    async def handler(_request: web.Request) -> web.Response:
        events.append("served")
        return web.Response(text="[]")

    url = await serve(handler)
    token = ON_THE_WIRE.set(lambda: events.append("wire"))
    try:
        async with open_client(base_url=url, kind="user", key=Secret("sk_1"), auth_style="raw",
                               request_timeout=5, concurrency=2) as client:
            await client.request_deletion("u1")
            await client.fetch(client.listing_url)
    finally:
        ON_THE_WIRE.reset(token)
    assert events[0] == "wire"
    assert events.count("served") == 2
    assert events.index("served", events.index("served") + 1) > events.index("wire", 1)



@pytest.mark.parametrize(("concurrency", "together"), [("auto", SIZING.cap), (8, 8)])
async def test_the_pool_lets_every_request_allowed_in_flight_at_once(
        serve: Serve, concurrency: Concurrency, together: int) -> None:
    """The server answers only once ``together`` requests have arrived, none of them before:
    that many were in flight at once, each on its own connection, none waiting for one."""
    arrived = 0
    everyone = asyncio.Event()

    async def handler(_request: web.Request) -> web.Response:
        nonlocal arrived
        arrived += 1
        if arrived == together:
            everyone.set()
        await everyone.wait()
        return web.Response(status=202)

    url = await serve(handler)
    async with open_client(base_url=url, kind="user", key=Secret("sk_1"), auth_style="raw",
                           request_timeout=10, concurrency=concurrency) as client:
        answers = await asyncio.wait_for(asyncio.gather(
            *(client.request_deletion(f"u{i}") for i in range(together))), timeout=10)
    assert {answer.status for answer in answers} == {202}

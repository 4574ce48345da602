"""The June client: one deletion request or one listing page in, one :class:`Answer` out.

Every aiohttp error is turned into an Answer here, so the rest of the tool
decides on verdicts, never on exception types. Redirects are not followed: the
key goes to the configured host and nowhere else.
"""

from __future__ import annotations

import base64
import email.utils
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum, auto
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import aiohttp.payload
from aiohttp.abc import AbstractStreamWriter

from bulk_delete import __version__
from bulk_delete.config import AuthStyle, Kind, Secret
from bulk_delete.errors import AuthError
from bulk_delete.logs import get_logger, redact
from bulk_delete.network import Route, route_for, ssl_context

PREFIX = "/api/platform/data_management"
#: Longest server message kept in the journal and report.
MESSAGE_CHARS = 300
#: Set by the pacer around each request: called when the request's bytes reach the socket.
#: aiohttp writes a POST body from a task of its own (on Python 3.11 a loop turn later), and
#: the event loop may stall in between (a garbage collection, a busy machine); the pacer's
#: 1-second window counts the real moment, so a stall cannot bunch requests up.
ON_THE_WIRE: ContextVar[Callable[[], None] | None] = ContextVar("bulk_delete_on_the_wire",
                                                               default=None)


class Verdict(Enum):
    """What an answer means for the ID and for the job."""

    ACCEPTED = auto()
    REJECTED = auto()
    AUTH = auto()
    THROTTLED = auto()
    TRANSIENT = auto()


def verdict(status: int | None) -> Verdict:  # noqa: PLR0911 - one return per class of status
    """Classify an HTTP status (None: no answer at all)."""
    if status is None:
        return Verdict.TRANSIENT  # timeout or dropped connection: the request may not have landed
    if 200 <= status < 300:
        return Verdict.ACCEPTED  # the only documented success signal, whatever the body
    if status in (401, 403):
        return Verdict.AUTH  # the key is wrong for every ID alike
    if status == 429:
        return Verdict.THROTTLED  # too fast: slow down, the ID itself is fine
    if status == 408 or status >= 500:
        return Verdict.TRANSIENT  # the server timed out or broke; the same request may pass later
    if 300 <= status < 400:
        return Verdict.TRANSIENT  # a redirect we refuse to follow; retries end in "unavailable"
    return Verdict.REJECTED  # 400, 404, 409, 422...: this ID will never pass as sent


@dataclass(frozen=True, slots=True)
class Answer:
    """June's answer to one request, or what went wrong instead of an answer."""

    status: int | None
    message: str = ""
    retry_after: float | None = None
    body: bytes = b""

    @property
    def verdict(self) -> Verdict:
        return verdict(self.status)


def auth_header(key: Secret, style: AuthStyle) -> str:
    """``Basic <key>`` as June documents it, or standard ``Basic base64(key:)``."""
    if style == "raw":
        return f"Basic {key.reveal()}"
    return "Basic " + base64.b64encode(f"{key.reveal()}:".encode()).decode()


def auth_error(answer: Answer, style: AuthStyle) -> AuthError:
    """The error that stops the job when June rejects the key, with the other style to try."""
    other = "basic" if style == "raw" else "raw"
    return AuthError(
        f"June rejected the API key (HTTP {answer.status}: {answer.message}); stopped, nothing "
        f"marked as failed. Check the key; if it is right, try --auth-style {other} "
        f"(JUNE_AUTH_STYLE={other})"
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def server_message(body: bytes) -> str:
    """A one-line message from an error body: its JSON ``error``/``message`` or its text.

    It goes into the journal and the report, so the key is redacted (a server may echo
    the Authorization header), before the cut, so no piece of it survives a cut.
    """
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "errors"):
            if data.get(key):
                text = data[key] if isinstance(data[key], str) else json.dumps(data[key])
                break
    flat: str = redact(" ".join(text.split()))
    return flat[:MESSAGE_CHARS]


def deletion_url(base_url: str, kind: Kind) -> str:
    """Where a deletion request for one ``kind`` is POSTed."""
    return f"{base_url}{PREFIX}/{kind}_deletion_request"


def listing_url(base_url: str, kind: Kind) -> str:
    """Where June lists the deletion requests of one ``kind``."""
    return f"{base_url}{PREFIX}/{kind}_deletion_requests"


def deletion_body(kind: Kind, subject: str) -> bytes:
    """The JSON body of a deletion request: ``{"user_id": "..."}``.

    Built from its pieces: ``json.dumps`` of the whole dict costs ten times as much,
    and every ID pays it.
    """
    return f'{{"{kind}_id": '.encode() + json.dumps(subject).encode() + b"}"


class Client(Protocol):
    """What the rest of the tool asks of June; :class:`JuneClient` is the real one."""

    #: The listing's URL, for messages.
    listing_url: str

    async def request_deletion(self, subject: str) -> Answer:
        """POST one deletion request for ``subject``."""
        ...

    async def list_page(self, page: int) -> Answer:
        """GET one page of the unfiltered listing."""
        ...

    async def fetch(self, url: str) -> Answer:
        """GET one listing page at ``url``: the listing URL with its query, or a link June
        gave (paging.py checks it is on the configured host before it gets here)."""
        ...


class JuneClient:
    """Requests to one June API with one key, over one aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, kind: Kind, *,
                 authorization: str, route: Route | None = None) -> None:
        self._session = session
        self._kind = kind
        self._headers = {"Authorization": authorization}
        #: The proxy and CAs the session uses, to explain a failed connection.
        self.route = route or Route()
        proxy = self.route.proxy
        #: The proxy's own credentials, for its CONNECT request only.
        self._proxy_headers = ({"Proxy-Authorization": proxy.authorization}
                               if proxy is not None and proxy.authorization else None)
        self._post_url = deletion_url(base_url, kind)
        self.listing_url = listing_url(base_url, kind)

    async def request_deletion(self, subject: str) -> Answer:
        """POST one deletion request for ``subject``."""
        return await self._call("POST", self._post_url,
                                data=_Body(deletion_body(self._kind, subject),
                                           content_type="application/json"))

    async def list_page(self, page: int) -> Answer:
        """GET one page of the unfiltered listing (records move between state lists)."""
        return await self.fetch(f"{self.listing_url}?page={page}")

    async def fetch(self, url: str) -> Answer:
        """GET one listing page at ``url`` (on the configured host: paging.py checks)."""
        _on_the_wire()  # no body: aiohttp writes the request before it first waits
        return await self._call("GET", url)

    async def _call(self, method: str, url: str, **kwargs: Any) -> Answer:
        try:
            async with self._session.request(method, url, allow_redirects=False,
                                             headers=self._headers,
                                             proxy_headers=self._proxy_headers,
                                             **kwargs) as response:
                body = await response.read()
                status = response.status
                if 200 <= status < 300:
                    return Answer(status, body=body)
                headers = response.headers
        except TimeoutError:
            return Answer(None, "timed out")
        except aiohttp.ClientError as exc:
            return Answer(None, self.route.failure(exc))
        message = server_message(body)
        if 300 <= status < 400:
            message = f"redirect to {headers.get('Location', '')!r} not followed"
        return Answer(status, message or f"HTTP {status}",
                      parse_retry_after(headers.get("Retry-After")))


def _on_the_wire() -> None:
    hook = ON_THE_WIRE.get()
    if hook is not None:
        hook()


class _Body(aiohttp.payload.BytesPayload):
    """A POST body that calls :data:`ON_THE_WIRE` as aiohttp writes it, headers included.

    aiohttp's request tracing would tell the same, at ~7 % more CPU per request (measured).
    """

    async def write(self, writer: AbstractStreamWriter) -> None:
        _on_the_wire()
        await super().write(writer)

    async def write_with_length(self, writer: AbstractStreamWriter,
                                content_length: int | None) -> None:
        _on_the_wire()
        await super().write_with_length(writer, content_length)


@asynccontextmanager
async def open_client(*, base_url: str, kind: Kind, key: Secret, auth_style: AuthStyle,
                      request_timeout: float, concurrency: int,
                      ca_bundle: Path | None = None) -> AsyncIterator[JuneClient]:
    """One session for the whole run, with explicit timeouts and a pool sized to concurrency.

    The proxy is the one the environment names for ``base_url``: the session speaks to that
    host alone (the key goes nowhere else), so one choice holds for every request.
    """
    route = route_for(base_url, ca_bundle)
    get_logger().info("bulk_delete.network", **route.describe())
    connector = aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=300,
                                     ssl=True if ca_bundle is None else ssl_context(ca_bundle))
    proxy = route.proxy
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=request_timeout,
                                      sock_connect=min(request_timeout, 10.0)),
        proxy=None if proxy is None else proxy.url,
        # No Authorization among the session's headers: aiohttp copies those into the CONNECT
        # request to a proxy, and would hand the key to it as Proxy-Authorization.
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"bulk-delete/{__version__}",
        },
    )
    try:
        yield JuneClient(session, base_url, kind, authorization=auth_header(key, auth_style),
                         route=route)
    finally:
        await session.close()

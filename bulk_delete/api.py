"""The June client: one deletion request or one listing page in, one :class:`Answer` out.

Every aiohttp error is turned into an Answer here, so the rest of the tool
decides on verdicts, never on exception types. Redirects are not followed: the
key goes to the configured host and nowhere else. The key is sent in the form
the client was told to use (:meth:`JuneClient.use_auth`), set on each request,
so a preflight can try both forms on one session.
"""

from __future__ import annotations

import json
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
from bulk_delete.auth import (
    AUTH_FORMS,
    auth_header,
    idempotency_key,
    idempotency_secret,
    other_form,
)
from bulk_delete.config import AuthForm, AuthStyle, Kind, Secret
from bulk_delete.errors import AuthError
from bulk_delete.logs import get_logger, redact
from bulk_delete.network import Route, route_for, ssl_context
from bulk_delete.ratelimit import Quota, parse_quota, parse_retry_after

PREFIX = "/api/platform/data_management"
#: Longest server message kept in the journal and report.
MESSAGE_CHARS = 300
#: Set by the pacer around each request: called when the request's bytes reach the socket.
#: aiohttp writes a POST body from a task of its own (on Python 3.11 a loop turn later), and
#: the event loop may stall in between (a garbage collection, a busy machine); the pacer's
#: 1-second window counts the real moment, so a stall cannot bunch requests up.
ON_THE_WIRE: ContextVar[Callable[[], None] | None] = ContextVar("bulk_delete_on_the_wire",
                                                               default=None)


#: Phrases (lower case) by which a 4xx says June already holds a request for the ID.
ALREADY_PHRASES = ("already exist", "already requested", "already been requested",
                   "already submitted", "already been submitted", "already pending",
                   "already in progress", "duplicate")


class Verdict(Enum):
    """What an answer means for the ID and for the job."""

    ACCEPTED = auto()
    #: June already holds a request for the ID (a 409, or a 4xx that says so): evidence.
    ALREADY_REQUESTED = auto()
    REJECTED = auto()
    AUTH = auto()
    THROTTLED = auto()
    TRANSIENT = auto()


def verdict(status: int | None, message: str = "") -> Verdict:  # noqa: PLR0911 - one per class
    """Classify an HTTP status (None: no answer at all) and, for a 4xx, its message."""
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
    if status == 409 or says_already(message):
        return Verdict.ALREADY_REQUESTED  # a repeat (a retry after a lost answer, a rerun)
    return Verdict.REJECTED  # 400, 404, 422...: this ID will never pass as sent


def says_already(message: str) -> bool:
    """Whether a server message says the request exists already (:data:`ALREADY_PHRASES`)."""
    lowered = message.lower()
    return any(phrase in lowered for phrase in ALREADY_PHRASES)


@dataclass(frozen=True, slots=True)
class Answer:
    """June's answer to one request, or what went wrong instead of an answer."""

    status: int | None
    message: str = ""
    retry_after: float | None = None
    body: bytes = b""
    #: The rate limit the answer's headers state, if any.
    quota: Quota | None = None

    @property
    def verdict(self) -> Verdict:
        return verdict(self.status, self.message)

    @property
    def wait(self) -> float | None:
        """Seconds June asks a throttled client to wait: Retry-After, else the quota's reset."""
        if self.retry_after is not None or self.quota is None:
            return self.retry_after
        return self.quota.reset


def auth_error(answer: Answer, style: AuthStyle) -> AuthError:
    """The error that stops the job when June rejects the key, with what to try next.

    A forced form suggests the other one. Under ``auto`` the preflight found a form June
    accepted (or could not tell), so the key itself is the first suspect.
    """
    if style == "auto":
        hint = ("Check the key; if it is right, try each form by hand: --auth-style raw, "
                "then --auth-style basic")
    else:
        other = other_form(style)
        hint = (f"Check the key; if it is right, try --auth-style {other} "
                f"(JUNE_AUTH_STYLE={other}), or auto to find the form June accepts")
    return AuthError(f"June rejected the API key (HTTP {answer.status}: {answer.message}); "
                     f"stopped, nothing marked as failed. {hint}")


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
    #: The form the key is sent in now.
    auth_form: AuthForm

    def use_auth(self, form: AuthForm) -> None:
        """Send the key in ``form`` from the next request on."""
        ...

    async def request_deletion(self, subject: str) -> Answer:
        """POST one deletion request for ``subject``, with its Idempotency-Key."""
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
                 key: Secret, auth_form: AuthForm, route: Route | None = None) -> None:
        self._session = session
        self._kind = kind
        self._key = key
        self._id_secret = idempotency_secret(key)
        #: The proxy and CAs the session uses, to explain a failed connection.
        self.route = route or Route()
        proxy = self.route.proxy
        #: The proxy's own credentials, for its CONNECT request only.
        self._proxy_headers = ({"Proxy-Authorization": proxy.authorization}
                               if proxy is not None and proxy.authorization else None)
        self._post_url = deletion_url(base_url, kind)
        self.listing_url = listing_url(base_url, kind)
        self.auth_form = auth_form
        self._headers = {"Authorization": auth_header(key, auth_form)}

    def __repr__(self) -> str:
        return f"JuneClient({self.listing_url!r}, auth_form={self.auth_form!r})"

    def use_auth(self, form: AuthForm) -> None:
        """Send the key in ``form`` from the next request on."""
        self.auth_form = form
        self._headers = {"Authorization": auth_header(self._key, form)}

    async def request_deletion(self, subject: str) -> Answer:
        """POST one deletion request for ``subject``, with its Idempotency-Key."""
        headers = {**self._headers,
                   "Idempotency-Key": idempotency_key(self._id_secret, self._kind, subject)}
        return await self._call("POST", self._post_url, headers,
                                data=_Body(deletion_body(self._kind, subject),
                                           content_type="application/json"))

    async def list_page(self, page: int) -> Answer:
        """GET one page of the unfiltered listing (records move between state lists)."""
        return await self.fetch(f"{self.listing_url}?page={page}")

    async def fetch(self, url: str) -> Answer:
        """GET one listing page at ``url`` (on the configured host: paging.py checks)."""
        _on_the_wire()  # no body: aiohttp writes the request before it first waits
        return await self._call("GET", url, self._headers)

    async def _call(self, method: str, url: str, headers: dict[str, str],
                    **kwargs: Any) -> Answer:
        try:
            async with self._session.request(method, url, allow_redirects=False,
                                             headers=headers,
                                             proxy_headers=self._proxy_headers,
                                             **kwargs) as response:
                body = await response.read()
                status = response.status
                received = response.headers
        except TimeoutError:
            return Answer(None, "timed out")
        except aiohttp.ClientError as exc:
            return Answer(None, self.route.failure(exc))
        quota = parse_quota(received)
        if 200 <= status < 300:
            return Answer(status, body=body, quota=quota)
        message = server_message(body)
        if 300 <= status < 400:
            message = f"redirect to {received.get('Location', '')!r} not followed"
        return Answer(status, message or f"HTTP {status}",
                      parse_retry_after(received.get("Retry-After")), quota=quota)


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
    host alone (the key goes nowhere else), so one choice holds for every request. Under
    ``auth_style`` auto the key goes in the documented form until the preflight
    (preflight.py) has found the one June accepts.
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
    form: AuthForm = AUTH_FORMS[0] if auth_style == "auto" else auth_style
    try:
        yield JuneClient(session, base_url, kind, key=key, auth_form=form, route=route)
    finally:
        await session.close()

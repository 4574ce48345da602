"""The June client: one deletion request or one listing page in, one Answer (answers.py) out.

Every aiohttp error is turned into an Answer here, so the rest of the tool
decides on verdicts, never on exception types. Redirects are not followed: the
key goes to the configured host and nowhere else. The key is sent in the form
the client was told to use (:meth:`JuneClient.use_auth`), set on each request,
so a preflight can try both forms on one session.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bulk_delete import __version__
from bulk_delete.answers import Answer, server_message
from bulk_delete.auth import (
    AUTH_FORMS,
    auth_header,
    idempotency_key,
    idempotency_secret,
)
from bulk_delete.logs import get_logger
from bulk_delete.network import Route, route_for, ssl_context
from bulk_delete.ratelimit import parse_quota, parse_retry_after
from bulk_delete.tuning import SIZING
from bulk_delete.types import AuthForm, AuthStyle, Concurrency, Kind, Secret
from bulk_delete.wire import Body, announce

PREFIX = "/api/platform/data_management"


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

    async def fetch(self, url: str) -> Answer:
        """GET one listing page at ``url``: the listing URL with its query, or a link June
        gave (next_page.py checks it is on the configured host before it gets here)."""
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
                                data=Body(deletion_body(self._kind, subject),
                                          content_type="application/json"))

    async def fetch(self, url: str) -> Answer:
        """GET one listing page at ``url`` (on the configured host: next_page.py checks)."""
        announce()  # no body to hook: see wire.py
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
                link = _next_link(response)
        except TimeoutError:
            return Answer(None, "timed out")
        except aiohttp.ClientError as exc:
            return Answer(None, self.route.failure(exc))
        quota = parse_quota(received)
        if 200 <= status < 300:
            return Answer(status, body=body, quota=quota, next_link=link)
        message = server_message(body)
        if 300 <= status < 400:
            message = f"redirect to {received.get('Location', '')!r} not followed"
        return Answer(status, message or f"HTTP {status}",
                      parse_retry_after(received.get("Retry-After")), quota=quota)


#: Link relations that name another page of the same listing (RFC 8288, RFC 5005).
PAGE_RELATIONS = frozenset({"first", "last", "prev", "previous"})


def _next_link(response: aiohttp.ClientResponse) -> str | None:
    """The URL of the Link header's ``rel="next"``, resolved against the response's URL.

    aiohttp parses the header (several links, quoted parameters); a ``rel`` may name several
    relation types at once (``rel="next last"``), compared without case as RFC 8288 says.
    When aiohttp cannot read a URL in it (a port out of range), the header comes back as
    June sent it: no absolute URL, so the listing says it cannot follow it. A header that
    names other pages of the listing (``first``, ``last``, ``prev``) and no next gives
    ``""``: the last page of a listing paged by the header. Other relations say nothing.
    """
    try:
        links = response.links
    except ValueError:
        return response.headers.get("Link")
    relations = {rel for key in links for rel in str(key).lower().split()}
    for rel, link in links.items():
        if "next" in str(rel).lower().split():
            return str(link["url"])
    return "" if relations & PAGE_RELATIONS else None


@asynccontextmanager
async def open_client(*, base_url: str, kind: Kind, key: Secret, auth_style: AuthStyle,
                      request_timeout: float, concurrency: Concurrency,
                      ca_bundle: Path | None = None) -> AsyncIterator[JuneClient]:
    """One session for the whole run, with explicit timeouts and a pool sized to concurrency.

    Under ``auto`` the pool allows the cap: connections open only as requests need them, so
    a pool larger than the requests in flight costs nothing (bench/latency.py measures it),
    and a request never waits for a connection after the pacer counted it as sent.

    The proxy is the one the environment names for ``base_url``: the session speaks to that
    host alone (the key goes nowhere else), so one choice holds for every request. Under
    ``auth_style`` auto the key goes in the documented form until the preflight
    (preflight.py) has found the one June accepts.
    """
    route = route_for(base_url, ca_bundle)
    get_logger().info("bulk_delete.network", **route.describe())
    connector = aiohttp.TCPConnector(limit=SIZING.most(concurrency), ttl_dns_cache=300,
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

"""Listing pages: the query a client sends, and the page that ``paging`` and ``shape`` make.

Pages are newest first. With any ``paging`` but page, the next page starts below the
last record read (a keyset cursor on ``(created_at, request id)``), so new requests
arriving at the top never shift a reader's place: nothing is lost or repeated.
``?page=`` is ignored there, as such servers do. ``next`` links are absolute URLs on
the host the client addressed; a ``Link`` header names the next page by a path
(relative, as RFC 8288 allows) and the first page by an absolute URL. Both keep the
client's ``?state=``; after the last page there is no next link at all.

    paging  shape    page
    page    flat     {"data": [record], "page": 2, "per_page": 100, "total": 250, "has_more": true}
    cursor  flat     {"data": [record], "per_page": 100, "next_cursor": "<token>" | null}
    next    flat     {"data": [record], "per_page": 100, "next": "http://host/...?cursor=<token>"}
    link    flat     {"data": [record], "per_page": 100}
                     Link: </api/...?cursor=<token>>; rel="next", <http://host/...>; rel="first"
    any     jsonapi  {"data": [{"id", "type", "attributes": {...}}], "links": {"next": URL | null},
                      "meta": {"page", "per_page", "total"} | {"per_page", "next_cursor"}
                              | {"per_page"}}   (by paging: page, cursor, next; with link
                      paging no "links", the Link header as above)

A flat record is ``{"id", "user_id", "state", "created_at", "updated_at"}``; in
JSON:API form all but ``id`` move under ``attributes``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass

from yarl import URL

from bulk_delete.sandbox.config import STATES, RequestState, SandboxConfig
from bulk_delete.sandbox.ledger import Ledger, Position, counted, position

_STATE_NAMES: dict[str, RequestState] = {name: name for name in STATES}


@dataclass(frozen=True, slots=True)
class Query:
    """What a listing request asks for."""

    #: The state asked for; None shows the config's ``unfiltered_states``.
    state: RequestState | None
    #: The page number (always 1 when paging by cursor).
    page: int
    #: Where the cursor says the last page ended; None for the first page.
    after: Position | None


def parse_query(query: Mapping[str, str], config: SandboxConfig) -> Query:
    """The listing query under ``config``'s paging, or ``ValueError`` saying what is wrong."""
    name = query.get("state")
    state = None if name is None else _STATE_NAMES.get(name)
    if name is not None and state is None:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    if config.paging != "page":
        token = query.get("cursor")
        return Query(state, 1, None if token is None else decode_cursor(token))
    page = query.get("page", "1")
    if not (page.isascii() and page.isdigit()) or int(page) < 1:
        raise ValueError("page must be a positive integer; pages start at 1")
    return Query(state, 1 if config.ignore_page else int(page), None)


def encode_cursor(place: Position) -> str:
    """An opaque token for a place in the listing."""
    created, request_id = place
    return base64.urlsafe_b64encode(f"{created!r} {request_id}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Position:
    """The place a token names, or ``ValueError``."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, request_id = text.split(" ", 1)
        place: Position | None = float(created), request_id
    except ValueError:  # also bad base64 and bad UTF-8
        place = None
    if place is None or not math.isfinite(place[0]):
        raise ValueError("cursor is not one this server gave")
    return place


def listing_page(
    ledger: Ledger, kind: str, query: Query, *, url: URL, now: float, config: SandboxConfig
) -> tuple[dict[str, object], dict[str, str]]:
    """The page ``query`` asks for, and its headers; ``url`` is the request's own absolute
    URL."""
    states = config.unfiltered_states if query.state is None else (query.state,)
    spans, size = ledger.spans(states, now, config), config.page_size
    end = len(ledger) if query.after is None else ledger.below(query.after)
    skip = (query.page - 1) * size
    records = ledger.newest(spans, end, skip, size)
    total = counted(spans, end)
    more = skip + len(records) < total
    field = f"{kind}_id"
    items = [record.view(field, now, config) for record in records]
    token = encode_cursor(position(records[-1])) if more and config.paging != "page" else None
    following = _next(query, url, token, more)
    headers = {} if config.paging != "link" else _link_header(query, url, following)
    if config.shape == "jsonapi":
        links = {} if config.paging == "link" else {"links": {"next": following}}
        return {"data": [_resource(item, kind) for item in items], **links,
                "meta": _meta(query, config, total, token)}, headers
    if config.paging == "cursor":
        return {"data": items, "per_page": size, "next_cursor": token}, headers
    if config.paging == "next":
        return {"data": items, "per_page": size, "next": following}, headers
    if config.paging == "link":
        return {"data": items, "per_page": size}, headers
    return {"data": items, "page": query.page, "per_page": size, "total": total,
            "has_more": more}, headers


def _next(query: Query, url: URL, token: str | None, more: bool) -> str | None:
    """The absolute URL of the next page, or None after the last."""
    if not more:
        return None
    params: dict[str, str] = {} if query.state is None else {"state": query.state}
    params.update({"page": str(query.page + 1)} if token is None else {"cursor": token})
    return str(url.with_query(params))


def _link_header(query: Query, url: URL, following: str | None) -> dict[str, str]:
    """The Link header: the next page by a path (none after the last), the first by URL."""
    first = url.with_query({} if query.state is None else {"state": query.state})
    links = [f'<{first}>; rel="first"']
    if following is not None:
        links.insert(0, f'<{URL(following).path_qs}>; rel="next"')
    return {"Link": ", ".join(links)}


def _meta(query: Query, config: SandboxConfig, total: int, token: str | None) -> dict[str, object]:
    """JSON:API ``meta``: what the page says besides its records and links."""
    if config.paging == "page":
        return {"page": query.page, "per_page": config.page_size, "total": total}
    if config.paging == "cursor":
        return {"per_page": config.page_size, "next_cursor": token}
    return {"per_page": config.page_size}


def _resource(item: dict[str, str], kind: str) -> dict[str, object]:
    """A flat record as a JSON:API resource object."""
    request_id = item.pop("id")
    return {"id": request_id, "type": f"{kind}_deletion_request", "attributes": item}

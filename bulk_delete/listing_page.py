"""One page of June's deletion-request listing, read whatever shape it takes.

June publishes no response format, so a page is read by these rules:

* records are a top-level JSON array, or the first list of objects inside a
  top-level object (``data``, ``results``, ``items``, ``requests``, ...)::

      [{"user_id": "u1", "state": "requested"}, ...]
      {"data": [{"id": "r9", "userId": "u1", "status": "finished"}], "has_more": false}
      {"data": [{"id": "r9", "type": "user_deletion_request",
                 "attributes": {"state": "finished"},
                 "relationships": {"user": {"data": {"type": "user", "id": "u1"}}}}],
       "links": {"next": "https://api.june.so/...?cursor=abc"}}

* a record names its subject in ``user_id``/``group_id`` (or camelCase), at its top
  level or under JSON:API ``attributes``, or as the relationship ``user``/``group``;
  its own ``id`` is the request's id, not the subject's;
* the state is in ``state`` or ``status``; values other than requested, started
  and finished are kept as they are;
* the next page is named by the HTTP ``Link`` header's ``rel="next"`` (RFC 8288: the
  paging of GitHub's and most REST APIs), which wins over the body; else by the first of
  ``next``, ``next_page``, ``next_cursor``, ``cursor`` (or camelCase) found at the top
  level or under ``links``, ``meta`` or ``pagination`` (a JSON:API link object's ``href``
  too). A JSON integer or a string of digits is a page number, except under a cursor
  key; a string starting ``http://``, ``https://``, ``/`` or ``?`` is a link; any other
  string is an opaque cursor; a link object without an ``href`` cannot be followed;
* a page is the last when it is empty, or says so: ``has_more: false``, a next
  key present with ``null`` or ``""`` (a null ``cursor`` alone says nothing: it may
  be where the page began), ``page >= total_pages``. It says more follow with
  ``has_more: true`` or ``page < total_pages``; it is short when it holds fewer
  records than the ``per_page`` it states.

Whether a page that names nothing ends the listing depends on the pages before it:
next_page.py decides.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from bulk_delete.errors import ApiUnavailable
from bulk_delete.types import Kind

#: Where a page's records are looked for first, before any other list of objects.
RECORD_KEYS = ("data", "results", "items", "requests", "records", "deletion_requests",
               "user_deletion_requests", "group_deletion_requests")
#: Objects that may hold the paging fields, besides the page itself.
PAGING_HOLDERS = ("links", "meta", "pagination")
#: Where a page says whether more follow, how many pages there are, how many records.
MORE_KEYS = ("has_more", "hasMore")
TOTAL_PAGES_KEYS = ("total_pages", "totalPages")
TOTAL_KEYS = ("total", "total_count", "totalCount")
PER_PAGE_KEYS = ("per_page", "perPage", "page_size", "pageSize")
#: Keys that name the next page, most specific first within each holder.
NEXT_KEYS = ("next", "next_page", "nextPage", "next_cursor", "nextCursor", "cursor")
#: Keys whose value is always an opaque cursor, digits or not.
CURSOR_KEYS = frozenset({"next_cursor", "nextCursor", "cursor"})
LINK_STARTS = ("http://", "https://", "/", "?")
#: Epoch timestamps above this are milliseconds, not seconds (year 5138 in seconds).
EPOCH_MS = 100_000_000_000
#: Microseconds from the epoch to the end of year 9999, the last a timestamp may name.
LATEST = 253_402_300_800_000_000


@dataclass(frozen=True, slots=True)
class Record:
    """One deletion request as June lists it."""

    subject: str
    state: str
    #: June's own id of the deletion request (the record's ``id``), when it gives one.
    request_id: str | None = None
    #: June's timestamps as June wrote them; :func:`instant` reads them.
    created_at: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True, slots=True)
class Next:
    """Where a page says the next one is: ``value`` is a link as given, a page number in
    decimal, a cursor token, or (form ``unknown``) what was found that cannot be followed."""

    form: Literal["link", "page", "cursor", "unknown"]
    value: str
    #: Named by the HTTP Link header rather than by the body.
    header: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    """The records of one page, whether it says it is the last, and what it says of the rest."""

    records: list[Record]
    last: bool
    next: Next | None = None
    #: How many pages the listing has, when the page says (``total_pages``, or ``total``
    #: records over this page's size).
    pages: int | None = None
    #: The page says more pages follow it (``has_more: true``, ``page < total_pages``).
    more: bool = False
    #: The page holds fewer records than the ``per_page`` it states.
    short: bool = False


class ListingShapeError(ValueError):
    """A page that holds no list of records at all."""


class UnreadablePage(ApiUnavailable):
    """A listing page that is not JSON, or holds no list of records: the listing read
    stops there, and what it did not find is unverified (a lone probe stops with exit 6)."""


def parse_page(payload: Any, *, kind: Kind, number: int, link: str | None = None) -> Page:
    """Read one decoded JSON page (``number`` counts pages from 1) by the module's rules;
    ``link`` is the Link header's next URL (Answer.next_link), if it named one."""
    items = _items(payload)
    if items is None:
        keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise ListingShapeError(f"listing page {number} holds no list of records ({keys})")
    records = [r for r in (_record(item, kind) for item in items) if r is not None]
    holders = paging_holders(payload)
    named, following = (True, _header_next(link)) if link is not None else _next(holders)
    last = not items or (named and following is None) or _says_last(holders, number)
    size = _count_in(holders, PER_PAGE_KEYS)
    return Page(records, last=last, next=following, pages=_pages(holders, len(items)),
                more=_says_more(holders, number), short=size is not None and len(items) < size)


def decode_page(body: bytes, what: str, *, kind: Kind, number: int,
                link: str | None = None) -> tuple[Any, Page]:
    """The JSON of one listing page and the page read from it; UnreadablePage naming
    ``what`` when it is not JSON or holds no list of records."""
    try:
        payload = json.loads(body)
    except ValueError:
        start = body[:40].decode("utf-8", "replace")
        raise UnreadablePage(f"{what} is not JSON (it starts {start!r})") from None
    try:
        return payload, parse_page(payload, kind=kind, number=number, link=link)
    except ListingShapeError as exc:
        raise UnreadablePage(f"{what} cannot be read: {exc}") from None


def instant(text: str | None) -> int | None:
    """Microseconds since the epoch (UTC) of one of June's timestamps; None if unreadable.

    ISO 8601 in any form Python reads (a time without an offset is UTC), or epoch
    seconds (milliseconds above EPOCH_MS).
    """
    if text is None:
        return None
    try:
        epoch = float(text)
    except ValueError:
        pass
    else:
        micros = epoch * (1_000 if abs(epoch) >= EPOCH_MS else 1_000_000)
        return round(micros) if abs(micros) <= LATEST else None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1_000_000)


def _items(payload: Any) -> list[Any] | None:
    found = locate_records(payload)
    return None if found is None else found[1]


def locate_records(payload: Any) -> tuple[str, list[Any]] | None:
    """Where a page keeps its records (``data``, ``[]`` for a top-level array) and the list."""
    if isinstance(payload, list):
        return "[]", payload
    if not isinstance(payload, dict):
        return None
    for key in RECORD_KEYS:
        if isinstance(payload.get(key), list):
            return key, payload[key]
    for key, value in payload.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return str(key), value
    if isinstance(payload.get("data"), dict):
        inner = locate_records(payload["data"])
        return None if inner is None else (f"data.{inner[0]}", inner[1])
    return None


def _record(item: Any, kind: Kind) -> Record | None:
    if not isinstance(item, dict):
        return None
    fields = record_fields(item)
    subject = fields.get(subject_key(fields, kind) or "")
    if subject is None:
        subject = related_subject(item, kind)
    if isinstance(subject, bool) or not isinstance(subject, str | int) or subject == "":
        return None
    state = fields.get("state", fields.get("status"))
    return Record(
        subject=str(subject),
        state=str(state).strip().lower() if state is not None else "unknown",
        request_id=_text(item.get("id")),
        created_at=_text(fields.get("created_at", fields.get("createdAt"))),
        updated_at=_text(fields.get("updated_at", fields.get("updatedAt"))),
    )


def record_fields(item: dict[str, Any]) -> dict[str, Any]:
    """A record's fields: its own, and those under JSON:API ``attributes``."""
    attributes = item.get("attributes")
    return {**attributes, **item} if isinstance(attributes, dict) else item


def subject_key(fields: dict[str, Any], kind: Kind) -> str | None:
    """The field that names the subject (``user_id`` or ``userId``), if the record has one."""
    for key in (f"{kind}_id", f"{kind}Id"):
        if fields.get(key) is not None:
            return key
    return None


def related_subject(item: dict[str, Any], kind: Kind) -> Any:
    """The id of a JSON:API relationship ``user``/``group``: ``{"data": {"id": ...}}``."""
    relationships = item.get("relationships")
    related = relationships.get(kind) if isinstance(relationships, dict) else None
    data = related.get("data") if isinstance(related, dict) else None
    return data.get("id") if isinstance(data, dict) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def paging_holders(payload: Any) -> list[dict[str, Any]]:
    """The page itself and its ``links``/``meta``/``pagination`` objects."""
    if not isinstance(payload, dict):
        return []
    return [payload, *(payload[key] for key in PAGING_HOLDERS if isinstance(payload.get(key),
                                                                              dict))]


def _next(holders: list[dict[str, Any]]) -> tuple[bool, Next | None]:
    """Whether the page names its next page at all, and where that is (None: nowhere)."""
    for holder in holders:
        for key in NEXT_KEYS:
            if key not in holder:
                continue
            value = holder[key]
            if isinstance(value, dict):  # a JSON:API link object
                if not isinstance(value.get("href", ...), str | None):  # no href at all
                    return True, Next("unknown", f"{key}: {json.dumps(value)[:80]}")
                value = value.get("href")
            if value is None and key == "cursor":
                continue  # a null cursor may be where this page began: no word on the end
            if isinstance(value, bool) or not isinstance(value, str | int | None):
                continue
            return True, _classify(value, cursor=key in CURSOR_KEYS)
    return False, None


def _classify(value: str | int | None, *, cursor: bool) -> Next | None:
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if cursor:
        return Next("cursor", text)
    if text.isascii() and text.isdigit():
        return Next("page", str(int(text)))
    if text.startswith(LINK_STARTS) or "://" in text:
        return Next("link", text)
    return Next("cursor", text)


def _header_next(link: str) -> Next:
    """The Link header's next: aiohttp resolved it to an absolute URL, so anything else is a
    header it could not read."""
    parts = urlsplit(link)
    if parts.scheme and parts.netloc:
        return Next("link", link, header=True)
    return Next("unknown", f"Link header {link[:80]!r}", header=True)


def _says_last(holders: list[dict[str, Any]], number: int) -> bool:
    for holder in holders:
        if holder.get(MORE_KEYS[0], holder.get(MORE_KEYS[1])) is False:
            return True
        total_pages = _count(holder, *TOTAL_PAGES_KEYS)
        if total_pages is not None and number >= total_pages:
            return True
    return False


def _says_more(holders: list[dict[str, Any]], number: int) -> bool:
    for holder in holders:
        if holder.get(MORE_KEYS[0], holder.get(MORE_KEYS[1])) is True:
            return True
        total_pages = _count(holder, *TOTAL_PAGES_KEYS)
        if total_pages is not None and number < total_pages:
            return True
    return False


def _count_in(holders: list[dict[str, Any]], keys: tuple[str, ...]) -> int | None:
    """The first count under ``keys`` in any holder."""
    for holder in holders:
        value = _count(holder, *keys)
        if value is not None:
            return value
    return None


def _pages(holders: list[dict[str, Any]], size: int) -> int | None:
    total_pages = _count_in(holders, TOTAL_PAGES_KEYS)
    if total_pages is not None:
        return total_pages
    total = _count_in(holders, TOTAL_KEYS)
    return math.ceil(total / size) if total is not None and size else None


def _count(holder: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = holder.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None

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
* a page is the last when it is empty, or when its paging says so; page_paging.py reads
  what a page says of the pages after it (where the next is, whether it is the last).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bulk_delete.errors import ApiUnavailable
from bulk_delete.page_paging import Next, paging_of
from bulk_delete.types import Kind

#: Where a page's records are looked for first, before any other list of objects.
RECORD_KEYS = ("data", "results", "items", "requests", "records", "deletion_requests",
               "user_deletion_requests", "group_deletion_requests")
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
    #: Items on the page that are not records (no subject of this kind): they fill it too.
    skipped: int = 0

    @property
    def size(self) -> int:
        """How full the page is: its items, records or not."""
        return len(self.records) + self.skipped


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
    paging = paging_of(payload, number=number, size=len(items), link=link)
    return Page(records, last=not items or paging.last, next=paging.next, pages=paging.pages,
                more=paging.more, short=paging.short, skipped=len(items) - len(records))


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

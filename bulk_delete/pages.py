"""One page of June's deletion-request listing, read whatever shape it takes.

June publishes no response format, so a page is read by these rules:

* records are a top-level JSON array, or the first list of objects inside a
  top-level object (``data``, ``results``, ``items``, ``requests``, ...)::

      [{"user_id": "u1", "state": "requested"}, ...]
      {"data": [{"id": "r9", "userId": "u1", "status": "finished"}], "has_more": false}

* a record names its subject in ``user_id``/``group_id`` (or camelCase); its own
  ``id`` is the request's id, not the subject's;
* the state is in ``state`` or ``status``; values other than requested, started
  and finished are kept as they are;
* a page is the last when it is empty, or says so (``has_more: false``,
  ``next: null``, ``page >= total_pages``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bulk_delete.config import Kind

#: Where a page's records are looked for first, before any other list of objects.
RECORD_KEYS = ("data", "results", "items", "requests", "records", "deletion_requests",
               "user_deletion_requests", "group_deletion_requests")


@dataclass(frozen=True, slots=True)
class Record:
    """One deletion request as June lists it."""

    subject: str
    state: str
    #: June's own id of the deletion request (the record's ``id``), when it gives one.
    request_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """The records of one page and whether it says it is the last."""

    records: list[Record]
    last: bool


class ListingShapeError(ValueError):
    """A page that holds no list of records at all."""


def parse_page(payload: Any, *, kind: Kind, number: int) -> Page:
    """Read one decoded JSON page by the rules in the module docstring."""
    items = _items(payload)
    if items is None:
        keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise ListingShapeError(f"listing page {number} holds no list of records ({keys})")
    records = [r for r in (_record(item, kind) for item in items) if r is not None]
    return Page(records, last=not items or _says_last(payload, number))


def _items(payload: Any) -> list[Any] | None:
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, dict):
        return None
    for key in RECORD_KEYS:
        if isinstance(payload.get(key), list):
            return payload[key]  # type: ignore[no-any-return]
    for value in payload.values():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return value
    if isinstance(payload.get("data"), dict):
        return _items(payload["data"])
    return None


def _record(item: Any, kind: Kind) -> Record | None:
    if not isinstance(item, dict):
        return None
    subject = item.get(f"{kind}_id", item.get(f"{kind}Id"))
    if isinstance(subject, bool) or not isinstance(subject, str | int) or subject == "":
        return None
    state = item.get("state", item.get("status"))
    return Record(
        subject=str(subject),
        state=str(state).strip().lower() if state is not None else "unknown",
        request_id=_text(item.get("id")),
        created_at=_text(item.get("created_at", item.get("createdAt"))),
        updated_at=_text(item.get("updated_at", item.get("updatedAt"))),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _says_last(payload: Any, number: int) -> bool:
    if not isinstance(payload, dict):
        return False
    meta: dict[str, Any] = payload["meta"] if isinstance(payload.get("meta"), dict) else payload
    if meta.get("has_more", meta.get("hasMore")) is False:
        return True
    if "next" in meta and meta["next"] is None:
        return True
    total_pages = meta.get("total_pages", meta.get("totalPages"))
    return isinstance(total_pages, int) and number >= total_pages

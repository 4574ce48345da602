"""What one listing page looks like, in words a person can check: for ``doctor``.

June publishes no response format; listing_page.py reads any plausible one. This module
says which one it met: where the records are, which fields name the subject, the
state and the times, how many records a page holds, how the next page is named
and how the end is signalled, and what it could not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bulk_delete.listing_page import (
    Page,
    locate_records,
    parse_page,
    record_fields,
    related_subject,
    subject_key,
)
from bulk_delete.page_paging import (
    MORE_KEYS,
    NEXT_KEYS,
    TOTAL_PAGES_KEYS,
    Next,
    paging_holders,
)
from bulk_delete.types import Kind

#: Time fields, in the order listing_page.py reads them.
TIME_KEYS = ("created_at", "createdAt", "updated_at", "updatedAt")


@dataclass(frozen=True)
class Shape:
    """One page as bulk-delete reads it; ``problems`` is empty when it reads it all."""

    #: Where the records are: ``[]`` (a top-level array), ``data``, ``data[].attributes``...
    records_at: str
    #: The field naming the subject: ``user_id``, ``attributes.userId``, ``relationships.user``.
    subject: str | None
    #: The field holding the state: ``state`` or ``status``.
    state: str | None
    #: The time fields found.
    times: tuple[str, ...]
    #: Whether records carry June's own request id (``id``).
    request_id: bool
    #: Records on the page.
    size: int
    #: How the next page is named: the Link header, a link, a cursor, a page number, or
    #: nothing (``?page=N``).
    paging: str
    #: How the page says it is the last: ``has_more``, a null next, ``total_pages``...
    end: str
    problems: tuple[str, ...] = ()


def describe(payload: Any, *, kind: Kind, page: Page | None = None) -> Shape:
    """The shape of page 1 of a listing, decoded from JSON; ``page`` is that page as read
    with its HTTP headers (the Link header), else it is read from ``payload`` alone."""
    found = locate_records(payload)
    if found is None:
        keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        return Shape("nowhere", None, None, (), False, 0, "unknown", "unknown",
                     (f"no list of records in the page ({keys})",))
    place, items = found
    page = page or parse_page(payload, kind=kind, number=1)
    dicts = [item for item in items if isinstance(item, dict)]
    jsonapi = any(isinstance(item.get("attributes"), dict) for item in dicts)
    fields = [record_fields(item) for item in dicts]
    problems = []
    subject = _subject(dicts, fields, kind)
    if items and not page.records:
        keys = sorted({key for each in fields for key in each})
        problems.append(f"no record names its {kind} ({kind}_id, {kind}Id or a {kind} "
                        f"relationship); fields seen: {', '.join(keys[:12])}")
    elif len(page.records) < len(items):
        problems.append(f"{len(items) - len(page.records)} of {len(items)} records name no "
                        f"{kind}")
    state = _first_key(fields, ("state", "status"))
    if items and state is None:
        problems.append("no record has a state or status field")
    prefix = "attributes." if jsonapi else ""
    return Shape(
        records_at=f"{place}[].attributes" if jsonapi else place,
        subject=subject,
        state=None if state is None else prefix + state,
        times=tuple(prefix + key for key in TIME_KEYS if _first_key(fields, (key,))),
        request_id=any(item.get("id") is not None for item in dicts),
        size=len(items),
        paging=_paging(page.next),
        end=_end(payload, header=page.next is not None and page.next.header),
        problems=tuple(problems),
    )


def _subject(items: list[dict[str, Any]], fields: list[dict[str, Any]], kind: Kind) -> str | None:
    for item, each in zip(items, fields, strict=True):
        key = subject_key(each, kind)
        if key is not None:
            return key if key in item else f"attributes.{key}"
        if related_subject(item, kind) is not None:
            return f"relationships.{kind}"
    return None


def _first_key(fields: list[dict[str, Any]], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if any(key in each for each in fields):
            return key
    return None


def _paging(after: Next | None) -> str:
    if after is None:
        return "no next page named: asked as ?page=N"
    if after.header:
        return 'the HTTP Link header (rel="next")'
    if after.form == "page":
        return "page numbers, named by the page"
    if after.form == "cursor":
        return "an opaque cursor, asked back as ?cursor="
    if after.form == "unknown":
        return f"named as {after.value}, which bulk-delete cannot follow"
    where = "an absolute URL" if "://" in after.value else "a path"
    return f"a next link, {where}"


def _end(payload: Any, *, header: bool) -> str:
    """How the listing says where it ends, as far as page 1 shows."""
    found = paging_holders(payload)
    for holder in found:
        if any(key in holder for key in MORE_KEYS):
            return "has_more: false"
        if any(key in holder for key in TOTAL_PAGES_KEYS):
            return "total_pages"
    if header:
        return "a page without a next link"
    for holder in found:
        if any(key in holder for key in NEXT_KEYS):
            return "a null next"
    # A total of records gives an ETA, not an end: the read goes on to an empty page.
    return "an empty page"

"""What a listing page says of the pages after it: where the next one is, and the end.

June publishes no paging convention, so a page's paging is read by these rules
(listing_page.py reads its records):

* the next page is named by the HTTP ``Link`` header's ``rel="next"`` (RFC 8288: the
  paging of GitHub's and most REST APIs), which wins over the body; else by the first of
  ``next``, ``next_page``, ``next_cursor``, ``cursor`` (or camelCase) found at the top
  level or under ``links``, ``meta`` or ``pagination`` (a JSON:API link object's ``href``
  too). A JSON integer or a string of digits is a page number, except under a cursor
  key; a string starting ``http://``, ``https://``, ``/`` or ``?`` is a link; any other
  string is an opaque cursor; a link object without an ``href`` cannot be followed;
* a page is the last when it says so: ``has_more: false``, a next key present with
  ``null`` or ``""`` (a null ``cursor`` alone says nothing: it may be where the page
  began), ``page >= total_pages``, or a Link header that names other pages of the listing
  (``first``, ``last``, ``prev``) and no next, when the body names no next either. It
  says more follow with ``has_more: true`` or ``page < total_pages``; it is short when it
  holds fewer records than the ``per_page`` it states.

Whether a page that names nothing ends the listing depends on the pages before it:
next_page.py decides.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

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


@dataclass(frozen=True, slots=True)
class Next:
    """Where a page says the next one is: ``value`` is a link as given, a page number in
    decimal, a cursor token, or (form ``unknown``) what was found that cannot be followed."""

    form: Literal["link", "page", "cursor", "unknown"]
    value: str
    #: Named by the HTTP Link header rather than by the body.
    header: bool = False


@dataclass(frozen=True, slots=True)
class Paging:
    """What one page says of the pages after it."""

    next: Next | None
    #: It says it is the last: ``has_more: false``, a null next, ``page >= total_pages``.
    last: bool
    #: It says more follow: ``has_more: true``, ``page < total_pages``.
    more: bool
    #: How many pages the listing has, when it says (``total_pages``, or ``total``
    #: records over this page's size).
    pages: int | None
    #: It holds fewer records than the ``per_page`` it states.
    short: bool


def paging_of(payload: Any, *, number: int, size: int, link: str | None = None) -> Paging:
    """The paging of page ``number``, decoded from JSON, holding ``size`` records; ``link``
    is its Link header's next URL (Answer.next_link), if it named one."""
    holders = paging_holders(payload)
    named, following = (True, _header_next(link)) if link else _next(holders)
    more = _more(holders, number)
    if link == "" and not named and more is not True:
        named = True  # the Link header pages this listing and names no next: the last page
    per_page = _count_in(holders, PER_PAGE_KEYS)
    return Paging(following, last=(named and following is None) or more is False,
                  more=more is True, pages=_pages(holders, size),
                  short=per_page is not None and size < per_page)


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


def _more(holders: list[dict[str, Any]], number: int) -> bool | None:
    """What the page says of pages after it: more follow (True), none (False), or nothing."""
    for holder in holders:
        said = holder.get(MORE_KEYS[0], holder.get(MORE_KEYS[1]))
        if isinstance(said, bool):
            return said
        total_pages = _count(holder, *TOTAL_PAGES_KEYS)
        if total_pages is not None:
            return number < total_pages
    return None


def _pages(holders: list[dict[str, Any]], size: int) -> int | None:
    total_pages = _count_in(holders, TOTAL_PAGES_KEYS)
    if total_pages is not None:
        return total_pages
    total = _count_in(holders, TOTAL_KEYS)
    return math.ceil(total / size) if total is not None and size else None


def _count_in(holders: list[dict[str, Any]], keys: tuple[str, ...]) -> int | None:
    """The first count under ``keys`` in any holder."""
    for holder in holders:
        value = _count(holder, *keys)
        if value is not None:
            return value
    return None


def _count(holder: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = holder.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None

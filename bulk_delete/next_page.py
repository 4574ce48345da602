"""Where the next listing page is asked for, and whether a read's end is proven.

A pager in the manner of dlt's: :func:`first` is the request for page 1 of one
listing (unfiltered, or ``?state=S``), :func:`following` turns the page just
read into the request for the next one:

    the page names a link    -> that URL, resolved against the page's own URL
                                (the Link header's rel="next" comes resolved already)
    the page names a cursor  -> the listing URL with ``?cursor=TOKEN`` (and ``state``)
    the page names a number  -> the listing URL with ``?page=N`` (and ``state``)
    the page names nothing   -> ``?page=`` one more than the last numbered page

A link is followed only to the configured scheme, host and port, and never one
holding credentials: the API key goes with every request, so a link anywhere else
stops the read (:class:`Unproven`) before anything is sent there. Only numbered
requests can be read ahead (a link or cursor is known only once its page has
arrived); a link that is exactly the next numbered page is taken as one, so a
server that also links its numbered pages keeps the read-ahead.

A :class:`Pager` walks one read through a listing and says where it ends. The end is
*proven* when June signalled it: a page that says it is the last (listing_page.py), no
next page named on a page where the pages before named one, or a page served again
that is shorter than a full page (a server that serves its last page for any page past
it). It stops *unproven* (:class:`Unproven`, made a :class:`Stop` by the listing) on a
page that repeats the one before where more were expected, a link to another host, a
next page it cannot follow, a page it cannot decode, or the page cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bulk_delete.listing_page import Page, Record
from bulk_delete.page_paging import Next

DEFAULT_PORTS = {"http": 80, "https": 443}
#: Why a read stopped before June said it had ended.
Cause = Literal["repeat", "page_cap", "foreign_host", "undecodable", "unfollowable"]


@dataclass(frozen=True, slots=True)
class Ask:
    """One listing request: the URL to GET, and its page number when asked as ``?page=N``."""

    url: str
    number: int | None = None


class Unproven(Exception):
    """The read cannot go on from this page, though June has not said it ended."""

    def __init__(self, cause: Cause, detail: str) -> None:
        super().__init__(detail)
        self.cause: Cause = cause


@dataclass(frozen=True, slots=True)
class Stop:
    """Where and why one listing read ended before June said it had: the IDs it did not
    find may be listed further on, so they are unverified, never missing."""

    #: The read, as ``found_in`` names it: ``listing`` or ``state=S``.
    read: str
    #: The page it stopped at.
    page: int
    cause: Cause
    #: The sentence saying what happened, for people.
    detail: str

    def __str__(self) -> str:
        return f"{self.read}: {self.detail}"

    @property
    def code(self) -> str:
        """Short, for a report row: ``listing page 2: repeat``."""
        return f"{self.read} page {self.page}: {self.cause}"


def numbered(listing_url: str, state: str | None, number: int) -> Ask:
    """``?page=N`` of the unfiltered listing, or of the one of ``state``."""
    return Ask(_with_query(listing_url, state, page=str(number)), number)


def first(listing_url: str, state: str | None) -> Ask:
    """The request for page 1."""
    return numbered(listing_url, state, 1)


def following(ask: Ask, after: Next | None, *, listing_url: str, state: str | None) -> Ask:
    """The request for the page after the one ``ask`` fetched, which named ``after``;
    Unproven when that is a link to another host or a next page it cannot follow."""
    if after is None:
        return numbered(listing_url, state, (ask.number or 0) + 1)
    if after.form == "page":
        return numbered(listing_url, state, int(after.value))
    if after.form == "cursor":
        return Ask(_with_query(listing_url, state, cursor=after.value))
    if after.form == "unknown":
        raise Unproven("unfollowable", f"the next page is named as {after.value}, which "
                                       "bulk-delete cannot follow")
    url = urlunsplit(urlsplit(urljoin(ask.url, after.value))._replace(fragment=""))
    _check_origin(url, listing_url)
    if ask.number is not None:
        expected = numbered(listing_url, state, ask.number + 1)
        if _same_request(url, expected.url):
            return expected
    return Ask(url)


class Pager:
    """One read through one listing: the request for each page, and where the read ends.

    Each page goes first to :meth:`repeats`, then, unless it says it is the last, to
    :meth:`advance`; either raises Unproven when the read must stop short.
    """

    def __init__(self, listing_url: str, state: str | None) -> None:
        self.listing_url = listing_url
        self.state = state
        #: The request for the page to read next.
        self.ask = first(listing_url, state)
        self._previous: list[Record] | None = None
        #: Most items on one page so far (Page.size).
        self._fullest = 0
        #: Whether a page read so far named its next page.
        self._named = False
        #: Links and cursors followed: one met again is a loop.
        self._followed: set[str] = set()

    def __repr__(self) -> str:
        return f"Pager({self.ask!r}, named={self._named})"

    def repeats(self, page: Page, number: int) -> bool:
        """Whether page ``number`` repeats the one before: then the end, when that page was
        short (the server serves its last page again past it); Unproven when more were
        expected."""
        records = page.records
        if not records or records != self._previous:
            self._previous, self._fullest = records, max(self._fullest, page.size)
            return False
        if page.short or page.size < self._fullest:
            return True
        raise Unproven("repeat", f"page {number} repeats page {number - 1} where more were "
                                 "expected (June ignores ?page= and names no next page), so "
                                 "the pages after it cannot be read")

    def advance(self, page: Page, number: int) -> Ask | None:
        """The request for the page after page ``number``, or None at a proven end: it names
        no next page where the pages before named theirs."""
        if page.next is None and self._named:
            if page.more:
                raise Unproven("unfollowable", f"page {number} says more pages follow but "
                                               "names no next page, as the pages before did")
            return None
        self._named = self._named or page.next is not None
        ask = following(self.ask, page.next, listing_url=self.listing_url, state=self.state)
        if ask.number is None:
            if ask.url in self._followed:
                raise Unproven("unfollowable", f"page {number} names a page already read as "
                                               "its next: the paging goes round in a loop")
            self._followed.add(ask.url)
        self.ask = ask
        return ask


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url``, the default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def _check_origin(url: str, listing_url: str) -> None:
    parts = urlsplit(url)
    allowed = origin(listing_url)
    try:
        goes_to = origin(url)
    except ValueError:  # a port out of range
        goes_to = ("", parts.netloc, None)
    if goes_to != allowed or parts.username is not None or parts.password is not None:
        where = f"{goes_to[0]}://{goes_to[1]}" + (f":{goes_to[2]}" if goes_to[2] else "")
        if parts.username is not None or parts.password is not None:
            where += " (with credentials)"
        home = f"{allowed[0]}://{allowed[1]}:{allowed[2]}"
        raise Unproven(
            "foreign_host",
            f"June's listing links its next page to {where}, not to {home}; the API key goes "
            "only to the configured host, so the listing read stopped there and nothing was "
            "sent to that address. Check --api-url (it must be the host June's links name)",
        )


def _with_query(listing_url: str, state: str | None, **params: str) -> str:
    query = ({} if state is None else {"state": state}) | params
    return f"{listing_url}?{urlencode(query)}"


def _same_request(url: str, other: str) -> bool:
    """Same path and the same query parameters, in any order."""
    a, b = urlsplit(url), urlsplit(other)
    return (a.path == b.path
            and sorted(parse_qsl(a.query, keep_blank_values=True))
            == sorted(parse_qsl(b.query, keep_blank_values=True)))

"""Reading June's deletion-request listing: the subjects wanted, in their most advanced state.

A read pages the unfiltered listing (a record never leaves it as June works),
page by page as next_page.py says: a link or cursor June gives is followed one page
at a time; ``?page=N`` pages are read ahead, up to ``window`` in flight, and never
more than twice the pages already read, so a read that stops early has asked for
at most twice what it needed. Under ``--concurrency auto`` the window is the cap: the
pacer spaces the pages asked ahead, so the pages in flight are rate x latency (Little's
law) whatever June's latency, up to the cap. Pages are taken in order, so the stop rules see them
as a page-by-page reader would: a page that says it is the last (listing_page.py), a page
that repeats the one before (a server that ignores the paging), MAX_PAGES.

Given ``wanted`` IDs, the read keeps only their records and stops as soon as every
one has been found, in whatever order June lists them. Any still unfound at the end
are looked for again before anyone calls them missing:

1. if page 1 changed during the read, the listing is read once more, page by page
   (records pushed across a page boundary can slip between pages read side by side);
2. then the listing of each state, ``?state=requested``, ``started``, ``finished``, in
   the order a request moves, so one that moves while they are read is met later on
   (a server may list only open requests unless asked for a state).

These later reads keep only IDs still unfound; a state's listing that shows other
states on page 1 (the server ignores ``?state=``) or is refused is not read on. Each
row says which read found it (``found_in``). A read that stops early cannot see an
older second request for an ID it has found (June holding two): it reports the
first record it met; ``full`` reads every page of the unfiltered listing whatever
was found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import polars as pl

from bulk_delete.answers import Verdict, auth_error
from bulk_delete.api import Client
from bulk_delete.collected import (
    LISTED_SCHEMA,
    STATES,
    Collected,
    as_frame,
    most_advanced,
    read_name,
)
from bulk_delete.errors import ApiUnavailable, UsageError
from bulk_delete.listing_page import Page, Record, decode_page
from bulk_delete.logs import get_logger
from bulk_delete.next_page import Ask, first, following, numbered
from bulk_delete.pacing import Pacer
from bulk_delete.retry import Events, Retrier, Unobserved
from bulk_delete.tuning import SIZING
from bulk_delete.types import AuthStyle, Concurrency, Kind
from bulk_delete.wanted import Wanted

__all__ = ["LISTED_SCHEMA", "MAX_PAGES", "Listing", "Reading", "Record", "as_frame",
           "most_advanced"]

#: Pages read at most in one pass, whatever the server says.
MAX_PAGES = 200_000


class Reading(Events, Protocol):
    """Who follows a listing read: the requests it makes, and each page it takes."""

    def listing(self, read: str, wanted: int | None) -> None:
        """A pass over one listing begins: ``listing``, or ``state=finished`` and so on,
        looking for ``wanted`` distinct IDs (None: keeping every subject)."""

    def page(self, records: int, found: int, pages: int | None) -> None:
        """A page of ``records`` was taken; ``found`` wanted IDs so far; ``pages`` in this
        listing when June said."""


class Unheard(Unobserved):
    """A listing read nobody follows (the preflight, tests)."""

    def listing(self, read: str, wanted: int | None) -> None:
        pass

    def page(self, records: int, found: int, pages: int | None) -> None:
        pass


class Listing:
    """June's listing of one kind, read through one client and the job's pacer.

    ``window`` is how many numbered pages may be in flight at once (``auto``: the cap).
    """

    def __init__(self, client: Client, pacer: Pacer, *, kind: Kind, auth_style: AuthStyle,
                 max_attempts: int, window: Concurrency, events: Reading | None = None) -> None:
        self._client = client
        self._events: Reading = events or Unheard()
        self._retrier = Retrier(pacer, max_attempts=max_attempts, events=self._events)
        self._kind = kind
        self._auth_style = auth_style
        self._window = SIZING.cap if window == "auto" else window

    def __repr__(self) -> str:
        return f"Listing({self._client.listing_url!r}, window={self._window})"

    async def read(self, wanted: pl.Series | None = None, *, full: bool = False,
                   spill: Callable[[pl.DataFrame], None] | None = None) -> pl.DataFrame:
        """The records of ``wanted`` subjects (every subject when None), one row per subject
        in LISTED_SCHEMA; see the module docstring for when it stops and what it reads again.

        With ``spill`` the records go there a chunk at a time as they are read (a subject
        may come twice: keep its most advanced state), and the frame returned is empty: a
        read of millions of records then never holds them all.
        """
        sought = None if wanted is None else Wanted(wanted)
        collected = Collected(sought, spill)
        if sought is not None and sought.complete and not full:
            return collected.frame()  # nothing to look for
        await self._search(None, sought, collected, full=full)
        if sought is not None and not sought.complete:
            get_logger().info("bulk_delete.listing_by_state",
                              unfound=sought.count - sought.found,
                              detail="not in the unfiltered listing: reading each state's")
            for state in STATES:
                if sought.complete:
                    break
                await self._search(state, sought, collected, full=full)
        if collected.unreadable:
            get_logger().warning("bulk_delete.listing_times_unreadable",
                                 count=collected.unreadable,
                                 example=collected.unreadable_example,
                                 detail="timestamps that are neither ISO 8601 nor epoch "
                                        "seconds are left empty")
        return collected.frame()

    async def top(self) -> list[str]:
        """The subjects on page 1, in order: what changes first when requests arrive."""
        return await self._top(None)

    async def _top(self, state: str | None) -> list[str]:
        page = await self._fetch(first(self._client.listing_url, state), 1, state)
        return [record.subject for record in page.records]

    async def _search(self, state: str | None, sought: Wanted | None, collected: Collected,
                      *, full: bool) -> None:
        """One listing, read once, and once more page by page if page 1 moved meanwhile."""
        read = read_name(state)
        self._events.listing(read, None if sought is None else sought.count)
        before = await self._pass(state, self._window, sought, collected, full=full,
                                  unfound_only=state is not None)
        if sought is None or sought.complete or before is None:
            return
        if await self._top(state) == before:
            get_logger().info("bulk_delete.listing_stable", read=read,
                              detail="page 1 did not change while the listing was read")
            return
        get_logger().info("bulk_delete.listing_reread", read=read, reason="wanted IDs not found")
        self._events.listing(read, sought.count)
        await self._pass(state, 1, sought, collected, full=full, unfound_only=True)

    async def _pass(self, state: str | None, window: int, sought: Wanted | None,
                    collected: Collected, *, full: bool, unfound_only: bool) -> list[str] | None:
        """One read from page 1 to the end, or until nothing more is wanted.

        Returns page 1's subjects, to tell later whether the listing moved, or None when
        one page was all there was to read (nothing can slip between pages). After the
        first pass over the unfiltered listing, only records of IDs still unfound are kept
        (``unfound_only``).
        """
        url = self._client.listing_url
        read = read_name(state)
        ask = first(url, state)
        flight: dict[int, asyncio.Task[Page]] = {}
        previous: list[Record] | None = None
        top: list[str] | None = None
        try:
            for index in range(1, MAX_PAGES + 1):
                task = flight.pop(index, None)
                page = await (task or self._fetch(ask, index, state))
                if index == 1 and _ignores(page, state):
                    return None
                if page.records and page.records == previous:
                    get_logger().warning("bulk_delete.listing_repeats", read=read,
                                         detail="a page repeated the one before (the server "
                                                "ignores the paging?): this read ends there")
                    break
                self._take(page, read, sought, collected, unfound_only=unfound_only)
                if page.last or (not full and sought is not None and sought.complete):
                    break
                if index == 1:
                    top = [record.subject for record in page.records]
                previous = page.records
                ask = following(ask, page.next, listing_url=url, state=state)
                if ask.number == index + 1:
                    self._read_ahead(flight, state, index, window)
                else:
                    await _cancel(flight)  # a link or cursor: pages asked by number are void
            else:
                get_logger().warning("bulk_delete.listing_capped", read=read, pages=MAX_PAGES)
        finally:
            await _cancel(flight)  # pages past the end (or after an error) are not wanted
        return top

    def _read_ahead(self, flight: dict[int, asyncio.Task[Page]], state: str | None,
                    index: int, window: int) -> None:
        """Ask for the numbered pages after ``index``: up to ``window`` in flight, and never
        beyond twice the pages read, so a read that stops early wasted at most as many."""
        url = self._client.listing_url
        for ahead in range(index + 1, min(index + window, 2 * index, MAX_PAGES) + 1):
            if ahead not in flight:
                flight[ahead] = asyncio.create_task(
                    self._fetch(numbered(url, state, ahead), ahead, state))

    def _take(self, page: Page, read: str, sought: Wanted | None, collected: Collected, *,
              unfound_only: bool) -> None:
        """Keep the page's records that are wanted, and count them."""
        records = page.records
        if sought is None:
            collected.add(records, [r.subject for r in records], read)
        else:
            places = sought.match([r.subject for r in records], unfound_only=unfound_only)
            hits = [place for place in places if place is not None]
            collected.add([r for r, place in zip(records, places, strict=True)
                           if place is not None], hits, read)
            sought.mark(hits)
        self._events.page(len(page.records), 0 if sought is None else sought.found, page.pages)

    async def _fetch(self, ask: Ask, index: int, state: str | None) -> Page:
        client = self._client
        what = f"listing page {index}" + ("" if state is None else f" (state={state})")
        answer, attempts = await self._retrier.call(lambda: client.fetch(ask.url))
        verdict = answer.verdict
        if verdict is Verdict.AUTH:
            raise auth_error(answer, self._auth_style)
        if verdict is Verdict.REJECTED and index > 1 and answer.status == 404:
            return Page([], last=True)  # some servers answer 404 past the last page
        if verdict is Verdict.REJECTED and state is not None:
            get_logger().warning("bulk_delete.listing_state_refused", state=state,
                                 http_status=answer.status, error=answer.message)
            return Page([], last=True)  # a June without ?state= still has its listing read
        if verdict is Verdict.REJECTED and answer.status == 404:
            raise UsageError(f"{client.listing_url} answered 404 Not Found: check --api-url")
        if verdict is not Verdict.ACCEPTED:
            raise ApiUnavailable(f"{what}: {answer.message or answer.status} "
                                 f"after {attempts} attempts; a rerun resumes")
        return decode_page(answer.body, what, kind=self._kind, number=index)[1]


def _ignores(page: Page, state: str | None) -> bool:
    """Whether a state's listing holds other known states: a server that ignores
    ``?state=`` lists what the unfiltered read has already seen, so it is not read again."""
    if state is None or not any(r.state in STATES and r.state != state for r in page.records):
        return False
    get_logger().info("bulk_delete.listing_state_ignored", state=state,
                      detail="its page 1 lists other states: the unfiltered listing again")
    return True


async def _cancel(flight: dict[int, asyncio.Task[Page]]) -> None:
    tasks = list(flight.values())
    flight.clear()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


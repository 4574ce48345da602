"""Reading June's deletion-request listing: the subjects wanted, in their most advanced state.

A read pages the unfiltered listing (a record never leaves it as June works),
page by page as next_page.py says: a link (in the body or the HTTP Link header) or
cursor June gives is followed one page at a time; ``?page=N`` pages are read ahead, up
to ``window`` in flight, and never more than twice the pages already read, so a read
that stops early has asked for at most twice what it needed. Under ``--concurrency auto``
the window is the cap: the pacer spaces the pages asked ahead, so the pages in flight are
rate x latency (Little's law) whatever June's latency, up to the cap. Pages are taken in
order, so the end rules see them as a page-by-page reader would (next_page.Pager). A read
ends *proven* where June says the listing ends; it stops *unproven* on a page that repeats
the one before where more were expected, a link to another host (nothing is sent
there), a next page it cannot follow, a page it cannot decode, or MAX_PAGES. Each
unproven read is a :class:`~bulk_delete.next_page.Stop` in what :meth:`Listing.read`
returns: the IDs it did not find may be listed further on, so they are unverified,
never missing.

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
row says which read found it (``found_in``). An ID is proven missing only when every
read that could have listed it ended proven, so a Stop in any of them (the last of a
listing's reads, when page 1 moved) leaves every unfound ID unverified. A read that
stops early cannot see an older second request for an ID it has found (June holding
two): it reports the first record it met; ``full`` reads every page of the unfiltered
listing whatever was found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from bulk_delete.answers import Answer, Verdict, auth_error
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
from bulk_delete.listing_page import Page, Record, UnreadablePage, decode_page
from bulk_delete.logs import get_logger
from bulk_delete.next_page import Ask, Pager, Stop, Unproven, first, numbered
from bulk_delete.pacing import Pacer
from bulk_delete.retry import Events, Retrier, Unobserved
from bulk_delete.tuning import SIZING
from bulk_delete.types import AuthStyle, Concurrency, Kind
from bulk_delete.wanted import Wanted

__all__ = ["LISTED_SCHEMA", "MAX_PAGES", "Listed", "Listing", "Reading", "Record", "Stop",
           "as_frame", "most_advanced"]

#: Pages read at most in one pass, whatever the server says.
MAX_PAGES = 200_000


@dataclass(frozen=True, eq=False)
class Listed:
    """What a read found: the records kept, and each listing read that stopped unproven."""

    #: One row per subject, in LISTED_SCHEMA (empty when the records were spilled).
    frame: pl.DataFrame
    #: The reads that ended before June said the listing had: none when every end is proven.
    stops: tuple[Stop, ...] = ()


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
        self._window = SIZING.most(window)

    def __repr__(self) -> str:
        return f"Listing({self._client.listing_url!r}, window={self._window})"

    async def read(self, wanted: pl.Series | None = None, *, full: bool = False,
                   spill: Callable[[pl.DataFrame], None] | None = None) -> Listed:
        """The records of ``wanted`` subjects (every subject when None), one row per subject
        in LISTED_SCHEMA, and the reads that stopped unproven; see the module docstring for
        when it stops and what it reads again.

        With ``spill`` the records go there a chunk at a time as they are read (a subject
        may come twice: keep its most advanced state), and the frame returned is empty: a
        read of millions of records then never holds them all.
        """
        sought = None if wanted is None else Wanted(wanted)
        collected = Collected(sought, spill)
        if sought is not None and sought.complete and not full:
            return Listed(collected.frame())  # nothing to look for
        stops = [await self._search(None, sought, collected, full=full)]
        if sought is not None and not sought.complete:
            get_logger().info("bulk_delete.listing_by_state",
                              unfound=sought.count - sought.found,
                              detail="not in the unfiltered listing: reading each state's")
            for state in STATES:
                if sought.complete:
                    break
                stops.append(await self._search(state, sought, collected, full=full))
        if collected.unreadable:
            get_logger().warning("bulk_delete.listing_times_unreadable",
                                 count=collected.unreadable,
                                 example=collected.unreadable_example,
                                 detail="timestamps that are neither ISO 8601 nor epoch "
                                        "seconds are left empty")
        return Listed(collected.frame(), tuple(stop for stop in stops if stop is not None))

    async def top(self) -> list[str]:
        """The subjects on page 1, in order: what changes first when requests arrive."""
        return await self._top(None)

    async def _top(self, state: str | None) -> list[str]:
        page = await self._fetch(first(self._client.listing_url, state), 1, state)
        return [record.subject for record in page.records]

    async def _search(self, state: str | None, sought: Wanted | None, collected: Collected,
                      *, full: bool) -> Stop | None:
        """One listing, read once, and once more page by page if page 1 moved meanwhile;
        the Stop of the last of those reads, if it ended unproven."""
        read = read_name(state)
        self._events.listing(read, None if sought is None else sought.count)
        before, stop = await self._pass(state, self._window, sought, collected, full=full,
                                        unfound_only=state is not None)
        if sought is None or sought.complete or before is None:
            return stop
        if await self._unmoved(state, before):
            get_logger().info("bulk_delete.listing_stable", read=read,
                              detail="page 1 did not change while the listing was read")
            return stop
        get_logger().info("bulk_delete.listing_reread", read=read, reason="wanted IDs not found")
        self._events.listing(read, sought.count)
        return (await self._pass(state, 1, sought, collected, full=full, unfound_only=True))[1]

    async def _unmoved(self, state: str | None, before: list[str]) -> bool:
        """Whether page 1 still lists ``before``; a page 1 that cannot be read now counts as
        moved: the read again says what it holds."""
        try:
            return await self._top(state) == before
        except UnreadablePage:
            return False

    async def _pass(self, state: str | None, window: int, sought: Wanted | None,
                    collected: Collected, *, full: bool,
                    unfound_only: bool) -> tuple[list[str] | None, Stop | None]:
        """One read from page 1 to the end, or until nothing more is wanted.

        Returns page 1's subjects, to tell later whether the listing moved (None when
        one page was all there was to read: nothing can slip between pages), and the Stop
        when the read ended unproven. After the first pass over the unfiltered listing,
        only records of IDs still unfound are kept (``unfound_only``).
        """
        read = read_name(state)
        pager = Pager(self._client.listing_url, state)
        flight: dict[int, asyncio.Task[Page]] = {}
        top: list[str] | None = None
        index = 1
        try:
            for index in range(1, MAX_PAGES + 1):
                task = flight.pop(index, None)
                page = await (task or self._fetch(pager.ask, index, state))
                if index == 1 and _ignores(page, state):
                    return None, None
                if pager.repeats(page, index):
                    break  # a short page served again: the end
                self._take(page, read, sought, collected, unfound_only=unfound_only)
                if page.last or (not full and sought is not None and sought.complete):
                    break
                if index == 1:
                    top = [record.subject for record in page.records]
                ask = pager.advance(page, index)
                if ask is None:
                    break
                if ask.number == index + 1:
                    self._read_ahead(flight, state, index, window)
                else:
                    await _cancel(flight)  # a link or cursor: pages asked by number are void
            else:
                raise Unproven("page_cap", f"stopped at {MAX_PAGES:,} pages, the most one "
                                           "read takes")
        except (Unproven, UnreadablePage) as exc:
            return top, _stopped(read, index, exc)
        finally:
            await _cancel(flight)  # pages past the end (or after an error) are not wanted
        return top, None

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
        if verdict is Verdict.REJECTED:
            return _refused(answer, what, ask, index, state=state, listing_url=client.listing_url)
        if verdict is not Verdict.ACCEPTED:
            raise ApiUnavailable(f"{what}: {answer.message or answer.status} "
                                 f"after {attempts} attempts; a rerun resumes")
        return decode_page(answer.body, what, kind=self._kind, number=index,
                           link=answer.next_link)[1]


def _refused(answer: Answer, what: str, ask: Ask, index: int, *, state: str | None,
             listing_url: str) -> Page:
    """A page June refused (a 4xx). Past page 1, a 404 to ``?page=N`` is the end (some
    servers answer so past the last page); any other refusal is a page the read cannot
    follow. Page 1 of a state's listing refused is a June without ``?state=``: its
    unfiltered listing is all there is. Page 1 of the listing 404: a wrong --api-url."""
    if index > 1 and answer.status == 404 and ask.number is not None:
        return Page([], last=True)
    if index > 1:
        raise Unproven("unfollowable", f"{what} was refused: HTTP {answer.status} "
                                       f"{answer.message}".rstrip())
    if state is not None:
        get_logger().warning("bulk_delete.listing_state_refused", state=state,
                             http_status=answer.status, error=answer.message)
        return Page([], last=True)
    if answer.status == 404:
        raise UsageError(f"{listing_url} answered 404 Not Found: check --api-url")
    raise ApiUnavailable(f"{what}: {answer.message or answer.status} (HTTP {answer.status})")


def _stopped(read: str, index: int, why: Unproven | UnreadablePage) -> Stop:
    """The Stop of a read that cannot go on from page ``index``, told as a warning."""
    stop = Stop(read, index, why.cause if isinstance(why, Unproven) else "undecodable", str(why))
    get_logger().warning("bulk_delete.listing_unproven", read=read, page=index,
                         cause=stop.cause, detail=stop.detail,
                         consequence="IDs this read did not find are unverified, not missing")
    return stop


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


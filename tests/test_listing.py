"""Reading June's listing over real sockets: every paging form and shape, incremental stops,
the reads made before an ID is called missing, and a pager that loses nothing."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web

from bulk_delete import collected, job, journal
from bulk_delete.api import open_client
from bulk_delete.checkpoint import Checkpoint
from bulk_delete.config import resolve
from bulk_delete.errors import ApiUnavailable, AuthError
from bulk_delete.journal import Outcome
from bulk_delete.listing import Listed, Listing, most_advanced
from bulk_delete.logs import configure
from bulk_delete.pacing import Pacer
from bulk_delete.present import View
from bulk_delete.progress import ListingTally
from bulk_delete.types import Secret
from tests.fakes import Serve

STATES = ("requested", "started", "finished")
#: The ways a page may name the next one: by number (?page= is read ahead, a window at a
#: time), or by a link or token (?page= is ignored; only the page just read says the next).
NUMBERED = ("page", "next_page")
LINKED = ("cursor", "next-url", "next-path", "next-query", "links.next", "meta.next",
          "link-header", "link-header-relative")


class Book:
    """A June listing served through ``serve``: records top first, in one paging form and shape.

    Forms other than ``page`` and ``next_page`` ignore ``?page=`` and hand out opaque
    tokens; the ``link-header`` forms name the next page in the HTTP Link header only,
    among other links with quoted parameters (absolute URLs, or relative ones).
    ``unfiltered`` are the states listed without ``?state=``; ``filters`` False
    makes ``?state=`` ignored. ``asked`` holds every query asked, in order.
    """

    def __init__(self, records: list[tuple[str, str]], *, size: int = 10, form: str = "page",
                 shape: str = "flat", unfiltered: tuple[str, ...] = STATES,
                 filters: bool = True) -> None:
        self.records = [{"id": f"r-{s}", "user_id": s, "state": state,
                         "created_at": "2026-06-01T00:00:00Z"} for s, state in records]
        self.size, self.form, self.shape = size, form, shape
        self.unfiltered, self.filters = unfiltered, filters
        self.asked: list[dict[str, str]] = []
        #: Called with each query before it is answered (to change the listing mid-read).
        self.before: Callable[[dict[str, str]], None] = lambda _query: None

    def pages_asked(self, state: str | None = None) -> list[int]:
        """Page numbers asked of one listing (?page=), in order."""
        return [int(q["page"]) for q in self.asked if q.get("state") == state and "page" in q]

    def listed(self, state: str | None) -> list[dict[str, str]]:
        if state is None or not self.filters:
            return [r for r in self.records if r["state"] in self.unfiltered]
        return [r for r in self.records if r["state"] == state]

    async def handle(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.asked.append(query)
        self.before(query)
        listed = self.listed(query.get("state"))
        if self.form in ("page", "next_page"):
            offset = (int(query.get("page", "1")) - 1) * self.size
        else:
            offset = int(base64.b64decode(query["cursor"])[1:]) if "cursor" in query else 0
        chunk = listed[offset:offset + self.size]
        more = offset + self.size < len(listed)
        items = [self._item(r) for r in chunk]
        if self.form.startswith("link-header"):
            headers = {"Link": self._link_header(request, query, offset, more)}
            return web.json_response({"data": items, "total": len(listed)}, headers=headers)
        key, value = self._next(request, query, offset, more)
        paging = {key: value, "total": len(listed)}
        if self.shape == "jsonapi":
            links = {key: paging.pop(key)} if self.form == "links.next" else {}
            return web.json_response({"data": items, "links": links, "meta": paging})
        if self.form in ("links.next", "meta.next"):
            return web.json_response({"data": items, self.form.split(".")[0]: paging})
        return web.json_response({"data": items, **paging})

    def _link_header(self, request: web.Request, query: dict[str, str], offset: int,
                     more: bool) -> str:
        """Several links with quoted parameters; the next one (absolute, or a path with the
        relative form) only while more follow, with several relation types at once."""
        token = base64.b64encode(f"o{offset + self.size}".encode()).decode() + "=="
        kept = {k: v for k, v in query.items() if k == "state"}
        link = request.url.with_query({**kept, "cursor": token})
        first = request.url.with_query(kept)
        links = [f'<{first}>; rel="first"; title="page 1, the newest"']
        if more and self.form == "link-header":
            links.append(f'<{link}>; rel="next"; type="application/json"')
        elif more:
            links.insert(0, f'<{link.path_qs}>; rel="next prefetch"')
        return ", ".join(links)

    def _next(self, request: web.Request, query: dict[str, str], offset: int,
              more: bool) -> tuple[str, Any]:
        """The paging field of this form, and its value (None after the last page)."""
        token = base64.b64encode(f"o{offset + self.size}".encode()).decode() + "=="
        kept = {k: v for k, v in query.items() if k == "state"}
        link = request.url.with_query({**kept, "cursor": token})
        if self.form == "page":
            return "has_more", more
        value: Any = {
            "next_page": int(query.get("page", "1")) + 1, "cursor": token, "next-url": str(link),
            "next-path": link.path_qs, "next-query": f"?{link.query_string}",
            "links.next": str(link), "meta.next": token,
        }[self.form] if more else None
        return {"next_page": "next_page", "cursor": "next_cursor"}.get(self.form, "next"), value

    def _item(self, record: dict[str, str]) -> dict[str, Any]:
        if self.shape == "flat":
            return record
        attributes = {k: v for k, v in record.items() if k not in ("id", "user_id")}
        return {"id": record["id"], "type": "user_deletion_request", "attributes": attributes,
                "relationships": {"user": {"data": {"type": "user", "id": record["user_id"]}}}}


async def read_listed(url: str, wanted: list[str] | None = None, *, window: int = 4,
                      full: bool = False, events: ListingTally | None = None,
                      spill: Callable[[pl.DataFrame], None] | None = None) -> Listed:
    """What a Listing reads from the server at ``url``, with the reads that stopped short."""
    async with open_client(base_url=url, kind="user", key=Secret("k"), auth_style="raw",
                           request_timeout=5, concurrency=8) as client:
        listing = Listing(client, Pacer(1000), kind="user", auth_style="raw", max_attempts=2,
                          window=window, events=events)
        ids = None if wanted is None else pl.Series(wanted, dtype=pl.String)
        return await listing.read(ids, full=full, spill=spill)


async def read(url: str, wanted: list[str] | None = None, *, window: int = 4,
               full: bool = False, events: ListingTally | None = None,
               spill: Callable[[pl.DataFrame], None] | None = None) -> pl.DataFrame:
    """The records a Listing reads from the server at ``url``."""
    return (await read_listed(url, wanted, window=window, full=full, events=events,
                              spill=spill)).frame


async def listing(url: str, window: int = 4) -> dict[str, str]:
    """Subject -> state, as read by the pager from the server at ``url``."""
    found = await read(url, window=window)
    return dict(found.select("subject", "state").rows())


def pages_of(subjects: list[str], size: int) -> list[list[dict[str, str]]]:
    return [[{"user_id": s, "state": "requested"} for s in subjects[i:i + size]]
            for i in range(0, len(subjects), size)]


def subjects(count: int, state: str = "finished", prefix: str = "u") -> list[tuple[str, str]]:
    return [(f"{prefix}{i:03d}", state) for i in range(count)]


async def read_every_page(serve: Serve, form: str, shape: str) -> Book:
    """A 23-record listing in 5 pages read whole, to an end June signalled: every record
    found; the Book says what was asked."""
    book = Book(subjects(23, "requested"), size=5, form=form, shape=shape)
    listed = await read_listed(await serve(book.handle))
    assert listed.stops == ()
    found = listed.frame
    assert sorted(found["subject"]) == [s for s, _ in subjects(23)]
    assert set(found["request_id"]) == {f"r-u{i:03d}" for i in range(23)}
    return book


@pytest.mark.parametrize("form", NUMBERED)
@pytest.mark.parametrize("shape", ["flat", "jsonapi"])
async def test_numbered_pages_are_read_to_the_end_and_a_window_past_it(
        serve: Serve, form: str, shape: str) -> None:
    """Page numbers (has_more, or next_page) page the whole listing, flat or JSON:API, asking
    at most a window of pages past the last."""
    book = await read_every_page(serve, form, shape)
    assert max(book.pages_asked()) <= 5 + 4


@pytest.mark.parametrize("form", LINKED)
@pytest.mark.parametrize("shape", ["flat", "jsonapi"])
async def test_linked_pages_are_followed_one_at_a_time_to_the_end(
        serve: Serve, form: str, shape: str) -> None:
    """Cursors, next links (URL, path, query; at the top, under links or meta) and the Link
    header (absolute or relative, among other links) page the whole listing, flat or JSON:API,
    one page at a time: a link is known only when it comes."""
    book = await read_every_page(serve, form, shape)
    assert len(book.asked) == 5
    assert all("cursor" in q for q in book.asked[1:])


async def test_json_api_with_cursors_under_meta_reads_what_june_says(serve: Serve) -> None:
    """JSON:API records (subject as a relationship) paged by a cursor under meta: every field."""
    book = Book([("a", "finished"), ("b", "started"), ("c", "weird")], size=2, form="cursor",
                shape="jsonapi", unfiltered=(*STATES, "weird"))
    found = await read(await serve(book.handle), ["a", "b", "c"])
    assert sorted(found.select("subject", "state", "request_id", "found_in").rows()) == [
        ("a", "finished", "r-a", "listing"), ("b", "started", "r-b", "listing"),
        ("c", "weird", "r-c", "listing")]
    assert found["created_at"].dt.to_string("%Y-%m-%dT%H:%M:%SZ").to_list() == [
        "2026-06-01T00:00:00Z"] * 3


@pytest.mark.parametrize("form", ["next-url", "link-header"])
@pytest.mark.parametrize("elsewhere", ["other port", "with credentials"])
async def test_a_link_to_another_host_is_never_followed(serve: Serve, form: str,
                                                        elsewhere: str) -> None:
    """A next link to another host:port (or carrying credentials), in the body or the Link
    header, stops the read unproven, and not one request reaches it; what the read found
    before is kept."""
    hits: list[str] = []

    async def other(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.json_response([])

    foreign = await serve(other)
    book = Book(subjects(20), size=5, form=form)

    async def handler(request: web.Request) -> web.Response:
        answer = await book.handle(request)
        origin = str(request.url.origin())
        target = foreign if elsewhere == "other port" else origin.replace("//", "//u:p@")
        text = (answer.text or "").replace(origin, target)
        link = answer.headers.get("Link", "").replace(origin, target)
        return web.Response(text=text, content_type="application/json",
                            headers={"Link": link} if link else None)

    listed = await read_listed(await serve(handler), [s for s, _ in subjects(20)])
    assert sorted(listed.frame["subject"]) == [s for s, _ in subjects(5)]
    assert [(stop.read, stop.page, stop.cause) for stop in listed.stops] == [
        ("listing", 1, "foreign_host"), ("state=finished", 1, "foreign_host")]
    assert "nothing was sent to that address" in listed.stops[0].detail
    assert hits == []
    assert {q.get("state") for q in book.asked} == {None, *STATES}
    assert all("cursor" not in q for q in book.asked)  # page 1 of each, nothing further


@pytest.mark.parametrize("form", ["page", "cursor", "links.next", "link-header"])
async def test_states_the_unfiltered_listing_hides_are_read_by_state(serve: Serve,
                                                                     form: str) -> None:
    """A listing of open requests only: finished ones are found in ?state=finished, each row
    says which read found it, and an ID in no listing stays unfound."""
    records = [*subjects(12, "requested", "q"), *subjects(7, "started", "s"),
               *subjects(25, "finished", "f")]
    book = Book(records, size=5, form=form, unfiltered=("requested", "started"))
    wanted = ["q003", "s006", "f000", "f024", "ghost"]
    found = await read(await serve(book.handle), wanted)
    assert sorted(found.select("subject", "state", "found_in").rows()) == [
        ("f000", "finished", "state=finished"), ("f024", "finished", "state=finished"),
        ("q003", "requested", "listing"), ("s006", "started", "listing")]
    assert {q.get("state") for q in book.asked} == {None, *STATES}


async def test_a_complete_listing_costs_no_state_read(serve: Serve) -> None:
    """When every wanted ID is in the unfiltered listing, no state's listing is asked for."""
    book = Book(subjects(30), size=5)
    found = await read(await serve(book.handle), ["u000", "u029"])
    assert found.height == 2
    assert all("state" not in q for q in book.asked)


async def test_a_server_that_ignores_state_is_not_read_again(serve: Serve) -> None:
    """?state= answered with every state: page 1 of each shows it, and no more is read."""
    mixed = [record for pair in zip(subjects(10, "requested", "q"), subjects(10), strict=True)
             for record in pair]
    book = Book(mixed, size=5, filters=False)
    found = await read(await serve(book.handle), ["u001", "ghost"])
    assert found["subject"].to_list() == ["u001"]
    assert [q for q in book.asked if "state" in q] == [
        {"state": state, "page": "1"} for state in STATES]


async def test_a_refused_state_filter_leaves_the_id_missing(serve: Serve) -> None:
    """A June that answers 400 to ?state= still has its unfiltered listing read."""
    book = Book(subjects(8), size=5)

    async def handler(request: web.Request) -> web.Response:
        if "state" in request.query:
            return web.json_response({"error": "unknown parameter state"}, status=400)
        return await book.handle(request)

    found = await read(await serve(handler), ["u002", "ghost"])
    assert found["subject"].to_list() == ["u002"]


OLD, NEW = subjects(370, prefix="old"), subjects(30, "requested", "new")


async def pages_read_for_new(serve: Serve, records: list[tuple[str, str]]) -> list[int]:
    """The page numbers read to find the 30 NEW among 400 records, 10 to a page: all found,
    from the unfiltered listing alone."""
    book = Book(records, size=10)
    found = await read(await serve(book.handle), [s for s, _ in NEW], window=8)
    assert sorted(found["subject"]) == [s for s, _ in NEW]
    assert all("state" not in q for q in book.asked)
    return book.pages_asked()


async def test_an_incremental_read_stops_after_the_pages_it_needs(serve: Serve) -> None:
    """Wanted IDs on the first pages (newest first): the read stops there, having asked at
    most twice the pages they fill."""
    asked = await pages_read_for_new(serve, NEW[::-1] + OLD[::-1])
    assert len(asked) <= 2 * 3  # the 30 wanted fill pages 1-3


async def test_an_incremental_read_of_wanted_ids_at_the_end_stops_there(serve: Serve) -> None:
    """Wanted IDs on the last pages (oldest first): the read reads to the end, and at most a
    window of pages past it."""
    asked = await pages_read_for_new(serve, OLD + NEW)
    assert set(range(1, 41)) <= set(asked)
    assert max(asked) <= 40 + 8


async def test_full_reads_every_page_even_when_all_is_found(serve: Serve) -> None:
    """full=True reads the whole listing although page 1 held every wanted ID."""
    book = Book(subjects(100), size=10)
    found = await read(await serve(book.handle), ["u000"], full=True)
    assert found["subject"].to_list() == ["u000"]
    assert set(range(1, 11)) <= set(book.pages_asked())


@pytest.mark.parametrize("form", ["page", "cursor"])
async def test_a_record_that_jumps_over_the_reader_is_found(serve: Serve, form: str) -> None:
    """A listing by last update: a wanted record on page 4 finishes while page 2 is asked and
    moves to the top, behind the reader. Page 1 changed, so the listing is read again."""
    records = subjects(40, "started")
    book = Book(records, size=5, form=form)

    def finish(_query: dict[str, str]) -> None:
        if len(book.asked) == 2:  # page 2 is asked, page 1 has been answered
            moved = next(r for r in book.records if r["user_id"] == "u017")
            book.records.remove(moved)
            book.records.insert(0, {**moved, "state": "finished"})

    book.before = finish
    found = await read(await serve(book.handle), ["u000", "u017"], window=4)
    assert sorted(found.select("subject", "state", "found_in").rows()) == [
        ("u000", "started", "listing"), ("u017", "finished", "listing")]
    assert all("state" not in q for q in book.asked)


async def test_progress_counts_pages_records_and_found(serve: Serve) -> None:
    """The listener hears every page: pages, records, found of wanted, pages June announced."""
    book = Book(subjects(23), size=5)
    tally = ListingTally()
    await read(await serve(book.handle), ["u001", "u021", "ghost"], window=1, events=tally)
    assert (tally.wanted, tally.found) == (3, 2)
    # the unfiltered listing, then the states' (requested and started are empty); page 1
    # of the two read to the end is asked again, to see whether they moved
    assert tally.pages == 5 + 1 + 1 + 5
    assert tally.requests == tally.pages + 2
    assert tally.records == 23 * 2
    assert (tally.read, tally.pass_total, tally.eta_seconds()) == ("state=finished", 5, 0)


async def test_reconcile_logs_what_it_read(serve: Serve, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """In JSON mode the read ends with one event saying pages, records and IDs found."""
    book = Book(subjects(12), size=5)
    url = await serve(book.handle)
    with Checkpoint.open(tmp_path / "state", kind="user", api_host=url, create=True) as cp:
        for subject in ("u001", "u011"):
            cp.journal().append(Outcome(subject, "accepted", 200, 1))
    settings = resolve({"api_url": url, "checkpoint_dir": tmp_path / "state", "rate": 1000.0,
                        "concurrency": 8}, env={"JUNE_API_KEY": "k"}, explicit=["api_url"])
    configure("json")
    assert await job.reconcile(settings, View("json", out=io.StringIO()),
                               checking=job.Checking()) == 0
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()
              if line.startswith("{")]
    done = next(e for e in events if e["event"] == "bulk_delete.listing_read")
    assert (done["pages"], done["records"], done["found"], done["wanted"]) == (3, 12, 2, 2)


async def test_skip_existing_stops_reading_once_all_are_found(serve: Serve,
                                                              tmp_path: Path) -> None:
    """--skip-existing looks for the IDs to send: held on page 1, they stop the read there."""
    book = Book(subjects(200), size=10)

    async def handler(request: web.Request) -> web.Response:
        if request.method == "POST":
            return web.json_response({})
        return await book.handle(request)

    url = await serve(handler)
    ids = tmp_path / "ids.csv"
    ids.write_text("user_id\nu000\nu003\nu009\n", encoding="utf-8")
    settings = resolve({"api_url": url, "checkpoint_dir": tmp_path / "state", "rate": 1000.0,
                        "concurrency": 8}, env={"JUNE_API_KEY": "k"})
    code = await job.submit(settings, job.Source(paths=(str(ids),)),
                            View("json", out=io.StringIO()), skip_existing=True)
    assert code == 0
    held = journal.read(tmp_path / "state" / "journal.tsv")
    assert sorted(held.select("id", "outcome").rows()) == [
        ("u000", "already_requested"), ("u003", "already_requested"),
        ("u009", "already_requested")]
    assert book.pages_asked() == [1]


async def test_pager_stops_when_the_server_ignores_page(serve: Serve,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A server that always answers page 1 is read once, not forever, and that is said: the
    read stopped unproven, as nothing says page 1 is all there is."""
    async def handler(_request: web.Request) -> web.Response:
        return web.json_response(pages_of(["a", "b"], 5)[0])

    configure("json")
    listed = await read_listed(await serve(handler))
    assert sorted(listed.frame["subject"]) == ["a", "b"]
    assert [(stop.page, stop.cause) for stop in listed.stops] == [(2, "repeat")]
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()
              if line.startswith("{")]
    assert [(e["event"], e["cause"]) for e in events if e["level"] == "warning"] == [
        ("bulk_delete.listing_unproven", "repeat")]


async def test_listing_growing_during_the_read_loses_nothing(serve: Serve) -> None:
    """New requests arriving at the top while pages are read shift pages, but lose no record."""
    subjects = [f"old{i}" for i in range(50)]
    added = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal added
        number = int(request.query["page"])
        added += 1
        current = [f"new{i}" for i in range(added * 3)][::-1] + subjects  # newest first
        chunk = current[(number - 1) * 5:number * 5]
        return web.json_response({"data": [{"user_id": s, "state": "requested"} for s in chunk]})

    found = await listing(await serve(handler), window=1)
    assert set(subjects) <= set(found)


async def test_a_record_seen_twice_keeps_its_latest_state(serve: Serve) -> None:
    """A record shifted onto the next page while June finished it counts once, as finished."""
    pages = [[{"user_id": "u1", "state": "requested"}, {"user_id": "a", "state": "started"}],
             [{"user_id": "u1", "state": "finished"}, {"user_id": "b", "state": "started"}]]

    async def handler(request: web.Request) -> web.Response:
        number = int(request.query["page"])
        return web.json_response(pages[number - 1] if number <= len(pages) else [])

    found = await listing(await serve(handler), window=1)
    assert found == {"u1": "finished", "a": "started", "b": "started"}


async def test_404_past_the_end_ends_the_listing(serve: Serve) -> None:
    """Some servers answer 404 for a page past the last one; that is the end, not an error."""
    async def handler(request: web.Request) -> web.Response:
        if request.query["page"] == "1":
            return web.json_response([{"user_id": "a", "state": "finished"}])
        raise web.HTTPNotFound

    assert list(await listing(await serve(handler))) == ["a"]


@pytest.mark.parametrize(("status", "body", "error", "message"), [
    (401, "{}", AuthError, "June rejected the API key .* try --auth-style basic"),
    (400, '{"error": "bad page"}', ApiUnavailable, "listing page 1: bad page"),
    (503, "down", ApiUnavailable, "listing page 1: down after 2 attempts"),
])
async def test_listing_failures_are_clear(serve: Serve, status: int, body: str,
                                          error: type[Exception], message: str) -> None:
    """Auth, rejection and outage each end the listing with a clear error."""
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(status=status, text=body)

    with pytest.raises(error, match=message):
        await listing(await serve(handler))


@pytest.mark.parametrize(("body", "detail"), [
    ("<html>", "listing page 2 is not JSON (it starts '<html>')"),
    ('{"error": "x"}', "listing page 2 cannot be read: listing page 2 holds no list of records"),
])
async def test_a_page_that_cannot_be_decoded_stops_the_read(serve: Serve, body: str,
                                                            detail: str) -> None:
    """A page that is not a listing ends that read unproven with what it is, keeping what
    the pages before it showed; the state listings are read after it."""
    book = Book(subjects(12), size=5)

    async def handler(request: web.Request) -> web.Response:
        if request.query.get("page") == "2":
            return web.Response(text=body, content_type="application/json")
        return await book.handle(request)

    listed = await read_listed(await serve(handler), ["u001", "u007"], window=1)
    assert listed.frame["subject"].to_list() == ["u001"]
    assert [(s.read, s.page, s.cause) for s in listed.stops] == [
        ("listing", 2, "undecodable"), ("state=finished", 2, "undecodable")]
    assert listed.stops[0].detail.startswith(detail)


class ReverseWindow:
    """Holds the pages ``first`` .. ``first + size - 1`` until all have arrived, then lets them
    through last page first, each after the one behind it has answered: pages read side by
    side, answered out of order, with no timing involved. One window per :meth:`arm`.
    """

    def __init__(self, *, first: int, size: int) -> None:
        self.pages = range(first, first + size)
        self.released = 0
        self.arm()

    def arm(self) -> None:
        self._arrived = 0
        self._go = {number: asyncio.Event() for number in self.pages}
        self._armed = True

    @contextlib.asynccontextmanager
    async def turn(self, number: int) -> AsyncIterator[None]:
        if not self._armed or number not in self.pages:
            yield
            return
        self._arrived += 1
        if self._arrived == len(self.pages):
            self._armed = False
            self.released += 1
            self._go[self.pages[-1]].set()
        await self._go[number].wait()
        yield
        if number - 1 in self._go:
            self._go[number - 1].set()


async def test_concurrent_pages_can_miss_what_a_reread_finds(serve: Serve,
                                                             tmp_path: Path) -> None:
    """Pages answered out of order while the listing grows lose records; reconcile re-reads."""
    old = [f"old{i:03d}" for i in range(200)]
    newer: list[str] = []
    # Pages 9 to 16 are in flight together once page 8 is read (the window grows with the
    # pages read: 1, 2, 4, 8).
    gate = ReverseWindow(first=9, size=8)

    async def handler(request: web.Request) -> web.Response:
        number = int(request.query["page"])
        async with gate.turn(number):
            current = newer[::-1] + old  # newest first
            chunk = current[(number - 1) * 10:number * 10]
            newer.extend(f"new{len(newer) + i}" for i in range(3))
        return web.json_response({"data": [{"user_id": s, "state": "finished"} for s in chunk]})

    url = await serve(handler)
    side_by_side = await listing(url, window=8)
    assert not set(old) <= set(side_by_side), "the race this test is about did not happen"

    with Checkpoint.open(tmp_path / "state", kind="user", api_host=url, create=True) as cp:
        for subject in old:
            cp.journal().append(Outcome(subject, "accepted", 200, 1))
    settings = resolve({"api_url": url, "checkpoint_dir": tmp_path / "state", "rate": 1000.0,
                        "concurrency": 8}, env={"JUNE_API_KEY": "k"}, explicit=["api_url"])
    gate.arm()  # the reconcile's first window answers out of order too
    code = await job.reconcile(settings, View("json", out=io.StringIO()), checking=job.Checking())
    assert gate.released == 2, "both reads met the race"
    report = pl.read_csv(tmp_path / "state" / "report.csv")
    assert report.filter(pl.col("server_state") == "missing").height == 0
    assert code == 0


async def test_a_stable_listing_is_not_read_twice(serve: Serve, tmp_path: Path) -> None:
    """An ID June does not list, while nothing new arrives: missing after one pass over the
    listing and one over each state's, never a second pass."""
    listed = subjects(95)
    book = Book(listed, size=10)
    url = await serve(book.handle)
    with Checkpoint.open(tmp_path / "state", kind="user", api_host=url, create=True) as cp:
        for subject, _ in [*listed, ("gone", "")]:
            cp.journal().append(Outcome(subject, "accepted", 200, 1))
    settings = resolve({"api_url": url, "checkpoint_dir": tmp_path / "state", "rate": 1000.0,
                        "concurrency": 8}, env={"JUNE_API_KEY": "k"}, explicit=["api_url"])
    code = await job.reconcile(settings, View("json", out=io.StringIO()), checking=job.Checking())
    report = pl.read_csv(tmp_path / "state" / "report.csv")
    assert report.filter(pl.col("server_state") == "missing")["id"].to_list() == ["gone"]
    assert code == 4
    for state in (None, "finished"):
        asked = book.pages_asked(state)
        # page 1 in the read and once after it; every other page once (and a window past it)
        assert asked.count(1) == 2
        assert all(asked.count(number) == 1 for number in range(2, 11))
    # an empty listing is one page: nothing can slip between pages, so it is not checked
    assert book.pages_asked("requested") == book.pages_asked("started") == [1]


async def test_a_spilled_read_hands_over_every_record_in_chunks(
        serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """With spill, records leave the read in chunks as they come (none is held to the end),
    and their most advanced states are those a read without spill returns."""
    monkeypatch.setattr(collected, "CONDENSE", 10)
    # u004 twice: requested on page 1, finished on page 7, so in two different chunks.
    rows = [{"user_id": f"u{i:03d}", "state": "requested"} for i in range(60)]
    rows.insert(45, {"user_id": "u004", "state": "finished"})
    pages = [rows[i:i + 7] for i in range(0, len(rows), 7)]

    async def handler(request: web.Request) -> web.Response:
        number = int(request.query["page"])
        return web.json_response(pages[number - 1] if number <= len(pages) else [])

    url = await serve(handler)
    wanted = [f"u{i:03d}" for i in range(0, 60, 2)]
    chunks: list[pl.DataFrame] = []
    kept = await read(url, wanted, spill=chunks.append)
    assert kept.is_empty()
    assert len(chunks) > 2
    whole = await read(url, wanted)
    spilled = most_advanced(pl.concat(chunks))
    assert sorted(spilled.select("subject", "state").rows()) == sorted(
        whole.select("subject", "state").rows())
    assert dict(spilled.select("subject", "state").rows())["u004"] == "finished"

"""Reading June's listing: tolerant page parsing, and a pager that loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web

from bulk_delete import job
from bulk_delete.api import open_client
from bulk_delete.checkpoint import Checkpoint
from bulk_delete.config import Secret, resolve
from bulk_delete.errors import ApiUnavailable, AuthError
from bulk_delete.journal import Outcome
from bulk_delete.listing import Listing, as_frame
from bulk_delete.logs import configure
from bulk_delete.pacing import Pacer
from bulk_delete.pages import ListingShapeError, Record, parse_page
from bulk_delete.present import View
from bulk_delete.shards import in_shard
from tests.conftest import Serve

RECORDS = [{"id": "r1", "user_id": "u1", "state": "requested"},
           {"id": "r2", "user_id": "u2", "state": "finished"}]


@pytest.mark.parametrize("payload", [
    RECORDS,
    {"data": RECORDS},
    {"results": RECORDS, "count": 2},
    {"items": RECORDS},
    {"requests": RECORDS},
    {"user_deletion_requests": RECORDS},
    {"meta": {"page": 1}, "whatever": RECORDS},
    {"data": {"requests": RECORDS}},
])
def test_records_are_found_in_any_plausible_shape(payload: Any) -> None:
    """A top-level array or the first list of objects in an object holds the records."""
    page = parse_page(payload, kind="user", number=1)
    assert [(r.subject, r.state) for r in page.records] == [("u1", "requested"), ("u2", "finished")]


def test_subject_is_never_the_request_id() -> None:
    """The record's own id is the request's; a record without a subject is skipped."""
    page = parse_page([{"id": "r1", "state": "finished"}, {"id": "r2", "userId": 42}],
                      kind="user", number=1)
    assert [r.subject for r in page.records] == ["42"]


def test_group_records_and_camel_case() -> None:
    """Groups use group_id/groupId; states may be under status; timestamps in camelCase."""
    page = parse_page({"data": [{"id": "r7", "groupId": "g1", "status": "STARTED",
                                 "createdAt": "2026-01-01", "updatedAt": "2026-01-02"}]},
                      kind="group", number=1)
    assert page.records == [Record("g1", "started", request_id="r7", created_at="2026-01-01",
                                   updated_at="2026-01-02")]


def test_unknown_states_are_kept() -> None:
    """A state June may add later is kept as June wrote it."""
    page = parse_page([{"user_id": "u1", "state": "cancelled"}, {"user_id": "u2"}],
                      kind="user", number=1)
    assert [r.state for r in page.records] == ["cancelled", "unknown"]


@pytest.mark.parametrize(("payload", "last"), [
    ({"data": RECORDS, "has_more": False}, True),
    ({"data": RECORDS, "has_more": True}, False),
    ({"data": RECORDS, "next": None}, True),
    ({"data": RECORDS, "next": "https://x/?page=2"}, False),
    ({"data": RECORDS, "page": 3, "total_pages": 3}, True),
    ({"data": RECORDS, "meta": {"totalPages": 2}}, False),
    ({"data": []}, True),
    ([], True),
    (RECORDS, False),
])
def test_pages_say_when_they_are_last(payload: Any, last: bool) -> None:
    """has_more, next, total_pages and an empty page each end the paging."""
    number = payload.get("page", 1) if isinstance(payload, dict) else 1
    assert parse_page(payload, kind="user", number=number).last is last


@pytest.mark.parametrize("payload", [{"error": "nope"}, "text", 3, {"data": "x"}])
def test_a_page_without_records_is_an_error(payload: Any) -> None:
    """A page that holds no list at all is not mistaken for an empty listing."""
    with pytest.raises(ListingShapeError, match="page 4 holds no list of records"):
        parse_page(payload, kind="user", number=4)


def test_the_most_advanced_state_wins() -> None:
    """Duplicate requests for a subject show its most advanced known state, in first-seen order."""
    frame = as_frame([Record("u1", "finished"), Record("u2", "weird"),
                      Record("u1", "requested"), Record("u2", "started"), Record("u3", "odd")])
    assert frame.select("subject", "state").rows() == [("u1", "finished"), ("u2", "started"),
                                                       ("u3", "odd")]


async def listing(url: str, window: int = 4) -> dict[str, str]:
    """Subject -> state, as read by the pager from the server at ``url``."""
    async with open_client(base_url=url, kind="user", key=Secret("k"), auth_style="raw",
                           request_timeout=5, concurrency=8) as client:
        found = await Listing(client, Pacer(1000), kind="user", auth_style="raw",
                              max_attempts=2, window=window).read()
    return dict(found.select("subject", "state").rows())


def pages_of(subjects: list[str], size: int) -> list[list[dict[str, str]]]:
    return [[{"user_id": s, "state": "requested"} for s in subjects[i:i + size]]
            for i in range(0, len(subjects), size)]


@pytest.mark.parametrize("shape", ["array", "data+has_more", "results+next", "total_pages"])
async def test_pager_reads_every_shape_to_the_end(serve: Serve, shape: str) -> None:
    """Each page shape is read to its end, and pages past it are not needed."""
    subjects = [f"u{i}" for i in range(23)]
    pages = pages_of(subjects, 5)
    asked: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        number = int(request.query["page"])
        asked.append(number)
        items = pages[number - 1] if number <= len(pages) else []
        more = number < len(pages)
        body: Any = {
            "array": items,
            "data+has_more": {"data": items, "has_more": more},
            "results+next": {"results": items, "next": f"?page={number + 1}" if more else None},
            "total_pages": {"data": items, "page": number, "total_pages": len(pages)},
        }[shape]
        return web.json_response(body)

    found = await listing(await serve(handler))
    assert sorted(found) == sorted(subjects)
    assert max(asked) <= len(pages) + 4  # at most one window of look-ahead


async def test_pager_stops_when_the_server_ignores_page(serve: Serve,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A server that always answers page 1 is read once, not forever, and that is said."""
    async def handler(_request: web.Request) -> web.Response:
        return web.json_response(pages_of(["a", "b"], 5)[0])

    configure("json")
    assert sorted(await listing(await serve(handler))) == ["a", "b"]
    assert "bulk_delete.listing_repeats" in capsys.readouterr().err


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
    (200, "<html>", ApiUnavailable, "listing page 1 is not JSON \\(it starts .<html>.\\)"),
    (200, '{"error": "x"}', ApiUnavailable, "holds no list of records"),
    (503, "down", ApiUnavailable, "listing page 1: down after 2 attempts"),
])
async def test_listing_failures_are_clear(serve: Serve, status: int, body: str,
                                          error: type[Exception], message: str) -> None:
    """Auth, rejection, junk and outage each end the listing with a clear error."""
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(status=status, text=body)

    with pytest.raises(error, match=message):
        await listing(await serve(handler))


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
    gate = ReverseWindow(first=2, size=8)

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
    """An ID June does not list, while nothing new arrives: missing, without a second pass."""
    listed = [f"u{i:03d}" for i in range(95)]
    asked: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        number = int(request.query["page"])
        asked.append(number)
        chunk = listed[(number - 1) * 10:number * 10]
        return web.json_response({"data": [{"user_id": s, "state": "finished"} for s in chunk]})

    url = await serve(handler)
    with Checkpoint.open(tmp_path / "state", kind="user", api_host=url, create=True) as cp:
        for subject in [*listed, "gone"]:
            cp.journal().append(Outcome(subject, "accepted", 200, 1))
    settings = resolve({"api_url": url, "checkpoint_dir": tmp_path / "state", "rate": 1000.0,
                        "concurrency": 8}, env={"JUNE_API_KEY": "k"}, explicit=["api_url"])
    code = await job.reconcile(settings, View("json", out=io.StringIO()), checking=job.Checking())
    report = pl.read_csv(tmp_path / "state" / "report.csv")
    assert report.filter(pl.col("server_state") == "missing")["id"].to_list() == ["gone"]
    assert code == 4
    # page 1 before, in and after the read; every other page once (a window reads past the end)
    assert asked.count(1) == 3
    assert all(asked.count(number) == 1 for number in range(2, 12))


async def test_a_shard_keeps_only_its_own_records(serve: Serve) -> None:
    """With a keep mask (a shard's), only those subjects stay, from every page."""
    subjects = [f"u{i:03d}" for i in range(120)]
    pages = pages_of(subjects, 7)

    async def handler(request: web.Request) -> web.Response:
        number = int(request.query["page"])
        return web.json_response(pages[number - 1] if number <= len(pages) else [])

    url = await serve(handler)
    found = {}
    for index in (1, 2, 3):
        async with open_client(base_url=url, kind="user", key=Secret("k"), auth_style="raw",
                               request_timeout=5, concurrency=8) as client:
            found[index] = await Listing(
                client, Pacer(1000), kind="user", auth_style="raw", max_attempts=2, window=4,
                keep=functools.partial(in_shard, index=index, count=3)).read()
    assert sorted(s for frame in found.values() for s in frame["subject"]) == subjects
    for index, frame in found.items():
        assert in_shard(frame["subject"], index, 3).all()

"""The sandbox server, driven over real loopback sockets with aiohttp.

Time is a fake clock the test moves (state machine, rate-limit window); only the
hang and latency tests wait, for fractions of a second, against a client timeout.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from bulk_delete.sandbox import SandboxConfig, SandboxServer
from bulk_delete.sandbox.cli import config_from, sandbox
from bulk_delete.sandbox.config import STATES
from bulk_delete.sandbox.ledger import isoformat
from bulk_delete.sandbox.limits import SlidingWindow

API = "/api/platform/data_management/"
RAW = {"Authorization": "Basic sandbox"}
BASIC = {"Authorization": "Basic " + base64.b64encode(b"sandbox:").decode()}
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
PROJECT = Path(__file__).resolve().parents[1]


class FakeClock:
    """POSIX seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@asynccontextmanager
async def serving(
    clock: FakeClock, headers: dict[str, str] | None = None, **knobs: Any
) -> AsyncIterator[tuple[SandboxServer, aiohttp.ClientSession]]:
    """A sandbox on a free loopback port and a session that sends the raw key by default."""
    server = SandboxServer(SandboxConfig(**knobs), clock=clock)
    headers = RAW if headers is None else headers
    async with server, aiohttp.ClientSession(server.url, headers=headers) as session:
        yield server, session


@dataclass(frozen=True)
class Reply:
    """What a client saw: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def post(
    session: aiohttp.ClientSession, subject: str, kind: str = "user", **kwargs: Any
) -> Reply:
    """POST a deletion request for ``subject``."""
    async with session.post(
        f"{API}{kind}_deletion_request", json={f"{kind}_id": subject}, **kwargs
    ) as response:
        return Reply(response.status, response.headers, await response.read())


async def listing(
    session: aiohttp.ClientSession, kind: str = "user", **params: str
) -> tuple[int, Any]:
    """GET a listing page: (status, JSON body)."""
    async with session.get(f"{API}{kind}_deletion_requests", params=params) as response:
        return response.status, await response.json(content_type=None)


async def subjects(session: aiohttp.ClientSession, **params: str) -> list[str]:
    """The subjects on one user listing page, in the order served."""
    status, body = await listing(session, **params)
    assert status == 200, body
    return [record["user_id"] for record in body["data"]]


def keyed(key: str) -> dict[str, str]:
    """Headers for a POST carrying ``Idempotency-Key: key``."""
    return {**RAW, "Idempotency-Key": key}


async def fetch(session: aiohttp.ClientSession, url: str) -> Any:
    """GET an absolute URL a page linked to; its JSON body."""
    async with session.get(url) as response:
        assert response.status == 200
        return await response.json()


# --- auth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "headers", "status"),
    [
        ("raw", RAW, 200),
        ("raw", BASIC, 401),
        ("basic", BASIC, 200),
        ("basic", RAW, 401),
        ("any", RAW, 200),
        ("any", BASIC, 200),
        ("any", {"Authorization": "Basic wrong"}, 401),
        ("any", {}, 401),
    ],
)
async def test_auth_styles(
    clock: FakeClock, style: str, headers: dict[str, str], status: int
) -> None:
    """Each auth_style accepts exactly its header forms and answers others 401 with JSON."""
    async with serving(clock, headers=headers, auth_style=style) as (server, session):
        response = await post(session, "u1")
        assert response.status == status
        if status == 401:
            assert "error" in response.json()
            assert server.state.stats.unauthorized == 1
            assert len(server.state.ledgers["user"]) == 0


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"u1"',
        b"{}",
        b'{"user_id": ""}',
        b'{"user_id": 5}',
        b'{"user_id": null}',
        b'{"group_id": "g1"}',
    ],
)
async def test_invalid_post_body_is_400(clock: FakeClock, body: bytes) -> None:
    """A body that is not a JSON object with a non-empty string user_id is a 400 with a message."""
    async with serving(clock) as (server, session):
        async with session.post(f"{API}user_deletion_request", data=body) as response:
            assert response.status == 400
            assert (await response.json())["error"]
        assert server.state.stats.bad_requests == 1
        assert len(server.state.ledgers["user"]) == 0


@pytest.mark.parametrize(
    "query",
    [
        {"state": "done"},
        {"state": ""},
        {"page": "0"},
        {"page": "-1"},
        {"page": "abc"},
        {"page": "1.5"},
        {"page": "²"},
    ],
)
async def test_bad_listing_query_is_400(clock: FakeClock, query: dict[str, str]) -> None:
    """An unknown state or a page that is not a positive integer is a 400 with a message."""
    async with serving(clock) as (server, session):
        status, body = await listing(session, **query)
        assert status == 400
        assert body["error"]
        assert server.state.stats.bad_requests == 1


# --- records, duplicates, paging ----------------------------------------------------------


async def test_accepted_post_returns_the_record(clock: FakeClock) -> None:
    """An accepted POST answers 200 with the record: id, subject, state and UTC timestamps."""
    async with serving(clock) as (_, session):
        response = await post(session, "g1", kind="group")
        assert response.status == 200
        record = response.json()
        assert record == {
            "id": record["id"],
            "group_id": "g1",
            "state": "requested",
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
        }
        _, page = await listing(session, kind="group")
        assert page["data"] == [record]


async def test_duplicate_post_keeps_first_record(clock: FakeClock) -> None:
    """A repeated POST is accepted, keeps the first record, and counts one duplicate."""
    async with serving(clock) as (server, session):
        first = (await post(session, "u1")).json()
        clock.advance(3)
        again = await post(session, "u1")
        assert again.status == 200
        assert again.json() == first
        stats = server.state.snapshot()
        assert stats["accepted"] == {"user": 2, "group": 0}
        assert stats["unique"] == {"user": 1, "group": 0}
        assert stats["duplicates"] == {"user": 1, "group": 0}


async def test_paging_is_one_based_newest_first(clock: FakeClock) -> None:
    """Pages start at 1, hold page_size records newest first, and run out into an empty page."""
    async with serving(clock, page_size=2) as (_, session):
        for n in range(1, 6):
            await post(session, f"u{n}")
            clock.advance(0.001)
        assert await subjects(session) == ["u5", "u4"]
        assert await subjects(session, page="2") == ["u3", "u2"]
        _, last = await listing(session, page="3")
        assert [r["user_id"] for r in last["data"]] == ["u1"]
        assert (last["page"], last["per_page"], last["total"], last["has_more"]) == (3, 2, 5, False)
        _, beyond = await listing(session, page="4")
        assert beyond["data"] == []
        assert beyond["has_more"] is False


async def test_ignore_page_serves_page_one(clock: FakeClock) -> None:
    """With ignore_page the server answers page 1 whatever page is asked for."""
    async with serving(clock, page_size=2, ignore_page=True) as (_, session):
        for n in range(1, 4):
            await post(session, f"u{n}")
            clock.advance(0.001)
        _, body = await listing(session, page="2")
        assert [r["user_id"] for r in body["data"]] == ["u3", "u2"]
        assert (body["page"], body["has_more"]) == (1, True)


# --- repeats: 409 and Idempotency-Key ----------------------------------------------------


async def test_duplicate_status_409_refuses_a_repeat(clock: FakeClock) -> None:
    """With duplicate_status 409 a repeat is answered 409 saying the request exists, makes no
    second record, and counts as a duplicate answered 409 (a conflict), not as accepted."""
    async with serving(clock, duplicate_status=409) as (server, session):
        first = await post(session, "g1", kind="group")
        clock.advance(3)
        again = await post(session, "g1", kind="group")
        assert (first.status, again.status) == (200, 409)
        request_id = first.json()["id"]
        assert again.json() == {
            "error": f"a deletion request already exists for group_id g1 (request {request_id})"
        }
        stats = server.state.snapshot()
        assert stats["accepted"] == stats["unique"] == {"user": 0, "group": 1}
        assert stats["duplicates"] == stats["conflicts"] == {"user": 0, "group": 1}
        _, page = await listing(session, kind="group")
        assert page["data"] == [first.json()]


async def test_idempotency_key_replays_the_first_answer(clock: FakeClock) -> None:
    """When idempotency is honoured, a POST under a key already seen gets that key's first
    answer again (status and record), counted as a replay; a new key is a plain repeat."""
    async with serving(clock, idempotency="honour", duplicate_status=409) as (server, session):
        first = await post(session, "u1", headers=keyed("k1"))
        clock.advance(6)
        replay = await post(session, "u1", headers=keyed("k1"))
        assert (replay.status, replay.json()["id"]) == (200, first.json()["id"])
        assert replay.json()["state"] == "started"  # the same record, as it is now
        assert (await post(session, "u1", headers=keyed("k2"))).status == 409
        assert (await post(session, "u1", headers=keyed("k2"))).status == 409  # k2's first answer
        assert (await post(session, "u1")).status == 409  # no key: a plain repeat
        stats = server.state.snapshot()
        assert stats["replays"] == {"user": 2, "group": 0}
        assert (stats["accepted"]["user"], stats["duplicates"]["user"]) == (1, 2)


async def test_idempotency_key_reused_for_another_subject_is_422(clock: FakeClock) -> None:
    """A key already used for one subject, sent with another, is refused 422 and applies nothing."""
    async with serving(clock, idempotency="honour") as (server, session):
        await post(session, "u1", headers=keyed("k1"))
        misused = await post(session, "u2", headers=keyed("k1"))
        assert misused.status == 422
        assert misused.json()["error"] == "Idempotency-Key 'k1' was used for a different request"
        assert server.state.ledgers["user"].get("u2") is None
        assert server.state.stats.bad_requests == 1


async def test_idempotency_key_is_ignored_by_default(clock: FakeClock) -> None:
    """By default the Idempotency-Key header changes nothing: a repeat under it is a duplicate."""
    async with serving(clock) as (server, session):
        for _ in range(2):
            assert (await post(session, "u1", headers=keyed("k1"))).status == 200
        stats = server.state.snapshot()
        assert (stats["duplicates"]["user"], stats["replays"]["user"]) == (1, 0)
        assert server.state.keys == {}


async def test_lost_answer_retried_under_its_key_is_a_replay(clock: FakeClock) -> None:
    """A POST dropped after it was applied, retried under the same Idempotency-Key, gets 200
    and the same record: one record and no duplicate, even where repeats are answered 409."""
    knobs = {"reset_rate": 1.0, "reset_after_share": 1.0, "duplicate_status": 409}
    async with serving(clock, idempotency="honour", **knobs) as (server, session):
        with pytest.raises(aiohttp.ClientConnectionError):
            await post(session, "u1", headers=keyed("k1"))
        server.state.configure({"reset_rate": 0})
        retry = await post(session, "u1", headers=keyed("k1"))
        record = server.state.ledgers["user"].get("u1")
        assert record is not None
        assert (retry.status, retry.json()["id"]) == (200, record.request_id)
        stats = server.state.snapshot()
        assert stats["faults"]["reset_after"] == 1
        assert (stats["accepted"]["user"], stats["replays"]["user"]) == (1, 1)
        assert stats["duplicates"]["user"] == 0


# --- listings: hidden states, cursors, links, JSON:API ------------------------------------


async def test_unfiltered_states_hide_the_others(clock: FakeClock) -> None:
    """unfiltered_states limits what a listing without ?state= shows, paged across the gap of
    a hidden state; ?state= still shows any state."""
    knobs = {"page_size": 3, "unfiltered_states": ("requested", "finished")}
    async with serving(clock, **knobs) as (server, session):
        for subject, age in [("f1", 50), ("f2", 40), ("s1", 20), ("s2", 10), ("r1", 2), ("r2", 1)]:
            server.state.submit("user", subject, START - age)
        assert await subjects(session) == ["r2", "r1", "f2"]
        _, second = await listing(session, page="2")
        assert [r["user_id"] for r in second["data"]] == ["f1"]
        assert (second["total"], second["has_more"]) == (4, False)
        assert await subjects(session, state="started") == ["s2", "s1"]
        server.state.configure({"unfiltered_states": ["started"]})
        assert await subjects(session) == ["s2", "s1"]


def next_of(body: Any, paging: str) -> str | None:
    """Where a flat page says the next one is: a cursor token or an absolute URL."""
    return body["next_cursor"] if paging == "cursor" else body["next"]


Follow = Callable[[aiohttp.ClientSession, SandboxServer, str], Awaitable[Any]]


async def page_while_requests_arrive(clock: FakeClock, paging: str, follow: Follow) -> Any:
    """Seven requests read two to a page, ``follow`` taking the reader to each next page
    while three new ones arrive at the top: every one of the seven is seen once, newest
    first, and ?page= is ignored. Returns the last page."""
    async with serving(clock, page_size=2, paging=paging) as (server, session):
        for n in range(7):
            await post(session, f"old{n}")
            clock.advance(0.001)
        assert await subjects(session, page="3") == ["old6", "old5"]
        _, body = await listing(session)
        seen = [r["user_id"] for r in body["data"]]
        while (where := next_of(body, paging)) is not None:
            for _ in range(3):  # arrivals that would shift numbered pages by more than a page
                await post(session, f"new{server.state.stats.requests}")
                clock.advance(0.001)
            body = await follow(session, server, where)
            seen += [r["user_id"] for r in body["data"]]
        assert seen == [f"old{n}" for n in reversed(range(7))]
        return body


async def test_cursor_paging_is_complete_while_requests_arrive(clock: FakeClock) -> None:
    """Following next_cursor, a reader sees every request once, newest first, while new ones
    arrive at the top between its pages; the last page's next_cursor is null."""

    async def by_cursor(session: aiohttp.ClientSession, _server: SandboxServer,
                        cursor: str) -> Any:
        return (await listing(session, cursor=cursor))[1]

    last = await page_while_requests_arrive(clock, "cursor", by_cursor)
    assert last["next_cursor"] is None
    assert set(last) == {"data", "per_page", "next_cursor"}


async def test_next_paging_is_complete_while_requests_arrive(clock: FakeClock) -> None:
    """paging next: following next, an absolute URL of the listing with a cursor, a reader
    sees every request once, newest first, while new ones arrive at the top; the last page's
    next is null."""

    async def by_link(session: aiohttp.ClientSession, server: SandboxServer, link: str) -> Any:
        assert link.startswith(f"{server.url}{API}user_deletion_requests?cursor=")
        return await fetch(session, link)

    last = await page_while_requests_arrive(clock, "next", by_link)
    assert last["next"] is None
    assert set(last) == {"data", "per_page", "next"}


async def linked(session: aiohttp.ClientSession, url: str) -> tuple[Any, dict[str, str]]:
    """GET ``url``: the JSON body, and the Link header's URLs by rel (aiohttp parses it)."""
    async with session.get(url) as response:
        assert response.status == 200
        links = {str(rel): str(link["url"]) for rel, link in response.links.items()}
        return await response.json(), links


@pytest.mark.parametrize("shape", ["flat", "jsonapi"])
async def test_link_paging_names_the_next_page_in_the_link_header(clock: FakeClock,
                                                                  shape: str) -> None:
    """paging link: the body names no next page; the Link header names the next by a path
    (with the cursor and ?state=) and the first by URL; the last page has no rel="next";
    ?page= is ignored, so page 2 asked by number is page 1 again."""
    async with serving(clock, page_size=2, paging="link", shape=shape) as (server, session):
        for n in range(5):
            server.state.submit("user", f"f{n}", START - 100 + n)
        server.state.submit("user", "r0", START - 1)
        url = f"{API}user_deletion_requests?state=finished"
        body, links = await linked(session, url)
        assert set(body) == ({"data", "per_page"} if shape == "flat" else {"data", "meta"})
        assert await linked(session, f"{url}&page=2") == (body, links)
        async with session.get(url) as response:
            header = response.headers["Link"]
        assert header.startswith(f'<{API}user_deletion_requests?state=finished&cursor=')
        assert header.endswith(f'>; rel="next", <{server.url}{url}>; rel="first"')
        seen = []
        while True:
            seen += [r.get("user_id") or r["attributes"]["user_id"] for r in body["data"]]
            if "next" not in links:
                break
            assert links["next"].startswith(f"{server.url}{url}&cursor=")
            body, links = await linked(session, links["next"])
        assert seen == ["f4", "f3", "f2", "f1", "f0"]
        assert links == {"first": f"{server.url}{url}"}


async def test_cursor_orders_requests_of_one_instant_by_id(clock: FakeClock) -> None:
    """Requests made at the same instant are listed by request id, so a cursor among them
    neither repeats nor skips one, even when more arrive at that same instant."""
    async with serving(clock, page_size=3, paging="cursor") as (server, session):
        for n in range(8):
            await post(session, f"u{n}")
        ledger = server.state.ledgers["user"]
        originals = {record.subject for record in ledger}
        _, body = await listing(session)
        pages = [body["data"]]
        while body["next_cursor"] is not None:
            await post(session, f"late{len(ledger)}")
            body = (await listing(session, cursor=body["next_cursor"]))[1]
            pages.append(body["data"])
        ids = [record["id"] for page in pages for record in page]
        assert ids == sorted(ids, reverse=True)
        assert len(set(ids)) == len(ids)
        assert originals <= {record["user_id"] for page in pages for record in page}


async def test_state_filter_follows_the_cursor(clock: FakeClock) -> None:
    """A cursor page keeps its ?state= filter: next paging carries it in the next URL."""
    async with serving(clock, page_size=1, paging="next") as (server, session):
        for subject, age in [("f1", 40), ("r1", 2), ("f2", 35), ("r2", 1)]:
            server.state.submit("user", subject, START - age)
        _, body = await listing(session, state="finished")
        assert [r["user_id"] for r in body["data"]] == ["f2"]
        assert "state=finished" in body["next"]
        last = await fetch(session, body["next"])
        assert ([r["user_id"] for r in last["data"]], last["next"]) == (["f1"], None)


@pytest.mark.parametrize("cursor", ["not a cursor", "", "bmFu", "aW5mIHg"])
async def test_bad_cursor_is_400(clock: FakeClock, cursor: str) -> None:
    """A cursor this server did not give (bad base64, no place, nan, inf) is a 400."""
    async with serving(clock, paging="cursor") as (server, session):
        status, body = await listing(session, cursor=cursor)
        assert (status, body["error"]) == (400, "cursor is not one this server gave")
        assert server.state.stats.bad_requests == 1


async def test_jsonapi_page_by_number(clock: FakeClock) -> None:
    """shape jsonapi serves resources with attributes, links.next as an absolute URL that
    keeps ?state=, and page numbers in meta; the last page's links.next is null."""
    async with serving(clock, page_size=1, shape="jsonapi") as (server, session):
        old = (await post(session, "u1")).json()
        clock.advance(0.25)
        new = (await post(session, "u2")).json()
        _, body = await listing(session, state="requested")
        assert body == {
            "data": [
                {
                    "id": new["id"],
                    "type": "user_deletion_request",
                    "attributes": {
                        "user_id": "u2",
                        "state": "requested",
                        "created_at": "2026-01-01T00:00:00.250Z",
                        "updated_at": "2026-01-01T00:00:00.250Z",
                    },
                }
            ],
            "links": {"next": f"{server.url}{API}user_deletion_requests?state=requested&page=2"},
            "meta": {"page": 1, "per_page": 1, "total": 2},
        }
        last = await fetch(session, body["links"]["next"])
        assert [resource["id"] for resource in last["data"]] == [old["id"]]
        assert (last["links"]["next"], last["meta"]["page"]) == (None, 2)


@pytest.mark.parametrize("paging", ["cursor", "next"])
async def test_jsonapi_pages_by_cursor(clock: FakeClock, paging: str) -> None:
    """JSON:API with cursor or next paging: links.next carries the cursor (meta.next_cursor
    too, with cursor paging) and following it reads every group once."""
    async with serving(clock, page_size=2, shape="jsonapi", paging=paging) as (server, session):
        for n in range(5):
            await post(session, f"g{n}", kind="group")
            clock.advance(0.001)
        _, body = await listing(session, kind="group")
        seen = []
        while True:
            seen += [resource["attributes"]["group_id"] for resource in body["data"]]
            assert {resource["type"] for resource in body["data"]} == {"group_deletion_request"}
            link = body["links"]["next"]
            cursor = body["meta"].get("next_cursor")
            assert (paging == "cursor") == ("next_cursor" in body["meta"])
            if link is None:
                assert cursor is None
                break
            assert link.startswith(f"{API}group_deletion_requests?cursor=", len(server.url))
            assert cursor is None or link.endswith(f"?cursor={cursor}")
            body = await fetch(session, link)
        assert seen == ["g4", "g3", "g2", "g1", "g0"]


# --- state machine ------------------------------------------------------------------------


async def test_state_progresses_with_the_clock(clock: FakeClock) -> None:
    """A request is requested, then started at start_after, then finished at finish_after."""
    async with serving(clock, start_after=5, finish_after=30) as (_, session):
        await post(session, "u1")
        expected = [
            (4.999, "requested", "2026-01-01T00:00:00.000Z"),
            (0.001, "started", "2026-01-01T00:00:05.000Z"),
            (25.0, "finished", "2026-01-01T00:00:30.000Z"),
        ]
        for step, state, updated in expected:
            clock.advance(step)
            _, body = await listing(session)
            assert (body["data"][0]["state"], body["data"][0]["updated_at"]) == (state, updated)
            assert await subjects(session, state=state) == ["u1"]


async def test_state_filter_partitions_records(clock: FakeClock) -> None:
    """Filtering by state returns exactly the records in that state, newest first."""
    async with serving(clock, start_after=5, finish_after=30) as (_, session):
        for subject, age in [("old1", 40), ("old2", 30), ("mid", 20), ("new1", 3), ("new2", 0)]:
            clock.now = START + 40 - age
            await post(session, subject)
        assert await subjects(session, state="finished") == ["old2", "old1"]
        assert await subjects(session, state="started") == ["mid"]
        assert await subjects(session, state="requested") == ["new2", "new1"]
        _, body = await listing(session, state="requested", page="2")
        assert (body["data"], body["total"]) == ([], 2)


async def test_seeded_requests_take_their_place_by_time(clock: FakeClock) -> None:
    """Requests submitted directly with earlier times are listed and aged by those times."""
    async with serving(clock, start_after=5, finish_after=30) as (server, session):
        await post(session, "now")
        server.state.submit("user", "old", START - 60)
        server.state.submit("user", "mid", START - 10)
        assert await subjects(session) == ["now", "mid", "old"]
        assert await subjects(session, state="started") == ["mid"]
        assert await subjects(session, state="finished") == ["old"]


# --- rate limit ---------------------------------------------------------------------------


async def test_rate_limit_answers_429_and_refusals_do_not_count(clock: FakeClock) -> None:
    """Above rate_limit in a sliding second the answer is 429; refusals never fill the window."""
    async with serving(clock, rate_limit=2) as (server, session):
        assert [(await post(session, f"u{n}")).status for n in range(2)] == [200, 200]
        clock.advance(0.25)
        refused = await post(session, "u2")
        assert (refused.status, refused.headers["Retry-After"]) == (429, "1")
        for _ in range(5):  # refused requests must not extend the wait
            assert (await post(session, "u2")).status == 429
        clock.advance(0.75)
        assert [(await post(session, f"u{n}")).status for n in (2, 3, 4)] == [200, 200, 429]
        assert (server.state.stats.rate_limited, server.state.limiter.peak) == (7, 2)
        assert len(server.state.ledgers["user"]) == 4


async def test_retry_after_as_http_date(clock: FakeClock) -> None:
    """With retry_after="date" a 429 names, as an HTTP-date, the second a slot frees."""
    async with serving(clock, rate_limit=1, retry_after="date") as (_, session):
        await post(session, "u1")
        clock.advance(0.4)
        refused = await post(session, "u2")
        assert refused.status == 429
        assert parsedate_to_datetime(refused.headers["Retry-After"]).timestamp() == START + 1


async def test_retry_after_none_sends_no_header(clock: FakeClock) -> None:
    """With retry_after="none" a 429 carries no Retry-After header."""
    async with serving(clock, rate_limit=1, retry_after="none") as (_, session):
        await post(session, "u1")
        refused = await post(session, "u2")
        assert refused.status == 429
        assert "Retry-After" not in refused.headers


async def test_lowered_rate_limit_waits_for_enough_expiries(clock: FakeClock) -> None:
    """After rate_limit is lowered at runtime, Retry-After covers every admission due to expire."""
    async with serving(clock, rate_limit=10) as (server, session):
        for n in range(4):
            await post(session, f"u{n}")
            clock.advance(0.2)
        server.state.configure({"rate_limit": 2})
        clock.now = START + 0.65  # admissions at +0, +0.2, +0.4, +0.6: two must expire
        refused = await post(session, "late")
        assert (refused.status, refused.headers["Retry-After"]) == (429, "1")
        clock.now = START + 1.2
        assert (await post(session, "late")).status == 429
        clock.now = START + 1.4
        assert (await post(session, "late")).status == 200


#: Seconds after START at which a client sends, in eighths so every sum is exact.
SCRIPT = (0.5, 0.75, 0.875, 1.0, 1.125, 1.5, 1.875, 2.0)


@pytest.mark.parametrize(
    ("limiter", "admitted", "retry_at", "peak"),
    [
        ("sliding", (0.5, 0.75, 1.5, 1.875), (2, 2, 2, 3), 2),
        ("strict", (0.5, 0.75), (2, 2, 2, 3, 3, 3), 2),
        ("fixed", (0.5, 0.75, 1.0, 1.125, 2.0), (1, 2, 2), 4),
    ],
)
async def test_limiters_admit_a_scripted_pattern(
    clock: FakeClock,
    limiter: str,
    admitted: tuple[float, ...],
    retry_at: tuple[int, ...],
    peak: int,
) -> None:
    """With a limit of 2, sliding refuses without counting refusals, strict counts them (a
    client that keeps asking stays refused), fixed starts again each whole second (4 in one
    window across a boundary); each Retry-After names the first second that admits."""
    async with serving(clock, rate_limit=2, limiter=limiter, retry_after="date") as (
        server,
        session,
    ):
        passed, dates = [], []
        for at in SCRIPT:
            clock.now = START + at
            reply = await post(session, f"u{at}")
            if reply.status == 200:
                passed.append(at)
            else:
                assert reply.status == 429
                dates.append(parsedate_to_datetime(reply.headers["Retry-After"]).timestamp())
        assert tuple(passed) == admitted
        assert tuple(dates) == tuple(START + second for second in retry_at)
        assert (server.state.limiter.peak, server.state.stats.rate_limited) == (peak, len(dates))
        clock.now = dates[-1]  # a client that obeys the last Retry-After is admitted
        assert (await post(session, "obedient")).status == 200


@pytest.mark.parametrize(
    ("style", "admitted", "refused"),
    [
        (
            "x",
            {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1"},
            {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"},
        ),
        (
            "ietf",
            {"RateLimit-Policy": '"default";q=2;w=1', "RateLimit": '"default";r=1;t=1'},
            {"RateLimit-Policy": '"default";q=2;w=1', "RateLimit": '"default";r=0;t=1'},
        ),
    ],
)
@pytest.mark.parametrize("limiter", ["sliding", "strict", "fixed"])
async def test_rate_limit_headers(
    clock: FakeClock,
    style: str,
    admitted: dict[str, str],
    refused: dict[str, str],
    limiter: str,
) -> None:
    """rate_limit_headers states the limit, what is left and the whole seconds until a slot
    frees on every answer from the limiter on: admitted, 429 (with Retry-After) and 401."""
    knobs = {"rate_limit": 2, "rate_limit_headers": style, "limiter": limiter}
    async with serving(clock, **knobs) as (_, session):
        clock.now = START + 0.5
        first = await post(session, "u1")
        clock.now = START + 0.75
        second = await post(session, "u2", headers={"Authorization": "Basic nope"})
        clock.now = START + 0.875
        third = await post(session, "u3")
        assert (first.status, second.status, third.status) == (200, 401, 429)
        assert {name: first.headers.get(name) for name in admitted} == admitted
        for reply in (second, third):
            assert {name: reply.headers.get(name) for name in refused} == refused
        assert third.headers["Retry-After"] == "1"


async def test_rate_limit_headers_need_a_rate_limit(clock: FakeClock) -> None:
    """Without a rate limit, or on a storm's 429, no rate-limit header is sent."""
    async with serving(clock, rate_limit_headers="ietf") as (server, session):
        assert "RateLimit" not in (await post(session, "u1")).headers
        server.state.configure({"rate_limit": 5, "storm": True})
        storm = await post(session, "u2")
        assert storm.status == 429
        assert {"RateLimit", "RateLimit-Policy"}.isdisjoint(storm.headers)


def test_a_new_limiter_keeps_the_peak() -> None:
    """Changing the limiter at runtime starts an empty window but keeps peak_per_second."""
    state = SandboxServer(SandboxConfig(rate_limit=1)).state
    for now in (0.0, 0.5, 1.25):
        state.limiter.admit(now, 5)
    state.configure({"limiter": "fixed"})
    assert state.limiter.admit(1.5, 1) is None
    assert state.limiter.admit(1.75, 1) == 0.25
    assert state.snapshot()["peak_per_second"] == 2


@pytest.mark.parametrize("timestamp", [START, START + 0.0005, START + 0.9999996, 343885152.8689995])
def test_isoformat_matches_datetime(timestamp: float) -> None:
    """The cached timestamp formatter rounds exactly like datetime.isoformat."""
    expected = datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="milliseconds")
    assert isoformat(timestamp) == expected.replace("+00:00", "Z")


def test_sliding_window_peak_is_busiest_second() -> None:
    """peak is the most admissions in any 1-second window, whose left edge is open."""
    window = SlidingWindow()
    for now in (0.0, 0.5, 0.99, 1.0, 1.2, 2.5):
        assert window.admit(now, None) is None
    assert window.peak == 4  # 0.5, 0.99, 1.0, 1.2 (0.0 left the window at 1.0)


@pytest.mark.parametrize(
    ("style", "header"),
    [("seconds", "1"), ("date", "Thu, 01 Jan 2026 00:00:01 GMT"), ("none", None)],
)
async def test_storm_answers_429_to_every_api_request(
    clock: FakeClock, style: str, header: str | None
) -> None:
    """storm answers every API request 429 whatever the rate, with Retry-After as configured."""
    async with serving(clock, storm=True, retry_after=style) as (server, session):
        refused = await post(session, "u1")
        assert refused.status == 429
        assert refused.headers.get("Retry-After") == header
        assert (await listing(session))[0] == 429
        server.state.configure({"storm": False})
        assert (await post(session, "u1")).status == 200
        assert server.state.stats.rate_limited == 2
        assert server.state.limiter.peak == 1  # a storm's 429s never fill the rate-limit window


# --- faults -------------------------------------------------------------------------------


async def test_fail_rate_serves_5xx_and_applies_nothing(clock: FakeClock) -> None:
    """A 5xx fault answers 500, 502 or 503 with a JSON error and records nothing."""
    async with serving(clock, fail_rate=1.0) as (server, session):
        statuses = {(await post(session, f"u{n}")).status for n in range(20)}
        assert statuses <= {500, 502, 503}
        assert len(statuses) > 1
        assert server.state.stats.faults["5xx"] == 20
        assert len(server.state.ledgers["user"]) == 0


async def test_reset_drops_the_connection_cleanly(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A reset fault drops the connection unanswered: a client connection error, no server log."""
    async with serving(clock, reset_rate=1.0, reset_after_share=0) as (server, session):
        with caplog.at_level(logging.DEBUG), pytest.raises(aiohttp.ClientConnectionError):
            await post(session, "u1")
        assert caplog.records == []
        server.state.configure({"reset_rate": 0})
        assert (await post(session, "u1")).status == 200
        assert server.state.stats.faults["reset"] == 1
        assert server.state.stats.accepted["user"] == 1


async def test_reset_after_applies_then_drops(clock: FakeClock) -> None:
    """A drop after applying leaves the request recorded though the client saw a connection
    error; reset_after_share splits drops between both kinds, each counted apart."""
    async with serving(clock, reset_rate=1.0, reset_after_share=1.0) as (server, session):
        with pytest.raises(aiohttp.ClientConnectionError):
            await post(session, "u1")
        with pytest.raises(aiohttp.ClientConnectionError):
            await listing(session)
        assert server.state.ledgers["user"].get("u1") is not None
        assert server.state.stats.faults["reset"] == 0
        # aiohttp sends a GET again after a drop on a reused connection: count from here.
        server.state.reset()
        server.state.configure({"reset_after_share": 0.5, "seed": 3})
        for n in range(40):
            with pytest.raises(aiohttp.ClientConnectionError):
                await post(session, f"m{n}")
        stats = server.state.snapshot()
        dropped, applied = stats["faults"]["reset"], stats["faults"]["reset_after"]
        assert (dropped + applied, min(dropped, applied) > 5) == (40, True)
        assert stats["accepted"]["user"] == stats["unique"]["user"] == applied


async def test_hang_outlasts_a_client_timeout(clock: FakeClock) -> None:
    """A hung request times the client out, and is still applied when it wakes."""
    async with serving(clock, hang_rate=1.0, hang_seconds=0.2) as (server, session):
        with pytest.raises(asyncio.TimeoutError):
            await post(session, "u1", timeout=aiohttp.ClientTimeout(total=0.05))
        assert server.state.stats.faults["hang"] == 1
        await server.stop()  # lets in-flight requests finish (the hang is shorter)
        assert server.state.ledgers["user"].get("u1") is not None


async def test_hung_request_is_applied_when_it_wakes(clock: FakeClock) -> None:
    """A patient client gets a 200 from a hung request, and the request is recorded."""
    async with serving(clock, hang_rate=1.0, hang_seconds=0.05) as (server, session):
        assert (await post(session, "u1")).status == 200
        assert len(server.state.ledgers["user"]) == 1


async def test_latency_delays_api_requests(clock: FakeClock) -> None:
    """latency_ms delays every API request; listing_latency_ms delays listings only."""
    short = aiohttp.ClientTimeout(total=0.05)
    async with serving(clock, latency_ms=200) as (_, session):
        with pytest.raises(asyncio.TimeoutError):
            await post(session, "u1", timeout=short)
    async with serving(clock, listing_latency_ms=200) as (_, session):
        assert (await post(session, "u1", timeout=aiohttp.ClientTimeout(total=5))).status == 200
        with pytest.raises(asyncio.TimeoutError):
            await session.get(f"{API}user_deletion_requests", timeout=short)


async def test_outage_answers_503_to_every_api_request(clock: FakeClock) -> None:
    """During an outage every API request gets 503, and control endpoints still work."""
    async with serving(clock, outage=True) as (server, session):
        assert (await post(session, "u1")).status == 503
        assert (await listing(session))[0] == 503
        async with session.post("/_sandbox/config", json={"outage": False}) as response:
            assert response.status == 200
        assert (await post(session, "u1")).status == 200
        assert server.state.stats.faults["outage"] == 2


async def test_faults_replay_from_the_seed(clock: FakeClock) -> None:
    """The same seed serves the same faults in the same order."""
    runs = []
    for _ in range(2):
        async with serving(clock, fail_rate=0.5, seed=7) as (_, session):
            runs.append([(await post(session, f"u{n}")).status for n in range(12)])
    assert runs[0] == runs[1]
    assert set(runs[0]) - {200}


# --- body styles --------------------------------------------------------------------------


async def test_text_body_style(clock: FakeClock) -> None:
    """With body_style="text" answers and errors are plain text, not JSON."""
    async with serving(clock, body_style="text") as (_, session):
        response = await post(session, "u1")
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "user_id=u1" in response.body.decode()
        async with session.get(f"{API}user_deletion_requests") as page:
            assert "user_id=u1 state=requested" in await page.text()
        async with session.post(f"{API}user_deletion_request", data=b"{}") as bad:
            assert bad.status == 400
            with pytest.raises(ValueError, match="Expecting value"):
                json.loads(await bad.text())


async def test_empty_body_style(clock: FakeClock) -> None:
    """With body_style="empty" every API answer, success or error, has an empty body."""
    async with serving(clock, body_style="empty") as (server, session):
        assert (await post(session, "u1")).body == b""
        async with session.get(f"{API}user_deletion_requests", headers={"Authorization": "x"}) as r:
            assert (r.status, await r.read()) == (401, b"")
        assert server.state.stats.accepted["user"] == 1


async def test_html_body_style(clock: FakeClock) -> None:
    """With body_style="html" answers are a web page, as a proxy or login wall would serve."""
    async with serving(clock, body_style="html") as (_, session):
        response = await post(session, "<u1>")
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.body.startswith(b"<!DOCTYPE html>")
        assert b"user_id=&lt;u1&gt;" in response.body


async def test_listing_body_style_changes_listings_only(clock: FakeClock) -> None:
    """listing_body_style gives listing pages their own body; deletions still answer JSON."""
    async with serving(clock, listing_body_style="html") as (server, session):
        assert (await post(session, "u1")).json()["user_id"] == "u1"
        async with session.get(f"{API}user_deletion_requests") as page:
            assert page.status == 200
            assert (await page.text()).startswith("<!DOCTYPE html>")
        async with session.get(f"{API}user_deletion_requests", params={"page": "0"}) as bad:
            assert bad.status == 400
            assert "error" in await bad.json()  # errors keep body_style
        with pytest.raises(ValueError, match="one of"):
            server.state.configure({"listing_body_style": "xml"})
        server.state.configure({"listing_body_style": None})  # back to body_style, from JSON
        assert await subjects(session) == ["u1"]


async def test_echo_key_quotes_the_credentials_in_errors(clock: FakeClock) -> None:
    """echo_key makes every error quote the Authorization header; successes stay as they were."""
    async with serving(clock, echo_key=True, reject_prefix="bad") as (server, session):
        assert "Basic" not in (await post(session, "u1")).body.decode()
        rejected = await post(session, "bad1")
        assert rejected.status == 422
        assert rejected.json()["error"] == "unknown user: bad1 (Authorization: Basic sandbox)"
        wrong = await post(session, "u2", headers={"Authorization": "Basic nope"})
        assert wrong.status == 401
        assert "(Authorization: Basic nope)" in wrong.json()["error"]
        server.state.configure({"outage": True})
        assert "(Authorization: Basic sandbox)" in (await post(session, "u3")).json()["error"]


# --- stats, control endpoints -------------------------------------------------------------


async def test_stats_count_exactly(clock: FakeClock) -> None:
    """/_sandbox/stats counts every API request by endpoint, outcome and fault."""
    async with serving(clock, rate_limit=8) as (_, session):
        for subject in ("u1", "u2", "u1"):
            await post(session, subject)
        await post(session, "g1", kind="group")
        await post(session, "u3", headers={"Authorization": "Basic nope"})
        await session.post(f"{API}user_deletion_request", data=b"{}")
        await listing(session)
        await listing(session, kind="group", page="0")
        await post(session, "u4")  # the 9th request: over the limit
        async with session.get("/_sandbox/stats") as response:
            stats = await response.json()
    assert stats == {
        "requests": 9,
        "endpoints": {
            "user_deletion_request": 6,
            "group_deletion_request": 1,
            "user_deletion_requests": 1,
            "group_deletion_requests": 1,
        },
        "accepted": {"user": 3, "group": 1},
        "unique": {"user": 2, "group": 1},
        "duplicates": {"user": 1, "group": 0},
        "conflicts": {"user": 0, "group": 0},
        "replays": {"user": 0, "group": 0},
        "rate_limited": 1,
        "faults": {"5xx": 0, "reset": 0, "reset_after": 0, "hang": 0, "outage": 0},
        "unauthorized": 1,
        "bad_requests": 2,
        "peak_per_second": 8,
    }


async def test_runtime_config_changes_knobs(clock: FakeClock) -> None:
    """POST /_sandbox/config changes knobs and returns the config; bad changes are 400s."""
    async with serving(clock) as (server, session):
        async with session.post("/_sandbox/config", json={"fail_rate": 1, "page_size": 7}) as r:
            assert r.status == 200
            assert ((await r.json())["fail_rate"], server.state.config.page_size) == (1.0, 7)
        assert (await post(session, "u1")).status >= 500
        for bad in (
            {"nonsense": 1},
            {"page_size": "7"},
            {"outage": 1},
            {"finish_after": 1},
            {"rate_limit": 0},
            {"duplicate_status": 410},
            {"duplicate_status": 409.0},
            {"unfiltered_states": []},
            {"unfiltered_states": ["done"]},
            {"unfiltered_states": "requested"},
            {"unfiltered_states": ["started", "started"]},
            {"paging": "offset"},
            {"limiter": "token_bucket"},
            {"reset_after_share": 1.5},
            [1],
        ):
            async with session.post("/_sandbox/config", json=bad) as r:
                assert r.status == 400, bad
                assert (await r.json())["error"]
        async with session.get("/_sandbox/config") as r:
            assert (await r.json())["page_size"] == 7


async def test_runtime_config_sets_every_variant(clock: FakeClock) -> None:
    """POST /_sandbox/config sets each variant knob from JSON, and the next request obeys it."""
    variants = {
        "duplicate_status": 409,
        "idempotency": "honour",
        "unfiltered_states": ["requested", "finished"],
        "paging": "next",
        "shape": "jsonapi",
        "auth_style": "any",
        "rate_limit": 100,
        "rate_limit_headers": "x",
        "limiter": "strict",
        "reset_after_share": 0.25,
    }
    async with serving(clock) as (server, session):
        await post(session, "u1")
        async with session.post("/_sandbox/config", json=variants) as r:
            assert r.status == 200
            shown = await r.json()
        assert {name: shown[name] for name in variants} == variants
        assert server.state.config.unfiltered_states == ("requested", "finished")
        repeat = await post(session, "u1", headers=BASIC)
        assert (repeat.status, repeat.headers["X-RateLimit-Remaining"]) == (409, "99")
        _, page = await listing(session)
        assert page["links"] == {"next": None}


async def test_reset_clears_records_and_stats(clock: FakeClock) -> None:
    """POST /_sandbox/reset forgets records and counts, and request ids restart from the seed."""
    async with serving(clock) as (server, session):
        first_id = (await post(session, "u1")).json()["id"]
        async with session.post("/_sandbox/reset") as r:
            assert (await r.json())["requests"] == 0
        assert await subjects(session) == []
        assert (await post(session, "u9")).json()["id"] == first_id
        assert server.state.stats.requests == 2


async def test_request_ids_depend_on_the_seed(clock: FakeClock) -> None:
    """Request ids are deterministic for a seed and differ between seeds."""
    ids = []
    for seed in (1, 1, 2):
        async with serving(clock, seed=seed) as (_, session):
            ids.append((await post(session, "u1")).json()["id"])
    assert ids[0] == ids[1] != ids[2]


# --- server lifecycle and CLI -------------------------------------------------------------


async def test_restart_keeps_port_and_state(clock: FakeClock) -> None:
    """stop() makes the API unreachable; start() serves again on the same port with its state."""
    async with serving(clock) as (server, session):
        await post(session, "u1")
        url = server.url
        await server.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            await post(session, "u2")
        await server.start()
        assert server.url == url
        assert await subjects(session) == ["u1"]
        assert server.state.stats.requests == 2


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_cli_serves_and_stops_on_signal(signum: signal.Signals, code: int) -> None:
    """`python -m bulk_delete.sandbox` says where it listens, answers, and exits 128+signal."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bulk_delete.sandbox",
        "--port",
        "0",
        "--api-key",
        "k3y",
        "--auth-style",
        "basic",
        "--duplicate-status",
        "409",
        "--paging",
        "next",
        "--rate-limit",
        "100",
        "--rate-limit-headers",
        "ietf",
        cwd=PROJECT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert "'k3y'" in line
        assert "nothing real is deleted" in line
        url = line.split("listening on ")[1].split()[0]
        headers = {"Authorization": "Basic " + base64.b64encode(b"k3y:").decode()}
        async with aiohttp.ClientSession(url, headers=headers) as session:
            first = await post(session, "u1")
            assert (first.status, (await post(session, "u1")).status) == (200, 409)
            assert first.headers["RateLimit"] == '"default";r=99;t=1'
            assert (await listing(session))[1]["next"] is None
        proc.send_signal(signum)
        assert await asyncio.wait_for(proc.wait(), 10) == code
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_cli_help_and_bad_knobs() -> None:
    """-h shows the help with an example; contradictory knobs are a usage error (exit 2)."""
    runner = CliRunner()
    shown = runner.invoke(sandbox, ["-h"])
    assert shown.exit_code == 0, shown.output
    assert "Example:" in shown.output
    assert "--rate-limit" in shown.output
    bad = runner.invoke(sandbox, ["--start-after", "10", "--finish-after", "5"])
    assert bad.exit_code == 2, bad.output
    assert "finish_after" in bad.output


@pytest.mark.parametrize(
    ("flags", "knobs"),
    [
        (["--auth-style", "raw"], {"auth_style": "raw"}),
        (["--auth-style", "basic"], {"auth_style": "basic"}),
        (["--auth-style", "any"], {"auth_style": "any"}),
        (["--duplicate-status", "409"], {"duplicate_status": 409}),
        (["--idempotency", "honour"], {"idempotency": "honour"}),
        (["--unfiltered-states", "requested, started"], {"unfiltered_states": STATES[:2]}),
        (["--paging", "cursor"], {"paging": "cursor"}),
        (["--paging", "next"], {"paging": "next"}),
        (["--paging", "link", "--shape", "jsonapi"], {"paging": "link", "shape": "jsonapi"}),
        (["--rate-limit-headers", "x"], {"rate_limit_headers": "x"}),
        (["--rate-limit-headers", "ietf"], {"rate_limit_headers": "ietf"}),
        (["--limiter", "strict"], {"limiter": "strict"}),
        (["--limiter", "fixed"], {"limiter": "fixed"}),
        (
            ["--reset-rate", "0.1", "--reset-after-share", "1"],
            {"reset_rate": 0.1, "reset_after_share": 1.0},
        ),
    ],
)
def test_cli_flags_set_their_knobs(flags: list[str], knobs: dict[str, object]) -> None:
    """Each variant flag sets its knob, and every other knob keeps its default."""
    params = sandbox.make_context("sandbox", flags).params
    config = config_from({k: v for k, v in params.items()
                          if k not in ("host", "port", "tls_cert", "tls_key")})
    assert config == dataclasses.replace(SandboxConfig(), **knobs)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--unfiltered-states", "requested,done"], "unfiltered_states must be one of"),
        (["--unfiltered-states", "started,started"], "unfiltered_states must name"),
        (["--duplicate-status", "404"], "'404' is not one of '200', '409'"),
        (["--limiter", "leaky"], "'leaky' is not one of"),
        (["--reset-after-share", "2"], "0<=x<=1"),
    ],
)
def test_cli_bad_variant_flags_are_usage_errors(flags: list[str], message: str) -> None:
    """A variant flag with a value the sandbox does not play is a usage error (exit 2)."""
    result = CliRunner().invoke(sandbox, flags)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_cli_port_in_use_is_a_usage_error() -> None:
    """A port that cannot be bound ends the command with exit 2 and a one-line reason."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(sandbox, ["--port", port])
    assert result.exit_code == 2, result.output
    assert "cannot listen on" in result.output


def test_config_rejects_impossible_knobs() -> None:
    """SandboxConfig refuses fault rates above one in total, and coerces JSON numbers."""
    with pytest.raises(ValueError, match="sum"):
        SandboxConfig(fail_rate=0.6, reset_rate=0.5)
    config = SandboxConfig().updated({"rate_limit": 2.0, "latency_ms": 5})
    assert (config.rate_limit, config.latency_ms) == (2, 5.0)
    with pytest.raises(ValueError, match="integer"):
        config.updated({"rate_limit": 2.5})
    with pytest.raises(ValueError, match="one of"):
        config.updated({"body_style": "xml"})
    with pytest.raises(ValueError, match="duplicate_status must be one of 200, 409"):
        SandboxConfig(duplicate_status=201)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unfiltered_states"):
        SandboxConfig(unfiltered_states=("open",))  # type: ignore[arg-type]

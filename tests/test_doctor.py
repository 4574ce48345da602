"""doctor: a read-only probe that says what bulk-delete understood of an API, or why not.

Against sandboxes that choose differently from our first guesses (cursor, next-link and Link
header paging, JSON:API, hidden states, the other form of the key, stated limits), and against
servers it cannot read. Nothing is ever deleted.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bulk_delete.listing_page import parse_page
from bulk_delete.sandbox import SandboxConfig
from bulk_delete.shape import describe
from tests.fakes import KEY, June, Serve, bulk_delete, cli_env, ids, write_ids

RECORD = {"id": "r1", "user_id": "u1", "state": "finished", "created_at": "2026-01-01T00:00:00Z",
          "updated_at": "2026-01-02T00:00:00Z"}


@pytest.mark.parametrize(("payload", "records_at", "subject", "state"), [
    ([RECORD], "[]", "user_id", "state"),
    ({"data": [RECORD], "has_more": False}, "data", "user_id", "state"),
    ({"results": [{"id": "r1", "userId": "u1", "status": "started"}]}, "results", "userId",
     "status"),
    ({"data": [{"id": "r1", "type": "user_deletion_request",
                "attributes": {"user_id": "u1", "state": "finished"}}]},
     "data[].attributes", "attributes.user_id", "attributes.state"),
    ({"data": [{"id": "r1", "attributes": {"state": "finished"},
                "relationships": {"user": {"data": {"type": "user", "id": "u1"}}}}]},
     "data[].attributes", "relationships.user", "attributes.state"),
])
def test_shape_names_where_records_and_fields_are(payload: Any, records_at: str, subject: str,
                                                  state: str) -> None:
    """The shape of a page says where its records are and which fields hold what."""
    shape = describe(payload, kind="user")
    assert (shape.records_at, shape.subject, shape.state) == (records_at, subject, state)
    assert shape.request_id
    assert shape.problems == ()


@pytest.mark.parametrize(("paging", "expected"), [
    ({"has_more": True}, ("no next page named: asked as ?page=N", "has_more: false")),
    ({"next": "https://api.june.so/x?cursor=abc"}, ("a next link, an absolute URL",
                                                    "a null next")),
    ({"next_cursor": "abc"}, ("an opaque cursor, asked back as ?cursor=", "a null next")),
    ({"meta": {"page": 1, "total_pages": 3}}, ("no next page named: asked as ?page=N",
                                                "total_pages")),
    ({"links": {"next": {"title": "more"}}},
     ('named as next: {"title": "more"}, which bulk-delete cannot follow', "a null next")),
    # A total of records is no end the read stops at: it reads on to an empty page.
    ({"total": 250}, ("no next page named: asked as ?page=N", "an empty page")),
])
def test_shape_names_the_paging_and_the_end(paging: dict[str, Any],
                                            expected: tuple[str, str]) -> None:
    """How the next page is named and how the end is signalled, as page 1 shows."""
    shape = describe({"data": [RECORD], **paging}, kind="user")
    assert (shape.paging, shape.end) == expected


@pytest.mark.parametrize(("payload", "end"), [
    ({"data": [RECORD]}, "a page without a next link"),
    ({"data": [RECORD], "has_more": True}, "has_more: false"),
])
def test_shape_names_link_header_paging(payload: dict[str, Any], end: str) -> None:
    """A page read with a Link header's next is paged by that header, and ends where a page
    has none (unless the body says how it ends)."""
    page = parse_page(payload, kind="user", number=1, link="https://api.june.so/x?after=r1")
    shape = describe(payload, kind="user", page=page)
    assert (shape.paging, shape.end) == ('the HTTP Link header (rel="next")', end)


def test_shape_says_what_it_cannot_read() -> None:
    """Records that name no user, or no records at all, are problems a person must see."""
    assert describe({"data": [{"id": "r1", "person": "u1", "state": "x"}]},
                    kind="user").problems[0].startswith("no record names its user")
    assert describe({"error": "nope"}, kind="user").problems == (
        "no list of records in the page (['error'])",)
    assert describe({"data": []}, kind="user").problems == ()


def seeded(**knobs: Any) -> June:
    """A sandbox playing one variant, holding 30 finished and 12 open requests."""
    june = June(SandboxConfig(api_key=KEY, page_size=10, start_after=60, finish_after=3600,
                              **knobs))
    now = time.time()
    for i in range(30):
        june.server.state.submit("user", f"f{i:02d}", now - 7200)
    for i in range(12):
        june.server.state.submit("user", f"o{i:02d}", now - 30)
    return june


def doctor(url: str, tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    done = bulk_delete("doctor", "--api-url", url, "--rate", "200", *args,
                       env=cli_env(tmp_path, **env))
    return done.returncode, done.stdout, done.stderr


def rows(stdout: str) -> dict[str, str]:
    """The table doctor prints, topic -> text."""
    found = {}
    for line in stdout.splitlines():
        topic, _, text = line.partition("  ")
        if text.strip():
            found[topic.strip()] = text.strip()
    return found


@pytest.mark.parametrize(("knobs", "records_at", "paging"), [
    ({}, "data", "no next page named: asked as ?page=N"),
    ({"paging": "cursor"}, "data", "an opaque cursor, asked back as ?cursor="),
    ({"paging": "next"}, "data", "a next link, an absolute URL"),
    ({"paging": "link"}, "data", 'the HTTP Link header (rel="next")'),
    ({"shape": "jsonapi"}, "data[].attributes", "a next link, an absolute URL"),
    ({"shape": "jsonapi", "paging": "cursor", "auth_style": "basic"}, "data[].attributes",
     "a next link, an absolute URL"),
])
def test_doctor_understands_each_variant(tmp_path: Path, knobs: dict[str, Any],
                                         records_at: str, paging: str) -> None:
    """Exit 0, the shape as the variant serves it, page 2 moving on, nothing deleted, and the
    findings kept in the checkpoint manifest."""
    june = seeded(**knobs)
    try:
        code, out, err = doctor(june.url, tmp_path)
        assert code == 0, err + out
        table = rows(out)
        assert table["records"].startswith(f"at {records_at}:")
        assert table["paging"] == paging
        assert table["page size"] == "10 records on page 1"
        assert table["page 2"] == "10 other records"
        assert table["verdict"].startswith("understood")
        form = knobs.get("auth_style", "raw")
        assert f"({form})" in table["key"]
        assert june.posts() == 0
        manifest = json.loads((tmp_path / "state" / "manifest.json").read_text())
        assert manifest["auth_style"] == form
        assert manifest["doctor"]["page_size"] == 10
        assert manifest["doctor"]["problems"] == []
    finally:
        june.close()


def test_doctor_finds_states_the_listing_hides(tmp_path: Path) -> None:
    """A listing that shows only open requests unless asked: doctor says finished is hidden."""
    june = June(SandboxConfig(api_key=KEY, page_size=50, start_after=60, finish_after=3600,
                              unfiltered_states=("requested", "started")))
    now = time.time()
    for i in range(5):
        june.server.state.submit("user", f"f{i}", now - 7200)
        june.server.state.submit("user", f"o{i}", now)
    try:
        code, out, err = doctor(june.url, tmp_path)
        assert code == 0, err + out
        assert rows(out)["states"].startswith("the unfiltered listing hides finished")
    finally:
        june.close()


@pytest.mark.parametrize("style", ["x", "ietf"])
def test_doctor_shows_the_limit_june_states(tmp_path: Path, style: str) -> None:
    """Rate-limit headers in either form are shown, and the estimate uses the stated limit."""
    june = seeded(rate_limit=20, rate_limit_headers=style)
    try:
        code, out, err = doctor(june.url, tmp_path, "--ids", "72000")
        assert code == 0, err + out
        table = rows(out)
        assert table["rate limit"].startswith("20 per s")
        assert table["estimate"].startswith("72,000 IDs at 20/s (June's stated limit): 60 min")
    finally:
        june.close()


def test_doctor_without_a_limit_estimates_at_the_rate_given(tmp_path: Path) -> None:
    """No stated limit: the estimate is at --rate, and a whole reconcile's pages are counted."""
    june = seeded()
    try:
        code, out, _ = doctor(june.url, tmp_path, "--ids", "1000")
        table = rows(out)
        assert table["rate limit"].startswith("none stated")
        assert table["estimate"] == ("1,000 IDs at 200/s (--rate): 5 s to submit; each whole "
                                     "reconcile reads 100 pages, 0 s")
        assert code == 0
    finally:
        june.close()


def test_doctor_estimates_for_the_input_files_as_the_job_stands(tmp_path: Path) -> None:
    """Given input files, the estimate is for the IDs still to send, and a whole reconcile's
    pages for every ID of the job June will list, those sent by an earlier run included."""
    june = seeded()
    try:
        env = cli_env(tmp_path)
        sent = bulk_delete("submit", str(write_ids(tmp_path / "old.csv", ids(25))),
                           "--api-url", june.url, "--rate", "500", env=env)
        assert sent.returncode == 0, sent.stderr
        source = write_ids(tmp_path / "ids.csv", [*ids(25), *ids(10, "n")])
        code, out, _ = doctor(june.url, tmp_path, str(source))
        assert rows(out)["estimate"] == ("10 IDs at 200/s (--rate): 0 s to submit; each whole "
                                         "reconcile reads 4 pages for the job's 35 IDs, 0 s")
        assert code == 0
    finally:
        june.close()


def test_doctor_with_a_wrong_key_exits_5_and_sends_nothing(tmp_path: Path) -> None:
    """Both forms of the key refused: exit 5, no deletion."""
    june = seeded()
    try:
        code, _, err = doctor(june.url, tmp_path, JUNE_API_KEY="wrong")
        assert code == 5, err
        assert "both forms" in err
        assert june.posts() == 0
    finally:
        june.close()


@pytest.mark.parametrize(("body", "content_type", "problem"), [
    ("<html><body>Sign in</body></html>", "text/html", "listing page 1 is not JSON"),
    ('{"data": [{"id": "r1", "person": "u1", "state": "finished"}]}', "application/json",
     "no record names its user"),
    ('{"error": "nope"}', "application/json", "holds no list of records (['error'])"),
])
async def test_doctor_says_what_it_cannot_understand(serve: Serve, tmp_path: Path, body: str,
                                                     content_type: str, problem: str) -> None:
    """HTML on 200, records without a subject, no records at all: exit 4 with the reason."""
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text=body, content_type=content_type)

    url = await serve(handler)
    done = await _in_thread(url, tmp_path)
    assert done[0] == 4, done[2] + done[1]
    assert problem in rows(done[1])["verdict"]


async def _in_thread(url: str, tmp_path: Path) -> tuple[int, str, str]:
    """Run the CLI in a thread: the ``serve`` server answers on this test's event loop."""
    return await asyncio.to_thread(doctor, url, tmp_path)


async def test_doctor_refuses_a_link_to_another_host(serve: Serve, tmp_path: Path) -> None:
    """A next link to another host is never followed: exit 4, and the verdict names it."""
    page = {"data": [RECORD], "next": "https://elsewhere.example/api?page=2"}

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response(page)

    code, out, err = await _in_thread(await serve(handler), tmp_path)
    assert code == 4, err + out
    assert "links its next page to https://elsewhere.example" in rows(out)["verdict"]

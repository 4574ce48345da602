"""One listing page read in any shape June may use, and where the page after it is asked for."""

from __future__ import annotations

from typing import Any

import pytest

from bulk_delete.collected import as_frame
from bulk_delete.listing_page import ListingShapeError, Page, Record, instant, parse_page
from bulk_delete.next_page import Ask, Pager, Stop, Unproven, first, following, numbered
from bulk_delete.page_paging import Next

RECORDS = [{"id": "r1", "user_id": "u1", "state": "requested"},
           {"id": "r2", "user_id": "u2", "state": "finished"}]
LISTING = "https://api.june.so/api/platform/data_management/user_deletion_requests"


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


@pytest.mark.parametrize("item", [
    {"id": "r1", "type": "user_deletion_request",
     "attributes": {"user_id": "u1", "state": "finished", "updated_at": "2026-01-02T00:00:00Z"}},
    {"id": "r1", "type": "user_deletion_request",
     "attributes": {"status": "finished", "updatedAt": "2026-01-02T00:00:00Z"},
     "relationships": {"user": {"data": {"type": "user", "id": "u1"}}}},
])
def test_json_api_records_flat_or_related(item: dict[str, Any]) -> None:
    """JSON:API: fields under attributes, the subject there or as the user relationship."""
    page = parse_page({"data": [item], "links": {"next": None}}, kind="user", number=1)
    assert page.records == [Record("u1", "finished", request_id="r1",
                                   updated_at="2026-01-02T00:00:00Z")]
    assert page.last


def test_a_json_api_record_of_the_other_kind_has_no_subject() -> None:
    """A group relationship does not name a user: the record is skipped, not misread."""
    item = {"id": "r1", "attributes": {"state": "finished"},
            "relationships": {"group": {"data": {"id": "g1"}}}}
    assert parse_page([item], kind="user", number=1).records == []
    assert parse_page([item], kind="group", number=1).records[0].subject == "g1"


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
    ({"data": RECORDS, "links": {"next": None}}, True),
    ({"data": RECORDS, "meta": {"next": None}}, True),
    ({"data": RECORDS, "next_cursor": None}, True),
    ({"data": RECORDS, "next_cursor": ""}, True),
    ({"data": RECORDS, "pagination": {"nextPage": None}}, True),
    ({"data": RECORDS, "cursor": None}, False),
    ({"data": []}, True),
    ([], True),
    (RECORDS, False),
])
def test_pages_say_when_they_are_last(payload: Any, last: bool) -> None:
    """has_more, a null next of any name, total_pages and an empty page each end the paging."""
    number = payload.get("page", 1) if isinstance(payload, dict) else 1
    assert parse_page(payload, kind="user", number=number).last is last


@pytest.mark.parametrize(("paging", "expected"), [
    ({"next": "https://api.june.so/x?cursor=a"}, Next("link", "https://api.june.so/x?cursor=a")),
    ({"next": "/api/x?after=9"}, Next("link", "/api/x?after=9")),
    ({"next": "?page=2"}, Next("link", "?page=2")),
    ({"next": 2}, Next("page", "2")),
    ({"next": "3"}, Next("page", "3")),
    ({"next": "eyJpZCI6OX0="}, Next("cursor", "eyJpZCI6OX0=")),
    ({"links": {"next": "https://api.june.so/x?page=2"}},
     Next("link", "https://api.june.so/x?page=2")),
    ({"links": {"next": {"href": "/x?page=2"}}}, Next("link", "/x?page=2")),
    ({"meta": {"next": "abc"}}, Next("cursor", "abc")),
    ({"next_page": 4}, Next("page", "4")),
    ({"nextPage": "https://api.june.so/x?p=4"}, Next("link", "https://api.june.so/x?p=4")),
    ({"next_cursor": "123"}, Next("cursor", "123")),
    ({"pagination": {"nextCursor": "k"}}, Next("cursor", "k")),
    ({"cursor": "c2"}, Next("cursor", "c2")),
    ({"next": "a", "next_cursor": "b"}, Next("cursor", "a")),
    ({"has_more": True}, None),
])
def test_where_the_next_page_is(paging: dict[str, Any], expected: Next | None) -> None:
    """A number is a page, a URL, path or query is a link, anything else (or any value under
    a cursor key) is a cursor; the top level is read before links, meta and pagination."""
    page = parse_page({"data": RECORDS, **paging}, kind="user", number=1)
    assert page.next == expected
    assert not page.last


@pytest.mark.parametrize(("paging", "pages"), [
    ({"total_pages": 7}, 7), ({"meta": {"total": 5}}, 3), ({"totalCount": 4}, 2), ({}, None),
])
def test_pages_tell_how_many_pages_there_are(paging: dict[str, Any], pages: int | None) -> None:
    """total_pages, or a total of records over this page's size, gives the pages to read."""
    assert parse_page({"data": RECORDS, **paging}, kind="user", number=1).pages == pages


@pytest.mark.parametrize("payload", [{"error": "nope"}, "text", 3, {"data": "x"}])
def test_a_page_without_records_is_an_error(payload: Any) -> None:
    """A page that holds no list at all is not mistaken for an empty listing."""
    with pytest.raises(ListingShapeError, match="page 4 holds no list of records"):
        parse_page(payload, kind="user", number=4)


@pytest.mark.parametrize(("text", "iso"), [
    ("2026-06-10T11:30:00.120Z", "2026-06-10T11:30:00.120Z"),
    ("2026-06-10T13:30:00+02:00", "2026-06-10T11:30:00Z"),
    ("2026-06-10 11:30:00", "2026-06-10T11:30:00Z"),
    ("1781091000", "2026-06-10T11:30:00Z"),
    ("1781091000120", "2026-06-10T11:30:00.120Z"),
])
def test_timestamps_are_read_in_any_common_form(text: str, iso: str) -> None:
    """ISO 8601 with or without an offset (UTC when none), or epoch seconds or milliseconds."""
    frame = as_frame([Record("u1", "finished", updated_at=text)])
    assert frame["updated_at"].dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")[0] == iso


@pytest.mark.parametrize("text", ["yesterday", "nan", "", "inf", "1e30"])
def test_unreadable_timestamps_are_left_empty(text: str) -> None:
    """What is not a time is no time at all, not a wrong one."""
    assert instant(text) is None


def test_the_most_advanced_state_wins() -> None:
    """Duplicate requests for a subject show its most advanced known state, in first-seen order."""
    frame = as_frame([Record("u1", "finished"), Record("u2", "weird"),
                      Record("u1", "requested"), Record("u2", "started"), Record("u3", "odd")])
    assert frame.select("subject", "state").rows() == [("u1", "finished"), ("u2", "started"),
                                                       ("u3", "odd")]


def test_page_one_and_numbered_pages_keep_the_state_asked() -> None:
    """Page N of one state's listing asks ?state=S&page=N."""
    assert first(LISTING, None) == Ask(f"{LISTING}?page=1", 1)
    assert numbered(LISTING, "finished", 3) == Ask(f"{LISTING}?state=finished&page=3", 3)


@pytest.mark.parametrize(("after", "expected"), [
    (None, Ask(f"{LISTING}?state=started&page=3", 3)),
    (Next("page", "3"), Ask(f"{LISTING}?state=started&page=3", 3)),
    (Next("cursor", "a+b/c="), Ask(f"{LISTING}?state=started&cursor=a%2Bb%2Fc%3D")),
    (Next("link", "?cursor=x"), Ask(f"{LISTING}?cursor=x")),
    (Next("link", "/v2/requests?after=9#top"), Ask("https://api.june.so/v2/requests?after=9")),
    (Next("link", "HTTPS://API.june.so:443/v2/r?after=9"),
     Ask("https://API.june.so:443/v2/r?after=9")),
    (Next("link", f"{LISTING}?page=3&state=started"),
     Ask(f"{LISTING}?state=started&page=3", 3)),
])
def test_the_next_request(after: Next | None, expected: Ask) -> None:
    """Links resolve against the page's URL; a cursor is asked back as ?cursor=; a link that
    is the next numbered page keeps its number, so pages can be read ahead."""
    asked = numbered(LISTING, "started", 2)
    assert following(asked, after, listing_url=LISTING, state="started") == expected


@pytest.mark.parametrize("link", [
    "https://evil.example/api/platform/data_management/user_deletion_requests?page=2",
    "//evil.example/steal",
    "http://api.june.so/api/platform/data_management/user_deletion_requests?page=2",
    "https://api.june.so:8443/x",
    "https://user:pw@api.june.so/x",
    "https://api.june.so:99999/x",
    "ftp://api.june.so/x",
])
@pytest.mark.parametrize("header", [False, True])
def test_a_link_anywhere_but_the_configured_host_is_refused(link: str, header: bool) -> None:
    """Another host, scheme or port, or a link carrying credentials, in the body or the Link
    header, stops the read unproven: nothing is asked there."""
    with pytest.raises(Unproven, match="the API key goes only to the configured host") as caught:
        following(first(LISTING, None), Next("link", link, header=header), listing_url=LISTING,
                  state=None)
    assert caught.value.cause == "foreign_host"


LINK_NEXT = f"{LISTING}?cursor=n2"


@pytest.mark.parametrize(("payload", "link", "last"), [
    ({"data": RECORDS}, LINK_NEXT, False),
    ({"data": RECORDS, "next": None}, LINK_NEXT, False),  # the header wins over the body
    ({"data": RECORDS, "next": "https://api.june.so/other"}, LINK_NEXT, False),
    ({"data": RECORDS, "has_more": False}, LINK_NEXT, True),
    ({"data": []}, LINK_NEXT, True),
])
def test_the_link_header_names_the_next_page(payload: Any, link: str, last: bool) -> None:
    """A Link header's next (as the client read it) is the page's next, over any in the body;
    an empty page or has_more: false still ends the listing."""
    page = parse_page(payload, kind="user", number=1, link=link)
    assert page.next == Next("link", LINK_NEXT, header=True)
    assert page.last is last


@pytest.mark.parametrize(("payload", "last"), [
    ({"data": RECORDS}, True),
    ({"data": RECORDS, "has_more": True}, False),  # the body says more: no end
    ({"data": RECORDS, "next": "https://api.june.so/other"}, False),  # the body names one
])
def test_a_link_header_naming_no_next_is_the_last_page(payload: Any, last: bool) -> None:
    """A Link header that names other pages (first, last, prev) and no next ("" from the
    client) ends a listing whose body names no next and does not say more follow."""
    page = parse_page(payload, kind="user", number=1, link="")
    assert page.last is last


@pytest.mark.parametrize("link", ['<https://api.june.so:99999/x>; rel="next"', "/relative"])
def test_a_link_header_that_cannot_be_read_cannot_be_followed(link: str) -> None:
    """What is not an absolute URL came from a Link header the client could not read: the
    page names a next page, in a form that stops the read unproven, never the end."""
    page = parse_page({"data": RECORDS}, kind="user", number=1, link=link)
    assert page.next is not None and page.next.form == "unknown" and not page.last
    with pytest.raises(Unproven, match="cannot follow") as caught:
        following(first(LISTING, None), page.next, listing_url=LISTING, state=None)
    assert caught.value.cause == "unfollowable"


def test_a_link_object_without_href_is_not_the_end() -> None:
    """A JSON:API next link object that holds no href is a next page that cannot be followed,
    not a null next (which would end the listing)."""
    page = parse_page({"data": RECORDS, "links": {"next": {"meta": {"page": 2}}}}, kind="user",
                      number=1)
    assert page.next is not None and page.next.form == "unknown"
    assert not page.last


@pytest.mark.parametrize(("paging", "more", "short"), [
    ({"has_more": True}, True, False),
    ({"meta": {"hasMore": True, "per_page": 3}}, True, True),
    ({"page": 1, "total_pages": 2}, True, False),
    ({"page": 2, "total_pages": 2}, False, False),
    ({"per_page": 2}, False, False),
    ({"pageSize": 5}, False, True),
    ({}, False, False),
])
def test_pages_say_whether_more_follow_and_whether_they_are_short(
        paging: dict[str, Any], more: bool, short: bool) -> None:
    """has_more: true or a page below total_pages says more follow; fewer records than the
    per_page the page states make it short."""
    page = parse_page({"data": RECORDS, **paging}, kind="user", number=paging.get("page", 1))
    assert (page.more, page.short) == (more, short)


def records(*subjects: str) -> list[Record]:
    return [Record(subject, "finished") for subject in subjects]


def test_a_pager_follows_links_and_ends_where_they_end() -> None:
    """Links are followed page after page; a page without one after pages with one is the
    proven end, with no ?page= asked."""
    pager = Pager(LISTING, None)
    assert pager.ask == first(LISTING, None)
    one = Page(records("a"), last=False, next=Next("link", LINK_NEXT, header=True))
    assert not pager.repeats(one, 1)
    assert pager.advance(one, 1) == Ask(LINK_NEXT)
    two = Page(records("b"), last=False)
    assert not pager.repeats(two, 2)
    assert pager.advance(two, 2) is None


def test_a_pager_without_links_asks_numbered_pages() -> None:
    """A page that names nothing, with no link before it, is followed by ?page=N+1."""
    pager = Pager(LISTING, "started")
    page = Page(records("a"), last=False)
    assert pager.advance(page, 1) == numbered(LISTING, "started", 2)
    assert pager.advance(Page(records("b"), last=False), 2) == numbered(LISTING, "started", 3)


@pytest.mark.parametrize(("pages", "end"), [
    ([Page(records("a", "b"), last=False)] * 2, "repeat"),
    ([Page(records("a", "b"), last=False, short=True)] * 2, "proven"),
    ([Page(records("a", "b", "c"), last=False), Page(records("d"), last=False),
      Page(records("d"), last=False)], "proven"),
    ([Page(records("a"), last=False), Page(records("b"), last=False),
      Page(records("b"), last=False)], "repeat"),
])
def test_a_repeated_page_ends_the_read_proven_only_when_it_was_short(
        pages: list[Page], end: str) -> None:
    """A page served again is the end when it was short (its per_page, or fewer records than
    the fullest page before: a server that serves its last page for any page past it);
    otherwise more were expected and the read stops unproven."""
    pager = Pager(LISTING, None)
    for number, page in enumerate(pages[:-1], start=1):
        assert not pager.repeats(page, number)
        pager.advance(page, number)
    if end == "proven":
        assert pager.repeats(pages[-1], len(pages))
        return
    with pytest.raises(Unproven, match=f"page {len(pages)} repeats page {len(pages) - 1}") \
            as caught:
        pager.repeats(pages[-1], len(pages))
    assert caught.value.cause == "repeat"


def test_a_full_page_served_again_is_not_short_for_holding_other_kinds() -> None:
    """A page as full as the fullest before it is not short because some of its items name no
    subject of this kind (a listing that mixes users and groups): served again, it is a
    repeat where more were expected, not the end."""
    def user(subject: str) -> dict[str, Any]:
        return {"id": f"r-{subject}", "user_id": subject, "state": "finished"}

    group = {"id": "r-g", "group_id": "g1", "state": "finished"}
    pages = [parse_page([user("a"), user("b"), user("c")], kind="user", number=1),
             parse_page([user("d"), group, group], kind="user", number=2),
             parse_page([user("d"), group, group], kind="user", number=3)]
    pager = Pager(LISTING, None)
    for number, page in enumerate(pages[:2], start=1):
        assert not pager.repeats(page, number)
        pager.advance(page, number)
    with pytest.raises(Unproven, match="page 3 repeats page 2") as caught:
        pager.repeats(pages[2], 3)
    assert caught.value.cause == "repeat"


def test_a_page_that_says_more_but_names_no_next_cannot_be_followed() -> None:
    """After pages reached by links, a page with has_more: true and no next stops the read
    unproven: it cannot be asked for, and it is not the end."""
    pager = Pager(LISTING, None)
    pager.advance(Page(records("a"), last=False, next=Next("cursor", "c2")), 1)
    with pytest.raises(Unproven, match="says more pages follow but names no next page") \
            as caught:
        pager.advance(Page(records("b"), last=False, more=True), 2)
    assert caught.value.cause == "unfollowable"


def test_a_link_back_to_a_page_read_is_a_loop() -> None:
    """Paging that goes round (page 3 links to page 2's link again) stops unproven rather
    than reading to the page cap."""
    pager = Pager(LISTING, None)
    pager.advance(Page(records("a"), last=False, next=Next("cursor", "c2")), 1)
    pager.advance(Page(records("b"), last=False, next=Next("cursor", "c3")), 2)
    with pytest.raises(Unproven, match="goes round in a loop") as caught:
        pager.advance(Page(records("c"), last=False, next=Next("cursor", "c2")), 3)
    assert caught.value.cause == "unfollowable"


def test_a_stop_says_where_and_why() -> None:
    """A Stop reads in full for people and as a short code for a report row."""
    stop = Stop("state=finished", 4, "repeat", "page 4 repeats page 3")
    assert str(stop) == "state=finished: page 4 repeats page 3"
    assert stop.code == "state=finished page 4: repeat"

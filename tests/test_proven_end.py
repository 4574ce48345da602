"""missing only after a proven end: every way a listing read can stop short of the end June
signals leaves the sent IDs it did not find unverified, with the reason, in the report, its
summary, its page and the exit code; an end June signals still proves an ID missing.

Reconciles run in-process against small fake Junes on loopback sockets; the sandbox's Link
header paging runs end to end through the CLI.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import polars as pl
import pytest
from aiohttp import web

from bulk_delete import job, listing
from bulk_delete.checkpoint import Checkpoint
from bulk_delete.config import resolve
from bulk_delete.journal import Outcome
from bulk_delete.logs import configure
from bulk_delete.present import View
from bulk_delete.sandbox import SandboxConfig
from tests.fakes import KEY, June, Serve, bulk_delete, cli_env, ids

Answer = Callable[[web.Request], Awaitable[web.Response]]


class Finished:
    """June's listing of ``subjects``, all finished, ``size`` a page, newest first.

    ``paging``: ``cursor`` (``next_cursor`` in the body), ``link`` (a relative Link header;
    absolute to ``elsewhere`` when set), ``page`` (``?page=N`` with ``has_more``), ``total``
    (``?page=N`` with ``total_pages``) or ``none`` (a bare page: read until one is empty).
    Cursor and link paging ignore ``?page=``, and ``ignores_page`` makes the others serve
    page 1 whatever ``?page=`` asks too; ``per_page`` states the page
    size; ``first`` adds the first page to every Link header (``rel="first"``).
    ``?state=finished`` lists them too, the other states nothing, and with
    ``hidden`` the unfiltered listing nothing (a June that lists only open requests).
    ``answer`` answers a page number its own way; ``asked`` holds (state, page) asked.
    """

    def __init__(self, subjects: list[str], *, size: int = 5, paging: str = "cursor",
                 ignores_page: bool = False, per_page: bool = False,
                 hidden: bool = False, first: bool = False) -> None:
        self.subjects, self.size, self.paging = subjects, size, paging
        self.ignores_page, self.per_page, self.hidden = ignores_page, per_page, hidden
        self.first = first
        self.answer: dict[int, Answer] = {}
        self.elsewhere: str | None = None
        self.asked: list[tuple[str | None, int]] = []

    def listed(self, state: str | None) -> list[str]:
        if state not in (None, "finished") or (state is None and self.hidden):
            return []
        return self.subjects

    def page(self, state: str | None, number: int) -> list[dict[str, str]]:
        chunk = self.listed(state)[(number - 1) * self.size:number * self.size]
        return [{"user_id": subject, "state": "finished"} for subject in chunk]

    async def handle(self, request: web.Request) -> web.Response:
        query, state = request.query, request.query.get("state")
        numbered = self.paging not in ("cursor", "link") and not self.ignores_page
        asked = query.get("page", "1") if numbered else "1"
        number = int(query.get("cursor", asked))
        self.asked.append((state, number))
        if number in self.answer:
            return await self.answer[number](request)
        body: dict[str, Any] = {"data": self.page(state, number)}
        more = bool(self.page(state, number + 1)) and bool(body["data"])
        headers = {}
        if self.paging == "cursor":
            body["next_cursor"] = str(number + 1) if more else None
        elif self.paging == "link":
            kept = {} if state is None else {"state": state}
            links = [f'<?{urlencode(kept)}>; rel="first"'] if self.first else []
            if more:
                target = f"?{urlencode({**kept, 'cursor': number + 1})}"
                if self.elsewhere is not None:
                    target = f"{self.elsewhere}{request.path}{target}"
                links.append(f'<{target}>; rel="next"')
            if links:
                headers["Link"] = ", ".join(links)
        elif self.paging == "page":
            body["has_more"] = more
        elif self.paging == "total":
            body.update(page=number, total_pages=math.ceil(len(self.listed(state)) / self.size))
        if self.per_page:
            body["per_page"] = self.size
        return web.json_response(body, headers=headers)


@dataclass(frozen=True)
class Reconciled:
    """What one reconcile left: its exit code, the report, summary.json, report.html and
    what it printed."""

    code: int
    report: pl.DataFrame
    summary: dict[str, Any]
    page: str
    printed: str

    def states(self) -> dict[str, str]:
        return dict(self.report.select("id", "server_state").rows())

    def reasons(self) -> set[str | None]:
        return set(self.report.filter(pl.col("server_state") == "unverified")
                   ["unverified_reason"])


def send(tmp_path: Path, url: str, sent: list[str],
         doctor: dict[str, Any] | None = None) -> None:
    """Journal ``sent`` as accepted by June at ``url`` (and what doctor found, if given)."""
    with Checkpoint.open(tmp_path / "state", kind="user", api_host=url, create=True) as cp:
        for subject in sent:
            cp.journal().append(Outcome(subject, "accepted", 200, 1))
        if doctor is not None:
            cp.record_doctor(doctor)


async def reconcile(tmp_path: Path, url: str, *, full: bool = False) -> Reconciled:
    settings = resolve({"api_url": url, "checkpoint_dir": tmp_path / "state", "rate": 1000.0,
                        "concurrency": 4}, env={"JUNE_API_KEY": "k"}, explicit=["api_url"])
    printed = io.StringIO()
    code = await job.reconcile(settings, View("json", out=printed),
                               checking=job.Checking(full=full))
    state = tmp_path / "state"
    return Reconciled(code, pl.read_csv(state / "report.csv"),
                      json.loads((state / "summary.json").read_text()),
                      (state / "report.html").read_text(), printed.getvalue())


def subjects(count: int) -> list[str]:
    return [f"f{i:03d}" for i in range(count)]


async def html(_request: web.Request) -> web.Response:
    return web.Response(text="<html><body>Sign in</body></html>", content_type="text/html")


def stop_by(case: str, june: Finished, monkeypatch: pytest.MonkeyPatch,
            foreign: str) -> tuple[str, str]:
    """Make ``june`` stop a read at page 2 as ``case`` says: (the cause's code, words of the
    sentence that says it)."""
    if case == "repeat":
        june.paging, june.ignores_page = "page", True
        return "repeat", "page 2 repeats page 1 where more were expected"
    if case == "page_cap":
        monkeypatch.setattr(listing, "MAX_PAGES", 2)
        return "page_cap", "stopped at 2 pages"
    if case == "foreign_host":
        june.paging, june.elsewhere = "link", foreign
        return "foreign_host", f"links its next page to {foreign}"
    if case == "undecodable":
        june.answer[2] = html
        return "undecodable", "listing page 2 is not JSON"
    if case in ("refused", "gone"):  # a 404 is the end only to ?page=N, not to a cursor
        status = 400 if case == "refused" else 404
        june.answer[2] = lambda _request: refuse(status)
        return "unfollowable", f"listing page 2 was refused: HTTP {status}"

    async def says_more(request: web.Request) -> web.Response:
        return web.json_response({"data": june.page(request.query.get("state"), 2),
                                  "has_more": True})

    june.answer[2] = says_more
    return "unfollowable", "page 2 says more pages follow but names no next page"


async def refuse(status: int) -> web.Response:
    return web.json_response({"error": "no such page"}, status=status)


@pytest.mark.parametrize("case", ["repeat", "page_cap", "foreign_host", "undecodable",
                                  "unfollowable", "refused", "gone"])
async def test_a_read_stopped_short_leaves_what_it_did_not_find_unverified(
        serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """Each way a read stops before June's end (a page June refuses past page 1 is paging it
    cannot follow): the IDs on the pages read are finished, the others (and an ID June does
    not list at all) unverified with the reason, never missing; summary.json counts and says
    it, report.html says it, one printed line says why; exit 4. A link to another host is
    never followed: nothing reaches it."""
    hits: list[str] = []

    async def other(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.json_response([])

    june = Finished(subjects(15))
    cause, words = stop_by(case, june, monkeypatch, await serve(other))
    url = await serve(june.handle)
    send(tmp_path, url, [*subjects(15), "ghost"])
    done = await reconcile(tmp_path, url)
    assert done.code == 4
    found = dict.fromkeys(subjects(10 if case in ("page_cap", "unfollowable") else 5), "finished")
    assert done.states() == {**dict.fromkeys([*subjects(15), "ghost"], "unverified"), **found}
    stopped_at = 1 if case == "foreign_host" else 2
    assert done.reasons() == {f"listing page {stopped_at}: {cause}; "
                              f"state=finished page {stopped_at}: {cause}"}
    assert done.report.filter(pl.col("server_state") == "finished")["unverified_reason"] \
        .is_null().all()
    assert done.summary["attention"]["unverified"] == 16 - len(found)
    assert done.summary["attention"]["missing"] == 0
    assert words in done.summary["unverified_reason"]
    assert f"Unverified: {16 - len(found)}</h3>" in done.page
    [line] = [line for line in done.printed.splitlines() if line.startswith("unverified:")]
    assert words in line
    assert hits == []


@pytest.mark.parametrize(("paging", "ignores_page"), [
    ("cursor", False), ("link", False), ("page", False), ("total", False), ("none", False),
    ("none", True)])
async def test_an_end_june_signals_proves_an_id_missing(serve: Serve, tmp_path: Path,
                                                       paging: str, ignores_page: bool) -> None:
    """A null next cursor, a page without a Link next after pages with one, has_more: false,
    total_pages, an empty page, or a page shorter than its per_page served again: the read
    ended where June said, so an ID it does not list is missing, and nothing is unverified."""
    june = Finished(subjects(12 if not ignores_page else 3), paging=paging,
                    ignores_page=ignores_page, per_page=ignores_page)
    url = await serve(june.handle)
    send(tmp_path, url, [*june.subjects, "ghost"])
    done = await reconcile(tmp_path, url)
    assert done.code == 4
    assert done.states() == {**dict.fromkeys(june.subjects, "finished"), "ghost": "missing"}
    assert done.summary["attention"]["unverified"] == 0
    assert done.summary["unverified_reason"] is None
    assert done.report["unverified_reason"].is_null().all()
    assert not [line for line in done.printed.splitlines() if line.startswith("unverified:")]


async def test_every_read_that_could_list_an_id_must_end_proven(serve: Serve,
                                                                tmp_path: Path) -> None:
    """A June that lists only open requests unless asked: its unfiltered listing ends proven
    (empty), but ?state=finished repeats its page 1. The finished requests past that page,
    and an ID June does not list, could be in the unread part: unverified, not missing."""
    june = Finished(subjects(12), paging="page", ignores_page=True, hidden=True)
    url = await serve(june.handle)
    send(tmp_path, url, [*subjects(12), "ghost"])
    done = await reconcile(tmp_path, url)
    assert done.code == 4
    assert done.states() == {**dict.fromkeys([*subjects(12), "ghost"], "unverified"),
                             **dict.fromkeys(subjects(5), "finished")}
    assert done.reasons() == {"state=finished page 2: repeat"}


async def test_a_request_once_seen_finished_stays_finished_whatever_the_read(
        serve: Serve, tmp_path: Path) -> None:
    """Finished in an earlier reconcile, a request stays finished when a later read (--full,
    so it is looked for again) stops short of it; an ID sent since is unverified."""
    june = Finished(subjects(15))
    url = await serve(june.handle)
    send(tmp_path, url, subjects(15))
    assert (await reconcile(tmp_path, url)).code == 0
    june.answer[2] = html
    send(tmp_path, url, ["new"])
    done = await reconcile(tmp_path, url, full=True)
    assert done.states() == {**dict.fromkeys(subjects(15), "finished"), "new": "unverified"}
    assert done.reasons() == {"listing page 2: undecodable; state=finished page 2: undecodable"}
    assert done.code == 4


async def test_reconcile_warns_of_what_doctor_found(serve: Serve, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A problem the last doctor recorded in the manifest is warned of before the listing is
    read, once, naming it; the read then says what it could prove."""
    june = Finished(subjects(12), paging="page", ignores_page=True)
    url = await serve(june.handle)
    problem = "page 2 repeats page 1 where more were expected"
    send(tmp_path, url, subjects(12), doctor={"problems": [problem], "paging": "?page=N"})
    configure("json")
    done = await reconcile(tmp_path, url)
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()
              if line.startswith("{")]
    names = [event["event"] for event in events]
    [warned] = [event for event in events if event["event"] == "bulk_delete.doctor_problems"]
    assert warned["problems"] == [problem] and warned["level"] == "warning"
    assert warned["doctor_at"]
    assert names.index("bulk_delete.doctor_problems") < names.index("bulk_delete.listing_read")
    assert done.code == 4


async def test_no_warning_when_doctor_found_nothing(serve: Serve, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A doctor that understood the API leaves nothing to warn of."""
    june = Finished(subjects(3))
    url = await serve(june.handle)
    send(tmp_path, url, subjects(3), doctor={"problems": [], "paging": "a cursor"})
    configure("json")
    assert (await reconcile(tmp_path, url)).code == 0
    assert "bulk_delete.doctor_problems" not in capsys.readouterr().err


def test_link_header_paging_is_read_to_its_end_with_the_defaults(tmp_path: Path) -> None:
    """The sandbox paging by the Link header and ignoring ?page=: reconcile with no flag
    finds all 300 finished requests (exit 0); an ID it does not list is then missing, as the
    Link paging ends where June says (exit 4)."""
    june = June(SandboxConfig(api_key=KEY, paging="link", start_after=0, finish_after=0))
    try:
        now = time.time()
        sent = ids(300)
        for subject in sent:
            june.server.state.submit("user", subject, now - 3600)
        send(tmp_path, june.url, sent)
        env = cli_env(tmp_path)
        done = bulk_delete("reconcile", env=env)
        assert done.returncode == 0, done.stderr
        report = pl.read_csv(tmp_path / "state" / "report.csv")
        assert report.height == 300
        assert set(report["server_state"]) == {"finished"}
        send(tmp_path, june.url, ["ghost"])
        again = bulk_delete("reconcile", env=env)
        assert again.returncode == 4, again.stderr
        states = dict(pl.read_csv(tmp_path / "state" / "report.csv")
                      .select("id", "server_state").rows())
        assert states == {**dict.fromkeys(sent, "finished"), "ghost": "missing"}
    finally:
        june.close()


@pytest.mark.parametrize(("first", "state"), [(True, "missing"), (False, "unverified")])
async def test_a_one_page_link_listing_ends_where_its_header_says(
        serve: Serve, tmp_path: Path, first: bool, state: str) -> None:
    """A listing paged by the Link header that fits one page, states no page size and serves
    page 1 for ?page=2: a header naming its first page and no next is its end (an ID it does
    not list is missing); with no Link header at all, the repeat proves nothing (unverified)."""
    june = Finished(subjects(3), paging="link", first=first)
    url = await serve(june.handle)
    send(tmp_path, url, [*june.subjects, "ghost"])
    done = await reconcile(tmp_path, url)
    assert done.code == 4
    assert done.states() == {**dict.fromkeys(june.subjects, "finished"), "ghost": state}

"""report.html: its pieces (histogram, attention lists, run history, escaping), then the whole
page in a real headless chromium, which must render the numbers and load nothing."""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import stat
import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import pytest

from bulk_delete.digests import InputFile, file_digest
from bulk_delete.journal import COLUMNS as JOURNAL_COLUMNS
from bulk_delete.listing import Record, as_frame
from bulk_delete.report_html import CSP, render, write_page
from bulk_delete.report_html_data import (
    FIRST_ROWS,
    PageData,
    attention_lists,
    first_rows,
    histogram,
    run_history,
)
from bulk_delete.report_rows import (
    COLUMNS,
    MEANING,
    REQUESTED,
    latest_outcomes,
    report_rows,
    summarize,
)
from tests.fakes import FakeJune, Harness

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
DEADLINE = 72.0


class _AnyTime(str):
    """Equal to any ISO-8601 UTC time as the tool writes it."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and len(other) == 24 and other.endswith("Z")

    __hash__ = str.__hash__


ANY_TIME = _AnyTime("<a time>")
HOSTILE = '<script>alert(1)</script><img src="http://198.51.100.7/x.png" onerror="alert(2)">'


def at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


#: Hours to finish of the finished requests: 27 in time (one exactly at the deadline),
#: 5 late, one of them beyond the last bin.
FINISH_HOURS = [1.5, 3, 5, 6, 7, 9, 12, 14, 18, 20, 22, 24, 26, 30, 33, 36, 40, 44, 48, 50,
                55, 60, 62, 66, 68, 70, 72, 73, 80, 96, 120, 400]


def report(hostile: bool = False) -> pl.DataFrame:
    """A report frame made by reconcile.report_rows from a journal, a plan and a listing: the
    state-history columns come from what the listing shows, as on a first reconcile."""
    journal, listed = [], []
    for i, hours in enumerate(FINISH_HOURS):  # finished
        sent = 500 + i
        journal.append((f"done-{i:02}", "accepted", "200", "1", at(sent), None))
        listed.append(Record(f"done-{i:02}", "finished", request_id=f"req-done-{i:02}",
                             updated_at=at(sent - hours)))
    for i in range(25):  # accepted 100 h ago, still started: overdue
        journal.append((f"slow-{i:02}", "accepted", "200", "1", at(100 + i), None))
        listed.append(Record(f"slow-{i:02}", "started", request_id=f"req-slow-{i:02}",
                             updated_at=at(90)))
    for i in range(4):  # accepted an hour ago, June has not started yet
        journal.append((f"new-{i}", "accepted", "200", "1", at(1), None))
        listed.append(Record(f"new-{i}", "requested", updated_at=at(1)))
    journal += [(f"lost-{i}", "accepted", "200", "1", at(2), None) for i in range(2)]
    journal += [("bad-0", "rejected", "422", "1", at(3), "June: malformed user id"),
                ("bad-1", "rejected", "404", "1", at(3), "June: no such user"),
                (HOSTILE if hostile else "bad-2", "rejected", "422", "2", at(3),
                 HOSTILE if hostile else "June: user id too long"),
                ("down-0", "failed", "503", "6", at(4), "HTTP 503 after 6 attempts")]
    plans = pl.DataFrame([("never-sent", "pending", ""), ("", "invalid", "empty ID at ids.csv:9")],
                         schema=["id", "outcome", "error"], orient="row").lazy()
    return report_rows(
        latest_outcomes(pl.DataFrame(journal, schema=dict.fromkeys(JOURNAL_COLUMNS, pl.String),
                                     orient="row")),
        plans, as_frame(listed), kind="user", now=NOW, deadline_hours=DEADLINE)


def page_data(rows: pl.DataFrame) -> PageData:
    """PageData as reconcile hands it over: summary figures computed from the same rows."""
    sent = rows.filter(pl.col("outcome").is_in(REQUESTED))
    hours = rows["hours_to_finish"].drop_nulls()
    done = int((sent["server_state"] == "finished").sum())
    summary = {**summarize(rows), "figures": {
        "requests_sent": sent.height, "completed": done, "still_open": sent.height - done,
        "median_hours_to_finish": hours.median(),
        "p90_hours_to_finish": hours.quantile(0.9, interpolation="linear")}}
    runs = [{"at": at(600), "event": "start", "command": "submit", "pid": 4100},
            {"at": at(599), "event": "end", "command": "submit", "exit_code": 0, "pid": 4100},
            {"at": at(24), "event": "start", "command": "reconcile", "pid": 5200},
            {"at": at(0), "event": "start", "command": "reconcile", "pid": 5300},
            {"at": at(0), "event": "end", "command": "reconcile", "exit_code": 4, "pid": 5300}]
    inputs = [InputFile(path="exports/users-2026-05.csv", sha256="ab" * 32, size=1_234_567,
                        read_at=at(600))]
    return PageData(rows=rows, summary=summary, runs=runs, inputs=inputs, tool_version="0.1.0",
                    generated_at=at(0), kind="user", api_host="api.june.so",
                    deadline_hours=DEADLINE)


# --- pieces, without a browser -------------------------------------------------------------


def test_histogram_bins_hold_their_upper_edge() -> None:
    """Bins are deadline/12 wide and hold their upper edge; nulls and NaN are not counted."""
    hours = pl.Series([0.0, 6.0, 6.01, 72.0, 72.01, 143.9, 144.0, 144.01, 9999.0, -1.0, None,
                       float("nan")])
    bins = histogram(hours, 72)
    assert len(bins) == 25
    assert [(b.low, b.high) for b in bins[:2]] == [(0, 6), (6, 12)]
    assert (bins[-1].low, bins[-1].high) == (144, None)
    counts = {i: b.count for i, b in enumerate(bins) if b.count}
    assert counts == {0: 3, 1: 1, 11: 1, 12: 1, 23: 2, 24: 2}


def test_histogram_scales_with_the_deadline() -> None:
    """A 24 h deadline makes 2 h bins; a request finished at the deadline is in time."""
    bins = histogram(pl.Series([24.0, 25.0], dtype=pl.Float64), 24)
    assert bins[11].high == 24 and bins[11].count == 1
    assert bins[12].low == 24 and bins[12].count == 1


def test_no_histogram_before_anything_finished() -> None:
    """Until a request finishes the page says so instead of drawing empty bars."""
    rows = report().with_columns(pl.lit(None, dtype=pl.Float64).alias("hours_to_finish"))
    html = render(page_data(rows))
    assert "No request has finished yet." in html and "<svg" not in html


def test_attention_lists_count_what_the_summary_counts() -> None:
    """Each list's condition selects exactly the IDs the summary counts for it."""
    rows = report()
    summary = summarize(rows)
    for each in attention_lists(DEADLINE):
        assert rows.filter(each.where).height == summary["attention"][each.name], each.name


def test_first_rows_are_the_first_of_the_list_in_report_order() -> None:
    """Only the first FIRST_ROWS rows of a list are kept, in report order, with its columns."""
    rows = report()
    overdue = next(a for a in attention_lists(DEADLINE) if a.name == "overdue")
    shown = first_rows(rows, overdue)
    assert shown.columns == list(overdue.columns)
    assert shown["id"].to_list() == [f"slow-{i:02}" for i in range(FIRST_ROWS)]


def test_run_history_joins_each_start_to_its_end() -> None:
    """A run is one row; a killed run has no end; an orphan end line still shows its exit."""
    runs = [{"at": "t1", "event": "start", "command": "submit", "pid": 1},
            {"at": "t2", "event": "start", "command": "reconcile", "pid": 2},
            {"at": "t3", "event": "end", "command": "submit", "exit_code": 130, "pid": 1},
            {"at": "t4", "event": "end", "command": "reconcile", "exit_code": 99, "pid": 7},
            {"at": "t5", "event": "other"}]
    assert run_history(runs) == [
        ("submit", "t1", "t3", "130 (interrupted)", 1),
        ("reconcile", "t2", "no end recorded", None, 2),
        ("reconcile", None, "t4", "99", 7),
    ]


def test_every_value_from_the_data_is_escaped() -> None:
    """A hostile ID, message, host, path or run field becomes text, never markup."""
    data = page_data(report(hostile=True))
    hostile_run = {"at": HOSTILE, "event": "start", "command": HOSTILE, "pid": HOSTILE}
    data = PageData(**{**vars(data), "api_host": HOSTILE, "tool_version": HOSTILE,
                       "runs": [*data.runs, hostile_run],
                       "inputs": [InputFile(path=HOSTILE, sha256="0" * 64, size=1,
                                            read_at=HOSTILE)]})
    html = render(data)
    assert "<script" not in html and "<img" not in html and "onerror=\"" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8


def test_the_page_references_nothing_outside_itself() -> None:
    """No src, href, import or external url(): the only reference is the SVG's own pattern."""
    html = render(page_data(report()))
    assert f'content="{CSP}"' in html
    for needle in ("src=", "href=", "@import", "<link", "<script", "<iframe", "<object"):
        assert needle not in html, needle
    assert html.count("url(") == html.count("url(#late)")


def test_the_page_says_what_each_report_column_holds() -> None:
    """The page carries the report's glossary: every column, in order, with its meaning."""
    html = render(page_data(report()))
    table = html[html.index("<table id=columns>"):]
    table = table[:table.index("</table>")]
    assert [cell.split("</td>")[0] for cell in table.split("<tr><td>")[1:]] == list(COLUMNS)
    assert escape(MEANING["outcome"], quote=True) in table


def test_counts_and_figures_have_thousands_separators() -> None:
    """Counts of millions read as 5,000,000, not 5000000."""
    data = page_data(report())
    summary = {**data.summary, "outcome": {"accepted": 5_000_000},
               "figures": {**data.summary["figures"], "requests_sent": 4_999_999}}
    html = render(PageData(**{**vars(data), "summary": summary}))
    assert "<td>5,000,000</td>" in html and "<td>4,999,999</td>" in html


def test_a_deadline_must_be_positive() -> None:
    """A zero or NaN deadline is a bug in the caller, refused with a plain sentence."""
    for bad in (0.0, float("nan")):
        with pytest.raises(ValueError, match="deadline_hours must be positive"):
            PageData(**{**vars(page_data(report())), "deadline_hours": bad})


def test_write_page_is_owner_only(tmp_path: Path) -> None:
    """report.html holds IDs: it is written whole and readable by the owner only."""
    data = page_data(report())
    path = tmp_path / "out" / "report.html"
    write_page(path, data)
    assert path.read_text(encoding="utf-8") == render(data)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


# --- the page in a real browser ------------------------------------------------------------
#
# How "it requests nothing" is proved. Chromium is started with every load, loopback included,
# sent to a loopback proxy that records each request and answers 502, so nothing reaches a
# network. The full browser makes requests of its own at start (Google account listing,
# component updates, network time) that no flag turns off, so the proxy's count is not zero
# for any page. Chromium's own net log tells the two apart: a request a document asked for
# names that document's origin as its initiator; the browser's own requests have none. The
# page must have asked for nothing, and every request the proxy saw must be one of the
# browser's own. A page that does load an image shows the probe is not blind.

CHROMIUM = shutil.which("chromium")
#: Without a sandbox (root), GPU, QUIC, first-run, sync, component or background fetches.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
browser = pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true",
                             reason="chromium is not installed (.ci/run installs it)")


class RecordingProxy(socketserver.ThreadingTCPServer):
    """A loopback 'proxy' that keeps the first line of each request and answers 502.

    Closing it waits for every handler, so no request still in flight is missed.
    """

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.lines: list[str] = []

    def hosts(self) -> set[str]:
        """Hosts asked for (``CONNECT host:port`` or ``GET http://host/...``).

        Chromium may open a connection to its proxy in advance and send nothing on it:
        only requests count.
        """
        targets = (line.split()[1] for line in self.lines if line)
        return {(urlsplit(t).hostname if "//" in t else t.rpartition(":")[0]) or t
                for t in targets}


class _ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        assert isinstance(self.server, RecordingProxy)
        self.server.lines.append(self.rfile.readline(4096).decode(errors="replace").strip())
        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")


@dataclass(frozen=True)
class Visit:
    """What chromium built from a page and every request made while it was open."""

    dom: Dom
    #: URLs a document asked for (the page, or anything it pulled in).
    page_requests: list[str]
    #: Hosts the browser asked for on its own behalf.
    browser_hosts: set[str]
    #: Hosts that reached the proxy: everything that would have left the machine.
    proxied_hosts: set[str]


def visit(page: Path, tmp_path: Path) -> Visit:
    """Open ``page`` in headless chromium through a recording proxy, with a net log."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed; .ci/run installs it")
    proxy = RecordingProxy()
    thread = threading.Thread(target=proxy.serve_forever)
    thread.start()
    netlog = tmp_path / "netlog.json"
    try:
        done = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
             f"--proxy-server=http://127.0.0.1:{proxy.server_address[1]}",
             "--proxy-bypass-list=<-loopback>", f"--log-net-log={netlog}",
             "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()
    assert done.returncode == 0, done.stderr[-3000:]
    page_requests, browser_hosts = [], set()
    for url, initiator in url_requests(json.loads(netlog.read_text(encoding="utf-8"))):
        if initiator in (None, "not an origin"):
            browser_hosts.add(urlsplit(url).hostname or url)
        else:
            page_requests.append(url)
    return Visit(Dom.parse(done.stdout), page_requests, browser_hosts, proxy.hosts())


def url_requests(netlog: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(url, initiator) of every request the network stack started, from a net log."""
    start = netlog["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [(e["params"]["url"], e["params"].get("initiator")) for e in netlog["events"]
            if e["type"] == start and "url" in e.get("params", {})]


class Dom(HTMLParser):
    """The tables (by id, as rows of cell text), tags and text of a serialized DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.words: list[str] = []
        self._table: str | None = None

    @classmethod
    def parse(cls, html: str) -> Dom:
        parser = cls()
        parser.feed(html)
        parser.close()
        return parser

    @property
    def text(self) -> str:
        """All text, whitespace collapsed."""
        return " ".join(" ".join(self.words).split())

    def body(self, table: str) -> list[list[str]]:
        """The rows under a table's header row."""
        return self.tables[table][1:]

    def column(self, table: str, index: int = 0) -> list[str]:
        return [row[index] for row in self.body(table)]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table = dict(attrs).get("id") or "?"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self.tables[self._table][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.words.append(data)
        if self._table and self.tables[self._table] and self.tables[self._table][-1]:
            self.tables[self._table][-1][-1] += data


@browser
def test_the_browser_renders_the_counts_figures_and_attention_rows(tmp_path: Path) -> None:
    """Chromium builds a page with the summary's counts, the figures, the histogram and the
    first rows of each attention list, and the page asks for nothing from the network."""
    write_page(tmp_path / "report.html", page_data(report()))
    seen = visit(tmp_path / "report.html", tmp_path)
    page = seen.dom

    assert dict(page.body("outcome")) == {"accepted": "63", "invalid": "1", "pending": "2",
                                          "rejected": "3", "total": "69"}
    assert dict(page.body("server-state")) == {"finished": "32", "missing": "2",
                                               "requested": "4", "started": "25"}
    assert page.column("figures", 1) == ["63", "32", "31", "38.0 h", "79.3 h"]
    assert page.column("attention-overdue") == [f"slow-{i:02}" for i in range(FIRST_ROWS)]
    assert page.column("attention-rejected") == ["bad-0", "bad-1", "bad-2"]
    assert page.column("attention-pending") == ["down-0", "never-sent"]
    assert page.column("attention-missing") == ["lost-0", "lost-1"]
    assert "Overdue: 25" in page.text and "The first 20 of 25 below" in page.text
    assert "Rejected: 3" in page.text and "All 3 below." in page.text
    assert ("27 of 32 finished requests finished within the deadline of 72 h; 5 after it"
            in page.text)
    assert len([tag for tag, _ in page.tags if tag == "rect"]) == 25
    assert page.body("runs")[-2:] == [["reconcile", at(24), "no end recorded", "—", "5200"],
                                      ["reconcile", at(0), at(0), "4 (attention)", "5300"]]
    assert page.body("inputs") == [["exports/users-2026-05.csv", "1,234,567", "ab" * 32,
                                    at(600)]]
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": CSP}) in page.tags

    assert seen.page_requests == []
    assert seen.proxied_hosts <= seen.browser_hosts


@browser
def test_the_probe_sees_a_page_that_does_load_something(tmp_path: Path) -> None:
    """The probe is not blind: a page without the CSP that loads an image is caught twice,
    in the net log as the page's request and at the proxy."""
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><p>leaky</p><img src="http://198.51.100.7/pixel.png">',
                    encoding="utf-8")
    seen = visit(page, tmp_path)
    assert seen.page_requests == ["http://198.51.100.7/pixel.png"]
    assert "198.51.100.7" in seen.proxied_hosts - seen.browser_hosts


@browser
def test_a_hostile_id_is_text_in_the_browser(tmp_path: Path) -> None:
    """An ID that is markup shows as its own text in the rejected list: no element, no load."""
    write_page(tmp_path / "report.html", page_data(report(hostile=True)))
    seen = visit(tmp_path / "report.html", tmp_path)
    assert seen.dom.body("attention-rejected")[0][:3] == [HOSTILE, "422", HOSTILE]  # '<' < 'b'

    assert not [tag for tag, _ in seen.dom.tags if tag in ("script", "img")]
    assert seen.page_requests == []


@browser
async def test_a_reconcile_writes_the_page_beside_the_report(tmp_path: Path) -> None:
    """Each reconcile writes report.html beside the report: chromium shows the job's counts
    and figures, the input file with its SHA-256, and both runs, this one still running."""
    run = Harness(tmp_path, FakeJune(state="finished", answers={"u03": [422]}))
    source = tmp_path / "ids.csv"
    await run.submit(["u01", "u02", "u03", ""])
    await run.reconcile()
    state = tmp_path / "state"
    assert (state / "report.html").stat().st_mode & 0o777 == 0o600
    page = visit(state / "report.html", tmp_path).dom
    assert dict(page.body("outcome")) == {"accepted": "2", "invalid": "1", "rejected": "1",
                                          "total": "4"}
    assert page.column("figures", 1)[:3] == ["2", "2", "0"]
    assert page.column("attention-rejected") == ["u03"]
    assert page.body("inputs") == [[str(source), f"{source.stat().st_size:,}",
                                    file_digest(source)[1], ANY_TIME]]
    assert [(row[0], row[2]) for row in page.body("runs")] == [
        ("submit", ANY_TIME), ("reconcile", "running: it wrote this page")]
    assert not visit(state / "report.html", tmp_path).page_requests

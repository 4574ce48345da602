"""Everything a person or a log collector is told: the one module that prints.

Commands hand their results to a :class:`View` as they come (the plan before
anything is sent, the tallies, the reconcile summary); the view writes the text
people read to stdout, notices to stderr, and the same results as JSON log
events (``bulk_delete.plan``, ``bulk_delete.submitted``, ``bulk_delete.reconciled``).
While requests go out, and while June's listing is read, it shows live progress: a bar on
a terminal, a progress event every LOG_EVERY seconds in JSON mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import click
import polars as pl
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bulk_delete.holdback import describe_pace, pace_brief
from bulk_delete.logs import get_logger
from bulk_delete.plan import Plan
from bulk_delete.progress import ListingTally, Tally
from bulk_delete.ratelimit import Limit
from bulk_delete.retain import Retained
from bulk_delete.stories import Story, story_text
from bulk_delete.tasks import alongside
from bulk_delete.verification import Checked, failures

#: Seconds between progress log lines in JSON mode.
LOG_EVERY = 5.0
#: Invalid rows located in the plan text; the report lists them all.
SHOWN_INVALID = 5
HEADINGS = ("rows", "invalid", "duplicate", "already done", "to send")


@dataclass(frozen=True)
class Status:
    """What ``status`` found in a checkpoint directory, offline."""

    directory: Path
    kind: str
    api_host: str
    created_at: str
    ids: int
    #: IDs by their latest outcome.
    outcomes: dict[str, int]
    #: The last lines of runs.jsonl that started and ended a run, if any.
    last_start: dict[str, Any] | None
    last_end: dict[str, Any] | None
    #: IDs the journal holds as pseudonyms; each retain that erased rows (at, rows); the
    #: fingerprint of the pseudonyms' key.
    pseudonymized: int = 0
    erased: list[dict[str, Any]] = field(default_factory=list)
    pseudonym_key: str | None = None


class View:
    """Where results become words: text for people, events for collectors."""

    def __init__(self, log_format: Literal["console", "json"], *, out: TextIO | None = None,
                 err: TextIO | None = None) -> None:
        self.log_format = log_format
        self._out = out
        self._err = err
        self._log = get_logger()

    def _say(self, text: str) -> None:
        click.echo(text, file=self._out or sys.stdout)

    def plan(self, plan: Plan) -> None:
        """The plan table, before anything is sent."""
        self._say(format_plan(plan))
        self._log.info("bulk_delete.plan", **plan.totals_dict())

    def shard(self, index: int, count: int, mine: int, of: int, rate: float) -> None:
        self._say(f"shard {index}/{count}: {mine:,} of {of:,} IDs to send are this shard's; "
                  f"rate {rate:g}/s")

    def dry_run(self, requests: Sequence[tuple[str, bytes]], total: int) -> None:
        """The first requests a run would send, as method, URL and body."""
        for url, body in requests:
            self._say(f"would POST {url} {body.decode()}")
        if total > len(requests):
            self._say(f"... and {total - len(requests):,} more")
        self._say(f"dry run: {total:,} requests would be sent; nothing was sent")

    def sandbox(self, url: str) -> None:
        click.echo(f"SANDBOX: requests go to a local imitation of June at {url}; "
                   "nothing real is deleted.", file=self._err or sys.stderr)

    def skipped_existing(self, count: int) -> None:
        self._say(f"June already holds {count:,} of them (--skip-existing): not sent again")

    def nothing_to_send(self) -> None:
        self._say("nothing to send")

    @contextlib.asynccontextmanager
    async def sending(self, tally: Tally) -> AsyncIterator[None]:
        """Show ``tally`` while the block runs: a live bar (console) or log lines (JSON)."""
        show = self._log_lines(tally) if self.log_format == "json" else self._bar(tally)
        async with alongside(show):
            yield

    @contextlib.asynccontextmanager
    async def reading(self, tally: ListingTally) -> AsyncIterator[None]:
        """Show a listing read while the block runs, as :meth:`sending` does; then what it
        read, as one event."""
        show = (self._log_lines(tally, "bulk_delete.listing_progress")
                if self.log_format == "json" else self._listing_bar(tally))
        async with alongside(show):
            yield
        self._log.info("bulk_delete.listing_read", **tally.snapshot())

    def submitted(self, tally: Tally, ending: str, stated: Limit | None = None) -> None:
        """The submission's counts, and the rate limit June stated, if it did."""
        limit = {} if stated is None else {"stated_limit": stated.count,
                                           "stated_window_seconds": stated.window}
        self._log.info("bulk_delete.submitted", ending=ending, **tally.snapshot(), **limit)
        said = "" if stated is None else f"; June states a limit of {stated}"
        self._say(f"sent:        accepted {tally.accepted:,}, already requested "
                  f"{tally.already_requested:,}, rejected {tally.rejected:,}, failed "
                  f"{tally.failed:,} of {tally.total:,} in {tally.elapsed():.1f} s "
                  f"({tally.requests:,} requests, {tally.throttled:,} throttled{said})")
        if tally.pace is not None:
            self._say(f"{'rate:':<13}{describe_pace(tally.pace)}")

    def doctor_found(self, findings: dict[str, Any] | None) -> None:
        """Before June's listing is read: the problems the last ``doctor`` recorded, if any,
        as one warning (its paging may keep the read from its end)."""
        if findings and findings.get("problems"):
            self._log.warning("bulk_delete.doctor_problems", doctor_at=findings.get("at"),
                              problems=findings["problems"],
                              detail="doctor found these; IDs the listing read cannot "
                                     "verify are reported unverified, never missing")

    def reconciled(self, summary: dict[str, Any], report: Path) -> None:
        self._log.info("bulk_delete.reconciled", report=str(report), **summary)
        self._say(describe(summary, report))

    def retained(self, done: Retained) -> None:
        """What retain pseudonymized and erased, and which files it rewrote."""
        policy = done.policy
        self._log.info("bulk_delete.retained", pseudonymized=done.pseudonymized,
                       erased=done.erased, files=list(done.files),
                       pseudonymize_after_days=policy.pseudonymize_after,
                       erase_after_days=policy.erase_after)
        rules = [f"{what} after {days} days" for what, days in
                 (("pseudonymize", policy.pseudonymize_after), ("erase", policy.erase_after))
                 if days is not None]
        self._say(f"{'retain:':<13}" + "; ".join(rules) + f": pseudonymized {done.pseudonymized:,}"
                  f" IDs, erased the rows of {done.erased:,}"
                  + (f"; rewrote {len(done.files):,} files" if done.files else
                     "; nothing was due, nothing changed"))

    def acknowledged(self, entries: pl.DataFrame, report: Path) -> None:
        """What a person just acknowledged, by kind of attention."""
        counts = dict(entries.group_by("category").len().sort("category").rows())
        self._log.info("bulk_delete.acknowledged", rows=entries.height, **counts)
        if not entries.height:
            self._say(f"{'acknowledged:':<13} nothing: no row matches that nobody acknowledged")
            return
        kinds = ", ".join(f"{name} {n:,}" for name, n in counts.items())
        self._say(f"{'acknowledged:':<13} {kinds}, by {entries['by'][0]} at "
                  f"{entries['at'][0]}: {entries['reason'][0]}")
        self._say(f"{'report:':<13}{report} (and its summary and page) show the decision")

    def doctor(self, rows: Sequence[tuple[str, str]]) -> None:
        """What doctor found, a row per topic; JSON mode logs the same as one event."""
        width = max(len(topic) for topic, _ in rows)
        for topic, text in rows:
            self._say(f"{topic:<{width}}  {text}")
        self._log.info("bulk_delete.diagnosis", **dict(rows))

    def sealed(self, directory: Path, head: str) -> None:
        """The digest record's head: kept elsewhere, it proves the record was not rewritten."""
        self._log.info("bulk_delete.sealed", directory=str(directory), head=head)
        self._say(f"{'digests:':<13}{directory / 'digests.jsonl'}, head {head}")

    def verified(self, checked: list[Checked]) -> None:
        """Each directory's record, then one line per file: ok, or what changed."""
        failed = failures(checked)
        for each in checked:
            self._log.info("bulk_delete.verified", directory=str(each.directory),
                           records=each.records, head=each.head,
                           findings=[{"status": f.status, "path": f.path, "detail": f.detail}
                                     for f in each.findings])
            self._say(f"{'verify:':<13}{each.directory} ({each.records:,} digest records, "
                      f"head {each.head or 'none'})")
            for f in each.findings:
                status = f.status.upper() if f.failed else f.status
                self._say(f"  {status:<11}{f.path}: {f.detail}")
        files = "1 file does" if failed == 1 else f"{failed:,} files do"
        self._say(f"{'result:':<13}" + (f"{files} not match the record (changed, truncated, "
                                        "edited, missing or unrecorded): exit 4" if failed else
                                        "every file matches its record: exit 0"))

    def looked_up(self, stories: list[Story], *, as_json: bool) -> None:
        """Each ID's story: JSON (one document) with ``as_json``, else text for people."""
        if as_json:
            click.echo(json.dumps([s.as_dict() for s in stories], indent=2),
                       file=self._out or sys.stdout)
            return
        self._say("\n\n".join(story_text(s) for s in stories))

    def status(self, found: Status) -> None:
        self._say(f"checkpoint:  {found.directory} ({found.kind}s, {found.api_host}, "
                  f"created {found.created_at})")
        self._say(f"IDs:         {found.ids:,} in the journal"
                  + "".join(f", {name} {n:,}" for name, n in found.outcomes.items()))
        if found.last_start:
            self._say(f"last run:    {found.last_start.get('command')} started "
                      f"{found.last_start.get('at')}")
        if found.last_end:
            self._say(f"last end:    {found.last_end.get('at')}, exit code "
                      f"{found.last_end.get('exit_code')}")
        if found.pseudonym_key or found.erased:
            erased = sum(e["rows"] for e in found.erased)
            last = f", last on {found.erased[-1]['at']}" if found.erased else ""
            self._say(f"retention:   {found.pseudonymized:,} IDs held as pseudonyms (key "
                      f"fingerprint {found.pseudonym_key or 'none'}); {erased:,} rows "
                      f"erased{last}")

    async def _log_lines(self, tally: Tally | ListingTally,
                         event: str = "bulk_delete.progress") -> None:
        while True:
            await asyncio.sleep(LOG_EVERY)
            self._log.info(event, **tally.snapshot())

    async def _bar(self, tally: Tally) -> None:
        bar = Progress(TextColumn("deleting"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[per_second]:.1f}/s"),
                       TextColumn("rejected {task.fields[rejected]} failed {task.fields[failed]}"),
                       TextColumn("{task.fields[pace]}"),
                       TimeRemainingColumn(), console=Console(file=self._err or sys.stderr),
                       transient=True)
        task_id = bar.add_task("deleting", total=tally.total, per_second=0.0, rejected=0,
                               failed=0, pace="")
        with bar:
            while True:
                bar.update(task_id, completed=tally.done, per_second=tally.per_second(),
                           rejected=tally.rejected, failed=tally.failed,
                           pace="" if tally.pace is None else pace_brief(tally.pace))
                await asyncio.sleep(0.2)

    async def _listing_bar(self, tally: ListingTally) -> None:
        bar = Progress(TextColumn("reading June's {task.fields[read]}"), BarColumn(),
                       TextColumn("page {task.completed:,.0f}"),
                       TextColumn("{task.fields[records]:,} records{task.fields[found]}"),
                       TextColumn("{task.fields[per_second]:.1f} pages/s"),
                       TimeRemainingColumn(), console=Console(file=self._err or sys.stderr),
                       transient=True)
        task_id = bar.add_task("reading", total=None, read=tally.read, records=0, found="",
                               per_second=0.0)
        with bar:
            while True:
                found = ("" if tally.wanted is None
                         else f", {tally.found:,} of {tally.wanted:,} found")
                bar.update(task_id, completed=tally.pass_pages, total=tally.pass_total,
                           read=tally.read, records=tally.records, found=found,
                           per_second=tally.per_second())
                await asyncio.sleep(0.2)


def format_plan(plan: Plan) -> str:
    """The plan as a plain-text table (each file, then the total), then where invalid rows are."""
    lines = [*plan.files, plan.total]
    cells = [[f"{n:,}" for n in (c.rows, c.invalid, c.duplicate, c.done, c.to_send)] for c in lines]
    name_width = max(len("file"), *(len(c.name) for c in lines))
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(HEADINGS)]

    def line(name: str, values: Sequence[str]) -> str:
        numbers = (value.rjust(width) for value, width in zip(values, widths, strict=True))
        return "  ".join([name.ljust(name_width), *numbers])

    table = [
        line("file", HEADINGS),
        *(line(c.name, row) for c, row in zip(lines, cells, strict=True)),
    ]
    return "\n".join([*table, *_invalid_note(plan.invalid_rows)])


def _invalid_note(invalid_rows: pl.DataFrame) -> list[str]:
    if invalid_rows.is_empty():
        return []
    shown = invalid_rows.head(SHOWN_INVALID)
    places = ", ".join(f"{file}:{line}" for file, line in shown.select("file", "line").iter_rows())
    more = invalid_rows.height - shown.height
    return [
        f"invalid (empty or control characters): {places}" + (f" and {more:,} more" if more else "")
    ]


def describe(summary: dict[str, Any], report: Path) -> str:
    """A short summary for people, printed after reconcile."""

    def line(title: str, counts: dict[str, int]) -> str:
        parts = [f"{name} {n:,}" for name, n in counts.items() if n] or ["none"]
        return f"{title:<13}" + ", ".join(parts)

    lines = [line("outcomes:", summary["outcome"]), line("June says:", summary["server_state"]),
             line("attention:", summary["attention"])]
    if summary.get("unverified_reason"):
        lines.append(f"{'unverified:':<13}June's listing was not read to its end, so the sent "
                     "IDs it did not show are unverified, not missing: "
                     f"{summary['unverified_reason']}. Run doctor, check --api-url, then "
                     "reconcile again")
    if any(summary.get("acknowledged", {}).values()):
        lines.append(line("acknowledged:", summary["acknowledged"]))
    figures = summary.get("figures")
    if figures:
        lines.append(f"{'figures:':<13}sent {figures['requests_sent']:,}, completed "
                     f"{figures['completed']:,}, still open {figures['still_open']:,}; hours "
                     f"to finish: median {_hours(figures['median_hours_to_finish'])}, "
                     f"90th percentile {_hours(figures['p90_hours_to_finish'])}")
    lines += [f"{'report:':<13}{report}", f"{'page:':<13}{report.with_name('report.html')}"]
    return "\n".join(lines)


def _hours(value: float | None) -> str:
    return "none yet" if value is None else f"{value:,.1f} h"

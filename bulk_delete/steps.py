"""The steps commands are made of, and the run around them.

A command runs :func:`in_checkpoint` (the lock, signal handlers, a start and an end line in
runs.jsonl, the digest seal), plans with :func:`planned`, opens its connection with
:func:`connected`, then takes :func:`submit_step` and/or :func:`reconcile_step`. Results go to
the view as they come; nothing here prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from bulk_delete import config, evidence, inputs, journal, plan, report_rows, retain, shards
from bulk_delete.checkpoint import Checkpoint
from bulk_delete.config import Settings
from bulk_delete.connection import Connect, Connection
from bulk_delete.digests import Chain, InputFile
from bulk_delete.errors import BulkDeleteError, ExitCode
from bulk_delete.interrupts import Interrupts
from bulk_delete.listing import Listed, Listing
from bulk_delete.logs import get_logger
from bulk_delete.preflight import probe, read_with_auth
from bulk_delete.present import View
from bulk_delete.progress import ListingTally, Tally
from bulk_delete.pseudonyms import PseudonymKey, require
from bulk_delete.submit import Submitter, skip_listed


@dataclass(frozen=True)
class Checking:
    """How reconcile reports: where, the deadline, and whether 'in progress' counts as done."""

    report: Path | None = None
    deadline_hours: float = 72.0
    #: Exit 0 rather than 3 while June is still working (schedulers read non-zero as failure).
    pending_ok: bool = False
    #: Read June's whole listing for every sent ID, also those the history knows finished,
    #: even once every ID looked for has been found.
    full: bool = False
    #: What ``retain`` does once the evidence is written (the cron's nightly policy).
    retention: retain.Policy = field(default_factory=retain.Policy)


@dataclass(frozen=True)
class Source:
    """Where the IDs come from: files or globs, the column, and whether CSVs have a header."""

    paths: tuple[str, ...]
    column: str | None = None
    has_header: bool = True


async def in_checkpoint(settings: Settings, command: str,
                         step: Callable[[Checkpoint, Interrupts], Awaitable[ExitCode]],
                         view: View, *, create: bool, needs_key: bool = True) -> ExitCode:
    """Run ``step`` on the locked checkpoint, under signal handlers, logged in runs.jsonl;
    an offline command (``needs_key`` False) needs no API key."""
    with contextlib.ExitStack() as stack:
        interrupts = stack.enter_context(Interrupts())
        [checkpoint] = opened(stack, settings, [settings.checkpoint_dir], command, create=create,
                              needs_key=needs_key)
        return await logged([checkpoint], command, lambda: step(checkpoint, interrupts),
                             interrupts, view)


def opened(stack: contextlib.ExitStack, settings: Settings, directories: list[Path],
           command: str, *, create: bool, needs_key: bool = True) -> list[Checkpoint]:
    """Each checkpoint directory opened and locked for ``command`` until ``stack`` closes;
    the key is checked first."""
    if needs_key and not settings.sandbox:
        settings.require_key()  # before minutes of reading millions of IDs
    kind, api_host = config.claims(settings, create=create)
    return [stack.enter_context(Checkpoint.open(directory, kind=kind, api_host=api_host,
                                                create=create, command=command))
            for directory in directories]


async def logged(checkpoints: list[Checkpoint], command: str,
                  step: Callable[[], Awaitable[ExitCode]], interrupts: Interrupts, view: View,
                  *, after: Callable[[], None] | None = None) -> ExitCode:
    """Run ``step`` between a start and an end line in each runs.jsonl, then seal each digest
    record (the journal as it stands, whatever the ending) and show its head."""
    for checkpoint in checkpoints:
        checkpoint.log_run(event="start", command=command)
    code: int = ExitCode.INTERNAL
    ended = False
    try:
        try:
            code = await step()
        except asyncio.CancelledError:
            if interrupts.received is None:
                raise
            code = interrupts.exit_code()
            get_logger().warning("bulk_delete.interrupted",
                                 signal=signal.Signals(interrupts.received).name)
        ended = True
    except BulkDeleteError as exc:
        code = exc.exit_code
        raise
    finally:
        _end(checkpoints, command, code, view, after, failing=not ended)
    return ExitCode(code)


def _end(checkpoints: list[Checkpoint], command: str, code: int, view: View,
         after: Callable[[], None] | None, *, failing: bool) -> None:
    """The end lines and the seals. When the run is already failing (a full disk, say), a
    seal that fails too is a warning: the first error is the one to tell."""
    try:
        for checkpoint in checkpoints:
            checkpoint.log_run(event="end", command=command, exit_code=int(code))
            view.sealed(checkpoint.directory, checkpoint.seal())
        if after is not None:
            after()
    except BulkDeleteError as exc:
        if not failing:
            raise
        get_logger().warning("bulk_delete.not_sealed", reason=str(exc))


@contextlib.asynccontextmanager
async def connected(connect: Connect, settings: Settings, checkpoint: Checkpoint,
                     view: View) -> AsyncIterator[Connection]:
    """The command's connection; the view hears first when it goes to a sandbox."""
    async with connect(settings, checkpoint.journal_path) as conn:
        if conn.sandbox_url is not None:
            view.sandbox(conn.sandbox_url)
        yield conn


def plan_ids(settings: Settings, source: Source, journal_path: Path, view: View, *,
             key: PseudonymKey | None = None) -> tuple[plan.Plan, tuple[InputFile, ...]]:
    """The plan, shown, and the digest of each input file as it was read; with ``key``, an
    ID whose pseudonym the journal holds is done too."""
    done = journal.read(journal_path, final_only=True, columns=["id"])["id"]
    read = inputs.read_ids(source.paths, kind=settings.kind, column=source.column,
                           has_header=source.has_header)
    hide = None if key is None else functools.partial(key.of, settings.kind)
    the_plan = plan.make_plan(read.ids, read.files, done, hide)
    view.plan(the_plan)
    if settings.shard is None:
        return the_plan, read.receipts
    index, count = settings.shard
    mine = the_plan.sending.filter(shards.in_shard(the_plan.to_send, index, count))
    view.shard(index, count, mine.height, len(the_plan.to_send), settings.rate)
    # Shard 1 alone reports the invalid rows.
    invalid = the_plan.invalid_rows if index == 1 else the_plan.invalid_rows.clear()
    return replace(the_plan, sending=mine, invalid_rows=invalid), read.receipts


def planned(settings: Settings, source: Source, checkpoint: Checkpoint, view: View, *,
            key: PseudonymKey | None = None) -> pl.Series:
    """The IDs to send, after the plan is shown and kept, with each input file's digest; a
    checkpoint that holds pseudonyms is refused without their key."""
    require(checkpoint.manifest.pseudonym_key, key, checkpoint.command or "submit")
    the_plan, receipts = plan_ids(settings, source, checkpoint.journal_path, view, key=key)
    for receipt in receipts:
        checkpoint.digests().input(receipt)
    checkpoint.save_plan(the_plan.for_report())
    return the_plan.to_send


async def read_listed(conn: Connection, view: View, wanted: pl.Series, *, full: bool = False,
                      spill: Callable[[pl.DataFrame], None] | None = None) -> Listed:
    """June's records of the ``wanted`` subjects (a shard's are its own: a 1/N share of
    memory), read while the view shows progress; with ``spill``, handed over as they come.
    With them, the reads that stopped before June's end (Listed.stops)."""
    settings = conn.settings
    tally = ListingTally()
    listing = Listing(conn.client, conn.pacer, kind=settings.kind,
                      auth_style=settings.auth_style, max_attempts=settings.max_attempts,
                      window=settings.concurrency, events=tally)
    async with view.reading(tally):
        return await listing.read(wanted, full=full, spill=spill)


async def submit_step(conn: Connection, checkpoint: Checkpoint, to_send: pl.Series,
                       interrupts: Interrupts, view: View, *, skip_existing: bool) -> ExitCode:
    settings = conn.settings
    the_journal = checkpoint.journal()
    if skip_existing and len(to_send):  # the read is the preflight
        listed = (await read_with_auth(conn, checkpoint,
                                       lambda: read_listed(conn, view, to_send))).frame["subject"]
        before = len(to_send)
        to_send = await skip_listed(the_journal, to_send, listed)
        view.skipped_existing(before - len(to_send))
    elif len(to_send):
        await probe(conn, checkpoint)
    if not len(to_send):
        view.nothing_to_send()
        return ExitCode.OK
    tally = Tally(total=len(to_send))
    submitter = Submitter(conn.client, conn.pacer, the_journal, concurrency=settings.concurrency,
                          max_attempts=settings.max_attempts, tally=tally)
    interrupts.submitter = submitter
    try:
        async with view.sending(tally):
            ending = await submitter.run(_chunks(to_send))
    finally:
        interrupts.submitter = None
    view.submitted(tally, ending.value, conn.pacer.stated)
    return submitter.exit_code(settings.auth_style)


async def reconcile_step(conn: Connection, checkpoints: list[Checkpoint], chain: Chain,
                          checking: Checking, view: View) -> ExitCode:
    """Read June's listing for the sent IDs not yet known finished, then write the evidence:
    each checkpoint's history, and one report, summary and page, all recorded in ``chain``."""
    for checkpoint in checkpoints:
        checkpoint.journal()  # cuts a torn last line
    report = checking.report or chain.directory / "report.csv"
    # Every journal line is checked here, before an hour of paging, not after.
    with evidence.Workspace(chain.directory, [c.directory for c in checkpoints]) as work:
        wanted = work.wanted(full=checking.full)
        view.doctor_found(checkpoints[0].manifest.doctor)
        # Only these IDs' records are kept from the listing, spilled to the workspace as
        # they come: millions of records are never held at once.
        listed = await read_with_auth(conn, checkpoints[0], functools.partial(
            read_listed, conn, view, wanted, full=checking.full, spill=work.keep))
        del wanted
        job = evidence.Job(kind=conn.settings.kind, api_host=checkpoints[0].manifest.api_host,
                           report=report, now=datetime.now(UTC),
                           deadline_hours=checking.deadline_hours,
                           stops=listed.stops)
        written = work.write(job)
    for checkpoint in checkpoints:
        if checkpoint.directory in written.history:
            checkpoint.digests().whole(written.history[checkpoint.directory], "history")
    for path, role in ((written.report, "report"), (written.summary_path, "summary"),
                       (written.page, "page")):
        chain.whole(path, role)
    view.reconciled(written.summary, report)
    return report_rows.exit_code(written.summary, pending_ok=checking.pending_ok)


def retain_step(checkpoint: Checkpoint, policy: retain.Policy, view: View) -> None:
    """Pseudonymize and erase what ``policy`` says is due now, and say what was done."""
    view.retained(retain.apply(checkpoint, policy, datetime.now(UTC)))


def _chunks(ids: pl.Series, size: int = 10_000) -> Iterator[str]:
    """The IDs as Python strings, a slice at a time (millions at once would cost ~60 B each)."""
    for offset in range(0, len(ids), size):
        yield from ids.slice(offset, size).to_list()

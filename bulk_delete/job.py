"""Each command end to end: checkpoint, plan, connection, signals -> results -> ExitCode.

Commands decide; they do not talk. Each result goes to the :class:`~bulk_delete.present.View`
the moment it exists (the plan before anything is sent), and the exit code comes back.
The connection is opened through ``connect``, the seam where tests put a fake client.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from bulk_delete import api, config, evidence, inputs, journal, plan, shards
from bulk_delete import doctor as doctoring
from bulk_delete import lookup as looking
from bulk_delete import reconcile as joining
from bulk_delete import report as reports
from bulk_delete import verify as verifying
from bulk_delete.checkpoint import Checkpoint, last_runs, read_manifest
from bulk_delete.config import Settings
from bulk_delete.connection import Connect, Connection, connect
from bulk_delete.digests import NAME as DIGESTS
from bulk_delete.digests import Chain, InputFile
from bulk_delete.errors import BulkDeleteError, ExitCode, UsageError
from bulk_delete.interrupts import Interrupts
from bulk_delete.listing import Listing
from bulk_delete.logs import get_logger
from bulk_delete.preflight import probe, read_with_auth
from bulk_delete.present import Status, View
from bulk_delete.progress import ListingTally, Tally
from bulk_delete.submit import Submitter, skip_listed

__all__ = ["Checking", "Source", "doctor", "dry_run", "lookup", "reconcile", "run", "status",
           "submit", "verify"]

#: How many planned requests a dry run shows.
DRY_RUN_SHOWN = 5
#: The job size doctor estimates for when it is given neither --ids nor input files.
DOCTOR_IDS = 1_000_000


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


@dataclass(frozen=True)
class Source:
    """Where the IDs come from: files or globs, the column, and whether CSVs have a header."""

    paths: tuple[str, ...]
    column: str | None = None
    has_header: bool = True


def dry_run(settings: Settings, source: Source, view: View) -> ExitCode:
    """Read and plan, show the plan and the first requests; send nothing, need no key."""
    manifest = read_manifest(settings.checkpoint_dir)
    if manifest is not None and manifest.kind != settings.kind:
        raise UsageError(f"{settings.checkpoint_dir} belongs to a {manifest.kind} job, "
                         f"not {settings.kind}")
    to_send = _plan(settings, source, settings.checkpoint_dir / journal.NAME, view)[0].to_send
    url = api.deletion_url(settings.api_url, settings.kind)
    shown = [(url, api.deletion_body(settings.kind, subject))
             for subject in to_send.head(DRY_RUN_SHOWN)]
    view.dry_run(shown, len(to_send))
    return ExitCode.OK


async def submit(settings: Settings, source: Source, view: View, *, skip_existing: bool,
                 connect: Connect = connect) -> ExitCode:
    """Plan, then send every planned ID."""

    async def step(checkpoint: Checkpoint, interrupts: Interrupts) -> ExitCode:
        to_send = _planned(settings, source, checkpoint, view)
        async with _connected(connect, settings, checkpoint, view) as conn:
            return await _submit_step(conn, checkpoint, to_send, interrupts, view,
                                      skip_existing=skip_existing)

    return await _in_checkpoint(settings, "submit", step, view, create=True)


async def run(settings: Settings, source: Source, view: View, *, skip_existing: bool,
              checking: Checking, connect: Connect = connect) -> ExitCode:
    """Submit, then reconcile: the cron default."""
    if checking.report is not None:
        reports.check_path(checking.report)

    async def step(checkpoint: Checkpoint, interrupts: Interrupts) -> ExitCode:
        to_send = _planned(settings, source, checkpoint, view)
        async with _connected(connect, settings, checkpoint, view) as conn:
            code = await _submit_step(conn, checkpoint, to_send, interrupts, view,
                                      skip_existing=skip_existing)
            if code not in (ExitCode.OK, ExitCode.ATTENTION):
                return code
            return await _reconcile_step(conn, [checkpoint], checkpoint.digests(), checking,
                                         view)

    return await _in_checkpoint(settings, "run", step, view, create=True)


async def reconcile(settings: Settings, view: View, *, checking: Checking,
                    connect: Connect = connect) -> ExitCode:
    """Page June's listing and write the report for everything the checkpoint holds.

    On a directory of shards (``shard-K-of-N/``) it reads the listing once for all of them
    and writes one report there; each shard keeps its own history.
    """
    if checking.report is not None:
        reports.check_path(checking.report)
    members = shards.directories(settings.checkpoint_dir)
    if members:
        return await _reconcile_shards(settings, members, view, checking, connect)

    async def step(checkpoint: Checkpoint, _interrupts: Interrupts) -> ExitCode:
        held = checkpoint.manifest
        effective = config.for_job(settings, kind=held.kind, api_host=held.api_host,
                                   directory=checkpoint.directory)
        async with _connected(connect, effective, checkpoint, view) as conn:
            return await _reconcile_step(conn, [checkpoint], checkpoint.digests(), checking,
                                         view)

    return await _in_checkpoint(settings, "reconcile", step, view, create=False)


async def _reconcile_shards(settings: Settings, members: list[Path], view: View,
                            checking: Checking, connect: Connect) -> ExitCode:
    """One reconcile over every shard of a job: one listing read, one report in the parent."""
    if settings.sandbox:
        raise UsageError("--sandbox reconciles one checkpoint at a time: add --shard K/N")
    settings.require_key()
    kind, api_host = config.claims(settings, create=False)
    parent = settings.checkpoint_dir
    with Interrupts() as interrupts, contextlib.ExitStack() as stack:
        checkpoints = [stack.enter_context(Checkpoint.open(
            directory, kind=kind, api_host=api_host, create=False, command="reconcile"))
            for directory in members]
        held = checkpoints[0].manifest
        for other in checkpoints[1:]:  # the first one's kind and host bind the others
            if (other.manifest.kind, other.manifest.api_host) != (held.kind, held.api_host):
                raise UsageError(f"{other.directory} belongs to another job than "
                                 f"{checkpoints[0].directory} (kind or API host differ)")
        effective = config.for_job(settings, kind=held.kind, api_host=held.api_host,
                                   directory=parent)
        chain = stack.enter_context(contextlib.closing(Chain.open(parent, "reconcile")))

        async def step() -> ExitCode:
            async with _connected(connect, effective, checkpoints[0], view) as conn:
                return await _reconcile_step(conn, checkpoints, chain, checking, view)

        def seal_parent() -> None:
            for checkpoint in checkpoints:  # ties each shard's record to this one
                chain.prefix(checkpoint.directory / DIGESTS, "shard digests")
            view.sealed(parent, chain.head)

        return await _logged(checkpoints, "reconcile", step, interrupts, view,
                             after=seal_parent)


async def doctor(settings: Settings, source: Source | None, view: View, *, ids: int | None,
                 connect: Connect = connect) -> ExitCode:
    """Probe June, read-only, and keep what it found in the manifest: exit 0, 4 or 5.

    The estimate is for ``ids`` IDs, else for the IDs ``source`` would send, else for
    DOCTOR_IDS.
    """

    async def step(checkpoint: Checkpoint, _interrupts: Interrupts) -> ExitCode:
        count = ids
        if count is None and source is not None:
            count = len(_plan(settings, source, checkpoint.journal_path, view)[0].to_send)
        async with _connected(connect, settings, checkpoint, view) as conn:
            diagnosis = await doctoring.examine(conn, ids=DOCTOR_IDS if count is None else count)
        if "auth_style" in diagnosis.record and diagnosis.record["auth_style"] is not None:
            checkpoint.record_auth_style(diagnosis.record["auth_style"])
        checkpoint.record_doctor(diagnosis.record)
        view.doctor(diagnosis.rows)
        return diagnosis.exit_code

    return await _in_checkpoint(settings, "doctor", step, view, create=True)


def status(settings: Settings) -> Status:
    """Counts by outcome and the last run, read offline without taking the lock."""
    directory = settings.checkpoint_dir
    manifest = read_manifest(directory)
    if manifest is None:
        raise UsageError(f"{directory} is not a checkpoint directory (no manifest.json)")
    latest = journal.read(directory / journal.NAME).unique("id", keep="last")
    runs = last_runs(directory)
    starts = [r for r in runs if r.get("event") == "start"]
    ends = [r for r in runs if r.get("event") == "end"]
    return Status(directory=directory, kind=manifest.kind, api_host=manifest.api_host,
                  created_at=manifest.created_at, ids=latest.height,
                  outcomes=dict(latest.group_by("outcome").len().sort("outcome").rows()),
                  last_start=starts[-1] if starts else None, last_end=ends[-1] if ends else None)


def verify(settings: Settings, view: View, *, report: Path | None,
           head: str | None) -> ExitCode:
    """Check the checkpoint and its report against the digest record, offline: 4 on any
    change, truncation or edit, else 0."""
    checked = verifying.verify(settings.checkpoint_dir, report=report, head=head)
    view.verified(checked)
    failed = any(finding.failed for each in checked for finding in each.findings)
    return ExitCode.ATTENTION if failed else ExitCode.OK


def lookup(settings: Settings, ids: Sequence[str], view: View, *, as_json: bool) -> ExitCode:
    """Each ID's story, offline, without the lock."""
    view.looked_up(looking.lookup(settings.checkpoint_dir, ids), as_json=as_json)
    return ExitCode.OK


async def _in_checkpoint(settings: Settings, command: str,
                         step: Callable[[Checkpoint, Interrupts], Awaitable[ExitCode]],
                         view: View, *, create: bool) -> ExitCode:
    """Run ``step`` on the locked checkpoint, under signal handlers, logged in runs.jsonl."""
    if not settings.sandbox:
        settings.require_key()  # before minutes of reading millions of IDs
    kind, api_host = config.claims(settings, create=create)
    with Interrupts() as interrupts, Checkpoint.open(
        settings.checkpoint_dir, kind=kind, api_host=api_host, create=create, command=command,
    ) as checkpoint:
        return await _logged([checkpoint], command, lambda: step(checkpoint, interrupts),
                             interrupts, view)


async def _logged(checkpoints: list[Checkpoint], command: str,
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
async def _connected(connect: Connect, settings: Settings, checkpoint: Checkpoint,
                     view: View) -> AsyncIterator[Connection]:
    """The command's connection; the view hears first when it goes to a sandbox."""
    async with connect(settings, checkpoint.journal_path) as conn:
        if conn.sandbox_url is not None:
            view.sandbox(conn.sandbox_url)
        yield conn


def _plan(settings: Settings, source: Source, journal_path: Path,
          view: View) -> tuple[plan.Plan, tuple[InputFile, ...]]:
    """The plan, shown, and the digest of each input file as it was read."""
    done = journal.read(journal_path, final_only=True, columns=["id"])["id"]
    read = inputs.read_ids(source.paths, kind=settings.kind, column=source.column,
                           has_header=source.has_header)
    the_plan = plan.make_plan(read.ids, read.files, done)
    view.plan(the_plan)
    if settings.shard is None:
        return the_plan, read.receipts
    index, count = settings.shard
    mask = shards.in_shard(the_plan.to_send, index, count)
    mine = the_plan.to_send.filter(mask)
    view.shard(index, count, len(mine), len(the_plan.to_send), settings.rate)
    # Shard 1 alone reports the invalid rows.
    invalid = the_plan.invalid_rows if index == 1 else the_plan.invalid_rows.clear()
    return replace(the_plan, to_send=mine, invalid_rows=invalid,
                   sources=the_plan.sources.filter(mask)), read.receipts


def _planned(settings: Settings, source: Source, checkpoint: Checkpoint,
             view: View) -> pl.Series:
    """The IDs to send, after the plan is shown and kept, with each input file's digest."""
    the_plan, receipts = _plan(settings, source, checkpoint.journal_path, view)
    for receipt in receipts:
        checkpoint.digests().input(receipt)
    checkpoint.save_plan(the_plan.for_report())
    return the_plan.to_send


async def _listed(conn: Connection, view: View, wanted: pl.Series, *,
                  full: bool = False) -> pl.DataFrame:
    """June's records of the ``wanted`` subjects, read while the view shows progress."""
    settings = conn.settings
    # A shard reads every page but keeps only its own IDs' records (a 1/N share of memory).
    keep = None if settings.shard is None else functools.partial(
        shards.in_shard, index=settings.shard[0], count=settings.shard[1])
    tally = ListingTally()
    listing = Listing(conn.client, conn.pacer, kind=settings.kind,
                      auth_style=settings.auth_style, max_attempts=settings.max_attempts,
                      window=settings.concurrency, keep=keep, events=tally)
    async with view.reading(tally):
        return await listing.read(wanted, full=full)


async def _submit_step(conn: Connection, checkpoint: Checkpoint, to_send: pl.Series,
                       interrupts: Interrupts, view: View, *, skip_existing: bool) -> ExitCode:
    settings = conn.settings
    the_journal = checkpoint.journal()
    if skip_existing and len(to_send):  # the read is the preflight
        listed = (await read_with_auth(conn, checkpoint,
                                       lambda: _listed(conn, view, to_send)))["subject"]
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


async def _reconcile_step(conn: Connection, checkpoints: list[Checkpoint], chain: Chain,
                          checking: Checking, view: View) -> ExitCode:
    """Read June's listing for the sent IDs not yet known finished, then write the evidence:
    each checkpoint's history, and one report, summary and page, all recorded in ``chain``."""
    for checkpoint in checkpoints:
        checkpoint.journal()  # cuts a torn last line
    report = checking.report or chain.directory / "report.csv"
    # Every journal line is checked here, before an hour of paging, not after.
    with evidence.Workspace(chain.directory, [c.directory for c in checkpoints]) as work:
        wanted = work.wanted(full=checking.full)
        # Only these IDs' records are kept from the listing (1/N of it for a shard).
        listed = await read_with_auth(conn, checkpoints[0], functools.partial(
            _listed, conn, view, wanted, full=checking.full))
        work.keep(listed)
        del wanted, listed
        job = evidence.Job(kind=conn.settings.kind, api_host=checkpoints[0].manifest.api_host,
                           report=report, now=datetime.now(UTC),
                           deadline_hours=checking.deadline_hours)
        written = work.write(job)
    for checkpoint in checkpoints:
        if checkpoint.directory in written.history:
            checkpoint.digests().whole(written.history[checkpoint.directory], "history")
    for path, role in ((written.report, "report"), (written.summary_path, "summary"),
                       (written.page, "page")):
        chain.whole(path, role)
    view.reconciled(written.summary, report)
    return joining.exit_code(written.summary, pending_ok=checking.pending_ok)


def _chunks(ids: pl.Series, size: int = 10_000) -> Iterator[str]:
    """The IDs as Python strings, a slice at a time (millions at once would cost ~60 B each)."""
    for offset in range(0, len(ids), size):
        yield from ids.slice(offset, size).to_list()

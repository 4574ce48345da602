"""Each command end to end: checkpoint, plan, connection, signals, summary -> ExitCode."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import click
import polars as pl

from bulk_delete import inputs, journal, plan, progress, shards
from bulk_delete import reconcile as joining
from bulk_delete import report as reports
from bulk_delete.api import auth_error
from bulk_delete.checkpoint import Checkpoint, last_runs, read_manifest
from bulk_delete.config import SANDBOX_HOST, Settings
from bulk_delete.connection import Connection, connect, preflight, read_june_listing
from bulk_delete.errors import ApiUnavailable, BulkDeleteError, ExitCode, UsageError
from bulk_delete.interrupts import Interrupts
from bulk_delete.logs import get_logger, log_format
from bulk_delete.submit import Ending, Submitter

__all__ = ["Checking", "Source", "dry_run", "reconcile", "run", "status", "submit"]

#: How many planned requests a dry run prints.
DRY_RUN_SHOWN = 5


@dataclass(frozen=True)
class Checking:
    """How reconcile reports: where, the deadline, and whether 'in progress' counts as done."""

    report: Path | None = None
    deadline_hours: float = 72.0
    #: Exit 0 rather than 3 while June is still working (schedulers read non-zero as failure).
    pending_ok: bool = False


@dataclass(frozen=True)
class Source:
    """Where the IDs come from: files or globs, the column, and whether CSVs have a header."""

    paths: tuple[str, ...]
    column: str | None = None
    has_header: bool = True


def dry_run(settings: Settings, source: Source) -> ExitCode:
    """Read and plan, print the plan and the first requests; send nothing, need no key."""
    manifest = read_manifest(settings.checkpoint_dir)
    if manifest is not None and manifest.kind != settings.kind:
        raise UsageError(f"{settings.checkpoint_dir} belongs to a {manifest.kind} job, "
                         f"not {settings.kind}")
    done = journal.read(settings.checkpoint_dir / journal.NAME, final_only=True,
                        columns=["id"])["id"]
    the_plan = _plan(settings, source, done)
    field = f"{settings.kind}_id"
    shown = the_plan.to_send.head(DRY_RUN_SHOWN).to_list()
    for subject in shown:
        click.echo(f"would POST {settings.api_url}/api/platform/data_management/"
                   f"{settings.kind}_deletion_request {json.dumps({field: subject})}")
    if len(the_plan.to_send) > len(shown):
        click.echo(f"... and {len(the_plan.to_send) - len(shown):,} more")
    click.echo(f"dry run: {len(the_plan.to_send):,} requests would be sent; nothing was sent")
    return ExitCode.OK


async def submit(settings: Settings, source: Source, *, skip_existing: bool) -> ExitCode:
    """Plan, then send every planned ID."""

    async def step(checkpoint: Checkpoint, interrupts: Interrupts) -> ExitCode:
        to_send = _planned(settings, source, checkpoint)
        async with connect(settings, checkpoint) as conn:
            return await _submit_step(conn, checkpoint, to_send, interrupts,
                                      skip_existing=skip_existing)

    return await _in_checkpoint(settings, "submit", step, create=True)


async def run(settings: Settings, source: Source, *, skip_existing: bool,
              checking: Checking) -> ExitCode:
    """Submit, then reconcile: the cron default."""
    if checking.report is not None:
        reports.check_path(checking.report)

    async def step(checkpoint: Checkpoint, interrupts: Interrupts) -> ExitCode:
        to_send = _planned(settings, source, checkpoint)
        async with connect(settings, checkpoint) as conn:
            code = await _submit_step(conn, checkpoint, to_send, interrupts,
                                      skip_existing=skip_existing)
            if code not in (ExitCode.OK, ExitCode.ATTENTION):
                return code
            return await _reconcile_step(conn, checkpoint, checking)

    return await _in_checkpoint(settings, "run", step, create=True)


async def reconcile(settings: Settings, *, checking: Checking) -> ExitCode:
    """Page June's listing and write the report for everything the checkpoint holds."""
    if checking.report is not None:
        reports.check_path(checking.report)

    async def step(checkpoint: Checkpoint, _interrupts: Interrupts) -> ExitCode:
        held = checkpoint.manifest
        effective = replace(settings, kind=held.kind)
        if "api_url" not in settings.explicit and held.api_host != SANDBOX_HOST:
            effective = replace(effective, api_url=held.api_host)
        if held.api_host == SANDBOX_HOST and not settings.sandbox:
            raise UsageError(f"{checkpoint.directory} holds a sandbox job; add --sandbox")
        async with connect(effective, checkpoint) as conn:
            return await _reconcile_step(conn, checkpoint, checking)

    return await _in_checkpoint(settings, "reconcile", step, create=False)


def status(settings: Settings) -> ExitCode:
    """Counts by outcome and the last run, read offline without taking the lock."""
    directory = settings.checkpoint_dir
    manifest = read_manifest(directory)
    if manifest is None:
        raise UsageError(f"{directory} is not a checkpoint directory (no manifest.json)")
    records = journal.read(directory / journal.NAME)
    latest = records.unique("id", keep="last")
    counts = dict(latest.group_by("outcome").len().sort("outcome").rows())
    click.echo(f"checkpoint:  {directory} ({manifest.kind}s, {manifest.api_host}, "
               f"created {manifest.created_at})")
    click.echo(f"IDs:         {latest.height:,} in the journal"
               + "".join(f", {name} {n:,}" for name, n in counts.items()))
    runs = last_runs(directory)
    starts = [r for r in runs if r.get("event") == "start"]
    ends = [r for r in runs if r.get("event") == "end"]
    if starts:
        click.echo(f"last run:    {starts[-1].get('command')} started {starts[-1]['at']}")
    if ends:
        click.echo(f"last end:    {ends[-1]['at']}, exit code {ends[-1].get('exit_code')}")
    return ExitCode.OK


async def _in_checkpoint(settings: Settings, command: str,
                         step: Callable[[Checkpoint, Interrupts], Awaitable[ExitCode]], *,
                         create: bool) -> ExitCode:
    """Run ``step`` on the locked checkpoint, under signal handlers, logged in runs.jsonl.

    submit and run check kind and API host against the manifest (defaults too);
    reconcile checks only what the user set and takes the rest from the manifest.
    """
    if not settings.sandbox:
        settings.require_key()  # before minutes of reading millions of IDs
    explicit = settings.explicit | ({"kind", "api_url"} if create else set())
    with Interrupts() as interrupts, Checkpoint.open(
        settings.checkpoint_dir,
        kind=settings.kind if "kind" in explicit else None,
        api_host=settings.api_host if "api_url" in explicit or settings.sandbox else None,
        create=create,
    ) as checkpoint:
        checkpoint.log_run(event="start", command=command)
        code: int = ExitCode.INTERNAL
        try:
            code = await step(checkpoint, interrupts)
        except asyncio.CancelledError:
            if interrupts.received is None:
                raise
            code = interrupts.exit_code()
            get_logger().warning("bulk_delete.interrupted",
                                 signal=signal.Signals(interrupts.received).name)
        except BulkDeleteError as exc:
            code = exc.exit_code
            raise
        finally:
            checkpoint.log_run(event="end", command=command, exit_code=int(code))
        return ExitCode(code)


def _plan(settings: Settings, source: Source, done: pl.Series) -> plan.Plan:
    frame, files = inputs.read_ids(source.paths, kind=settings.kind, column=source.column,
                                   has_header=source.has_header)
    the_plan = plan.make_plan(frame, files, done)
    click.echo(plan.format_plan(the_plan))
    if settings.shard is not None:
        the_plan = _this_shard(the_plan, *settings.shard, rate=settings.rate)
    get_logger().info("bulk_delete.plan", **the_plan.totals_dict())
    return the_plan


def _this_shard(the_plan: plan.Plan, index: int, count: int, *, rate: float) -> plan.Plan:
    """The plan cut down to this shard's IDs; shard 1 alone reports the invalid rows."""
    mine = the_plan.to_send.filter(shards.in_shard(the_plan.to_send, index, count))
    click.echo(f"shard {index}/{count}: {len(mine):,} of {len(the_plan.to_send):,} IDs to send "
               f"are this shard's; rate {rate:g}/s")
    invalid = the_plan.invalid_rows if index == 1 else the_plan.invalid_rows.clear()
    return replace(the_plan, to_send=mine, invalid_rows=invalid)


def _planned(settings: Settings, source: Source, checkpoint: Checkpoint) -> pl.Series:
    """The IDs to send, after the plan is printed and kept for the report."""
    done = journal.read(checkpoint.journal_path, final_only=True, columns=["id"])["id"]
    the_plan = _plan(settings, source, done)
    checkpoint.save_plan(the_plan.for_report())
    return the_plan.to_send


async def _submit_step(conn: Connection, checkpoint: Checkpoint, to_send: pl.Series,
                       interrupts: Interrupts, *, skip_existing: bool) -> ExitCode:
    settings = conn.settings
    the_journal = checkpoint.journal()
    if skip_existing and len(to_send):
        to_send = await _skip_existing(conn, the_journal, to_send)
    tally = progress.Tally(total=len(to_send))
    if not len(to_send):
        click.echo("nothing to send")
        return ExitCode.OK
    if not skip_existing:
        await preflight(conn)
    submitter = Submitter(conn.client, conn.pacer, the_journal, concurrency=settings.concurrency,
                          max_attempts=settings.max_attempts, tally=tally)
    interrupts.submitter = submitter
    try:
        async with progress.shown(tally, log_format()):
            ending = await submitter.run(_chunks(to_send))
    finally:
        interrupts.submitter = None
    get_logger().info("bulk_delete.submitted", ending=ending.value, **tally.snapshot())
    click.echo(f"sent:        accepted {tally.accepted:,}, rejected {tally.rejected:,}, "
               f"failed {tally.failed:,} of {tally.total:,} in {tally.elapsed():.1f} s "
               f"({tally.requests:,} requests, {tally.throttled:,} throttled)")
    return _ending_code(ending, submitter, settings)


def _ending_code(ending: Ending, submitter: Submitter, settings: Settings) -> ExitCode:
    tally = submitter.tally
    if ending is Ending.DONE:
        return ExitCode.ATTENTION if tally.rejected else ExitCode.OK
    if ending is Ending.AUTH:
        assert not isinstance(submitter.cause, BaseException | None)
        raise auth_error(submitter.cause, settings.auth_style)
    if ending is Ending.UNAVAILABLE:
        raise ApiUnavailable(f"June kept failing: {tally.failed:,} IDs gave up after "
                             f"{settings.max_attempts} attempts; a rerun resumes")
    if ending is Ending.ERROR:
        assert isinstance(submitter.cause, BaseException)
        raise submitter.cause
    return ExitCode.INTERRUPTED if ending is Ending.SIGINT else ExitCode.TERMINATED


async def _skip_existing(conn: Connection, the_journal: journal.Journal,
                         to_send: pl.Series) -> pl.Series:
    """Journal as already requested every ID June already lists; return the rest."""
    known = (await read_june_listing(conn))["subject"].implode()
    existing = to_send.filter(to_send.is_in(known))
    for subject in existing:
        the_journal.append(journal.Outcome(subject, "already_requested", None, 0))
    await the_journal.sync()
    click.echo(f"June already holds {len(existing):,} of them (--skip-existing): not sent again")
    return to_send.filter(~to_send.is_in(known))


async def _reconcile_step(conn: Connection, checkpoint: Checkpoint,
                          checking: Checking) -> ExitCode:
    records = journal.read(checkpoint.journal_path)
    sent = records.filter(pl.col("outcome").is_in(joining.REQUESTED))["id"]
    listed = await read_june_listing(conn, expected=sent)
    rows = joining.report_rows(records, checkpoint.plans(), listed, kind=conn.settings.kind,
                               now=datetime.now(UTC), deadline_hours=checking.deadline_hours)
    summary = joining.summarize(rows)
    path = checking.report or checkpoint.directory / "report.csv"
    reports.write(rows, path)
    reports.write_summary(summary, path.with_name("summary.json"))
    get_logger().info("bulk_delete.reconciled", report=str(path), **summary)
    click.echo(reports.describe(summary, path))
    code = joining.exit_code(summary)
    if code is ExitCode.IN_PROGRESS and checking.pending_ok:
        return ExitCode.OK
    return code


def _chunks(ids: pl.Series, size: int = 10_000) -> Iterator[str]:
    """The IDs as Python strings, a slice at a time (millions at once would cost ~60 B each)."""
    for offset in range(0, len(ids), size):
        yield from ids.slice(offset, size).to_list()



"""Each command end to end, from the steps in steps.py -> results -> ExitCode.

Commands decide; they do not talk. Each result goes to the :class:`~bulk_delete.present.View`
the moment it exists (the plan before anything is sent), and the exit code comes back.
The connection is opened through ``connect``, the seam where tests put a fake client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from bulk_delete import (
    api,
    config,
    diagnosis,
    erasures,
    journal,
    report_files,
    shards,
    stories,
    verification,
)
from bulk_delete.checkpoint import Checkpoint, last_runs, read_manifest
from bulk_delete.config import Settings
from bulk_delete.connection import Connect, connect
from bulk_delete.digests import NAME as DIGESTS
from bulk_delete.digests import Chain
from bulk_delete.errors import ExitCode, UsageError
from bulk_delete.interrupts import Interrupts
from bulk_delete.present import Status, View
from bulk_delete.pseudonyms import PseudonymKey, require
from bulk_delete.steps import (
    Checking,
    Source,
    connected,
    in_checkpoint,
    logged,
    opened,
    plan_ids,
    planned,
    reconcile_step,
    retain_step,
    submit_step,
)

__all__ = ["Checking", "Source", "doctor", "dry_run", "lookup", "reconcile", "run", "status",
           "submit", "verify"]

#: How many planned requests a dry run shows.
DRY_RUN_SHOWN = 5
#: The job size doctor estimates for when it is given neither --ids nor input files.
DOCTOR_IDS = 1_000_000


def dry_run(settings: Settings, source: Source, view: View, *,
            key: PseudonymKey | None = None) -> ExitCode:
    """Read and plan, show the plan and the first requests; send nothing, need no key."""
    manifest = read_manifest(settings.checkpoint_dir)
    if manifest is not None and manifest.kind != settings.kind:
        raise UsageError(f"{settings.checkpoint_dir} belongs to a {manifest.kind} job, "
                         f"not {settings.kind}")
    _require_key(settings, key, "submit --dry-run")
    to_send = plan_ids(settings, source, settings.checkpoint_dir / journal.NAME, view,
                       key=key)[0].to_send
    url = api.deletion_url(settings.api_url, settings.kind)
    shown = [(url, api.deletion_body(settings.kind, subject))
             for subject in to_send.head(DRY_RUN_SHOWN)]
    view.dry_run(shown, len(to_send))
    return ExitCode.OK


async def submit(settings: Settings, source: Source, view: View, *, skip_existing: bool,
                 connect: Connect = connect, key: PseudonymKey | None = None) -> ExitCode:
    """Plan, then send every planned ID (with ``key``, recognising pseudonymized ones)."""

    _require_key(settings, key, "submit")

    async def step(checkpoint: Checkpoint, interrupts: Interrupts) -> ExitCode:
        to_send = planned(settings, source, checkpoint, view, key=key)
        async with connected(connect, settings, checkpoint, view) as conn:
            return await submit_step(conn, checkpoint, to_send, interrupts, view,
                                      skip_existing=skip_existing)

    return await in_checkpoint(settings, "submit", step, view, create=True)


async def run(settings: Settings, source: Source, view: View, *, skip_existing: bool,
              checking: Checking, connect: Connect = connect) -> ExitCode:
    """Submit, then reconcile, then retain as ``checking.retention`` says: the cron default."""
    if checking.report is not None:
        report_files.check_path(checking.report)
    _require_key(settings, checking.retention.key, "run")

    async def step(checkpoint: Checkpoint, interrupts: Interrupts) -> ExitCode:
        to_send = planned(settings, source, checkpoint, view, key=checking.retention.key)
        async with connected(connect, settings, checkpoint, view) as conn:
            code = await submit_step(conn, checkpoint, to_send, interrupts, view,
                                      skip_existing=skip_existing)
            if code not in (ExitCode.OK, ExitCode.ATTENTION):
                return code
            code = await reconcile_step(conn, [checkpoint], checkpoint.digests(), checking,
                                         view)
        if checking.retention:
            retain_step(checkpoint, checking.retention, view)
        return code

    return await in_checkpoint(settings, "run", step, view, create=True)


async def reconcile(settings: Settings, view: View, *, checking: Checking,
                    connect: Connect = connect) -> ExitCode:
    """Page June's listing and write the report for everything the checkpoint holds.

    On a directory of shards (``shard-K-of-N/``) it reads the listing once for all of them
    and writes one report there; each shard keeps its own history.
    """
    if checking.report is not None:
        report_files.check_path(checking.report)
    members = shards.directories(settings.checkpoint_dir)
    if members and checking.retention:
        raise UsageError("--pseudonymize-after and --erase-after work on one checkpoint at a "
                         "time: run retain (or run) with --shard K/N on each shard")
    if members:
        return await _reconcile_shards(settings, members, view, checking, connect)

    async def step(checkpoint: Checkpoint, _interrupts: Interrupts) -> ExitCode:
        held = checkpoint.manifest
        effective = config.for_job(settings, kind=held.kind, api_host=held.api_host,
                                   directory=checkpoint.directory)
        async with connected(connect, effective, checkpoint, view) as conn:
            code = await reconcile_step(conn, [checkpoint], checkpoint.digests(), checking,
                                         view)
        if checking.retention:
            retain_step(checkpoint, checking.retention, view)
        return code

    return await in_checkpoint(settings, "reconcile", step, view, create=False)


def _require_key(settings: Settings, key: PseudonymKey | None, command: str) -> None:
    """Refuse at once, before the lock and the plan, to plan against pseudonyms without
    their key (planned() checks again under the lock)."""
    manifest = read_manifest(settings.checkpoint_dir)
    if manifest is not None:
        require(manifest.pseudonym_key, key, command)


async def _reconcile_shards(settings: Settings, members: list[Path], view: View,
                            checking: Checking, connect: Connect) -> ExitCode:
    """One reconcile over every shard of a job: one listing read, one report in the parent."""
    if settings.sandbox:
        raise UsageError("--sandbox reconciles one checkpoint at a time: add --shard K/N")
    parent = settings.checkpoint_dir
    with contextlib.ExitStack() as stack:
        interrupts = stack.enter_context(Interrupts())
        checkpoints = opened(stack, settings, members, "reconcile", create=False)
        held = checkpoints[0].manifest
        for other in checkpoints[1:]:  # the first one's kind and host bind the others
            if (other.manifest.kind, other.manifest.api_host) != (held.kind, held.api_host):
                raise UsageError(f"{other.directory} belongs to another job than "
                                 f"{checkpoints[0].directory} (kind or API host differ)")
        effective = config.for_job(settings, kind=held.kind, api_host=held.api_host,
                                   directory=parent)
        chain = stack.enter_context(contextlib.closing(Chain.open(parent, "reconcile")))

        async def step() -> ExitCode:
            async with connected(connect, effective, checkpoints[0], view) as conn:
                return await reconcile_step(conn, checkpoints, chain, checking, view)

        def seal_parent() -> None:
            for checkpoint in checkpoints:  # ties each shard's record to this one
                chain.prefix(checkpoint.directory / DIGESTS, "shard digests")
            view.sealed(parent, chain.head)

        return await logged(checkpoints, "reconcile", step, interrupts, view,
                             after=seal_parent)


async def doctor(settings: Settings, source: Source | None, view: View, *, ids: int | None,
                 connect: Connect = connect) -> ExitCode:
    """Probe June, read-only, and keep what it found in the manifest: exit 0, 4 or 5.

    The estimate is for ``ids`` IDs, else for the IDs ``source`` would send (and a reconcile
    for those and the ones sent before), else for DOCTOR_IDS.
    """

    async def step(checkpoint: Checkpoint, _interrupts: Interrupts) -> ExitCode:
        count, listed = ids, None
        if count is None and source is not None:
            total = plan_ids(settings, source, checkpoint.journal_path, view)[0].total
            count, listed = total.to_send, total.to_send + total.done
        async with connected(connect, settings, checkpoint, view) as conn:
            found = await diagnosis.examine(conn, ids=DOCTOR_IDS if count is None else count,
                                            listed=listed)
        checkpoint.record_doctor(found.record)
        view.doctor(found.rows)
        return found.exit_code

    return await in_checkpoint(settings, "doctor", step, view, create=True)


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
    kept = erasures.retention(latest.lazy(), [directory])
    return Status(directory=directory, kind=manifest.kind, api_host=manifest.api_host,
                  created_at=manifest.created_at, ids=latest.height,
                  outcomes=dict(latest.group_by("outcome").len().sort("outcome").rows()),
                  last_start=starts[-1] if starts else None, last_end=ends[-1] if ends else None,
                  pseudonymized=kept["pseudonymized_rows"], erased=kept["erasures"],
                  pseudonym_key=manifest.pseudonym_key)


def verify(settings: Settings, view: View, *, report: Path | None,
           head: str | None) -> ExitCode:
    """Check the checkpoint and its report against the digest record, offline: 4 on any
    change, truncation or edit, else 0."""
    checked = verification.verify(settings.checkpoint_dir, report=report, head=head)
    view.verified(checked)
    return ExitCode.ATTENTION if verification.failures(checked) else ExitCode.OK


def lookup(settings: Settings, ids: Sequence[str], view: View, *, as_json: bool,
           key: PseudonymKey | None = None) -> ExitCode:
    """Each ID's story, offline, without the lock; with ``key``, found by its pseudonym too."""
    view.looked_up(stories.of(settings.checkpoint_dir, ids, key=key), as_json=as_json)
    return ExitCode.OK

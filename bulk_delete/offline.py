"""The commands that change the evidence without June: ``retain`` and ``acknowledge``.

Both take the lock (a run must not append while they rewrite), need no API key and no
network, and change the evidence in one rewrite recorded in the digest record, so ``verify``
still passes after them and still fails on any other edit.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence

import polars as pl

from bulk_delete import acknowledgements, report_files, republish, verification
from bulk_delete.checkpoint import Checkpoint
from bulk_delete.config import Settings
from bulk_delete.errors import ExitCode, UsageError
from bulk_delete.interrupts import Interrupts
from bulk_delete.journal import utc_now
from bulk_delete.present import View
from bulk_delete.retain import Policy
from bulk_delete.rewrite import Rewrite
from bulk_delete.steps import in_checkpoint, retain_step


async def retain(settings: Settings, view: View, policy: Policy) -> ExitCode:
    """Pseudonymize, then erase, what ``policy`` says is due: exit 0, or 2 when refused."""
    if not policy:
        raise UsageError("retain needs --pseudonymize-after DAYS, --erase-after DAYS or both")

    async def step(checkpoint: Checkpoint, _interrupts: Interrupts) -> ExitCode:
        retain_step(checkpoint, policy, view)
        return ExitCode.OK

    return await in_checkpoint(settings, "retain", step, view, create=False, needs_key=False)


async def acknowledge(settings: Settings, view: View, *, ids: Sequence[str],
                      category: str | None, before: str | None, reason: str,
                      by: str | None) -> ExitCode:
    """Record a person's decision on rows that need attention, and show it in the report."""
    if bool(ids) == (category is not None):
        raise UsageError("acknowledge takes IDs or --outcome, not both and not neither")
    if before is not None and category is None:
        raise UsageError("--before goes with --outcome")
    cutoff = None if before is None else acknowledgements.parse_before(before)
    who = by or _user()

    async def step(checkpoint: Checkpoint, _interrupts: Interrupts) -> ExitCode:
        directory, at = checkpoint.directory, utc_now()
        found = republish.reports(directory)
        if not found:
            raise UsageError(f"{directory} has no report yet: reconcile first, then "
                             "acknowledge what it shows")
        verification.refuse_edited(directory, "acknowledge")
        rows = republish.typed(report_files.scan(found[-1])).collect()
        picked = acknowledgements.chosen(rows, ids=ids, category=category, before=cutoff)
        entries = acknowledgements.entries(picked, by=who, reason=reason, at=at)
        if entries.height:
            _record(checkpoint, entries, at)
        view.acknowledged(entries, found[-1])
        return ExitCode.OK

    return await in_checkpoint(settings, "acknowledge", step, view, create=False,
                               needs_key=False)


def _record(checkpoint: Checkpoint, entries: pl.DataFrame, at: str) -> None:
    """The new acknowledgement file, and every report, summary and page showing it: one
    rewrite."""
    directory = checkpoint.directory
    rewrite = Rewrite(directory, "acknowledge")
    rewrite.add(acknowledgements.next_path(directory), acknowledgements.ROLE,
                entries.write_parquet)
    decided = acknowledgements.per_id(pl.concat([acknowledgements.scan(directory),
                                                 entries.lazy()]))

    def shown(rows: pl.LazyFrame) -> pl.LazyFrame:
        held = rows.collect_schema().names()
        kept = rows.drop(c for c in decided.columns if c != "id" and c in held)
        return kept.join(decided.lazy(), on="id", how="left", maintain_order="left")

    republish.stage(rewrite, directory, checkpoint.manifest, shown, at)
    rewrite.commit(checkpoint.digests(), acknowledged=entries.height,
                   by=str(entries["by"][0]))


def _user() -> str:
    """Who is acknowledging: the operating system's name for them."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        raise UsageError("cannot tell who you are: pass --by NAME") from None

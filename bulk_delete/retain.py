"""``retain``: the evidence names people no longer than needed, and keeps its counts for good.

    --pseudonymize-after DAYS   every ID whose request June finished at least DAYS ago is
                                replaced by its keyed pseudonym (pseudonyms.py) in every
                                file that names it
    --erase-after DAYS          the rows of requests finished at least DAYS ago go altogether;
                                what they counted for stays (erasures.py)

Finished means what the state history says: its ``finished_at``, June's own time when it gave
one. Nothing else is touched: an ID not finished (requested, rejected, pending, invalid) stays
as it is. The files that name IDs are the journal, each plan, each history file, each
acknowledgement file and every report the digest record names, in its format; the summary
and page beside the latest report are summed up again (republish.py). The file and line an ID
was read from stay; the ID does not, nor does it stay inside June's message or a reason.
What a crash left in the checkpoint (a reconcile's workspace, a file half written) is removed.

All of it is one rewrite (rewrite.py): a crash leaves the old files or the new ones, and a
second retain with nothing newly due writes nothing. retain first checks the files against the
digest record: rewriting a file edited by hand would record the edit as retain's own.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from bulk_delete import (
    acknowledgements,
    erasures,
    evidence,
    history,
    journal,
    republish,
    verification,
)
from bulk_delete.checkpoint import PLANS, Checkpoint
from bulk_delete.errors import CheckpointError, UsageError
from bulk_delete.files import discard_temporaries
from bulk_delete.journal import utc_now
from bulk_delete.pseudonyms import PseudonymKey, check_fingerprint, is_pseudonym, scrub_column
from bulk_delete.report_rows import latest_outcomes, report_rows
from bulk_delete.rewrite import Rewrite

#: Columns of free text that may hold an ID: June's message, a person's reason.
TEXTS = ("error", "reason", "acknowledged_reason")


@dataclass(frozen=True)
class Policy:
    """How long the evidence keeps an ID in plain text, and a row at all, once finished."""

    pseudonymize_after: int | None = None
    erase_after: int | None = None
    key: PseudonymKey | None = None

    def __post_init__(self) -> None:
        if self.pseudonymize_after is not None and self.key is None:
            raise UsageError("--pseudonymize-after needs the pseudonym key: "
                             "--pseudonym-key-file or BULK_DELETE_PSEUDONYM_KEY_FILE")

    def __bool__(self) -> bool:
        return self.pseudonymize_after is not None or self.erase_after is not None


@dataclass(frozen=True)
class Retained:
    """What one retain did."""

    #: IDs replaced by their pseudonym, and IDs whose rows were erased.
    pseudonymized: int
    erased: int
    #: The files rewritten, as the digest record names them.
    files: tuple[str, ...]
    at: str
    policy: Policy


def apply(checkpoint: Checkpoint, policy: Policy, now: datetime) -> Retained:
    """Pseudonymize and erase what ``policy`` says is due at ``now``, in one rewrite."""
    directory, at = checkpoint.directory, utc_now()
    check_fingerprint(checkpoint.manifest.pseudonym_key, policy.key)
    checkpoint.seal()  # the journal as it stands, and any file a crash left unrecorded
    verification.refuse_edited(directory, "retain")
    _discard_leftovers(directory)
    due = _due(checkpoint, policy, now)
    pseudonymized = due.filter(pl.col("new_id").is_not_null()).height
    if policy.key is not None and policy.pseudonymize_after is not None:
        checkpoint.record_pseudonym_key(policy.key.fingerprint)
    if not due.height:
        return Retained(0, 0, (), at, policy)
    checkpoint.close_journal()
    rewrite = Rewrite(directory, "retain")
    erasing = _stage_checkpoint(rewrite, checkpoint, due, now, at)
    republish.stage(rewrite, directory, checkpoint.manifest, lambda rows: _mapped(rows, due),
                    at, erasing=erasing)
    facts: dict[str, Any] = {"pseudonymized": pseudonymized,
                             "erased": due.height - pseudonymized,
                             "pseudonymize_after_days": policy.pseudonymize_after,
                             "erase_after_days": policy.erase_after,
                             "key_fingerprint": checkpoint.manifest.pseudonym_key}
    files = rewrite.commit(checkpoint.digests(), **facts)
    return Retained(pseudonymized, due.height - pseudonymized,
                    tuple(entry["path"] for entry in files), at, policy)


def _discard_leftovers(directory: Path) -> None:
    """What a crash left (a reconcile's workspace, a file half written) names IDs as they
    were then, and no rewrite would see it: it goes, under the lock, before any is due."""
    shutil.rmtree(directory / evidence.WORKSPACE, ignore_errors=True)
    discard_temporaries(directory)


def _due(checkpoint: Checkpoint, policy: Policy, now: datetime) -> pl.DataFrame:
    """``id`` and ``new_id`` (its pseudonym; null: erase) of every ID due now."""
    finished = pl.col("finished_at")

    def before(days: int | None) -> pl.Expr:
        if days is None:
            return pl.lit(value=False)
        return finished <= now - timedelta(days=days)

    ids = (history.latest(history.scan(checkpoint.directory).select("id", "finished_at"))
           .filter(finished.is_not_null())
           .select("id", erase=before(policy.erase_after),
                   hide=before(policy.pseudonymize_after) & ~is_pseudonym()))
    erase = ids.filter("erase").select("id", new_id=pl.lit(None, pl.String))
    hide = ids.filter(pl.col("hide") & ~pl.col("erase")).select("id")
    if policy.key is not None:
        hide = hide.with_columns(new_id=policy.key.of(checkpoint.manifest.kind, hide["id"]))
    return pl.concat([erase, hide.select("id", "new_id")]) if hide.height else erase


def _mapped(rows: pl.LazyFrame, due: pl.DataFrame) -> pl.LazyFrame:
    """``rows`` with each due ID's rows erased or named by its pseudonym (in free text too),
    in their order: a pseudonymized report row keeps its place."""
    names = rows.collect_schema().names()
    if "id" not in names:
        return rows
    joined = rows.join(due.lazy().select("id", "new_id", _erase=pl.col("new_id").is_null()),
                       on="id", how="left", maintain_order="left")
    kept = joined.filter(~pl.col("_erase").fill_null(value=False))
    for text in TEXTS:
        if text in names:
            kept = scrub_column(kept, text)
    return kept.with_columns(pl.coalesce("new_id", "id").alias("id")).drop("new_id", "_erase")


def _stage_checkpoint(rewrite: Rewrite, checkpoint: Checkpoint, due: pl.DataFrame,
                      now: datetime, at: str) -> pl.DataFrame | None:
    """Stage the journal, each plan, history and acknowledgement file that names a due ID,
    and the remainder of the rows erased (returned). Each file is read again when it is
    written."""
    directory = checkpoint.directory
    lines = directory / journal.NAME
    if lines.exists():
        rewrite.add(lines, "journal", lambda tmp: _mapped(journal.read(lines).lazy(), due)
                    .sink_csv(tmp, separator="\t", quote_style="never"), mode="prefix")
    named = [*((p, "plan") for p in sorted((directory / PLANS).glob("*.parquet"))),
             *((p, "history") for p in history.files(directory)),
             *((p, acknowledgements.ROLE) for p in acknowledgements.files(directory))]
    for path, role in named:
        names = pl.col("id").is_in(due["id"].implode())
        if pl.scan_parquet(path).filter(names).head(1).collect().height:
            rewrite.add(path, role, _parquet(path, due, sort=role == "history"))
    erased = due.filter(pl.col("new_id").is_null())["id"]
    if not len(erased):
        return None
    remainder = erasures.remainder(_finished_rows(checkpoint, erased, now), at)
    rewrite.add(erasures.next_path(directory), erasures.ROLE, remainder.write_parquet)
    return remainder


def _parquet(path: Path, due: pl.DataFrame, *, sort: bool) -> Any:
    def write(tmp: Path) -> None:
        rows = _mapped(pl.scan_parquet(path), due)
        if sort:  # history files are sorted by ID: a lookup reads one row group
            history.writer(rows.sort("id"))(tmp)
        else:
            rows.sink_parquet(tmp)
    return write


def _finished_rows(checkpoint: Checkpoint, ids: pl.Series, now: datetime) -> pl.DataFrame:
    """The report rows of finished IDs, from the journal and the history alone (June's
    listing says nothing of an ID known finished), as a reconcile would write them."""
    directory = checkpoint.directory
    wanted = pl.col("id").is_in(ids.implode())
    lines = journal.scan(directory / journal.NAME).filter(wanted).collect()
    seen = history.latest(history.scan(directory).filter(wanted))
    nothing = pl.DataFrame(schema={"subject": pl.String, "state": pl.String,
                                   "request_id": pl.String, "created_at": pl.String,
                                   "updated_at": pl.String, "found_in": pl.String})
    if not lines.height:
        raise CheckpointError(f"the journal of {directory} holds none of the IDs the history "
                              "says finished; it is not this job's journal")
    return report_rows(latest_outcomes(lines), None, nothing, kind=checkpoint.manifest.kind,
                       now=now, deadline_hours=72.0, seen=seen)

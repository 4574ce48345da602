"""What a reconcile leaves behind: the state history appended, then report, summary and page.

    Workspace(out, directories)  each journal checked and copied to Parquet, the ranges cut
    .wanted()                    before June's listing is read: sent IDs not known finished
    .keep(records)               June's listing spilled to disk, so its frames can be freed
    .write(job)                  a range at a time: history rows and report rows, then files

Everything is done a range of IDs at a time (about RANGE of them, cut from a sample of the
plans), each range read from disk with a predicate, so memory follows the range, not the
job: the history's files are sorted by ID and read a row group at a time. The report comes
out sorted by ID, invalid rows last. The directories are one checkpoint, or the shards of
one job (their IDs never overlap): one report for all of them, each its own history.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from bulk_delete import (
    __version__,
    acknowledgements,
    erasures,
    history,
    journal,
    report_files,
    report_rows,
)
from bulk_delete.checkpoint import last_runs, plans
from bulk_delete.digests import InputFile, inputs_read
from bulk_delete.listing import LISTED_SCHEMA, most_advanced
from bulk_delete.next_page import Stop
from bulk_delete.report_html import write_page
from bulk_delete.report_html_data import PageData
from bulk_delete.types import Kind

#: About this many IDs are worked on at once.
RANGE = 200_000
#: One planned ID in this many is sampled to cut the ranges.
SAMPLE_EVERY = 1_000
WORKSPACE = ".reconcile-work"
#: Compression of the scratch files: each is read a few times, then deleted.
SCRATCH: Final = "lz4"
Where = Callable[[str], pl.Expr]


@dataclass(frozen=True, kw_only=True)
class Job:
    """What the report is about and where it goes."""

    kind: Kind
    api_host: str
    report: Path
    now: datetime
    deadline_hours: float
    #: The listing reads that stopped before June said the listing ended: the sent IDs
    #: they did not find are unverified, not missing.
    stops: tuple[Stop, ...] = ()

    @property
    def unverified(self) -> str | None:
        """Why unfound IDs are unverified, for the report's rows (``listing page 2:
        repeat``); None when every read ended proven."""
        return "; ".join(stop.code for stop in self.stops) or None


@dataclass(frozen=True, eq=False)
class Member:
    """One checkpoint directory taking part: its journal copied to Parquet, its plans."""

    index: int
    directory: Path
    journal: Path
    planned: pl.LazyFrame | None


@dataclass(frozen=True)
class Written:
    """What :meth:`Workspace.write` wrote: the summary, the files, each new history file."""

    summary: dict[str, Any]
    report: Path
    summary_path: Path
    page: Path
    history: dict[Path, Path]


class Workspace:
    """A scratch directory (owner-only: it holds IDs) for one reconcile of ``directories``.

    Opening it checks every journal line and cuts the IDs into ranges, before June's
    listing is read for an hour. It is removed at the end; one left by a crash is removed
    when the next opens.
    """

    def __init__(self, out: Path, directories: Sequence[Path]) -> None:
        self.path = out / WORKSPACE
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(mode=0o700, parents=True)
        self._chunks = 0
        self.keep(pl.DataFrame(schema=LISTED_SCHEMA))
        self.members = [Member(index, directory, self._journal(index, directory),
                               plans(directory)) for index, directory in enumerate(directories)]
        bounds = _bounds(self.members)
        self.ranges = [_between(low, high) for low, high in
                       zip([None, *bounds], [*bounds, None], strict=True)]

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def wanted(self, *, full: bool) -> pl.Series:
        """The sent IDs whose request is not known finished, sorted: what June's listing
        must show (with ``full``, every sent ID). Worked out a range at a time."""
        parts = []
        for where in self.ranges:
            for member in self.members:
                sent = (self._lines(member, where)
                        .filter(pl.col("outcome").is_in(journal.REQUESTED)).select("id"))
                if not full:
                    done = history.finished(member.directory).filter(where("id"))
                    sent = sent.join(done, on="id", how="anti")
                parts.append(sent.unique().collect())
        return pl.concat(parts)["id"].sort() if parts else pl.Series("id", [], pl.String)

    def keep(self, listed: pl.DataFrame) -> None:
        """Spill records of June's listing (all of a read, or a chunk at a time as they
        come), so the caller can drop its frame; a subject in two chunks is resolved to its
        most advanced state when its range is read."""
        self._chunks += 1
        path = self.path / f"listed-{self._chunks:06d}.parquet"
        # As read (instants typed, states categorical): turned into the history's text a
        # range at a time, by reconcile.listed_frame, never all at once.
        listed.lazy().sink_parquet(path, compression=SCRATCH)

    def write(self, job: Job) -> Written:
        """Append each directory's history, then write the report, summary.json, report.html."""
        parts = []
        for number, where in enumerate(self.ranges):
            listed = self._listed(where)  # June's records of the range, for every directory
            frames = [self._range(member, job, where, number, listed) for member in self.members]
            parts.append(self._part(f"rows-{number:05d}", pl.concat(frames).sort("id")))
        parts.append(self._part("rows-invalid", self._invalid(job)))
        added = {}
        for member in self.members:
            new = sorted(self.path.glob(f"history-{member.index}-*.parquet"))
            path = history.append(member.directory, pl.scan_parquet(new)) if new else None
            if path is not None:
                added[member.directory] = path
        rows = pl.scan_parquet(parts)
        report_files.write(rows, job.report)
        directories = [member.directory for member in self.members]
        # Rows erased by retain still count (no ID, no attention): the figures stay.
        counted = erasures.with_erased(rows, directories)
        summarized = report_rows.summarize(counted)
        summary = {"reconciled_at": _time(job.now), "deadline_hours": job.deadline_hours,
                   **summarized, "unverified_reason": _reason(summarized, job.stops),
                   "retention": erasures.retention(rows, directories),
                   "about": {"tool": f"bulk-delete {__version__}", "kind": job.kind,
                             "api_host": job.api_host, "report": job.report.name,
                             "columns": report_rows.MEANING}}
        summary_path = job.report.with_name("summary.json")
        report_files.write_summary(summary, summary_path)
        page = job.report.with_name("report.html")
        write_page(page, PageData(rows=counted, summary=summary, runs=_runs(directories),
                                  writer=os.getpid(), inputs=_inputs(directories),
                                  tool_version=__version__, generated_at=_time(job.now),
                                  kind=job.kind, api_host=job.api_host,
                                  deadline_hours=job.deadline_hours))
        return Written(summary, job.report, summary_path, page, added)

    def _journal(self, index: int, directory: Path) -> Path:
        """The journal checked and copied as Parquet: a range then reads its IDs' lines."""
        path = self.path / f"journal-{index}.parquet"
        journal.spill(directory / journal.NAME, path)
        return path

    def _lines(self, member: Member, where: Where) -> pl.LazyFrame:
        return pl.scan_parquet(member.journal).filter(where("id")).select(journal.COLUMNS)

    def _listed(self, where: Where) -> pl.DataFrame:
        """The records kept whose subject is in the range, each subject once."""
        return report_rows.listed_frame(most_advanced(
            pl.scan_parquet(self.path / "listed-*.parquet").filter(where("subject")).collect()))

    def _range(self, member: Member, job: Job, where: Where, number: int,
               listed: pl.DataFrame) -> pl.DataFrame:
        """One directory's IDs in one range: new history rows kept aside, report rows."""
        outcomes = report_rows.latest_outcomes(self._lines(member, where).collect())
        pending = None if member.planned is None else member.planned.filter(
            where("id") & (pl.col("outcome") == journal.PENDING)).collect()
        previous = history.latest(history.scan(member.directory).filter(where("id")))
        seen = report_rows.observed(listed, outcomes, previous)
        new = history.changes(seen, previous, job.now).sort("id")
        new.write_parquet(self.path / f"history-{member.index}-{number:05d}.parquet",
                          compression=SCRATCH)
        decided = acknowledgements.per_id(acknowledgements.scan(member.directory)
                                          .filter(where("id")))
        return report_rows.report_rows(outcomes, pending, listed, kind=job.kind, now=job.now,
                                   deadline_hours=job.deadline_hours,
                                   seen=history.advance(previous, new),
                                   unverified=job.unverified,
                                   acknowledgements=decided)

    def _invalid(self, job: Job) -> pl.DataFrame:
        """The invalid input rows of every plan, once each: the report's last rows."""
        frames = [member.planned.filter(pl.col("outcome") == journal.INVALID)
                  for member in self.members if member.planned is not None]
        invalid = pl.concat(frames).collect() if frames else None
        return report_rows.report_rows(
            report_rows.latest_outcomes(pl.DataFrame(schema=dict.fromkeys(journal.COLUMNS,
                                                                      pl.String))), invalid,
            pl.DataFrame(schema=dict.fromkeys(report_rows.LISTED, pl.String)), kind=job.kind,
            now=job.now, deadline_hours=job.deadline_hours)

    def _part(self, name: str, rows: pl.DataFrame) -> Path:
        path = self.path / f"{name}.parquet"
        rows.write_parquet(path, compression=SCRATCH)
        return path


def _reason(summary: dict[str, Any], stops: tuple[Stop, ...]) -> str | None:
    """Why the unverified IDs are not called missing, for people: each read that stopped
    short and why; None when no ID is unverified."""
    if not summary["server_state"].get(report_rows.UNVERIFIED):
        return None
    return "; ".join(str(stop) for stop in stops)


def _bounds(members: list[Member]) -> list[str]:
    """IDs that cut the job into ranges of about RANGE IDs, from a sample of them.

    Every ID sent was planned first, so the plans are sampled (the journal, when a
    checkpoint has none).
    """
    samples = [pl.scan_parquet(member.journal).select("id") if member.planned is None else
               member.planned.filter(pl.col("outcome") == journal.PENDING).select("id")
               for member in members]
    sample = (pl.concat([frame.gather_every(SAMPLE_EVERY) for frame in samples])
              .collect()["id"].drop_nulls().sort())
    ranges = math.ceil(len(sample) * SAMPLE_EVERY / RANGE)
    cuts = {sample[len(sample) * k // ranges] for k in range(1, ranges)}
    return sorted(cuts)


def _between(low: str | None, high: str | None) -> Where:
    """The predicate of one range: ``low <= column < high`` (None: no bound)."""

    def where(column: str) -> pl.Expr:
        conditions = [pl.lit(value=True)]
        if low is not None:
            conditions.append(pl.col(column) >= low)
        if high is not None:
            conditions.append(pl.col(column) < high)
        return pl.all_horizontal(conditions)

    return where


def _runs(directories: Sequence[Path]) -> list[dict[str, Any]]:
    """Every directory's runs.jsonl, merged in time order."""
    runs = [run for directory in directories for run in last_runs(directory)]
    return sorted(runs, key=lambda run: str(run.get("at", "")))


def _inputs(directories: Sequence[Path]) -> list[InputFile]:
    """Every input file the digest records name, once each (a file read by two shards)."""
    seen: dict[tuple[str, str], InputFile] = {}
    for directory in directories:
        for receipt in inputs_read(directory):
            seen.setdefault((receipt.resolved, receipt.sha256), receipt)
    return list(seen.values())


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

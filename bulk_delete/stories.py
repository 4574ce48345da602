"""``lookup ID...``: the whole story of a few IDs, read offline from the checkpoint.

For each ID: the file and line it was read from (the plans) with that file's SHA-256 (the
digest record), every journal line for it (each answer from June and the attempts it took),
when it was submitted, every state June listed for it and when (the history), and June's
request id. No key, no network, no lock: it reads, so it may run beside a job.

Nothing is loaded whole: each file is scanned with the IDs as a predicate. The history's
files are sorted by ID, so a lookup decodes one row group of each; the journal's text is
parsed once, in a stream, keeping only the IDs' lines.

Once ``retain`` has pseudonymized an ID, the checkpoint holds only its pseudonym: with the key,
each ID asked is looked for under its pseudonym too, and the story says which it was found
under; without it, an unknown ID's story says the key is needed, or that rows were erased.
:func:`story_text` tells a story as lines a person reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from bulk_delete import acknowledgements, erasures, history, journal, shards
from bulk_delete.checkpoint import plans, read_manifest
from bulk_delete.digests import inputs_of_plans
from bulk_delete.errors import UsageError
from bulk_delete.journal import FAILED, PENDING, REQUESTED
from bulk_delete.pseudonyms import PseudonymKey, check_fingerprint
from bulk_delete.report_rows import TIME_FORMAT

#: A source row as lookup gives it (before the file's digest is added).
SOURCE = {"id": pl.String, "file": pl.String, "line": pl.Int64, "outcome": pl.String,
          "error": pl.String}


@dataclass(frozen=True)
class Story:
    """Everything the checkpoint holds about one ID, oldest first in each list."""

    id: str
    #: Where it was read: file, line, the plan's outcome (pending, invalid), error, and the
    #: file's SHA-256, read time and format (csv, parquet, jsonl, json: then ``line`` is the
    #: element's position) when the digest record has them.
    sources: list[dict[str, Any]]
    #: Every journal line: outcome, http_status, attempts, at, error.
    journal: list[dict[str, Any]]
    #: Every history row: state, seen_at, June's request_id, created_at and updated_at,
    #: found_in, and the started_at / finished_at known at that time.
    states: list[dict[str, Any]]
    #: Every acknowledgement of its attention: category, by, at, reason.
    acknowledgements: list[dict[str, Any]] = field(default_factory=list)
    #: The pseudonym the checkpoint holds it under, when retain replaced it.
    pseudonym: str | None = None
    #: The checkpoint holds pseudonyms and no key was given to look among them.
    needs_key: bool = False
    #: Rows retain erased from this checkpoint (an unknown ID may have been one).
    erased_rows: int = 0

    @property
    def known(self) -> bool:
        return bool(self.sources or self.journal or self.states)

    def summary(self) -> dict[str, Any]:
        """What the report would say of it, from what was last seen."""
        last = self.journal[-1] if self.journal else None
        outcome = (last["outcome"] if last else
                   self.sources[-1]["outcome"] if self.sources else None)
        seen = self.states[-1] if self.states else {}
        submitted = last["at"] if last and last["outcome"] in REQUESTED else None
        return {
            "outcome": PENDING if outcome == FAILED else outcome,
            "submitted_at": submitted,
            "last_seen_state": "finished" if seen.get("finished_at") else seen.get("state"),
            "june_request_id": next((s["request_id"] for s in reversed(self.states)
                                     if s["request_id"]), None),
            "started_seen_at": seen.get("started_at"),
            "finished_seen_at": seen.get("finished_at"),
        }

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "known": self.known, "pseudonym": self.pseudonym,
                "needs_key": self.needs_key and not self.known,
                "erased_rows": self.erased_rows, **self.summary(), "sources": self.sources,
                "journal": self.journal, "states": self.states,
                "acknowledgements": self.acknowledgements}


def of(directory: Path, ids: Sequence[str], *, key: PseudonymKey | None = None) -> list[Story]:
    """The story of each ID, in the order asked (a directory of shards: all of them); with
    ``key``, an ID is found under its pseudonym too."""
    directories = shards.directories(directory) or [directory]
    manifest = read_manifest(directories[0])
    if manifest is None:
        raise UsageError(f"{directory} is not a checkpoint directory (no manifest.json); "
                         "pass --checkpoint-dir")
    check_fingerprint(manifest.pseudonym_key, key)
    names = {i: key.one(manifest.kind, i) if key is not None and i else None for i in ids}
    where = pl.col("id").is_in([*ids, *(p for p in names.values() if p)])
    if "" in ids:  # an empty value in an input file: the plans hold it as null
        where = where | pl.col("id").is_null()
    lines = pl.concat([_journal(d, where) for d in directories])
    planned = pl.concat([_sources(d, where) for d in directories])
    seen = pl.concat([_states(d, where) for d in directories])
    decided = pl.concat([acknowledgements.scan(d).filter(where).collect() for d in directories])
    erased = erasures.scan(directories).select(pl.len()).collect().item()
    stories = []
    for i in ids:
        held = next((n for n in (i, names[i]) if n is not None and _rows(lines, n)), i)
        stories.append(Story(i, _rows(planned, held), _rows(lines, held), _rows(seen, held),
                             _rows(decided, held), pseudonym=held if held != i else None,
                             needs_key=key is None and manifest.pseudonym_key is not None,
                             erased_rows=int(erased)))
    return stories


def _journal(directory: Path, where: pl.Expr) -> pl.DataFrame:
    path = directory / journal.NAME
    if not path.exists():
        return pl.DataFrame(schema=dict.fromkeys(journal.COLUMNS, pl.String))
    return (journal.scan(path).filter(where)
            .with_columns(pl.col("http_status", "attempts").cast(pl.Int64, strict=False))
            .collect(engine="streaming"))


def _sources(directory: Path, where: pl.Expr) -> pl.DataFrame:
    """The plans' rows for the IDs, each with the digest of the file it was read from."""
    planned = plans(directory, named=True)
    if planned is None:
        return pl.DataFrame(schema={**SOURCE, **dict.fromkeys(("sha256", "read_at", "format"),
                                                              pl.String)})
    found = planned.filter(where).collect().with_columns(pl.col("id").fill_null(""))
    made_from = inputs_of_plans(directory)
    receipts = [{r.path: r for r in made_from.get(_relative(plan, directory), [])}.get(file)
                for plan, file in found.select("plan", "file").iter_rows()]
    return found.select(pl.col(name).cast(dtype) for name, dtype in SOURCE.items()).with_columns(
        sha256=pl.Series([r.sha256 if r else None for r in receipts], dtype=pl.String),
        read_at=pl.Series([r.read_at if r else None for r in receipts], dtype=pl.String),
        format=pl.Series([r.format or None if r else None for r in receipts], dtype=pl.String))


def _relative(plan: str, directory: Path) -> str:
    return str(Path(plan).resolve().relative_to(directory.resolve()))


def _states(directory: Path, where: pl.Expr) -> pl.DataFrame:
    times = ("seen_at", "started_at", "finished_at")
    return (history.scan(directory).filter(where).collect()
            .with_columns(pl.col(times).dt.strftime(TIME_FORMAT)))


def _rows(frame: pl.DataFrame, subject: str) -> list[dict[str, Any]]:
    return frame.filter(pl.col("id") == subject).drop("id").to_dicts()


#: What an input's ``line`` counts, by its format (CSV and JSON Lines: lines).
PLACES = {"json": "element", "parquet": "row"}


def story_text(story: Story) -> str:
    """One ID's story as lines a person reads."""
    if not story.known:
        return "\n".join([f"{story.id!r}: not in this checkpoint (never read from an input "
                          "file, never sent)", *_unknown_because(story)])
    about = story.summary()
    lines = [f"{story.id!r}"]
    if story.pseudonym:
        lines.append(f"  {'held as:':<12}{story.pseudonym} (retain pseudonymized it: the "
                     "evidence no longer names it)")
    for s in story.sources:
        digest = f" (SHA-256 {s['sha256']}, read {s['read_at']})" if s["sha256"] else ""
        what = f"; {s['error']}" if s["outcome"] == "invalid" else ""
        place = PLACES.get(s.get("format") or "", "line")
        lines.append(f"  {'read from:':<12}{s['file']}, {place} {s['line']}{digest}{what}")
    lines.append(f"  {'outcome:':<12}{about['outcome']}")
    for j in story.journal:
        status = f"HTTP {j['http_status']}" if j["http_status"] is not None else "no answer"
        error = f"  {j['error']}" if j["error"] else ""
        lines.append(f"  {'journal:':<12}{j['at']}  {j['outcome']}  {status}  "
                     f"{j['attempts']} attempt(s){error}")
    if about["submitted_at"]:
        lines.append(f"  {'submitted:':<12}{about['submitted_at']}")
    if about["june_request_id"]:
        lines.append(f"  {'June:':<12}request {about['june_request_id']}")
    for h in story.states:
        june = f", June's time {h['updated_at']}" if h["updated_at"] else ""
        found = f", found in {h['found_in']}" if h["found_in"] else ""
        lines.append(f"  {'seen:':<12}{h['seen_at']}  {h['state']}{june}{found}")
    if story.states:
        lines.append(f"  {'last seen:':<12}{about['last_seen_state']} (started "
                     f"{about['started_seen_at'] or 'not seen'}, finished "
                     f"{about['finished_seen_at'] or 'not seen'})")
    for a in story.acknowledgements:
        lines.append(f"  {'decision:':<12}{a['category']} acknowledged by {a['by']} at "
                     f"{a['at']}: {a['reason']}")
    return "\n".join(lines)


def _unknown_because(story: Story) -> list[str]:
    """Why an ID may be unknown: held as a pseudonym nobody gave the key for, or erased."""
    lines = []
    if story.needs_key:
        lines.append("  this checkpoint holds pseudonymized IDs: give their key "
                     "(--pseudonym-key-file) to look for it among them")
    if story.erased_rows:
        lines.append(f"  retain erased {story.erased_rows:,} rows of finished requests; if it "
                     "was one of them, nothing of it is left here")
    return lines

"""``verify``: a checkpoint directory and its report, checked against the digest record.

Every file digests.jsonl names is read once and compared with its latest record: a file
written whole must have the same SHA-256; an append-only file (journal, runs.jsonl) must
still begin with every prefix recorded, so growing is fine and any edit or truncation is
not. The record itself must chain, each line holding the SHA-256 of the line before; a head
kept elsewhere (``--head``) must be on the chain. A plan or history file that no record names
was slipped in (or written just before a crash). An input file that is gone is named, not
failed: exports are often deleted once processed, and the record keeps their digests.

A rewrite record (``retain``, ``acknowledge``) is its files' record from there on; its old
digest of a file written whole must be the one recorded before it. A rewrite a crash cut short
is named: until the next command finishes it, each file already replaced fails.

Standard input, read once and never kept, cannot be checked again: it is named
``unchecked`` with the SHA-256 it had, which is not a failure either. An object in a store
is read again (the environment's credentials) and checked like a file; one that is gone is
named, one that cannot be read now is ``unchecked``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bulk_delete import buckets, rewrite, shards
from bulk_delete.checkpoint import written_files
from bulk_delete.digests import (
    NAME,
    STDIN,
    file_digest,
    file_records,
    prefix_digests,
    read_chain,
    sha256,
)
from bulk_delete.errors import CheckpointError, InputError, UsageError

#: Finding statuses that fail ``verify`` (exit 4).
FAILED = frozenset({"changed", "truncated", "edited", "missing", "unrecorded"})


@dataclass(frozen=True)
class Finding:
    """What verify found of one file."""

    #: ok, grown, gone (an input file deleted: not a failure), unchecked (standard input,
    #: never kept, or an object the store will not give now: not a failure), interrupted (a
    #: rewrite cut short: its files say whether it failed), or one of FAILED.
    status: str
    #: The file as the record names it.
    path: str
    detail: str
    #: The file's role in the record (input, journal, report, ...), when a record names it.
    role: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILED


@dataclass(frozen=True)
class Checked:
    """One directory's digest record and what verify found."""

    directory: Path
    records: int
    #: SHA-256 of the record's last line, or None when there is no record.
    head: str | None
    findings: tuple[Finding, ...]


def failures(checked: list[Checked]) -> int:
    """How many files, over every directory checked, changed, were truncated or edited."""
    return sum(finding.failed for each in checked for finding in each.findings)


def verify(directory: Path, *, report: Path | None = None,
           head: str | None = None) -> list[Checked]:
    """The directory (or each shard of it, then the directory itself), checked."""
    members = shards.directories(directory)
    if not members and not (directory / "manifest.json").exists():
        raise UsageError(f"{directory} is not a checkpoint directory (no manifest.json and no "
                         "shard-K-of-N directories); pass --checkpoint-dir")
    checked = [_directory(member, None) for member in members]
    return [*checked, _directory(directory, head, report)]


def refuse_edited(directory: Path, command: str) -> None:
    """A CheckpointError when a file ``command`` would rewrite, or the record itself, fails
    verify: rewriting an edited file would record the edit as the command's own. Input
    files are not the checkpoint's: they are not read (the command stays offline, and a
    year of exports is not hashed or fetched again), and a file that is gone cannot be
    laundered."""
    bad = [f for f in _directory(directory, None, inputs=False).findings
           if f.failed and f.status != "missing"]
    if bad:
        names = ", ".join(f"{f.path} ({f.status})" for f in bad[:5])
        raise CheckpointError(f"{command} rewrites only evidence that verifies, and {names} "
                              "does not match the digest record: run bulk-delete verify")


def _directory(directory: Path, head: str | None, report: Path | None = None, *,
               inputs: bool = True) -> Checked:
    links, last, torn = read_chain(directory / NAME)
    if not links and not (directory / NAME).exists():
        return Checked(directory, 0, None, (Finding(
            "missing", NAME, "the digest record is gone: nothing here can be checked"),))
    findings = [Finding("edited", NAME, f"line {link.number}: {link.broken}")
                for link in links if link.broken]
    if torn:
        findings.append(Finding("ok", NAME, "its last line was cut short by a crash while "
                                            "recording; the next run cuts it off"))
    if head is not None and head.lower() not in _heads(directory):
        findings.append(Finding("edited", NAME, f"the head you kept ({head}) is not on this "
                                                "record: the record was rewritten"))
    records = [link.record for link in links if link.record is not None]
    findings += _rewrites(records)
    state = rewrite.interrupted(directory)
    if state is not None:
        findings.append(Finding("interrupted", rewrite.MARKER,
                                f"a retain or acknowledge was cut short ({state}); the next "
                                "command that opens this checkpoint finishes it (any file it "
                                "replaced fails until then)"))
    findings += _files(directory, records, inputs=inputs)
    if report is not None:
        findings.append(_report_copy(report, directory, records))
    return Checked(directory, len(links), last, tuple(findings))


def _heads(directory: Path) -> set[str]:
    """Every head the record has had: the SHA-256 of each line, header included."""
    lines = (directory / NAME).read_bytes().split(b"\n")[:-1]
    return {sha256(line + b"\n") for line in lines}


def _rewrites(records: list[dict[str, Any]]) -> list[Finding]:
    """A rewrite record whose old digest of a whole file is not the one recorded before it."""
    findings: list[Finding] = []
    before: dict[str, Any] = {}
    for record in records:
        for name, held in file_records([record]).items():
            entry = held[-1]
            was = before.get(name)
            if (record.get("mode") == "rewrite" and entry.get("mode") == "whole"
                    and was is not None and was != entry.get("old_sha256")):
                findings.append(Finding("edited", NAME, f"record {record.get('seq')}: its old "
                                        f"digest of {name} is not the one recorded before"))
            before[name] = entry.get("sha256")
    return findings


def _files(directory: Path, records: list[dict[str, Any]], *,
           inputs: bool) -> list[Finding]:
    by_path = file_records(records)
    findings = []
    for name, held in by_path.items():
        if not inputs and held[-1].get("role") == "input":
            continue
        path = directory / name  # an absolute name stays absolute
        found = (_prefix(path, name, held) if held[-1].get("mode") == "prefix" else
                 _whole(path, name, held[-1]))
        findings.append(replace(found, role=str(held[-1].get("role", ""))))
    for path, _ in written_files(directory):
        name = str(path.relative_to(directory))
        if name not in by_path:
            findings.append(Finding("unrecorded", name, "no digest record names it: "
                                    "added by hand, or written just before a crash"))
    return findings


def _whole(path: Path, name: str, record: dict[str, Any]) -> Finding:
    input_file = record.get("role") == "input"
    shown = record.get("given", name) if input_file else name
    if input_file and name == STDIN:
        return Finding("unchecked", shown, f"standard input, read once at {record.get('at')} "
                                           f"and not kept: {_size(record):,} bytes, SHA-256 "
                                           f"{record.get('sha256')} (compare with sha256sum)")
    if input_file and buckets.is_url(name):
        return _object(name, record)
    if not path.is_file():
        if input_file:
            return Finding("gone", shown, f"read at {record.get('at')}, deleted since (not a "
                                          "failure: the record keeps its SHA-256)")
        return Finding("missing", shown, f"recorded at {record.get('at')}, gone now")
    size, digest = file_digest(path)
    if digest == record.get("sha256"):
        return Finding("ok", shown, f"{size:,} bytes as recorded at {record.get('at')}"
                       + _by(record))
    return Finding("changed", shown, f"its SHA-256 is not the one recorded at "
                                     f"{record.get('at')} ({size:,} bytes now, "
                                     f"{_size(record):,} then)")


def _object(url: str, record: dict[str, Any]) -> Finding:
    """An object in a store, read again whole: its SHA-256 must be the one recorded."""
    try:
        data = buckets.read(buckets.objects(url)[0])
    except buckets.Gone:
        return Finding("gone", url, f"read at {record.get('at')}, deleted since (not a "
                                    "failure: the record keeps its SHA-256)")
    except InputError as exc:
        return Finding("unchecked", url, f"cannot be read now ({exc}); its SHA-256 "
                                         f"{record.get('sha256')} is on the record")
    if sha256(data) == record.get("sha256"):
        return Finding("ok", url, f"{len(data):,} bytes as recorded at {record.get('at')}")
    return Finding("changed", url, f"its SHA-256 is not the one recorded at {record.get('at')} "
                                   f"({len(data):,} bytes now, {_size(record):,} then)")


def _prefix(path: Path, name: str, held: list[dict[str, Any]]) -> Finding:
    if not path.is_file():
        return Finding("missing", name, f"recorded at {held[-1].get('at')}, gone now")
    sizes = [_size(record) for record in held]
    now = path.stat().st_size
    if now < max(sizes):
        return Finding("truncated", name, f"{now:,} bytes, but {max(sizes):,} were recorded "
                                          f"at {held[sizes.index(max(sizes))].get('at')}")
    found = prefix_digests(path, sizes)
    for record, size in zip(held, sizes, strict=True):
        if found[size] != record.get("sha256"):
            return Finding("edited", name, f"its first {size:,} bytes are not those recorded "
                                           f"at {record.get('at')}")
    grown = now - max(sizes)
    status = "grown" if grown else "ok"
    return Finding(status, name, f"{max(sizes):,} bytes as recorded at {held[-1].get('at')}"
                                 + _by(held[0]) + (f"; {grown:,} appended since" if grown else ""))


def _report_copy(report: Path, directory: Path, records: Iterable[dict[str, Any]]) -> Finding:
    """A report wherever it is now (handed on, copied) against every report recorded here."""
    if not report.is_file():
        raise UsageError(f"--report {report}: no such file")
    _, digest = file_digest(report)
    written = [r for r in _entries(records) if r.get("role") in ("report", "summary", "page")]
    for record in reversed(written):
        if record.get("sha256") == digest:
            return Finding("ok", str(report), f"the {record['role']} written as "
                                              f"{record.get('path')} at {record.get('at')}")
    return Finding("changed", str(report), f"matches none of the {len(written)} reports, "
                                           f"summaries and pages {directory} recorded")


def _entries(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every file a record names, each file of a rewrite with the rewrite's time."""
    found = []
    for record in records:
        files = record.get("files") if record.get("mode") == "rewrite" else None
        if isinstance(files, list):
            found += [{**entry, "at": record.get("at")} for entry in files
                      if isinstance(entry, dict)]
        else:
            found.append(record)
    return found


def _by(record: dict[str, Any]) -> str:
    """Which command rewrote a file, when its record is a rewrite's."""
    return f" (rewritten by {record.get('command')})" if record.get("rewritten") else ""


def _size(record: dict[str, Any]) -> int:
    size = record.get("size")
    return size if isinstance(size, int) else -1

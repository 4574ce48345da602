"""The digest record: a hash chain over every file a run read or wrote, so a later edit shows.

``digests.jsonl`` in the checkpoint directory, appended, never rewritten, one JSON record a line::

    {"seq": 7, "at": "2026-06-10T12:00:00.123Z", "command": "reconcile", "pid": 4100,
     "role": "journal", "path": "journal.tsv", "mode": "prefix", "size": 1234567,
     "sha256": "9f2c...", "prev": "41ab..."}

``mode`` ``whole``: the file had that size and SHA-256 when it was written (report, summary,
page, a plan, a history file) or read (an input file: ``given`` is the path as the user wrote
it, ``format`` how its bytes were read: csv, parquet, jsonl, json or empty; standard input is
``<stdin>``; an object in a store is its URL, with the ``etag`` and ``version`` it was read
at when the store gives them). ``prefix``: an append-only file (the journal, runs.jsonl)
whose first ``size`` bytes had that SHA-256; later appends keep it true, any edit or
truncation breaks it. Paths inside the directory are relative to it (the directory may
move); others are absolute.

A *rewrite* record (``mode`` ``rewrite``, written by ``retain`` and ``acknowledge``) replaces
several files as one event: ``files`` lists each with its ``old_size``/``old_sha256`` (none for
a new file) and its new ``size``, ``sha256`` and ``mode``. From there on that is the file's
record: the journal's earlier prefixes no longer apply, since its lines were rewritten.

``prev`` is the SHA-256 of the line before (of the header line for the first record): no
record can be changed, removed or slipped in without breaking every ``prev`` after it. The
SHA-256 of the last line, the *head*, is printed at the end of every run. Kept elsewhere (a
ticket, an e-mail), it shows even a chain rewritten from the first line on, which nothing
stored beside the files can.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulk_delete.appendlog import AppendLog
from bulk_delete.errors import InputError
from bulk_delete.journal import utc_now

NAME = "digests.jsonl"
#: The name standard input goes by: read once, never kept.
STDIN = "<stdin>"
HEADER = b"bulk-delete digests 1: one JSON record a line; prev: SHA-256 of the line before\n"
#: Bytes hashed per read.
CHUNK = 1 << 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, in one read."""
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        return f.tell(), digest


def prefix_digests(path: Path, sizes: list[int]) -> dict[int, str | None]:
    """SHA-256 of the first N bytes for each N in ``sizes``, in one read; None past the end."""
    digest, done, found = hashlib.sha256(), 0, {}
    with path.open("rb") as f:
        for size in sorted(set(sizes)):
            while done < size:
                chunk = f.read(min(CHUNK, size - done))
                if not chunk:
                    break
                digest.update(chunk)
                done += len(chunk)
            found[size] = digest.hexdigest() if done == size else None
    return found


@dataclass(frozen=True, kw_only=True)
class InputFile:
    """One ID file as it was read; its SHA-256 shows whether it changed since."""

    #: The path as it was given.
    path: str
    #: SHA-256 of the file's bytes, lowercase hex.
    sha256: str
    #: Size in bytes.
    size: int
    #: When it was read, ISO-8601 UTC.
    read_at: str
    #: The absolute path, where ``verify`` looks for it.
    resolved: str = ""
    #: How its bytes were read (:class:`bulk_delete.sniffing.Format`); "" in older records.
    format: str = ""
    #: An object's ETag and version id, as the store gave them, when it gave them.
    etag: str | None = None
    version: str | None = None


def fingerprint(path: Path, before: os.stat_result, *, form: str = "") -> InputFile:
    """The digest of an input file just read, if it is still the file ``before`` describes.

    Hashed after a successful read (a device that never ends is refused by the reader
    first); if size, time or inode differ from ``before``, taken before the read, the digest
    would not describe the IDs read: an InputError.
    """
    try:
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        after = os.stat(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it: {exc.strerror}") from None
    fields = ("st_dev", "st_ino", "st_size", "st_mtime_ns")
    if any(getattr(before, f) != getattr(after, f) for f in fields):
        raise InputError(f"{path}: changed while it was read (is the export still being "
                         "written?); run again once it is complete")
    return InputFile(path=str(path), sha256=digest, size=after.st_size, read_at=utc_now(),
                     resolved=str(path.resolve()), format=form)


class Chain:
    """digests.jsonl of one directory, open for appending (the caller holds the lock)."""

    def __init__(self, directory: Path, log: AppendLog, *, records: list[dict[str, Any]],
                 lines: int, head: str, command: str) -> None:
        self.directory = directory
        self._log = log
        self._command = command
        #: The records so far, oldest first.
        self.records = records
        self._lines = lines
        #: SHA-256 of the last line: what the next record's ``prev`` holds.
        self.head = head

    def __repr__(self) -> str:
        return f"Chain({str(self.directory)!r}, records={len(self.records)})"

    @classmethod
    def open(cls, directory: Path, command: str) -> Chain:
        """Open (or start) the chain; a torn last line from a crash is cut first."""
        log = AppendLog.open(directory / NAME, HEADER, label="digest record")
        links, head, _ = read_chain(directory / NAME)
        records = [link.record for link in links if link.record is not None]
        return cls(directory, log, records=records, lines=len(links),
                   head=head or sha256(HEADER), command=command)

    def whole(self, path: Path, role: str) -> None:
        """Record a file written (or read) in one piece."""
        self._file(path, role, "whole")

    def prefix(self, path: Path, role: str) -> None:
        """Record an append-only file as it stands: its size and the SHA-256 of those bytes."""
        self._file(path, role, "prefix")

    def _file(self, path: Path, role: str, mode: str) -> None:
        size, digest = file_digest(path)
        self._append(role=role, path=self.name(path), mode=mode, size=size, sha256=digest)

    def rewritten(self, event: str, files: list[dict[str, Any]], **facts: Any) -> None:
        """Record files replaced as one event (``files`` as the module docstring says)."""
        self._append(role=event, mode="rewrite", files=files, **facts)

    def input(self, receipt: InputFile) -> None:
        """Record an input file with the digest taken when it was read."""
        stored = {name: value for name, value in (("etag", receipt.etag),
                                                  ("version", receipt.version)) if value}
        self._append(role="input", path=receipt.resolved, mode="whole", size=receipt.size,
                     sha256=receipt.sha256, given=receipt.path, at=receipt.read_at,
                     format=receipt.format, **stored)

    def names(self) -> set[str]:
        """Every file a record names, as it names them."""
        return set(file_records(self.records))

    def close(self) -> None:
        self._log.close()

    def name(self, path: Path) -> str:
        """The path as a record names it: relative inside the directory, else absolute."""
        try:
            return str(path.resolve().relative_to(self.directory.resolve()))
        except ValueError:
            return str(path.resolve())

    def _append(self, **fields: Any) -> None:
        self._lines += 1
        record = {"seq": self._lines, "at": utc_now(), "command": self._command,
                  "pid": os.getpid(), **fields, "prev": self.head}
        line = (json.dumps(record) + "\n").encode()
        self._log.append(line)
        self.records.append(record)
        self.head = sha256(line)


def file_records(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each file's records, oldest first, by the path they name. A rewrite record starts its
    files' lists afresh with what it recorded (its time and command included)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("mode") == "rewrite" and isinstance(record.get("files"), list):
            for entry in record["files"]:
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    found[entry["path"]] = [{**entry, "at": record.get("at"),
                                             "command": record.get("command"),
                                             "seq": record.get("seq"), "rewritten": True}]
        elif isinstance(record.get("path"), str):
            found.setdefault(record["path"], []).append(record)
    return found


def inputs_read(directory: Path) -> list[InputFile]:
    """The input files a directory's digest record names, in the order they were read."""
    return [receipt for receipts in inputs_of_plans(directory).values() for receipt in receipts]


def inputs_of_plans(directory: Path) -> dict[str, list[InputFile]]:
    """The input files each plan was made from, by the plan's path (``plans/...``).

    A run records its input files, then its plan: the inputs recorded since the last plan
    are this plan's. Inputs of a run that stopped before its plan come under ``""``.
    """
    found: dict[str, list[InputFile]] = {}
    waiting: list[InputFile] = []
    links, _, _ = read_chain(directory / NAME)
    for record in (link.record for link in links):
        if record is None:
            continue
        if record.get("role") == "plan":
            found[str(record.get("path"))] = waiting
            waiting = []
        elif record.get("role") == "input":
            try:
                waiting.append(InputFile(
                    path=str(record.get("given", record["path"])), sha256=str(record["sha256"]),
                    size=int(record["size"]), read_at=str(record["at"]),
                    resolved=str(record["path"]), format=str(record.get("format", "")),
                    etag=record.get("etag"), version=record.get("version")))
            except (KeyError, TypeError, ValueError):
                continue  # an edited record: verify names it
    if waiting:
        found[""] = waiting
    return found


@dataclass(frozen=True)
class Link:
    """One line of a digest file as read back: its number, record, and whether it fits."""

    number: int
    record: dict[str, Any] | None
    #: Why this line breaks the chain, or None.
    broken: str | None


def read_chain(path: Path) -> tuple[list[Link], str | None, bool]:
    """Every line checked against the one before: links, the head, and whether the last
    line is torn (a crash while recording). A missing file reads as no links at all."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], None, False
    if not raw.startswith(HEADER):
        return [Link(1, None, "its first line is not the digest header")], None, False
    body = raw[len(HEADER):]
    torn = bool(body) and not body.endswith(b"\n")
    lines = body.split(b"\n")[:-1]  # the empty end after the last newline, or a torn line
    links: list[Link] = []
    previous = sha256(HEADER)
    for number, text in enumerate(lines, start=2):
        line = text + b"\n"
        links.append(Link(number, *_check(line, previous, len(links) + 1)))
        previous = sha256(line)
    return links, previous, torn


def _check(line: bytes, previous: str, seq: int) -> tuple[dict[str, Any] | None, str | None]:
    try:
        record = json.loads(line)
    except ValueError:
        return None, "not a JSON record"
    if not isinstance(record, dict):
        return None, "not a JSON record"
    if record.get("prev") != previous:
        return record, "its prev is not the SHA-256 of the line before"
    if record.get("seq") != seq:
        return record, f"its seq is {record.get('seq')!r}, not {seq}"
    return record, None

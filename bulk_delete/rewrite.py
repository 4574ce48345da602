"""Several evidence files replaced as one event: after a crash, all the old ones or all the new.

    stage     each new file written beside its target (``.NAME.rewrite``), owner-only, fsynced
    ready     a marker in the checkpoint (MARKER) lists every file, its old and new digests
    rename    each staged file renamed over its target
    record    one rewrite record in digests.jsonl names them all (digests.py)
    done      the marker removed

The marker is written first, listing what will be staged, so a crash while staging leaves the
old files and a list of what to remove. Once it says *ready*, the rewrite goes forward: the next
command that opens the checkpoint (:func:`finish`, from Checkpoint.open) renames what is left
and records the event. Until then ``verify`` fails on every file renamed but not yet recorded,
so a mix of old and new files is never accepted, and it names the rewrite cut short.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulk_delete.digests import NAME as DIGESTS
from bulk_delete.digests import Chain, file_digest
from bulk_delete.errors import CheckpointError
from bulk_delete.files import fsync_path, write_private

MARKER = ".rewrite.json"
#: Tests only: ``EVENT:POINT`` (``retain:staged``, ``retain:renamed:2``, ``retain:recorded``)
#: makes the process stop there until it is killed, so a kill lands exactly mid-rewrite.
PAUSE = "BULK_DELETE_TEST_PAUSE"


@dataclass(frozen=True)
class Change:
    """One file to replace: where, its role in the digest record, how to write the new one."""

    target: Path
    role: str
    #: ``whole``, or ``prefix`` for an append-only file (the journal).
    mode: str
    write: Callable[[Path], object]


class Rewrite:
    """The files one command replaces, committed together by :meth:`commit`."""

    def __init__(self, directory: Path, event: str) -> None:
        self.directory = directory
        #: What the digest record calls the event: ``retain``, ``acknowledge``.
        self.event = event
        self.changes: list[Change] = []

    def __repr__(self) -> str:
        return f"Rewrite({self.event!r}, files={len(self.changes)})"

    def add(self, target: Path, role: str, write: Callable[[Path], object], *,
            mode: str = "whole") -> None:
        """Replace (or create) ``target`` with what ``write(path)`` writes, at commit."""
        self.changes.append(Change(target.absolute(), role, mode, write))

    @staticmethod
    def staged(target: Path) -> Path:
        """Where the new ``target`` is, once staged and until it is renamed into place: what
        a later change of the same rewrite reads (the summary, of the report staged before)."""
        return _staged(target.absolute())

    def commit(self, chain: Chain, **facts: Any) -> list[dict[str, Any]]:
        """Stage, mark ready, rename, record (with ``facts``); returns the files' entries."""
        marker: dict[str, Any] = {
            "state": "staging", "event": self.event, "token": secrets.token_hex(8),
            "facts": facts,
            "files": [{"path": chain.name(c.target), "target": str(c.target),
                       "staged": str(_staged(c.target)), "role": c.role, "mode": c.mode}
                      for c in self.changes]}
        _mark(self.directory, marker)
        try:
            for change, entry in zip(self.changes, marker["files"], strict=True):
                _stage(change, entry)
        except BaseException:
            finish(self.directory)  # not ready: what was staged is removed
            raise
        _pause(self.event, "staged")
        marker["state"] = "ready"
        _mark(self.directory, marker)
        _forward(self.directory, marker, chain)
        return list(marker["files"])


def finish(directory: Path) -> None:
    """Complete a rewrite a crash cut short: forward once it was ready, else undo its staging."""
    path = directory / MARKER
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
        files = marker["files"]
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path} is damaged: a rewrite was cut short and cannot be "
                              "finished; restore the checkpoint from a backup") from None
    if marker.get("state") != "ready":
        for entry in files:
            Path(entry["staged"]).unlink(missing_ok=True)
        _unmark(directory)
        return
    chain = Chain.open(directory, marker.get("event", "rewrite"))
    try:
        _forward(directory, marker, chain)
    finally:
        chain.close()


def interrupted(directory: Path) -> str | None:
    """What a rewrite cut short left (``staging`` or ``ready``), or None."""
    try:
        return str(json.loads((directory / MARKER).read_text(encoding="utf-8")).get("state"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        return "damaged"


def _forward(directory: Path, marker: dict[str, Any], chain: Chain) -> None:
    """Rename what is still staged, record the event once, remove the marker."""
    event = marker["event"]
    _pause(event, "renamed:0")
    for number, entry in enumerate(marker["files"], start=1):
        staged, target = Path(entry["staged"]), Path(entry["target"])
        if staged.exists():
            staged.replace(target)
        elif not target.exists() or file_digest(target)[1] != entry["sha256"]:
            raise CheckpointError(f"{target} is neither the file {event} staged nor the one "
                                  "it wrote; restore the checkpoint from a backup")
        _pause(event, f"renamed:{number}")
    for parent in {Path(entry["target"]).parent for entry in marker["files"]}:
        fsync_path(parent)
    if not any(record.get("rewrite") == marker["token"] for record in chain.records):
        fields = ("path", "role", "mode", "size", "sha256", "old_size", "old_sha256")
        chain.rewritten(event, [{k: entry.get(k) for k in fields} for entry in marker["files"]],
                        rewrite=marker["token"], **marker.get("facts", {}))
        fsync_path(chain.directory / DIGESTS)
    _pause(event, "recorded")
    _unmark(directory)


def _stage(change: Change, entry: dict[str, Any]) -> None:
    """Write one new file beside its target; note the old and new digests in ``entry``."""
    staged = Path(entry["staged"])
    old = file_digest(change.target) if change.target.exists() else (None, None)
    write_private(staged, change.write)
    entry.update(zip(("old_size", "old_sha256"), old, strict=True))
    entry.update(zip(("size", "sha256"), file_digest(staged), strict=True))


def _staged(target: Path) -> Path:
    return target.with_name(f".{target.name}.rewrite")


def _mark(directory: Path, marker: dict[str, Any]) -> None:
    text = json.dumps(marker, indent=1)
    write_private(directory / MARKER, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _unmark(directory: Path) -> None:
    (directory / MARKER).unlink(missing_ok=True)
    fsync_path(directory)


def _pause(event: str, point: str) -> None:
    """The test hook (PAUSE): say where, on stderr, then wait for the kill."""
    if os.environ.get(PAUSE) == f"{event}:{point}":
        os.write(2, f"bulk-delete: paused at {event}:{point}\n".encode())
        while True:
            signal.pause()

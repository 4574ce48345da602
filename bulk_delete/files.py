"""Files that hold personal data: written whole, owner-only, durable, or not at all.

Checkpoint, report, page and history files all go through :func:`write_private`: a
temporary owner-only file, fsynced, renamed into place, its directory fsynced, so a
crash or a full disk leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl

from bulk_delete.errors import CheckpointError

#: What ends the name of a file :func:`write_private` has not finished (``.NAME.tmp``).
TEMPORARY = ".tmp"
#: A file of a numbered series: history, acknowledgements, erasures.
_NUMBERED = re.compile(r"^[0-9]{6}\.parquet$")


def write_private(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary owner-only file, fsync, then rename into place.

    A failure (disk full, no permission) removes the temporary file, which may hold
    IDs, and becomes a CheckpointError naming the file.
    """
    tmp = path.with_name(f".{path.name}{TEMPORARY}")
    try:
        _make_private_dirs(path.parent)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
        fsync_path(path.parent)
    except (OSError, pl.exceptions.PolarsError) as exc:
        tmp.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckpointError(f"cannot write {path}: {reason}") from None


def numbered(folder: Path) -> list[Path]:
    """The files of the numbered series in ``folder`` (``000001.parquet``, ...), oldest
    first."""
    return sorted(path for path in folder.glob("*.parquet") if _NUMBERED.match(path.name))


def next_numbered(folder: Path) -> Path:
    """The next file of the series in ``folder``; the caller holds the lock, so it is free."""
    existing = numbered(folder)
    number = int(existing[-1].stem) + 1 if existing else 1
    return folder / f"{number:06d}.parquet"


def discard_temporaries(directory: Path) -> None:
    """Remove every file under ``directory`` that a write cut short by a crash left; the
    caller holds the directory's lock, so none is being written."""
    for leftover in directory.rglob(f".*{TEMPORARY}"):
        leftover.unlink(missing_ok=True)


def _make_private_dirs(directory: Path) -> None:
    """Create the missing directories of ``directory`` readable by the owner only."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for each in reversed(missing):
        each.mkdir(mode=0o700)


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory's entries (a rename into it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""An append-only line file that survives ``kill -9``: one ``write(2)`` per record, grouped fsync.

Each record goes to the kernel the moment it is appended, so a crash of the
process loses nothing already appended; ``fsync`` runs in groups (every
``SYNC_INTERVAL``) to bound what a power loss can cost. A torn last line (a
write cut short by a crash) is cut off when the file is opened. The file starts
with a header line that names its format; every file is readable by the owner only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from bulk_delete.errors import CheckpointError
from bulk_delete.logs import get_logger
from bulk_delete.tasks import alongside

#: Seconds between group fsyncs while :meth:`AppendLog.syncing` runs.
SYNC_INTERVAL = 0.1


class AppendLog:
    """An open append-only file; a failed write or fsync closes it for good."""

    def __init__(self, path: Path, fd: int, label: str) -> None:
        self.path = path
        #: What the file is, for error messages ("journal", "history").
        self.label = label
        self._fd: int | None = fd
        self._dirty = False

    def __repr__(self) -> str:
        return f"AppendLog({str(self.path)!r}, open={self._fd is not None})"

    @classmethod
    def open(cls, path: Path, header: bytes, *, label: str) -> AppendLog:
        """Create or repair the file, write ``header`` into a new one, open it for appending."""
        try:
            repair_torn_tail(path)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size == 0:
                os.write(fd, header)
                os.fsync(fd)
        except OSError as exc:
            raise CheckpointError(f"cannot open {label} {path}: {exc.strerror}") from None
        return cls(path, fd, label)

    def append(self, data: bytes) -> None:
        """Hand one record (whole lines) to the kernel now; a failed write stops the job."""
        if self._fd is None:
            raise CheckpointError(
                f"{self.label} {self.path} is closed after an earlier write error")
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            self._fail()
            raise CheckpointError(
                f"cannot write {self.label} {self.path}: {exc.strerror}") from None
        if written != len(data):
            self._fail()
            raise CheckpointError(
                f"cannot write {self.label} {self.path}: short write (disk full?)")
        self._dirty = True

    async def sync(self) -> None:
        """fsync what was appended since the last sync, off the event loop."""
        if self._fd is None or not self._dirty:
            return
        self._dirty = False
        try:
            await asyncio.to_thread(os.fsync, self._fd)
        except OSError as exc:
            self._fail()
            raise CheckpointError(
                f"cannot fsync {self.label} {self.path}: {exc.strerror}") from None

    @contextlib.asynccontextmanager
    async def syncing(self) -> AsyncIterator[None]:
        """fsync every SYNC_INTERVAL while the block runs, and once more at its end."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(SYNC_INTERVAL)
                await self.sync()

        try:
            async with alongside(loop()):
                yield
        finally:
            await self.sync()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _fail(self) -> None:
        """Stop appending for good: after a failed write the file's end is unknown."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def repair_torn_tail(path: Path) -> int:
    """Cut a last line that has no newline (a write cut short by a crash); returns bytes cut."""
    try:
        with path.open("r+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            end = size
            while end > 0:
                start = max(0, end - 65536)
                f.seek(start)
                chunk = f.read(end - start)
                if start + len(chunk) == size and chunk.endswith(b"\n"):
                    return 0
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    end = start + newline + 1
                    break
                end = start
            f.truncate(end)
    except FileNotFoundError:
        return 0
    get_logger().warning("bulk_delete.torn_line_cut", path=str(path), bytes_cut=size - end)
    return size - end

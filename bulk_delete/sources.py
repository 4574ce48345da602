"""What the input arguments name: files, globs, ``-`` for standard input, object URLs.

A local file is read where it is, by polars, and hashed after the read (it must not change
meanwhile). Standard input can be read only once: it is read whole into memory, hashed, and
handed to the reader from there, so no copy of the IDs is written anywhere on the way; it is
called ``<stdin>`` in the plan, the digest record and ``lookup``. An object in a store
(:mod:`bulk_delete.buckets`) is listed first and fetched when its turn comes, then read from
memory like standard input; it is named by its URL.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import io
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from bulk_delete import buckets
from bulk_delete.digests import STDIN, InputFile, fingerprint, sha256
from bulk_delete.errors import InputError
from bulk_delete.journal import utc_now

GZIP = b"\x1f\x8b"


@dataclass(frozen=True)
class Source:
    """One input: a local file read in place, bytes read whole (standard input), or an
    object listed in a store (its bytes once :meth:`loaded`)."""

    #: As the plan, the digest record and errors name it.
    name: str
    path: Path | None = None
    data: bytes | None = None
    remote: buckets.Remote | None = None

    def loaded(self) -> Source:
        """This input with an object's bytes fetched (other inputs are ready as they are)."""
        if self.remote is None or self.data is not None:
            return self
        return replace(self, data=buckets.read(self.remote))

    def open(self) -> BinaryIO:
        """The raw bytes, from the start, as a file."""
        if self.path is not None:
            return self.path.open("rb")
        return io.BytesIO(self.data or b"")

    def polars(self) -> Path | bytes:
        """What polars reads: the path, or the bytes. A path with glob characters in it is
        read here first, since some polars readers would take it for a pattern."""
        if self.path is not None and not buckets.GLOB_CHARS.search(str(self.path)):
            return self.path
        with self.open() as stream:
            return stream.read()

    @contextlib.contextmanager
    def decompressed(self) -> Iterator[BinaryIO]:
        """The bytes from the start, decompressed when they are gzip."""
        with self.open() as stream:
            if stream.read(2) != GZIP:
                stream.seek(0)
                yield stream
                return
            stream.seek(0)
            with gzip.GzipFile(fileobj=stream) as inflated:
                yield inflated  # type: ignore[misc]

    def whole(self) -> bytes:
        """All the bytes, decompressed (for readers that need them whole)."""
        with self.decompressed() as stream:
            return stream.read()

    def stat(self) -> os.stat_result | None:
        return os.stat(self.path) if self.path is not None else None

    def receipt(self, before: os.stat_result | None, form: str) -> InputFile:
        """The digest of the bytes just read; a local file must still be as ``before``."""
        if self.path is not None and before is not None:
            return fingerprint(self.path, before, form=form)
        data = self.data or b""
        remote = self.remote
        return InputFile(path=self.name, sha256=sha256(data), size=len(data), read_at=utc_now(),
                         resolved=self.name, format=form, etag=remote.etag if remote else None,
                         version=remote.version if remote else None)


def resolve(inputs: Sequence[str | Path]) -> tuple[Source, ...]:
    """Paths as given, glob matches sorted by name, ``-`` as standard input, objects by URL;
    an input named twice is read once."""
    found: dict[str, Source] = {}
    for item in inputs:
        if str(item) == "-":
            if STDIN not in found:
                found[STDIN] = Source(STDIN, data=_stdin())
            continue
        if buckets.is_url(str(item)):
            for remote in buckets.objects(str(item)):
                found.setdefault(remote.url, Source(remote.url, remote=remote))
            continue
        for path in _expand(str(item)):
            found.setdefault(str(path.resolve()), Source(str(path), path=path))
    if not found:
        raise InputError("no input files given")
    return tuple(found.values())


def _stdin() -> bytes:
    stream = sys.stdin
    if stream is None or stream.closed:
        raise InputError("-: standard input is closed; pipe the IDs in, or name files")
    if stream.isatty():
        raise InputError("-: standard input is a terminal; pipe the IDs in "
                         "(e.g. warehouse-cli query ... | bulk-delete submit -)")
    try:
        return stream.buffer.read()
    except OSError as exc:
        raise InputError(f"-: cannot read standard input: {exc.strerror}") from None


def _expand(item: str) -> list[Path]:
    path = Path(item)
    if path.is_dir():
        raise InputError(f"{item}: is a directory; name its files or a glob such as {item}/*.csv")
    if path.exists():
        return [path]
    if not buckets.GLOB_CHARS.search(item):
        raise InputError(f"{item}: no such file")
    matches = sorted(Path(match) for match in glob.glob(item, recursive=True))
    files = [match for match in matches if match.is_file()]
    if not files:
        raise InputError(f"{item}: no file matches this pattern")
    return files

"""The checkpoint directory: one job's state, owned by one process at a time.

    manifest.json   kind, API host, tool version, creation time, the form of the key
                    June accepted (once a read has shown it)
    journal.tsv     one line per ID outcome (journal.py), the source of truth
    plans/          the IDs each run read, with file and line, for the report and ``lookup``
    history/        what each reconcile saw at June (history.py)
    acknowledged/   each person's decision on rows that needed attention (acknowledgements.py)
    erased/         what rows erased by ``retain`` still count for (erasures.py)
    runs.jsonl      a line when each run starts and ends, for ``status``
    digests.jsonl   digests of every file read or written, hash-chained (digests.py)
    lock            held with flock(2) while a process works here

Every file is created readable by the owner only: IDs are personal data.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from bulk_delete import __version__, acknowledgements, erasures, rewrite
from bulk_delete.digests import Chain
from bulk_delete.errors import CheckpointError
from bulk_delete.files import fsync_path, write_private
from bulk_delete.history import DIRECTORY as HISTORY
from bulk_delete.journal import NAME, Journal, utc_now
from bulk_delete.types import AuthForm, Kind

#: Where each run's plan is kept, and the history's files.
PLANS = "plans"
#: The folders of files written whole that the digest record names, and their role there.
RECORDED = ((PLANS, "plan"), (HISTORY, "history"),
            (acknowledgements.DIRECTORY, acknowledgements.ROLE),
            (erasures.DIRECTORY, erasures.ROLE))
#: A plan's columns as read back (plan.Plan.for_report writes them).
PLAN_SCHEMA = {"id": pl.String, "outcome": pl.String, "error": pl.String, "file": pl.String,
               "line": pl.UInt32}


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """What a checkpoint directory is for; a run that disagrees is refused."""

    kind: Kind
    api_host: str
    tool_version: str = __version__
    created_at: str = ""
    #: The form of the key June accepted (``--auth-style``); None until a read showed it.
    #: Manifests written before it existed lack it.
    auth_style: AuthForm | None = None
    #: What the last ``doctor`` found (doctor.py), with when; None until one ran.
    doctor: dict[str, Any] | None = None
    #: The fingerprint of the key ``retain`` pseudonymizes IDs with (pseudonyms.py); None
    #: until it first used one. Every later command that needs a key needs this one.
    pseudonym_key: str | None = None


class Checkpoint:
    """An open, locked checkpoint directory."""

    def __init__(self, directory: Path, manifest: Manifest, lock_fd: int,
                 command: str = "") -> None:
        self.directory = directory
        self.manifest = manifest
        self._lock_fd = lock_fd
        #: The command working here, as the digest record names it.
        self.command = command
        self._journal: Journal | None = None
        self._digests: Chain | None = None

    @classmethod
    def open(cls, directory: Path, *, kind: Kind | None, api_host: str | None,
             create: bool, command: str = "") -> Checkpoint:
        """Lock the directory and check its manifest; ``None`` takes the manifest's value."""
        if create:
            try:
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise CheckpointError(
                    f"cannot create checkpoint directory {directory}: {exc.strerror}") from None
        elif not (directory / "manifest.json").exists():
            raise CheckpointError(f"{directory} is not a checkpoint directory (no manifest.json);"
                                  " run submit first or pass --checkpoint-dir")
        lock_fd = _lock(directory)
        try:
            manifest = _manifest(directory, kind, api_host, create=create)
            rewrite.finish(directory)  # a retain or acknowledge a crash cut short
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(directory, manifest, lock_fd, command)

    @property
    def journal_path(self) -> Path:
        return self.directory / NAME

    def journal(self) -> Journal:
        """The journal, repaired and open for appending."""
        if self._journal is None:
            self._journal = Journal.open(self.journal_path)
            fsync_path(self.directory)
        return self._journal

    def record_auth_style(self, form: AuthForm) -> None:
        """Keep the form of the key June accepted, for later commands of this job."""
        if self.manifest.auth_style != form:
            self.manifest = replace(self.manifest, auth_style=form)
            _write_manifest(self.directory, self.manifest)

    def record_doctor(self, findings: dict[str, Any]) -> None:
        """Keep what ``doctor`` found, stamped with the time, in the manifest, and the form
        of the key it found June to accept (``auth_style``), for later commands of this job."""
        form = findings.get("auth_style") or self.manifest.auth_style
        self.manifest = replace(self.manifest, auth_style=form,
                                doctor={"at": utc_now(), **findings})
        _write_manifest(self.directory, self.manifest)

    def record_pseudonym_key(self, fingerprint: str) -> None:
        """Bind the checkpoint to the key of its pseudonyms (only its fingerprint is kept)."""
        if self.manifest.pseudonym_key != fingerprint:
            self.manifest = replace(self.manifest, pseudonym_key=fingerprint)
            _write_manifest(self.directory, self.manifest)

    def close_journal(self) -> None:
        """Let go of the journal (a rewrite replaces the file); :meth:`journal` opens it anew."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def digests(self) -> Chain:
        """The digest record, open for appending."""
        if self._digests is None:
            self._digests = Chain.open(self.directory, self.command)
        return self._digests

    def save_plan(self, frame: pl.DataFrame) -> None:
        """Keep the IDs a run read (to send and invalid) for the report, atomically, and
        record its digest."""
        path = self.directory / PLANS / f"{utc_now().replace(':', '')}-{os.getpid()}.parquet"
        write_private(path, frame.write_parquet)
        self.digests().whole(path, "plan")

    def seal(self) -> str:
        """Record the journal and runs.jsonl as they stand, and any plan or history file not
        yet recorded (one written just before a crash); return the record's head."""
        chain = self.digests()
        known = chain.names()
        for path, role in written_files(self.directory):
            if chain.name(path) not in known:
                chain.whole(path, role)
        for name, role in ((NAME, "journal"), ("runs.jsonl", "runs")):
            if (self.directory / name).exists():
                chain.prefix(self.directory / name, role)
        return chain.head

    def log_run(self, **event: Any) -> None:
        """Append one line to runs.jsonl (what ``status`` shows as the last run)."""
        line = json.dumps({"at": utc_now(), "pid": os.getpid(), **event}) + "\n"
        path = self.directory / "runs.jsonl"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise CheckpointError(f"cannot write {path}: {exc.strerror}") from None

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
        if self._digests is not None:
            self._digests.close()
        os.close(self._lock_fd)

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def read_manifest(directory: Path) -> Manifest | None:
    """The manifest of a checkpoint directory, read without the lock; None if there is none."""
    if not (directory / "manifest.json").exists():
        return None
    return _manifest(directory, None, None, create=False)


def written_files(directory: Path) -> Iterator[tuple[Path, str]]:
    """Each file written whole in the folders of RECORDED, in order, with its role."""
    for sub, role in RECORDED:
        for path in sorted((directory / sub).glob("*.parquet")):
            yield path, role


def plans(directory: Path, *, named: bool = False) -> pl.LazyFrame | None:
    """Every plan saved in a checkpoint directory, or None when there is none; ``named``
    adds the plan's own path as ``plan``.

    Plans written before they kept the file and line of every ID read them as null.
    """
    files = sorted((directory / PLANS).glob("*.parquet"))
    if not files:
        return None
    return pl.scan_parquet(files, schema=PLAN_SCHEMA, missing_columns="insert",
                           cast_options=pl.ScanCastOptions(categorical_to_string="allow"),
                           include_file_paths="plan" if named else None)


def last_runs(directory: Path) -> list[dict[str, Any]]:
    """The lines of runs.jsonl, oldest first (empty when the job never ran)."""
    try:
        text = (directory / "runs.jsonl").read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    runs = []
    for line in text.split("\n"):
        with contextlib.suppress(ValueError):
            runs.append(json.loads(line))
    return runs


def _lock(directory: Path) -> int:
    path = directory / "lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise CheckpointError(f"cannot write in {directory}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise CheckpointError(f"checkpoint directory {directory} is in use by another "
                              f"bulk-delete process (pid {holder})") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise CheckpointError(f"cannot write in {directory}: {exc.strerror}") from None
    return fd


def _manifest(directory: Path, kind: Kind | None, api_host: str | None, *,
              create: bool) -> Manifest:
    path = directory / "manifest.json"
    if not path.exists() and create:
        if kind is None or api_host is None:
            raise CheckpointError(f"{directory} has no manifest and no kind/API to start one")
        manifest = Manifest(kind=kind, api_host=api_host, created_at=utc_now())
        _write_manifest(directory, manifest)
        return manifest
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest(kind=data["kind"], api_host=data["api_host"],
                            tool_version=data.get("tool_version", "?"),
                            created_at=data.get("created_at", ""),
                            auth_style=data.get("auth_style"), doctor=data.get("doctor"),
                            pseudonym_key=data.get("pseudonym_key"))
        if manifest.auth_style not in (None, "raw", "basic"):
            raise ValueError(manifest.auth_style)
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path} is unreadable or damaged") from None
    for name, wanted, held in (("kind", kind, manifest.kind),
                               ("API host", api_host, manifest.api_host)):
        if wanted is not None and wanted != held:
            raise CheckpointError(f"{directory} belongs to a job with {name} {held!r}, not "
                                  f"{wanted!r}; use another --checkpoint-dir")
    return manifest


def _write_manifest(directory: Path, manifest: Manifest) -> None:
    text = json.dumps(asdict(manifest), indent=2)
    write_private(directory / "manifest.json", lambda tmp: tmp.write_text(text))

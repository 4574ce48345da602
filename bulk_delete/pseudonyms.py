"""Keyed pseudonyms: an ID the evidence no longer names, that the key still recognises.

A pseudonym is ``pseudonym:`` and the HMAC-SHA256, under the user's key, of the job's kind, a
NUL and the ID, in 64 lowercase hex digits, as ``openssl dgst -sha256 -hmac`` prints it::

    pseudonym:d49fce3c06...    HMAC-SHA256(key, b"user\\x00usr_5b6762b34f")

The same ID gives the same pseudonym in every file and every run, so the evidence still joins
(journal, plans, history, report) and a later export's ID is recognised as already erased;
without the key, nobody can tell which ID it was by hashing guessed IDs. An input value of
this exact shape is refused as an ID (plan.py), so a pseudonym is never mistaken for one.

The key lives outside the checkpoint (a key beside the evidence would undo the point); only
its fingerprint, a keyed hash of a fixed text, goes into the manifest, to refuse another key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from bulk_delete.errors import UsageError
from bulk_delete.types import Kind

PREFIX = "pseudonym:"
#: The whole shape of a pseudonym: a value like this is never an ID.
PATTERN = r"^pseudonym:[0-9a-f]{64}$"
#: Shorter keys are refused: a pseudonym is only as hard to reverse as its key is to guess.
MIN_KEY_BYTES = 16
KEY_VARIABLE = "BULK_DELETE_PSEUDONYM_KEY_FILE"
#: IDs hashed per batch: Python strings exist for one batch at a time.
BATCH = 100_000
_FINGERPRINT_OF = b"bulk-delete pseudonym key fingerprint"
#: Characters that make a longer word of an ID found inside a message.
_WORD = "A-Za-z0-9"


@dataclass(frozen=True)
class PseudonymKey:
    """The user's key, held without showing itself, and its fingerprint."""

    _secret: bytes = field(repr=False)
    #: What the manifest keeps: 16 hex digits of a keyed hash of a fixed text.
    fingerprint: str

    def one(self, kind: Kind, subject: str) -> str:
        """The pseudonym of one ID."""
        return PREFIX + self._digest(kind, subject).hex()

    def of(self, kind: Kind, ids: pl.Series) -> pl.Series:
        """The pseudonym of each ID (null stays null), a batch at a time: the HMACs in
        Python (about 1.4 s a million), their hex in polars."""
        parts = [pl.Series([None if i is None else self._digest(kind, i)
                            for i in ids.slice(offset, BATCH).to_list()], dtype=pl.Binary)
                 for offset in range(0, len(ids), BATCH)]
        digests = pl.concat(parts) if parts else pl.Series([], dtype=pl.Binary)
        return (PREFIX + digests.bin.encode("hex")).alias(ids.name)

    def _digest(self, kind: Kind, subject: str) -> bytes:
        return hmac.digest(self._secret, f"{kind}\0{subject}".encode(), "sha256")


def key_from(secret: bytes) -> PseudonymKey:
    """A key from its bytes (a file's, without its trailing line breaks)."""
    if len(secret) < MIN_KEY_BYTES:
        raise UsageError(f"the pseudonym key holds {len(secret)} bytes; it needs at least "
                         f"{MIN_KEY_BYTES} (make one with: openssl rand -hex 32 > FILE)")
    mark = hmac.new(secret, _FINGERPRINT_OF, hashlib.sha256).hexdigest()[:16]
    return PseudonymKey(secret, mark)


def load(path: Path, checkpoints: Sequence[Path]) -> PseudonymKey:
    """The key in ``path``; a usage error when it is inside a checkpoint, unreadable or short."""
    resolved = path.resolve()
    for directory in checkpoints:
        if resolved.is_relative_to(directory.resolve()):
            raise UsageError(f"pseudonym key file {path} is inside the checkpoint {directory}: "
                             "keep the key elsewhere, or whoever holds the evidence can "
                             "reverse the pseudonyms")
    try:
        secret = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read pseudonym key file {path}: {exc.strerror}") from None
    return key_from(secret.rstrip(b"\r\n"))


def require(held: str | None, key: PseudonymKey | None, command: str) -> None:
    """Refuse to plan against a checkpoint that holds pseudonyms without their key: every
    pseudonymized ID would look new and be sent again."""
    if held is not None and key is None:
        raise UsageError(f"this checkpoint pseudonymizes its IDs under a key (fingerprint "
                         f"{held}): {command} needs their key to recognise those already "
                         f"pseudonymized, or it would send them all again; set "
                         f"--pseudonym-key-file or {KEY_VARIABLE}")
    check_fingerprint(held, key)


def check_fingerprint(held: str | None, key: PseudonymKey | None) -> None:
    """Refuse a key other than the one this checkpoint's pseudonyms were made with."""
    if held is not None and key is not None and key.fingerprint != held:
        raise UsageError(f"this checkpoint's IDs are pseudonymized under another key "
                         f"(fingerprint {held}; the key given has {key.fingerprint}): "
                         "give the key retain used")


def is_pseudonym(column: str = "id") -> pl.Expr:
    """True where the column holds a pseudonym (null never does)."""
    return pl.col(column).str.contains(PATTERN).fill_null(value=False)


def scrub(text: str, subject: str, pseudonym: str) -> str:
    """``text`` (June's message, a person's reason) with the ID, where it stands as a word of
    its own, replaced by its pseudonym: ``1`` goes from "for 1" but not from "HTTP 401"."""
    word = re.compile(f"(?<![{_WORD}]){re.escape(subject)}(?![{_WORD}])")
    return word.sub(pseudonym, text)


def scrub_column(frame: pl.LazyFrame, text: str, old: str = "id",
                 new: str = "new_id") -> pl.LazyFrame:
    """``frame`` with ``text`` scrubbed (:func:`scrub`) of ``old`` in each row where ``new`` is
    set; only the rows whose text holds the ID at all (few: June's messages rarely repeat an
    ID) are read into Python, and joined back by ID and text."""
    holds = (pl.col(new).is_not_null()
             & pl.col(text).cast(pl.String).str.contains(pl.col(old), literal=True)
             ).fill_null(value=False)
    touched = frame.filter(holds).select(old, new, text).unique().collect()
    if not touched.height:
        return frame
    patch = touched.select(old, text, _fixed=pl.Series(
        [scrub(t, o, n) for o, n, t in touched.iter_rows()], dtype=pl.String))
    return (frame.join(patch.lazy(), on=[old, text], how="left", maintain_order="left")
            .with_columns(pl.coalesce("_fixed", text).alias(text)).drop("_fixed"))

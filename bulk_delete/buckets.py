"""Object-store inputs: a URL or glob (``s3://exports/gdpr/*.parquet``) -> the objects it
names, each read once, whole, pinned to what the listing said of it.

polars reads object stores too, but shows neither the bytes nor the ETag; the digest record
must hold the SHA-256 of the very bytes parsed, and an object overwritten between the listing
and the read must be refused, as a local file that changes is. So each object is fetched
once with obstore (the binding of the Rust object_store crate that polars itself uses, with
the same credential chain), as a conditional GET (``If-Match`` its listed ETag, and its
version when the store keeps versions), then hashed, sniffed and handed to the reader as
bytes. An object is held in memory while it is read, one at a time.

A glob is matched against keys as a local glob is against paths: ``*`` and ``?`` within a
``/``-separated segment, ``**/`` across any number of them; matches are read sorted. Every
error is one sentence naming the URL (never a credential): no such bucket or object, no
match, access denied (naming the credential source), a store that cannot be reached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import (
    BaseError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
)

from bulk_delete.cloud_auth import CLOUDS, Store, scrub, store_for
from bulk_delete.errors import InputError
from bulk_delete.network import is_loopback

#: What makes an input argument a URL.
URL = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
#: What makes a path or key a glob (here and for local files).
GLOB_CHARS = re.compile(r"[*?[]")
#: S3's, GCS's and Azure's words for a bucket that is not there.
NO_BUCKET = re.compile(r"NoSuchBucket|ContainerNotFound|bucket does not exist", re.IGNORECASE)
#: How object_store says that no answer came (a refused connection, no name, a time-out).
UNREACHABLE = re.compile(r"error sending request|connection refused|dns error|timed out",
                         re.IGNORECASE)
#: What obstore raises: its own errors, and builtins (FileNotFoundError) for some.
STORE_ERRORS = (BaseError, OSError, ValueError)


class Gone(InputError):
    """The bucket or the object is not there."""


@dataclass(frozen=True)
class Remote:
    """One object as the store listed it; ``read`` fetches exactly that object."""

    url: str
    key: str
    size: int
    etag: str | None
    version: str | None
    where: Store


def is_url(item: str) -> bool:
    return bool(URL.match(item))


def objects(item: str) -> list[Remote]:
    """The objects a URL or glob names, sorted by key; InputError when there are none."""
    scheme, root, key = _split(item)
    try:
        where = store_for(scheme, root)
    except STORE_ERRORS as exc:
        raise InputError(f"{item}: cannot use the store: {_first_line(scrub(str(exc)))}") from None
    if GLOB_CHARS.search(key):
        return _matching(item, root, key, where)
    try:
        meta = obstore.head(where.store, key)
    except STORE_ERRORS as exc:
        raise _error(item, exc, where, bucket_check=True) from None
    return [_remote(root, meta, where)]


def read(remote: Remote) -> bytes:
    """The object's bytes, as listed: a conditional GET, refused if the object changed."""
    options: Any = {"if_match": remote.etag} if remote.etag else {}
    if remote.version:
        options["version"] = remote.version
    try:
        result = obstore.get(remote.where.store, remote.key, options=options)
        data = bytes(result.bytes())
    except PreconditionError:
        raise _changed(remote.url) from None
    except STORE_ERRORS as exc:
        raise _error(remote.url, exc, remote.where) from None
    if len(data) != result.meta["size"] or (remote.etag and result.meta["e_tag"] != remote.etag):
        raise _changed(remote.url)
    return data


def _split(item: str) -> tuple[str, str, str]:
    """Scheme, store root (``s3://bucket``) and key of a URL; refused if it holds a secret."""
    parts = urlsplit(item)
    scheme = parts.scheme.lower()
    if scheme not in CLOUDS:
        raise InputError(f"{item}: {scheme}:// is not a store the reader knows (s3://, gs://, "
                         "az://, https://)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InputError(f"{_shown(parts)}: the URL must not hold credentials or a query (a "
                         "presigned URL or SAS token is a credential): use the environment")
    if scheme == "http" and not is_loopback(parts.hostname or ""):
        raise InputError(f"{item}: plain http:// only to a loopback address; use https://")
    key = parts.path.lstrip("/")
    if not parts.netloc or not key:
        raise InputError(f"{item}: name an object or a glob, e.g. {scheme}://bucket/"
                         "exports/*.parquet")
    if scheme in ("http", "https") and GLOB_CHARS.search(key):
        raise InputError(f"{item}: a web server cannot be listed; name each file")
    return scheme, f"{scheme}://{parts.netloc}", key


def _matching(item: str, root: str, pattern: str, where: Store) -> list[Remote]:
    literal = GLOB_CHARS.split(pattern, 1)[0]
    prefix = literal[: literal.rfind("/") + 1]
    wanted = _glob(pattern)
    try:
        listed = [meta for chunk in obstore.list(where.store, prefix=prefix or None)
                  for meta in chunk]
    except STORE_ERRORS as exc:
        raise _error(item, exc, where) from None
    found = sorted((m for m in listed if wanted.fullmatch(m["path"])
                    and not m["path"].endswith("/")), key=lambda m: m["path"])  # folder markers
    if not found:
        raise InputError(f"{item}: no object matches this pattern ({len(listed):,} objects "
                         f"under {root}/{prefix})")
    return [_remote(root, meta, where) for meta in found]


def _glob(pattern: str) -> re.Pattern[str]:
    """A key glob as a regular expression: ``*``, ``?`` and ``[...]`` within a segment,
    ``**/`` across segments."""
    parts = re.split(r"(\*\*/|\*|\?|\[[^]]*\])", pattern)
    regex = {"**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(
        regex.get(part) or (f"[^{part[2:-1]}]" if part.startswith("[!") else part)
        if index % 2 else re.escape(part) for index, part in enumerate(parts)))


def _remote(root: str, meta: Any, where: Store) -> Remote:
    return Remote(url=f"{root}/{meta['path']}", key=meta["path"], size=meta["size"],
                  etag=meta["e_tag"], version=meta["version"], where=where)


def _changed(url: str) -> InputError:
    return InputError(f"{url}: changed while it was read (its ETag or size is no longer the "
                      "one listed: is the export still being written?); run again once it is "
                      "complete")


def _error(item: str, exc: Exception, where: Store, *,
           bucket_check: bool = False) -> InputError:
    """One sentence for what went wrong; the store's message is scrubbed of every secret."""
    text = scrub(str(exc))
    if isinstance(exc, FileNotFoundError | NotFoundError):
        if bucket_check and _no_bucket(where):
            return Gone(f"{item}: no such bucket")
        return Gone(f"{item}: no such object")
    if isinstance(exc, PermissionDeniedError | UnauthenticatedError) or "403 Forbidden" in text:
        return InputError(f"{item}: access denied with {where.credentials}")
    if NO_BUCKET.search(text):
        return Gone(f"{item}: no such bucket")
    if UNREACHABLE.search(text):
        return InputError(f"{item}: cannot reach the store ({_first_line(text)})")
    return InputError(f"{item}: cannot read it: {_first_line(text)}")


def _no_bucket(where: Store) -> bool:
    """Whether the store's bucket itself is missing (a HEAD of a key cannot tell)."""
    try:
        next(iter(obstore.list(where.store, chunk_size=1)), None)
    except STORE_ERRORS as exc:
        return bool(NO_BUCKET.search(str(exc)))
    return False


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["unknown error"])[0][:300]


def _shown(parts: Any) -> str:
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"

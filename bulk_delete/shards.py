"""Which IDs belong to shard K of N, so N processes can split one very large list.

The shard of an ID is ``crc32(utf-8 bytes) mod N``: stable across runs, machines,
Python and polars versions (polars' own hash is stable only within one version),
so a daily run puts each ID in the same shard, and its checkpoint, every time.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import polars as pl

from bulk_delete.errors import UsageError

#: IDs hashed per batch: Python strings exist for one batch at a time.
BATCH = 100_000
#: The name of shard K of N's checkpoint directory (config.resolve makes it).
_DIRECTORY = re.compile(r"shard-([0-9]+)-of-([0-9]+)")


def parse(text: str) -> tuple[int, int]:
    """``"K/N"`` with 1 <= K <= N, as ``--shard`` takes it."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise UsageError(f"--shard must look like K/N (e.g. 2/4), not {text!r}")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text}: K must be between 1 and N")
    return index, count


def from_job_index(count: int, index: str | None) -> tuple[int, int]:
    """Shard for ``--shards N`` from JOB_COMPLETION_INDEX (0-based, as Kubernetes sets it)."""
    if index is None or not index.isdigit() or int(index) >= count:
        raise UsageError(f"--shards {count} needs JOB_COMPLETION_INDEX between 0 and "
                         f"{count - 1} (a Kubernetes Indexed Job sets it); got {index!r}")
    return int(index) + 1, count


def directories(parent: Path) -> list[Path]:
    """The shard checkpoints under ``parent`` (``shard-K-of-N/`` with a manifest), by K.

    Empty when ``parent`` is a checkpoint itself or holds no shards. Shards of different
    N (a job re-split) are a usage error: their IDs overlap.
    """
    if (parent / "manifest.json").exists():
        return []
    found = {}
    for path in parent.glob("shard-*-of-*"):
        match = _DIRECTORY.fullmatch(path.name)
        if match and (path / "manifest.json").exists():
            found[int(match[1]), int(match[2])] = path
    counts = {count for _, count in found}
    if len(counts) > 1:
        raise UsageError(f"{parent} holds shards of {sorted(counts)} shards at once; "
                         "reconcile each shard with --shard K/N")
    return [found[key] for key in sorted(found)]


def in_shard(ids: pl.Series, index: int, count: int) -> pl.Series:
    """A boolean mask: True where the ID belongs to shard ``index`` (1-based) of ``count``."""
    parts = [
        pl.Series([zlib.crc32(i.encode()) % count == index - 1
                   for i in ids.slice(offset, BATCH).to_list()], dtype=pl.Boolean)
        for offset in range(0, len(ids), BATCH)
    ]
    return pl.concat(parts) if parts else pl.Series(dtype=pl.Boolean)

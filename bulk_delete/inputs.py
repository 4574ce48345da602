"""ID files -> one polars frame of string IDs, each with the file and line it came from.

Inputs are CSV (comma, tab, semicolon or pipe; with or without a header; plain or gzip) and
Parquet, named by path or glob. The format is told by content (``PAR1``, gzip's ``1f 8b``), the
suffix only when content cannot tell. IDs are strings exactly as written, only trimmed: polars
never infers a number from an ID column, so ``00123`` stays ``00123``. Only the ID column is
read, so memory follows the number of rows, not the width or the size of the file.

Decisions a reader cannot see in the code:

- An empty file (0 bytes, or only whitespace) holds zero IDs and is not an error: a daily export
  with no requests in it is normal, and the plan table shows its 0 rows.
- A float Parquet column is accepted only if every value is a whole number up to 2**53. Anything
  else means the IDs were rounded on the way, and a rounded ID deletes the wrong person.
- ``line`` is the data row number plus the header line: the line an editor shows, unless a
  quoted value spans lines. In Parquet it is the 1-based row.
- Invalid IDs are null, empty after trimming, or hold a control character (C0, DEL or C1: the
  C1 range appears when bytes were decoded with the wrong code page).
"""

from __future__ import annotations

import codecs
import glob
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import polars as pl

from bulk_delete import csv_files
from bulk_delete.columns import Layout, Unreadable, pick_column
from bulk_delete.digests import InputFile, fingerprint
from bulk_delete.errors import InputError
from bulk_delete.types import Kind

#: Floats are exact integers up to here; beyond it, neighbouring IDs share one float.
MAX_EXACT_FLOAT = 2**53

_CONTROL = r"[\x00-\x1f\x7f-\x9f]"
_GLOB_CHARS = re.compile(r"[*?[]")


class InputIds(NamedTuple):
    """The rows of every input file, in input order, and the files they came from."""

    #: One row per data row: ``id`` (String, trimmed, null where invalid), ``file`` (UInt32,
    #: index into ``files``), ``line`` (UInt32) and ``raw`` (Categorical), the value as written
    #: where the row is invalid, null elsewhere.
    ids: pl.DataFrame
    #: The files read, globs expanded, each file once, in the order given.
    files: tuple[Path, ...]
    #: Size and SHA-256 of each file's bytes as they were read, in the same order.
    receipts: tuple[InputFile, ...]


def read_ids(
    inputs: Sequence[str | Path],
    *,
    kind: Kind,
    column: str | None = None,
    has_header: bool = True,
) -> InputIds:
    """Read the ID column of every file that ``inputs`` (paths and globs) names.

    ``column`` is a header name (trimmed; case is ignored when that is unambiguous) or a 1-based
    position; without it the column is ``<kind>_id``, else ``id``, else the only column, and in a
    file without a header the first column (named ``column_1``, ``column_2``, ...).
    """
    files = _resolve(inputs)
    layout = Layout(kind, column, has_header)
    read = [_read_file(path, layout, index) for index, path in enumerate(files)]
    return InputIds(pl.concat([frame for frame, _ in read]), files,
                    tuple(receipt for _, receipt in read))


def _resolve(inputs: Sequence[str | Path]) -> tuple[Path, ...]:
    """Paths as given and glob matches sorted by name; a file named twice is read once."""
    found: dict[Path, Path] = {}
    for item in inputs:
        for path in _expand(str(item)):
            found.setdefault(path.resolve(), path)
    if not found:
        raise InputError("no input files given")
    return tuple(found.values())


def _expand(item: str) -> list[Path]:
    path = Path(item)
    if path.is_dir():
        raise InputError(f"{item}: is a directory; name its files or a glob such as {item}/*.csv")
    if path.exists():
        return [path]
    if not _GLOB_CHARS.search(item):
        raise InputError(f"{item}: no such file")
    matches = sorted(Path(match) for match in glob.glob(item, recursive=True))
    files = [match for match in matches if match.is_file()]
    if not files:
        raise InputError(f"{item}: no file matches this pattern")
    return files


def _read_file(path: Path, layout: Layout, index: int) -> tuple[pl.DataFrame, InputFile]:
    """One file's rows of :class:`InputIds` and its digest; any failure is an InputError.

    The file is read, then hashed; if it is not the same file as before the read (size,
    time or inode changed), the digest would not describe the IDs read: an error too.
    """
    try:
        before = os.stat(path)
        frame = _validate(_scan(path, layout), index)
        return frame, fingerprint(path, before)
    except Unreadable as exc:
        reason = str(exc)
    except (pl.exceptions.PolarsError, OSError, EOFError, zlib.error) as exc:
        reason = f"cannot read it: {_reason(exc)}"
    raise InputError(f"{path}: {reason}")


def _validate(frame: pl.LazyFrame, index: int) -> pl.DataFrame:
    """Trimmed IDs, null where invalid, from the ``line``, ``raw`` and ``ragged`` columns.

    ``raw`` is kept as a Categorical: a mostly-null String column made by ``when/then`` would
    still hold every row's bytes (+400 MB for ten million UUIDs); this costs 4 bytes a row.
    """
    trimmed = pl.col("trimmed")
    rows = (
        frame.with_columns(trimmed=pl.col("raw").str.strip_chars())
        .with_columns(valid=(trimmed.str.len_bytes() > 0) & ~trimmed.str.contains(_CONTROL))
        .select(
            id=pl.when("valid").then(trimmed),
            file=pl.lit(index, pl.UInt32),
            line=pl.col("line").cast(pl.UInt32),
            raw=pl.when(~pl.col("valid")).then("raw").cast(pl.Categorical),
            ragged="ragged",
        )
        .collect(engine="streaming")
    )
    ragged = rows.filter("ragged")
    if ragged.height:
        raise Unreadable(
            f"line {ragged['line'][0]} has more fields than the header, so its columns may be "
            "shifted: is a delimiter inside an unquoted value?"
        )
    return rows.drop("ragged")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0][:200]


def _scan(path: Path, layout: Layout) -> pl.LazyFrame:
    head, at_eof = csv_files.first_bytes(path)
    if at_eof and not head.removeprefix(codecs.BOM_UTF8).strip():
        return pl.LazyFrame(schema={"line": pl.UInt32, "raw": pl.String, "ragged": pl.Boolean})
    if head.startswith(b"PAR1"):
        return _scan_parquet(path, layout)
    if path.suffix.lower() in (".parquet", ".pq"):
        raise Unreadable("not a Parquet file: it does not start with PAR1")
    return csv_files.scan_csv(path, head, at_eof, layout)


def _scan_parquet(path: Path, layout: Layout) -> pl.LazyFrame:
    frame = pl.scan_parquet(path, glob=False, hive_partitioning=False)
    schema = frame.collect_schema()
    names = schema.names()
    with_names = replace(layout, has_header=True)  # --no-header is about CSV
    name = names[pick_column([name.strip() for name in names], with_names)]
    rows = frame.select(raw=pl.col(name), ragged=False).with_row_index("line", offset=1)
    return _as_text(rows, schema[name])


def _as_text(frame: pl.LazyFrame, dtype: pl.DataType) -> pl.LazyFrame:
    """The ``raw`` column as text: integers as their digits, never through a float."""
    whole = dtype.is_integer() or (isinstance(dtype, pl.Decimal) and dtype.scale == 0)
    if whole or isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null):
        return frame.with_columns(pl.col("raw").cast(pl.String))
    if dtype.is_float():
        return _whole_floats(frame.collect(engine="streaming")).lazy()
    raise Unreadable(f"the ID column has type {dtype}; IDs must be text or whole numbers")


def _whole_floats(frame: pl.DataFrame) -> pl.DataFrame:
    """Floats rendered as integer text; NaN is a missing value, a fraction is an error."""
    raw = pl.col("raw")
    broken = frame.filter(raw.is_not_nan() & ((raw % 1 != 0) | (raw.abs() > MAX_EXACT_FLOAT)))
    if broken.height:
        raise Unreadable(
            f"the ID column holds floats that are not whole numbers up to 2**53 (first at row "
            f"{broken['line'][0]}): such IDs were rounded or mangled; export them as text"
        )
    return frame.with_columns(raw.fill_nan(None).cast(pl.Int64).cast(pl.String))



"""ID files -> one polars frame of string IDs, each with the input and line it came from.

Inputs are named by path, glob, or ``-`` for standard input (:mod:`bulk_delete.sources`),
and read by what their bytes are (:mod:`bulk_delete.sniffing`), the name deciding nothing:
CSV (comma, tab, semicolon or pipe; with or without a header), Parquet, JSON Lines and JSON
arrays, each plain or gzip. IDs are strings exactly as written, only trimmed: polars never
infers a number from an ID column, so ``00123`` stays ``00123``, and typed values become
text only when that text is exact (:mod:`bulk_delete.exact`). Only the ID column is read, so
memory follows the number of rows, not the width or the size of the file.

Decisions a reader cannot see in the code:

- An empty input (0 bytes, or only whitespace) holds zero IDs and is not an error: a daily
  export with no requests in it is normal, and the plan table shows its 0 rows.
- ``line`` is the data row number plus the header line: the line an editor shows, unless a
  quoted value spans lines. In JSON Lines it is the line; in a JSON array, the element's
  position; in Parquet, the 1-based row.
- Invalid IDs are null, empty after trimming, or hold a control character (C0, DEL or C1: the
  C1 range appears when bytes were decoded with the wrong code page).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import polars as pl

from bulk_delete import csv_files, json_files
from bulk_delete.columns import Layout, Unreadable, pick_column
from bulk_delete.digests import InputFile
from bulk_delete.errors import InputError
from bulk_delete.exact import as_text
from bulk_delete.sniffing import Format, first_bytes, sniff
from bulk_delete.sources import Source, resolve
from bulk_delete.types import Kind

_CONTROL = r"[\x00-\x1f\x7f-\x9f]"
#: A frame of no rows, as every reader returns them.
NO_ROWS = {"line": pl.UInt32, "raw": pl.String, "ragged": pl.Boolean}


class InputIds(NamedTuple):
    """The rows of every input file, in input order, and the files they came from."""

    #: One row per data row: ``id`` (String, trimmed, null where invalid), ``file`` (UInt32,
    #: index into ``files``), ``line`` (UInt32) and ``raw`` (Categorical), the value as written
    #: where the row is invalid, null elsewhere.
    ids: pl.DataFrame
    #: The names of the inputs read (globs expanded, each once, in the order given): a
    #: path as given, or ``<stdin>``.
    files: tuple[str, ...]
    #: Size, SHA-256 and format of each input's bytes as they were read, in the same order.
    receipts: tuple[InputFile, ...]


def read_ids(
    inputs: Sequence[str | Path],
    *,
    kind: Kind,
    column: str | None = None,
    has_header: bool = True,
) -> InputIds:
    """Read the ID column of every input that ``inputs`` (paths, globs, ``-``) names.

    ``column`` is a header name (trimmed; case is ignored when that is unambiguous) or a 1-based
    position; without it the column is ``<kind>_id``, else ``id``, else the only column, and in a
    file without a header the first column (named ``column_1``, ``column_2``, ...).
    """
    sources = resolve(inputs)
    layout = Layout(kind, column, has_header)
    read = [_read(source, layout, index) for index, source in enumerate(sources)]
    return InputIds(pl.concat([frame for frame, _ in read]),
                    tuple(source.name for source in sources),
                    tuple(receipt for _, receipt in read))


def _read(source: Source, layout: Layout, index: int) -> tuple[pl.DataFrame, InputFile]:
    """One input's rows of :class:`InputIds` and its digest; any failure is an InputError.

    A file is read, then hashed; if it is not the same file as before the read (size,
    time or inode changed), the digest would not describe the IDs read: an error too.
    """
    source = source.loaded()  # an object's bytes, only while it is read
    try:
        before = source.stat()
        form, frame = _scan(source, layout)
        return _validate(frame, index), source.receipt(before, form)
    except Unreadable as exc:
        reason = str(exc)
    except (pl.exceptions.PolarsError, OSError, EOFError, zlib.error) as exc:
        reason = f"cannot read it: {_reason(exc)}"
    raise InputError(f"{source.name}: {reason}")


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


def _scan(source: Source, layout: Layout) -> tuple[Format, pl.LazyFrame]:
    head, at_eof, gzipped = first_bytes(source)
    parquet_name = Path(source.name).suffix.lower() in (".parquet", ".pq")
    form = sniff(head, at_eof, gzipped=gzipped, parquet_name=parquet_name)
    if form is Format.EMPTY:
        return form, pl.LazyFrame(schema=NO_ROWS)
    if form is Format.PARQUET:
        return form, _scan_parquet(source, layout)
    if form is Format.JSON_LINES:
        return form, json_files.scan_json_lines(source, head, at_eof, layout)
    if form is Format.JSON_ARRAY:
        return form, json_files.read_json_array(source, layout)
    return form, csv_files.scan_csv(source, head, at_eof, layout)


def _scan_parquet(source: Source, layout: Layout) -> pl.LazyFrame:
    frame = pl.scan_parquet(source.polars(), glob=False, hive_partitioning=False)
    schema = frame.collect_schema()
    names = schema.names()
    with_names = replace(layout, has_header=True)  # --no-header is about CSV
    name = names[pick_column([name.strip() for name in names], with_names)]
    rows = frame.select(raw=pl.col(name), ragged=False).with_row_index("line", offset=1)
    return as_text(rows, schema[name])

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
import csv
import glob
import gzip
import io
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

from bulk_delete.config import Kind
from bulk_delete.errors import InputError

#: Bytes read from the start of a file to tell its format and CSV delimiter.
SNIFF_BYTES = 1 << 20
#: CSV records that must agree on the delimiter.
SNIFF_RECORDS = 50
#: Candidate CSV delimiters; on a tie the earlier one wins.
DELIMITERS = ",\t;|"
#: Floats are exact integers up to here; beyond it, neighbouring IDs share one float.
MAX_EXACT_FLOAT = 2**53
#: At most this many column names are listed in an error.
LISTED_COLUMNS = 20

_CONTROL = r"[\x00-\x1f\x7f-\x9f]"
_GLOB_CHARS = re.compile(r"[*?[]")
#: polars renames a repeated header name ``id`` to ``id_duplicated_0``.
_POLARS_DUPLICATE = re.compile(r"_duplicated_\d+$")


class InputIds(NamedTuple):
    """The rows of every input file, in input order, and the files they came from."""

    #: One row per data row: ``id`` (String, trimmed, null where invalid), ``file`` (UInt32,
    #: index into ``files``), ``line`` (UInt32) and ``raw`` (Categorical), the value as written
    #: where the row is invalid, null elsewhere.
    ids: pl.DataFrame
    #: The files read, globs expanded, each file once, in the order given.
    files: tuple[Path, ...]


@dataclass(frozen=True)
class _Layout:
    kind: Kind
    column: str | None
    has_header: bool


class _Unreadable(Exception):
    """A file cannot be read as documented; the message says why, without the path."""


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
    layout = _Layout(kind, column, has_header)
    frames = [_read_file(path, layout, index) for index, path in enumerate(files)]
    return InputIds(pl.concat(frames), files)


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


def _read_file(path: Path, layout: _Layout, index: int) -> pl.DataFrame:
    """One file's rows of :class:`InputIds`; any failure is an InputError naming the file."""
    try:
        return _validate(_scan(path, layout), index)
    except _Unreadable as exc:
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
        raise _Unreadable(
            f"line {ragged['line'][0]} has more fields than the header, so its columns may be "
            "shifted: is a delimiter inside an unquoted value?"
        )
    return rows.drop("ragged")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0][:200]


def _scan(path: Path, layout: _Layout) -> pl.LazyFrame:
    head, at_eof = _head(path)
    if at_eof and not head.removeprefix(codecs.BOM_UTF8).strip():
        return pl.LazyFrame(schema={"line": pl.UInt32, "raw": pl.String, "ragged": pl.Boolean})
    if head.startswith(b"PAR1"):
        return _scan_parquet(path, layout)
    if path.suffix.lower() in (".parquet", ".pq"):
        raise _Unreadable("not a Parquet file: it does not start with PAR1")
    return _scan_csv(path, _sample(_text(head, at_eof), at_eof), layout)


def _head(path: Path) -> tuple[bytes, bool]:
    """The first bytes of the file, decompressed if it is gzip, and whether that is all of it."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if compressed else raw
        head = stream.read(SNIFF_BYTES + 1)
    return head[:SNIFF_BYTES], len(head) <= SNIFF_BYTES


def _text(head: bytes, at_eof: bool) -> str:
    """The sample as text, without a BOM; a file that is not UTF-8 text is refused here."""
    if b"\x00" in head:
        raise _Unreadable("holds NUL bytes: binary data or UTF-16, not a UTF-8 CSV or Parquet file")
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=at_eof)
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"not UTF-8 text (bad byte at offset {exc.start})") from exc
    if "\n" not in text and "\r" in text:
        raise _Unreadable("lines end in a bare CR (old Mac style); save it with LF or CRLF")
    if not at_eof and "\n" not in text:
        raise _Unreadable(f"no line break in the first {SNIFF_BYTES >> 20} MiB: not a CSV file")
    return text.removeprefix("\ufeff")


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample, counting only outside quotes.

    The winner splits the first record (the header, usually) and keeps the same field count in
    every sampled record; failing that, it splits the first record the most; when none splits
    it, the file has one column and the answer is a comma. In a file without a header, a
    candidate that appears equally often on every line is therefore taken as the delimiter.
    """
    widths = {delimiter: _field_counts(sample, delimiter) for delimiter in DELIMITERS}
    splitting = [d for d in DELIMITERS if widths[d] and widths[d][0] > 1]
    steady = [d for d in splitting if len(set(widths[d])) == 1]
    return max(steady or splitting, key=lambda d: widths[d][0], default=",")


def _field_counts(sample: str, delimiter: str) -> list[int]:
    try:
        return [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
    except csv.Error as exc:
        raise _Unreadable(f"not CSV: {exc}") from exc


def _sample(text: str, at_eof: bool) -> str:
    """Whole records from the start of the text, at most ``SNIFF_RECORDS`` lines."""
    if not at_eof:
        text = text[: text.rindex("\n")]
    return "\n".join(text.split("\n", SNIFF_RECORDS)[:SNIFF_RECORDS])


def _scan_csv(path: Path, sample: str, layout: _Layout) -> pl.LazyFrame:
    """The ID column by position, and whether a row has more fields than the header.

    Reading one column, polars does not notice such rows, yet a stray delimiter before the ID
    column shifts a wrong value into it. So the file is read with one column more than the
    header has, which is null unless the row is too long.
    """
    options: dict[str, Any] = {"separator": sniff_delimiter(sample), "glob": False}
    header = pl.scan_csv(path, has_header=layout.has_header, infer_schema=False, **options)
    names = header.collect_schema().names()
    if layout.has_header:
        shown = [_POLARS_DUPLICATE.sub("", name.strip()).strip() for name in names]
    else:
        shown = [f"column_{position}" for position in range(1, len(names) + 1)]
    index = _pick_column(shown, layout)
    schema = {f"c{position}": pl.String for position in range(len(names) + 1)}
    rows = pl.scan_csv(
        path,
        has_header=False,
        skip_rows=int(layout.has_header),
        schema=schema,
        missing_columns="insert",
        **options,
    )
    return rows.select(
        raw=f"c{index}", ragged=pl.col(f"c{len(names)}").is_not_null()
    ).with_row_index("line", offset=1 + int(layout.has_header))


def _scan_parquet(path: Path, layout: _Layout) -> pl.LazyFrame:
    frame = pl.scan_parquet(path, glob=False, hive_partitioning=False)
    schema = frame.collect_schema()
    names = schema.names()
    with_names = replace(layout, has_header=True)  # --no-header is about CSV
    name = names[_pick_column([name.strip() for name in names], with_names)]
    rows = frame.select(raw=pl.col(name), ragged=False).with_row_index("line", offset=1)
    return _as_text(rows, schema[name])


def _as_text(frame: pl.LazyFrame, dtype: pl.DataType) -> pl.LazyFrame:
    """The ``raw`` column as text: integers as their digits, never through a float."""
    whole = dtype.is_integer() or (isinstance(dtype, pl.Decimal) and dtype.scale == 0)
    if whole or isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null):
        return frame.with_columns(pl.col("raw").cast(pl.String))
    if dtype.is_float():
        return _whole_floats(frame.collect(engine="streaming")).lazy()
    raise _Unreadable(f"the ID column has type {dtype}; IDs must be text or whole numbers")


def _whole_floats(frame: pl.DataFrame) -> pl.DataFrame:
    """Floats rendered as integer text; NaN is a missing value, a fraction is an error."""
    raw = pl.col("raw")
    broken = frame.filter(raw.is_not_nan() & ((raw % 1 != 0) | (raw.abs() > MAX_EXACT_FLOAT)))
    if broken.height:
        raise _Unreadable(
            f"the ID column holds floats that are not whole numbers up to 2**53 (first at row "
            f"{broken['line'][0]}): such IDs were rounded or mangled; export them as text"
        )
    return frame.with_columns(raw.fill_nan(None).cast(pl.Int64).cast(pl.String))


def _pick_column(names: list[str], layout: _Layout) -> int:
    """The position of the ID column among the (trimmed) column names."""
    if layout.column is not None:
        return _named_column(names, layout.column)
    if not layout.has_header:
        return 0
    for wanted in (f"{layout.kind}_id", "id"):
        found = _match(names, wanted)
        if found is not None:
            return found
    if len(names) == 1:
        return 0
    raise _Unreadable(
        f"no {layout.kind}_id or id column and more than one column; choose one with --column "
        f"(columns: {_listing(names)})"
    )


def _named_column(names: list[str], column: str) -> int:
    found = _match(names, column.strip())
    if found is not None:
        return found
    if column.isdigit() and 1 <= int(column) <= len(names):
        return int(column) - 1
    raise _Unreadable(f"no column {column!r} (columns: {_listing(names)})")


def _match(names: list[str], wanted: str) -> int | None:
    """The one column named ``wanted``, or else the one named so ignoring case."""
    hits = [position for position, name in enumerate(names) if name == wanted]
    if not hits:
        folded = wanted.casefold()
        hits = [position for position, name in enumerate(names) if name.casefold() == folded]
    if len(hits) > 1:
        raise _Unreadable(f"{len(hits)} columns are named {wanted!r}; choose one by position")
    return hits[0] if hits else None


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED_COLUMNS])
    return shown if len(names) <= LISTED_COLUMNS else f"{shown}, ... {len(names)} in all"

"""CSV files: the delimiter and encoding told from the first bytes, then the ID column scanned.

The sample is the first SNIFF_BYTES (decompressed when the file is gzip). A file
that is not UTF-8, holds NUL bytes (binary, UTF-16) or ends lines in a bare CR is
refused here, with the reason.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from pathlib import Path
from typing import Any

import polars as pl

from bulk_delete.columns import POLARS_DUPLICATE, Layout, Unreadable, pick_column

#: Bytes read from the start of a file to tell its format and CSV delimiter.
SNIFF_BYTES = 1 << 20
#: CSV records that must agree on the delimiter.
SNIFF_RECORDS = 50
#: Candidate CSV delimiters; on a tie the earlier one wins.
DELIMITERS = ",\t;|"


def first_bytes(path: Path) -> tuple[bytes, bool]:
    """The first bytes of the file, decompressed if it is gzip, and whether that is all of it."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if compressed else raw
        head = stream.read(SNIFF_BYTES + 1)
    return head[:SNIFF_BYTES], len(head) <= SNIFF_BYTES


def _decoded(head: bytes, at_eof: bool) -> str:
    """The sample as text, without a BOM; a file that is not UTF-8 text is refused here."""
    if b"\x00" in head:
        raise Unreadable("holds NUL bytes: binary data or UTF-16, not a UTF-8 CSV or Parquet file")
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=at_eof)
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (bad byte at offset {exc.start})") from exc
    if "\n" not in text and "\r" in text:
        raise Unreadable("lines end in a bare CR (old Mac style); save it with LF or CRLF")
    if not at_eof and "\n" not in text:
        raise Unreadable(f"no line break in the first {SNIFF_BYTES >> 20} MiB: not a CSV file")
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
        raise Unreadable(f"not CSV: {exc}") from exc


def _first_records(text: str, at_eof: bool) -> str:
    """Whole records from the start of the text, at most ``SNIFF_RECORDS`` lines."""
    if not at_eof:
        text = text[: text.rindex("\n")]
    return "\n".join(text.split("\n", SNIFF_RECORDS)[:SNIFF_RECORDS])


def scan_csv(path: Path, head: bytes, at_eof: bool, layout: Layout) -> pl.LazyFrame:
    """The ID column by position, and whether a row has more fields than the header.

    ``head`` and ``at_eof`` come from :func:`first_bytes`: the dialect is told from them.

    Reading one column, polars does not notice such rows, yet a stray delimiter before the ID
    column shifts a wrong value into it. So the file is read with one column more than the
    header has, which is null unless the row is too long.
    """
    sample = _first_records(_decoded(head, at_eof), at_eof)
    options: dict[str, Any] = {"separator": sniff_delimiter(sample), "glob": False}
    header = pl.scan_csv(path, has_header=layout.has_header, infer_schema=False, **options)
    names = header.collect_schema().names()
    if layout.has_header:
        shown = [POLARS_DUPLICATE.sub("", name.strip()).strip() for name in names]
    else:
        shown = [f"column_{position}" for position in range(1, len(names) + 1)]
    index = pick_column(shown, layout)
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

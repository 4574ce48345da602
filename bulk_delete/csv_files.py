"""CSV files: the delimiter told from the first bytes, then the ID column scanned.

The sample is the first SNIFF_BYTES (decompressed when the file is gzip), already known to
be UTF-8 text that is not JSON or markup (:mod:`bulk_delete.sniffing`). A file that ends
lines in a bare CR, or whose first line looks like data where a header was expected
(:mod:`bulk_delete.headers`), is refused here, with the reason.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import polars as pl

from bulk_delete import headers
from bulk_delete.columns import POLARS_DUPLICATE, Layout, Unreadable, pick_column
from bulk_delete.sniffing import SNIFF_BYTES, decoded
from bulk_delete.sources import Source

#: CSV records that must agree on the delimiter.
SNIFF_RECORDS = 50
#: Candidate CSV delimiters; on a tie the earlier one wins.
DELIMITERS = ",\t;|"


def _text(head: bytes, at_eof: bool) -> str:
    """The sample as text, without a BOM; line ends a CSV reader cannot split are refused."""
    text = decoded(head, at_eof)
    if "\n" not in text and "\r" in text:
        raise Unreadable("lines end in a bare CR (old Mac style); save it with LF or CRLF")
    if not at_eof and "\n" not in text:
        raise Unreadable(f"no line break in the first {SNIFF_BYTES >> 20} MiB: not a CSV file")
    return text


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
    return [len(row) for row in _records(sample, delimiter)]


def _records(sample: str, delimiter: str) -> list[list[str]]:
    try:
        return [row for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
    except csv.Error as exc:
        raise Unreadable(f"not CSV: {exc}") from exc


def _first_records(text: str, at_eof: bool) -> str:
    """Whole records from the start of the text, at most ``SNIFF_RECORDS`` lines."""
    if not at_eof:
        text = text[: text.rindex("\n")]
    return "\n".join(text.split("\n", SNIFF_RECORDS)[:SNIFF_RECORDS])


def scan_csv(source: Source, head: bytes, at_eof: bool, layout: Layout) -> pl.LazyFrame:
    """The ID column by position, and whether a row has more fields than the header.

    ``head`` and ``at_eof`` come from :func:`bulk_delete.sniffing.first_bytes`: the dialect
    is told from them.

    Reading one column, polars does not notice such rows, yet a stray delimiter before the ID
    column shifts a wrong value into it. So the file is read with one column more than the
    header has, which is null unless the row is too long.
    """
    sample = _first_records(_text(head, at_eof), at_eof)
    delimiter = sniff_delimiter(sample)
    options: dict[str, Any] = {"separator": delimiter, "glob": False}
    data = source.polars()
    header = pl.scan_csv(data, has_header=layout.has_header, infer_schema=False, **options)
    names = header.collect_schema().names()
    if layout.has_header:
        shown = [POLARS_DUPLICATE.sub("", name.strip()).strip() for name in names]
    else:
        shown = [f"column_{position}" for position in range(1, len(names) + 1)]
    index = pick_column(shown, layout)
    if layout.has_header:
        below = [row[index] for row in _records(sample, delimiter)[1:] if len(row) > index]
        headers.check(shown[index], below, layout)
    schema = {f"c{position}": pl.String for position in range(len(names) + 1)}
    rows = pl.scan_csv(
        data,
        has_header=False,
        skip_rows=int(layout.has_header),
        schema=schema,
        missing_columns="insert",
        **options,
    )
    return rows.select(
        raw=f"c{index}", ragged=pl.col(f"c{len(names)}").is_not_null()
    ).with_row_index("line", offset=1 + int(layout.has_header))

"""What an input's bytes are: told from its first bytes (decompressed when it is gzip).

The reader takes CSV, Parquet, JSON Lines and JSON arrays. Everything else that exports,
downloads and mistakes produce (a spreadsheet, an HTML error page saved instead of the
export, UTF-16 text, an archive, binary data) is refused here with one sentence that says
what the bytes look like and what to do, before polars can misread it as a CSV whose first
line is a header.

The file's name decides nothing, with one exception: a file named ``.parquet`` that does
not start with ``PAR1`` is said to be no Parquet file rather than read as text.
"""

from __future__ import annotations

import codecs
import enum
import gzip
import json
import re

from bulk_delete.columns import Unreadable
from bulk_delete.sources import Source

#: Bytes read from the start of an input to tell its format (and a CSV's delimiter).
SNIFF_BYTES = 1 << 20
#: What to do with a file that is not an export the reader takes.
EXPORT = "export the IDs as CSV (UTF-8), Parquet or JSON Lines"
#: Binary formats by their signature at the start; a message without ": " gets EXPORT.
SIGNATURES = (
    (rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (an Excel 97-2003 .xls "
                                           "workbook, or another Office document)"),
    (rb"\x1f\x8b", "gzip inside gzip: decompress it once (gunzip) and pass the result"),
    (rb"BZh[1-9]1AY&SY", "bzip2-compressed: decompress it (bunzip2) or use gzip instead"),
    (rb"\xfd7zXZ\x00", "xz-compressed: decompress it (unxz) or use gzip instead"),
    (rb"\x28\xb5\x2f\xfd", "zstd-compressed: decompress it (unzstd) or use gzip instead"),
    (rb"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: extract it and pass the files inside"),
    (rb"Rar!\x1a\x07", "a RAR archive: extract it and pass the files inside"),
    (rb"%PDF-", "a PDF document"),
    (rb"ARROW1", "an Arrow IPC (Feather) file: write it as Parquet instead"),
    (rb"Obj\x01", "an Avro file: write it as Parquet or JSON Lines instead"),
    (rb"SQLite format 3\x00", "an SQLite database"),
)
MAGIC = tuple((re.compile(signature), what) for signature, what in SIGNATURES)
#: What may follow the ``[`` that opens a JSON array (``[user_id],[email]`` is a CSV header).
ARRAY_START = re.compile(r"\[\s*[\[{\"\]\d-]")
#: Byte-order marks of the encodings the reader does not take; UTF-32 before UTF-16.
BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 (little-endian)"),
    (codecs.BOM_UTF32_BE, "UTF-32 (big-endian)"),
    (codecs.BOM_UTF16_LE, "UTF-16 (little-endian)"),
    (codecs.BOM_UTF16_BE, "UTF-16 (big-endian)"),
)


class Format(enum.StrEnum):
    """How an input is read; the value is what the digest record and the plan table say."""

    EMPTY = "empty"
    CSV = "csv"
    PARQUET = "parquet"
    JSON_LINES = "jsonl"
    JSON_ARRAY = "json"


def first_bytes(source: Source) -> tuple[bytes, bool, bool]:
    """The first SNIFF_BYTES of ``source`` (decompressed if it is gzip), whether that is all
    of it, and whether it was gzip."""
    with source.decompressed() as stream:
        head = stream.read(SNIFF_BYTES + 1)
        gzipped = isinstance(stream, gzip.GzipFile)
    return head[:SNIFF_BYTES], len(head) <= SNIFF_BYTES, gzipped


def sniff(head: bytes, at_eof: bool, *, gzipped: bool, parquet_name: bool) -> Format:
    """The format of an input that begins with ``head``; Unreadable when it is none the
    reader takes (the message says what it looks like and what to do)."""
    try:
        return _sniff(head, at_eof, parquet_name=parquet_name)
    except Unreadable as exc:
        raise Unreadable(f"{exc} (inside gzip)" if gzipped else str(exc)) from None


def _sniff(head: bytes, at_eof: bool, *, parquet_name: bool) -> Format:
    if head.startswith(b"PAR1"):
        return Format.PARQUET
    if parquet_name:
        raise Unreadable("not a Parquet file: it does not start with PAR1")
    _refuse_binary(head)
    text = decoded(head, at_eof).lstrip()
    if not text:
        return Format.EMPTY if at_eof else Format.CSV  # a megabyte of blanks, then rows
    if text.startswith("<"):
        raise Unreadable(_markup(text[:2000].casefold()))
    if text.startswith("{"):
        return _json_lines(text)
    if ARRAY_START.match(text):
        return _json_array(text)
    return Format.CSV


def _refuse_binary(head: bytes) -> None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise Unreadable(_zip(head))
    for magic, what in MAGIC:
        if magic.match(head):
            raise Unreadable(what if ": " in what else f"{what}, not an export: {EXPORT}")
    for bom, encoding in BOMS:
        if head.startswith(bom):
            raise Unreadable(f"{encoding} text with a byte-order mark, not UTF-8: convert it "
                             f"(iconv -f {encoding[:6]} -t UTF-8) or export it as UTF-8")
    if b"\x00" in head:
        raise Unreadable(_nul_bytes(head))


def _zip(head: bytes) -> str:
    """What a ZIP archive holds, from the names of its first entries."""
    if b"opendocument.spreadsheet" in head:
        what = "an OpenDocument spreadsheet (.ods)"
    elif b"xl/" in head:
        what = "an Excel workbook (.xlsx)"
    else:
        return "a ZIP archive: unzip it and pass the files inside"
    return f"{what}, not an export: save the sheet as 'CSV UTF-8' and pass that file"


def _nul_bytes(head: bytes) -> str:
    """UTF-16 or UTF-32 without a byte-order mark shows as NULs in a steady pattern."""
    sample = head[:256]
    for width, encoding in ((4, "UTF-32"), (2, "UTF-16")):
        for lane, order, suffix in ((0, "little-endian", "LE"), (width - 1, "big-endian", "BE")):
            nul = [offset for offset in range(len(sample)) if offset % width != lane]
            if len(sample) >= width * 2 and all(sample[i] == 0 for i in nul) and sample[lane]:
                return (f"{encoding} text ({order}, without a byte-order mark), not UTF-8: "
                        f"convert it (iconv -f {encoding}{suffix} -t UTF-8) or export it as "
                        "UTF-8")
    return f"binary data (it holds NUL bytes), not a text or Parquet export: {EXPORT}"


def decoded(head: bytes, at_eof: bool) -> str:
    """The first bytes as text, without a UTF-8 byte-order mark; Unreadable if not UTF-8."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=at_eof)
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (bad byte at offset {exc.start}): another encoding "
                         f"or binary data; {EXPORT}") from exc
    return text.removeprefix("\ufeff")


def _markup(start: str) -> str:
    if "progid=\"excel.sheet\"" in start or "urn:schemas-microsoft-com:office:spreadsheet" in start:
        return "an Excel XML spreadsheet, not an export: save the sheet as 'CSV UTF-8'"
    if start.startswith(("<!doctype html", "<html")) or "<html" in start:
        return ("an HTML page (a login or error page saved in place of the export?), not an "
                "export: download the export itself")
    return f"XML, not an export: {EXPORT}"


def _json_lines(text: str) -> Format:
    """A first line that is one whole JSON object: JSON Lines (the reader checks the rest)."""
    first = text.split("\n", 1)[0].strip()
    try:
        record = json.loads(first)
    except ValueError:
        record = None
    if isinstance(record, dict):
        return Format.JSON_LINES
    raise Unreadable("a JSON document spread over several lines, not JSON Lines (one object "
                     "a line) or an array of records: write one record a line, e.g. "
                     "jq -c '.[]' or jq -c '.data[]'")


def _json_array(text: str) -> Format:
    """``[`` opens a JSON array, unless the first line is a whole array and more lines follow:
    JSON Lines of arrays, which have no field names."""
    first, _, rest = text.partition("\n")
    try:
        whole = isinstance(json.loads(first), list)
    except ValueError:
        whole = False
    if whole and rest.strip():
        raise Unreadable("JSON Lines of arrays, not of objects: the values have no field "
                         "names to find the IDs by; write one object a line")
    return Format.JSON_ARRAY

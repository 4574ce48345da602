"""Inputs read by what their bytes are: what is refused (and said), what looks alike but is not.

tests/test_bad_inputs.py runs the refusals through the CLI against a sandbox (exit 2, no
request); here each message is checked quickly, in-process.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from bulk_delete.sniffing import Format, sniff
from tests.fakes import input_refused, read_input


def ids_in(tmp_path: Path, content: bytes, name: str = "ids.csv", **options: Any) -> list[Any]:
    return read_input(tmp_path, content, name, **options).ids["id"].to_list()


def refused(tmp_path: Path, content: bytes, name: str = "ids.csv", **options: Any) -> str:
    return input_refused(tmp_path, content, name, **options)


def zipped(*entries: tuple[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries:
            archive.writestr(name, text)
    return buffer.getvalue()


XLSX = zipped(("[Content_Types].xml", "<Types/>"), ("xl/workbook.xml", "<workbook/>"))
ODS = zipped(("mimetype", "application/vnd.oasis.opendocument.spreadsheet"))
DOCX = zipped(("word/document.xml", "<document/>"))
XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
EXCEL_XML = (b'<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n'
             b'<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>\n')
PARQUET = io.BytesIO()
pl.DataFrame({"user_id": ["a"]}).write_parquet(PARQUET)

REFUSED = [
    ("xlsx", XLSX, "an Excel workbook (.xlsx), not an export: save the sheet as 'CSV UTF-8'"),
    ("ods", ODS, "an OpenDocument spreadsheet (.ods)"),
    ("other zip", DOCX, "a ZIP archive: unzip it and pass the files inside"),
    ("xls", XLS, "a legacy Office file (an Excel 97-2003 .xls workbook"),
    ("Excel XML", EXCEL_XML, "an Excel XML spreadsheet"),
    ("html", b"\n  <!doctype html><html><body>Sign in</body></html>", "an HTML page"),
    ("html fragment", b"<head><title>502</title></head><html>", "an HTML page"),
    ("xml", b"<?xml version='1.0'?><ids><id>u1</id></ids>", "XML, not an export"),
    ("utf-8 bom and xml", b"\xef\xbb\xbf<ids/>", "XML, not an export"),
    ("utf-16 le bom", "user_id\nu1\n".encode("utf-16-le").join([b"\xff\xfe", b""]),
     "UTF-16 (little-endian) text with a byte-order mark"),
    ("utf-16 be bom", b"\xfe\xff" + "user_id\n".encode("utf-16-be"), "UTF-16 (big-endian)"),
    ("utf-32 le bom", "user_id\n".encode("utf-32"), "UTF-32 (little-endian) text"),
    ("utf-16 le", "user_id\nu1\n".encode("utf-16-le"),
     "UTF-16 text (little-endian, without a byte-order mark), not UTF-8: convert it "
     "(iconv -f UTF-16LE -t UTF-8)"),
    ("utf-16 be", "user_id\nu1\n".encode("utf-16-be"), "UTF-16 text (big-endian"),
    ("utf-32 be", "user_id\nu1\n".encode("utf-32-be"), "UTF-32 text (big-endian"),
    ("binary", b"\x00\x01\x02\x03" * 100, "binary data (it holds NUL bytes)"),
    ("latin-1", "user_id\nJosé\n".encode("latin-1"), "not UTF-8 text (bad byte at offset 11)"),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document, not an export"),
    ("bzip2", bz2.compress(b"user_id\nu1\n"), "bzip2-compressed: decompress it (bunzip2)"),
    ("xz", lzma.compress(b"user_id\nu1\n"), "xz-compressed"),
    ("gzip twice", gzip.compress(gzip.compress(b"user_id\nu1\n")), "gzip inside gzip"),
    ("gzipped xlsx", gzip.compress(XLSX), "an Excel workbook (.xlsx), not an export: save "
                                          "the sheet as 'CSV UTF-8' and pass that file "
                                          "(inside gzip)"),
    ("pretty JSON object", b'{\n  "data": [{"user_id": "u1"}]\n}\n', "a JSON document spread "
                                                                     "over several lines"),
    ("JSON Lines of arrays", b'["u1", 1]\n["u2", 2]\n', "JSON Lines of arrays, not of objects"),
]


@pytest.mark.parametrize(("content", "message"), [case[1:] for case in REFUSED],
                         ids=[case[0] for case in REFUSED])
def test_what_is_not_an_export_is_refused_saying_what_it_looks_like(
        tmp_path: Path, content: bytes, message: str) -> None:
    """One line that names the file, what its bytes look like, and what to do."""
    assert message in refused(tmp_path, content)


LOOK_ALIKES = [
    ("bracketed CSV header", b"[user_id],[email]\nu1,a@example.com\n", "csv"),
    ("header starting BZh", b"BZh_code\nu1\n", "csv"),
    ("quoted header", b'"user_id","email"\n"u1","a@example.com"\n', "csv"),
    ("JSON Lines", b'{"user_id": "u1"}\n', "jsonl"),
    ("a JSON array on one line", b'[{"user_id": "u1"}]', "json"),
    ("Parquet", PARQUET.getvalue(), "parquet"),
    ("blank", b" \r\n\t\n", "empty"),
]


@pytest.mark.parametrize(("content", "form"), [case[1:] for case in LOOK_ALIKES],
                         ids=[case[0] for case in LOOK_ALIKES])
def test_formats_told_apart(content: bytes, form: str) -> None:
    """Content that starts like another format is read as what it is."""
    assert sniff(content, True, gzipped=False, parquet_name=False) is Format(form)


def test_a_parquet_name_on_other_bytes(tmp_path: Path) -> None:
    """A .parquet file that is not Parquet is said to be so, not read as text."""
    assert "not a Parquet file" in refused(tmp_path, b"user_id\nu1\n", "ids.parquet")


HEADERLESS = [
    ("IDs with digits", b"usr_00017\nusr_00018\nusr_00019\n", "a value like those under it"),
    ("numbers", b"00123\n00124\n", "a number"),
    ("UUIDs", b"123e4567-e89b-12d3-a456-426614174000\n", "a UUID"),
    ("e-mail addresses", b"someone@example.com\nother@example.com\n", "an e-mail address"),
    ("hex digests", b"5f4dcc3b5aa765d61d8327deb882cf99\n", "a hex string"),
    ("a JSON record", b'x,{"user_id": "u1"}\n', "JSON"),
]


@pytest.mark.parametrize(("content", "what"), [case[1:] for case in HEADERLESS],
                         ids=[case[0] for case in HEADERLESS])
def test_a_first_line_of_data_is_not_taken_for_a_header(tmp_path: Path, content: bytes,
                                                         what: str) -> None:
    """Where a header was expected but the first line is data, the file is refused (the
    value is not shown: it is someone's ID); --no-header reads every line."""
    options = {"column": "2"} if content.startswith(b"x,") else {}
    message = refused(tmp_path, content, **options)
    assert f"looks like data ({what})" in message and "pass --no-header" in message
    assert content.split(b"\n")[0].split(b",")[-1].decode() not in message
    assert len(ids_in(tmp_path, content, has_header=False, **options)) == content.count(b"\n")


@pytest.mark.parametrize(("content", "options"), [
    (b"customer\nc1\n", {}),  # a name, chosen as the only column
    (b"user_id\n00123\n", {}),  # chosen by name: a header by definition
    (b"id2\nalpha\nbeta\n", {}),  # a name with a digit, over values made differently
    (b"email,2024\na@example.com,1\n", {"column": "email"}),  # a year as another name
    (b"usr_00017\n", {}),  # nothing under it to compare with, and no pattern of data
    (b"2024\nu1\n", {"column": "2024"}),  # looks like data, but named by --column
], ids=["a name", "by name", "name with a digit", "a year elsewhere", "nothing to compare",
        "named by --column"])
def test_plausible_headers_are_read(tmp_path: Path, content: bytes,
                                    options: dict[str, str]) -> None:
    """Headers that name columns are not mistaken for data; --column NAME vouches for one."""
    assert len(ids_in(tmp_path, content, **options)) == content.count(b"\n") - 1

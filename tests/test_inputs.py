"""Reading ID files: every nasty real-world shape, read into exactly the IDs that were written."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulk_delete.csv_files import DELIMITERS, sniff_delimiter
from bulk_delete.errors import InputError
from bulk_delete.inputs import read_ids
from tests.fakes import input_refused, read_input


def ids_in(tmp_path: Path, content: bytes, name: str = "ids.csv", **options: Any) -> list[Any]:
    """The ``id`` column read from one file holding ``content``."""
    return read_input(tmp_path, content, name, **options).ids["id"].to_list()


def parquet_ids(tmp_path: Path, frame: pl.DataFrame, **options: Any) -> list[Any]:
    path = tmp_path / "ids.parquet"
    frame.write_parquet(path)
    return read_ids([path], kind=options.pop("kind", "user"), **options).ids["id"].to_list()


def read_error(tmp_path: Path, content: bytes, name: str = "ids.csv", **options: Any) -> str:
    """The message of the InputError that reading ``content`` raises."""
    return input_refused(tmp_path, content, name, **options)


CSV_CASES = [
    ("comma", b"user_id,email\n00123,a@example.com\n1e5,b@example.com\n", {}, ["00123", "1e5"]),
    ("semicolon", b"email;user_id\na@example.com;00123\n", {}, ["00123"]),
    ("tab", b"email\tuser_id\na@example.com\t00123\n", {}, ["00123"]),
    ("pipe", b"user_id|email\n00123|a@example.com\n", {}, ["00123"]),
    ("semicolon, commas in data", b"user_id;name\n42;Smith, John\n", {}, ["42"]),
    ("quoted delimiter", b'user_id,name\n"a,1","Smith, J"\n', {}, ["a,1"]),
    ("quoted newline", b'user_id,note\n7,"two\nlines"\n8,x\n', {}, ["7", "8"]),
    ("doubled quotes", b'user_id\n"say ""hi"""\n', {}, ['say "hi"']),
    ("bom and crlf", b"\xef\xbb\xbfuser_id,x\r\n00123,a\r\n00456,b\r\n", {}, ["00123", "00456"]),
    (
        "numbers stay text",
        b"user_id\n00123\n1e5\n123456789012345678901\n1.50\n-0\n0x1F\n",
        {},
        ["00123", "1e5", "123456789012345678901", "1.50", "-0", "0x1F"],
    ),
    ("non-ascii", "user_id\nJosé\n用户42\nÅsa\n".encode(), {}, ["José", "用户42", "Åsa"]),
    ("whitespace trimmed", b"user_id\n  abc \n\tdef\t\n", {}, ["abc", "def"]),
    ("nbsp trimmed", "user_id\n\u00a0abc\u3000\n".encode(), {}, ["abc"]),
    ("blank values", b'user_id,x\n,1\n"",2\n   ,3\nok,4\n', {}, [None, None, None, "ok"]),
    ("blank line", b"user_id\na\n\nb\n", {}, ["a", None, "b"]),
    ("control characters", b"user_id\na\x01b\nc\x7f\n\x1bd\n", {}, [None, None, None]),
    ("c1 control", "user_id\nab\u0085c\n".encode(), {}, [None]),
    ("text null markers kept", b"user_id\nNULL\nnull\n", {}, ["NULL", "null"]),
    ("header spaces", b" user_id , email\n1,x\n", {}, ["1"]),
    ("header case", b"User_ID,email\n1,x\n", {}, ["1"]),
    ("kind picks its column", b"id,group_id\n1,g1\n", {"kind": "group"}, ["g1"]),
    ("id when no kind column", b"id,group_id\n1,g1\n", {}, ["1"]),
    ("the only column", b"customer\nc1\n", {}, ["c1"]),
    ("explicit column", b"user_id,other\n1,o1\n", {"column": "other"}, ["o1"]),
    ("explicit position", b"user_id,other\n1,o1\n", {"column": "2"}, ["o1"]),
    ("no header", b"00123,x\n00456,y\n", {"has_header": False}, ["00123", "00456"]),
    ("no header, by name", b"1,x\n2,y\n", {"has_header": False, "column": "column_2"}, ["x", "y"]),
    ("no header, by position", b"1;x\n2;y\n", {"has_header": False, "column": "2"}, ["x", "y"]),
    ("header only", b"user_id,email\n", {}, []),
    ("empty file", b"", {}, []),
    ("whitespace only", b"\n \r\n", {}, []),
    ("bom only", b"\xef\xbb\xbf", {}, []),
    ("no final newline", b"user_id\na\nb", {}, ["a", "b"]),
]


@pytest.mark.parametrize(
    ("content", "options", "expected"),
    [case[1:] for case in CSV_CASES],
    ids=[case[0] for case in CSV_CASES],
)
def test_csv_shapes(
    tmp_path: Path, content: bytes, options: dict[str, Any], expected: list[Any]
) -> None:
    """Each CSV shape yields exactly the IDs as written, trimmed, with null for invalid ones."""
    assert ids_in(tmp_path, content, **options) == expected


@pytest.mark.parametrize("name", ["ids.csv.gz", "ids.csv", "ids.txt"])
def test_gzip_is_found_by_content(tmp_path: Path, name: str) -> None:
    """Gzip CSV is read whatever the file is called, BOM and all."""
    content = gzip.compress("\ufeffuser_id;email\n00123;a@example.com\n".encode())
    assert ids_in(tmp_path, content, name) == ["00123"]


def test_wide_file_reads_the_right_column(tmp_path: Path) -> None:
    """In a 500-column file the ID column is found by name wherever it is."""
    columns = [f"c{i}" for i in range(500)]
    columns[317] = "user_id"
    rows = [[f"{column}-{row}" for column in columns] for row in range(3)]
    content = "\n".join(",".join(line) for line in [columns, *rows]) + "\n"
    assert ids_in(tmp_path, content.encode()) == ["user_id-0", "user_id-1", "user_id-2"]


def test_lines_point_at_the_file(tmp_path: Path) -> None:
    """``line`` is what an editor shows (header is line 1) and ``file`` indexes the file list."""
    (tmp_path / "a.csv").write_text("user_id\na\n\nb\n")
    (tmp_path / "b.csv").write_text("c\nd\n")
    first = read_ids([tmp_path / "a.csv"], kind="user")
    assert first.ids.select("file", "line").rows() == [(0, 2), (0, 3), (0, 4)]
    both = read_ids([tmp_path / "a.csv", tmp_path / "b.csv"], kind="user", has_header=False)
    assert both.ids.filter(pl.col("file") == 1).select("id", "line").rows() == [("c", 1), ("d", 2)]


def test_invalid_rows_keep_the_raw_value(tmp_path: Path) -> None:
    """``raw`` holds the value as written on invalid rows only, for the report."""
    (tmp_path / "a.csv").write_text("user_id,x\n ok ,1\n  ,2\nb\x01,3\n,4\n")
    frame = read_ids([tmp_path / "a.csv"], kind="user").ids
    assert frame["raw"].to_list() == [None, "  ", "b\x01", None]
    assert frame["id"].to_list() == ["ok", None, None, None]


PARQUET_CASES = [
    ("strings", pl.DataFrame({"user_id": [" 00123 ", "1e5", None]}), ["00123", "1e5", None]),
    ("int64", pl.DataFrame({"user_id": [123, -4, None]}), ["123", "-4", None]),
    (
        "uint64 max",
        pl.DataFrame({"user_id": [18446744073709551615]}, schema={"user_id": pl.UInt64}),
        ["18446744073709551615"],
    ),
    ("int32", pl.DataFrame({"user_id": [7]}, schema={"user_id": pl.Int32}), ["7"]),
    (
        "whole floats",
        pl.DataFrame({"user_id": [1.0, 2.0**53 - 1, float("nan"), None]}),
        ["1", "9007199254740991", None, None],
    ),
    (
        "categorical",
        pl.DataFrame({"user_id": ["a", "b"]}, schema={"user_id": pl.Categorical}),
        ["a", "b"],
    ),
    (
        "decimal without scale",
        pl.DataFrame(
            {"user_id": [Decimal("98765432109876543210")]}, schema={"user_id": pl.Decimal(38, 0)}
        ),
        ["98765432109876543210"],
    ),
    ("all null", pl.DataFrame({"user_id": [None, None]}), [None, None]),
    (
        "wide, picks user_id",
        pl.DataFrame({f"c{i}": [i] for i in range(200)}).with_columns(user_id=pl.lit("u1")),
        ["u1"],
    ),
    ("no rows", pl.DataFrame({"user_id": []}, schema={"user_id": pl.String}), []),
]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [case[1:] for case in PARQUET_CASES],
    ids=[case[0] for case in PARQUET_CASES],
)
def test_parquet_shapes(tmp_path: Path, frame: pl.DataFrame, expected: list[Any]) -> None:
    """Parquet IDs come back as text; numbers without ``.0``, NaN as a missing value."""
    assert parquet_ids(tmp_path, frame) == expected


def test_parquet_ignores_no_header_and_hive_paths(tmp_path: Path) -> None:
    """Parquet always has names: ``--no-header`` and ``key=value`` folders change nothing."""
    path = tmp_path / "date=2024-05-01" / "g.parquet"
    path.parent.mkdir()
    pl.DataFrame({"name": ["n"], "user_id": ["u"]}).write_parquet(path)
    assert read_ids([path], kind="user", has_header=False).ids["id"].to_list() == ["u"]
    assert read_ids([path], kind="user", column="1").ids["id"].to_list() == ["n"]


def test_parquet_lines_are_rows(tmp_path: Path) -> None:
    """In Parquet, ``line`` is the 1-based row."""
    path = tmp_path / "g.parquet"
    pl.DataFrame({"group_id": ["g1", "g2"]}).write_parquet(path)
    assert read_ids([path], kind="group").ids["line"].to_list() == [1, 2]


BAD_PARQUET = [
    (
        "fraction",
        pl.DataFrame({"user_id": [1.0, 2.5]}),
        "not whole numbers below 2**53 (first at row 2)",
    ),
    ("beyond 2**53", pl.DataFrame({"user_id": [2.0**53 + 2]}), "not whole numbers below 2**53"),
    ("2**53, maybe rounded", pl.DataFrame({"user_id": [-(2.0**53)]}), "below 2**53"),
    ("infinity", pl.DataFrame({"user_id": [float("inf")]}), "not whole numbers"),
    ("date", pl.DataFrame({"user_id": [date(2024, 1, 1)]}), "has type Date"),
    ("list", pl.DataFrame({"user_id": [["a"]]}), "has type List(String)"),
    ("binary", pl.DataFrame({"user_id": [b"a"]}), "has type Binary"),
    ("boolean", pl.DataFrame({"user_id": [True]}), "has type Boolean"),
    ("no id column", pl.DataFrame({"a": [1], "b": [2]}), "columns: a, b"),
]


@pytest.mark.parametrize(
    ("frame", "message"), [case[1:] for case in BAD_PARQUET], ids=[case[0] for case in BAD_PARQUET]
)
def test_bad_parquet_columns(tmp_path: Path, frame: pl.DataFrame, message: str) -> None:
    """An ID column that cannot hold exact IDs is refused, saying why."""
    frame.write_parquet(tmp_path / "ids.parquet")
    with pytest.raises(InputError, match=r"^\S*ids\.parquet: ") as caught:
        read_ids([tmp_path / "ids.parquet"], kind="user")
    assert message in str(caught.value)


def test_truncated_parquet(tmp_path: Path) -> None:
    """A Parquet file cut short is one clear error naming it."""
    buffer = io.BytesIO()
    pl.DataFrame({"user_id": [f"u{i}" for i in range(1000)]}).write_parquet(buffer)
    assert read_error(tmp_path, buffer.getvalue()[:300], "cut.parquet").startswith(
        str(tmp_path / "cut.parquet") + ": "
    )


TRUNCATED_GZIP = gzip.compress(b"user_id\n" + b"".join(b"%08d\n" % i for i in range(200_000)))
BAD_CSV = [
    ("not parquet", b"user_id\n1\n", {"name": "x.parquet"}, "not a Parquet file"),
    ("zip archive", b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + bytes(range(256)), {},
     "a ZIP archive: unzip it"),
    ("binary junk", b"\x01\x02\x00\x00" + bytes(range(256)), {}, "binary data (it holds NUL"),
    ("utf-16", "user_id\n1\n".encode("utf-16"), {}, "UTF-16 (little-endian) text with a byte"),
    ("latin-1", b"user_id\nJos\xe9\n", {}, "not UTF-8 text (bad byte at offset 11)"),
    (
        "missing column",
        b"user_id,email\n1,a\n",
        {"column": "uid"},
        "no column 'uid' (columns: user_id, email)",
    ),
    (
        "no column to pick",
        b"email,name\na,b\n",
        {},
        "choose one with --column (columns: email, name)",
    ),
    ("position too far", b"a,b\n1,2\n", {"column": "3"}, "no column '3'"),
    ("repeated name", b"id, id\n1,2\n", {}, "2 columns are named 'id'"),
    ("case ambiguity", b"ID,Id\n1,2\n", {}, "2 columns are named 'id'"),
    ("old mac line ends", b"user_id\r1\r2\r", {}, "bare CR"),
    ("huge single line", b"x" * (2 << 20), {}, "no line break in the first 1 MiB"),
    ("more fields than header", b"user_id,email\n1,a\n2,b,c\n", {}, "line 3 has more fields"),
    ("shifted id column", b"name,user_id\nDoe,1\nSmith, J,2\n", {}, "line 3 has more fields"),
    ("truncated gzip", TRUNCATED_GZIP[: len(TRUNCATED_GZIP) // 2], {}, "ended before the end"),
    ("truncated small gzip", TRUNCATED_GZIP[:100], {}, "ended before the end"),
]


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [case[1:] for case in BAD_CSV],
    ids=[case[0] for case in BAD_CSV],
)
def test_unreadable_files(
    tmp_path: Path, content: bytes, options: dict[str, Any], message: str
) -> None:
    """Unreadable input is one line that names the file and says why, never a traceback."""
    assert message in read_error(tmp_path, content, **options)


def test_bad_utf8_past_the_sniffed_start(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 deep in a large file are still refused, naming the file."""
    content = b"user_id\n" + b"abcdefgh\n" * 200_000 + b"ab\xff\n"
    assert "utf-8" in read_error(tmp_path, content).lower()


def test_many_columns_are_listed_briefly(tmp_path: Path) -> None:
    """The column list in an error is cut after twenty names."""
    header = ",".join(f"c{i}" for i in range(100))
    message = read_error(tmp_path, f"{header}\n{header}\n".encode())
    assert "c19, ... 100 in all" in message and "c20" not in message


def test_directory_missing_file_and_empty_glob(tmp_path: Path) -> None:
    """A directory, a missing path and a glob that matches nothing are errors naming them."""
    cases = {
        str(tmp_path): "is a directory",
        str(tmp_path / "gone.csv"): "no such file",
        str(tmp_path / "*.parquet"): "no file matches this pattern",
    }
    for item, message in cases.items():
        with pytest.raises(InputError, match="^" + item.replace("*", r"\*") + ": " + message):
            read_ids([item], kind="user")
    with pytest.raises(InputError, match="no input files"):
        read_ids([], kind="user")


def test_globs_expand_sorted_recursive_and_once(tmp_path: Path) -> None:
    """Globs expand sorted, ``**`` recurses, directories are skipped, a file is read once."""
    for name, value in [("b.csv", "2"), ("a.csv", "1"), ("sub/c.csv", "3"), ("sub.csv/x", "")]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(f"user_id\n{value}\n")
    result = read_ids(
        [str(tmp_path / "**" / "*.csv"), tmp_path / "a.csv", str(tmp_path / "*.csv")], kind="user"
    )
    assert [Path(name).relative_to(tmp_path).as_posix() for name in result.files] == [
        "a.csv",
        "b.csv",
        "sub/c.csv",
    ]
    assert result.ids["id"].to_list() == ["1", "2", "3"]


def test_several_formats_at_once(tmp_path: Path) -> None:
    """CSV, gzip CSV and Parquet files are read together, in the order given."""
    (tmp_path / "a.csv").write_text("user_id\nu1\n")
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(b"user_id\tx\nu2\t0\n"))
    pl.DataFrame({"user_id": [3]}).write_parquet(tmp_path / "c.parquet")
    paths = [tmp_path / name for name in ("a.csv", "b.csv.gz", "c.parquet")]
    result = read_ids(paths, kind="user")
    assert result.ids.select("id", "file").rows() == [("u1", 0), ("u2", 1), ("3", 2)]
    assert result.files == tuple(str(path) for path in paths)


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("a,b;c\n1,2;3", ","),
        ("a;b,c;d\n1;2,3;4", ";"),
        ('"a;b",c\n"1;2",3', ","),
        ("user_id\n1|2", ","),
        ("a|b\n1|2", "|"),
        ("a\tb\n1\t2", "\t"),
        ("a,b;c\n1;2", ";"),
    ],
)
def test_sniff_delimiter(sample: str, expected: str) -> None:
    """The delimiter splits the header outside quotes, and later records alike; ties go to comma."""
    assert sniff_delimiter(sample) == expected


printable_ids = (
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30)
    .map(str.strip)
    .filter(bool)
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(printable_ids, min_size=1, max_size=30),
    delimiter=st.sampled_from(DELIMITERS),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_round_trip(
    tmp_path: Path, ids: list[str], delimiter: str, newline: str, bom: bool
) -> None:
    """Any printable, trimmed IDs written by a standard CSV writer come back exactly."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(["user_id", "note"])
    writer.writerows([identifier, f"n{delimiter}{index}"] for index, identifier in enumerate(ids))
    content = ("\ufeff" if bom else "") + out.getvalue()
    assert ids_in(tmp_path, content.encode()) == ids

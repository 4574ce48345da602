"""Reading JSON Lines and JSON arrays: every record's ID exactly, at the line it is on."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from bulk_delete.inputs import read_ids
from tests.fakes import input_refused, read_input


def read(tmp_path: Path, content: bytes, name: str = "ids.jsonl",
         **options: Any) -> list[tuple[str | None, int]]:
    """(id, line) of every row read from one file holding ``content``."""
    return read_input(tmp_path, content, name, **options).ids.select("id", "line").rows()


def refused(tmp_path: Path, content: bytes, name: str = "ids.jsonl", **options: Any) -> str:
    """The one-line message of the InputError reading ``content`` raises; it names the file."""
    return input_refused(tmp_path, content, name, **options)


def lines(*records: object) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def test_the_warehouse_export_that_was_read_as_a_csv(tmp_path: Path) -> None:
    """Every record of a JSON Lines export is an ID: none becomes a header, none is sent as
    a record's text."""
    content = lines(*({"user_id": f"00j{i}", "email": f"p{i}@example.com"} for i in range(4)))
    assert read(tmp_path, content) == [("00j0", 1), ("00j1", 2), ("00j2", 3), ("00j3", 4)]


VALUES = [
    ("a string, as written", '"00123"', "00123"),
    ("a string, trimmed", '"  u1 "', "u1"),
    ("a string that reads as a number", '"1e5"', "1e5"),
    ("a string that reads as a boolean", '"true"', "true"),
    ("a string that reads as JSON", '"{\\"a\\": 1}"', '{"a": 1}'),
    ("an integer", "12", "12"),
    ("a negative integer", "-7", "-7"),
    ("an integer beyond 64 bits", "123456789012345678901", "123456789012345678901"),
    ("a whole float", "1.0", "1"),
    ("an exponent", "1e5", "100000"),
    ("the last exact float", "9007199254740991.0", "9007199254740991"),
    ("null", "null", None),
    ("an empty string", '""', None),
    ("a control character", '"a\\u0001b"', None),
]


@pytest.mark.parametrize(("value", "expected"), [case[1:] for case in VALUES],
                         ids=[case[0] for case in VALUES])
def test_values(tmp_path: Path, value: str, expected: str | None) -> None:
    """Each JSON value becomes the ID it exactly is, or an invalid row (None)."""
    content = b'{"user_id": "first"}\n{"user_id": ' + value.encode() + b', "n": 1}\n'
    assert read(tmp_path, content) == [("first", 1), (expected, 2)]


NOT_IDS = [
    ("a fraction", "2.5", "floats that are not whole numbers below 2**53 (first at line 3)"),
    ("2**53, maybe rounded from 2**53 + 1", "9007199254740993.0", "below 2**53 (first at line 3)"),
    ("a boolean", "true", "the ID field 'user_id' holds a boolean at line 3"),
    ("an object", '{"$oid": "5f1d"}', "the ID field 'user_id' holds an object at line 3"),
    ("an array", '["u1"]', "the ID field 'user_id' holds an array at line 3"),
]


@pytest.mark.parametrize(("value", "message"), [case[1:] for case in NOT_IDS],
                         ids=[case[0] for case in NOT_IDS])
def test_values_that_cannot_be_ids_refuse_the_file(tmp_path: Path, value: str,
                                                    message: str) -> None:
    """A value no exact ID can be refuses the file, naming its line."""
    content = b'{"user_id": 1}\n\n{"user_id": ' + value.encode() + b"}\n"
    assert message in refused(tmp_path, content)


def test_lines_count_blank_lines_and_missing_fields_are_invalid(tmp_path: Path) -> None:
    """``line`` is the line an editor shows; a record without the field is an invalid row."""
    content = b'\n{"user_id": "a"}\r\n  \r\n{"email": "x"}\r\n{"user_id": "b"}'
    assert read(tmp_path, content) == [("a", 2), (None, 4), ("b", 5)]


def test_gzip_and_a_byte_order_mark(tmp_path: Path) -> None:
    """Gzipped JSON Lines with a UTF-8 byte-order mark read like plain ones."""
    content = gzip.compress(b"\xef\xbb\xbf" + lines({"user_id": "a"}, {"user_id": 2}))
    assert read(tmp_path, content, "ids.jsonl.gz") == [("a", 1), ("2", 2)]


@pytest.mark.parametrize(("name", "content", "form"), [
    ("ids.json", lines({"user_id": "a"}, {"user_id": "b"}), "jsonl"),
    ("ids.csv", lines({"user_id": "a"}, {"user_id": "b"}), "jsonl"),
    ("ids.jsonl", b'[{"user_id": "a"}, {"user_id": "b"}]', "json"),
    ("ids.jsonl", b"user_id\na\nb\n", "csv"),
    ("ids.txt", gzip.compress(lines({"user_id": "a"}, {"user_id": "b"}), mtime=0), "jsonl"),
], ids=["JSON Lines named .json", "JSON Lines named .csv", "an array named .jsonl",
        "CSV named .jsonl", "gzipped JSON Lines named .txt"])
def test_content_wins_over_the_name(tmp_path: Path, name: str, content: bytes,
                                    form: str) -> None:
    """The bytes decide the format; the digest record keeps the format they were read as."""
    (tmp_path / name).write_bytes(content)
    read_back = read_ids([tmp_path / name], kind="user")
    assert read_back.ids["id"].to_list() == ["a", "b"]
    assert read_back.receipts[0].format == form


@pytest.mark.parametrize(("records", "options", "expected"), [
    ([{"id": "x", "group_id": "g"}], {"kind": "group"}, "g"),
    ([{"name": "n", "id": "x"}], {}, "x"),
    ([{"customer": "c"}], {}, "c"),
    ([{"User_ID": "u"}], {}, "u"),
    ([{"a": "1", "b": "2"}], {"column": "b"}, "2"),
    ([{"a": "1", "b": "2"}], {"column": "2"}, "2"),
    ([{"a": "1"}, {"a": "3", "later": "4"}], {"column": "later"}, "4"),
])
def test_the_id_field_is_chosen_as_a_column_is(tmp_path: Path, records: list[Any],
                                               options: dict[str, Any], expected: str) -> None:
    """``<kind>_id``, else ``id``, else the only field; --column by name or position; the
    fields of all the first records count."""
    assert read(tmp_path, lines(*records), **options)[-1][0] == expected


def test_no_field_to_choose(tmp_path: Path) -> None:
    """Several fields and none named for the kind: the error lists them."""
    assert "choose one with --column (columns: email, name)" in refused(
        tmp_path, lines({"email": "e", "name": "n"}))


def test_a_bad_line_far_into_the_file_is_named(tmp_path: Path) -> None:
    """A broken record past the first ones is named by its line, not by polars' offsets."""
    content = lines(*({"user_id": f"u{i}"} for i in range(100))) + b'{"user_id": "x"} junk\n'
    assert "line 101 is not valid JSON" in refused(tmp_path, content)


def test_a_line_that_is_not_an_object(tmp_path: Path) -> None:
    """JSON Lines of objects with a bare value among them: refused at that line."""
    assert "line 2 holds a string, not a JSON object" in refused(
        tmp_path, b'{"user_id": "a"}\n"b"\n')


ARRAYS = [
    ("objects", b'[{"user_id": "a"}, {"email": "x"}, {"user_id": 7}, {"user_id": null}]',
     [("a", 1), (None, 2), ("7", 3), (None, 4)]),
    ("pretty objects", json.dumps([{"user_id": "a"}, {"user_id": 2.0}], indent=2).encode(),
     [("a", 1), ("2", 2)]),
    ("strings", b'["00123", " b ", "", null]', [("00123", 1), ("b", 2), (None, 3), (None, 4)]),
    ("numbers", b"[1, 123456789012345678901, 3.0]",
     [("1", 1), ("123456789012345678901", 2), ("3", 3)]),
    ("empty", b"[]", []),
    ("byte-order mark", b'\xef\xbb\xbf["a"]', [("a", 1)]),
]


@pytest.mark.parametrize(("content", "expected"), [case[1:] for case in ARRAYS],
                         ids=[case[0] for case in ARRAYS])
def test_json_arrays(tmp_path: Path, content: bytes, expected: list[Any]) -> None:
    """A JSON array of objects or of IDs; ``line`` is the element's position."""
    assert read(tmp_path, content, "ids.json") == expected


BAD_ARRAYS = [
    ("an object in the ID field", b'[{"user_id": {"$oid": "5f1"}}]',
     "holds an object at element 1"),
    ("a boolean among IDs", b'["a", false]', "the array holds a boolean at element 2"),
    ("a fraction", b'[{"user_id": 1}, {"user_id": 1.5}]', "(first at element 2)"),
    ("objects, then a string", b'[{"user_id": "a"}, "b"]', "element 2 holds a string"),
    ("arrays of arrays", b'[["a"]]', "a JSON array of arrays"),
    ("cut short", b'[{"user_id": "a"}, {"user_',
     "not valid JSON: Unterminated string starting at: line 1 column 21"),
    ("a column for bare IDs", b'["a"]', "has no field 'user_id'"),
]


@pytest.mark.parametrize(("content", "message"), [case[1:] for case in BAD_ARRAYS],
                         ids=[case[0] for case in BAD_ARRAYS])
def test_bad_json_arrays(tmp_path: Path, content: bytes, message: str) -> None:
    """What a JSON array cannot hold as IDs refuses the file, naming the element."""
    options = {"column": "user_id"} if content == b'["a"]' else {}
    assert message in refused(tmp_path, content, "ids.json", **options)

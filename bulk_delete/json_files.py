"""JSON Lines and JSON arrays -> the ID of each record, with the line or position it is at.

JSON Lines (NDJSON, what BigQuery, Snowflake and most warehouses write): one object a line.
The ID field is chosen as a CSV column is (``user_id``/``group_id``, else ``id``, else the
only field; ``--column``), from the fields of the first records. ``line`` is the line in the
file: blank lines count, as in an editor. A record without the field, or with ``null`` in it,
is an invalid row.

A JSON array holds objects (the ID field chosen as above) or the IDs themselves; ``line`` is
the element's 1-based position in the array, since an array is often one line.

What a value means (JSON carries types; an ID is text):

- a string is the ID as written (trimmed, as every ID);
- an integer (no fraction, no exponent) is its digits, exactly, whatever its size;
- a number with a fraction or an exponent is taken as a float, as a Parquet float column
  is (:mod:`bulk_delete.exact`): ``1.0`` is ``1``, ``1.5`` or ``1e20`` refuse the file;
- ``true``/``false``, an object or an array refuse the file: no ID looks like that, so the
  wrong field was chosen (a MongoDB ``{"$oid": ...}``, a flag).

JSON Lines are read by polars, which skips blank lines and, given a String schema, writes
every value as text (``1.0`` as ``1``, ``true`` as ``true``): the line numbers come from a
read of the lines, and where a value's text could hide another type, typed reads (or, for
the rare boolean- or object-looking text, Python's json on those lines) tell what it was.
A JSON array is read whole by Python's json, which keeps every value's type (and was faster
than polars' eager JSON reader here); for millions of IDs, JSON Lines is the format to use.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import replace
from typing import Any

import polars as pl

from bulk_delete.columns import Layout, Unreadable, pick_column
from bulk_delete.exact import MAX_EXACT_FLOAT, whole_floats
from bulk_delete.sniffing import decoded
from bulk_delete.sources import Source

#: Records whose field names choose the ID field.
SAMPLE_RECORDS = 50
#: Text that polars may have made of a JSON number.
NUMBER_TEXT = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
#: Text that polars may have made of a boolean, an object or an array.
NOT_A_STRING = (pl.col("raw").is_in(["true", "false"]) | pl.col("raw").str.starts_with("{")
                | pl.col("raw").str.starts_with("["))


class _Float(str):
    """A JSON number written with a fraction or an exponent, as written."""


def scan_json_lines(source: Source, head: bytes, at_eof: bool, layout: Layout) -> pl.LazyFrame:
    """``line``, ``raw`` (the ID field as exact text) and ``ragged`` (always false)."""
    key = _key(_first_records(decoded(head, at_eof), at_eof), layout)
    data = source.whole().removeprefix(codecs.BOM_UTF8) if head.startswith(
        codecs.BOM_UTF8) else source.polars()  # polars' JSON reader stops at a BOM
    lines = (pl.scan_lines(data, name="text").with_row_index("line", offset=1)
             .filter(pl.col("text").str.strip_chars() != "").select("line")
             .collect(engine="streaming"))
    try:
        values = pl.scan_ndjson(data, schema={key: pl.String}).select(raw=key).collect(
            engine="streaming")
    except pl.exceptions.ComputeError:
        _refuse_bad_line(source)
        raise
    if lines.height != values.height:
        raise Unreadable(f"{values.height:,} records on {lines.height:,} lines that are not "
                         "blank: not one JSON object a line")
    rows = _numbers(lines.hstack(values), data, key)
    _only_strings(rows, data, key)
    return rows.lazy().with_columns(ragged=pl.lit(False))


def _first_records(text: str, at_eof: bool) -> list[dict[str, Any]]:
    """The first SAMPLE_RECORDS records; a line that is not a JSON object is refused."""
    lines = text.split("\n")
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines if at_eof else lines[:-1], start=1):
        if line.strip():
            records.append(_record(line, number))
        if len(records) == SAMPLE_RECORDS:
            break
    return records


def _refuse_bad_line(source: Source) -> None:
    """Name the first line that is not a JSON object, where polars' error does not."""
    with source.decompressed() as stream:
        for number, line in enumerate(stream, start=1):
            text = line.decode("utf-8", "replace").removeprefix("\ufeff")
            if text.strip():
                _record(text, number)


def _record(line: str, number: int) -> dict[str, Any]:
    """One line's record, or Unreadable naming the line."""
    try:
        record = json.loads(line)
    except ValueError:
        raise Unreadable(f"line {number} is not valid JSON: JSON Lines holds one whole "
                         "object a line") from None
    if not isinstance(record, dict):
        raise Unreadable(f"line {number} holds {_kind(record)}, not a JSON object: JSON "
                         "Lines holds one object a line")
    return record


def _key(records: list[dict[str, Any]], layout: Layout) -> str:
    keys = list(dict.fromkeys(key for record in records for key in record))
    if not keys:
        raise Unreadable("its first records have no fields to find the IDs in")
    return keys[pick_column(keys, replace(layout, has_header=True))]


def _numbers(rows: pl.DataFrame, data: Any, key: str) -> pl.DataFrame:
    """Values written as floats replaced by their exact integer text, or refused.

    Only text polars could have made of a number sends the file through a typed read, and
    only numbers from 2**53 on (exact as integers, not as floats) through a second one.
    """
    if not rows["raw"].str.contains(NUMBER_TEXT).any():
        return rows
    number = _typed(data, key, pl.Float64)
    if len(number) != rows.height:
        raise Unreadable("its records could not be read twice alike")
    big = (number.abs() >= MAX_EXACT_FLOAT).any()
    if big:  # an integer literal is exact at any size; a float literal that large is not
        written_as_float = number.is_not_null() & _typed(data, key, pl.Int128).is_null()
    else:  # below 2**53 a whole float is exact; the rest are fractions or exponents
        written_as_float = number.is_not_null() & ~rows["raw"].str.contains(r"^-?[0-9]+$")
    floats = rows.with_columns(number=number).filter(written_as_float)
    if not floats.height:
        return rows
    exact = whole_floats(floats.select("line", raw="number"), unit="line")
    return rows.join(exact.rename({"raw": "exact"}), on="line", how="left",
                     maintain_order="left").select("line", raw=pl.coalesce("exact", "raw"))


def _typed(data: Any, key: str, dtype: type[pl.DataType]) -> pl.Series:
    """The ID field read as ``dtype``: null where the value is not of that JSON type."""
    return pl.scan_ndjson(data, schema={key: dtype}, ignore_errors=True).select(key).collect(
        engine="streaming").to_series()


def _only_strings(rows: pl.DataFrame, data: Any, key: str) -> None:
    """Refuse the file if a value that reads as a boolean, object or array is not a string."""
    suspects = rows.filter(NOT_A_STRING)["line"]
    if not len(suspects):
        return
    texts = (pl.scan_lines(data, name="text").with_row_index("line", offset=1)
             .filter(pl.col("line").is_in(suspects.implode())).collect())
    for line, text in texts.iter_rows():
        value = json.loads(text).get(key)
        if not isinstance(value, str):
            raise _not_an_id(value, key, f"line {line}")


def read_json_array(source: Source, layout: Layout) -> pl.LazyFrame:
    """``line`` (the element's position), ``raw`` and ``ragged`` (always false)."""
    try:
        elements = json.loads(source.whole().removeprefix(codecs.BOM_UTF8),
                              parse_int=str, parse_float=_Float, parse_constant=_Float)
    except ValueError as exc:  # its message says where, never what
        raise Unreadable(f"not valid JSON: {exc}") from None
    if not isinstance(elements, list):
        raise Unreadable("not a JSON array")
    values = _field_values(elements, layout) if _objects(elements) else _bare(elements, layout)
    return _exact(values).lazy()


def _objects(elements: list[Any]) -> bool:
    if elements and isinstance(elements[0], list):
        raise Unreadable("a JSON array of arrays: the values have no field names to find the "
                         "IDs by; write an array of objects, or JSON Lines")
    return bool(elements) and isinstance(elements[0], dict)


def _field_values(elements: list[Any], layout: Layout) -> list[Any]:
    key = _key([e for e in elements[:SAMPLE_RECORDS] if isinstance(e, dict)], layout)
    values = []
    for position, element in enumerate(elements, start=1):
        if not isinstance(element, dict):
            raise Unreadable(f"element {position} holds {_kind(element)}, not an object like "
                             "the first one")
        values.append(element.get(key))
    return _checked(values, key)


def _bare(elements: list[Any], layout: Layout) -> list[Any]:
    if layout.column not in (None, "1"):
        raise Unreadable(f"an array of bare values has no field {layout.column!r}: leave "
                         "--column out for it")
    return _checked(elements, None)


def _checked(values: list[Any], key: str | None) -> list[Any]:
    for position, value in enumerate(values, start=1):
        if value is not None and not isinstance(value, str):  # parse_int/_Float are str
            raise _not_an_id(value, key, f"element {position}")
    return values


def _exact(values: list[str | None]) -> pl.DataFrame:
    """Strings (and integers' digits) as they are; floats by the rule of whole_floats."""
    rows = pl.DataFrame({"line": range(1, len(values) + 1), "raw": [
        None if isinstance(value, _Float) else value for value in values]},
        schema={"line": pl.UInt32, "raw": pl.String})
    floats = [(p, float(v)) for p, v in enumerate(values, start=1) if isinstance(v, _Float)]
    if floats:
        found = pl.DataFrame(floats, schema={"line": pl.UInt32, "raw": pl.Float64}, orient="row")
        exact = whole_floats(found, unit="element").rename({"raw": "exact"})
        rows = rows.join(exact, on="line", how="left", maintain_order="left").select(
            "line", raw=pl.coalesce("exact", "raw"))
    return rows.with_columns(ragged=pl.lit(False))


def _not_an_id(value: Any, key: str | None, where: str) -> Unreadable:
    field = f"the ID field {key!r}" if key is not None else "the array"
    return Unreadable(f"{field} holds {_kind(value)} at {where}: IDs are strings or whole "
                      "numbers, so this is not the ID field (choose one with --column)")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a number" if isinstance(value, int | float) else "a string"

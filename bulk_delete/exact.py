"""Typed ID values as the exact text of the ID, or a refusal when they cannot be exact.

Parquet columns and JSON values carry types; an ID is text. Integers become their digits,
never passing through a float. A float is an ID only if every float of the file is a whole
number below 2**53. From 2**53 on, neighbouring integers share one float (2**53 + 1 is read
as 2**53), and a fraction means the values were never IDs: such a float means the IDs were
rounded on the way, and a rounded ID deletes the wrong person. The file is refused whole,
naming the first such value.
"""

from __future__ import annotations

import polars as pl

from bulk_delete.columns import Unreadable

#: Floats below this are exact integers; from here on, neighbouring IDs share one float.
MAX_EXACT_FLOAT = 2**53


def as_text(frame: pl.LazyFrame, dtype: pl.DataType) -> pl.LazyFrame:
    """The ``raw`` column (of type ``dtype``) as text: integers as their digits, floats by
    :func:`whole_floats`; any other type is refused."""
    whole = dtype.is_integer() or (isinstance(dtype, pl.Decimal) and dtype.scale == 0)
    if whole or isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null):
        return frame.with_columns(pl.col("raw").cast(pl.String))
    if dtype.is_float():
        return whole_floats(frame.collect(engine="streaming")).lazy()
    raise Unreadable(f"the ID column has type {dtype}; IDs must be text or whole numbers")


def whole_floats(frame: pl.DataFrame, unit: str = "row") -> pl.DataFrame:
    """The float ``raw`` column as integer text; NaN is a missing value, a fraction or a
    float from 2**53 on is refused, naming the first such ``line`` (a ``unit``)."""
    raw = pl.col("raw")
    broken = frame.filter(raw.is_not_nan() & ((raw % 1 != 0) | (raw.abs() >= MAX_EXACT_FLOAT)))
    if broken.height:
        raise Unreadable(
            f"the IDs are floats that are not whole numbers below 2**53 (first at "
            f"{unit} {broken['line'][0]}): such IDs were rounded or mangled; export them as text"
        )
    return frame.with_columns(raw.fill_nan(None).cast(pl.Int64).cast(pl.String))

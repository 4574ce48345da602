"""Which column of a file holds the IDs, and how a file reader says it cannot go on.

Without ``--column`` the ID column is ``<kind>_id``, else ``id``, else the only
column; names are trimmed and compared exactly, then ignoring case when that is
unambiguous; ``--column`` also takes a 1-based position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bulk_delete.types import Kind

#: At most this many column names are listed in an error.
LISTED_COLUMNS = 20
#: polars renames a repeated header name ``id`` to ``id_duplicated_0``.
POLARS_DUPLICATE = re.compile(r"_duplicated_\d+$")


@dataclass(frozen=True)
class Layout:
    """How the IDs are laid out in the files: kind, chosen column, header or not."""

    kind: Kind
    column: str | None
    has_header: bool


class Unreadable(Exception):
    """A file cannot be read as documented; the message says why, without the path."""


def pick_column(names: list[str], layout: Layout) -> int:
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
    raise Unreadable(
        f"no {layout.kind}_id or id column and more than one column; choose one with --column "
        f"(columns: {_listing(names)})"
    )


def _named_column(names: list[str], column: str) -> int:
    found = _match(names, column.strip())
    if found is not None:
        return found
    if column.isdigit() and 1 <= int(column) <= len(names):
        return int(column) - 1
    raise Unreadable(f"no column {column!r} (columns: {_listing(names)})")


def _match(names: list[str], wanted: str) -> int | None:
    """The one column named ``wanted``, or else the one named so ignoring case."""
    hits = [position for position, name in enumerate(names) if name == wanted]
    if not hits:
        folded = wanted.casefold()
        hits = [position for position, name in enumerate(names) if name.casefold() == folded]
    if len(hits) > 1:
        raise Unreadable(f"{len(hits)} columns are named {wanted!r}; choose one by position")
    return hits[0] if hits else None


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED_COLUMNS])
    return shown if len(names) <= LISTED_COLUMNS else f"{shown}, ... {len(names)} in all"

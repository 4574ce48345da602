"""Whether the first line of a CSV is a header: a data row read as a header loses an ID.

Without ``--no-header`` the first line names the columns. When the ID column was chosen by
its name (``user_id``, ``group_id``, ``id``, or ``--column NAME``) that line is a header by
definition. When the column was chosen as the only one, or by position, its "name" is
checked: one that looks like JSON, a number, a UUID, an e-mail address or a long hex string,
or that is made like the values under it (``u00017`` over ``u00018``), is a row of data, and
the file is refused with a pointer to ``--no-header``. The value is never shown: it may be
someone's ID.
"""

from __future__ import annotations

import re

from bulk_delete.columns import Layout, Unreadable

#: What a column name never looks like, and what it looks like instead.
NOT_NAMES = (
    (re.compile(r"^\s*[\[{]|\"\s*:"), "JSON"),
    (re.compile(r"^[+-]?\d+([.,]\d+)?([eE][+-]?\d+)?$"), "a number"),
    (re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"), "a UUID"),
    (re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), "an e-mail address"),
    (re.compile(r"^(?=.*\d)[0-9a-fA-F]{16,}$"), "a hex string"),
)
#: Runs of letters and digits, and what lies between them.
TOKENS = re.compile(r"([^0-9A-Za-z]+)")


def check(name: str, values: list[str], layout: Layout) -> None:
    """Refuse a file whose ID column's header ``name`` looks like data (``values`` are the
    first values under it)."""
    if _chosen_by_name(name, layout):
        return
    what = _looks_like(name, [value.strip() for value in values if value.strip()])
    if what is not None:
        raise Unreadable(f"its first line looks like data ({what}), not a header naming the "
                         "columns: if the file has no header line, pass --no-header (if it "
                         "is the header, name the column with --column)")


def _chosen_by_name(name: str, layout: Layout) -> bool:
    wanted = [f"{layout.kind}_id", "id"] if layout.column is None else [layout.column.strip()]
    return name.casefold() in {w.casefold() for w in wanted}


def _looks_like(name: str, values: list[str]) -> str | None:
    for pattern, what in NOT_NAMES:
        if pattern.search(name):
            return what
    if values and re.search(r"\d", name):
        alike = sum(_shape(value) == _shape(name) for value in values)
        if alike * 2 >= len(values):
            return "a value like those under it"
    return None


def _shape(text: str) -> str:
    """``usr_5b67`` -> ``a_9``: each run of letters ``a``, with a digit in it ``9``."""
    parts = TOKENS.split(text.strip())
    return "".join(part if index % 2 else ("9" if re.search(r"\d", part) else "a")
                   for index, part in enumerate(parts) if part)

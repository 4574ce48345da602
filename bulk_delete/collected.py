"""June's records as a compact frame: one row per subject, in its most advanced state.

A listing read hands over the records it keeps a page at a time; each page
becomes a small frame at once (no Python object outlives its page), and every
CONDENSE rows those are condensed: the state made categorical, the timestamps
8-byte instants, one row per subject. A read that looks for known IDs keys its
rows by their position among them (see wanted.py) and gets the subject back at
the end.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from bulk_delete.listing_page import Record, instant
from bulk_delete.wanted import Wanted

#: Known states, least to most advanced.
STATES = ("requested", "started", "finished")
#: Which read found a record: the unfiltered listing, or one state's listing.
def read_name(state: str | None) -> str:
    """The name of a listing read, as ``found_in`` says it: the unfiltered ``listing``, or
    ``state=S``."""
    return "listing" if state is None else f"state={state}"


READS = tuple(read_name(state) for state in (None, *STATES))
FOUND_IN = pl.Enum(READS)
INSTANT = pl.Datetime("us", "UTC")
#: What a read returns: one row per subject, in its most advanced state.
LISTED_SCHEMA: dict[str, pl.DataType] = {
    "subject": pl.String(), "state": pl.Categorical(), "request_id": pl.String(),
    "created_at": INSTANT, "updated_at": INSTANT, "found_in": FOUND_IN}
#: Rows held as small page frames before they are condensed.
CONDENSE = 50_000
#: Where a read that looks for known IDs holds each row's subject: its position among them.
POSITION = "_position"


def most_advanced(frame: pl.DataFrame, key: str = "subject") -> pl.DataFrame:
    """Keep each ``key``'s most advanced state, the first seen among equals; unknown states
    rank below requested.

    Lazy, with the rank as a column of its own: sorting by the expression eagerly peaked at
    1.5 times the memory (1.4 GB against 0.9 GB for five million records).
    """
    rank = pl.col("state").replace_strict(dict(zip(STATES, (1, 2, 3), strict=True)), default=0,
                                          return_dtype=pl.Int8)
    return (frame.lazy().with_columns(_rank=rank)
            .sort("_rank", descending=True, maintain_order=True)
            .unique(key, keep="first", maintain_order=True)
            .drop("_rank").collect())


def as_frame(records: list[Record], found_in: str = "listing") -> pl.DataFrame:
    """Records as rows of LISTED_SCHEMA, one per subject."""
    collected = Collected(None)
    collected.add(records, [r.subject for r in records], found_in)
    return collected.frame()


class Collected:
    """The records one read keeps, condensed as they come.

    ``wanted`` is None when every subject is kept by name; else rows are keyed by
    position among the wanted IDs. With ``spill``, each condensed chunk goes there, as
    LISTED_SCHEMA rows, instead of being held: a subject may then be in two chunks, and
    the receiver keeps its most advanced state.
    """

    def __init__(self, wanted: Wanted | None,
                 spill: Callable[[pl.DataFrame], None] | None = None) -> None:
        self._wanted = wanted
        self._spill = spill
        self._key = "subject" if wanted is None else POSITION
        self._pages: list[pl.DataFrame] = []
        self._held = 0
        self._chunks: list[pl.DataFrame] = []
        #: Timestamps June gave that could not be read (left empty), and the first of them.
        self.unreadable = 0
        self.unreadable_example: str | None = None

    def add(self, records: list[Record], keys: list[str] | list[int], found_in: str) -> None:
        """Keep ``records``, each under its key (subject or position), found by ``found_in``."""
        if not records:
            return
        created = [self._instant(r.created_at) for r in records]
        updated = [self._instant(r.updated_at) for r in records]
        schema: dict[str, pl.DataType] = {
            self._key: pl.String() if self._wanted is None else pl.UInt32(),
            "state": pl.String(), "request_id": pl.String(),
            "created_at": pl.Int64(), "updated_at": pl.Int64()}
        self._pages.append(pl.DataFrame(
            [keys, [r.state for r in records], [r.request_id for r in records], created, updated],
            schema=schema, orient="col",
        ).with_columns(found_in=pl.lit(found_in, dtype=FOUND_IN)))
        self._held += len(records)
        if self._held >= CONDENSE:
            self._condense()

    def frame(self) -> pl.DataFrame:
        """Every row kept, one per subject, as LISTED_SCHEMA."""
        self._condense()
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return pl.DataFrame(schema=LISTED_SCHEMA)
        rows = pl.concat(chunks, rechunk=False)
        if self._repeats(rows):  # a subject in two chunks: rare
            chunks = [most_advanced(rows, self._key)]
        del rows
        # Chunk by chunk: a column of one chunk beside columns of many would make polars
        # copy every column into one (measured: 0.2 GB more at five million rows).
        chunks = [self._named(chunk) for chunk in chunks]
        return pl.concat(chunks, rechunk=False).select(list(LISTED_SCHEMA))

    def _repeats(self, rows: pl.DataFrame) -> bool:
        """Whether a subject is in ``rows`` more than once."""
        return rows[self._key].n_unique() != rows.height

    def _named(self, chunk: pl.DataFrame) -> pl.DataFrame:
        """``chunk`` with each subject in place of its position among the wanted IDs."""
        if self._wanted is None:
            return chunk
        return chunk.with_columns(self._wanted.subjects(chunk[POSITION])).drop(POSITION)

    def _instant(self, text: str | None) -> int | None:
        when = instant(text)
        if when is None and text is not None:
            self.unreadable += 1
            self.unreadable_example = self.unreadable_example or text
        return when

    def _condense(self) -> None:
        if not self._pages:
            return
        rows = pl.concat(self._pages, rechunk=True).with_columns(
            pl.col("state").cast(pl.Categorical),
            pl.col("created_at", "updated_at").cast(INSTANT),
        )
        self._pages, self._held = [], 0
        chunk = most_advanced(rows, self._key) if self._repeats(rows) else rows
        if self._spill is None:
            self._chunks.append(chunk)
            return
        self._spill(self._named(chunk).select(list(LISTED_SCHEMA)))

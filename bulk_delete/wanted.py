"""The subjects a listing read looks for, and which of them it has found so far.

The IDs are sorted once; a page's subjects are then found by binary search, so a
page costs its own size times log(wanted), and a kept record can be held by its
position among the wanted (4 bytes) instead of by its subject: the subject column
is rebuilt at the end from the sorted IDs, whose string buffers polars shares
(sorting five million IDs adds 16 bytes each, whatever their length).
"""

from __future__ import annotations

import polars as pl


class Wanted:
    """Sorted wanted IDs, and a flag per ID: found yet or not.

    A repeated ID counts once: a match always lands on the first of its run.
    """

    def __init__(self, ids: pl.Series) -> None:
        self._sorted = ids.cast(pl.String).drop_nulls().sort()
        #: Distinct IDs wanted.
        self.count = self._sorted.n_unique()
        #: Distinct IDs found so far.
        self.found = 0
        self._flags = bytearray(len(self._sorted))

    def __repr__(self) -> str:
        return f"Wanted(found={self.found:,} of {self.count:,})"

    @property
    def complete(self) -> bool:
        """Every wanted ID has been found."""
        return self.found == self.count

    def match(self, subjects: list[str], *, unfound_only: bool = False) -> list[int | None]:
        """Each subject's position among the wanted IDs; None when it is not wanted (or,
        with ``unfound_only``, already found)."""
        size = len(self._sorted)
        if not size or not subjects:
            return [None] * len(subjects)
        at = self._sorted.search_sorted(pl.Series(subjects, dtype=pl.String), side="left")
        near = [min(place, size - 1) for place in at.to_list()]
        there = self._sorted.gather(near).to_list()
        flags = self._flags
        return [place if subject == held and not (unfound_only and flags[place]) else None
                for subject, place, held in zip(subjects, near, there, strict=True)]

    def mark(self, positions: list[int]) -> None:
        """Count these positions as found."""
        flags = self._flags
        for place in positions:
            if not flags[place]:
                flags[place] = 1
                self.found += 1

    def subjects(self, positions: pl.Series) -> pl.Series:
        """The IDs at ``positions``, sharing the sorted IDs' string buffers."""
        return self._sorted.gather(positions).alias("subject")

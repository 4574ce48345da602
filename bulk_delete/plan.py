"""Read IDs -> the work list: valid, each ID once, minus what the journal already settled.

Every row is counted once, in the first of these that applies: invalid, duplicate (an earlier
row, in this or an earlier file, holds the same ID), already done (its ID has a final outcome
in the journal), to send. So per file ``rows = invalid + duplicate + done + to_send``.

All set work is polars (hashes, sorts, joins): a Python set of ten million IDs costs ~100 MiB
per million and takes longer than the whole plan.

Once ``retain`` has pseudonymized IDs, the journal holds their pseudonyms, not the IDs: given
the key, an ID whose pseudonym has a final outcome is done too (only IDs not already done in
plain text are hashed), so a person erased a year ago is not sent again, and their ID is never
written back in plain text. An input value shaped like a pseudonym is invalid: it came from a
report, not from a person.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from bulk_delete.journal import INVALID, PENDING
from bulk_delete.pseudonyms import PREFIX, is_pseudonym

#: The pseudonym of each ID of a series (pseudonyms.PseudonymKey.of, for the job's kind).
Pseudonymize = Callable[[pl.Series], pl.Series]


@dataclass(frozen=True)
class FileCounts:
    """What became of the rows of one file (or of all files, named ``total``)."""

    name: str
    rows: int
    invalid: int
    duplicate: int
    done: int
    to_send: int


@dataclass(frozen=True)
class Plan:
    """The work list and the counts shown before anything is sent."""

    #: Each ID to send once, in input order: ``id`` (String), and the ``file`` (its name,
    #: Categorical) and ``line`` where it was read first.
    sending: pl.DataFrame
    #: One entry per input file, in input order.
    files: tuple[FileCounts, ...]
    total: FileCounts
    #: ``file`` (its name), ``line`` and ``raw`` (the value as written) of every invalid row.
    invalid_rows: pl.DataFrame

    @property
    def to_send(self) -> pl.Series:
        """The IDs to send (String, named ``id``), each once, in input order."""
        return self.sending["id"]

    def totals_dict(self) -> dict[str, int]:
        """The total counts, as fields for a log line."""
        return {key: value for key, value in asdict(self.total).items() if key != "name"}

    def for_report(self) -> pl.DataFrame:
        """``id``, ``outcome``, ``error``, ``file`` and ``line`` of every ID to send (pending)
        and of every invalid row: what the report and ``lookup`` say of IDs never sent.

        The outcome and file are Categorical: a column of ten million equal strings would
        cost 16 bytes a row, a Categorical four.
        """
        pending = self.sending.select(
            "id", outcome=pl.lit(PENDING, pl.Categorical),
            error=pl.lit(None, pl.String), file="file", line="line",
        )
        blank = pl.col("raw").str.strip_chars().fill_null("") == ""
        why = (pl.when(blank).then(pl.lit("empty ID"))
               .when(is_pseudonym("raw")).then(pl.lit("a pseudonym, not an ID"))
               .otherwise(pl.lit("control character")))
        invalid = self.invalid_rows.select(
            id="raw",
            outcome=pl.lit(INVALID, pl.Categorical),
            error=pl.format("{} at {}:{}", why, "file", "line"),
            file=pl.col("file").cast(pl.Categorical),
            line="line",
        )
        return pl.concat([pending, invalid])


def make_plan(ids: pl.DataFrame, files: Sequence[str | Path], done: pl.Series,
              pseudonymize: Pseudonymize | None = None) -> Plan:
    """Dedupe the valid IDs of :func:`bulk_delete.inputs.read_ids` and drop those in ``done``
    (with ``pseudonymize``, also those whose pseudonym is in ``done``)."""
    names = [str(path) for path in files]
    ids = _pseudonyms_invalid(ids)
    rows = ids.with_columns(first=_first_seen(ids["id"]))
    done_ids = done.cast(pl.String).to_frame("id").lazy()
    sending = (
        rows.lazy()
        .filter("first")
        .select("id", "file", "line")
        .join(done_ids, on="id", how="anti", maintain_order="left")
        .collect()
    )
    if pseudonymize is not None and sending.height:
        hidden = pseudonymize(sending["id"]).is_in(done.cast(pl.String).implode())
        sending = sending.filter(~hidden)
    counts = _counts(rows, sending, names)
    invalid_rows = ids.filter(pl.col("id").is_null()).select(
        file=pl.col("file").replace_strict(dict(enumerate(names)), return_dtype=pl.String),
        line="line",
        raw=pl.col("raw").cast(pl.String),
    )
    sending = sending.with_columns(
        file=pl.Series(names, dtype=pl.Categorical).gather(sending["file"]))
    return Plan(sending, counts, _total(counts), invalid_rows)


def _pseudonyms_invalid(ids: pl.DataFrame) -> pl.DataFrame:
    """Input rows whose value is shaped like a pseudonym turned invalid (``raw`` keeps it)."""
    if not ids.select(pl.col("id").str.starts_with(PREFIX).any()).item():
        return ids  # a prefix test is cheaper than the pattern over ten million IDs
    shaped = is_pseudonym()
    return ids.with_columns(raw=pl.when(shaped).then(pl.col("id"))
                            .otherwise(pl.col("raw").cast(pl.String)).cast(pl.Categorical),
                            id=pl.when(~shaped).then(pl.col("id")))


def _hashes(ids: pl.Series) -> pl.Series:
    return ids.hash()


def _first_seen(ids: pl.Series) -> pl.Series:
    """True at the first occurrence of each valid ID; False at repeats and at nulls.

    Sorting 64-bit hashes (stably, so a run of equal hashes starts at its earliest row) is
    three times faster than deduplicating the strings. Two different IDs with one hash would
    make the later look like a repeat and go unsent, so every repeat is compared with the first
    row of its run; on any difference the strings themselves are deduplicated.
    """
    runs = (
        pl.DataFrame({"hash": _hashes(ids)})
        .with_row_index("row")
        .sort("hash", maintain_order=True)
        .with_columns(start=pl.col("hash").ne_missing(pl.col("hash").shift(1)))
        .with_columns(leader=pl.when("start").then("row").forward_fill())
    )
    repeats = runs.filter(~pl.col("start"))
    if not ids.gather(repeats["row"]).eq_missing(ids.gather(repeats["leader"])).all():
        return ids.is_first_distinct() & ids.is_not_null()
    starts = runs.filter("start")["row"]
    return pl.repeat(False, len(ids), eager=True).scatter(starts, True) & ids.is_not_null()


def _counts(rows: pl.DataFrame, sending: pl.DataFrame, names: list[str]) -> tuple[FileCounts, ...]:
    per_file = rows.group_by("file").agg(
        rows=pl.len(), invalid=pl.col("id").null_count(), unique=pl.col("first").sum()
    )
    sent = sending.group_by("file").agg(to_send=pl.len())
    table = (
        pl.DataFrame({"file": range(len(names))}, schema={"file": pl.UInt32})
        .join(per_file, on="file", how="left", maintain_order="left")
        .join(sent, on="file", how="left", maintain_order="left")
        .fill_null(0)
    )
    return tuple(
        FileCounts(
            name=names[row["file"]],
            rows=row["rows"],
            invalid=row["invalid"],
            duplicate=row["rows"] - row["invalid"] - row["unique"],
            done=row["unique"] - row["to_send"],
            to_send=row["to_send"],
        )
        for row in table.iter_rows(named=True)
    )


def _total(counts: tuple[FileCounts, ...]) -> FileCounts:
    return FileCounts(
        name="total",
        rows=sum(c.rows for c in counts),
        invalid=sum(c.invalid for c in counts),
        duplicate=sum(c.duplicate for c in counts),
        done=sum(c.done for c in counts),
        to_send=sum(c.to_send for c in counts),
    )

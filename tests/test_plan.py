"""Planning: dedupe, subtract what is done, and count every row exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bulk_delete.plan
from bulk_delete.inputs import read_ids
from bulk_delete.plan import FileCounts, Plan, make_plan
from bulk_delete.present import format_plan

Value = str | None


def frame_of(*files: Sequence[Value]) -> pl.DataFrame:
    """Rows as read_ids gives them: one list of IDs per file, None for an invalid row."""
    rows = [
        (value, index, line, None if value is not None else "")
        for index, values in enumerate(files)
        for line, value in enumerate(values, start=2)
    ]
    schema = {"id": pl.String, "file": pl.UInt32, "line": pl.UInt32, "raw": pl.Categorical}
    return pl.DataFrame(rows, schema=schema, orient="row")


def plan_of(*files: Sequence[Value], done: Sequence[str] = ()) -> Plan:
    names = [Path(f"f{index}.csv") for index in range(len(files))]
    return make_plan(frame_of(*files), names, pl.Series("id", list(done), dtype=pl.String))


def counts(entry: FileCounts) -> tuple[int, ...]:
    return (entry.rows, entry.invalid, entry.duplicate, entry.done, entry.to_send)


def test_counts_per_file_and_total() -> None:
    """A row counts once: invalid, else duplicate (across files too), else done, else to send."""
    plan = plan_of(["a", None, "b", "a", "c"], ["b", "d", "c", "e"], done=["c", "e", "zz"])
    assert plan.to_send.to_list() == ["a", "b", "d"]
    assert [counts(entry) for entry in plan.files] == [(5, 1, 1, 1, 2), (4, 0, 2, 1, 1)]
    assert counts(plan.total) == (9, 1, 3, 2, 3)
    assert [entry.name for entry in plan.files] == ["f0.csv", "f1.csv"]
    assert plan.total.name == "total"


def test_work_list_keeps_input_order() -> None:
    """The first occurrence decides an ID's place; later repeats do not move it."""
    ids = [f"id{n:03d}" for n in range(300, 0, -1)]
    plan = plan_of(ids[:150], ids[100:] + ids[:10])
    assert plan.to_send.to_list() == ids
    assert plan.to_send.name == "id" and plan.to_send.dtype == pl.String


def test_done_ids_are_subtracted_exactly() -> None:
    """Only exact matches are done: no trimming, no case folding, no number parsing."""
    plan = plan_of(["00123", "123", "Abc", "abc", "1e5"], done=["123", "abc", "100000"])
    assert plan.to_send.to_list() == ["00123", "Abc", "1e5"]
    assert plan.total.done == 2


def test_everything_already_done() -> None:
    """A rerun over the same file has nothing to send."""
    plan = plan_of(["a", "b", "a"], done=["b", "a", "a"])
    assert plan.to_send.to_list() == []
    assert counts(plan.total) == (3, 0, 1, 2, 0)


def test_empty_inputs() -> None:
    """No rows at all, and a file without rows, still give a full table of zeros."""
    plan = plan_of([], ["x"])
    assert [counts(entry) for entry in plan.files] == [(0, 0, 0, 0, 0), (1, 0, 0, 0, 1)]
    assert counts(plan_of([]).total) == (0, 0, 0, 0, 0)


def test_done_may_be_empty_or_untyped() -> None:
    """An empty journal (even a Null-typed Series) subtracts nothing."""
    frame = frame_of(["a"])
    for done in (pl.Series("id", [], dtype=pl.String), pl.Series("id", [])):
        assert make_plan(frame, [Path("f.csv")], done).to_send.to_list() == ["a"]


def test_invalid_rows_name_file_and_line(tmp_path: Path) -> None:
    """Invalid rows carry the file's name, the line and the value as written."""
    (tmp_path / "a.csv").write_text("user_id\nok\n  \nbad\x07\n")
    ids, files, _ = read_ids([tmp_path / "a.csv"], kind="user")
    plan = make_plan(ids, files, pl.Series("id", [], dtype=pl.String))
    assert plan.invalid_rows.rows() == [
        (str(tmp_path / "a.csv"), 3, "  "),
        (str(tmp_path / "a.csv"), 4, "bad\x07"),
    ]


@pytest.mark.parametrize(
    "hashes",
    [
        lambda ids: pl.Series([0] * len(ids), dtype=pl.UInt64),
        lambda ids: ids.str.len_bytes().cast(pl.UInt64),
    ],
    ids=["all collide", "same length collides"],
)
def test_hash_collisions_fall_back_to_exact(
    monkeypatch: pytest.MonkeyPatch, hashes: object
) -> None:
    """If different IDs shared a hash, none is lost: the strings themselves are deduplicated."""
    monkeypatch.setattr(bulk_delete.plan, "_hashes", hashes)
    plan = plan_of(["ab", "cd", None, "ab", "ef"], ["cd", "gh", "xyz"], done=["ef"])
    assert plan.to_send.to_list() == ["ab", "cd", "gh", "xyz"]
    assert counts(plan.total) == (8, 1, 2, 1, 4)


value = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "00123", "123", "é"]))


@settings(max_examples=200, deadline=None)
@given(
    files=st.lists(st.lists(value, max_size=12), min_size=1, max_size=3),
    done=st.lists(st.sampled_from(["a", "b", "123", "zz"]), max_size=4),
)
def test_plan_matches_a_plain_model(files: list[list[Value]], done: list[str]) -> None:
    """For any inputs, the plan equals a first-occurrence walk over the rows."""
    plan = plan_of(*files, done=done)
    seen: set[str] = set()
    expected: list[str] = []
    per_file = []
    for values in files:
        new = []
        for v in values:
            if v is not None and v not in seen:
                seen.add(v)
                new.append(v)
        sending = [v for v in new if v not in done]
        expected += sending
        invalid = values.count(None)
        valid = len(values) - invalid
        per_file.append(
            (len(values), invalid, valid - len(new), len(new) - len(sending), len(sending))
        )
    assert plan.to_send.to_list() == expected
    assert [counts(entry) for entry in plan.files] == per_file
    assert sum(counts(plan.total)[1:]) == plan.total.rows


def test_format_plan_table() -> None:
    """The table shows each file and the total with aligned, grouped numbers, then invalid rows."""
    plan = Plan(
        sending=pl.DataFrame({"id": ["a"], "file": ["exports/users.csv"], "line": [10]}),
        files=(FileCounts("exports/users.csv", 1234567, 2, 30, 400, 1234135),),
        total=FileCounts("total", 1234567, 2, 30, 400, 1234135),
        invalid_rows=pl.DataFrame(
            {"file": ["exports/users.csv"] * 7, "line": range(2, 9), "raw": [""] * 7}
        ),
    )
    assert format_plan(plan).splitlines() == [
        "file                    rows  invalid  duplicate  already done    to send",
        "exports/users.csv  1,234,567        2         30           400  1,234,135",
        "total              1,234,567        2         30           400  1,234,135",
        "invalid (empty or control characters): exports/users.csv:2, exports/users.csv:3, "
        "exports/users.csv:4, exports/users.csv:5, exports/users.csv:6 and 2 more",
    ]


def test_format_plan_without_invalid_rows() -> None:
    """With nothing invalid the text is the table alone."""
    assert format_plan(plan_of(["a"])).splitlines() == [
        "file    rows  invalid  duplicate  already done  to send",
        "f0.csv     1        0          0             0        1",
        "total      1        0          0             0        1",
    ]


def test_totals_and_report_rows(tmp_path: Path) -> None:
    """Totals go to the log as fields; the report gets pending IDs with the file and line they
    came from, and explained invalid rows."""
    (tmp_path / "a.csv").write_text("user_id\nx\n\ny\x01\nz\n")
    ids, files, _ = read_ids([tmp_path / "a.csv"], kind="user")
    plan = make_plan(ids, files, pl.Series("id", ["z"]))
    assert plan.totals_dict() == {"rows": 4, "invalid": 2, "duplicate": 0, "done": 1, "to_send": 1}
    name = str(tmp_path / "a.csv")
    assert plan.for_report().rows() == [
        ("x", "pending", None, name, 2),
        (None, "invalid", f"empty ID at {name}:3", name, 3),
        ("y\x01", "invalid", f"control character at {name}:4", name, 4),
    ]


def test_a_pseudonym_in_an_input_is_invalid_never_sent(tmp_path: Path) -> None:
    """A JSON Lines export that holds values shaped like bulk-delete's pseudonyms (a report
    fed back as input) counts them invalid, with the reason and the line; a value that only
    starts like one is an ID."""
    pseudonym = "pseudonym:" + "0f" * 32
    path = tmp_path / "ids.jsonl"
    path.write_text(f'{{"user_id": "{pseudonym}"}}\n{{"user_id": " {pseudonym} "}}\n'
                    f'{{"user_id": "pseudonym:not-hex"}}\n{{"user_id": "u1"}}\n')
    read = read_ids([path], kind="user")
    the_plan = make_plan(read.ids, read.files, pl.Series("id", [], dtype=pl.String))
    assert the_plan.to_send.to_list() == ["pseudonym:not-hex", "u1"]
    assert counts(the_plan.total) == (4, 2, 0, 0, 2)
    invalid = the_plan.for_report().filter(pl.col("outcome") == "invalid")
    assert invalid.select("id", "error").rows() == [
        (pseudonym, f"a pseudonym, not an ID at {path}:1"),
        (pseudonym, f"a pseudonym, not an ID at {path}:2")]

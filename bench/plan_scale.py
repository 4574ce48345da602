"""Planning scale: read IDs from CSV, validate, dedupe, subtract a journal's done IDs.

    python bench/plan_scale.py                       # 10M rows, 5M done, 12-character IDs
    python bench/plan_scale.py --rows 1000000 --ids uuid

The input is a CSV of ``user_id,requested_at`` with 5 % repeated IDs, 0.1 % blank and 0.1 %
space-padded; the done set is a real checkpoint journal (``journal.tsv``, read back with
``bulk_delete.journal.read`` as a rerun does), half of it IDs from the input. Both are generated
once per size into the temp directory and reused. Each measurement runs in a fresh subprocess
started through ``harness.run_with_peak``, so its peak resident memory is the planning alone,
plus the interpreter and polars, and not the peak of this process, which generated the input
(``ru_maxrss`` of a child started from here would be at least that). The
baseline, measured in the same run, is bare polars: read one column, trim, drop blanks,
``unique(maintain_order=True)``, anti-join; no validation, no counts, no line numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from harness import run_with_peak

from bulk_delete import journal
from bulk_delete.inputs import read_ids
from bulk_delete.plan import make_plan

TARGET_SECONDS = 8.0
TARGET_MB = 1536.0


def random_ids(count: int, style: str) -> pl.Series:
    """``count`` distinct-enough random IDs: 12 hex characters, or UUID-shaped."""
    width = 12 if style == "short" else 32
    digits = os.urandom(count * width // 2).hex()
    chunks = (digits[i : i + width] for i in range(0, count * width, width))
    if style == "uuid":
        chunks = (f"{c[:8]}-{c[8:12]}-{c[12:16]}-{c[16:20]}-{c[20:]}" for c in chunks)
    return pl.Series("user_id", list(chunks), dtype=pl.String)


def generate(directory: Path, rows: int, done: int, style: str) -> tuple[Path, Path]:
    csv_path, done_path = directory / "input.csv", directory / journal.NAME
    if csv_path.exists() and done_path.exists():
        return csv_path, done_path
    directory.mkdir(parents=True, exist_ok=True)
    unique = random_ids(rows * 95 // 100, style)
    repeats = unique.sample(rows - len(unique), with_replacement=True, seed=1)
    column = pl.concat([unique, repeats]).shuffle(seed=2)
    row = pl.int_range(rows, eager=True)
    column = pl.select(
        user_id=pl.when(row % 1000 == 7)
        .then(pl.lit(""))
        .when(row % 1000 == 8)
        .then(pl.lit("  ") + column + pl.lit(" "))
        .otherwise(column)
    ).to_series()
    frame = pl.DataFrame({"user_id": column, "requested_at": "2024-05-01T09:30:00Z"})
    frame.write_csv(csv_path)
    settled = pl.concat([unique.head(done // 2), random_ids(done - done // 2, style)])
    lines = settled.rename("id").to_frame().with_columns(
        outcome=pl.lit("accepted"), http_status=pl.lit("200"), attempts=pl.lit("1"),
        at=pl.lit("2026-11-29T04:35:44.123Z"), error=pl.lit(""))
    lines.select(journal.COLUMNS).write_csv(done_path, separator="\t", quote_style="never")
    return csv_path, done_path


def plan_with_tool(csv_path: Path, done_path: Path) -> int:
    done = journal.read(done_path, final_only=True, columns=["id"])["id"]
    read = read_ids([csv_path], kind="user")
    return len(make_plan(read.ids, read.files, done).to_send)


def plan_with_polars(csv_path: Path, done_path: Path) -> int:
    ids = pl.scan_csv(csv_path, infer_schema=False).select(id=pl.col("user_id").str.strip_chars())
    todo = (
        ids.filter(pl.col("id") != "")
        .unique(maintain_order=True)
        .join(pl.scan_csv(done_path, separator="\t", quote_char=None, infer_schema=False)
              .select("id"), on="id", how="anti", maintain_order="left")
    )
    return todo.collect().height


def child(mode: str, csv_path: Path, done_path: Path) -> None:
    """Run one measurement in this process and print it as JSON."""
    started = time.perf_counter()
    planner = plan_with_tool if mode == "tool" else plan_with_polars
    to_send = planner(csv_path, done_path)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "to_send": to_send}))


def measure(mode: str, csv_path: Path, done_path: Path) -> dict[str, float]:
    """One planning in a fresh process: seconds, peak MB and the number of IDs to send."""
    command = [sys.executable, __file__, "--child", mode, str(csv_path), str(done_path)]
    result, peak_mb = run_with_peak(command)
    if result.returncode:
        sys.exit(f"{mode} run failed:\n{result.stderr}")
    return {**json.loads(result.stdout.splitlines()[-1]), "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--done", type=int, default=5_000_000)
    parser.add_argument("--ids", choices=("short", "uuid"), default="short")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CSV", "DONE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    directory = args.data_dir / f"bulk-delete-plan-{args.rows}-{args.done}-{args.ids}"
    csv_path, done_path = generate(directory, args.rows, args.done, args.ids)
    tool = measure("tool", csv_path, done_path)
    bare = measure("polars", csv_path, done_path)
    if tool["to_send"] != bare["to_send"]:
        sys.exit(f"disagreement: tool sends {tool['to_send']:,}, polars {bare['to_send']:,}")
    print(f"planning {args.rows:,} rows ({args.ids} IDs) against {args.done:,} done IDs")
    print(f"  bulk-delete  {tool['seconds']:6.2f} s  {tool['peak_mb']:7.0f} MB peak")
    print(f"  bare polars  {bare['seconds']:6.2f} s  {bare['peak_mb']:7.0f} MB peak")
    print(
        f"  ratio        {tool['seconds'] / bare['seconds']:6.2f} x  "
        f"{tool['peak_mb'] / bare['peak_mb']:7.2f} x"
    )
    print(f"  to send      {int(tool['to_send']):,}")
    if (args.rows, args.done) == (10_000_000, 5_000_000):
        met = tool["seconds"] <= TARGET_SECONDS and tool["peak_mb"] <= TARGET_MB
        verdict = "met" if met else "MISSED"
        print(f"  target  <= {TARGET_SECONDS:.0f} s, <= {TARGET_MB:.0f} MB: {verdict}")


if __name__ == "__main__":
    main()

"""Reading the same IDs from each input format: seconds and peak memory, relative to CSV.

    python bench/input_formats.py                  # 2,000,000 rows
    python bench/input_formats.py --rows 10000000

The same IDs (12 hex characters, or integers for the numeric JSON Lines file) are written as
CSV, gzipped CSV, Parquet, JSON Lines (string IDs; integer IDs, which take the typed reads
that prove each number exact; gzipped), and a JSON array of objects, each with a second
field beside the ID as exports have. Each is read with ``bulk_delete.inputs.read_ids`` in a
fresh process started through ``harness.run_with_peak``, so the peak is that read alone (plus
the interpreter and polars). The files are generated once per size into the temp directory.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
from harness import run_with_peak

from bulk_delete.inputs import read_ids

#: Name, file name, and how to write it from a frame of ``user_id`` and ``email``.
FORMATS: list[tuple[str, str, Callable[[pl.DataFrame, Path], None]]] = [
    ("CSV", "ids.csv", lambda frame, path: frame.write_csv(path)),
    ("CSV, gzip", "ids.csv.gz",
     lambda frame, path: path.write_bytes(gzip.compress(frame.write_csv().encode(), 1))),
    ("Parquet", "ids.parquet", lambda frame, path: frame.write_parquet(path)),
    ("JSON Lines", "ids.jsonl", lambda frame, path: frame.write_ndjson(path)),
    ("JSON Lines, integer IDs", "numbers.jsonl",
     lambda frame, path: frame.with_columns(user_id=pl.int_range(pl.len()) * 7919)
     .write_ndjson(path)),
    ("JSON Lines, gzip", "ids.jsonl.gz",
     lambda frame, path: path.write_bytes(gzip.compress(frame.write_ndjson().encode(), 1))),
    ("JSON array", "ids.json", lambda frame, path: frame.write_json(path)),
]


def generate(directory: Path, rows: int) -> None:
    if (directory / FORMATS[-1][1]).exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    ids = pl.Series([f"{n:012x}" for n in range(0, rows * 7919, 7919)])
    frame = pl.DataFrame({"user_id": ids, "email": "someone@example.com"})
    for _, name, write in FORMATS:
        write(frame, directory / name)


def child(path: Path) -> None:
    started = time.perf_counter()
    read = read_ids([path], kind="user")
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": read.ids.height,
                      "valid": read.ids["id"].is_not_null().sum()}))


def measure(path: Path) -> dict[str, float]:
    result, peak_mb = run_with_peak([sys.executable, __file__, "--child", str(path)])
    if result.returncode:
        sys.exit(f"reading {path.name} failed:\n{result.stderr}")
    return {**json.loads(result.stdout.splitlines()[-1]), "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    directory = args.data_dir / f"bulk-delete-formats-{args.rows}"
    generate(directory, args.rows)
    print(f"reading {args.rows:,} IDs with read_ids, one fresh process per file")
    print(f"  {'format':<25}{'MB':>8}{'seconds':>9}{'x CSV':>7}{'peak MB':>9}{'x CSV':>7}")
    baseline: dict[str, float] = {}
    for label, name, _ in FORMATS:
        path = directory / name
        figure = measure(path)
        if figure["valid"] != args.rows:
            sys.exit(f"{label}: {figure['valid']:,} valid IDs, not {args.rows:,}")
        baseline = baseline or figure
        print(f"  {label:<25}{path.stat().st_size / 1e6:>8.0f}{figure['seconds']:>9.2f}"
              f"{figure['seconds'] / baseline['seconds']:>7.2f}{figure['peak_mb']:>9.0f}"
              f"{figure['peak_mb'] / baseline['peak_mb']:>7.2f}")


if __name__ == "__main__":
    main()

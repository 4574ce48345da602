"""retain at scale: seconds and peak memory to pseudonymize 1 M finished IDs, and to find
nothing more to do.

    .venv/bin/python bench/retain_scale.py                    # 1,000,000 IDs, 2 runs
    .venv/bin/python bench/retain_scale.py --ids 200000 --repeat 3

A checkpoint is prepared once, in a process of its own, as a month of a real job leaves it:
an input CSV, the plan the tool's own planning makes of it, a journal with every ID accepted
40 days ago and a state history with every request finished 35 days ago; then the real CLI
reconciles it (``--sandbox``: every ID is known finished, so nothing is read from June) and
writes the report (CSV), summary and page, all on the digest record. Each run copies that
checkpoint and times, through ``harness.run_with_peak``, the real CLI's

* ``retain --pseudonymize-after 30``: every ID due; the whole of it is in the figure: the
  files checked against the digest record, the history read, 1 M keyed pseudonyms, the
  journal, plan, history and report rewritten, summary and page summed up again, every file
  staged, renamed and recorded;
* the same again: nothing left to do (the check alone).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from harness import ROOT, Figure, cli_env, repeat, report, run_with_peak, workdir

from bulk_delete import history, inputs, plan
from bulk_delete.checkpoint import Checkpoint
from bulk_delete.files import write_private
from bulk_delete.journal import COLUMNS, HEADER, NAME

HERE = Path(__file__).resolve().parent
BENCH = "retain"
FULL = 1_000_000
#: The size run_all.py takes by default.
REDUCED = 200_000
DAY = timedelta(days=1)


def prepare(directory: Path, ids: int) -> None:
    """The checkpoint (in ``directory/state``) and the key (beside it): see the docstring."""
    names = pl.Series("user_id", [f"usr_{i:010d}" for i in range(ids)], dtype=pl.String)
    source = directory / "ids.csv"
    names.to_frame().write_csv(source)
    (directory / "key").write_text("0f" * 32 + "\n")
    now = datetime.now(UTC)
    sent, finished = now - 40 * DAY, now - 35 * DAY
    state = directory / "state"
    with Checkpoint.open(state, kind="user", api_host="sandbox", create=True) as checkpoint:
        read = inputs.read_ids([source], kind="user")
        checkpoint.save_plan(plan.make_plan(read.ids, read.files, pl.Series(dtype=pl.String))
                             .for_report())
        lines = names.rename("id").to_frame().with_columns(
            outcome=pl.lit("accepted"), http_status=pl.lit("200"), attempts=pl.lit("1"),
            at=pl.lit(sent.strftime("%Y-%m-%dT%H:%M:%S.000Z")), error=pl.lit(""))
        with (state / NAME).open("wb") as f:
            f.write(HEADER.encode())
            lines.select(COLUMNS).write_csv(f, separator="\t", quote_style="never",
                                             include_header=False)
        june = finished.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        rows = names.rename("id").sort().to_frame().with_row_index("n").with_columns(
            state=pl.lit("finished"), request_id=pl.format("req-{}", "n"),
            created_at=pl.lit(sent.strftime("%Y-%m-%dT%H:%M:%S.000Z")), updated_at=pl.lit(june),
            found_in=pl.lit("listing"), seen_at=pl.lit(finished), started_at=pl.lit(finished),
            finished_at=pl.lit(finished))
        path = state / history.DIRECTORY / "000001.parquet"
        write_private(path, history.writer(rows.lazy().cast(history.SCHEMA)))  # type: ignore[arg-type]


def measure(prepared: Path, ids: int) -> list[Figure]:
    with workdir("retain") as tmp:
        state = Path(tmp) / "state"
        shutil.copytree(prepared / "state", state)
        command = [sys.executable, "-m", "bulk_delete", "retain", "--pseudonymize-after", "30",
                   "--pseudonym-key-file", str(prepared / "key")]
        figures = []
        for which in ("pseudonymize every ID", "again: nothing due"):
            started = time.perf_counter()
            result, peak_mb = run_with_peak(command, env=cli_env(state))
            seconds = time.perf_counter() - started
            if result.returncode != 0:
                raise SystemExit(f"retain exited {result.returncode}:\n{result.stderr[-3000:]}")
            case = f"{ids:,} finished IDs, {which}"
            figures += [Figure(BENCH, case, "seconds", [seconds], fmt="{:.1f}",
                               lower_is_better=True),
                        Figure(BENCH, case, "peak MB", [peak_mb], fmt="{:,.0f}",
                               lower_is_better=True)]
        if (state / "journal.tsv").read_bytes().count(b"usr_"):
            raise SystemExit("an ID is left in plain text in the journal")
    return figures


def prepared_checkpoint(base: Path, ids: int) -> Path:
    """The checkpoint for ``ids`` IDs, made and reconciled once, then reused."""
    directory = base / f"bulk-delete-retain-{ids}"
    if not (directory / "state" / "report.csv").exists():
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        subprocess.run([sys.executable, __file__, "--prepare", str(directory), "--ids",
                        str(ids)], cwd=ROOT, check=True)
        done = subprocess.run([sys.executable, "-m", "bulk_delete", "reconcile", "--sandbox"],
                              cwd=ROOT, env=cli_env(directory / "state"), capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"reconcile exited {done.returncode}:\n{done.stderr[-3000:]}")
    return directory


def figures(*, quick: bool, repeats: int) -> list[Figure]:
    """For run_all.py: REDUCED IDs when ``quick``, else FULL."""
    ids = REDUCED if quick else FULL
    prepared = prepared_checkpoint(Path(tempfile.gettempdir()), ids)
    return repeat(lambda: measure(prepared, ids), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=FULL)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare is not None:
        prepare(args.prepare, args.ids)
        return
    prepared = prepared_checkpoint(Path(tempfile.gettempdir()), args.ids)
    result = repeat(lambda: measure(prepared, args.ids), args.repeat)
    report("retain: the real CLI pseudonymizing finished IDs, started from a small process",
           result, args.repeat)


if __name__ == "__main__":
    main()

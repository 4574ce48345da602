"""Reconcile memory (SPEC §8): 5 M journalled IDs against 5 M listed records, peak resident memory.

    .venv/bin/python bench/reconcile_memory.py                  # 5,000,000 IDs
    .venv/bin/python bench/reconcile_memory.py --ids 1000000

A checkpoint is prepared (in a child process) as a real run leaves it: a plan made by the
tool's own planning from an input CSV, and a journal with every ID accepted. A sandbox
(``bench/seeded_sandbox.py``, in its own process) lists every one of those IDs, finished.
Then the real CLI reconciles twice, as a daily cron would:

* **first**: no state history yet, so every ID is wanted and June's whole listing is read;
  every record is joined, kept in the history, and written to the report, summary and page;
* **again**: the history already holds every ID finished.

``bench/reconcile_checkpoint.py`` prepares the checkpoint, and also reads the listing alone
(the listing's own share of the peak). Each measured process is started from this script,
which imports only the standard library and generates nothing itself: on Linux a child's
``ru_maxrss`` starts from its parent's high-water mark, so the parent must stay small (a
few MB); ``wait4`` then gives the child's own peak. The whole reconcile is in the figure:
journal and plans read, the listing paged and parsed, the history folded and appended,
the report joined and every file written, digests included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KEY = "sk_bench_0123456789"
#: SPEC §8: at most 1.2 GB (MB here are 2**20 bytes, as in plan_scale.py).
TARGET_MB = 1.2 * 1024
#: The sandbox's oldest request was made this many seconds ago, the newest half of it.
AGE = 86_400


def start_sandbox(records: int, page_size: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "seeded_sandbox.py"), "--port", "0", "--api-key", KEY,
         "--records", str(records), "--page-size", str(page_size), "--age", str(AGE)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        sys.exit(f"sandbox did not start: {line!r}")
    return proc, line.split(" on ")[1].split()[0]


def measured(*command: str) -> dict[str, float]:
    """Run ``command`` to its end: its own peak (MB) from wait4, and its seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUNE_", "BULK_DELETE_"))}
    env.update({"JUNE_API_KEY": KEY, "BULK_DELETE_LOG_FORMAT": "json"})
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(f"{command} exited {proc.returncode}:\n{err.read()[-3000:].decode()}")
    return {"peak_mb": usage.ru_maxrss / 1024, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=5_000_000)
    parser.add_argument("--page-size", type=int, default=1000,
                        help="records per listing page (June's is unknown; 1,000 keeps the "
                             "run short and changes the peak little)")
    args = parser.parse_args()
    helper = str(HERE / "reconcile_checkpoint.py")
    with tempfile.TemporaryDirectory(prefix="bulk-delete-bench-reconcile-memory-") as tmp:
        sandbox, url = start_sandbox(args.ids, args.page_size)
        state = Path(tmp) / "state"
        cli = ("-m", "bulk_delete", "reconcile", "--checkpoint-dir", str(state), "--api-url",
               url, "--rate", "10000", "--concurrency", "8")
        try:
            subprocess.run([sys.executable, helper, "prepare", tmp, str(args.ids), url,
                            str(AGE)], cwd=ROOT, check=True)
            listing = measured(helper, "listing", url)
            first = measured(*cli)
            again = measured(*cli)
            summary = json.loads((state / "summary.json").read_text())
            history = sum(p.stat().st_size for p in (state / "history").glob("*.parquet"))
        finally:
            sandbox.terminate()
            sandbox.wait()
    finished = summary["server_state"].get("finished", 0)
    print(f"reconcile memory: {args.ids:,} journalled IDs against {args.ids:,} listed records"
          f" ({args.page_size:,} a page); {finished:,} finished in the report")
    for name, figure in (("first reconcile", first), ("again, history known", again)):
        verdict = "met" if figure["peak_mb"] <= TARGET_MB else "MISSED"
        print(f"  {name:<22} {figure['peak_mb']:7.0f} MB peak  {figure['seconds']:6.1f} s  "
              f"(target <= {TARGET_MB:.0f} MB: {verdict})")
    print(f"  {'the listing read alone':<22} {listing['peak_mb']:7.0f} MB peak  "
          f"{listing['seconds']:6.1f} s  (Listing.read, whole listing, nothing kept)")
    print(f"  state history: {history / 1e6:.1f} MB on disk, "
          f"{history / 1e6 / (args.ids / 1e6):.1f} MB per million IDs (one state each)")


if __name__ == "__main__":
    main()

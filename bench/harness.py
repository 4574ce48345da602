"""What every benchmark shares: the sandbox as a subprocess, the CLI as a subprocess, figures.

Not a benchmark itself. The sandbox is started as ``bench/quiet_sandbox.py --port 0`` (that is
``python -m bulk_delete.sandbox`` with its garbage collector off), or, when it must hold records
before the first request, as ``bench/seeded_sandbox.py``; so the client and the yardstick never
share an interpreter. Run as root, the sandbox and the clients under test get ``nice -10``
(``BENCH_NICE``). With ``BENCH_PIN=1`` (and two or more cores) the sandbox is pinned to core 0
and every client to core 1.

A :class:`Figure` is one measured number with its target; repeats of a run merge into one
figure whose range (worst to best) the table shows, and a target is met only if the worst
repeat meets it.

Peak memory is measured by :func:`run_with_peak` alone, through ``bench/peak_launcher.py``
(why: see there); ``bench/memory_check.py`` shows it reports a small child's own peak.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from bulk_delete.journal import NAME, read

ROOT = Path(__file__).resolve().parent.parent
QUIET_SANDBOX = Path(__file__).resolve().with_name("quiet_sandbox.py")
PEAK_LAUNCHER = Path(__file__).resolve().with_name("peak_launcher.py")
KEY = "sk_bench_0123456789"
API = "/api/platform/data_management/"
#: Pin the sandbox to core 0 and clients to core 1 (``BENCH_PIN=1``). Off by default: on a
#: shared machine a pinned process cannot escape a busy core, which adds more jitter than
#: the client and sandbox cost each other.
PINNED = os.environ.get("BENCH_PIN") == "1" and len(os.sched_getaffinity(0)) >= 2
#: Niceness of the sandbox and of the clients under test (``BENCH_NICE``, default -10 when
#: root). On a machine shared with other work a process at the default priority waits tens of
#: milliseconds for a core now and then; a request started before such a wait reaches the
#: sandbox after it, bunched with later ones, and the sandbox's clock shows the shared
#: machine, not the client. Raised priority keeps the yardstick honest; 0 turns it off.
NICE = int(os.environ.get("BENCH_NICE", "-10" if os.geteuid() == 0 else "0"))
#: Where the sandbox runs, and where every client (this process, the CLI, the peer) runs.
SERVER_CPUS = {0} if PINNED else None
CLIENT_CPUS = {1} if PINNED else None


def machine() -> str:
    """One line naming the machine the figures were measured on."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0]
    pin = "sandbox on core 0, client on core 1" if PINNED else "not pinned"
    return (f"{os.cpu_count()} x {model}, Python {sys.version.split()[0]}, {pin}, "
            f"nice {NICE}, load average {load:.2f} at start")


def prioritize(pid: int) -> None:
    """Give a process under test the benchmark's priority (``NICE``)."""
    if NICE:
        os.setpriority(os.PRIO_PROCESS, pid, NICE)


def pin_self() -> None:
    """Run this process (the client side) on the client core, at the benchmark's priority."""
    prioritize(os.getpid())
    if CLIENT_CPUS is not None:
        os.sched_setaffinity(0, CLIENT_CPUS)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sandbox:
    """The June sandbox in its own process; ``with Sandbox(rate_limit=50) as june: ...``.

    Keyword arguments become its command-line flags (``latency_ms=200`` -> ``--latency-ms
    200``; None leaves a flag out). It runs as ``bench/quiet_sandbox.py`` (the sandbox with
    its garbage collector off, see there); ``script`` runs another entry point with the same
    flags, e.g. ``("-m", "bulk_delete.sandbox")``.
    """

    def __init__(self, *, script: Sequence[str] = (str(QUIET_SANDBOX),), **knobs: Any) -> None:
        flags = ["--port", "0", "--api-key", KEY, "--seed", "1"]
        for name, value in knobs.items():
            if value is not None:
                flags += [f"--{name.replace('_', '-')}", str(value)]
        self.proc = subprocess.Popen([sys.executable, *script, *flags], cwd=ROOT,
                                     stdout=subprocess.PIPE, text=True)
        prioritize(self.proc.pid)
        if SERVER_CPUS is not None:
            os.sched_setaffinity(self.proc.pid, SERVER_CPUS)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"http://[\w.]+:\d+", line)
        if match is None:
            self.proc.kill()
            raise SystemExit(f"sandbox did not start: {line!r}")
        #: Base URL, e.g. ``http://127.0.0.1:41234``.
        self.url = match.group(0)

    def stats(self) -> dict[str, Any]:
        """``GET /_sandbox/stats``: exact counts of what reached the server."""
        with urllib.request.urlopen(f"{self.url}/_sandbox/stats", timeout=10) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def configure(self, **knobs: Any) -> None:
        """``POST /_sandbox/config`` with ``knobs``."""
        request = urllib.request.Request(f"{self.url}/_sandbox/config",
                                         data=json.dumps(knobs).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def cli_env(checkpoint: Path) -> dict[str, str]:
    """The environment of a CLI run: the sandbox key, JSON logs, the checkpoint directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUNE_", "BULK_DELETE_"))}
    env.update({"JUNE_API_KEY": KEY, "BULK_DELETE_LOG_FORMAT": "json",
                "BULK_DELETE_CHECKPOINT_DIR": str(checkpoint)})
    return env


def start_cli(*args: str, checkpoint: Path, pin: bool = True) -> subprocess.Popen[str]:
    """``python -m bulk_delete ARGS`` as a user runs it (on the client core when ``pin``)."""
    proc = subprocess.Popen([sys.executable, "-m", "bulk_delete", *args], cwd=ROOT,
                            env=cli_env(checkpoint), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    prioritize(proc.pid)
    if pin and CLIENT_CPUS is not None:
        os.sched_setaffinity(proc.pid, CLIENT_CPUS)
    return proc


def run_cli(*args: str, checkpoint: Path, timeout: float = 3600,
            pin: bool = True) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run the CLI to its end: the result, wall seconds and the process's CPU seconds."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = start_cli(*args, checkpoint=checkpoint, pin=pin)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 3, 4):
        raise SystemExit(f"bulk-delete {' '.join(args)} exited {proc.returncode}:\n{err[-3000:]}")
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return result, seconds, _children_cpu() - cpu_before


def run_with_peak(command: Sequence[str], *, env: dict[str, str] | None = None,
                  timeout: float = 3600) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``command`` to its end: its result, and its own peak resident memory in MB.

    ``ru_maxrss`` of a child started from this process would start from this process's
    peak, so ``bench/peak_launcher.py`` (standard library only, ~10 MB) starts it and reports
    it; that launcher's size is the floor of the figure.
    """
    read, write = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-S", str(PEAK_LAUNCHER), str(write), *command],
                                cwd=ROOT, env=env, pass_fds=(write,), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    finally:
        os.close(write)
    with os.fdopen(read) as peak:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command it started
            proc.communicate()
            raise SystemExit(f"{' '.join(command)} ran past {timeout} s") from None
        kib = peak.read()
    if not kib:
        raise SystemExit(f"{' '.join(command)} did not start:\n{err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), int(kib) / 1024


def _children_cpu() -> float:
    """CPU seconds of every child process reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def write_ids(path: Path, ids: Iterable[str], column: str = "user_id") -> Path:
    """A one-column CSV of IDs, as an export holds them."""
    pl.DataFrame({column: pl.Series(list(ids), dtype=pl.String)}).write_csv(path)
    return path


def workdir(name: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"bulk-delete-bench-{name}-")


def journal_times(checkpoint: Path, outcome: str = "accepted") -> list[float]:
    """POSIX times of the journal's records with ``outcome``, in journal order."""
    records = read(checkpoint / NAME).filter(pl.col("outcome") == outcome)
    return [datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
            for at in records["at"]]


def sustained(times: Sequence[float]) -> float:
    """Answers per second between the first and the last answer."""
    ordered = sorted(times)
    if len(ordered) < 2 or ordered[-1] == ordered[0]:
        return float("nan")
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


def little(rate: float, latency_ms: float) -> int:
    """Requests in flight for ``rate`` at ``latency_ms``: Little's law with 1.5x headroom."""
    return max(16, round(rate * latency_ms / 1000 * 1.5) + 1)


@dataclass
class Figure:
    """One measured number, its target, and its values across repeats."""

    bench: str
    case: str
    metric: str
    values: list[float] = field(default_factory=list)
    #: The target as the table shows it, e.g. ">= 0.97"; empty when there is none.
    target: str = ""
    #: Whether one value meets the target.
    meets: Callable[[float], bool] | None = None
    #: How one value is printed.
    fmt: str = "{:.3f}"
    #: Worse is higher (a time, a share of 429s): the range then reads best to worst all the same.
    lower_is_better: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return self.bench, self.case, self.metric

    def shown(self) -> str:
        lo, hi = min(self.values), max(self.values)
        if lo == hi or self.fmt.format(lo) == self.fmt.format(hi):
            return self.fmt.format(lo)
        return f"{self.fmt.format(lo)} to {self.fmt.format(hi)}"

    def verdict(self) -> str:
        if self.meets is None:
            return ""
        return "met" if all(self.meets(v) for v in self.values) else "MISSED"


def at_least(bound: float) -> Callable[[float], bool]:
    return lambda value: value >= bound


def at_most(bound: float) -> Callable[[float], bool]:
    return lambda value: value <= bound


def merge(runs: Iterable[Iterable[Figure]]) -> list[Figure]:
    """Figures of several repeats, one per (bench, case, metric), values in repeat order."""
    merged: dict[tuple[str, str, str], Figure] = {}
    for run in runs:
        for figure in run:
            held = merged.setdefault(figure.key, Figure(
                figure.bench, figure.case, figure.metric, [], figure.target, figure.meets,
                figure.fmt, figure.lower_is_better))
            held.values.extend(figure.values)
    return list(merged.values())


def table(figures: Sequence[Figure], repeats: int) -> str:
    """A Markdown table of ``figures``: the range over ``repeats`` runs, target, verdict."""
    heading = ("benchmark", "case", "metric", f"measured ({repeats} run{'s' * (repeats > 1)})",
               "target", "")
    rows = [heading, *((f.bench, f.case, f.metric, f.shown(), f.target, f.verdict())
                       for f in figures)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(heading))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def repeat(measure: Callable[[], list[Figure]], times: int) -> list[Figure]:
    """Run ``measure`` ``times`` times and merge the figures."""
    return merge(measure() for _ in range(times))


def report(title: str, figures: Sequence[Figure], repeats: int) -> None:
    print(f"\n{title}\n{machine()}\n")
    print(table(figures, repeats))
    sys.stdout.flush()

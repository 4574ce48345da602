"""Run a command to its end and write its peak resident memory: a small process starts it.

    python -S bench/peak_launcher.py FD COMMAND [ARG...]

Not called by hand: ``harness.run_with_peak`` runs it. On Linux a process's ``ru_maxrss``
survives exec, and a child begins with the high-water mark of the process that started it:
a child of a benchmark that has just generated 10 M rows reports that benchmark's peak,
whatever it used itself. This launcher imports nothing but the standard library (~10 MB), so
COMMAND, which it spawns, starts from that; ``wait4`` then gives COMMAND's own peak, with at
most this launcher's size as its floor. It writes the peak in KiB on file descriptor FD, then
exits with COMMAND's exit code (128 + N when signal N ended it).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    fd, command = int(sys.argv[1]), sys.argv[2:]
    os.set_inheritable(fd, False)  # COMMAND must not hold the pipe open after we close it
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    with os.fdopen(fd, "w") as out:
        out.write(f"{usage.ru_maxrss}\n")
    code = os.waitstatus_to_exitcode(status)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()

"""``python -m bulk_delete.sandbox``, with its garbage collector off: a steadier yardstick.

    .venv/bin/python bench/quiet_sandbox.py --port 0 --latency-ms 200     # same flags

The sandbox stamps each request when its event loop gets to it. With a few hundred requests
in flight its young-generation collections stall that loop for 10-30 ms on this machine
(measured with ``gc.callbacks``), so requests that arrived during a stall are stamped at its
end, bunched together: its ``peak_per_second`` and its rate limit then see a burst the client
never sent. A benchmark process lives for seconds, so the collector is simply switched off
after start-up (reference counting still frees everything that is not a cycle).
"""

from __future__ import annotations

import gc

from bulk_delete.sandbox.cli import sandbox

if __name__ == "__main__":
    gc.collect()
    gc.freeze()
    gc.disable()
    sandbox(prog_name="bench/quiet_sandbox.py")

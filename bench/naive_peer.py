"""The peer of bench/peer.py: the sequential loop a team would write in an afternoon.

    python bench/naive_peer.py URL IDS.csv RATE

Standard library only, so its start-up is what such a script's would be. For each ID of the
CSV's ``user_id`` column: one blocking ``urllib.request`` POST, a sleep that keeps starts at
least ``1 / RATE`` apart, and bulk-delete's retry rules (up to 6 attempts for 408, 5xx and
network errors with capped full-jitter backoff; Retry-After honoured on 429; other 4xx final).
Prints the number of IDs accepted.
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

KEY = "sk_bench_0123456789"
POST = "/api/platform/data_management/user_deletion_request"


def naive_loop(url: str, source: Path, rate: float, max_attempts: int = 6) -> int:
    """What a team writes in an afternoon: one request at a time. Returns IDs accepted."""
    with source.open(newline="") as f:
        ids = [row["user_id"].strip() for row in csv.DictReader(f) if row["user_id"].strip()]
    headers = {"Authorization": f"Basic {KEY}", "Content-Type": "application/json"}
    accepted, last_start = 0, 0.0
    for subject in ids:
        body = json.dumps({"user_id": subject}).encode()
        for attempt in range(1, max_attempts + 1):
            time.sleep(max(0.0, last_start + 1 / rate - time.monotonic()))
            last_start = time.monotonic()
            request = urllib.request.Request(f"{url}{POST}", data=body,
                                             headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    answer.read()
                accepted += 1
                break
            except urllib.error.HTTPError as exc:
                if exc.code == 429:
                    time.sleep(float(exc.headers.get("Retry-After") or 1))
                elif exc.code != 408 and exc.code < 500:
                    break  # rejected: never retried
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                pass
            time.sleep(random.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1))))
    return accepted



if __name__ == "__main__":
    print(naive_loop(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])))

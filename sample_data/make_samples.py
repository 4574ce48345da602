"""Write the sample inputs: ``users.csv`` (a messy CRM export) and ``groups.parquet``.

    python sample_data/make_samples.py

Deterministic, so the files only change when this script does. Every address is at
example.com; the IDs are made up. users.csv carries the mess real exports have: leading zeros,
padded values, a duplicate, blank IDs, a quoted comma, non-ASCII text and a numeric-looking ID.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import polars as pl

HERE = Path(__file__).parent
REASONS = ["user request (GDPR Art. 17)", "CCPA deletion request", "account closed, data purge"]
NAMES = ["ana", "björn", "chloé", "dmitri", "eun-ji", "farah", "gustavo", "hana", "ines", "jun"]


def user_rows(rng: random.Random) -> list[list[str]]:
    rows = []
    for n in range(196):
        user_id = f"{rng.randrange(10**6):06d}" if n % 3 == 0 else f"usr_{rng.getrandbits(40):010x}"
        email = f"{rng.choice(NAMES)}.{n}@example.com"
        day = f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:15:00Z"
        rows.append([user_id, email, rng.choice(REASONS), day])
    rows[4][0] = "000123"  # leading zeros, must stay
    rows[9][0] = f"  {rows[9][0]} "  # padded, trimmed on read
    rows[17][0] = "1e5"  # looks like a number, is an ID
    rows[23][0] = ""  # blank: invalid
    rows[42][0] = "   "  # whitespace only: invalid
    rows[60][1] = "josé.núñez@example.com"
    rows.append(list(rows[10]))  # the same request exported twice
    rows.append(
        ["123456789012345678901", "long.id@example.com", REASONS[0], "2024-06-01T10:00:00Z"]
    )
    rows.append([rows[30][0], "again@example.com", REASONS[1], "2024-06-02T10:00:00Z"])
    rows.append(
        ["usr_7f00000001", "last@example.com", "moved away, closed account", "2024-06-03T10:00:00Z"]
    )
    return rows


def main() -> None:
    rng = random.Random(20240501)
    with (HERE / "users.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["user_id", "email", "deleted_reason", "requested_at"])
        writer.writerows(user_rows(rng))
    groups = [f"org_{rng.getrandbits(32):08x}" for _ in range(48)] + ["00042", "acme-eu"]
    pl.DataFrame(
        {"group_id": groups, "seats": [rng.randrange(1, 500) for _ in groups]}
    ).write_parquet(HERE / "groups.parquet")


if __name__ == "__main__":
    main()

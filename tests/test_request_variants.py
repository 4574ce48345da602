"""Sending to a June that made its own undocumented choices: the CLI as a process against the
sandbox playing each one (409 for repeats, Idempotency-Key replays, standard Basic auth only,
rate-limit headers), with no flag beyond the defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.fakes import June, bulk_delete, cli_env, ids, journal_of, write_ids


def test_409_for_repeats_is_evidence_in_journal_and_report(june: June, tmp_path: Path) -> None:
    """IDs another job already sent are answered 409: journalled and reported
    already_requested with June's status and message, none rejected, and the run exits 0."""
    june.configure(duplicate_status=409, start_after=0, finish_after=0)
    earlier = {**cli_env(tmp_path), "BULK_DELETE_CHECKPOINT_DIR": str(tmp_path / "other")}
    first = bulk_delete("submit", str(write_ids(tmp_path / "old.csv", ids(10))),
                        "--api-url", june.url, "--rate", "500", env=earlier)
    assert first.returncode == 0, first.stderr
    source = write_ids(tmp_path / "ids.csv", [*ids(10), *ids(5, "n")])
    done = bulk_delete("run", str(source), "--api-url", june.url, "--rate", "500",
                       env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "accepted 5, already requested 10, rejected 0, failed 0 of 15" in done.stdout
    repeats = journal_of(tmp_path).filter(pl.col("outcome") == "already_requested")
    assert sorted(repeats["id"]) == ids(10)
    assert set(repeats["http_status"]) == {"409"}
    assert all(e.startswith("a deletion request already exists for user_id u") for e in
               repeats["error"])
    report = pl.read_csv(tmp_path / "state" / "report.csv")
    assert report.filter(pl.col("outcome") == "already_requested")["id"].sort().to_list() == ids(10)
    assert june.stats()["conflicts"]["user"] == 10


def lose_answers(june: June, tmp_path: Path,
                 idempotency: str) -> tuple[dict[str, Any], pl.DataFrame]:
    """50 IDs sent to a June that drops a fifth of its answers after applying the request:
    exit 0, every ID held once and journalled once, none rejected or failed. June's stats
    and the journal, for what the June's Idempotency-Key choice adds."""
    june.configure(duplicate_status=409, idempotency=idempotency, reset_rate=0.2,
                   reset_after_share=1.0, seed=7)
    done = bulk_delete("submit", str(write_ids(tmp_path / "ids.csv", ids(50))),
                       "--api-url", june.url, "--rate", "500", "--max-attempts", "10",
                       env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    stats = june.stats()
    assert stats["faults"]["reset_after"] > 0
    assert stats["unique"]["user"] == 50
    latest = journal_of(tmp_path)
    assert set(latest["outcome"]) <= {"accepted", "already_requested"}
    assert latest["id"].n_unique() == 50
    return stats, latest


def test_a_lost_answer_is_replayed_by_a_june_honouring_idempotency(june: June,
                                                                   tmp_path: Path) -> None:
    """Answers dropped after June applied the request, from a June that honours the
    Idempotency-Key: the retry gets the first answer replayed, no second request is applied,
    and every ID ends accepted, exit 0."""
    stats, latest = lose_answers(june, tmp_path, "honour")
    assert stats["duplicates"]["user"] == 0
    assert stats["replays"]["user"] >= 1
    assert set(latest["outcome"]) == {"accepted"}


def test_a_lost_answer_is_already_requested_at_a_june_ignoring_idempotency(
        june: June, tmp_path: Path) -> None:
    """Answers dropped after June applied the request, from a June that ignores the
    Idempotency-Key: the retry is answered 409, and the ID ends already requested, never
    rejected, exit 0."""
    stats, latest = lose_answers(june, tmp_path, "ignore")
    # a 409 can be dropped too, and answered 409 again
    assert stats["conflicts"]["user"] >= (latest["outcome"] == "already_requested").sum() > 0


def test_auto_finds_standard_basic_with_no_flag(june: June, tmp_path: Path) -> None:
    """A June that takes standard Basic only: one refused preflight read, then every request
    in that form; the manifest records it and reconcile uses it without asking again."""
    june.configure(auth_style="basic", start_after=0, finish_after=0)
    env = cli_env(tmp_path)
    done = bulk_delete("submit", str(write_ids(tmp_path / "ids.csv", ids(20))),
                       "--api-url", june.url, "--rate", "500", env=env)
    assert done.returncode == 0, done.stderr
    chosen = [json.loads(line) for line in done.stderr.splitlines()
              if '"bulk_delete.auth_style_chosen"' in line]
    assert [(c["auth_style"], c["refused"]) for c in chosen] == [("basic", ["raw"])]
    manifest = json.loads((tmp_path / "state" / "manifest.json").read_text())
    assert manifest["auth_style"] == "basic"
    assert june.stats()["unauthorized"] == 1
    assert june.stats()["unique"]["user"] == 20
    checked = bulk_delete("reconcile", "--api-url", june.url, env=env)
    assert checked.returncode == 0, checked.stderr
    assert june.stats()["unauthorized"] == 1


@pytest.mark.parametrize("headers", ["x", "ietf"])
def test_a_stated_limit_is_never_crossed(june: June, tmp_path: Path, headers: str) -> None:
    """June states 20 per second in its headers (X-RateLimit-* or the IETF fields) and
    --rate is 100: not one 429, and the summary names the limit."""
    june.configure(rate_limit=20, rate_limit_headers=headers)
    done = bulk_delete("submit", str(write_ids(tmp_path / "ids.csv", ids(40))),
                       "--api-url", june.url, "--rate", "100", env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    stats = june.stats()
    assert stats["rate_limited"] == 0
    assert stats["unique"]["user"] == 40
    assert "June states a limit of 20 per 1 s" in done.stdout

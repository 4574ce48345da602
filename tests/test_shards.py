"""Sharding: N processes split one list exactly, each with its own checkpoint and rate share."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulk_delete import history, job
from bulk_delete.config import resolve
from bulk_delete.errors import ExitCode, UsageError
from bulk_delete.shards import from_job_index, in_shard, parse
from bulk_delete.verification import verify
from tests.fakes import Harness, June, TimedJune, bulk_delete, cli_env, write_ids


@given(ids=st.lists(st.text(min_size=1, max_size=12), max_size=200, unique=True),
       count=st.integers(min_value=1, max_value=7))
def test_shards_partition_the_ids_exactly(ids: list[str], count: int) -> None:
    """Every ID lands in exactly one of the N shards."""
    series = pl.Series("id", ids, dtype=pl.String)
    masks = [in_shard(series, k, count) for k in range(1, count + 1)]
    hits = pl.DataFrame(masks).sum_horizontal() if ids else pl.Series(dtype=pl.Int64)
    assert hits.to_list() == [1] * len(ids)


def test_shard_of_an_id_is_stable() -> None:
    """The shard of an ID is fixed (crc32), so daily runs agree with yesterday's checkpoints."""
    series = pl.Series("id", ["00123", "usr_42", "ünï"], dtype=pl.String)
    shard_of = [[k for k in range(1, 5) if in_shard(series, k, 4)[i]] for i in range(3)]
    assert shard_of == [[3], [4], [3]]  # pinned: a change here would move IDs between shards


def test_shards_are_balanced() -> None:
    """10,000 IDs spread over 4 shards within a few percent of a quarter each."""
    series = pl.Series("id", [f"usr_{i}" for i in range(10_000)], dtype=pl.String)
    sizes = [int(in_shard(series, k, 4).sum()) for k in range(1, 5)]
    assert sum(sizes) == 10_000
    assert all(2300 < size < 2700 for size in sizes)


@pytest.mark.parametrize(("text", "expected"), [("1/4", (1, 4)), (" 4 / 4 ", (4, 4))])
def test_parse(text: str, expected: tuple[int, int]) -> None:
    """--shard K/N is 1-based."""
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "-1/3"])
def test_parse_refuses_nonsense(text: str) -> None:
    """A shard outside 1..N or not K/N is a usage error."""
    with pytest.raises(UsageError):
        parse(text)


def test_job_completion_index() -> None:
    """--shards N takes K from Kubernetes' 0-based JOB_COMPLETION_INDEX."""
    assert from_job_index(4, "0") == (1, 4)
    assert from_job_index(4, "3") == (4, 4)
    for bad in (None, "4", "x"):
        with pytest.raises(UsageError, match="JOB_COMPLETION_INDEX"):
            from_job_index(4, bad)


def test_settings_give_each_shard_a_directory_and_a_rate_share() -> None:
    """Shard K of N works in <checkpoint-dir>/shard-K-of-N at --rate / N."""
    settings = resolve({"shard": "2/4", "rate": 20.0, "checkpoint_dir": Path("/data")}, env={})
    assert settings.checkpoint_dir == Path("/data/shard-2-of-4")
    assert settings.rate == 5.0
    indexed = resolve({"shards": 3}, env={"JOB_COMPLETION_INDEX": "2"})
    assert indexed.shard == (3, 3)
    with pytest.raises(UsageError, match="not both"):
        resolve({"shard": "1/2", "shards": 2}, env={})


def test_shards_together_send_every_id_once(june: June, tmp_path: Path) -> None:
    """Running shards 1..3 over the same file sends each ID exactly once in all."""
    ids = [f"u{i}" for i in range(90)]
    source = write_ids(tmp_path / "ids.csv", ids)
    env = cli_env(tmp_path)
    for k in (1, 2, 3):
        done = bulk_delete("submit", str(source), "--shard", f"{k}/3", "--api-url", june.url,
                           "--rate", "900", env=env)
        assert done.returncode == 0, done.stderr
        assert f"shard {k}/3:" in done.stdout
        assert (tmp_path / "state" / f"shard-{k}-of-3" / "journal.tsv").exists()
    stats = june.stats()
    assert (stats["unique"]["user"], stats["duplicates"]["user"]) == (90, 0)


async def test_one_reconcile_over_shards_is_the_union_of_theirs(tmp_path: Path) -> None:
    """Reconciling the shards' parent directory reads June's listing once and writes one
    report: the union of the shards' own reports, row for row; each shard keeps its history."""
    june = TimedJune()
    run = Harness(tmp_path, june)
    ids = [f"u{i:02d}" for i in range(30)]
    for k in (1, 2, 3):
        code = await run.time.drive(job.submit(run.settings(shard=f"{k}/3"), run.source(ids),
                                               run.view, skip_existing=False,
                                               connect=run.connect))
        assert code is ExitCode.OK
    june.state, june.updated_at = "started", "2026-06-10T10:00:00Z"
    june.held.remove("u07")
    state = tmp_path / "state"
    reads = []
    for k in (1, 2, 3):
        before = len(june.pages)
        await run.time.drive(job.reconcile(run.settings(shard=f"{k}/3"), run.view,
                                           checking=job.Checking(), connect=run.connect))
        reads.append(len(june.pages) - before)
    union = pl.concat([pl.read_csv(state / f"shard-{k}-of-3" / "report.csv", infer_schema=False)
                       for k in (1, 2, 3)]).sort("id", nulls_last=True)
    before = len(june.pages)
    code = await run.reconcile()
    assert code is ExitCode.ATTENTION  # u07 is missing
    one = pl.read_csv(state / "report.csv", infer_schema=False)
    assert one.equals(union.select(one.columns))
    # One read for all: no more pages than the shard that had to look hardest (for u07).
    assert len(june.pages) - before <= max(reads) < sum(reads)
    assert {"summary.json", "report.html", "digests.jsonl"} <= {p.name for p in state.iterdir()}
    assert [len(history.files(state / f"shard-{k}-of-3")) for k in (1, 2, 3)] == [1, 1, 1]
    assert all(f.status in ("ok", "grown") for each in verify(state) for f in each.findings)

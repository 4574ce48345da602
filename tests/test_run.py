"""reconcile and run end to end against the sandbox: report rows, exit codes, skip-existing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl

from bulk_delete import __version__
from tests.fakes import June, bulk_delete, cli_env, write_ids


def report_of(tmp_path: Path) -> pl.DataFrame:
    return pl.read_csv(tmp_path / "state" / "report.csv", schema_overrides={"id": pl.String})


def submit(june: June, tmp_path: Path, ids: list[str], *, code: int = 0) -> dict[str, str]:
    """Submit ``ids``, exiting ``code`` (4 when June rejects one); the job's environment."""
    env = cli_env(tmp_path)
    source = write_ids(tmp_path / "ids.csv", ids)
    done = bulk_delete("submit", str(source), "--api-url", june.url, "--rate", "500", env=env)
    assert done.returncode == code, done.stderr
    return env


def test_all_finished_is_exit_0(june: June, tmp_path: Path) -> None:
    """When June has finished every request, reconcile exits 0 and the report says so per ID."""
    june.configure(start_after=0, finish_after=0)
    env = submit(june, tmp_path, ["00123", "1e5", "u3"])
    done = bulk_delete("reconcile", "--api-url", june.url, env=env)
    assert done.returncode == 0, done.stderr
    report = report_of(tmp_path)
    assert sorted(report["id"]) == ["00123", "1e5", "u3"]
    assert set(report["server_state"]) == {"finished"}
    assert set(report["outcome"]) == {"accepted"}
    summary = json.loads((tmp_path / "state" / "summary.json").read_text())
    assert summary["server_state"] == {"finished": 3}
    about = summary["about"]  # what the summary is about, readable without the tool
    assert about["tool"] == f"bulk-delete {__version__}"
    assert (about["kind"], about["api_host"], about["report"]) == ("user", june.url, "report.csv")
    assert list(about["columns"]) == report.columns


def test_still_working_is_exit_3(june: June, tmp_path: Path) -> None:
    """Requests June has not finished yet mean 'in progress': exit 3, or 0 with --pending-ok."""
    june.configure(start_after=0, finish_after=3600)
    env = submit(june, tmp_path, ["a", "b"])
    done = bulk_delete("reconcile", "--api-url", june.url, env=env)
    assert done.returncode == 3, done.stderr
    assert set(report_of(tmp_path)["server_state"]) == {"started"}
    scheduled = bulk_delete("reconcile", "--pending-ok", "--api-url", june.url, env=env)
    assert scheduled.returncode == 0, scheduled.stderr


def test_rejected_and_missing_are_exit_4(june: June, tmp_path: Path) -> None:
    """A rejected ID, or an accepted one June no longer lists before it finished, needs
    attention: exit 4."""
    june.configure(reject_prefix="bad", start_after=0, finish_after=3600)
    env = submit(june, tmp_path, ["a", "bad1"], code=4)
    done = bulk_delete("reconcile", "--api-url", june.url, env=env)
    assert done.returncode == 4
    rows = dict(report_of(tmp_path).select("id", "outcome").rows())
    assert rows == {"a": "accepted", "bad1": "rejected"}
    june.server.state.reset()  # June lost its records
    gone = bulk_delete("reconcile", "--api-url", june.url, env=env)
    assert gone.returncode == 4
    assert dict(report_of(tmp_path).select("id", "server_state").rows())["a"] == "missing"


def test_overdue_after_the_deadline(june: June, tmp_path: Path) -> None:
    """Accepted, not finished, past --deadline-hours: overdue, exit 4."""
    june.configure(start_after=3600, finish_after=7200)
    env = submit(june, tmp_path, ["a"])
    done = bulk_delete("reconcile", "--deadline-hours", "0.000001", "--api-url", june.url,
                       env=env)
    assert done.returncode == 4
    assert report_of(tmp_path)["overdue"].to_list() == [True]


def test_reconcile_has_no_side_effects_at_june(june: June, tmp_path: Path) -> None:
    """Reconcile only reads: repeated, it sends no deletion and writes the same rows; once
    every ID is known finished, the next reconcile needs no page of the listing at all."""
    june.configure(start_after=0, finish_after=0)
    env = submit(june, tmp_path, [f"u{i}" for i in range(250)])
    june.configure(page_size=20)
    posts = june.stats()["endpoints"]["user_deletion_request"]
    first = bulk_delete("reconcile", "--api-url", june.url, env=env)
    rows = report_of(tmp_path).drop("server_updated_at")
    pages = june.stats()["endpoints"]["user_deletion_requests"]
    second = bulk_delete("reconcile", "--api-url", june.url, env=env)
    assert first.returncode == second.returncode == 0
    assert report_of(tmp_path).drop("server_updated_at").equals(rows)
    stats = june.stats()
    assert stats["endpoints"]["user_deletion_request"] == posts
    assert stats["endpoints"]["user_deletion_requests"] == pages >= 250 // 20


def test_report_format_by_suffix(june: June, tmp_path: Path) -> None:
    """--report picks Parquet, JSON or JSON Lines by suffix, with summary.json beside it."""
    env = submit(june, tmp_path, ["00123"])
    for name, read in (("r.parquet", pl.read_parquet), ("r.json", pl.read_json),
                       ("r.jsonl", pl.read_ndjson)):
        path = tmp_path / "out" / name
        bulk_delete("reconcile", "--report", str(path), "--api-url", june.url, env=env)
        assert read(path)["id"].to_list() == ["00123"]
        assert (path.parent / "summary.json").exists()


def test_run_submits_then_reconciles(june: June, tmp_path: Path) -> None:
    """run is submit followed by reconcile, with pending IDs from the input in the report."""
    june.configure(start_after=0, finish_after=0)
    source = write_ids(tmp_path / "ids.csv", ["a", "b", "", "a"])
    done = bulk_delete("run", str(source), "--api-url", june.url, "--rate", "500",
                       env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    report = report_of(tmp_path)
    assert report.select("outcome").to_series().to_list() == ["accepted", "accepted", "invalid"]
    assert "outcomes:    accepted 2, invalid 1" in done.stdout


def test_run_stops_before_reconcile_when_the_key_is_wrong(june: June, tmp_path: Path) -> None:
    """A bad key ends run with exit 5 after one listing read per form of the key: no
    deletion, no report."""
    source = write_ids(tmp_path / "ids.csv", ["a"])
    env = {**cli_env(tmp_path), "JUNE_API_KEY": "wrong"}
    done = bulk_delete("run", str(source), "--api-url", june.url, env=env)
    assert done.returncode == 5
    assert june.stats()["endpoints"]["user_deletion_requests"] == 2
    assert june.posts() == 0
    assert not (tmp_path / "state" / "report.csv").exists()


def test_skip_existing_after_losing_the_checkpoint(june: June, tmp_path: Path) -> None:
    """With the checkpoint deleted, --skip-existing reads June's listing and sends zero POSTs."""
    june.configure(start_after=0, finish_after=0)
    ids = [f"u{i}" for i in range(120)]
    env = submit(june, tmp_path, ids)
    shutil.rmtree(tmp_path / "state")
    posts = june.stats()["endpoints"]["user_deletion_request"]
    source = write_ids(tmp_path / "ids.csv", [*ids, "new1"])
    again = bulk_delete("run", str(source), "--skip-existing", "--api-url", june.url,
                        "--rate", "500", env=env)
    assert again.returncode == 0, again.stderr
    assert "June already holds 120 of them" in again.stdout
    assert june.stats()["endpoints"]["user_deletion_request"] == posts + 1
    report = report_of(tmp_path)
    assert (report["outcome"] == "already_requested").sum() == 120
    assert report.filter(pl.col("id") == "new1")["outcome"].to_list() == ["accepted"]


def test_reconcile_takes_kind_and_api_from_the_checkpoint(june: June, tmp_path: Path) -> None:
    """A group job is reconciled without repeating --kind; a wrong --kind is refused."""
    june.configure(start_after=0, finish_after=0)
    env = cli_env(tmp_path, JUNE_API_URL=june.url)
    source = write_ids(tmp_path / "g.csv", ["g1", "g2"], column="group_id")
    assert bulk_delete("submit", str(source), "--kind", "group", env=env).returncode == 0
    done = bulk_delete("reconcile", env=env)
    assert done.returncode == 0, done.stderr
    assert set(report_of(tmp_path)["kind"]) == {"group"}
    wrong = bulk_delete("reconcile", "--kind", "user", env=env)
    assert wrong.returncode == 2
    assert "kind 'group', not 'user'" in wrong.stderr

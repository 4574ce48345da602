"""The CLI against Junes that page, shape and filter their listings in other ways, no flag
beyond the defaults: the report's server_state is right for every ID in each."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from bulk_delete.sandbox import SandboxConfig
from tests.fakes import KEY, June, bulk_delete, cli_env, write_ids

#: IDs June has finished, started and only been asked for, in that order of age.
FINISHED = [f"f{i:02d}" for i in range(20)]
STARTED = [f"s{i:02d}" for i in range(8)]
REQUESTED = [f"r{i:02d}" for i in range(9)]


@pytest.fixture(params=[
    pytest.param({}, id="defaults"),
    pytest.param({"paging": "cursor"}, id="cursor"),
    pytest.param({"paging": "next"}, id="next"),
    pytest.param({"paging": "link"}, id="link"),
    pytest.param({"shape": "jsonapi"}, id="jsonapi"),
    pytest.param({"shape": "jsonapi", "paging": "cursor"}, id="jsonapi+cursor"),
    pytest.param({"unfiltered_states": ("requested", "started")}, id="open-only"),
    pytest.param({"unfiltered_states": ("requested", "started"), "shape": "jsonapi",
                  "paging": "link"}, id="open-only+jsonapi+link"),
])
def variant(request: pytest.FixtureRequest) -> Iterator[June]:
    """A sandbox playing one variant, already holding finished and started requests."""
    knobs: dict[str, Any] = request.param
    june = June(SandboxConfig(api_key=KEY, page_size=7, start_after=60, finish_after=3600,
                              **knobs))
    now = time.time()
    for subject in FINISHED:
        june.server.state.submit("user", subject, now - 7200)
    for subject in STARTED:
        june.server.state.submit("user", subject, now - 600)
    yield june
    june.close()


def test_every_id_gets_its_state_from_any_variant(variant: June, tmp_path: Path) -> None:
    """run with the defaults: finished, started and requested each reported as June holds
    them, whether its listing pages by number, cursor, next link or Link header, flat or
    JSON:API, or lists only open requests unless asked for a state."""
    ids = [*FINISHED, *STARTED, *REQUESTED]
    source = write_ids(tmp_path / "ids.csv", ids)
    done = bulk_delete("run", str(source), "--api-url", variant.url, "--rate", "500",
                       env=cli_env(tmp_path))
    assert done.returncode == 3, done.stderr  # June is still working on some
    report = pl.read_csv(tmp_path / "state" / "report.csv")
    states = dict(report.select("id", "server_state").rows())
    assert states == {**dict.fromkeys(FINISHED, "finished"), **dict.fromkeys(STARTED, "started"),
                      **dict.fromkeys(REQUESTED, "requested")}


def test_full_reads_what_an_incremental_reconcile_skips(june: June, tmp_path: Path) -> None:
    """reconcile stops once the IDs it looks for are found; --full reads every page."""
    june.configure(page_size=5, start_after=0, finish_after=0)
    now = time.time()
    for i in range(100):
        june.server.state.submit("user", f"old{i:03d}", now - 7200 + i)
    env = cli_env(tmp_path)
    source = write_ids(tmp_path / "ids.csv", ["new1", "new2"])
    assert bulk_delete("submit", str(source), "--api-url", june.url, env=env).returncode == 0

    def pages(*flags: str) -> int:
        before = june.stats()["endpoints"]["user_deletion_requests"]
        done = bulk_delete("reconcile", "--api-url", june.url, *flags, env=env)
        assert done.returncode == 0, done.stderr
        return int(june.stats()["endpoints"]["user_deletion_requests"] - before)

    assert pages() == 1  # both new requests are on page 1, newest first
    assert pages("--full") >= 102 // 5


def test_a_june_mixing_the_variants_needs_no_flag(tmp_path: Path) -> None:
    """JSON:API records paged by cursor, only open requests unless asked, 409 for a repeat and
    standard Basic auth only, all at once: run with the defaults finds the key's form, journals
    the repeats already_requested (never rejected) and reports each ID's state."""
    june = June(SandboxConfig(api_key=KEY, page_size=7, start_after=60, finish_after=3600,
                              shape="jsonapi", paging="cursor", duplicate_status=409,
                              auth_style="basic", unfiltered_states=("requested", "started")))
    try:
        now = time.time()
        for subject in FINISHED:  # sent by an earlier job: June answers them 409 now
            june.server.state.submit("user", subject, now - 7200)
        source = write_ids(tmp_path / "ids.csv", [*FINISHED, *REQUESTED])
        done = bulk_delete("run", str(source), "--api-url", june.url, "--rate", "500",
                           env=cli_env(tmp_path))
        stats = june.stats()
    finally:
        june.close()
    assert done.returncode == 3, done.stderr  # nothing rejected; June still working on some
    assert "accepted 9, already requested 20, rejected 0, failed 0 of 29" in done.stdout
    assert stats["unauthorized"] == 1  # the documented form, refused once at the preflight
    assert stats["conflicts"]["user"] == len(FINISHED)
    report = pl.read_csv(tmp_path / "state" / "report.csv")
    rows = {row[0]: row[1:] for row in report.select(
        "id", "outcome", "http_status", "server_state", "found_in").rows()}
    assert rows == {**dict.fromkeys(FINISHED, ("already_requested", 409, "finished",
                                               "state=finished")),
                    **dict.fromkeys(REQUESTED, ("accepted", 200, "requested", "listing"))}

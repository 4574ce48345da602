"""Each command in-process, against a June held in memory and on virtual time.

These read as the behaviour a user relies on, without a subprocess or a socket: the plan
before anything is sent, one request per ID, the journal as the record, and the exit code.
The same behaviour is proven end to end against the sandbox in test_submit.py and test_run.py.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from bulk_delete import job
from bulk_delete.errors import AuthError, ExitCode
from bulk_delete.journal import read
from bulk_delete.ratelimit import Quota
from tests.fakes import FakeJune, Harness

IDS = [f"u{i:02d}" for i in range(12)]


async def test_submit_shows_the_plan_then_sends_each_id_once(tmp_path: Path) -> None:
    """Duplicates and blanks are dropped, each ID is POSTed once and journalled accepted."""
    run = Harness(tmp_path, FakeJune())
    code = await run.submit([*IDS, "u01", "  u02  ", ""])
    assert code is ExitCode.OK
    assert sorted(run.june.posts) == IDS
    assert sorted(run.journal()) == [(i, "accepted") for i in IDS]
    text = run.out.getvalue()
    assert text.index("to send") < text.index("sent:")  # the plan came before the sending
    assert "accepted 12, already requested 0, rejected 0, failed 0 of 12" in text


async def test_submit_keeps_to_the_rate(tmp_path: Path) -> None:
    """Twelve IDs at 4 per second take about three seconds of (virtual) time, not less."""
    run = Harness(tmp_path, FakeJune(), rate=4)
    begun = run.time.now
    await run.submit(IDS)
    assert run.time.now - begun >= (len(IDS) - 1) / 4  # one preflight read counts too


async def test_a_rerun_sends_nothing_and_new_ids_only_their_own(tmp_path: Path) -> None:
    """The checkpoint makes a rerun send nothing; a longer list sends only what is new."""
    run = Harness(tmp_path, FakeJune())
    await run.submit(IDS[:6])
    assert await run.submit(IDS[:6]) is ExitCode.OK
    assert "nothing to send" in run.out.getvalue()
    await run.submit(IDS)
    assert sorted(run.june.posts) == IDS


async def test_a_rejection_is_final_and_exits_4(tmp_path: Path) -> None:
    """A 422 is journalled rejected after one request; the job exits 4; a rerun skips it."""
    run = Harness(tmp_path, FakeJune(answers={"u03": [422]}))
    assert await run.submit(IDS) is ExitCode.ATTENTION
    assert ("u03", "rejected") in run.journal()
    assert await run.submit(IDS) is ExitCode.OK
    assert run.june.posts.count("u03") == 1


async def test_transient_failures_are_retried_to_acceptance(tmp_path: Path) -> None:
    """503, then no answer, then 200: one ID, three requests, accepted."""
    run = Harness(tmp_path, FakeJune(answers={"u05": [503, 502, 200]}))
    assert await run.submit(IDS) is ExitCode.OK
    assert run.june.posts.count("u05") == 3
    assert ("u05", "accepted") in run.journal()


async def test_a_wrong_key_stops_before_any_deletion(tmp_path: Path) -> None:
    """The preflight listing read gets 401: AuthError (exit 5), no POST, nothing journalled."""
    run = Harness(tmp_path, FakeJune(listing_status=401))
    with pytest.raises(AuthError) as caught:
        await run.submit(IDS)
    assert caught.value.exit_code is ExitCode.AUTH
    assert run.june.posts == []
    assert run.journal() == []


async def test_skip_existing_journals_what_june_holds_and_sends_the_rest(tmp_path: Path) -> None:
    """IDs June already lists are journalled already_requested and never POSTed."""
    run = Harness(tmp_path, FakeJune(listed=IDS[:5]))
    assert await run.submit(IDS, skip_existing=True) is ExitCode.OK
    assert sorted(run.june.posts) == IDS[5:]
    assert sorted(o for o in run.journal() if o[1] == "already_requested") == [
        (i, "already_requested") for i in IDS[:5]]
    assert "June already holds 5 of them" in run.out.getvalue()


@pytest.mark.parametrize(("state", "code"), [("requested", ExitCode.IN_PROGRESS),
                                             ("finished", ExitCode.OK)])
async def test_reconcile_reports_what_june_lists(tmp_path: Path, state: str,
                                                 code: ExitCode) -> None:
    """Every sent ID gets June's state in the report: 3 while June works, 0 when finished."""
    june = FakeJune(state=state)
    run = Harness(tmp_path, june)
    await run.submit(IDS)
    assert await run.reconcile() is code
    report = pl.read_csv(tmp_path / "state" / "report.csv")
    assert set(report["server_state"]) == {state}
    assert sorted(report["id"]) == IDS


async def test_reconcile_calls_an_unlisted_id_missing_and_exits_4(tmp_path: Path) -> None:
    """A sent ID June does not list is missing: a person must look (exit 4)."""
    june = FakeJune(state="finished")
    run = Harness(tmp_path, june)
    await run.submit(IDS)
    june.held.remove("u07")
    assert await run.reconcile() is ExitCode.ATTENTION
    report = pl.read_csv(tmp_path / "state" / "report.csv")
    assert report.filter(pl.col("server_state") == "missing")["id"].to_list() == ["u07"]


async def test_status_and_dry_run_send_nothing(tmp_path: Path) -> None:
    """status counts the journal offline; a dry run shows the first requests and sends none."""
    run = Harness(tmp_path, FakeJune())
    await run.submit(IDS[:4])
    found = job.status(run.settings())
    assert (found.ids, found.outcomes) == (4, {"accepted": 4})
    assert job.dry_run(run.settings(), run.source(IDS), run.view) is ExitCode.OK
    assert len(run.june.posts) == 4
    assert 'would POST https://api.june.so/api/platform/data_management/user_deletion_request ' \
           '{"user_id": "u04"}' in run.out.getvalue()


async def test_a_409_for_a_repeat_is_journalled_already_requested(tmp_path: Path) -> None:
    """IDs June already holds answer 409: journalled already_requested with June's status and
    message, sent once, counted in the summary, and the job exits 0."""
    run = Harness(tmp_path, FakeJune(duplicate_status=409, listed=IDS[:3]))
    assert await run.submit(IDS) is ExitCode.OK
    records = read(tmp_path / "state" / "journal.tsv")
    repeats = records.filter(pl.col("outcome") == "already_requested")
    assert sorted(repeats.select("id", "http_status", "error").rows()) == [
        (i, "409", f"a deletion request already exists for {i}") for i in IDS[:3]]
    assert sorted(run.june.posts) == IDS
    assert "accepted 9, already requested 3, rejected 0, failed 0 of 12" in run.out.getvalue()
    assert await run.submit(IDS) is ExitCode.OK
    assert sorted(run.june.posts) == IDS  # final: a rerun sends none of them again


async def test_a_repeat_after_a_failed_attempt_is_evidence(tmp_path: Path) -> None:
    """A 502, then 409 on the retry (the first request landed after all): already_requested."""
    run = Harness(tmp_path, FakeJune(answers={"u04": [502, 409]}))
    assert await run.submit(IDS) is ExitCode.OK
    assert ("u04", "already_requested") in run.journal()
    assert run.june.posts.count("u04") == 2


async def test_auto_finds_the_form_june_accepts_and_records_it(tmp_path: Path) -> None:
    """Against a June that takes standard Basic only, the documented form is refused once, at
    the preflight; every deletion goes in the standard form; the manifest records it."""
    run = Harness(tmp_path, FakeJune(accepts=("basic",)))
    assert await run.submit(IDS) is ExitCode.OK
    assert run.june.forms[:2] == ["raw", "basic"]
    assert set(run.june.forms[2:]) == {"basic"}
    assert sorted(run.june.posts) == IDS
    assert run.manifest().auth_style == "basic"


async def test_auto_with_both_forms_refused_sends_nothing(tmp_path: Path) -> None:
    """Both forms refused: exit 5 with a message naming both, no deletion, nothing journalled."""
    run = Harness(tmp_path, FakeJune(accepts=()))
    with pytest.raises(AuthError, match=r"in both forms it may take .*'Basic <key>'.*"
                                        r"'Basic base64\(key:\)'") as caught:
        await run.submit(IDS)
    assert caught.value.exit_code is ExitCode.AUTH
    assert (run.june.forms, run.june.posts, run.journal()) == (["raw", "basic"], [], [])
    assert run.manifest().auth_style is None


async def test_a_forced_form_is_not_probed(tmp_path: Path) -> None:
    """--auth-style raw against a basic-only June: one refused read, a hint to try basic."""
    run = Harness(tmp_path, FakeJune(accepts=("basic",)))
    with pytest.raises(AuthError, match="try --auth-style basic"):
        await run.submit(IDS, auth_style="raw")
    assert (run.june.forms, run.june.posts) == (["raw"], [])


async def test_skip_existing_and_reconcile_use_the_form_found(tmp_path: Path) -> None:
    """--skip-existing reads the listing in the form the preflight found; reconcile takes it
    from the manifest and never tries the refused one again."""
    run = Harness(tmp_path, FakeJune(accepts=("basic",), listed=IDS[:4]))
    assert await run.submit(IDS, skip_existing=True) is ExitCode.OK
    assert sorted(run.june.posts) == IDS[4:]
    before = len(run.june.forms)
    assert await run.reconcile() is ExitCode.IN_PROGRESS
    assert len(run.june.forms) > before
    assert run.june.forms.count("raw") == 1  # the preflight's first try, only


async def test_reconcile_of_an_older_checkpoint_finds_the_form(tmp_path: Path) -> None:
    """A manifest written before the form was recorded: reconcile's read finds and keeps it."""
    run = Harness(tmp_path, FakeJune(accepts=("raw", "basic")))
    await run.submit(IDS)
    path = tmp_path / "state" / "manifest.json"
    path.write_text(path.read_text().replace('"auth_style": "raw"', '"auth_style": null'))
    assert run.manifest().auth_style is None
    run.june.accepts = ("basic",)
    assert await run.reconcile() is ExitCode.IN_PROGRESS
    assert run.manifest().auth_style == "basic"
    report = pl.read_csv(tmp_path / "state" / "report.csv")
    assert set(report["server_state"]) == {"requested"}


async def test_the_limit_june_states_paces_the_job_and_is_shown(tmp_path: Path) -> None:
    """June states 100 per 60 s: the job keeps under 100/60 per second from its first
    deletion, though --rate is 10, and the summary names the limit."""
    quota = Quota(limit=100, window=60, remaining=90, reset=40)
    run = Harness(tmp_path, FakeJune(quota=quota), rate=10)
    begun = run.time.now
    assert await run.submit(IDS) is ExitCode.OK
    assert run.time.now - begun >= len(IDS) * 60 / 100
    assert "June states a limit of 100 per 60 s" in run.out.getvalue()


async def test_a_key_refused_after_the_preflight_points_at_the_key(tmp_path: Path) -> None:
    """June accepted the key at the preflight and refuses the deletions: exit 5, nothing
    marked failed, and under auto the message sends the user to the key, not to a form."""
    june = FakeJune()
    run = Harness(tmp_path, june)
    june.answers = {i: [401] for i in IDS}
    with pytest.raises(AuthError, match="Check the key; if it is right, try each form by hand"):
        await run.submit(IDS)
    assert len(june.posts) <= 4  # the requests already in flight, one per worker at most
    assert run.journal() == []

"""retain: finished IDs pseudonymized in every file that names them, then erased, with the
counts, outcomes, dates and figures kept, verify passing after it and failing on any edit."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import polars as pl
import pytest

from bulk_delete import evidence, job, offline, stories
from bulk_delete.answers import Answer
from bulk_delete.digests import NAME, read_chain, sha256
from bulk_delete.errors import ExitCode, UsageError
from bulk_delete.pseudonyms import PseudonymKey, key_from, load
from bulk_delete.retain import Policy
from bulk_delete.stories import story_text
from bulk_delete.verification import failures, verify
from tests.fakes import FakeJune, Harness

#: Distinctive IDs: a plain ID found in a file's bytes cannot be a timestamp's digits.
DONE = [f"person-{i:02d}@example.org" for i in range(6)]
OPEN = "still-open@example.org"
REFUSED = "no-such-user@example.org"
KEY = key_from(b"0123456789abcdef0123456789abcdef")
FORMATS = (".csv", ".parquet", ".json", ".jsonl")


class StatesJune(FakeJune):
    """A June that lists each subject it holds in the state ``states`` gives it (``state``
    else), with a request id of its own; 404 "refused <ID>" for REFUSED, and 409 "a deletion
    request already exists for <ID>" for DONE[5], which it held before the job began."""

    def __init__(self) -> None:
        super().__init__(state="finished", answers={REFUSED: [404]}, listed=[DONE[5]],
                         duplicate_status=409)
        self.states = {OPEN: "started"}

    async def fetch(self, url: str) -> Answer:
        await super().fetch(url)  # counts the page, checks the key's form
        query = dict(parse_qsl(urlsplit(url).query))
        page = int(query.get("page", "1"))
        records = [{"user_id": s, "state": self.states.get(s, self.state), "id": f"req-{n}"}
                   for n, s in reversed(list(enumerate(self.held)))]
        if "state" in query:
            records = [r for r in records if r["state"] == query["state"]]
        chunk = records[(page - 1) * self.page_size:page * self.page_size]
        return Answer(200, body=json.dumps({"data": chunk}).encode())


async def finished_job(tmp_path: Path, formats: tuple[str, ...] = (".csv",)) -> Harness:
    """Six IDs finished, one still open, one refused; a reconcile writing each report format."""
    run = Harness(tmp_path, StatesJune())
    await run.submit([*DONE, OPEN, REFUSED])
    for suffix in formats:
        await reconcile(run, tmp_path / "state" / f"report{suffix}")
    return run


async def reconcile(run: Harness, report: Path | None = None,
                    policy: Policy | None = None) -> ExitCode:
    checking = job.Checking(report=report, retention=policy or Policy())
    return await run.time.drive(job.reconcile(run.settings(), run.view, checking=checking,
                                              connect=run.connect))


async def retain(run: Harness, **policy: object) -> ExitCode:
    return await offline.retain(run.settings(), run.view, Policy(**policy))  # type: ignore[arg-type]


def evidence_files(state: Path) -> dict[str, bytes]:
    """Every file of the checkpoint, by its path in it, with its bytes."""
    return {str(p.relative_to(state)): p.read_bytes() for p in sorted(state.rglob("*"))
            if p.is_file() and p.name != "lock"}


def naming(state: Path, subject: str) -> list[str]:
    """The files that name ``subject``: in their bytes, or in any text cell of a Parquet file
    (compression could hide it from the bytes)."""
    found = []
    for name, data in evidence_files(state).items():
        cells = ""
        if name.endswith(".parquet"):
            frame = pl.read_parquet(state / name)
            cells = " ".join(str(v) for c in frame.columns for v in frame[c].to_list())
        if subject.encode() in data or subject in cells:
            found.append(name)
    return found


def status(state: Path) -> int:
    return failures(verify(state))


async def test_every_file_that_names_a_finished_id_names_its_pseudonym(tmp_path: Path) -> None:
    """Journal, plan, history, the report in each format, summary and page: no finished ID
    left in any byte; the open and the refused ID stay plain; the file and line stay."""
    run = await finished_job(tmp_path, FORMATS)
    state = tmp_path / "state"
    assert {"journal.tsv", "history/000001.parquet", *(f"report{s}" for s in FORMATS)} <= set(
        naming(state, DONE[0]))
    assert await retain(run, pseudonymize_after=0, key=KEY) is ExitCode.OK
    for subject in DONE:
        assert naming(state, subject) == []
    assert "journal.tsv" in naming(state, OPEN) and "report.csv" in naming(state, REFUSED)
    pseudonym = KEY.one("user", DONE[2])
    assert {"journal.tsv", "history/000001.parquet", *(f"report{s}" for s in FORMATS)} <= set(
        naming(state, pseudonym))
    plan = pl.read_parquet(next((state / "plans").glob("*.parquet")))
    assert plan.filter(pl.col("id") == pseudonym)["line"].to_list() == [4]  # the line stays
    assert read_manifest_key(state) == KEY.fingerprint



async def test_what_a_crash_left_names_no_finished_id_after_retain(tmp_path: Path) -> None:
    """A reconcile killed mid-way leaves its workspace (the journal copied, June's records),
    a write cut short its temporary file: retain leaves neither naming a finished ID."""
    run = await finished_job(tmp_path)
    state = tmp_path / "state"
    evidence.Workspace(state, [state])  # never closed: as a kill -9 leaves it
    (state / "history" / ".000002.parquet.tmp").write_bytes(
        (state / "history" / "000001.parquet").read_bytes())
    assert ".reconcile-work/journal-0.parquet" in naming(state, DONE[0])
    assert await retain(run, pseudonymize_after=0, key=KEY) is ExitCode.OK
    for subject in DONE:
        assert naming(state, subject) == []
    assert status(state) == 0


def read_manifest_key(state: Path) -> str | None:
    return json.loads((state / "manifest.json").read_text()).get("pseudonym_key")


async def test_counts_outcomes_dates_and_figures_stay(tmp_path: Path) -> None:
    """Every report row keeps every column but its ID; summary counts and figures are equal."""
    run = await finished_job(tmp_path)
    state = tmp_path / "state"
    before = pl.read_csv(state / "report.csv", infer_schema=False)
    summary = json.loads((state / "summary.json").read_text())
    await retain(run, pseudonymize_after=0, key=KEY)
    after = pl.read_csv(state / "report.csv", infer_schema=False)
    same = [c for c in before.columns if c not in ("id", "error")]
    assert after.select(same).sort(same).equals(before.select(same).sort(same))
    assert after.filter(pl.col("id").str.starts_with("pseudonym:")).height == len(DONE)
    pseudonym = KEY.one("user", DONE[5])  # June's 409 message named it: now its pseudonym
    assert after.filter(pl.col("id") == pseudonym)["error"].to_list() == [
        f"a deletion request already exists for {pseudonym}"]
    now = json.loads((state / "summary.json").read_text())
    for part in ("outcome", "server_state", "attention", "acknowledged", "figures"):
        assert now[part] == summary[part], part
    assert now["retention"]["pseudonymized_rows"] == len(DONE)


async def test_verify_passes_after_retain_and_fails_on_any_other_edit(tmp_path: Path) -> None:
    """0 before, 0 after (the rewrite is on the record, with old and new digests), 4 after
    one byte of the rewritten journal changes."""
    run = await finished_job(tmp_path)
    state = tmp_path / "state"
    assert status(state) == 0
    old = evidence_files(state)
    await retain(run, pseudonymize_after=0, key=KEY)
    assert status(state) == 0
    [event] = [link.record for link in read_chain(state / NAME)[0]
               if link.record and link.record.get("mode") == "rewrite"]
    entry = next(f for f in event["files"] if f["path"] == "report.csv")
    assert entry["old_size"] == len(old["report.csv"]) and entry["sha256"] != entry["old_sha256"]
    copy = tmp_path / "for-the-auditor.csv"  # handed on after retain: still on the record
    copy.write_bytes((state / "report.csv").read_bytes())
    assert [f.status for each in verify(state, report=copy) for f in each.findings
            if f.path == str(copy)] == ["ok"]
    journal = state / "journal.tsv"
    journal.write_bytes(journal.read_bytes().replace(b"\taccepted\t", b"\trejected\t", 1))
    assert status(state) == 1
    assert job.verify(run.settings(), run.view, report=None, head=None) is ExitCode.ATTENTION


async def test_a_rewrite_record_must_start_from_the_digest_recorded_before(
        tmp_path: Path) -> None:
    """A rewrite record whose old digest of the report is not the one recorded before it
    (a report edited, then laundered by a forged event) fails verify, chain intact."""
    run = await finished_job(tmp_path)
    state = tmp_path / "state"
    await retain(run, pseudonymize_after=0, key=KEY)
    lines = (state / NAME).read_bytes().split(b"\n")[:-1]
    header, records = lines[0] + b"\n", [json.loads(line) for line in lines[1:]]
    for record in records:
        for entry in record.get("files", []):
            if entry["path"] == "report.csv":
                entry["old_sha256"] = "0" * 64
    text, prev = header, sha256(header)
    for record in records:
        line = (json.dumps({**record, "prev": prev}) + "\n").encode()
        text, prev = text + line, sha256(line)
    (state / NAME).write_bytes(text)
    [bad] = [f for each in verify(state) for f in each.findings if f.failed]
    assert (bad.path, bad.status) == (NAME, "edited")
    assert "old digest of report.csv is not the one recorded before" in bad.detail


async def test_a_second_retain_changes_nothing(tmp_path: Path) -> None:
    """Nothing newly due: no file is rewritten and no rewrite is recorded."""
    run = await finished_job(tmp_path)
    state = tmp_path / "state"
    await retain(run, pseudonymize_after=0, key=KEY)
    watched = ("journal.tsv", "report.csv", "summary.json", "report.html")
    before = {name: (state / name).read_bytes() for name in watched}
    records = len(read_chain(state / NAME)[0])
    await retain(run, pseudonymize_after=0, key=KEY)
    assert {name: (state / name).read_bytes() for name in watched} == before
    chain = [link.record for link in read_chain(state / NAME)[0]][records:]
    assert not [r for r in chain if r and r.get("mode") == "rewrite"]


async def test_only_ids_finished_long_enough_ago(tmp_path: Path) -> None:
    """--pseudonymize-after 30 leaves IDs finished today plain; an edited file is refused."""
    run = await finished_job(tmp_path)
    state = tmp_path / "state"
    await retain(run, pseudonymize_after=30, key=KEY)
    assert "journal.tsv" in naming(state, DONE[0])
    (state / "report.csv").write_text("id\nedited\n")
    with pytest.raises(UsageError, match=r"report.csv \(changed\)"):
        await retain(run, pseudonymize_after=0, key=KEY)
    assert "journal.tsv" in naming(state, DONE[0])


async def test_lookup_with_and_without_the_key(tmp_path: Path) -> None:
    """With the key, a pseudonymized ID's story is whole and says so; without, it says the
    key is needed."""
    run = await finished_job(tmp_path)
    state = tmp_path / "state"
    await retain(run, pseudonymize_after=0, key=KEY)
    [found] = stories.of(state, [DONE[1]], key=KEY)
    assert found.known and found.pseudonym == KEY.one("user", DONE[1])
    assert [s["line"] for s in found.sources] == [3]
    assert found.summary()["last_seen_state"] == "finished"
    assert "held as:    pseudonym:" in story_text(found)
    [lost] = stories.of(state, [DONE[1]])
    assert not lost.known and lost.needs_key
    assert "give their key (--pseudonym-key-file)" in story_text(lost)
    [plain] = stories.of(state, [OPEN])
    assert plain.known and plain.pseudonym is None
    with pytest.raises(UsageError, match="another key"):
        stories.of(state, [DONE[1]], key=key_from(b"another key, also long enough"))


async def test_a_resubmission_recognises_an_erased_id_only_with_the_key(tmp_path: Path) -> None:
    """With the key, the finished IDs in a new export are done, never sent or written plain;
    without it, submit refuses (exit 2) and sends nothing."""
    run = await finished_job(tmp_path)
    state = tmp_path / "state"
    await retain(run, pseudonymize_after=0, key=KEY)
    posts = len(run.june.posts)
    with pytest.raises(UsageError, match="needs their key") as refused:
        await run.submit([*DONE, "new@example.org"])
    assert refused.value.exit_code is ExitCode.USAGE and len(run.june.posts) == posts
    code = await run.time.drive(job.submit(run.settings(), run.source([*DONE, "new@example.org"]),
                                           run.view, skip_existing=False,
                                           connect=run.connect, key=KEY))
    assert code is ExitCode.OK
    assert run.june.posts[posts:] == ["new@example.org"]
    for subject in DONE:
        assert naming(state, subject) == []
    other = key_from(b"another key, also long enough")
    with pytest.raises(UsageError, match="another key"):
        await run.time.drive(job.submit(run.settings(), run.source(DONE), run.view,
                                        skip_existing=False, connect=run.connect, key=other))


async def test_erasure_removes_the_rows_and_keeps_the_counts(tmp_path: Path) -> None:
    """--erase-after 0: the finished rows go from every file, pseudonymized or not; the
    summary keeps its counts and figures and says how many rows were erased and when; a
    later reconcile still counts them."""
    run = await finished_job(tmp_path)
    state = tmp_path / "state"
    await retain(run, pseudonymize_after=0, key=KEY)
    summary = json.loads((state / "summary.json").read_text())
    await retain(run, erase_after=0)
    for subject in [*DONE, KEY.one("user", DONE[0])]:
        assert naming(state, subject) == []
    assert pl.read_csv(state / "report.csv", infer_schema=False)["id"].to_list() == [
        REFUSED, OPEN]
    for when in ("after retain", "after a reconcile"):
        now = json.loads((state / "summary.json").read_text())
        for part in ("outcome", "server_state", "attention", "figures"):
            assert now[part] == summary[part], (part, when)
        assert now["retention"]["erased_rows"] == len(DONE)
        [erasure] = now["retention"]["erasures"]
        assert "Erased at " + erasure["at"] in (state / "report.html").read_text()
        await reconcile(run)
    assert status(state) == 0
    held = job.status(run.settings())
    assert (held.ids, held.pseudonymized, held.pseudonym_key) == (2, 0, KEY.fingerprint)
    assert [e["rows"] for e in held.erased] == [len(DONE)]


async def test_the_cron_applies_the_policy_on_run_and_reconcile(tmp_path: Path) -> None:
    """run and reconcile with --pseudonymize-after 0 pseudonymize what they find finished;
    the next night's run sends only the new ID, whatever the export repeats."""
    run = Harness(tmp_path, StatesJune())
    state = tmp_path / "state"
    policy = Policy(pseudonymize_after=0, key=KEY)

    async def nightly(ids: list[str]) -> ExitCode:
        return await run.time.drive(job.run(run.settings(), run.source(ids), run.view,
                                            skip_existing=False,
                                            checking=job.Checking(retention=policy),
                                            connect=run.connect))

    assert await nightly([*DONE, OPEN]) is ExitCode.IN_PROGRESS
    assert naming(state, DONE[0]) == [] and "journal.tsv" in naming(state, OPEN)
    run.june.states[OPEN] = "finished"
    assert await reconcile(run, policy=policy) is ExitCode.OK
    assert naming(state, OPEN) == []
    sent = len(run.june.posts)
    assert await nightly([*DONE, OPEN, "tomorrow@example.org"]) is ExitCode.OK
    assert run.june.posts[sent:] == ["tomorrow@example.org"]
    assert naming(state, "tomorrow@example.org") == []
    assert status(state) == 0


def test_the_key_is_kept_outside_the_checkpoint_and_long(tmp_path: Path) -> None:
    """A key file inside the checkpoint, or of fewer than 16 bytes, is refused; a trailing
    newline is not part of the key."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "key").write_bytes(b"x" * 32)
    with pytest.raises(UsageError, match="inside the checkpoint"):
        load(state / "key", [state])
    (tmp_path / "short").write_bytes(b"fifteen bytes!!\n")
    with pytest.raises(UsageError, match="holds 15 bytes; it needs at least 16"):
        load(tmp_path / "short", [state])
    (tmp_path / "key").write_bytes(b"0123456789abcdef0123456789abcdef\n")
    assert load(tmp_path / "key", [state]).fingerprint == KEY.fingerprint
    assert "0123" not in repr(KEY)


def test_a_pseudonym_is_recognisable_and_keyed() -> None:
    """HMAC-SHA256(key, kind NUL ID) in hex, as openssl prints it: the same for the same key,
    kind and ID; another key or kind gives another one."""
    one = KEY.one("user", "u1")
    assert one == "pseudonym:" + hmac.new(b"0123456789abcdef0123456789abcdef", b"user\x00u1",
                                          hashlib.sha256).hexdigest()
    assert one.startswith("pseudonym:") and len(one) == len("pseudonym:") + 64
    assert KEY.of("user", pl.Series(["u1", None])).to_list() == [one, None]
    assert one == KEY.one("user", "u1") != KEY.one("group", "u1")
    assert one != key_from(b"another key, also long enough").one("user", "u1")
    assert isinstance(KEY, PseudonymKey)

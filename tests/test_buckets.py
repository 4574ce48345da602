"""Inputs read straight from a bucket, against a real S3-compatible server (moto) on loopback.

One moto server for the module; each test has its own bucket. The CLI runs as a process with
only the AWS_* variables a user would set (the endpoint, plain HTTP, a key, a region) and a
sandbox June on a socket, so what reaches June is counted exactly. Access control is moto's
own IAM check, switched on only while a test needs a refusal.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import io
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import moto.settings
import polars as pl
import pytest

from bulk_delete import buckets, offline
from bulk_delete.config import resolve
from bulk_delete.errors import ExitCode, InputError
from bulk_delete.inputs import read_ids
from bulk_delete.present import View
from bulk_delete.retain import Policy
from bulk_delete.verification import verify
from tests.fakes import KEY_ID, S3, SECRET, June, cli_env, journal_of


@pytest.fixture
def bucket(s3: S3, request: pytest.FixtureRequest) -> str:
    """A new bucket named after the test."""
    name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:50].strip("-")
    s3.client.create_bucket(Bucket=name)
    return name


@contextlib.contextmanager
def keys_checked(on: bool = True) -> Iterator[None]:
    """moto's IAM check on: unknown keys and users without a policy are refused (403)."""
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if on else float("inf")
    try:
        yield
    finally:
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")


def run(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m bulk_delete ARGS`` as a user runs it, with ``stdin`` piped in."""
    return subprocess.run([sys.executable, "-m", "bulk_delete", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def user_env(tmp_path: Path, s3: S3, **extra: str) -> dict[str, str]:
    """cli_env without any AWS_* of the machine's, with the test store's instead."""
    env = {k: v for k, v in cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console").items()
           if not k.startswith(("AWS_", "GOOGLE_", "AZURE_"))}
    return {**env, **s3.env(), **extra}


def parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def inputs_recorded(state: Path) -> list[dict[str, Any]]:
    lines = (state / "digests.jsonl").read_text().splitlines()[1:]
    return [record for record in map(json.loads, lines) if record["role"] == "input"]


def no_secret_in(tmp_path: Path, *outputs: str) -> None:
    """The secret is in no output and in no file the job wrote."""
    for text in outputs:
        assert SECRET not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_glob_of_objects_with_a_file_and_stdin(s3: S3, bucket: str, june: June,
                                                 tmp_path: Path) -> None:
    """CSV, gzipped CSV, Parquet and gzipped JSON Lines objects, a local file and standard
    input in one run: every ID sent once; each object recorded as read (URL, size, ETag,
    SHA-256 of its bytes); lookup names the object and line; verify re-reads it."""
    bodies = {
        "exports/2026-06-01.csv": b"user_id\nu01\nu02\n",
        "exports/2026-06-02.csv.gz": gzip.compress(b"user_id;x\nu03;1\nu02;2\n"),
        "exports/2026-06-03.parquet": parquet(pl.DataFrame({"user_id": [4, 5]})),
        "exports/sub/2026-06-04.csv": b"user_id\nnot-matched\n",
        "exports/notes.txt": b"not matched either\n",
        "extra/ids.jsonl.gz": gzip.compress(b'{"user_id": "u06"}\n'),
    }
    urls = {key: s3.put(bucket, key, body) for key, body in bodies.items()}
    (tmp_path / "local.csv").write_text("user_id\nu07\n")
    env = user_env(tmp_path, s3)
    done = run("submit", f"s3://{bucket}/exports/*.csv*", f"s3://{bucket}/exports/*.parquet",
               urls["extra/ids.jsonl.gz"], str(tmp_path / "local.csv"), "-",
               "--api-url", june.url, env=env, stdin="user_id\nu08\nu01\n")
    assert done.returncode == 0, done.stderr
    assert sorted(journal_of(tmp_path)["id"]) == ["4", "5", "u01", "u02", "u03", "u06", "u07",
                                                  "u08"]
    assert june.posts() == 8
    read_objects = [key for key in bodies if "sub/" not in key and "notes" not in key]
    records = {r["given"]: r for r in inputs_recorded(tmp_path / "state")}
    assert list(records) == [urls[key] for key in read_objects] + [
        str(tmp_path / "local.csv"), "<stdin>"]
    for key in read_objects:
        head = s3.client.head_object(Bucket=bucket, Key=key)
        assert (records[urls[key]]["size"], records[urls[key]]["etag"],
                records[urls[key]]["sha256"]) == (
            len(bodies[key]), head["ETag"], hashlib.sha256(bodies[key]).hexdigest())
    assert [records[urls[key]]["format"] for key in read_objects] == [
        "csv", "csv", "parquet", "jsonl"]

    story = json.loads(run("lookup", "u03", "--json", env=env).stdout)[0]
    assert [(s["file"], s["line"], s["sha256"]) for s in story["sources"]] == [
        (urls["exports/2026-06-02.csv.gz"], 2,
         hashlib.sha256(bodies["exports/2026-06-02.csv.gz"]).hexdigest())]
    checked = run("verify", env=env)
    assert checked.returncode == 0, checked.stdout
    assert f"ok         {urls['exports/2026-06-03.parquet']}: " in checked.stdout
    no_secret_in(tmp_path, done.stdout, done.stderr, checked.stdout)


def test_verify_names_an_object_changed_or_deleted_since(
        s3: S3, bucket: str, june: June, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An object overwritten after the run fails verify; one deleted is named, not failed;
    one the store cannot give now is unchecked, not failed."""
    kept = s3.put(bucket, "a.csv", b"user_id\nu1\n")
    gone = s3.put(bucket, "b.csv", b"user_id\nu2\n")
    env = user_env(tmp_path, s3)
    assert run("submit", f"s3://{bucket}/*.csv", "--api-url", june.url, env=env).returncode == 0
    s3.put(bucket, "a.csv", b"user_id\nu1\nu9\n")
    s3.client.delete_object(Bucket=bucket, Key="b.csv")
    checked = run("verify", env=env)
    assert checked.returncode == 4, checked.stdout
    assert f"CHANGED    {kept}: its SHA-256 is not the one recorded" in checked.stdout
    assert f"gone       {gone}: read at " in checked.stdout
    for name, value in {**s3.env(), "AWS_ENDPOINT_URL": _unreachable()}.items():
        monkeypatch.setenv(name, value)
    found = {f.path: f for f in verify(tmp_path / "state")[0].findings}
    assert (found[kept].status, found[kept].failed) == ("unchecked", False)
    assert "cannot reach the store" in found[kept].detail


def test_the_daily_cron_adds_only_new_objects_ids(s3: S3, bucket: str, june: June,
                                                  tmp_path: Path) -> None:
    """A later run over the same prefix, with a new object in it, sends only its new IDs."""
    pattern = f"s3://{bucket}/exports/*.parquet"
    s3.put(bucket, "exports/day1.parquet", parquet(pl.DataFrame({"user_id": ["a", "b"]})))
    env = user_env(tmp_path, s3)
    assert run("submit", pattern, "--api-url", june.url, env=env).returncode == 0
    assert june.posts() == 2
    s3.put(bucket, "exports/day2.parquet", parquet(pl.DataFrame({"user_id": ["b", "c", "d"]})))
    second = run("submit", pattern, "--api-url", june.url, env=env)
    assert second.returncode == 0, second.stderr
    assert june.posts() == 4
    assert sorted(journal_of(tmp_path)["id"]) == ["a", "b", "c", "d"]
    assert re.search(r"day1\.parquet\s+2\s+0\s+0\s+2\s+0", second.stdout), second.stdout
    assert re.search(r"day2\.parquet\s+3\s+0\s+1\s+0\s+2", second.stdout), second.stdout


async def test_retain_and_acknowledge_read_no_object_again(
        s3: S3, bucket: str, june: June, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """retain and acknowledge work offline on a job read from a bucket: they check the
    checkpoint's own files, never fetch an input object again (a year of nightly exports)."""
    url = s3.put(bucket, "exports/ids.csv", b"user_id\nu1\nu2\n")
    done = run("run", url, "--api-url", june.url, env=user_env(tmp_path, s3))
    assert done.returncode in (0, 3), done.stderr

    def no_store(*_args: object) -> None:
        raise AssertionError("the store was read")

    monkeypatch.setattr(buckets, "objects", no_store)
    monkeypatch.setattr(buckets, "read", no_store)
    settings = resolve({"checkpoint_dir": tmp_path / "state"}, env={})
    view = View("json", out=io.StringIO(), err=io.StringIO())
    assert await offline.retain(settings, view, Policy(erase_after=0)) is ExitCode.OK
    assert await offline.acknowledge(settings, view, ids=(), category="missing", before=None,
                                     reason="nothing to do", by="dpo") is ExitCode.OK


def _unreachable() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


ERRORS = [
    ("no such object", "{bucket}/exports/missing.csv", {}, "{url}: no such object"),
    ("no such bucket", "no-such-bucket-here/ids.csv", {}, "{url}: no such bucket"),
    ("no such bucket, a glob", "no-such-bucket-here/*.csv", {}, "{url}: no such bucket"),
    ("nothing under the prefix", "{bucket}/empty/*.parquet", {},
     "{url}: no object matches this pattern (0 objects under s3://{bucket}/empty/)"),
    ("an unknown key", "{bucket}/exports/*.csv", {"key": "unknown"},
     "{url}: access denied with the access key in AWS_ACCESS_KEY_ID"),
    ("no endpoint there", "{bucket}/exports/ids.csv", {"endpoint": "dead"},
     "{url}: cannot reach the store"),
]


@pytest.mark.parametrize(("where", "setting", "message"), [case[1:] for case in ERRORS],
                         ids=[case[0] for case in ERRORS])
def test_each_failure_is_one_sentence_naming_the_url(
        s3: S3, bucket: str, monkeypatch: pytest.MonkeyPatch, where: str,
        setting: dict[str, str], message: str) -> None:
    """No such bucket or object, no match, a refused key, a store not there: one line that
    names the URL (and the credential source, never the secret)."""
    s3.put(bucket, "exports/ids.csv", b"user_id\nu1\n")
    url = "s3://" + where.format(bucket=bucket)
    env = s3.env(("AKIAUNKNOWN000000000", SECRET) if setting.get("key") else (KEY_ID, SECRET))
    if setting.get("endpoint"):
        env["AWS_ENDPOINT_URL"] = _unreachable()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with keys_checked(bool(setting.get("key"))), pytest.raises(InputError) as caught:
        read_ids([url], kind="user")
    said = str(caught.value)
    assert said.startswith(message.format(url=url, bucket=bucket)) and "\n" not in said, said
    assert SECRET not in said


def test_access_denied_exits_2_and_sends_nothing(s3: S3, bucket: str, june: June,
                                                 tmp_path: Path) -> None:
    """Through the CLI: a key without the right to read the bucket is exit 2, one line naming
    the credential source, no request at June, and the secret in no output and no file."""
    url = s3.put(bucket, "exports/ids.csv", b"user_id\nu1\n")
    env = {**user_env(tmp_path, s3), "AWS_ACCESS_KEY_ID": s3.nobody[0],
           "AWS_SECRET_ACCESS_KEY": s3.nobody[1]}
    with keys_checked():
        done = run("submit", url, "--api-url", june.url, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"bulk-delete: {url}: access denied with the access key in AWS_ACCESS_KEY_ID"]
    assert june.stats()["requests"] == 0
    for text in (done.stdout, done.stderr, *(p.read_text() for p in tmp_path.rglob("*")
                                             if p.is_file())):
        assert s3.nobody[1] not in text


def test_a_versioned_bucket_records_the_version_read(s3: S3, bucket: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the store keeps versions, the digest record keeps the version id read."""
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    s3.client.put_bucket_versioning(Bucket=bucket,
                                    VersioningConfiguration={"Status": "Enabled"})
    url = s3.put(bucket, "ids.csv", b"user_id\nu1\n")
    head = s3.client.head_object(Bucket=bucket, Key="ids.csv")
    [receipt] = read_ids([url], kind="user").receipts
    assert (receipt.etag, receipt.version) == (head["ETag"], head["VersionId"])


def test_folder_markers_are_not_inputs(s3: S3, bucket: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A key ending in / (what consoles create for a folder) matches no glob."""
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    s3.put(bucket, "exports/", b"")
    url = s3.put(bucket, "exports/a.csv", b"user_id\nu1\n")
    assert [remote.url for remote in buckets.objects(f"s3://{bucket}/exports/*")] == [url]


def test_an_object_that_changes_between_listing_and_read_is_refused(
        s3: S3, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The read is conditional on the ETag listed: an object overwritten meanwhile (an export
    still being written) is refused, as a local file that changes is."""
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    s3.put(bucket, "ids.csv", b"user_id\nu1\n")
    [listed] = buckets.objects(f"s3://{bucket}/*.csv")
    s3.put(bucket, "ids.csv", b"user_id\nu1\nu2\n")
    with pytest.raises(InputError, match=r"ids\.csv: changed while it was read"):
        buckets.read(listed)


def test_a_profile_is_read_through_boto3(s3: S3, bucket: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_PROFILE (which object_store does not read) works through boto3; refused, the error
    names the profile, not its key."""
    s3.client.put_object(Bucket=bucket, Key="ids.csv", Body=b"user_id\nu1\n")
    profiles = tmp_path / "credentials"
    profiles.write_text("".join(f"[{name}]\naws_access_key_id = {key}\n"
                                f"aws_secret_access_key = {secret}\n\n"
                                for name, (key, secret) in (("exports", s3.reader),
                                                            ("nothing", s3.nobody))))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**s3.env(), "AWS_SHARED_CREDENTIALS_FILE": str(profiles),
                        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
                        "AWS_PROFILE": "exports"}.items():
        if not name.startswith(("AWS_ACCESS", "AWS_SECRET")):
            monkeypatch.setenv(name, value)
    with keys_checked():
        assert read_ids([f"s3://{bucket}/ids.csv"], kind="user").ids["id"].to_list() == ["u1"]
        monkeypatch.setenv("AWS_PROFILE", "nothing")
        with pytest.raises(InputError, match="access denied with the profile nothing "
                                             r"\(AWS_PROFILE, read by boto3\)") as caught:
            read_ids([f"s3://{bucket}/ids.csv"], kind="user")
    assert s3.nobody[1] not in str(caught.value)


def test_a_file_on_a_web_server(tmp_path: Path) -> None:
    """An https:// (here loopback http://) URL is one file, downloaded, hashed and read; a
    missing one is 'no such object'."""
    (tmp_path / "ids.csv").write_bytes(b"user_id\nw1\nw2\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            read = read_ids([f"{base}/ids.csv"], kind="user")
            with pytest.raises(InputError, match=r"/gone\.csv: no such object$"):
                read_ids([f"{base}/gone.csv"], kind="user")
        finally:
            server.shutdown()
    assert read.ids["id"].to_list() == ["w1", "w2"]
    [receipt] = read.receipts
    assert (receipt.path, receipt.size, receipt.sha256) == (
        f"{base}/ids.csv", 14, hashlib.sha256(b"user_id\nw1\nw2\n").hexdigest())


@pytest.mark.parametrize(("pattern", "matches", "misses"), [
    ("exports/*.csv", ["exports/a.csv"], ["exports/sub/a.csv", "exports/a.csv.gz", "a.csv"]),
    ("exports/**/*.csv", ["exports/a.csv", "exports/x/y/a.csv"], ["exportsa.csv"]),
    ("exports/2026-0[1-3]-??.parquet", ["exports/2026-02-15.parquet"],
     ["exports/2026-04-01.parquet", "exports/2026-02-1.parquet"]),
    ("exports/[!a]*.csv", ["exports/b.csv"], ["exports/a.csv"]),
    ("exports/a+b (1).csv*", ["exports/a+b (1).csv.gz"], ["exports/aab (1).csv"]),
])
def test_globs_match_keys_as_paths(pattern: str, matches: list[str], misses: list[str]) -> None:
    """``*`` and ``?`` stay within a segment, ``**/`` crosses them, other characters are
    literal."""
    regex = buckets._glob(pattern)
    assert [key for key in matches if regex.fullmatch(key)] == matches
    assert [key for key in misses if regex.fullmatch(key)] == []


@pytest.mark.parametrize(("url", "message"), [
    ("s3://AKIAX:hunter2secret@exports/ids.csv", "must not hold credentials"),
    ("https://exports.example.com/ids.csv?X-Amz-Signature=hunter2secret", "presigned URL"),
    ("ftp://exports/ids.csv", "ftp:// is not a store"),
    ("http://exports.example.com/ids.csv", "plain http:// only to a loopback address"),
    ("s3://exports", "name an object or a glob"),
    ("https://exports.example.com/*.csv", "a web server cannot be listed"),
])
def test_urls_that_are_refused_before_any_request(url: str, message: str) -> None:
    """A URL holding a secret, or one no store can serve, is refused without a request; the
    secret is not repeated."""
    with pytest.raises(InputError, match=re.escape(message)) as caught:
        buckets.objects(url)
    assert "hunter2secret" not in str(caught.value)

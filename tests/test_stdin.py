"""``-`` reads standard input: ``warehouse-cli query ... | bulk-delete submit -``.

Through the real CLI as a process, against a sandbox June on a socket: CSV and (gzipped) JSON
Lines piped in are sent exactly; the plan, the digest record, ``lookup`` and ``verify`` call
the input ``<stdin>`` with the SHA-256 of the bytes piped; refused content and a terminal
send nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.fakes import June, cli_env, journal_of


def piped(stdin: bytes | int, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m bulk_delete ARGS`` with ``stdin`` (bytes, or a file descriptor) as its input."""
    options = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin}
    done = subprocess.run([sys.executable, "-m", "bulk_delete", *args], env=env,
                          capture_output=True, timeout=120, check=False, **options)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(),
                                       done.stderr.decode())


def input_records(state: Path) -> list[dict[str, object]]:
    lines = (state / "digests.jsonl").read_text().splitlines()[1:]
    return [record for record in map(json.loads, lines) if record["role"] == "input"]


def test_csv_on_stdin_is_sent_and_recorded_as_stdin(june: June, tmp_path: Path) -> None:
    """Every ID piped in is sent once; the plan shows <stdin>; the digest record holds the
    SHA-256 of the bytes piped; lookup names <stdin> and the line; verify cannot re-read it
    and says so without failing."""
    data = b"user_id,email\nu01,a@example.com\nu02,b@example.com\n\nu01,c@example.com\n"
    env = cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console")
    done = piped(data, "submit", "-", "--api-url", june.url, env=env)
    assert done.returncode == 0, done.stderr
    assert "<stdin>" in done.stdout
    assert sorted(journal_of(tmp_path)["id"].to_list()) == ["u01", "u02"]
    assert june.posts() == 2
    [record] = input_records(tmp_path / "state")
    assert (record["path"], record["given"], record["format"]) == ("<stdin>", "<stdin>", "csv")
    assert (record["sha256"], record["size"]) == (hashlib.sha256(data).hexdigest(), len(data))

    looked = piped(b"", "lookup", "u02", "", "--json", env=env)
    [u02, empty] = json.loads(looked.stdout)
    assert [(s["file"], s["line"], s["sha256"]) for s in u02["sources"]] == [
        ("<stdin>", 3, record["sha256"])]
    assert [(s["file"], s["line"], s["outcome"]) for s in empty["sources"]] == [
        ("<stdin>", 4, "invalid")]
    text = piped(b"", "lookup", "u02", env=env).stdout
    assert "read from:  <stdin>, line 3 (SHA-256 " + str(record["sha256"]) in text

    checked = piped(b"", "verify", env=env)
    assert checked.returncode == 0, checked.stdout
    assert "unchecked  <stdin>: standard input, read once" in checked.stdout


def test_gzipped_json_lines_on_stdin_with_a_file(june: June, tmp_path: Path) -> None:
    """JSON Lines piped in, gzipped, are read by their content; ``-`` named twice is read
    once, beside a file; each input keeps its own name in the plan."""
    data = gzip.compress(b'{"user_id": "u01"}\n\n{"user_id": 42}\n')
    (tmp_path / "more.csv").write_text("user_id\nu03\n42\n")
    env = cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console")
    done = piped(data, "submit", "-", str(tmp_path / "more.csv"), "-", "--api-url", june.url,
                 env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(journal_of(tmp_path)["id"].to_list()) == ["42", "u01", "u03"]
    assert [(r["given"], r["format"], r["sha256"]) for r in input_records(tmp_path / "state")] == [
        ("<stdin>", "jsonl", hashlib.sha256(data).hexdigest()),
        (str(tmp_path / "more.csv"), "csv", hashlib.sha256(b"user_id\nu03\n42\n").hexdigest())]
    looked = json.loads(piped(b"", "lookup", "42", "--json", env=env).stdout)
    assert [(s["file"], s["line"]) for s in looked[0]["sources"]] == [("<stdin>", 3)]


def test_a_spreadsheet_on_stdin_sends_nothing(june: June, tmp_path: Path) -> None:
    """Content refused on standard input: exit 2, one line naming <stdin>, no request."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", "<sheetData/>")
    done = piped(buffer.getvalue(), "submit", "-", "--api-url", june.url,
                 env=cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "bulk-delete: <stdin>: an Excel workbook (.xlsx), not an export: save the sheet as "
        "'CSV UTF-8' and pass that file"]
    assert june.stats()["requests"] == 0


def test_a_terminal_is_not_read(june: June, tmp_path: Path) -> None:
    """``-`` on a terminal would wait for typing: refused at once, nothing sent."""
    controller, terminal = os.openpty()
    try:
        done = piped(terminal, "submit", "-", "--api-url", june.url,
                     env=cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console"))
    finally:
        os.close(controller)
        os.close(terminal)
    assert done.returncode == 2, done.stderr
    assert "-: standard input is a terminal; pipe the IDs in" in done.stderr
    assert june.stats()["requests"] == 0


def test_a_json_array_on_stdin_is_looked_up_by_element(june: June, tmp_path: Path) -> None:
    """A JSON array's positions are elements, and lookup says so."""
    env = cli_env(tmp_path, BULK_DELETE_LOG_FORMAT="console")
    done = piped(b'["u01", "", "u02"]', "submit", "-", "--api-url", june.url, env=env)
    assert done.returncode == 0, done.stderr
    assert june.posts() == 2
    text = piped(b"", "lookup", "u02", "", env=env).stdout
    assert "read from:  <stdin>, element 3 (SHA-256 " in text
    assert "read from:  <stdin>, element 2 (SHA-256 " in text and "empty ID at <stdin>:2" in text

"""A corpus of bad ID files and bad configuration, each run through the CLI as a process.

Every case must end with exit 2, exactly one line on stderr (console logs), no traceback,
and not one request at its own sandbox June; files that hold no IDs (empty, header only)
are fine: exit 0, nothing sent. tests/test_inputs.py checks the reader's messages one by
one; this corpus proves the whole command refuses before it sends anything.

Each case costs a Python start-up (~1 s of CPU, polars and aiohttp imports), so the cases
selected for a session run side by side once per module, each against its own sandbox, and
the tests then judge one case each. Variants of shapes tested elsewhere are marked slow.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from bulk_delete.sandbox import SandboxConfig
from tests.fakes import KEY, June, bulk_delete, cli_env, write_ids

#: Cases run side by side: start-up is CPU-bound and this machine has two cores.
PARALLEL = 4
AS_ROOT = os.geteuid() == 0

Build = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Case:
    """One bad input or configuration: how to build it, and what the job must say."""

    #: Files made in the case's own directory; returns the arguments after the command.
    build: Build
    #: A piece of the one line on stderr (exit 2), or of stdout (exit 0).
    message: str
    exit_code: int = 2
    env: dict[str, str] = field(default_factory=dict)
    command: str = "submit"
    #: Why the case cannot run here, if it cannot.
    skip: str | None = None


def file(name: str, content: bytes) -> Build:
    """A case whose input is one file holding ``content``."""

    def build(where: Path) -> list[str]:
        (where / name).write_bytes(content)
        return [str(where / name)]

    return build


def parquet(frame: pl.DataFrame) -> Build:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return file("ids.parquet", buffer.getvalue())


def good_ids(*args: str) -> Build:
    """A valid ID file plus ``args``: the configuration is what is wrong."""

    def build(where: Path) -> list[str]:
        return [str(write_ids(where / "ids.csv", ["a", "b"])), *args]

    return build


def with_file(name: str, content: bytes, *args: str) -> Build:
    """A valid ID file, another file holding ``content``, and ``args`` naming it as {file}."""

    def build(where: Path) -> list[str]:
        (where / name).write_bytes(content)
        named = [arg.replace("{file}", str(where / name)) for arg in args]
        return [str(write_ids(where / "ids.csv", ["a", "b"])), *named]

    return build


def _many_ids() -> bytes:
    return b"user_id\n" + b"".join(b"%08d\n" % i for i in range(200_000))


def _xlsx() -> bytes:
    """What a spreadsheet export is: a ZIP archive, here named ids.csv by mistake."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", "<sheetData><row><c>u1</c></row></sheetData>")
    return buffer.getvalue()


def _ods() -> bytes:
    """An OpenDocument spreadsheet: a ZIP whose first entry names its type."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office:document-content/>")
    return buffer.getvalue()


#: The first bytes of an Excel 97-2003 workbook (an OLE2 compound file), then its sectors.
XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + b"u1\x00" * 100
HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>u1</body></html>\n"
XML = b'<?xml version="1.0"?>\n<users><user id="u1"/></users>\n'
PRETTY_JSON = b'{\n  "data": [\n    {"user_id": "u1"}\n  ]\n}\n'
#: A CSV without a header line: its first ID would be read as the column's name.
HEADERLESS = b"".join(b"usr_%05d\n" % i for i in range(20))


def _truncated_parquet() -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame({"user_id": [f"u{i}" for i in range(5000)]}).write_parquet(buffer)
    return buffer.getvalue()[: buffer.tell() // 2]


def _junk() -> bytes:
    """High bytes without a NUL or a valid UTF-8 sequence in front: what a corrupt copy holds."""
    dice = random.Random(6)
    return bytes(dice.randrange(0x80, 0x100) for _ in range(4096))


def _directory(where: Path) -> list[str]:
    (where / "exports").mkdir()
    return [str(where / "exports")]


def _directories_only(where: Path) -> list[str]:
    (where / "exports" / "2026-01.csv").mkdir(parents=True)
    return [str(where / "exports" / "*.csv")]


def _good_and_bad(where: Path) -> list[str]:
    good = write_ids(where / "good.csv", ["a", "b"])
    (where / "bad.csv").write_bytes(b"user_id\nJos\xe9\n")
    return [str(good), str(where / "bad.csv")]


def _endless(where: Path) -> list[str]:
    (where / "ids.csv").symlink_to("/dev/zero")
    return [str(where / "ids.csv")]


def _read_error(where: Path) -> list[str]:
    """A file whose reads fail with EIO, even for root: /proc/self/mem at offset 0."""
    (where / "ids.csv").symlink_to("/proc/self/mem")
    return [str(where / "ids.csv")]


def _unreadable(where: Path) -> list[str]:
    path = write_ids(where / "ids.csv", ["a"])
    path.chmod(0)
    return [str(path)]


def _damaged_manifest(where: Path) -> list[str]:
    state = where / "state"
    state.mkdir(mode=0o700)
    (state / "manifest.json").write_text('{"kind": "user", "api_h')
    return [str(write_ids(where / "ids.csv", ["a"]))]


def _corrupt_journal(where: Path) -> list[str]:
    state = where / "state"
    state.mkdir(mode=0o700)
    (state / "journal.tsv").write_text(
        "id\toutcome\thttp_status\tattempts\tat\terror\n"
        "a\taccepted\t200\t1\t2026-01-01T00:00:00.000Z\t\n"
        "b\tacepted\t200\t1\t2026-01-01T00:00:00.000Z\t\n"
        "c\taccepted\t200\t1\t2026-01-01T00:00:00.000Z\t\n")
    return [str(write_ids(where / "ids.csv", ["a", "d"]))]


TRUNCATED_GZIP = gzip.compress(_many_ids())[:40_000]
NOT_ROOT = "runs as root, where chmod 000 does not stop reads" if AS_ROOT else None

CASES: dict[str, Case] = {
    # --- files that cannot be read as documented
    "quote never closed": Case(file("ids.csv", b'user_id\n"abc\ndef\n'), "ids.csv: cannot read"),
    "truncated gzip": Case(file("ids.csv.gz", TRUNCATED_GZIP), "ids.csv.gz: cannot read it"),
    "truncated parquet": Case(file("ids.parquet", _truncated_parquet()),
                              "ids.parquet: cannot read it"),
    "parquet magic only": Case(file("ids.parquet", b"PAR1PAR1"), "ids.parquet: cannot read it"),
    "latin-1": Case(file("ids.csv", "user_id\nJosé\nZoë\n".encode("latin-1")), "not UTF-8 text"),
    "utf-16 without BOM": Case(file("ids.csv", "user_id\nu1\n".encode("utf-16-be")),
                               "UTF-16 text (big-endian, without a byte-order mark)"),
    "utf-16 with BOM": Case(file("ids.csv", "user_id\nu1\n".encode("utf-16")),
                            "UTF-16 (little-endian) text with a byte-order mark, not UTF-8"),
    "utf-32": Case(file("ids.txt", "user_id\nu1\n".encode("utf-32")), "UTF-32 (little-endian)"),
    "binary junk": Case(file("ids.csv", _junk()), "not UTF-8 text (bad byte at offset 0)"),
    "binary with NULs": Case(file("ids.bin", bytes(range(256)) * 4), "binary data"),
    "spreadsheet named .csv": Case(file("ids.csv", _xlsx()), "an Excel workbook (.xlsx)"),
    "gzipped spreadsheet": Case(file("ids.csv.gz", gzip.compress(_xlsx())),
                                "an Excel workbook (.xlsx), not an export"),
    "OpenDocument spreadsheet": Case(file("ids.ods", _ods()), "an OpenDocument spreadsheet"),
    "legacy xls": Case(file("ids.xls", XLS), "a legacy Office file (an Excel 97-2003 .xls"),
    "HTML error page": Case(file("ids.csv", HTML), "an HTML page"),
    "XML": Case(file("ids.xml", XML), "XML, not an export"),
    "JSON over several lines": Case(file("ids.json", PRETTY_JSON),
                                    "a JSON document spread over several lines"),
    "header that is an ID": Case(file("ids.csv", HEADERLESS), "pass --no-header"),
    "JSON Lines of booleans": Case(file("ids.jsonl", b'{"user_id": "u1"}\n{"user_id": true}\n'),
                                   "holds a boolean at line 2"),
    "JSON array of objects": Case(file("ids.json", b'[{"user_id": {"$oid": "5f1"}}]'),
                                  "holds an object at element 1"),
    "JSON Lines of fractions": Case(file("ids.jsonl", b'{"user_id": 2.5}\n'),
                                    "floats that are not whole numbers below 2**53"),
    "5 MB on one line": Case(file("ids.csv", b"u" * (5 << 20)),
                             "no line break in the first 1 MiB"),
    "endless device": Case(_endless, "NUL bytes"),
    "read error (EIO)": Case(_read_error, "ids.csv: cannot read it: Input/output error"),
    "no permission": Case(_unreadable, "Permission denied", skip=NOT_ROOT),
    "a directory": Case(_directory, "exports: is a directory"),
    "a glob of directories": Case(_directories_only, "no file matches this pattern"),
    "one bad file among good": Case(_good_and_bad, "bad.csv: not UTF-8 text"),
    "parquet dates": Case(parquet(pl.DataFrame({"user_id": [date(2026, 1, 1)]})),
                          "the ID column has type Date"),
    "parquet lists": Case(parquet(pl.DataFrame({"user_id": [["u1", "u2"]]})),
                          "the ID column has type List(String)"),
    "parquet fractions": Case(parquet(pl.DataFrame({"user_id": [1.0, 2.5]})),
                              "floats that are not whole numbers"),
    "parquet structs": Case(parquet(pl.DataFrame({"user_id": [{"a": 1}]})),
                            "the ID column has type Struct"),
    "parquet without the column": Case(parquet(pl.DataFrame({"email": ["x"], "name": ["y"]})),
                                       "choose one with --column (columns: email, name)"),
    "csv --column missing": Case(good_ids("--column", "email_sha256"),
                                 "no column 'email_sha256' (columns: user_id)"),
    # --- files that hold no IDs: fine, nothing to send
    "empty file": Case(file("ids.csv", b""), "nothing to send", exit_code=0),
    "header only": Case(file("ids.csv", b"user_id\n"), "nothing to send", exit_code=0),
    "BOM and header only": Case(file("ids.csv", b"\xef\xbb\xbfuser_id\r\n"),
                                "nothing to send", exit_code=0),
    "parquet without rows": Case(parquet(pl.DataFrame({"user_id": []}, schema={
        "user_id": pl.String})), "nothing to send", exit_code=0),
    # --- configuration
    "--rate nan": Case(good_ids("--rate", "nan"), "Invalid value for '--rate'"),
    "--timeout nan": Case(good_ids("--timeout", "nan"), "Invalid value for '--timeout'"),
    "--concurrency 2.5": Case(good_ids("--concurrency", "2.5"),
                              "Invalid value for '--concurrency'"),
    "--max-attempts many": Case(good_ids("--max-attempts", "many"),
                                "Invalid value for '--max-attempts'"),
    "concurrency variable": Case(good_ids(), "BULK_DELETE_CONCURRENCY",
                                 env={"BULK_DELETE_CONCURRENCY": "100000"}),
    "auth style variable": Case(good_ids(), "JUNE_AUTH_STYLE", env={"JUNE_AUTH_STYLE": "digest"}),
    "http to a private address": Case(good_ids("--api-url", "http://10.0.0.7"),
                                      "refusing plain http:// to 10.0.0.7"),
    "http to a name like localhost": Case(good_ids("--api-url", "http://localhost.example.com"),
                                          "refusing plain http:// to localhost.example.com"),
    "credentials in the URL": Case(good_ids("--api-url", "https://me:pw@api.june.so"),
                                   "must not hold credentials"),
    "malformed URL": Case(good_ids("--api-url", "http://[::1"), "--api-url"),
    "port out of range": Case(good_ids("--api-url", "http://127.0.0.1:99999", "--max-attempts",
                                       "1"), "--api-url"),
    "key with a space": Case(good_ids(), "holds whitespace", env={"JUNE_API_KEY": "sk_a b"}),
    "key file not UTF-8": Case(with_file("key", b"\xff\xfe\x00k", "--api-key-file", "{file}"),
                               "not UTF-8 text", env={"JUNE_API_KEY": ""}),
    "shard beyond the count": Case(good_ids("--shard", "3/2"), "--shard"),
    "damaged manifest": Case(_damaged_manifest, "manifest.json is unreadable or damaged"),
    "corrupt journal": Case(_corrupt_journal, "journal.tsv line 3 is corrupt"),
    "report with a bad suffix": Case(good_ids("--report", "report.xlsx"),
                                     "the suffix must be one of", command="run"),
}
#: Variants of a shape the default selection already covers (or tests/test_inputs.py does).
EXTENDED = {
    "quote never closed", "parquet dates", "damaged manifest", "utf-32", "XML",
    "gzipped spreadsheet", "binary with NULs", "JSON Lines of fractions",
    "empty file", "--timeout nan", "parquet magic only", "latin-1", "utf-16 without BOM",
    "a directory", "a glob of directories",
    "parquet lists", "parquet fractions", "parquet structs", "parquet without the column",
    "csv --column missing", "BOM and header only", "parquet without rows", "--concurrency 2.5",
    "--max-attempts many", "concurrency variable", "auth style variable",
    "http to a private address", "http to a name like localhost", "credentials in the URL",
    "key with a space", "key file not UTF-8", "shard beyond the count", "report with a bad suffix",
}
#: Cases that show a bug in the tool; the reason says which and what to change.
@dataclass(frozen=True)
class Outcome:
    """What one case did: the finished process and the requests its June saw."""

    done: subprocess.CompletedProcess[str]
    requests: int


def _run_case(case: Case, where: Path) -> Outcome:
    where.mkdir()
    june = June(SandboxConfig(api_key=KEY))
    try:
        args = case.build(where)
        where_api = [] if "--api-url" in args else ["--api-url", june.url]
        env = cli_env(where, BULK_DELETE_LOG_FORMAT="console", **case.env)
        env = {name: value for name, value in env.items() if value != ""}
        done = bulk_delete(case.command, *args, *where_api, env=env, timeout=60)
        return Outcome(done, june.stats()["requests"])
    finally:
        june.close()


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Every case selected in this session (and runnable here), run side by side once."""
    root = tmp_path_factory.mktemp("bad-inputs")
    selected = {item.callspec.params["name"] for item in request.session.items
                if isinstance(item, pytest.Function) and item.module is request.module
                and hasattr(item, "callspec")}
    runnable = {name: case for name, case in CASES.items()
                if case.skip is None and name in selected}
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {name: pool.submit(_run_case, case, root / f"case{index}")
                   for index, (name, case) in enumerate(runnable.items())}
        yield {name: future.result() for name, future in futures.items()}


def _params() -> list[object]:
    params: list[object] = []
    for name in CASES:
        marks = [pytest.mark.slow] if name in EXTENDED else []
        params.append(pytest.param(name, id=name, marks=marks))
    return params


@pytest.mark.parametrize("name", _params())
def test_bad_input_is_refused_before_anything_is_sent(outcomes: dict[str, Outcome],
                                                     name: str) -> None:
    """A bad file or setting: exit 2, one line naming the problem, no traceback, no request."""
    case = CASES[name]
    if case.skip is not None:
        pytest.skip(case.skip)
    done, requests = outcomes[name].done, outcomes[name].requests
    output = f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == case.exit_code, output
    assert "Traceback" not in done.stderr, output
    assert requests == 0, output
    if case.exit_code == 0:
        assert case.message in done.stdout, output
        assert done.stderr.strip() == "", output
        return
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("bulk-delete: "), output
    assert case.message in lines[0], output

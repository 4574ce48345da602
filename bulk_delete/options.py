"""The command line's shared options, in groups that commands stack.

Each option names its environment variable, so click resolves flags before variables
before defaults; config.py adds what click cannot know.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bulk_delete.types import Concurrency

F = TypeVar("F", bound=Callable[..., Any])


class NumberOrAuto(click.ParamType[Concurrency]):
    """``--concurrency``: ``auto``, or a whole number of requests in flight from 1 to 1,000."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Concurrency:
        text = str(value).strip()
        if text.lower() == "auto":
            return "auto"
        if not text.isdigit():
            self.fail(f"{value!r} is neither auto nor a whole number", param, ctx)
        return click.IntRange(1, 1000).convert(int(text), param, ctx)


class Finite(click.FloatRange):
    """A FloatRange that also refuses nan and inf (nan passes every bound check)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f
    return apply


common = stack(
    click.option("--checkpoint-dir", envvar="BULK_DELETE_CHECKPOINT_DIR", show_envvar=True,
                 type=click.Path(path_type=Path, file_okay=False), default="bulk-delete-state",
                 show_default=True, help="Where the job's state lives (journal, manifest, lock)."),
    click.option("--log-format", envvar="BULK_DELETE_LOG_FORMAT", show_envvar=True,
                 type=click.Choice(["auto", "console", "json"]), default="auto", show_default=True,
                 help="auto: console on a terminal, JSON lines otherwise."),
    click.option("--shard", metavar="K/N",
                 help="Work on shard K of N only (own checkpoint subdirectory, --rate / N)."),
    click.option("--shards", type=click.IntRange(1, 1000), metavar="N",
                 help="Like --shard, with K from JOB_COMPLETION_INDEX (Kubernetes Indexed Job)."),
)

connection = stack(
    click.option("--api-url", envvar="JUNE_API_URL", show_envvar=True,
                 help="API base (default https://api.june.so); http:// only for loopback."),
    click.option("--api-key-file", envvar="JUNE_API_KEY_FILE", show_envvar=True,
                 type=click.Path(path_type=Path, dir_okay=False),
                 help="File holding the API key (or set JUNE_API_KEY; never a flag)."),
    click.option("--auth-style", envvar="JUNE_AUTH_STYLE", show_envvar=True,
                 type=click.Choice(["auto", "raw", "basic"]), default="auto", show_default=True,
                 help="auto: find the form June accepts; raw: 'Basic <key>' as June documents; "
                      "basic: 'Basic base64(key:)'."),
    click.option("--rate", envvar="BULK_DELETE_RATE", show_envvar=True,
                 type=Finite(0.01, 10_000), default=10.0, show_default=True,
                 help="Requests per second, all endpoints together, never exceeded."),
    click.option("--concurrency", envvar="BULK_DELETE_CONCURRENCY", show_envvar=True,
                 type=NumberOrAuto(), default="auto", metavar="N|auto", show_default=True,
                 help="Requests in flight at most; auto sizes them from June's latency so "
                      "that --rate is kept (up to 256)."),
    click.option("--timeout", type=Finite(0.1, 3600), default=30.0, show_default=True,
                 help="Seconds per request."),
    click.option("--ca-bundle", envvar="SSL_CERT_FILE", show_envvar=True,
                 type=click.Path(path_type=Path), metavar="PATH",
                 help="PEM file of the CAs to trust instead of the system's (a company's "
                      "TLS-inspecting proxy). Proxies: HTTPS_PROXY, NO_PROXY, as curl."),
    click.option("--max-attempts", type=click.IntRange(1, 100), default=6, show_default=True,
                 help="Attempts per ID for transient failures."),
    click.option("--sandbox", is_flag=True,
                 help="Run against a built-in June imitation: nothing real is deleted."),
)

#: How the ID files are read: kind, column, header.
layout = stack(
    click.option("--kind", envvar="BULK_DELETE_KIND", show_envvar=True,
                 type=click.Choice(["user", "group"]), default="user", show_default=True,
                 help="Delete users or groups."),
    click.option("--column", metavar="NAME",
                 help="ID column (default: user_id/group_id, else id, else the only column)."),
    click.option("--no-header", is_flag=True, help="CSV files have no header row."),
)

inputs = stack(
    click.argument("paths", metavar="INPUT...", nargs=-1, required=True),
    layout,
    click.option("--skip-existing", is_flag=True,
                 help="Page June's listing first and skip IDs it already holds a request for."),
)

reporting = stack(
    click.option("--report", type=click.Path(path_type=Path, dir_okay=False),
                 help="Report file: .csv, .parquet, .json or .jsonl "
                      "[default: <checkpoint-dir>/report.csv]."),
    click.option("--pending-ok", is_flag=True, envvar="BULK_DELETE_PENDING_OK", show_envvar=True,
                 help="Exit 0 instead of 3 while June is still working (for schedulers that "
                      "count any non-zero exit as a failure)."),
    click.option("--deadline-hours", type=Finite(0, min_open=True), default=72.0,
                 show_default=True,
                 help="Requests not finished this long after submission are overdue."),
    click.option("--full", is_flag=True,
                 help="Read June's whole listing for every sent ID, also those the state history "
                      "knows finished, even once every ID looked for is found."),
)

#: The key of the IDs' pseudonyms (pseudonyms.py): retain makes them, lookup and submit
#: recognise them.
pseudonym_key = click.option(
    "--pseudonym-key-file", envvar="BULK_DELETE_PSEUDONYM_KEY_FILE", show_envvar=True,
    type=click.Path(path_type=Path, dir_okay=False), metavar="PATH",
    help="File holding the key of the IDs' pseudonyms (16 bytes or more, kept outside the "
         "checkpoint): retain makes them with it, lookup and submit recognise them.")

#: How long the evidence names people, and keeps their rows, once June finished (retain.py).
retention = stack(
    click.option("--pseudonymize-after", envvar="BULK_DELETE_PSEUDONYMIZE_AFTER",
                 show_envvar=True, type=click.IntRange(min=0), metavar="DAYS",
                 help="Replace every ID whose request June finished at least DAYS ago (0: as "
                      "soon as finished) by its keyed pseudonym, in every file that names it."),
    click.option("--erase-after", envvar="BULK_DELETE_ERASE_AFTER", show_envvar=True,
                 type=click.IntRange(min=0), metavar="DAYS",
                 help="Remove the rows of requests June finished at least DAYS ago; the counts "
                      "and the regulator's figures stay."),
    pseudonym_key,
)

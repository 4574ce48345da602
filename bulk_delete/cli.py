"""The ``bulk-delete`` command line: options -> Settings -> one job -> ExitCode."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from bulk_delete import __version__, job, offline, pseudonyms
from bulk_delete.config import Settings, resolve
from bulk_delete.errors import BulkDeleteError, ExitCode
from bulk_delete.logs import configure, get_logger, log_format, redact, set_secrets
from bulk_delete.options import (
    common,
    connection,
    inputs,
    layout,
    pseudonym_key,
    reporting,
    retention,
)
from bulk_delete.present import View
from bulk_delete.retain import Policy
from bulk_delete.sandbox.cli import sandbox


class Terminated(BaseException):
    """SIGTERM outside the event loop: unwind like KeyboardInterrupt does for SIGINT."""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="bulk-delete")
def cli() -> None:
    """Erase users or groups from June (june.so) in bulk, for GDPR/CCPA erasure requests.

    Reads ID files, sends one deletion request per ID within a rate limit,
    checkpoints every outcome so a rerun resumes, and reconciles with June's
    listing into a per-ID report.

    The API key comes from JUNE_API_KEY or a file (--api-key-file), never a flag.
    """


@cli.command()
@inputs
@click.option("--dry-run", is_flag=True,
              help="Read and plan, print what would be sent, send nothing, need no key.")
@pseudonym_key
@connection
@common
@click.pass_context
def submit(ctx: click.Context, /, **params: Any) -> ExitCode:
    """Read, validate, dedupe, skip what the checkpoint holds, and submit the rest.

    Each INPUT is a file or glob (CSV, Parquet, JSON Lines or a JSON array, plain or
    gzip, told by content), or - for standard input, read the same way.

    Example:

        JUNE_API_KEY_FILE=key.txt bulk-delete submit exports/*.csv --kind user

        warehouse-cli query ... | bulk-delete submit - --kind user
    """
    settings = _settings(ctx, params)
    key = _key(params, settings)
    if params["dry_run"]:
        return job.dry_run(settings, _source(params), _view(), key=key)
    return _run(lambda: job.submit(settings, _source(params), _view(),
                                   skip_existing=params["skip_existing"], key=key))


@cli.command()
@inputs
@reporting
@retention
@connection
@common
@click.pass_context
def run(ctx: click.Context, /, **params: Any) -> ExitCode:
    """Submit, then reconcile, then apply the retention policy: the cron default.

    Each INPUT is a file or glob (CSV, Parquet, JSON Lines or a JSON array, plain or
    gzip, told by content), or - for standard input, read the same way.

    Example:

        bulk-delete run sample_data/users.csv --sandbox

        bulk-delete run exports/*.csv --pseudonymize-after 30 --erase-after 730
    """
    settings = _settings(ctx, params)
    return _run(lambda: job.run(settings, _source(params), _view(),
                                skip_existing=params["skip_existing"],
                                checking=_checking(params, settings)))


@cli.command()
@reporting
@retention
@connection
@common
@click.option("--kind", envvar="BULK_DELETE_KIND", type=click.Choice(["user", "group"]),
              help="Check the checkpoint holds this kind (default: the checkpoint's).")
@click.pass_context
def reconcile(ctx: click.Context, /, **params: Any) -> ExitCode:
    """Page June's listing, join it with the checkpoint, write the per-ID report.

    Example:

        bulk-delete reconcile --checkpoint-dir /data/users --report /data/report.parquet
    """
    settings = _settings(ctx, params)
    return _run(lambda: job.reconcile(settings, _view(), checking=_checking(params, settings)))


@cli.command()
@common
@click.pass_context
def status(ctx: click.Context, /, **params: Any) -> ExitCode:
    """What the checkpoint holds, offline: counts by outcome and the last run.

    Example:

        bulk-delete status --checkpoint-dir /data/users
    """
    _view().status(job.status(_settings(ctx, params)))
    return ExitCode.OK


@cli.command()
@click.argument("paths", metavar="[INPUT]...", nargs=-1)
@layout
@click.option("--ids", type=click.IntRange(min=1), metavar="N",
              help="Estimate the time for N IDs [default: the IDs the INPUT files would send, "
                   "else 1,000,000].")
@connection
@common
@click.pass_context
def doctor(ctx: click.Context, /, **params: Any) -> ExitCode:
    """Probe June before deleting anything: read-only, it sends no deletion.

    Finds which form of the key June accepts, reads the listing's first pages
    (where the records are, their fields, page size, paging, how the end is
    signalled, whether every state is listed), the rate-limit headers, the
    latency, and how long the job would take. Keeps the findings in the
    checkpoint manifest. Exit 0: bulk-delete understands the API; 4: something
    looks wrong (the reason is shown); 5: June refused the key.

    Example:

        JUNE_API_KEY_FILE=key.txt bulk-delete doctor exports/*.csv
    """
    settings = _settings(ctx, params)
    source = _source(params) if params["paths"] else None
    return _run(lambda: job.doctor(settings, source, _view(), ids=params["ids"]))


@cli.command()
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False),
              help="Also check this report (or summary, or page) against every one the "
                   "checkpoint recorded, wherever the file is now.")
@click.option("--head", metavar="SHA256",
              help="A head printed by an earlier run and kept elsewhere: it must be on the "
                   "digest record (a record rewritten whole would lose it).")
@common
@click.pass_context
def verify(ctx: click.Context, /, **params: Any) -> ExitCode:
    """Check the checkpoint and its report against their recorded digests, offline.

    Names every file that changed, was truncated or was edited since it was recorded
    (exit 4); exits 0 when every file matches. An input file deleted after it was read is
    named, but is not a failure. No key, no network, no lock.

    Example:

        bulk-delete verify --checkpoint-dir /data/users --head 3f2a9c...
    """
    return job.verify(_settings(ctx, params), _view(), report=params["report"],
                      head=params["head"])


@cli.command()
@click.argument("ids", metavar="ID...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of text.")
@pseudonym_key
@common
@click.pass_context
def lookup(ctx: click.Context, /, **params: Any) -> ExitCode:
    """One ID's story, offline: input file and line, every answer, each state June listed.

    Answers one person or one auditor question without opening a report of millions of
    rows. No API key, no network, no lock. An ID that retain pseudonymized is found with
    the pseudonym key.

    Example:

        bulk-delete lookup usr_5b6762b34f --checkpoint-dir /data/users --json
    """
    settings = _settings(ctx, params)
    return job.lookup(settings, params["ids"], _view(), as_json=params["as_json"],
                      key=_key(params, settings))


@cli.command()
@retention
@common
@click.pass_context
def retain(ctx: click.Context, /, **params: Any) -> ExitCode:
    """Pseudonymize, then erase, the personal data the evidence no longer needs, offline.

    Every ID whose request June finished at least --pseudonymize-after DAYS ago is
    replaced by its keyed pseudonym in the journal, plans, history, acknowledgements,
    report, summary and page; the rows of requests finished at least --erase-after DAYS
    ago are removed, their counts and figures kept. Everything else stays as it is. The
    digest record chains the rewrite, so verify still passes. No API key, no network;
    it takes the lock.

    Example:

        bulk-delete retain --pseudonymize-after 30 --pseudonym-key-file /secrets/ids.key
    """
    settings = _settings(ctx, params)
    return _run(lambda: offline.retain(settings, _view(), _policy(params, settings)))


@cli.command()
@click.argument("ids", metavar="[ID]...", nargs=-1)
@click.option("--outcome", "category", type=click.Choice(["rejected", "missing", "unverified",
                                                          "overdue"]),
              help="Acknowledge every row that needs this attention and nobody acknowledged.")
@click.option("--before", metavar="DATE",
              help="With --outcome: only rows submitted before DATE (YYYY-MM-DD, UTC).")
@click.option("--reason", required=True, metavar="TEXT",
              help="Why this needs nobody any more, for whoever reads the report later.")
@click.option("--by", metavar="NAME", help="Who decides [default: your user name].")
@common
@click.pass_context
def acknowledge(ctx: click.Context, /, **params: Any) -> ExitCode:
    """Record a person's decision on rows that need attention, so exit 4 means news.

    The rows (named IDs, or every row of one --outcome) stay in the report with the
    decision shown (who, when, why); the exit code then counts only attention nobody
    acknowledged: a new rejection still exits 4. Offline; it takes the lock.

    Example:

        bulk-delete acknowledge --outcome rejected --reason "June has no such user"
    """
    settings = _settings(ctx, params)
    return _run(lambda: offline.acknowledge(
        settings, _view(), ids=params["ids"], category=params["category"],
        before=params["before"], reason=params["reason"], by=params["by"]))


cli.add_command(sandbox)


def _settings(ctx: click.Context, params: dict[str, Any]) -> Settings:
    configure(params["log_format"])
    explicit = [name for name in params
                if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)]
    settings = resolve(params, explicit=explicit)
    if settings.api_key is not None:
        set_secrets([settings.api_key.reveal()])
    return settings


def _view() -> View:
    return View(log_format())


def _checking(params: dict[str, Any], settings: Settings) -> job.Checking:
    return job.Checking(report=params["report"], deadline_hours=params["deadline_hours"],
                        pending_ok=params["pending_ok"], full=params["full"],
                        retention=_policy(params, settings))


def _key(params: dict[str, Any], settings: Settings) -> pseudonyms.PseudonymKey | None:
    """The pseudonym key, if given; never inside the checkpoint (or the shards' parent)."""
    path = params.get("pseudonym_key_file")
    if path is None:
        return None
    directory = settings.checkpoint_dir
    return pseudonyms.load(path, [directory, directory.parent] if settings.shard else
                           [directory])


def _policy(params: dict[str, Any], settings: Settings) -> Policy:
    return Policy(pseudonymize_after=params["pseudonymize_after"],
                  erase_after=params["erase_after"], key=_key(params, settings))


def _source(params: dict[str, Any]) -> job.Source:
    return job.Source(paths=params["paths"], column=params["column"],
                      has_header=not params["no_header"])


def _run(make: Callable[[], Coroutine[Any, Any, ExitCode]]) -> ExitCode:
    try:
        return asyncio.run(make())
    finally:
        signal.signal(signal.SIGTERM, _terminate)  # asyncio restored the default on exit


def _terminate(_signum: int, _frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 - one return per way out
    """Entry point: the exit code of the command, errors as one redacted line."""
    signal.signal(signal.SIGTERM, _terminate)
    configure(os.environ.get("BULK_DELETE_LOG_FORMAT", "auto"))  # type: ignore[arg-type]
    try:
        return int(cli.main(args=argv, prog_name="bulk-delete", standalone_mode=False) or 0)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        return _fail(exc.format_message(), ExitCode.USAGE)
    except BulkDeleteError as exc:
        return _fail(str(exc), exc.exit_code)
    except (KeyboardInterrupt, click.Abort):
        return _fail("interrupted; the checkpoint is consistent, a rerun resumes",
                     ExitCode.INTERRUPTED)
    except Terminated:
        return _fail("terminated; the checkpoint is consistent, a rerun resumes",
                     ExitCode.TERMINATED)
    except Exception:
        get_logger().exception("bulk_delete.internal_error")
        return _fail("internal error (a bug): see the traceback above", ExitCode.INTERNAL)


def _fail(message: str, code: ExitCode) -> int:
    """One line on stderr: plain text for people, a JSON event for log collectors."""
    message = redact(message)
    if log_format() == "json":
        get_logger().error("bulk_delete.failed", message=message, exit_code=int(code))
    else:
        click.echo(f"bulk-delete: {message}", err=True)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())

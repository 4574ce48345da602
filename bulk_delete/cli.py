"""The ``bulk-delete`` command line: options -> Settings -> one job -> ExitCode."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from bulk_delete import __version__, job
from bulk_delete.config import Settings, resolve
from bulk_delete.errors import BulkDeleteError, ExitCode
from bulk_delete.logs import configure, get_logger, log_format, redact, set_secrets
from bulk_delete.sandbox.cli import sandbox

F = TypeVar("F", bound=Callable[..., Any])


class Finite(click.FloatRange):
    """A FloatRange that also refuses nan and inf (nan passes every bound check)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class Terminated(BaseException):
    """SIGTERM outside the event loop: unwind like KeyboardInterrupt does for SIGINT."""


def _options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f
    return apply


common = _options(
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

connection = _options(
    click.option("--api-url", envvar="JUNE_API_URL", show_envvar=True,
                 help="API base (default https://api.june.so); http:// only for loopback."),
    click.option("--api-key-file", envvar="JUNE_API_KEY_FILE", show_envvar=True,
                 type=click.Path(path_type=Path, dir_okay=False),
                 help="File holding the API key (or set JUNE_API_KEY; never a flag)."),
    click.option("--auth-style", envvar="JUNE_AUTH_STYLE", show_envvar=True,
                 type=click.Choice(["raw", "basic"]), default="raw", show_default=True,
                 help="raw: 'Basic <key>' as June documents; basic: 'Basic base64(key:)'."),
    click.option("--rate", envvar="BULK_DELETE_RATE", show_envvar=True,
                 type=Finite(0.01, 10_000), default=10.0, show_default=True,
                 help="Requests per second, all endpoints together, never exceeded."),
    click.option("--concurrency", envvar="BULK_DELETE_CONCURRENCY", show_envvar=True,
                 type=click.IntRange(1, 1000), default=16, show_default=True,
                 help="Requests in flight at most."),
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

inputs = _options(
    click.argument("paths", metavar="INPUT...", nargs=-1, required=True),
    click.option("--kind", envvar="BULK_DELETE_KIND", show_envvar=True,
                 type=click.Choice(["user", "group"]), default="user", show_default=True,
                 help="Delete users or groups."),
    click.option("--column", metavar="NAME",
                 help="ID column (default: user_id/group_id, else id, else the only column)."),
    click.option("--no-header", is_flag=True, help="CSV files have no header row."),
    click.option("--skip-existing", is_flag=True,
                 help="Page June's listing first and skip IDs it already holds a request for."),
)

reporting = _options(
    click.option("--report", type=click.Path(path_type=Path, dir_okay=False),
                 help="Report file: .csv, .parquet, .json or .jsonl "
                      "[default: <checkpoint-dir>/report.csv]."),
    click.option("--pending-ok", is_flag=True, envvar="BULK_DELETE_PENDING_OK", show_envvar=True,
                 help="Exit 0 instead of 3 while June is still working (for schedulers that "
                      "count any non-zero exit as a failure)."),
    click.option("--deadline-hours", type=Finite(0, min_open=True), default=72.0,
                 show_default=True,
                 help="Requests not finished this long after submission are overdue."),
)


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
@connection
@common
@click.pass_context
def submit(ctx: click.Context, /, **params: Any) -> ExitCode:
    """Read, validate, dedupe, skip what the checkpoint holds, and submit the rest.

    Example:

        JUNE_API_KEY_FILE=key.txt bulk-delete submit exports/*.csv --kind user
    """
    settings = _settings(ctx, params)
    if params["dry_run"]:
        return job.dry_run(settings, _source(params))
    source = _source(params)
    return _run(lambda: job.submit(settings, source, skip_existing=params["skip_existing"]))


@cli.command()
@inputs
@reporting
@connection
@common
@click.pass_context
def run(ctx: click.Context, /, **params: Any) -> ExitCode:
    """Submit, then reconcile: the cron default.

    Example:

        bulk-delete run sample_data/users.csv --sandbox
    """
    settings = _settings(ctx, params)
    return _run(lambda: job.run(settings, _source(params), skip_existing=params["skip_existing"],
                                checking=_checking(params)))


@cli.command()
@reporting
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
    return _run(lambda: job.reconcile(settings, checking=_checking(params)))


@cli.command()
@common
@click.pass_context
def status(ctx: click.Context, /, **params: Any) -> ExitCode:
    """What the checkpoint holds, offline: counts by outcome and the last run.

    Example:

        bulk-delete status --checkpoint-dir /data/users
    """
    return job.status(_settings(ctx, params))


cli.add_command(sandbox)


def _settings(ctx: click.Context, params: dict[str, Any]) -> Settings:
    configure(params["log_format"])
    explicit = [name for name in params
                if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)]
    settings = resolve(params, explicit=explicit)
    if settings.api_key is not None:
        set_secrets([settings.api_key.reveal()])
    return settings


def _checking(params: dict[str, Any]) -> job.Checking:
    return job.Checking(report=params["report"], deadline_hours=params["deadline_hours"],
                        pending_ok=params["pending_ok"])


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

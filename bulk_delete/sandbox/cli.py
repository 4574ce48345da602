"""``bulk-delete sandbox``: run the June-compatible server until SIGINT or SIGTERM.

The option defaults (and the choices of the variant knobs) are read from
:class:`SandboxConfig`, so help and code cannot disagree. Knobs without a flag
(``retry_after``, ``body_style``, ``outage``, ...) are set at runtime with
``POST /_sandbox/config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import click

from bulk_delete.sandbox.config import SandboxConfig, knob_types
from bulk_delete.sandbox.server import SandboxServer

_DEFAULTS = SandboxConfig()
_SHARE = click.FloatRange(0.0, 1.0)
_SECONDS = click.FloatRange(min=0.0)
T = TypeVar("T")


def _choice(flag: str, help_text: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """An option for a knob with a few possible values, listed from its type."""
    name = flag.removeprefix("--").replace("-", "_")
    choices = typing.get_args(knob_types()[name])
    return click.option(
        flag,
        type=click.Choice(choices),
        default=getattr(_DEFAULTS, name),
        show_default=True,
        help=help_text,
    )


def _comma_list(value: str) -> tuple[str, ...]:
    """``"a, b"`` as ``("a", "b")``; :class:`SandboxConfig` says whether the names are right."""
    return tuple(part.strip() for part in value.split(","))


class ListenError(click.ClickException):
    """The address cannot be bound; a configuration error (exit 2), not a bug."""

    exit_code = 2


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM certificate (chain) to serve HTTPS with; needs --tls-key.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM private key of --tls-cert.",
)
@click.option(
    "--api-key",
    default=_DEFAULTS.api_key,
    show_default=True,
    help="Key clients must send. A sandbox key, not a secret.",
)
@_choice("--auth-style", "raw: 'Basic <key>'; basic: 'Basic base64(key:)'; any: either.")
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    default=None,
    show_default="no limit",
    help="Requests per second over all endpoints; above it, 429 with Retry-After.",
)
@_choice(
    "--limiter",
    "How the limit counts: sliding 1 s window; strict also counts refusals; "
    "fixed whole clock seconds (up to 2x the limit across a boundary).",
)
@_choice(
    "--rate-limit-headers",
    "X-RateLimit-* (x) or IETF RateLimit and RateLimit-Policy (ietf) headers on every "
    "answer, Reset and t in seconds from now; sent only with --rate-limit.",
)
@click.option(
    "--page-size",
    type=click.IntRange(min=1),
    default=_DEFAULTS.page_size,
    show_default=True,
    help="Records per listing page.",
)
@_choice(
    "--paging",
    "page: ?page=N and has_more; cursor: next_cursor, asked as ?cursor=; "
    "next: next as an absolute URL in the body; link: the HTTP Link header's rel=\"next\". "
    "All but page ignore ?page=.",
)
@_choice("--shape", "Listing pages as flat records under data, or JSON:API resources.")
@click.option(
    "--unfiltered-states",
    callback=lambda _ctx, _param, value: _comma_list(value),
    default=",".join(_DEFAULTS.unfiltered_states),
    show_default=True,
    help="Comma list: the states a listing without ?state= shows.",
)
@_choice(
    "--duplicate-status",
    "Answer to a POST for a subject already requested: 200 with "
    "that request, or 409 saying it exists.",
)
@_choice("--idempotency", "honour: a POST repeating an Idempotency-Key gets the first answer.")
@click.option(
    "--latency-ms",
    type=_SECONDS,
    default=_DEFAULTS.latency_ms,
    show_default=True,
    help="Delay added to every API request.",
)
@click.option(
    "--fail-rate",
    type=_SHARE,
    default=_DEFAULTS.fail_rate,
    show_default=True,
    help="Share of requests answered 500/502/503.",
)
@click.option(
    "--reset-rate",
    type=_SHARE,
    default=_DEFAULTS.reset_rate,
    show_default=True,
    help="Share of requests whose connection is dropped with no answer.",
)
@click.option(
    "--reset-after-share",
    type=_SHARE,
    default=_DEFAULTS.reset_after_share,
    show_default=True,
    help="Share of those drops made after the request was applied (the answer is lost).",
)
@click.option(
    "--hang-rate",
    type=_SHARE,
    default=_DEFAULTS.hang_rate,
    show_default=True,
    help="Share of requests answered only after --hang-seconds.",
)
@click.option(
    "--hang-seconds",
    type=_SECONDS,
    default=_DEFAULTS.hang_seconds,
    show_default=True,
    help="How long a hung request waits.",
)
@click.option(
    "--start-after",
    type=_SECONDS,
    default=_DEFAULTS.start_after,
    show_default=True,
    help="Seconds until a request moves from 'requested' to 'started'.",
)
@click.option(
    "--finish-after",
    type=_SECONDS,
    default=_DEFAULTS.finish_after,
    show_default=True,
    help="Seconds until a request is 'finished'.",
)
@click.option(
    "--seed",
    type=int,
    default=_DEFAULTS.seed,
    show_default=True,
    help="Seed for the fault dice and request ids, to replay a run.",
)
def sandbox(host: str, port: int, tls_cert: Path | None, tls_key: Path | None,
            **knobs: object) -> None:
    """Start a June-compatible API server for demos, tests and benchmarks.

    It serves the four deletion endpoints of api.june.so on HTTP (HTTPS with
    --tls-cert and --tls-key) and deletes
    nothing real. GET /_sandbox/stats shows exact counts of what reached it,
    POST /_sandbox/config changes knobs at runtime, POST /_sandbox/reset
    forgets everything. SIGINT or SIGTERM stops it (exit 130 or 143).

    Example:

    \b
        bulk-delete sandbox --port 8080 --rate-limit 50 --fail-rate 0.03 &
        bulk-delete sandbox --port 8081 --paging cursor --shape jsonapi \\
            --duplicate-status 409 --auth-style basic --limiter strict &
        JUNE_API_KEY=sandbox bulk-delete submit ids.csv --api-url http://127.0.0.1:8080
        curl -s http://127.0.0.1:8080/_sandbox/stats
    """
    config = config_from(knobs)
    server = SandboxServer(config, host=host, port=port, ssl_context=_tls(tls_cert, tls_key))
    received = asyncio.run(_serve(server))
    raise SystemExit(128 + received)


def _tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """A server context for HTTPS, or None for plain HTTP."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise click.UsageError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise click.UsageError(f"cannot load --tls-cert {cert} with --tls-key {key}: "
                               f"{getattr(exc, 'strerror', None) or exc}") from None
    return context


def config_from(knobs: Mapping[str, object]) -> SandboxConfig:
    """The config the knob options ask for; ``click.UsageError`` (exit 2) when it is invalid."""
    try:
        return SandboxConfig(**knobs)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


async def _serve(server: SandboxServer) -> signal.Signals:
    """Serve until SIGINT or SIGTERM arrives; return the signal."""
    loop = asyncio.get_running_loop()
    stopping: asyncio.Future[signal.Signals] = loop.create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _resolve, stopping, signum)
    try:
        try:
            await server.start()
        except OSError as exc:
            raise ListenError(f"cannot listen on {server.url}: {exc.strerror or exc}") from None
        key = server.state.config.api_key
        click.echo(
            f"bulk-delete sandbox listening on {server.url} with API key {key!r}: "
            "a test server, nothing real is deleted. Ctrl-C stops it."
        )
        return await stopping
    finally:
        await server.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _resolve(stopping: asyncio.Future[signal.Signals], signum: signal.Signals) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):
        stopping.set_result(signum)

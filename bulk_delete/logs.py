"""Logging: structlog to stderr, JSON lines or console, with the API key redacted.

Event names are namespaced (``bulk_delete.request_failed``). Every line passes
through :func:`redact` after exceptions are formatted, so the key cannot leak
through a message, a field or a traceback.
"""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Iterable
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

LogFormat = Literal["auto", "console", "json"]
REDACTED = "[REDACTED]"

#: Every form in which a configured secret could appear in text.
_secret_forms: list[str] = []
#: The format chosen by the last :func:`configure`.
_chosen: list[Literal["console", "json"]] = ["console"]


def secret_forms(key: str) -> list[str]:
    """The key as typed and as sent in standard Basic auth (``base64(key:)``)."""
    return [key, base64.b64encode(f"{key}:".encode()).decode()]


def set_secrets(keys: Iterable[str]) -> None:
    """Register the secrets to remove from every log line and error message."""
    _secret_forms[:] = sorted({form for key in keys for form in secret_forms(key)}, key=len,
                              reverse=True)


def redact(value: Any) -> Any:
    """``value`` with every registered secret replaced, through dicts, lists and tuples."""
    if isinstance(value, str):
        for form in _secret_forms:
            value = value.replace(form, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def redact_processor(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor form of :func:`redact`."""
    return redact(event_dict)  # type: ignore[no-any-return]


def resolve_format(log_format: LogFormat, stream: TextIO) -> Literal["console", "json"]:
    """``auto`` means console on a terminal and JSON lines everywhere else."""
    if log_format == "auto":
        return "console" if stream.isatty() else "json"
    return log_format


def configure(log_format: LogFormat = "auto", *, stream: TextIO | None = None,
              level: int | None = None) -> Literal["console", "json"]:
    """Set up structlog once per process; returns the format chosen.

    On a console, people read the plan and summaries on stdout, so the log shows
    warnings and errors only; JSON logs carry every event, for collectors.
    """
    stream = stream or sys.stderr
    chosen = resolve_format(log_format, stream)
    if level is None:
        level = logging.INFO if chosen == "json" else logging.WARNING
    renderer: structlog.typing.Processor
    if chosen == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Plain text tracebacks, never with local variables: locals can hold the key.
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    _chosen[0] = chosen
    return chosen


def log_format() -> Literal["console", "json"]:
    """The format in force: ``console`` or ``json``."""
    return _chosen[0]


def get_logger() -> Any:
    """The tool's logger; events are named ``bulk_delete.<what>``."""
    return structlog.get_logger("bulk_delete")

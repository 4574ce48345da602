"""Logging: JSON or console lines, and the key redacted from every one of them."""

from __future__ import annotations

import base64
import io
import json

from bulk_delete.logs import configure, get_logger, redact, set_secrets

KEY = "sk_test_5f2a9c"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_json_off_a_terminal() -> None:
    """Piped to a file or a collector, log lines are JSON."""
    stream = io.StringIO()
    assert configure("auto", stream=stream) == "json"
    get_logger().info("bulk_delete.hello", n=1)
    event = json.loads(stream.getvalue())
    assert (event["event"], event["n"], event["level"]) == ("bulk_delete.hello", 1, "info")
    assert "timestamp" in event


def test_auto_is_console_on_a_terminal() -> None:
    """On a terminal, lines are for people, not JSON."""
    stream = Terminal()
    assert configure("auto", stream=stream) == "console"
    get_logger().info("bulk_delete.quiet", n=1)
    get_logger().warning("bulk_delete.hello", n=1)
    assert "bulk_delete.hello" in stream.getvalue()
    assert "bulk_delete.quiet" not in stream.getvalue()  # stdout already tells people
    assert not stream.getvalue().lstrip().startswith("{")


def test_format_can_be_forced() -> None:
    """--log-format json wins over a terminal."""
    assert configure("json", stream=Terminal()) == "json"


def test_key_is_redacted_everywhere_in_a_line() -> None:
    """The key, raw or base64-encoded as Basic auth sends it, never reaches a log line."""
    stream = io.StringIO()
    configure("json", stream=stream)
    set_secrets([KEY])
    encoded = base64.b64encode(f"{KEY}:".encode()).decode()
    get_logger().warning(f"event with {KEY}", header=f"Basic {encoded}",
                         nested={"deep": [f"x{KEY}y"]})
    line = stream.getvalue()
    assert KEY not in line and encoded not in line
    assert line.count("[REDACTED]") == 3


def test_key_is_redacted_from_tracebacks() -> None:
    """An exception whose message holds the key is logged without it, in both formats."""
    for fmt in ("json", "console"):
        stream = io.StringIO()
        configure(fmt, stream=stream)  # type: ignore[arg-type]
        set_secrets([KEY])
        try:
            raise RuntimeError(f"auth failed for {KEY}")
        except RuntimeError:
            get_logger().exception("bulk_delete.internal_error")
        assert "RuntimeError" in stream.getvalue()
        assert KEY not in stream.getvalue()


def test_redact_leaves_other_text_alone() -> None:
    """Redaction touches only the secret."""
    set_secrets([KEY])
    assert redact({"a": ["plain", 3, None]}) == {"a": ["plain", 3, None]}
    assert redact(f"pre {KEY} post") == "pre [REDACTED] post"

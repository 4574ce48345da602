"""Bodies: JSON objects in, and answers out in the style the config asks for.

June publishes no response shapes, so a client must accept any body; the
``text``, ``empty`` and ``html`` styles let tests prove it does. The ``/_sandbox/*``
control endpoints always answer JSON, whatever the style.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

from aiohttp import web

from bulk_delete.sandbox.config import BodyStyle

_encode = json.JSONEncoder(separators=(",", ":")).encode


def answer(
    style: BodyStyle,
    status: int,
    payload: Mapping[str, object],
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An API answer: ``payload`` as JSON, as ``key=value`` text, as HTML, or an empty body."""
    if style == "json":
        return json_answer(payload, status, headers)
    if style == "text":
        return web.Response(status=status, text=plain(payload), headers=headers)
    if style == "html":
        return web.Response(
            status=status, text=page(payload), content_type="text/html", headers=headers
        )
    return web.Response(status=status, headers=headers)


def error(
    style: BodyStyle, status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An API error answer; in JSON it reads ``{"error": message}``."""
    return answer(style, status, {"error": message}, headers)


def json_answer(
    payload: Mapping[str, object], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``payload`` as compact JSON."""
    body = _encode(payload).encode()
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def plain(payload: Mapping[str, object]) -> str:
    """The text style: ``key=value`` pairs on one line, then one line per listed record.

    >>> plain({"page": 1, "data": [{"id": "r1", "state": "requested"}]})
    'page=1\\nid=r1 state=requested'
    """
    pairs = [f"{key}={value}" for key, value in payload.items() if not isinstance(value, list)]
    rows = [
        plain(item)
        for value in payload.values()
        if isinstance(value, list)
        for item in value
        if isinstance(item, Mapping)
    ]
    return "\n".join([" ".join(pairs), *rows])


def page(payload: Mapping[str, object]) -> str:
    """The html style: the text style inside a web page, as a proxy or a login wall serves it.

    >>> page({"page": 1})
    '<!DOCTYPE html>\\n<html><body><h1>June</h1><pre>page=1</pre></body></html>\\n'
    """
    text = html.escape(plain(payload))
    return f"<!DOCTYPE html>\n<html><body><h1>June</h1><pre>{text}</pre></body></html>\n"


def json_object(body: bytes) -> dict[str, object]:
    """A request body parsed as a JSON object, or ``ValueError``."""
    try:
        document = json.loads(body)
    except ValueError:  # also bad UTF-8
        document = None
    if not isinstance(document, dict):
        raise ValueError("body must be a JSON object")
    return document

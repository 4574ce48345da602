"""What June's answer to one request means: an :class:`Answer` and its :class:`Verdict`.

The client (api.py) turns every response, and every failure to get one, into an
Answer; everything else decides on its verdict, never on status codes or exception
types. Each class of status says why it is final, transient or throttled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum, auto

from bulk_delete.auth import other_form
from bulk_delete.errors import AuthError
from bulk_delete.logs import redact
from bulk_delete.ratelimit import Quota
from bulk_delete.types import AuthStyle

#: Longest server message kept in the journal and report.
MESSAGE_CHARS = 300
#: Phrases (lower case) by which a 4xx says June already holds a request for the ID.
ALREADY_PHRASES = ("already exist", "already requested", "already been requested",
                   "already submitted", "already been submitted", "already pending",
                   "already in progress", "duplicate")


class Verdict(Enum):
    """What an answer means for the ID and for the job."""

    ACCEPTED = auto()
    #: June already holds a request for the ID (a 409, or a 4xx that says so): evidence.
    ALREADY_REQUESTED = auto()
    REJECTED = auto()
    AUTH = auto()
    THROTTLED = auto()
    TRANSIENT = auto()


def verdict(status: int | None, message: str = "") -> Verdict:  # noqa: PLR0911 - one per class
    """Classify an HTTP status (None: no answer at all) and, for a 4xx, its message."""
    if status is None:
        return Verdict.TRANSIENT  # timeout or dropped connection: the request may not have landed
    if 200 <= status < 300:
        return Verdict.ACCEPTED  # the only documented success signal, whatever the body
    if status in (401, 403):
        return Verdict.AUTH  # the key is wrong for every ID alike
    if status == 429:
        return Verdict.THROTTLED  # too fast: slow down, the ID itself is fine
    if status == 408 or status >= 500:
        return Verdict.TRANSIENT  # the server timed out or broke; the same request may pass later
    if 300 <= status < 400:
        return Verdict.TRANSIENT  # a redirect we refuse to follow; retries end in "unavailable"
    if status == 409 or says_already(message):
        return Verdict.ALREADY_REQUESTED  # a repeat (a retry after a lost answer, a rerun)
    return Verdict.REJECTED  # 400, 404, 422...: this ID will never pass as sent


def says_already(message: str) -> bool:
    """Whether a server message says the request exists already (:data:`ALREADY_PHRASES`)."""
    lowered = message.lower()
    return any(phrase in lowered for phrase in ALREADY_PHRASES)


@dataclass(frozen=True, slots=True)
class Answer:
    """June's answer to one request, or what went wrong instead of an answer."""

    status: int | None
    message: str = ""
    retry_after: float | None = None
    body: bytes = b""
    #: The rate limit the answer's headers state, if any.
    quota: Quota | None = None
    #: Where the HTTP Link header says the next page is (``rel="next"``, RFC 8288), resolved
    #: against the request's URL; the header as sent when its URL cannot be read; ``""``
    #: when it names other pages of the listing (first, last, prev) and no next: the last.
    next_link: str | None = None

    @property
    def verdict(self) -> Verdict:
        return verdict(self.status, self.message)

    @property
    def wait(self) -> float | None:
        """Seconds June asks a throttled client to wait: Retry-After, else the quota's reset."""
        if self.retry_after is not None or self.quota is None:
            return self.retry_after
        return self.quota.reset


def auth_error(answer: Answer, style: AuthStyle) -> AuthError:
    """The error that stops the job when June rejects the key, with what to try next.

    A forced form suggests the other one. Under ``auto`` the preflight found a form June
    accepted (or could not tell), so the key itself is the first suspect.
    """
    if style == "auto":
        hint = ("Check the key; if it is right, try each form by hand: --auth-style raw, "
                "then --auth-style basic")
    else:
        other = other_form(style)
        hint = (f"Check the key; if it is right, try --auth-style {other} "
                f"(JUNE_AUTH_STYLE={other}), or auto to find the form June accepts")
    return AuthError(f"June rejected the API key (HTTP {answer.status}: {answer.message}); "
                     f"stopped, nothing marked as failed. {hint}")


def server_message(body: bytes) -> str:
    """A one-line message from an error body: its JSON ``error``/``message`` or its text.

    It goes into the journal and the report, so the key is redacted (a server may echo
    the Authorization header), before the cut, so no piece of it survives a cut.
    """
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "errors"):
            if data.get(key):
                text = data[key] if isinstance(data[key], str) else json.dumps(data[key])
                break
    flat: str = redact(" ".join(text.split()))
    return flat[:MESSAGE_CHARS]

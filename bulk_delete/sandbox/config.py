"""The sandbox's knobs: one frozen value object, replaced whole when a knob changes.

Defaults describe a well-behaved June: no rate limit, no faults, JSON bodies,
pages of 100 numbered ``?page=N``, a request that starts after 5 s and finishes
after 30 s (June promises 72 hours; a demo should not wait that long). Every
fault is opt-in. The variant knobs (``duplicate_status`` to ``limiter``) play the
other choices a real June may have made where its documentation is silent;
their defaults are the choices the sandbox always made.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

AuthStyle = Literal["raw", "basic", "any"]
RetryAfterStyle = Literal["seconds", "date", "none"]
BodyStyle = Literal["json", "text", "empty", "html"]
RequestState = Literal["requested", "started", "finished"]
DuplicateStatus = Literal[200, 409]
Idempotency = Literal["honour", "ignore"]
Paging = Literal["page", "cursor", "next", "link"]
Shape = Literal["flat", "jsonapi"]
RateLimitHeaders = Literal["none", "x", "ietf"]
LimiterKind = Literal["sliding", "strict", "fixed"]

STATES: tuple[RequestState, ...] = ("requested", "started", "finished")


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """Every knob of the sandbox server; invalid combinations raise ``ValueError``."""

    #: The key clients must send; a sandbox key, not a secret.
    api_key: str = "sandbox"
    #: ``raw`` accepts ``Basic <key>``, ``basic`` accepts ``Basic base64(key:)``, ``any`` both.
    auth_style: AuthStyle = "raw"
    #: Requests per second over all API endpoints together; None = no limit.
    rate_limit: int | None = None
    #: How ``rate_limit`` counts: ``sliding`` 1 s window of admitted requests, ``strict`` the
    #: same window counting refused requests too, ``fixed`` windows on whole clock seconds.
    limiter: LimiterKind = "sliding"
    #: Rate-limit headers on every answer that passed the limiter: none, ``X-RateLimit-*``,
    #: or the IETF ``RateLimit`` / ``RateLimit-Policy`` fields. Only sent with a ``rate_limit``.
    rate_limit_headers: RateLimitHeaders = "none"
    #: How a 429 says when to come back: integer seconds, an HTTP-date, or no header at all.
    retry_after: RetryAfterStyle = "seconds"
    #: Records per listing page.
    page_size: int = 100
    #: Serve page 1 whatever ``page`` asks for, like a server that ignores the parameter.
    ignore_page: bool = False
    #: How listings page: ``?page=N`` with ``has_more``; an opaque ``next_cursor`` asked back
    #: as ``?cursor=``; a ``next`` absolute URL in the body; or the HTTP ``Link`` header's
    #: ``rel="next"`` (RFC 8288), nothing in the body. All but ``page`` ignore ``?page=``.
    paging: Paging = "page"
    #: Listing pages as flat records under ``data``, or as JSON:API resources.
    shape: Shape = "flat"
    #: The states a listing shows when no ``?state=`` is given.
    unfiltered_states: tuple[RequestState, ...] = STATES
    #: The answer to a POST for a subject that already has a request: 200 with that request,
    #: or 409 with an error saying it exists. Neither makes a second record.
    duplicate_status: DuplicateStatus = 200
    #: ``honour``: a POST whose ``Idempotency-Key`` was seen before gets the first answer again.
    idempotency: Idempotency = "ignore"
    #: Delay added to every admitted API request, in milliseconds.
    latency_ms: float = 0.0
    #: Further delay added to listing requests only, in milliseconds.
    listing_latency_ms: float = 0.0
    #: Share of admitted requests answered 500, 502 or 503 (the request is not applied).
    fail_rate: float = 0.0
    #: Share of admitted requests whose connection is dropped with no answer.
    reset_rate: float = 0.0
    #: Share of those drops made after the request was applied (its answer lost), the rest
    #: before. A client cannot tell the two apart; half of each makes both common in any
    #: run with drops, as on a real network, where neither is known to dominate.
    reset_after_share: float = 0.5
    #: Share of admitted requests answered only after ``hang_seconds`` (then applied).
    hang_rate: float = 0.0
    #: How long a hung request waits before it is answered.
    hang_seconds: float = 60.0
    #: Seconds after creation at which a request moves from ``requested`` to ``started``.
    start_after: float = 5.0
    #: Seconds after creation at which a request moves from ``started`` to ``finished``.
    finish_after: float = 30.0
    #: Seeds the fault dice and the request ids, so a run can be replayed.
    seed: int = 0
    #: Body of every API answer: JSON, plain text, nothing, or an HTML page (clients must
    #: accept any).
    body_style: BodyStyle = "json"
    #: Body of successful listing pages only, when it differs from ``body_style``: a listing
    #: that is not JSON (a proxy's HTML page, say) while deletions are answered normally.
    listing_body_style: BodyStyle | None = None
    #: Answer every API request 503, like June being down.
    outage: bool = False
    #: Answer every API request 429 (Retry-After as ``retry_after`` says, one second), like
    #: June shedding load whatever the client's rate.
    storm: bool = False
    #: Error answers quote the ``Authorization`` header they got, as careless servers do;
    #: a client must not copy them into logs, journals or reports unredacted.
    echo_key: bool = False
    #: Subjects starting with this are refused 422, like IDs June does not know.
    reject_prefix: str | None = None

    def __post_init__(self) -> None:
        for name, hint in knob_types().items():
            _check_choice(name, hint, getattr(self, name))
        if not self.api_key or any(ch.isspace() for ch in self.api_key):
            raise ValueError("api_key must be a non-empty string without whitespace")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be at least 1, or None for no limit")
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
        for name in ("latency_ms", "listing_latency_ms", "hang_seconds", "start_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.finish_after < self.start_after:
            raise ValueError("finish_after must not be smaller than start_after")
        rates = (self.fail_rate, self.reset_rate, self.hang_rate)
        if any(not 0 <= rate <= 1 for rate in rates) or sum(rates) > 1:
            raise ValueError("fail_rate, reset_rate and hang_rate must be in [0, 1], sum <= 1")
        if not 0 <= self.reset_after_share <= 1:
            raise ValueError("reset_after_share must be in [0, 1]")
        states = self.unfiltered_states
        if not states or len(set(states)) != len(states):
            raise ValueError(f"unfiltered_states must name some of {', '.join(STATES)}, once")

    def updated(self, changes: Mapping[str, object]) -> SandboxConfig:
        """A copy with ``changes`` applied; unknown knobs or wrong types raise ``ValueError``.

        Values come from JSON, so an int is accepted where a float is expected, and a
        list where a tuple is.
        """
        hints = knob_types()
        unknown = sorted(set(changes) - set(hints))
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(unknown)}")
        checked = {name: _coerce(name, hints[name], value) for name, value in changes.items()}
        return dataclasses.replace(self, **checked)

    def as_dict(self) -> dict[str, object]:
        """The knobs as a JSON-ready mapping."""
        return dataclasses.asdict(self)


@cache
def knob_types() -> dict[str, Any]:
    """Field name -> resolved type (the annotations are strings under postponed evaluation)."""
    return typing.get_type_hints(SandboxConfig)


def _check_choice(name: str, hint: Any, value: object) -> None:
    """``ValueError`` when a knob restricted to a few values (or a tuple of them) has another."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and value is not None:
        (hint,) = (arg for arg in args if arg is not type(None))
        _check_choice(name, hint, value)
    elif origin is tuple:
        for item in value if isinstance(value, tuple) else [value]:
            _check_choice(name, args[0], item)
    elif origin is Literal and not any(_same(value, arg) for arg in args):
        raise ValueError(f"{name} must be one of {', '.join(map(str, args))}")


def _same(value: object, choice: object) -> bool:
    """Equal and of the same type: 409.0 and True are not the choices 409 and 1."""
    return type(value) is type(choice) and value == choice


def _coerce(name: str, hint: Any, value: object) -> Any:
    """``value`` converted to the knob's type, or ``ValueError`` naming the knob."""
    origin = typing.get_origin(hint)
    # Only ``X | None`` is used; with a Literal as X, Python makes it a typing.Union.
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        (hint,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
        return _coerce(name, hint, value)
    if origin is Literal:
        _check_choice(name, hint, value)
        return value
    if origin is tuple and isinstance(value, list | tuple):
        item = typing.get_args(hint)[0]
        return tuple(_coerce(name, item, element) for element in value)
    return _scalar(name, hint, value)


def _scalar(name: str, hint: Any, value: object) -> Any:
    """``value`` as the bool, int, float or str the knob takes, or ``ValueError``."""
    if hint is bool and isinstance(value, bool):
        return value
    if hint in (int, float) and isinstance(value, int | float) and not isinstance(value, bool):
        if hint is int and not float(value).is_integer():
            raise ValueError(f"{name} must be an integer")
        return hint(value)
    if hint is str and isinstance(value, str):
        return value
    raise ValueError(f"{name} must be of type {getattr(hint, '__name__', hint)}")

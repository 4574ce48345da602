"""What June's headers say about its rate limit: ``Retry-After`` and the quota fields.

June publishes no rate limit, so every common way of stating one is read:

* ``Retry-After``: delay-seconds or an HTTP date (RFC 9110);
* ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset``, the de-facto trio (no window stated);
* the older IETF trio ``RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (drafts -00 to -06),
  whose Limit may carry windows (``100, 100;w=60``), with ``RateLimit-Policy: 100;w=60``;
* the IETF structured fields of draft-ietf-httpapi-ratelimit-headers (-07 on):
  ``RateLimit-Policy: "default";q=100;w=60`` and ``RateLimit: "default";r=50;t=30``.

Several policies (``"burst";q=100;w=60, "daily";q=1000;w=86400``) come down to the
one with the lowest quota per second, which binds a long job; and to the smallest
remaining count, with its reset. Policy names are taken to hold no comma or semicolon.

A reset is delta-seconds by the drafts, but ``X-RateLimit-Reset`` is an epoch time at
GitHub, Twitter and others. No delay is decades long, so a value of ``EPOCH`` (10^9:
2001-09-09 as epoch seconds, 31 years as a delay) or more is an epoch time, and one of
``EPOCH_MS`` (10^12) or more is epoch milliseconds; the wait is its distance from now.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

#: Resets at or above this are epoch seconds, not a delay.
EPOCH = 1e9
#: Resets at or above this are epoch milliseconds.
EPOCH_MS = 1e12


@dataclass(frozen=True, slots=True)
class Quota:
    """A rate limit as one answer's headers state it; None where they say nothing."""

    #: Requests allowed per window.
    limit: int | None = None
    #: The window in seconds, when stated (IETF ``w``); the ``X-`` trio never states it.
    window: float | None = None
    #: Requests left in the current window.
    remaining: int | None = None
    #: Seconds from the answer until the quota frees up.
    reset: float | None = None


@dataclass(frozen=True, slots=True)
class Limit:
    """A rate limit June stated: ``count`` requests per ``window`` seconds."""

    count: int
    window: float

    @property
    def per_second(self) -> float:
        return self.count / self.window

    def __str__(self) -> str:
        return f"{self.count:,} per {self.window:g} s"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_quota(headers: Mapping[str, str], *, now: float | None = None) -> Quota | None:
    """The quota the headers state (``headers`` looked up case-insensitively), or None."""
    policy, current = headers.get("RateLimit-Policy"), headers.get("RateLimit")
    if current is not None or (policy is not None and "q=" in policy):
        return _structured(policy or "", current or "", now)
    for prefix in ("RateLimit-", "X-RateLimit-"):
        limit = headers.get(prefix + "Limit")
        remaining = headers.get(prefix + "Remaining")
        if limit is not None or remaining is not None:
            stated = _limit_items(f"{limit or ''}, {policy or ''}")
            return Quota(limit=stated[0], window=stated[1], remaining=_count(remaining),
                         reset=_reset(headers.get(prefix + "Reset"), now))
    return None


def _structured(policy: str, current: str, now: float | None) -> Quota:
    """The draft's ``RateLimit-Policy`` (q per w seconds) and ``RateLimit`` (r left, t to go)."""
    quotas = [(q, _number(params.get("w"))) for _, params in _items(policy)
              if (q := _count(params.get("q"))) is not None]
    limit, window = _tightest(quotas)
    left = [(r, _reset(params.get("t"), now)) for _, params in _items(current)
            if (r := _count(params.get("r"))) is not None]
    remaining, reset = min(left, key=lambda pair: (pair[0], -(pair[1] or 0)), default=(None, None))
    return Quota(limit=limit, window=window, remaining=remaining, reset=reset)


def _limit_items(value: str) -> tuple[int | None, float | None]:
    """``100`` or ``100, 100;w=60, 1000;window=3600``: the binding limit, and its window."""
    quotas = [(n, _number(params.get("w", params.get("window"))))
              for head, params in _items(value) if (n := _count(head)) is not None]
    return _tightest(quotas)


def _tightest(quotas: list[tuple[int, float | None]]) -> tuple[int | None, float | None]:
    """The quota with a window that allows the fewest requests per second, else the first."""
    windowed = [(n, w) for n, w in quotas if w]
    if windowed:
        return min(windowed, key=lambda pair: pair[0] / (pair[1] or 1))
    return quotas[0] if quotas else (None, None)


def _items(value: str) -> list[tuple[str, dict[str, str]]]:
    """A structured-field list, simply: ``head;key=value;...`` items between commas."""
    items = []
    for part in value.split(","):
        head, *params = part.split(";")
        named = {}
        for param in params:
            key, _, val = param.partition("=")
            named[key.strip().lower()] = val.strip().strip('"')
        if head.strip() or named:
            items.append((head.strip().strip('"'), named))
    return items


def _number(text: str | None) -> float | None:
    """A finite, non-negative number, or None."""
    try:
        number = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _count(text: str | None) -> int | None:
    number = _number(text)
    return None if number is None else int(number)


def _reset(text: str | None, now: float | None) -> float | None:
    """Seconds until the quota frees up, from delta-seconds or an epoch time (module docstring)."""
    number = _number(text)
    if number is None or number < EPOCH:
        return number
    epoch = number / 1000 if number >= EPOCH_MS else number
    return max(0.0, epoch - (time.time() if now is None else now))


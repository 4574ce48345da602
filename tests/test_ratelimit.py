"""What June's headers say about its rate limit: Retry-After and every style of quota field."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
from multidict import CIMultiDict

from bulk_delete.ratelimit import Quota, parse_quota, parse_retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("header", "seconds"), [
    ("5", 5.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0), (None, None), ("", None),
    ("soon", None),
])
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    """Retry-After as delay-seconds; junk is ignored rather than trusted."""
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date() -> None:
    """Retry-After as an HTTP date counts from now."""
    now = time.time()
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize(("headers", "quota"), [
    ({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "7", "X-RateLimit-Reset": "30"},
     Quota(limit=100, remaining=7, reset=30.0)),
    ({"x-ratelimit-limit": "50", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"},
     Quota(limit=50, remaining=0, reset=1.0)),
    ({"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999",
      "X-RateLimit-Reset": str(int(NOW) + 3599)},
     Quota(limit=5000, remaining=4999, reset=3599.0)),
    ({"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
      "X-RateLimit-Reset": str(int(NOW * 1000) + 2500)},
     Quota(limit=10, remaining=0, reset=2.5)),
    ({"X-RateLimit-Limit": "10", "X-RateLimit-Reset": str(int(NOW) - 60)},
     Quota(limit=10, reset=0.0)),
    ({"X-RateLimit-Remaining": "3"}, Quota(remaining=3)),
    ({"X-RateLimit-Limit": "lots", "X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": "nan"},
     Quota()),
], ids=["x delta", "lower case", "x epoch", "x epoch ms", "x past epoch", "x remaining only",
        "x junk"])
def test_x_ratelimit_trio(headers: dict[str, str], quota: Quota) -> None:
    """X-RateLimit-*: no window; Reset as delta-seconds, or epoch seconds or milliseconds."""
    assert parse_quota(CIMultiDict(headers), now=NOW) == quota


@pytest.mark.parametrize(("headers", "quota"), [
    ({"RateLimit-Policy": '"default";q=100;w=60', "RateLimit": '"default";r=50;t=30'},
     Quota(limit=100, window=60.0, remaining=50, reset=30.0)),
    ({"ratelimit-policy": '"burst";q=100;w=60, "daily";q=1000;w=86400',
      "ratelimit": '"burst";r=0;t=10, "daily";r=900;t=5000'},
     Quota(limit=1000, window=86400.0, remaining=0, reset=10.0)),
    ({"RateLimit": '"default";r=3;t=1'}, Quota(remaining=3, reset=1.0)),
    ({"RateLimit-Policy": '"default";q=50;w=1'}, Quota(limit=50, window=1.0)),
    ({"RateLimit-Policy": "default;q=20;w=2", "RateLimit": "default;r=junk;t=1"},
     Quota(limit=20, window=2.0)),
], ids=["one policy", "two policies", "no policy", "policy only", "tokens and junk"])
def test_ietf_structured_fields(headers: dict[str, str], quota: Quota) -> None:
    """RateLimit-Policy q per w seconds, the tightest per second; RateLimit r left, t to go."""
    assert parse_quota(CIMultiDict(headers), now=NOW) == quota


@pytest.mark.parametrize(("headers", "quota"), [
    ({"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "5"},
     Quota(limit=100, remaining=0, reset=5.0)),
    ({"RateLimit-Limit": "100, 100;w=60, 1000;window=3600", "RateLimit-Remaining": "9"},
     Quota(limit=1000, window=3600.0, remaining=9)),
    ({"RateLimit-Limit": "10", "RateLimit-Policy": "10;w=1", "RateLimit-Remaining": "4",
      "RateLimit-Reset": "1"}, Quota(limit=10, window=1.0, remaining=4, reset=1.0)),
], ids=["plain", "windows in limit", "old policy"])
def test_older_ietf_trio(headers: dict[str, str], quota: Quota) -> None:
    """The drafts' RateLimit-Limit/-Remaining/-Reset, with windows in Limit or Policy."""
    assert parse_quota(CIMultiDict(headers), now=NOW) == quota


def test_no_rate_limit_headers() -> None:
    """An answer that states no limit has no quota, not an empty one."""
    assert parse_quota(CIMultiDict({"Retry-After": "3", "Content-Type": "text/plain"})) is None

"""Configuration: where the key comes from, where it may go, and that it never shows."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from bulk_delete.config import check_api_url, load_api_key, resolve
from bulk_delete.errors import UsageError
from bulk_delete.types import Secret


def test_secret_never_shows_itself() -> None:
    """repr, str and f-strings of a Secret hide the key; only reveal() gives it."""
    secret = Secret("sk_live_abc")
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", str([secret])]
    assert all("sk_live_abc" not in text for text in shown)
    assert secret.reveal() == "sk_live_abc"


def test_secret_cannot_be_pickled() -> None:
    """A Secret cannot slip into a pickle (a cache, a multiprocessing queue)."""
    with pytest.raises(TypeError):
        pickle.dumps(Secret("k"))


def test_key_from_environment() -> None:
    """JUNE_API_KEY is read and trimmed."""
    key = load_api_key({"JUNE_API_KEY": " k1 \n"}, None)
    assert key is not None and key.reveal() == "k1"


def test_key_from_file(tmp_path: Path) -> None:
    """A key file is read and its trailing newline dropped."""
    path = tmp_path / "key"
    path.write_text("k2\n")
    key = load_api_key({}, path)
    assert key is not None and key.reveal() == "k2"


def test_both_key_sources_are_refused(tmp_path: Path) -> None:
    """Setting the key twice is ambiguous and refused."""
    path = tmp_path / "key"
    path.write_text("k2")
    with pytest.raises(UsageError, match="both JUNE_API_KEY and an API key file"):
        load_api_key({"JUNE_API_KEY": "k1"}, path)


@pytest.mark.parametrize(("content", "message"), [
    ("", "is empty"),
    ("   \n", "is empty"),
    ("two sekrit", "whitespace or control characters"),
    ("k\x00", "whitespace or control characters"),
], ids=["empty", "blank", "spaces", "nul"])
def test_bad_key_files(tmp_path: Path, content: str, message: str) -> None:
    """An empty key or one with spaces inside is refused, without echoing it."""
    path = tmp_path / "key"
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as caught:
        load_api_key({}, path)
    assert "sekrit" not in str(caught.value)


def test_missing_key_file(tmp_path: Path) -> None:
    """A key file that does not exist is named in the error."""
    with pytest.raises(UsageError, match=r"cannot read API key file .*nope"):
        load_api_key({}, tmp_path / "nope")


def test_no_key_is_none_until_required() -> None:
    """Without a key, settings still resolve (dry runs need none); require_key says how."""
    settings = resolve({}, env={})
    assert settings.api_key is None
    with pytest.raises(UsageError, match="no API key: set JUNE_API_KEY"):
        settings.require_key()


@pytest.mark.parametrize("url", [
    "https://api.june.so", "https://api.june.so/", "http://127.0.0.1:8080",
    "http://localhost:1", "http://[::1]:9", "http://127.5.5.5",
])
def test_accepted_api_urls(url: str) -> None:
    """HTTPS anywhere, plain HTTP on loopback only."""
    assert check_api_url(url) == url.rstrip("/")


@pytest.mark.parametrize(("url", "message"), [
    ("http://api.june.so", "refusing plain http:// to api.june.so"),
    ("http://10.0.0.5:8080", "refusing plain http://"),
    ("ftp://api.june.so", "must be an http"),
    ("api.june.so", "must be an http"),
    ("https://user:pw@api.june.so", "must not hold credentials"),
])
def test_refused_api_urls(url: str, message: str) -> None:
    """The key never crosses a network unencrypted, or goes to a malformed place."""
    with pytest.raises(UsageError, match=message):
        check_api_url(url)


def test_resolve_keeps_options_and_explicit_names() -> None:
    """Parsed options land in Settings; unset ones keep their defaults."""
    settings = resolve({"rate": 3.0, "kind": "group", "concurrency": None}, env={},
                       explicit=["rate"])
    assert (settings.rate, settings.kind, settings.concurrency) == (3.0, "group", "auto")
    assert settings.explicit == {"rate"}
    assert settings.api_host == "https://api.june.so"

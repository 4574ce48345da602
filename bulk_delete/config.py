"""Settings, resolved once: flags beat environment variables beat defaults.

Click parses flags and their variables (each option names its ``envvar``); this
module adds what click cannot know: where the API key comes from, which URLs may
receive it, and the checks that span several options.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bulk_delete import shards
from bulk_delete.errors import UsageError
from bulk_delete.network import checked_ca_bundle, is_loopback
from bulk_delete.types import AuthStyle, Concurrency, Kind, Secret

DEFAULT_API_URL = "https://api.june.so"
#: Recorded as the API host of a job run against the built-in sandbox.
SANDBOX_HOST = "sandbox"
KEY_VARIABLE = "JUNE_API_KEY"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a command needs, validated."""

    kind: Kind = "user"
    checkpoint_dir: Path = Path("bulk-delete-state")
    api_url: str = DEFAULT_API_URL
    api_key: Secret | None = None
    auth_style: AuthStyle = "auto"
    rate: float = 10.0
    #: Requests in flight at most, or ``auto``: sized from June's latency (inflight.py).
    concurrency: Concurrency = "auto"
    max_attempts: int = 6
    timeout: float = 30.0
    #: PEM file of the CAs to trust instead of the system's (a company's TLS-inspecting proxy).
    ca_bundle: Path | None = None
    #: Run against the built-in sandbox instead of June.
    sandbox: bool = False
    #: This process's part of a sharded job: (K, N), 1-based; None when not sharded.
    shard: tuple[int, int] | None = None
    #: Options the user set, by flag or variable; the rest are defaults.
    explicit: frozenset[str] = frozenset()

    @property
    def api_host(self) -> str:
        """Scheme, host and port of the API (or "sandbox"), as the checkpoint manifest holds it."""
        if self.sandbox:
            return SANDBOX_HOST
        parts = urlsplit(self.api_url)
        return f"{parts.scheme}://{parts.netloc}"

    def require_key(self) -> Secret:
        """The API key, or a usage error that says how to provide one."""
        if self.api_key is None:
            raise UsageError(
                f"no API key: set {KEY_VARIABLE}, or JUNE_API_KEY_FILE / --api-key-file "
                "to a file holding it"
            )
        return self.api_key


def claims(settings: Settings, *, create: bool) -> tuple[Kind | None, str | None]:
    """The kind and API host a command holds a checkpoint's manifest to; None takes the manifest's.

    submit and run create jobs, so they insist on theirs, defaults too; reconcile and
    status insist only on what the user set.
    """
    explicit = settings.explicit | ({"kind", "api_url"} if create else set())
    kind = settings.kind if "kind" in explicit else None
    host = settings.api_host if "api_url" in explicit or settings.sandbox else None
    return kind, host


def for_job(settings: Settings, *, kind: Kind, api_host: str, directory: Path) -> Settings:
    """The settings for working on an existing job: its kind, and its API unless one is given."""
    if api_host == SANDBOX_HOST and not settings.sandbox:
        raise UsageError(f"{directory} holds a sandbox job; add --sandbox")
    effective = replace(settings, kind=kind)
    if "api_url" not in settings.explicit and api_host != SANDBOX_HOST:
        effective = replace(effective, api_url=api_host)
    return effective


def check_api_url(url: str) -> str:
    """The URL without a trailing slash, if the key may be sent there; else a usage error."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise UsageError(f"--api-url {url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--api-url must be an http(s) URL with a host, not {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("--api-url must not hold credentials, a query or a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"refusing plain http:// to {parts.hostname}: the API key would cross the "
            "network unencrypted; use https:// (http:// is allowed for loopback only)"
        )
    return url.rstrip("/")


def load_api_key(env: Mapping[str, str], key_file: Path | None) -> Secret | None:
    """The key from ``JUNE_API_KEY`` or from a file, never both; None when neither is set."""
    from_env = env.get(KEY_VARIABLE)
    if from_env is not None and key_file is not None:
        raise UsageError(
            f"both {KEY_VARIABLE} and an API key file are set: keep one, so it is clear "
            "which key is used"
        )
    if key_file is not None:
        try:
            raw = key_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"cannot read API key file {key_file}: {reason}") from None
        return _checked_key(raw.strip(), f"API key file {key_file}")
    if from_env is not None:
        return _checked_key(from_env.strip(), KEY_VARIABLE)
    return None


def _checked_key(key: str, source: str) -> Secret:
    if not key:
        raise UsageError(f"{source} is empty")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise UsageError(f"{source} holds whitespace or control characters; it must be one key")
    return Secret(key)


def resolve(options: Mapping[str, Any], *, env: Mapping[str, str] | None = None,
            explicit: Iterable[str] = ()) -> Settings:
    """Settings from parsed options (flags, or their variables) plus the key from the environment.

    ``explicit`` names the options the user set (by flag or variable): commands
    that work on an existing checkpoint take the others from its manifest.
    """
    env = os.environ if env is None else env
    fields = {name: options[name] for name in _OPTION_FIELDS if options.get(name) is not None}
    shard = _shard(options.get("shard"), options.get("shards"), env)
    if shard is not None:
        # Each of N processes gets its own checkpoint and a 1/N share of --rate.
        index, count = shard
        fields["checkpoint_dir"] = (Path(fields.get("checkpoint_dir", Settings.checkpoint_dir))
                                    / f"shard-{index}-of-{count}")
        fields["rate"] = fields.get("rate", Settings.rate) / count
    return Settings(
        **fields,
        shard=shard,
        api_url=check_api_url(options.get("api_url") or DEFAULT_API_URL),
        api_key=load_api_key(env, options.get("api_key_file")),
        ca_bundle=checked_ca_bundle(options.get("ca_bundle")),
        explicit=frozenset(explicit),
    )


def _shard(shard: str | None, count: int | None,
           env: Mapping[str, str]) -> tuple[int, int] | None:
    if shard is not None and count is not None:
        raise UsageError("use --shard K/N or --shards N (with JOB_COMPLETION_INDEX), not both")
    if shard is not None:
        return shards.parse(shard)
    if count is not None:
        return shards.from_job_index(count, env.get("JOB_COMPLETION_INDEX"))
    return None


_OPTION_FIELDS = ("kind", "checkpoint_dir", "auth_style", "rate", "concurrency", "max_attempts",
                  "timeout", "sandbox")

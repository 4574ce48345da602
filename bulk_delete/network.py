"""The way to June through a company network: which proxy, which CAs, and what a failure means.

Proxies come from the environment as curl and pip read it:

    https URL   https_proxy, HTTPS_PROXY, then all_proxy, ALL_PROXY (the lower case wins)
    http URL    http_proxy, HTTP_PROXY, then all_proxy, ALL_PROXY
    NO_PROXY    no_proxy or NO_PROXY: "*" for every host, else host names (each covers its
                subdomains; a leading "." or "*." changes nothing), IP addresses or CIDR
                ranges, each with an optional ":port", separated by commas or spaces

A proxy URL without a scheme is an HTTP proxy (``proxy:3128``); its credentials
(``http://user:password@proxy:3128``) go to the proxy alone and never into a log line or
an error. A CA bundle, when given, replaces the system's CAs, as ``curl --cacert``,
``pip --cert`` and OpenSSL's own ``SSL_CERT_FILE`` do; certificates are always verified.

aiohttp's ``trust_env`` stays off: it also reads ``~/.netrc``, and an entry for the API host
there would either replace the key's Authorization header or fail every request
("Cannot combine AUTHORIZATION header with AUTH argument"); it ignores ALL_PROXY too.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from yarl import URL

from bulk_delete.errors import NetworkError, UsageError

#: The variables that name a proxy for a URL scheme, in the order they are read.
PROXY_VARIABLES = {
    "https": ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"),
    "http": ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"),
}
NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")
#: OpenSSL's verify codes for a certificate that does not name the host:
#: X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH.
MISMATCH = (62, 64)
CA_HINT = "give your company's CA bundle with --ca-bundle or SSL_CERT_FILE"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP addresses, where plain HTTP stays on the machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Proxy:
    """A forward proxy as one variable names it; ``str()`` shows it without credentials."""

    #: The proxy's origin, without credentials: ``http://proxy:3128``.
    url: str
    #: The variable it came from: ``HTTPS_PROXY``.
    variable: str
    #: ``Proxy-Authorization`` from the proxy URL's user and password, sent to the proxy only.
    authorization: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"{self.url} (from {self.variable})"

    def listens_at(self, host: str, port: int | None) -> bool:
        """Whether ``host:port`` is this proxy (a connection error names where it failed)."""
        url = URL(self.url)
        return (url.host, url.port) == (host, port)


def proxy_for(url: str, env: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy that requests to ``url`` go through; None when they go direct."""
    env = os.environ if env is None else env
    target = URL(url)
    host = target.host or ""
    # Loopback never goes through a proxy, whatever the variables say (Go's net/http makes
    # the same exception for localhost): the sandbox and the tests live there, and a proxy
    # elsewhere could not reach this machine's loopback anyway.
    if is_loopback(host) or bypassed(host, target.port, _first(env, NO_PROXY_VARIABLES)):
        return None
    for variable in PROXY_VARIABLES.get(target.scheme, ()):
        if env.get(variable, "").strip():
            return _parse_proxy(env[variable].strip(), variable)
    return None


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether a NO_PROXY value sends ``host:port`` direct (the rules in the module docstring)."""
    host = host.lower().rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = (
            ipaddress.ip_address(host))
    except ValueError:
        address = None
    for entry in no_proxy.lower().replace(",", " ").split():
        if entry == "*":
            return True
        name, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None and _in_network(address, name):
            return True
        name = name.removeprefix("*").strip(".")
        if address is None and name and (host == name or host.endswith("." + name)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port`` or a bare name, address or range (IPv6 has many colons)."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return name, int(port) if port.isdigit() else None
    name, colon, port = entry.rpartition(":")
    if colon and ":" not in name and port.isdigit():
        return name, int(port)
    return entry, None


def _in_network(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    try:
        return address in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str:
    return next((env[name] for name in names if env.get(name, "").strip()), "")


def _parse_proxy(value: str, variable: str) -> Proxy:
    if "://" not in value:
        value = "http://" + value  # curl and pip read a bare host:port as an HTTP proxy
    try:
        url = URL(value)
        url.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        # The value itself is not shown: it may hold the proxy's password.
        raise UsageError(f"{variable} is not a valid proxy URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"{variable}: only http:// and https:// proxies are supported, "
                         f"not {url.scheme}://")
    authorization = None
    if url.user is not None or url.password is not None:
        token = base64.b64encode(f"{url.user or ''}:{url.password or ''}".encode()).decode()
        authorization = f"Basic {token}"
    return Proxy(str(url.origin()), variable, authorization)


@functools.lru_cache(maxsize=8)
def ssl_context(ca_bundle: Path) -> ssl.SSLContext:
    """A verifying client context that trusts the CAs in ``ca_bundle`` and no others.

    Cached: loading a bundle costs ~50 ms, and the settings check it before the client uses it.
    """
    try:
        context = ssl.create_default_context(cafile=str(ca_bundle))
    except ssl.SSLError as exc:  # before OSError, of which it is a kind
        raise UsageError(f"CA bundle {ca_bundle} holds no usable PEM certificate "
                         f"({exc.reason or exc.library or 'unreadable'})") from None
    except OSError as exc:
        raise UsageError(f"cannot read CA bundle {ca_bundle}: {exc.strerror or exc}") from None
    context.set_alpn_protocols(["http/1.1"])  # as aiohttp's own contexts: it speaks HTTP/1.1
    return context


def checked_ca_bundle(ca_bundle: Path | None) -> Path | None:
    """``ca_bundle`` once it loads as a CA bundle; a usage error (exit 2) when it does not."""
    if ca_bundle is not None:
        ssl_context(ca_bundle)
    return ca_bundle


@dataclass(frozen=True, slots=True)
class Route:
    """How requests reach the API: through which proxy (None: direct), trusting which CAs."""

    proxy: Proxy | None = None
    ca_bundle: Path | None = None

    def describe(self) -> dict[str, str]:
        """``proxy`` and ``ca`` as people read them, with no credentials in either."""
        return {"proxy": "none (direct)" if self.proxy is None else str(self.proxy),
                "ca": "system default" if self.ca_bundle is None else str(self.ca_bundle)}

    def failure(self, exc: aiohttp.ClientError) -> str:
        """A one-line message for a request that got no answer, saying what to do.

        Raises NetworkError where no retry can help: an untrusted certificate, or a proxy
        that refuses us (407, 403). Any other failure may heal and is retried.
        """
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            raise NetworkError(self._untrusted(exc))
        proxy = self.proxy
        if proxy is not None and isinstance(exc, aiohttp.ClientHttpProxyError):
            return self._refused(exc, proxy)
        if (proxy is not None and isinstance(exc, aiohttp.ClientConnectorError)
                and proxy.listens_at(exc.host, exc.port)):
            return (f"cannot reach proxy {proxy}: {exc.os_error.strerror or exc.os_error}; "
                    f"check {proxy.variable}, or list the API host in NO_PROXY")
        if isinstance(exc, aiohttp.ClientSSLError):
            return f"TLS handshake with {exc.host} failed: {exc.os_error}"
        return f"connection failed: {type(exc).__name__}"

    def _untrusted(self, exc: aiohttp.ClientConnectorCertificateError) -> str:
        cause = exc.certificate_error
        reason = (getattr(cause, "verify_message", None) or str(cause)).rstrip(".")
        if getattr(cause, "verify_code", None) in MISMATCH:
            return f"TLS certificate of {exc.host} is for another host ({reason}): check --api-url"
        via = "" if self.proxy is None else f", reached through proxy {self.proxy}"
        if self.ca_bundle is None:
            return f"TLS certificate of {exc.host} not trusted ({reason}{via}): {CA_HINT}"
        return (f"TLS certificate of {exc.host} not trusted by CA bundle {self.ca_bundle} "
                f"({reason}{via}): give the bundle that holds your company's CA")

    @staticmethod
    def _refused(exc: aiohttp.ClientHttpProxyError, proxy: Proxy) -> str:
        answer = f"HTTP {exc.status} {exc.message}".strip()
        host = exc.request_info.url.host
        if exc.status == 407 and proxy.authorization is None:
            raise NetworkError(f"proxy {proxy} asks for credentials ({answer}): put them in "
                               f"{proxy.variable} as http://USER:PASSWORD@host:port")
        if exc.status == 407:
            raise NetworkError(f"proxy {proxy} refused its credentials ({answer}): check the "
                               f"user and password in {proxy.variable}")
        if exc.status == 403:
            raise NetworkError(f"proxy {proxy} refused the tunnel to {host} ({answer}): ask for "
                               f"{host} to be allowed, or list it in NO_PROXY if it is reachable "
                               "directly")
        return f"proxy {proxy} answered {answer} to the tunnel to {host}"


def route_for(api_url: str, ca_bundle: Path | None,
              env: Mapping[str, str] | None = None) -> Route:
    """The route requests to ``api_url`` take, from the environment (or ``env``)."""
    return Route(proxy_for(api_url, env), ca_bundle)


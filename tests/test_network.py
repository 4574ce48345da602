"""Proxies and company CAs: the variables read as curl reads them, TLS and proxies on real sockets.

The API host behind a proxy is ``june.test``: it resolves nowhere, so a request that reaches the
sandbox through it went through the proxy (tests/forward_proxy.py maps it to loopback).
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from click.testing import CliRunner

from bulk_delete.answers import Answer, Verdict
from bulk_delete.api import open_client
from bulk_delete.errors import NetworkError, UsageError
from bulk_delete.network import PROXY_VARIABLES, Route, bypassed, proxy_for, ssl_context
from bulk_delete.sandbox import SandboxConfig, SandboxServer
from bulk_delete.sandbox.cli import sandbox
from bulk_delete.types import Secret
from tests.fakes import KEY as CLI_KEY
from tests.fakes import ForwardProxy, June, bulk_delete, cli_env, write_ids

KEY = "sk_net_5c1d"
PROXY_PASSWORD = "pr0xy-s3cret"
ALL_PROXY_VARIABLES = {name for names in PROXY_VARIABLES.values() for name in names}


@pytest.fixture(autouse=True)
def _no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test with no proxy variable from the machine; tests set their own."""
    for name in (*ALL_PROXY_VARIABLES, "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "company-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def serving(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server context with a certificate of ``ca`` for ``names``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
async def tls_june(ca: trustme.CA) -> AsyncIterator[SandboxServer]:
    """The sandbox on 127.0.0.1 over HTTPS, its certificate signed by the test CA."""
    async with SandboxServer(SandboxConfig(api_key=KEY),
                             ssl_context=serving(ca, "127.0.0.1", "june.test")) as server:
        yield server


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    """A counting forward proxy on loopback that reaches june.test (the sandbox's address)."""
    forward = ForwardProxy({"june.test": "127.0.0.1"})
    await forward.start()
    yield forward
    await forward.stop()


async def post(url: str, *, ca_bundle: Path | None = None, subject: str = "u1") -> Answer:
    async with open_client(base_url=url, kind="user", key=Secret(KEY), auth_style="raw",
                           request_timeout=5, concurrency=2, ca_bundle=ca_bundle) as client:
        return await client.request_deletion(subject)


# --- the variables, read as curl and pip read them ---------------------------------------


@pytest.mark.parametrize(("env", "url", "expected"), [
    ({"HTTPS_PROXY": "http://p:1"}, "https://api.june.so", ("http://p:1", "HTTPS_PROXY")),
    ({"https_proxy": "http://a:1", "HTTPS_PROXY": "http://b:1"}, "https://api.june.so",
     ("http://a:1", "https_proxy")),
    ({"ALL_PROXY": "http://all:1"}, "https://api.june.so", ("http://all:1", "ALL_PROXY")),
    ({"HTTPS_PROXY": " ", "ALL_PROXY": "http://all:1"}, "https://api.june.so",
     ("http://all:1", "ALL_PROXY")),
    ({"HTTP_PROXY": "http://h:1"}, "https://api.june.so", None),
    ({"HTTP_PROXY": "http://h:1"}, "http://june.test", ("http://h:1", "HTTP_PROXY")),
    ({"HTTPS_PROXY": "proxy.corp:3128"}, "https://api.june.so",
     ("http://proxy.corp:3128", "HTTPS_PROXY")),
    ({"HTTPS_PROXY": "https://secure.corp"}, "https://api.june.so",
     ("https://secure.corp", "HTTPS_PROXY")),
    ({}, "https://api.june.so", None),
])
def test_proxy_variables(env: dict[str, str], url: str,
                         expected: tuple[str, str] | None) -> None:
    """https takes HTTPS_PROXY then ALL_PROXY, http takes HTTP_PROXY; lower case wins."""
    found = proxy_for(url, env)
    assert (found and (found.url, found.variable)) == expected


@pytest.mark.parametrize("url", ["https://127.0.0.1:8443", "https://localhost", "https://[::1]",
                                 "http://127.0.0.5:80"])
def test_loopback_never_goes_through_a_proxy(url: str) -> None:
    """Loopback is reached direct even when every proxy variable is set and NO_PROXY is not."""
    env = dict.fromkeys(ALL_PROXY_VARIABLES, "http://proxy.corp:3128")
    assert proxy_for(url, env) is None


@pytest.mark.parametrize(("host", "port", "no_proxy", "direct"), [
    ("api.june.so", 443, "june.so", True),
    ("api.june.so", 443, ".june.so", True),
    ("api.june.so", 443, "*.june.so", True),
    ("june.so", 443, "june.so", True),
    ("api.june.so", 443, "notjune.so", False),
    ("api.notjune.so", 443, "june.so", False),
    ("api.june.so", 443, "*", True),
    ("API.June.so", 443, "other.corp, API.JUNE.SO", True),
    ("api.june.so", 443, "api.june.so:443", True),
    ("api.june.so", 443, "api.june.so:8443", False),
    ("10.1.2.3", 443, "10.0.0.0/8", True),
    ("10.1.2.3", 443, "10.1.2.3", True),
    ("192.168.1.1", 443, "10.0.0.0/8", False),
    ("2001:db8::1", 443, "2001:db8::/32", True),
    ("2001:db8::1", 443, "[2001:db8::1]:443", True),
    ("2001:db8::1", 443, "[2001:db8::1]:80", False),
    ("api.june.so", 443, "", False),
])
def test_no_proxy_rules(host: str, port: int, no_proxy: str, direct: bool) -> None:
    """NO_PROXY matches a host or its subdomains (never a mere suffix), ports, IPs and ranges."""
    assert bypassed(host, port, no_proxy) is direct


def test_no_proxy_sends_the_api_direct() -> None:
    """no_proxy (or NO_PROXY) naming the API's domain overrides HTTPS_PROXY."""
    env = {"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "localhost,.june.so"}
    assert proxy_for("https://api.june.so", env) is None
    assert proxy_for("https://api.june.so.evil.example", env) is not None


def test_proxy_credentials_never_show() -> None:
    """A proxy URL's user and password go into its auth only, never into str, repr or describe."""
    found = proxy_for("https://api.june.so",
                      {"HTTPS_PROXY": f"http://svc%40corp:{PROXY_PASSWORD}@proxy.corp:3128/"})
    assert found is not None
    token = base64.b64encode(f"svc@corp:{PROXY_PASSWORD}".encode()).decode()
    assert found.authorization == f"Basic {token}"
    route = Route(found)
    shown = f"{found} {found!r} {route!r} {route.describe()}"
    assert PROXY_PASSWORD not in shown
    assert "svc" not in shown
    assert route.describe() == {"proxy": "http://proxy.corp:3128 (from HTTPS_PROXY)",
                                "ca": "system default"}


@pytest.mark.parametrize(("value", "message"), [
    (f"socks5://user:{PROXY_PASSWORD}@proxy.corp:1080", "only http:// and https://"),
    (f"http://user:{PROXY_PASSWORD}@proxy.corp:99999", "not a valid proxy URL"),
])
def test_unusable_proxy_is_a_usage_error(value: str, message: str) -> None:
    """A proxy the client cannot use is a usage error that names the variable, not its secret."""
    with pytest.raises(UsageError, match=message) as raised:
        proxy_for("https://api.june.so", {"HTTPS_PROXY": value})
    assert "HTTPS_PROXY" in str(raised.value)
    assert PROXY_PASSWORD not in str(raised.value)


def test_describe_names_the_ca_bundle(ca_file: Path) -> None:
    """For doctor: no proxy reads "none (direct)", a bundle is named by its path."""
    assert Route(None, ca_file).describe() == {"proxy": "none (direct)", "ca": str(ca_file)}


@pytest.mark.parametrize(("content", "message"), [
    (b"", "holds no usable PEM certificate"),
    (b"not a certificate\n", "holds no usable PEM certificate"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
     "holds no usable PEM certificate"),
    (None, "cannot read CA bundle .*: No such file or directory"),
    (b"directory", "cannot read CA bundle .*: Is a directory"),
])
def test_bad_ca_bundle_is_a_usage_error(tmp_path: Path, content: bytes | None,
                                        message: str) -> None:
    """A CA bundle that is missing, a directory, empty or not PEM is refused with its reason."""
    path = tmp_path / "bundle.pem"
    if content == b"directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        ssl_context(path)


# --- TLS on real sockets ---------------------------------------------------------------------


async def test_tls_with_the_company_ca_bundle(tls_june: SandboxServer, ca_file: Path) -> None:
    """With the CA bundle that signed the server's certificate, the request is accepted."""
    assert tls_june.url.startswith("https://")
    assert (await post(tls_june.url, ca_bundle=ca_file)).verdict is Verdict.ACCEPTED
    assert tls_june.state.stats.accepted["user"] == 1


async def test_untrusted_certificate_stops_with_a_hint(tls_june: SandboxServer) -> None:
    """The system's CAs do not know the test CA: no retry, a message that says what to do."""
    with pytest.raises(NetworkError) as raised:
        await post(tls_june.url)
    message = str(raised.value)
    assert message.startswith("TLS certificate of 127.0.0.1 not trusted (")
    assert "--ca-bundle or SSL_CERT_FILE" in message
    assert tls_june.state.stats.requests == 0


async def test_wrong_ca_bundle_names_the_bundle(tls_june: SandboxServer, tmp_path: Path) -> None:
    """A bundle that lacks the signing CA is named in the message."""
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(NetworkError, match=f"not trusted by CA bundle {other}"):
        await post(tls_june.url, ca_bundle=other)


async def test_certificate_for_another_host(ca: trustme.CA, ca_file: Path) -> None:
    """A trusted certificate for another name says so, and points at --api-url."""
    async with SandboxServer(SandboxConfig(api_key=KEY),
                             ssl_context=serving(ca, "elsewhere.test")) as server:
        with pytest.raises(NetworkError, match=r"is for another host .*check --api-url"):
            await post(server.url, ca_bundle=ca_file)


# --- a forward proxy on real sockets ---------------------------------------------------------


@pytest.mark.parametrize("credentials", [None, ("svc", PROXY_PASSWORD)])
async def test_requests_go_through_the_proxy(tls_june: SandboxServer, proxy: ForwardProxy,
                                             ca_file: Path, monkeypatch: pytest.MonkeyPatch,
                                             credentials: tuple[str, str] | None) -> None:
    """HTTPS_PROXY carries every request in a CONNECT tunnel; the key stays inside TLS.

    aiohttp copies a session's default headers into CONNECT, so a key set there would reach
    the proxy as Proxy-Authorization when the proxy URL has no credentials of its own.
    """
    proxy.credentials = credentials
    userinfo = "" if credentials is None else "{}:{}@".format(*credentials)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("://", f"://{userinfo}"))
    async with open_client(base_url=f"https://june.test:{tls_june.port}", kind="user",
                           key=Secret(KEY), auth_style="raw", request_timeout=5, concurrency=1,
                           ca_bundle=ca_file) as client:
        answers = [await client.request_deletion(f"u{i}") for i in range(3)]
        assert str(client.route.proxy) == f"{proxy.url} (from HTTPS_PROXY)"
    assert [a.verdict for a in answers] == [Verdict.ACCEPTED] * 3
    assert tls_june.state.stats.accepted["user"] == 3
    assert proxy.tunnels == 1  # one kept-alive connection for three requests
    assert all(head.startswith(b"CONNECT june.test:") for head in proxy.heads)
    assert not any(KEY.encode() in head for head in proxy.heads)


async def test_plain_http_is_forwarded_by_http_proxy(proxy: ForwardProxy,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY forwards a plain http:// request (absolute form, no tunnel)."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with SandboxServer(SandboxConfig(api_key=KEY)) as server:
        answer = await post(f"http://june.test:{server.port}")
        assert answer.verdict is Verdict.ACCEPTED
        assert server.state.stats.accepted["user"] == 1
    assert (proxy.forwarded, proxy.tunnels) == (1, 0)


@pytest.fixture
def june_test_resolves_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hosts-file entry for the test: june.test resolves to 127.0.0.1 in this process."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "june.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.usefixtures("june_test_resolves_to_loopback")
async def test_no_proxy_bypasses_the_proxy(tls_june: SandboxServer, proxy: ForwardProxy,
                                           ca_file: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    """With the API host in NO_PROXY the request goes direct: the proxy sees nothing."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost, .june.test")
    answer = await post(f"https://june.test:{tls_june.port}", ca_bundle=ca_file)
    assert answer.verdict is Verdict.ACCEPTED
    assert proxy.heads == []
    monkeypatch.delenv("NO_PROXY")  # and the same request without it does go through the proxy
    assert (await post(f"https://june.test:{tls_june.port}", ca_bundle=ca_file)).status == 200
    assert proxy.tunnels == 1


async def test_loopback_api_bypasses_a_set_proxy(tls_june: SandboxServer, proxy: ForwardProxy,
                                                 ca_file: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    """An API on 127.0.0.1 is reached direct even though HTTPS_PROXY is set."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    assert (await post(tls_june.url, ca_bundle=ca_file)).verdict is Verdict.ACCEPTED
    assert proxy.heads == []


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]


async def test_unreachable_proxy_is_named(closed_port: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead proxy is a transient failure whose message names it, without its password."""
    monkeypatch.setenv("https_proxy", f"http://svc:{PROXY_PASSWORD}@127.0.0.1:{closed_port}")
    answer = await post("https://june.test")
    assert answer.verdict is Verdict.TRANSIENT
    assert answer.message.startswith(
        f"cannot reach proxy http://127.0.0.1:{closed_port} (from https_proxy): ")
    assert PROXY_PASSWORD not in answer.message


@pytest.mark.parametrize(("credentials", "status", "message"), [
    (None, 407, "asks for credentials .*HTTPS_PROXY as http://USER:PASSWORD@host:port"),
    (("svc", "wrong"), 407, "refused its credentials"),
    (None, 403, "refused the tunnel to june.test .*NO_PROXY"),
])
async def test_refusing_proxy_stops_with_a_hint(proxy: ForwardProxy,
                                                monkeypatch: pytest.MonkeyPatch,
                                                credentials: tuple[str, str] | None,
                                                status: int, message: str) -> None:
    """A proxy that answers 407 or 403 to CONNECT will not change its mind: stop and say why."""
    proxy.status = status
    url = proxy.url
    if credentials is not None:
        url = url.replace("://", "://{}:{}@".format(*credentials))
    monkeypatch.setenv("HTTPS_PROXY", url)
    with pytest.raises(NetworkError, match=message) as raised:
        await post("https://june.test")
    assert "wrong" not in str(raised.value)


async def test_proxy_gateway_error_is_transient(proxy: ForwardProxy,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy that cannot reach June (502) may recover: retried, with the proxy named."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    answer = await post("https://unknown.test")  # a host the proxy cannot reach
    assert answer.verdict is Verdict.TRANSIENT
    assert answer.message == (f"proxy {proxy.url} (from HTTPS_PROXY) answered HTTP 502 "
                              "Unknown Host to the tunnel to unknown.test")



# --- end to end: the CLI as a process --------------------------------------------------------


@pytest.fixture
def tls_june_process(ca: trustme.CA) -> Iterator[June]:
    """The sandbox over HTTPS in a background thread, for the CLI run as a process."""
    server = June(SandboxConfig(api_key=CLI_KEY), ca=ca)
    yield server
    server.close()


def network_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """cli_env without the machine's proxy variables and SSL_CERT_FILE; ``extra`` on top."""
    env = {name: value for name, value in cli_env(tmp_path).items()
           if name not in (*ALL_PROXY_VARIABLES, "no_proxy", "NO_PROXY", "SSL_CERT_FILE")}
    return {**env, **extra}


def written(directory: Path) -> str:
    """Every file under ``directory`` as text, to look for secrets in."""
    return "".join(path.read_text("utf-8", "replace") for path in directory.rglob("*")
                   if path.is_file())


def test_submit_through_an_authenticating_proxy(tmp_path: Path, tls_june_process: June,
                                                ca_file: Path) -> None:
    """A run behind a proxy with credentials and a company CA: every ID accepted, through it.

    june.test resolves nowhere, so every request that reached the sandbox came through the
    proxy. A ~/.netrc entry for the API host changes nothing: the key is what June gets.
    """
    ids = write_ids(tmp_path / "ids.csv", [f"u{i}" for i in range(40)])
    netrc = tmp_path / "netrc"
    netrc.write_text("machine june.test login someone password netrc-pass\n"
                     "machine 127.0.0.1 login someone password netrc-pass\n")
    netrc.chmod(0o600)
    forward = ForwardProxy({"june.test": "127.0.0.1"}, credentials=("svc", PROXY_PASSWORD))
    with forward.running() as proxy:
        env = network_env(tmp_path, NETRC=str(netrc),
                          HTTPS_PROXY=proxy.url.replace("://", f"://svc:{PROXY_PASSWORD}@"))
        done = bulk_delete("submit", str(ids), "--api-url",
                           f"https://june.test:{tls_june_process.server.port}",
                           "--ca-bundle", str(ca_file), "--rate", "500", "--concurrency", "16",
                           env=env)
    output = f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, output
    assert tls_june_process.posts() == 40
    assert 1 <= proxy.tunnels <= 17  # the preflight read and at most --concurrency workers
    assert len(proxy.heads) == proxy.tunnels
    assert not any(CLI_KEY.encode() in head for head in proxy.heads)
    assert PROXY_PASSWORD not in output + written(tmp_path / "state")
    network = [json.loads(line) for line in done.stderr.splitlines()
               if '"bulk_delete.network"' in line]
    assert network[0]["proxy"] == f"{proxy.url} (from HTTPS_PROXY)"
    assert network[0]["ca"] == str(ca_file)


@pytest.mark.parametrize("command", ["submit", "run"])
def test_untrusted_certificate_exits_2_before_any_deletion(tmp_path: Path, command: str,
                                                          tls_june_process: June) -> None:
    """Without the company CA: exit 2 at the preflight read, one line that says what to do."""
    ids = write_ids(tmp_path / "ids.csv", ["a", "b", "c"])
    done = bulk_delete(command, str(ids), "--api-url", tls_june_process.url,
                       env=network_env(tmp_path, BULK_DELETE_LOG_FORMAT="console"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "bulk-delete: TLS certificate of 127.0.0.1 not trusted (unable to get local issuer "
        "certificate): give your company's CA bundle with --ca-bundle or SSL_CERT_FILE")
    assert tls_june_process.stats()["requests"] == 0


def test_ssl_cert_file_is_honoured_and_the_flag_beats_it(tmp_path: Path, ca_file: Path,
                                                         tls_june_process: June) -> None:
    """SSL_CERT_FILE names the CA bundle; --ca-bundle wins over it when both are set."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    url = ["--api-url", tls_june_process.url]
    by_variable = bulk_delete("submit", str(write_ids(tmp_path / "a.csv", ["a"])), *url,
                              env=network_env(tmp_path / "1", SSL_CERT_FILE=str(ca_file)))
    assert by_variable.returncode == 0, by_variable.stderr
    by_flag = bulk_delete("submit", str(write_ids(tmp_path / "b.csv", ["b"])), *url,
                          "--ca-bundle", str(ca_file),
                          env=network_env(tmp_path / "2", SSL_CERT_FILE=str(garbage)))
    assert by_flag.returncode == 0, by_flag.stderr
    assert tls_june_process.posts() == 2


def test_garbage_ca_bundle_exits_2_before_anything(tmp_path: Path,
                                                   tls_june_process: June) -> None:
    """--ca-bundle on a file that is no PEM bundle: exit 2, one line, nothing sent."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    ids = write_ids(tmp_path / "ids.csv", ["a"])
    done = bulk_delete("run", str(ids), "--api-url", tls_june_process.url,
                       "--ca-bundle", str(bundle),
                       env=network_env(tmp_path, BULK_DELETE_LOG_FORMAT="console"))
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"bulk-delete: CA bundle {bundle} holds no usable PEM")
    assert not (tmp_path / "state").exists()
    assert tls_june_process.stats()["requests"] == 0


async def test_sandbox_command_serves_https(tmp_path: Path, ca: trustme.CA) -> None:
    """`bulk-delete sandbox --tls-cert --tls-key` serves HTTPS that the CA's clients trust."""
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulk_delete", "sandbox", "--port", "0", "--api-key", KEY,
        "--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem"),
        stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        url = line.split("listening on ")[1].split()[0]
        assert url.startswith("https://127.0.0.1:")
        ca_path = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        assert (await post(url, ca_bundle=ca_path)).verdict is Verdict.ACCEPTED
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 143
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize(("args", "message"), [
    (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-cert", "cert.pem", "--tls-key", "cert.pem"], "cannot load --tls-cert"),
])
def test_sandbox_tls_options_are_checked(tmp_path: Path, ca: trustme.CA, args: list[str],
                                         message: str) -> None:
    """A certificate without its key, or a key that is not one, is a usage error (exit 2)."""
    ca.issue_cert("127.0.0.1").cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    args = [str(tmp_path / a) if a.endswith(".pem") else a for a in args]
    result = CliRunner().invoke(sandbox, ["--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output

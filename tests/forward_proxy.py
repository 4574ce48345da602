"""A forward proxy on loopback for tests: CONNECT tunnels and plain-HTTP forwarding, counted.

It reaches only the host names in its map, each mapped to a loopback address. A test names
its API after a host that resolves nowhere else (``june.test``, reserved by RFC 2606), so a
request that arrives proves it went through the proxy; the counters say how many did.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from collections.abc import Iterator
from typing import Any


class ForwardProxy:
    """An HTTP proxy: ``CONNECT host:port`` opens a tunnel, ``GET http://...`` is forwarded."""

    def __init__(self, hosts: dict[str, str], *, credentials: tuple[str, str] | None = None,
                 status: int | None = None) -> None:
        #: Host name -> loopback address it stands for; any other host gets a 502.
        self.hosts = hosts
        #: (user, password) every request must carry as Proxy-Authorization, or get a 407.
        self.credentials = credentials
        #: Answer every request with this status instead of serving it (a refusing proxy).
        self.status = status
        #: Tunnels opened and plain requests forwarded.
        self.tunnels = 0
        self.forwarded = 0
        #: Every request head the proxy received, as bytes (to look for leaked secrets).
        self.heads: list[bytes] = []
        #: The proxy's URL, once started.
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> str:
        """Listen on a free loopback port; returns the proxy URL (also kept in ``url``)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a client that went away, or stop() closing the tunnels still open
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        method, target, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        if self.status is not None or not self._authorized(head):
            status = self.status or 407
            writer.write(f"HTTP/1.1 {status} Refused\r\nContent-Length: 0\r\n"
                         "Proxy-Authenticate: Basic realm=\"test\"\r\n\r\n".encode())
            return
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
        else:  # absolute form: GET http://host:port/path HTTP/1.1
            host, _, rest = target.removeprefix("http://").partition(":")
            port, _, path = rest.partition("/")
            head = head.replace(target.encode(), b"/" + path.encode(), 1)
        if host not in self.hosts:
            writer.write(b"HTTP/1.1 502 Unknown Host\r\nContent-Length: 0\r\n\r\n")
            return
        up_reader, up_writer = await asyncio.open_connection(self.hosts[host], int(port))
        if method == "CONNECT":
            self.tunnels += 1
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            self.forwarded += 1
            up_writer.write(head)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()

    def _authorized(self, head: bytes) -> bool:
        if self.credentials is None:
            return True
        lines = head.decode("latin-1").split("\r\n")[1:]
        headers = {name.strip().lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in lines)}
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return headers.get("proxy-authorization") == f"Basic {token}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()


@contextlib.contextmanager
def running(proxy: ForwardProxy) -> Iterator[ForwardProxy]:
    """``proxy`` served from a thread of its own, for tests that run the CLI as a process."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(timeout=10)
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

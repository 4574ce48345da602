"""The sandbox on a real socket, in-process: start, stop, restart on the same port.

    async with SandboxServer(SandboxConfig(rate_limit=50), port=0) as server:
        ...  # point a client at server.url; read server.state.snapshot()

The state outlives the socket, so ``await server.stop()`` then ``await
server.start()`` emulates an API that disappears and comes back with its
records, counters and knobs intact.
"""

from __future__ import annotations

import ssl
import time
from types import TracebackType

from aiohttp import web

from bulk_delete.sandbox.app import build_app
from bulk_delete.sandbox.config import SandboxConfig
from bulk_delete.sandbox.state import Clock, SandboxState

#: Seconds a stopping server lets in-flight requests finish before cancelling them.
#: Short on purpose: a stop emulates an API that goes away, and hung requests
#: would otherwise hold it for their whole ``hang_seconds``.
SHUTDOWN_GRACE = 0.5


class SandboxServer:
    """A June-compatible API server on ``host:port``; port 0 picks a free port once.

    With port 0, give an IP address as ``host``: a name such as ``localhost`` may
    resolve to two addresses, each bound to a different free port, and
    :attr:`url` names only the first. With ``ssl_context`` (a server context holding the
    certificate and key) it serves HTTPS.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = time.time,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        #: Records, counters and knobs; survives :meth:`stop` and :meth:`start`.
        self.state = SandboxState(config or SandboxConfig(), clock)
        #: The address to bind, an IP address or a name.
        self.host = host
        #: The port bound (after the first start, the one a restart binds again).
        self.port = port
        self._ssl_context = ssl_context
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. ``http://127.0.0.1:8080`` (``https://`` with TLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._runner is not None

    async def start(self) -> None:
        """Listen; a restart binds the same port as before. Starting twice is an error."""
        if self._runner is not None:
            raise RuntimeError("the sandbox server is already running")
        runner = web.AppRunner(
            build_app(self.state),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_GRACE,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, backlog=1024,
                               ssl_context=self._ssl_context)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the listener and every connection; state is kept. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        status = "running" if self.running else "stopped"
        return f"SandboxServer({self.url}, {status})"

"""What tests share besides fixtures: every helper, harness and fake a test module imports.

A test module imports from here and from no other test file; ``conftest.py`` holds only the
fixtures (and imports what they build from here). Top to bottom:

* the CLI as a process: :data:`KEY`, :func:`cli_env`, :func:`bulk_delete`, :func:`ids`,
  :func:`write_ids`, :func:`journal_of`, :func:`wait_until`;
* one input file read in-process: :func:`read_input`, :func:`input_refused`;
* June on a real socket: :class:`June` (the sandbox on a thread of its own), :data:`Serve`
  (the type of the ``serve`` fixture), :class:`ForwardProxy` (a proxy on loopback);
* in-process, on virtual time: :class:`FakeTime` and its rule, :class:`Script`,
  :class:`FakeJune`, :class:`TimedJune`, and :class:`Harness` (one user's job, every
  command run in-process against a FakeJune).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import io
import json
import math
import os
import random
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import polars as pl
import pytest
import trustme
from aiohttp import web

from bulk_delete import job
from bulk_delete.answers import Answer
from bulk_delete.checkpoint import Manifest, read_manifest
from bulk_delete.config import Settings, resolve
from bulk_delete.connection import Connection
from bulk_delete.errors import ExitCode, InputError
from bulk_delete.inputs import InputIds, read_ids
from bulk_delete.journal import read
from bulk_delete.pacing import Pacer
from bulk_delete.present import View
from bulk_delete.ratelimit import Quota
from bulk_delete.sandbox import SandboxConfig, SandboxServer
from bulk_delete.sandbox.limits import Limiter, retry_after
from bulk_delete.types import AuthForm
from bulk_delete.wire import ON_THE_WIRE

T = TypeVar("T")

# --- the CLI as a process ---------------------------------------------------------------------

#: The API key of the ``june`` fixture's sandbox, and the one :func:`cli_env` sets.
KEY = "sk_sandbox_7f3e9a1b"


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment a user would set: the key, JSON logs, state under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUNE_", "BULK_DELETE_"))}
    env.update({"JUNE_API_KEY": KEY, "BULK_DELETE_LOG_FORMAT": "json",
                "BULK_DELETE_CHECKPOINT_DIR": str(tmp_path / "state"), **extra})
    return env


def bulk_delete(*args: str, env: dict[str, str], timeout: float = 120,
                cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bulk_delete ARGS`` to the end, as a user would."""
    return subprocess.run([sys.executable, "-m", "bulk_delete", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def ids(n: int, prefix: str = "u") -> list[str]:
    """``n`` distinct IDs: u00000, u00001, ..."""
    return [f"{prefix}{i:05d}" for i in range(n)]


def journal_of(tmp_path: Path) -> pl.DataFrame:
    """The journal of the job whose checkpoint is ``tmp_path/state`` (as cli_env sets it)."""
    return read(tmp_path / "state" / "journal.tsv")


def write_ids(path: Path, ids: list[str], column: str = "user_id") -> Path:
    """A one-column CSV of IDs, as an export would hold them."""
    path.write_text(column + "\n" + "".join(f"{i}\n" for i in ids), encoding="utf-8")
    return path


def read_input(tmp_path: Path, content: bytes, name: str, **options: Any) -> InputIds:
    """What read_ids makes of one file ``name`` under ``tmp_path`` holding ``content`` (the
    kind is user unless ``options`` say otherwise)."""
    path = tmp_path / name
    path.write_bytes(content)
    options.setdefault("kind", "user")
    return read_ids([path], **options)


def input_refused(tmp_path: Path, content: bytes, name: str, **options: Any) -> str:
    """The message of the InputError reading such a file raises: one line, starting with the
    file's path."""
    with pytest.raises(InputError) as caught:
        read_input(tmp_path, content, name, **options)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / name) + ": ") and "\n" not in message
    return message


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll ``condition`` (another process's progress) until it holds; fail the test, saying
    what never happened, after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting until {what}"
        time.sleep(0.02)


# --- June on a real socket --------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: The ``serve`` fixture: ``await serve(handler)`` starts a loopback server, returns its URL.
Serve = Callable[[Handler], Awaitable[str]]


class June:
    """A sandbox June served from a background thread, for tests that run the CLI as a process.

    The test's own thread blocks on subprocesses; the server keeps answering on its loop.
    With ``ca``, it serves HTTPS with a certificate of that CA for 127.0.0.1, localhost and
    june.test (the host name tests reach through a proxy).
    """

    def __init__(self, config: SandboxConfig, *, ca: trustme.CA | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client_tls: ssl.SSLContext | None = None
        server_tls = None
        if ca is not None:
            server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost", "june.test").configure_cert(server_tls)
            self._client_tls = ssl.create_default_context()
            ca.configure_trust(self._client_tls)
        self.server = SandboxServer(config, ssl_context=server_tls)
        self._call(self.server.start())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    @property
    def url(self) -> str:
        return self.server.url

    def stats(self) -> dict[str, Any]:
        """Exact counts of what reached the server, read over HTTP as any client would."""
        with urllib.request.urlopen(f"{self.url}/_sandbox/stats", timeout=10,
                                    context=self._client_tls) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def posts(self) -> int:
        """Deletion requests that reached the server (listing reads not counted)."""
        endpoints = self.stats()["endpoints"]
        return int(endpoints["user_deletion_request"] + endpoints["group_deletion_request"])

    def configure(self, **knobs: Any) -> None:
        self._loop.call_soon_threadsafe(self.server.state.configure, knobs)

    def stop(self) -> None:
        self._call(self.server.stop())

    def start(self) -> None:
        self._call(self.server.start())

    def close(self) -> None:
        self._call(self.server.stop())
        self._call(_cancel_the_rest())  # hung handlers, so the loop closes with no task pending
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _cancel_the_rest() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class ForwardProxy:
    """An HTTP proxy on loopback: ``CONNECT host:port`` opens a tunnel, ``GET http://...`` is
    forwarded, each counted.

    It reaches only the host names in its map, each mapped to a loopback address. A test names
    its API after a host that resolves nowhere else (``june.test``, reserved by RFC 2606), so
    a request that arrives proves it went through the proxy; the counters say how many did.
    """

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

    @contextlib.contextmanager
    def running(self) -> Iterator[ForwardProxy]:
        """The proxy served from a thread of its own, for tests that run the CLI as a process."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()

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


# --- in-process, on virtual time --------------------------------------------------------------

#: Loop turns in a row that :meth:`FakeTime.drive` lets tasks stay ready before it gives up.
#: Code under test reaches its next wait within a handful of turns; a task still ready after
#: this many never waits (a loop around ``asyncio.sleep(0)``), and virtual time could not move.
SPIN_LIMIT = 1000
#: Real seconds drive() waits, with no task ready and no virtual sleep due, for a real timer
#: (``loop.call_later``) to wake a task, before it calls the work deadlocked.
DEADLOCK_AFTER = 30.0


class FakeTime:
    """Virtual time for one event loop: when every task waits, jump to the earliest wake-up.

    ``overshoot`` makes each sleep last up to that much longer, like a busy event loop.

    The rule :meth:`drive` keeps: the clock moves only once no task on the loop is ready to
    run and no thread works for it (``asyncio.to_thread``, as the journal's fsync does).
    Every task then waits on :meth:`sleep`, on another task, or on something outside virtual
    time. It assumes the code under test takes its clock and sleep from here: a task waiting
    on a real timer or socket is not seen, and the clock moves past it. Where the rule cannot
    hold, the test fails (AssertionError) rather than run on a clock moved too early: a task
    still ready after :data:`SPIN_LIMIT` turns, or nothing ready, nothing sleeping and
    nothing happening for :data:`DEADLOCK_AFTER` real seconds.

    Knowing that no task is ready takes CPython's asyncio ready queue (``loop._ready``, the
    callbacks the next turn runs): no public API tells it.

    ``busy`` counts the seconds of CPU a fake says the client spent (:meth:`process_time`).
    """

    def __init__(self, *, overshoot: float = 0.0, seed: int = 1) -> None:
        self.now = 1000.0
        self.busy = 0.0
        self.overshoot = overshoot
        self._random = random.Random(seed)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0
        self._threads: _Threads | None = None

    def clock(self) -> float:
        return self.now

    def process_time(self) -> float:
        return self.busy

    async def sleep(self, seconds: float) -> None:
        extra = self._random.uniform(0, self.overshoot) if self.overshoot else 0.0
        future = asyncio.get_running_loop().create_future()
        self._count += 1
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds) + extra, self._count, future))
        await future

    async def drive(self, work: Awaitable[T]) -> T:
        """Run ``work`` to the end, moving the clock whenever it and its tasks all wait."""
        loop = asyncio.get_running_loop()
        if self._threads is None:
            self._threads = _Threads(loop)
        loop.set_default_executor(self._threads)
        task = asyncio.ensure_future(work)
        idle_since: float | None = None
        try:
            while True:
                await self._settle(loop, self._threads)
                if task.done():
                    return task.result()
                if self._wake_next():
                    idle_since = None
                    continue
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > DEADLOCK_AFTER:
                    pending = "\n".join(map(repr, asyncio.all_tasks()))
                    raise AssertionError(f"FakeTime: no task ready, none asleep, and nothing "
                                         f"for {DEADLOCK_AFTER:g} s: a deadlock. Tasks:\n{pending}")
                await asyncio.sleep(0.001)  # only a real timer can wake a task now: let it fire
        finally:
            task.cancel()  # a no-op once done; else the work must not outlive a failed drive

    async def _settle(self, loop: asyncio.AbstractEventLoop, threads: _Threads) -> None:
        """Let every task run until none is ready and no thread works for the loop."""
        ready_turns = 0
        while True:
            await asyncio.sleep(0)
            if threads.running:
                await asyncio.wait([asyncio.wrap_future(f) for f in list(threads.running)])
            elif not loop._ready:  # type: ignore[attr-defined]
                return
            else:
                ready_turns += 1
                if ready_turns >= SPIN_LIMIT:
                    ready = ", ".join(map(repr, list(loop._ready)[:5]))  # type: ignore[attr-defined]
                    raise AssertionError(f"FakeTime: tasks still ready after {SPIN_LIMIT} loop "
                                         f"turns, so virtual time cannot move: {ready}")

    def _wake_next(self) -> bool:
        """Move the clock to the earliest sleeper still waiting and wake it; False if none."""
        while self._sleepers:
            wake, _, future = heapq.heappop(self._sleepers)
            if not future.done():  # a done one's sleeper was cancelled
                self.now = max(self.now, wake)
                future.set_result(None)
                return True
        return False


class _Threads(ThreadPoolExecutor):
    """The loop's default executor while FakeTime drives it: the calls still at work.

    A call leaves ``running`` through a callback queued on the loop just before the one that
    hands its result over, so drive never finds the loop settled in between.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(max_workers=4, thread_name_prefix="fake-time")
        self._loop = loop
        self.running: set[Future[Any]] = set()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future = super().submit(fn, *args, **kwargs)
        self.running.add(future)
        future.add_done_callback(
            lambda done: self._loop.call_soon_threadsafe(self.running.discard, done))
        return future


@dataclass
class Replayed:
    """What a job did against one of the sandbox's limiters (:func:`replay`)."""

    #: When the job began.
    began: float
    #: Every request's start, and whether the limiter let it through, in the order answered.
    answers: list[tuple[float, bool]] = field(default_factory=list)
    #: The pacer's rate after each change, with when it changed.
    rates: list[tuple[float, float]] = field(default_factory=list)

    def count(self, admitted: bool, since: float = -math.inf) -> int:
        """Requests admitted (or refused) among those started at ``since`` or later."""
        return sum(ok == admitted and start >= since for start, ok in self.answers)


async def replay(time: FakeTime, pacer: Pacer, limiter: Limiter, limit: int, *,
                 seconds: float, workers: int, latency: float) -> Replayed:
    """A job of ``seconds`` against ``limiter`` counting ``limit`` a second, no sockets:
    ``workers`` requests in flight, each reaching the limiter after half the latency and
    answered after the other half, a 429 with the sandbox's Retry-After (whole seconds)."""
    job = Replayed(began=time.now, rates=[(time.now, pacer.rate)])

    async def worker() -> None:
        while time.now - job.began < seconds:
            started = await pacer.acquire()
            await time.sleep(latency / 2)
            wait = limiter.admit(time.now, limit)
            await time.sleep(latency / 2)
            job.answers.append((started, wait is None))
            if wait is None:
                pacer.admitted()
            else:
                pause = float(retry_after("seconds", wait, time.now)["Retry-After"])
                pacer.throttled(started, pause)
            if job.rates[-1][1] != pacer.rate:
                job.rates.append((time.now, pacer.rate))

    await time.drive(asyncio.gather(*(worker() for _ in range(workers))))
    return job


class Script:
    """A send() that answers from a list of HTTP statuses (None: no answer)."""

    def __init__(self, *statuses: int | None, retry_after: float | None = None,
                 quota: Quota | None = None) -> None:
        self.statuses = list(statuses)
        self.retry_after = retry_after
        self.quota = quota
        self.sent = 0

    async def __call__(self) -> Answer:
        status = self.statuses[min(self.sent, len(self.statuses) - 1)]
        self.sent += 1
        return Answer(status, "boom" if status != 200 else "", self.retry_after,
                      quota=self.quota)


class FakeJune:
    """A :class:`~bulk_delete.api.Client` held in memory: what a test tells June to answer.

    ``answers`` maps a subject to the statuses June gives it, in turn (the last repeats);
    any other subject is accepted; with ``duplicate_status`` 409 a subject June holds already
    is answered 409. Accepted subjects are listed, newest first, in ``state`` (what June says
    of every request), ``page_size`` to a page. A request with the key in a form not in
    ``accepts`` is answered 401; every answer carries ``quota``. ``posts`` records every
    POST in order, ``forms`` the key's form of every request.

    On the virtual clock ``time``, a request is answered ``latency`` seconds later (change it
    while a job runs to make June slower or faster), ``arrivals`` records when each request
    arrived, and a POST costs the client ``cpu`` seconds of its event loop: the clock moves
    on without anything else running, as a busy CPU.
    """

    listing_url = "https://june.test/api/platform/data_management/user_deletion_requests"

    def __init__(self, *, answers: dict[str, list[int]] | None = None,
                 state: str = "requested", page_size: int = 10, listing_status: int = 200,
                 listed: list[str] | None = None, duplicate_status: int = 200,
                 accepts: tuple[AuthForm, ...] = ("raw", "basic"),
                 quota: Quota | None = None, time: FakeTime | None = None,
                 latency: float = 0.0, cpu: float = 0.0) -> None:
        self.answers = answers or {}
        self.state = state
        self.page_size = page_size
        self.listing_status = listing_status
        self.duplicate_status = duplicate_status
        self.accepts = accepts
        self.quota = quota
        self.time = time
        self.latency = latency
        self.cpu = cpu
        self.arrivals: list[float] = []
        self.auth_form: AuthForm = "raw"
        self.posts: list[str] = []
        self.pages: list[int] = []
        self.forms: list[AuthForm] = []
        #: Subjects June holds a request for, oldest first.
        self.held: list[str] = list(listed or [])

    def use_auth(self, form: AuthForm) -> None:
        self.auth_form = form

    async def _answer_later(self) -> None:
        """Tell the pacer the request left, as the real client does, and take ``latency``."""
        on_the_wire = ON_THE_WIRE.get()
        if on_the_wire is not None:
            on_the_wire()
        assert self.time is not None
        self.arrivals.append(self.time.now)
        await self.time.sleep(self.latency)

    async def request_deletion(self, subject: str) -> Answer:
        await asyncio.sleep(0)  # an answer never comes back in the same loop turn
        if self.time is not None:
            self.time.now += self.cpu
            self.time.busy += self.cpu
            await self._answer_later()
        self.forms.append(self.auth_form)
        if self.auth_form not in self.accepts:
            return Answer(401, "unauthorized", quota=self.quota)
        self.posts.append(subject)
        statuses = self.answers.get(subject, [200])
        status = statuses[min(self.posts.count(subject), len(statuses)) - 1]
        if 200 <= status < 300 and subject in self.held and self.duplicate_status == 409:
            return Answer(409, f"a deletion request already exists for {subject}",
                          quota=self.quota)
        if 200 <= status < 300 and subject not in self.held:
            self.held.append(subject)
        return Answer(status, "" if status < 300 else f"refused {subject}", quota=self.quota)

    async def fetch(self, url: str) -> Answer:
        """A listing page: ``?page=N``, and ``?state=S`` lists only when S is ``state``."""
        await asyncio.sleep(0)
        if self.time is not None:
            await self._answer_later()
        self.forms.append(self.auth_form)
        if self.auth_form not in self.accepts:
            return Answer(401, "unauthorized", quota=self.quota)
        query = dict(parse_qsl(urlsplit(url).query))
        page = int(query.get("page", "1"))
        self.pages.append(page)
        if self.listing_status != 200:
            return Answer(self.listing_status, "refused")
        newest_first = self.held[::-1] if query.get("state", self.state) == self.state else []
        chunk = newest_first[(page - 1) * self.page_size:page * self.page_size]
        records = [{"user_id": s, "state": self.state} for s in chunk]
        return Answer(200, body=json.dumps({"data": records}).encode(), quota=self.quota)


class TimedJune(FakeJune):
    """A June whose records carry a request id and an updated_at that the test sets."""

    def __init__(self) -> None:
        super().__init__()
        self.updated_at: str | None = None

    async def fetch(self, url: str) -> Answer:
        answer = await super().fetch(url)
        records = json.loads(answer.body)["data"]
        for record in records:
            record.update(id=f"req-{record['user_id']}", updated_at=self.updated_at)
        return Answer(200, body=json.dumps({"data": records}).encode())


class Harness:
    """One user's job: a checkpoint under tmp_path, a fake June, virtual time, captured text."""

    def __init__(self, tmp_path: Path, june: FakeJune, *, rate: float = 10.0) -> None:
        self.tmp_path = tmp_path
        self.june = june
        self.time = FakeTime()
        self.rate = rate
        self.out = io.StringIO()
        self.view = View("json", out=self.out, err=io.StringIO())

    def settings(self, **options: object) -> Settings:
        return resolve({"checkpoint_dir": self.tmp_path / "state", "rate": self.rate,
                        "concurrency": 4, **options}, env={"JUNE_API_KEY": "k"})

    @contextlib.asynccontextmanager
    async def connect(self, settings: Settings, _journal: Path) -> AsyncIterator[Connection]:
        yield Connection(self.june, Pacer(settings.rate, clock=self.time.clock,  # type: ignore[arg-type]
                                          sleep=self.time.sleep), settings)

    def source(self, ids: list[str]) -> job.Source:
        return job.Source(paths=(str(write_ids(self.tmp_path / "ids.csv", ids)),))

    async def submit(self, ids: list[str], *, skip_existing: bool = False,
                     **options: object) -> ExitCode:
        return await self.time.drive(job.submit(self.settings(**options), self.source(ids),
                                                self.view, skip_existing=skip_existing,
                                                connect=self.connect))

    async def reconcile(self, **options: object) -> ExitCode:
        return await self.time.drive(job.reconcile(self.settings(**options), self.view,
                                                   checking=job.Checking(),
                                                   connect=self.connect))

    def journal(self) -> list[tuple[str, str]]:
        return read(self.tmp_path / "state" / "journal.tsv").select("id", "outcome").rows()

    def manifest(self) -> Manifest:
        found = read_manifest(self.tmp_path / "state")
        assert found is not None
        return found


#: The test key's secret half: it must appear in no output and no file.
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


@dataclass
class S3:
    """The moto server, a client to set buckets up, and two IAM users' keys."""

    endpoint: str
    client: Any
    #: Access key id and secret of a user allowed everything, and of one allowed nothing.
    reader: tuple[str, str]
    nobody: tuple[str, str]

    def env(self, key: tuple[str, str] = (KEY_ID, SECRET)) -> dict[str, str]:
        """What a user sets to reach an S3-compatible store: nothing more."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": key[0], "AWS_SECRET_ACCESS_KEY": key[1],
                "AWS_REGION": "us-east-1"}

    def put(self, bucket: str, key: str, body: bytes) -> str:
        """Store an object; its URL."""
        self.client.put_object(Bucket=bucket, Key=key, Body=body)
        return f"s3://{bucket}/{key}"

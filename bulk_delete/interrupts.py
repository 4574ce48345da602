"""SIGINT and SIGTERM while a command runs: stop the submitter gracefully, or cancel the step."""

from __future__ import annotations

import asyncio
import signal
from types import TracebackType

from bulk_delete.errors import ExitCode
from bulk_delete.submit import Ending, Submitter


class Interrupts:
    """SIGINT/SIGTERM during a command: stop the submitter gracefully, or cancel the step."""

    def __init__(self) -> None:
        #: The first signal received, if any.
        self.received: int | None = None
        #: The submitter to stop gracefully while one runs.
        self.submitter: Submitter | None = None
        self._task = asyncio.current_task()

    def __enter__(self) -> Interrupts:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    def _on_signal(self, sig: int) -> None:
        self.received = self.received or sig
        if self.submitter is not None:
            self.submitter.stop(Ending.SIGINT if sig == signal.SIGINT else Ending.SIGTERM)
        elif self._task is not None:
            self._task.cancel()

    def exit_code(self) -> ExitCode:
        return ExitCode.INTERRUPTED if self.received == signal.SIGINT else ExitCode.TERMINATED

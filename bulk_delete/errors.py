"""The error tree and the exit codes: one of each for the whole tool.

    BulkDeleteError            anything the tool reports as one plain line
    ├── UsageError             bad flag, variable, key source or checkpoint use    -> 2
    │   ├── InputError         an ID file that cannot be read as documented        -> 2
    │   ├── CheckpointError    journal corrupt, directory locked or not writable   -> 2
    │   └── NetworkError       TLS trust or proxy set up so that no retry can help -> 2
    ├── AuthError              June answered 401/403: the key is wrong             -> 5
    └── ApiUnavailable         transient failures outlasted the retries            -> 6

Foreign errors (aiohttp, polars, OSError) are mapped into this tree where they
happen, with ``raise ... from exc``; anything else that escapes is a bug (exit 1).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, the same in every command."""

    #: submit: every ID accepted; reconcile: every ID finished.
    OK = 0
    #: A bug: an unexpected exception.
    INTERNAL = 1
    #: Usage, configuration, input or checkpoint error; nothing was sent.
    USAGE = 2
    #: Nothing failed, some requests are still pending at June.
    IN_PROGRESS = 3
    #: Some IDs were rejected, are missing from June's listing, or are overdue.
    ATTENTION = 4
    #: June rejected the key (401/403); stopped early, nothing marked as failed.
    AUTH = 5
    #: Transient failures outlasted the retries; a rerun resumes.
    UNAVAILABLE = 6
    #: Interrupted by SIGINT; state is consistent, a rerun resumes.
    INTERRUPTED = 130
    #: Stopped by SIGTERM; state is consistent, a rerun resumes.
    TERMINATED = 143


class BulkDeleteError(Exception):
    """An error the user can act on; its message is one line, without a traceback."""

    exit_code = ExitCode.INTERNAL


class UsageError(BulkDeleteError):
    """A flag, variable, key source or checkpoint directory is wrong."""

    exit_code = ExitCode.USAGE


class InputError(UsageError):
    """An ID file is missing, unreadable or lacks the ID column."""


class CheckpointError(UsageError):
    """The checkpoint directory is locked, corrupt, mismatched or not writable."""


class NetworkError(UsageError):
    """June's certificate is not trusted, or the proxy refuses us: fix the setup, then rerun."""


class AuthError(BulkDeleteError):
    """June rejected the API key."""

    exit_code = ExitCode.AUTH


class ApiUnavailable(BulkDeleteError):
    """June kept failing transiently after every retry."""

    exit_code = ExitCode.UNAVAILABLE

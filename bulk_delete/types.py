"""The words every step shares: what is deleted, how the key is sent, and the key itself."""

from __future__ import annotations

from typing import Literal

#: What a job deletes: users or groups (a directory holds one kind).
Kind = Literal["user", "group"]
#: How the key is sent: ``raw`` as June documents (``Basic <key>``), ``basic`` as standard
#: Basic auth (``Basic base64(key:)``).
AuthForm = Literal["raw", "basic"]
#: The setting: a form, or ``auto`` to find the one June accepts.
AuthStyle = Literal["auto", "raw", "basic"]


class Secret:
    """A string that never shows itself in ``repr``, ``str``, f-strings or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("a Secret cannot be pickled")


#: Requests in flight at most: a fixed number, or ``auto`` to size them from June's latency.
Concurrency = int | Literal["auto"]

"""The fault dice: which admitted request fails, drops its connection or hangs.

They draw from one ``random.Random`` seeded by the config, so a run replays
exactly. One draw per request picks the fault, so changing a share moves the
bands of that draw without shifting the sequence a test replays.
"""

from __future__ import annotations

import random
from typing import Literal

from bulk_delete.sandbox.config import SandboxConfig

#: A fault: a 5xx answer, a connection dropped before or after the request was
#: applied, or an answer that comes only after ``hang_seconds``.
Fault = Literal["5xx", "reset", "reset_after", "hang"]


class FaultDice:
    """Decides, request by request, whether to misbehave; replayable from a seed."""

    __slots__ = ("_rng",)

    #: The statuses a failed request is answered with, equally likely.
    STATUSES = (500, 502, 503)

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def roll(self, config: SandboxConfig) -> Fault | None:
        """The fault for the next request, or None to answer it normally.

        With every rate at zero no number is drawn, so requests served while faults
        are off do not shift the sequence a test replays. A drop falls in the
        ``reset_rate`` band; its upper ``reset_after_share`` part is a drop after
        the request was applied.
        """
        fail, reset, hang = config.fail_rate, config.reset_rate, config.hang_rate
        if fail + reset + hang == 0:
            return None
        draw = self._rng.random()
        if draw < fail:
            return "5xx"
        if draw < fail + reset * (1 - config.reset_after_share):
            return "reset"
        if draw < fail + reset:
            return "reset_after"
        if draw < fail + reset + hang:
            return "hang"
        return None

    def status(self) -> int:
        """The status for a ``5xx`` fault."""
        return self._rng.choice(self.STATUSES)

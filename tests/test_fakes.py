"""FakeTime keeps its rule: the clock moves only when every task waits, and says so loudly
when the code under test breaks the rule, instead of running it on a clock moved too early."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests import fakes
from tests.fakes import FakeTime


async def test_the_clock_waits_for_a_thread_at_work() -> None:
    """A task waiting on a thread (the journal's fsync) is not waiting on virtual time: a
    sleeper due later is not woken, and the clock does not move, until the thread is done."""
    fake = FakeTime()
    gate = threading.Event()
    releaser = threading.Timer(0.05, gate.set)  # however late it comes, the answer is the same

    async def fsync_then_read_clock() -> float:
        await asyncio.to_thread(gate.wait, 10)
        return fake.now

    releaser.start()
    after_thread, _ = await fake.drive(asyncio.gather(fsync_then_read_clock(), fake.sleep(5)))
    assert after_thread == 1000.0
    assert fake.now == 1005.0


async def test_a_task_that_never_waits_fails_the_drive() -> None:
    """A task that stays ready (a loop around sleep(0)) fails the test, naming the rule, and
    is cancelled rather than left spinning."""
    fake = FakeTime()
    turns = 0

    async def spin() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    with pytest.raises(AssertionError, match=f"still ready after {fakes.SPIN_LIMIT} loop turns"):
        await fake.drive(asyncio.gather(spin(), fake.sleep(1)))
    assert fake.now == 1000.0
    spun = turns
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert turns == spun


async def test_a_deadlock_fails_the_drive_naming_the_tasks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Work that waits on nothing that will ever come fails the test, listing the tasks that
    wait, once nothing has happened for DEADLOCK_AFTER real seconds."""
    monkeypatch.setattr(fakes, "DEADLOCK_AFTER", 0.05)

    async def stuck_forever() -> None:
        await asyncio.Event().wait()

    with pytest.raises(AssertionError, match=r"(?s)a deadlock\. Tasks:\n.*stuck_forever"):
        await FakeTime().drive(stuck_forever())

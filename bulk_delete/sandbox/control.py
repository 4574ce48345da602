"""The ``/_sandbox/*`` endpoints: what tests and benchmarks use to watch and steer.

They need no key, always answer JSON, and are not counted in the stats, so
reading the counters never changes them.

    GET  /_sandbox/stats    exact counters (see ``SandboxState.snapshot``)
    GET  /_sandbox/config   the knobs in force
    POST /_sandbox/config   a JSON object of knobs to change; unknown knobs are a 400
    POST /_sandbox/reset    forget records and counters; answers the zeroed stats
"""

from __future__ import annotations

from aiohttp import web

from bulk_delete.sandbox.bodies import json_answer, json_object
from bulk_delete.sandbox.state import SandboxState


def add_control_routes(app: web.Application, state: SandboxState) -> None:
    """Route the control endpoints of ``state`` in ``app``."""
    control = _Control(state)
    app.router.add_get("/_sandbox/stats", control.stats)
    app.router.add_get("/_sandbox/config", control.show_config)
    app.router.add_post("/_sandbox/config", control.configure)
    app.router.add_post("/_sandbox/reset", control.reset)


class _Control:
    __slots__ = ("_state",)

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    async def stats(self, _request: web.Request) -> web.Response:
        return json_answer(self._state.snapshot())

    async def show_config(self, _request: web.Request) -> web.Response:
        return json_answer(self._state.config.as_dict())

    async def configure(self, request: web.Request) -> web.Response:
        try:
            self._state.configure(json_object(await request.read()))
        except ValueError as exc:
            return json_answer({"error": str(exc)}, 400)
        return json_answer(self._state.config.as_dict())

    async def reset(self, _request: web.Request) -> web.Response:
        self._state.reset()
        return json_answer(self._state.snapshot())

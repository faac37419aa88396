"""/_emulator/ready, apart from /_emulator/health: an orchestrator (or a test harness) waits for
ready before sending traffic, and stops sending when it turns 503 during shutdown; health only
says the process is alive and answering.

Ready = the server is listening (this answer is proof), the runtime has started (clock,
callback dispatcher) and its data is loaded (accounts, providers, the --scenario file).
"""
from __future__ import annotations

from aiohttp import web

from ..runtime import RUNTIME_KEY

READY_KEY = web.AppKey("msgemu_ready_state", dict)
routes = web.RouteTableDef()


def install(app: web.Application) -> None:
    state = {"phase": "starting"}
    app[READY_KEY] = state

    async def started(app: web.Application) -> None:
        state["phase"] = "ready"

    async def stopping(app: web.Application) -> None:
        state["phase"] = "stopping"

    app.on_startup.append(started)  # after the runtime's own start-up, which build_app adds first
    app.on_shutdown.insert(0, stopping)


@routes.get("/_emulator/ready")
async def ready(request: web.Request) -> web.Response:
    runtime = request.config_dict[RUNTIME_KEY]
    phase = request.config_dict[READY_KEY]["phase"]
    checks = {
        "started": phase == "ready",
        "providers": bool(runtime.providers),
        "accounts": any(runtime.store.accounts.values()),
        "scenario": not runtime.settings.scenario or runtime.scenarios.active is not None,
    }
    ok = all(checks.values())
    return web.json_response({"status": "ready" if ok else phase if phase != "ready" else "not ready", "checks": checks}, status=200 if ok else 503)

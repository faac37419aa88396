"""/_emulator/namespaces: fresh credentials per test (or per worker) on one shared emulator.

What those credentials send is seen with `?namespace=` on the lists of the control API
(emulator/control/scope.py), reset and steered here; the rules are in emulator/core/namespaces.py.
"""
from __future__ import annotations

import json

from aiohttp import web

from ..core.namespaces import Namespace, TooManyNamespaces
from ..core.scenario import ScenarioError, load_text
from ..runtime import Runtime
from .api import _runtime, problem

routes = web.RouteTableDef()


def _namespace(request: web.Request) -> Namespace:
    found = _runtime(request).namespaces.get(request.match_info["ns"])
    if found is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such namespace", "namespace": request.match_info["ns"]}),
            content_type="application/json",
        )
    return found


def _described(request: web.Request, namespace: Namespace) -> dict:
    """The namespace with its accounts as they are now (credentials, balance) and the base URL
    of each provider on this emulator."""
    rt = _runtime(request)
    base = f"{request.scheme}://{request.host}"
    live = [rt.namespaces.live_account(first) or first for first in namespace.accounts]
    return {
        **namespace.public(),
        "credentials": {a.provider: {"login": a.login, **a.secrets} for a in live},
        "base_urls": {a.provider: f"{base}/{a.provider}" for a in live},
        "balances": {a.provider: {"balance": float(a.balance), "currency": a.currency} for a in live},
    }


@routes.post("/_emulator/namespaces")
async def create_namespace(request: web.Request) -> web.Response:
    """Fresh accounts for every provider: what a test configures its application with."""
    rt = _runtime(request)
    try:
        namespace = rt.namespaces.create()
    except TooManyNamespaces as exc:
        return problem(429, str(exc), limit=rt.namespaces.limit)
    return web.json_response(_described(request, namespace), status=201)


@routes.get("/_emulator/namespaces")
async def list_namespaces(request: web.Request) -> web.Response:
    namespaces = _runtime(request).namespaces.by_name.values()
    return web.json_response({"count": len(namespaces), "namespaces": [_described(request, n) for n in namespaces]})


@routes.delete("/_emulator/namespaces")
async def delete_every_namespace(request: web.Request) -> web.Response:
    """Remove every namespace (say those a crashed run left behind, before the bound is hit)."""
    rt = _runtime(request)
    names = list(rt.namespaces.by_name)
    for name in names:
        _stop_callbacks(rt, rt.namespaces.delete(rt.namespaces.by_name[name]))
    return web.json_response({"deleted": names})


@routes.get("/_emulator/namespaces/{ns}")
async def get_namespace(request: web.Request) -> web.Response:
    return web.json_response(_described(request, _namespace(request)))


@routes.delete("/_emulator/namespaces/{ns}")
async def delete_namespace(request: web.Request) -> web.Response:
    rt = _runtime(request)
    namespace = _namespace(request)
    _stop_callbacks(rt, rt.namespaces.delete(namespace))
    return web.json_response({"deleted": namespace.name})


@routes.post("/_emulator/namespaces/{ns}/reset")
async def reset_namespace(request: web.Request) -> web.Response:
    """Forget this namespace's messages, requests, events, callbacks, directories and opt-outs;
    its accounts back to their first balance. Other namespaces and the default are untouched."""
    rt = _runtime(request)
    namespace = _namespace(request)
    _stop_callbacks(rt, rt.namespaces.reset(namespace))
    return web.json_response({"status": "reset", "namespace": namespace.name})


@routes.get("/_emulator/namespaces/{ns}/scenario")
async def get_namespace_scenario(request: web.Request) -> web.Response:
    scenario = _namespace(request).scenario
    return web.json_response({"active": scenario.public() if scenario else None})


@routes.put("/_emulator/namespaces/{ns}/scenario")
async def put_namespace_scenario(request: web.Request) -> web.Response:
    """A scenario for this namespace's requests only (before the magic recipients)."""
    rt = _runtime(request)
    namespace = _namespace(request)
    source = f"<PUT /_emulator/namespaces/{namespace.name}/scenario>"
    try:
        text = (await request.read()).decode("utf-8")
    except UnicodeDecodeError as exc:
        return problem(422, "invalid scenario", problems=[{"line": None, "message": f"not UTF-8 text: {exc.reason} at byte {exc.start}"}])
    try:
        scenario = load_text(text, rt.schemas, source=source)
    except ScenarioError as exc:
        return problem(422, "invalid scenario", problems=[{"line": line, "message": msg} for line, msg in exc.problems])
    rt.namespaces.set_scenario(namespace, scenario, text)
    return web.json_response({"active": scenario.public()})


@routes.delete("/_emulator/namespaces/{ns}/scenario")
async def delete_namespace_scenario(request: web.Request) -> web.Response:
    """Back to the global scenario (if any) for this namespace."""
    rt = _runtime(request)
    rt.namespaces.set_scenario(_namespace(request), None)
    return web.json_response({"active": None})


def _stop_callbacks(rt: Runtime, message_ids: set[str]) -> None:
    """Callbacks still due for forgotten messages are not sent."""
    for delivery in rt.dispatcher.deliveries.values():
        if delivery.message.id in message_ids and delivery.timer is not None:
            delivery.timer.cancelled = True
    for message_id in message_ids:
        rt.dispatcher.lanes.pop(message_id, None)

"""Which namespace a control API call looks at: `?namespace=ns-…` or the `X-Msgemu-Namespace`
header (`default`: only what no namespace owns; neither: everything, as without namespaces)."""
from __future__ import annotations

import json
from typing import Any, Iterable

from aiohttp import web

from ..core.namespaces import DEFAULT
from ..runtime import RUNTIME_KEY

HEADER = "X-Msgemu-Namespace"


def selected(request: web.Request) -> str | None:
    """The namespace asked for (validated: an unknown one answers 404), None for all."""
    name = request.query.get("namespace") or request.headers.get(HEADER) or None
    if name is None or name == DEFAULT:
        return name
    if request.config_dict[RUNTIME_KEY].namespaces.get(name) is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "no such namespace", "namespace": name}), content_type="application/json")
    return name


def in_scope(request: web.Request, items: Iterable[Any]) -> list[Any]:
    """`items` (messages, request records, events, callback attempts) of the namespace asked for."""
    name = selected(request)
    if name is None:
        return list(items)
    return request.config_dict[RUNTIME_KEY].namespaces.only(name, items)

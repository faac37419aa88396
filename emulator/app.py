"""build_app(settings): the main aiohttp Application, with every provider under /<name>/,
the control API under /_emulator/; plus one root-mounted app per --provider-port."""
from __future__ import annotations

from aiohttp import web

from .control.api import routes as control_routes
from .control import operations
from .control.namespaces import routes as namespace_routes
from .control.receiver import routes as receiver_routes
from .control.security import control_guard, refusal
from .ui import routes as ui_routes
from .middleware import ANSWER_FIRST_KEY, BODY_TIMEOUT_KEY, GUARD_KEY, IDS_SHORT_KEY, MIDDLEWARES, STORE_KEY, shared_store
from .providers.base import PROVIDER_KEY, PROVIDERS_KEY
from .runtime import RUNTIME_KEY, Runtime
from .settings import Settings


def build_app(settings: Settings | None = None, runtime: Runtime | None = None) -> web.Application:
    settings = settings or Settings()
    runtime = runtime or Runtime(settings)
    app = _base_app(runtime)
    app.add_routes(control_routes)
    app.add_routes(namespace_routes)
    app.add_routes(receiver_routes)
    app.add_routes(ui_routes)
    app[PROVIDERS_KEY] = dict(runtime.providers)
    for provider in runtime.providers.values():
        app.add_routes(provider.mounted_routes())
    app.on_startup.append(runtime.start)
    app.on_shutdown.append(runtime.shutdown)
    app.on_cleanup.append(runtime.stop)
    operations.install(app, runtime)  # CORS, /_emulator/metrics, /_emulator/ready
    return app


def build_provider_app(runtime: Runtime, name: str) -> web.Application:
    """One provider at the root of its own port, for clients that only let you change the host."""
    if name not in runtime.providers:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(sorted(runtime.providers))}")
    provider = runtime.providers[name]
    app = _base_app(runtime)
    app[PROVIDER_KEY] = provider
    app.add_routes(provider.routes())
    operations.install(app, runtime, control=False)  # its requests are counted and timed too
    return app


def _base_app(runtime: Runtime) -> web.Application:
    sharing = [shared_store] if runtime.store.shared else []  # sync before, commit after (core/redis_store.py)
    # the control guard is a layer of its own only before a shared store's sync (a refused request
    # does not pay a round trip); otherwise the journal's layer asks it for /_emulator paths, and a
    # provider request pays one layer (a partial and a coroutine) less
    guard = [control_guard] if sharing else []
    app = web.Application(middlewares=[*guard, *sharing, *MIDDLEWARES], client_max_size=runtime.settings.max_body)
    if not sharing:
        app[GUARD_KEY] = refusal
    app[RUNTIME_KEY] = runtime
    app[STORE_KEY] = runtime.store
    app[BODY_TIMEOUT_KEY] = float(runtime.settings.body_timeout)
    app[ANSWER_FIRST_KEY] = not sharing
    if sharing:  # a store away long enough to run out of ids refuses requests up front
        app[IDS_SHORT_KEY] = runtime.store.short_of_ids
    return app

"""What an operator adds around the emulator: CORS on the control API, Prometheus metrics and
a readiness probe. build_app/build_provider_app call install() once per Application."""
from __future__ import annotations

from aiohttp import web

from . import cors, metrics, readiness


def install(app: web.Application, runtime, control: bool = True) -> None:
    """`control`: the app serves /_emulator (the main port), not a lone --provider-port app."""
    app.middlewares.insert(0, metrics.metrics_of(runtime).middleware())  # outermost: faults' delays count
    if not control:
        return
    cors.install(app, cors.parse_origins(runtime.settings.cors_origins))
    readiness.install(app)
    app.add_routes(metrics.routes)
    app.add_routes(readiness.routes)

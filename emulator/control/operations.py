"""What an operator adds around the emulator: CORS on the control API, Prometheus metrics and
a readiness probe. build_app/build_provider_app call install() once per Application."""
from __future__ import annotations

from aiohttp import web

from ..middleware import TALLY_KEY
from . import cors, metrics, readiness


def install(app: web.Application, runtime, control: bool = True) -> None:
    """`control`: the app serves /_emulator (the main port), not a lone --provider-port app."""
    instruments = metrics.metrics_of(runtime)
    if runtime.store.shared:  # sync and commit are part of answering: timed from outside them
        app.middlewares.insert(0, instruments.middleware())
    else:  # tallied by the journal's layer, timed from its start (faults' delays count): one layer less
        app[TALLY_KEY] = instruments.tally
    if not control:
        return
    cors.install(app, cors.parse_origins(runtime.settings.cors_origins))
    readiness.install(app)
    app.add_routes(metrics.routes)
    app.add_routes(readiness.routes)

"""/_emulator/metrics in the Prometheus text format (prometheus-client).

Requests are counted, and their latency measured, by one small timing middleware (a true
counter: it survives reset and retention). Messages by status and callback attempts by result
are read from the store at scrape time, as gauges of what the store holds now.
"""
from __future__ import annotations

import asyncio
import time
import weakref
from collections import Counter as Tally
from typing import Any, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from ..providers.base import provider_of
from ..providers.base import OUTCOME_KEY
from ..runtime import RUNTIME_KEY

YIELD_EVERY = 5000
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The instruments of one emulator (one registry per runtime: tests build many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "msgemu_requests", "Provider requests answered, by provider and outcome", ["provider", "outcome"], registry=self.registry
        )
        self.latency = Histogram(
            "msgemu_request_duration_seconds",
            "Time to answer a provider request (faults such as delays included)",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._counted: dict[tuple[str, str], Any] = {}  # labels() takes a lock and builds a key per call:
        self._timed: dict[str, Any] = {}  # each (provider, outcome) child is looked up once instead

    def tally(self, provider: str, outcome: str, seconds: float) -> None:
        """One provider request done: counted by outcome, timed (faults' delays included)."""
        key = (provider, outcome)
        counter = self._counted.get(key)
        if counter is None:
            counter = self._counted[key] = self.requests.labels(*key)
        counter.inc()
        latency = self._timed.get(provider)
        if latency is None:
            latency = self._timed[provider] = self.latency.labels(provider)
        latency.observe(seconds)

    def middleware(self):
        """The outermost layer that tallies provider requests, for apps whose journal layer does
        not (a shared store's sync and commit run outside that layer, and take part in answering)."""

        @web.middleware
        async def timing(request: web.Request, handler) -> web.StreamResponse:
            provider = provider_of(request)
            if provider is None:
                return await handler(request)
            started = time.perf_counter()
            try:
                return await handler(request)
            finally:
                self.tally(provider.name, request.get(OUTCOME_KEY, _QUERY)[0], time.perf_counter() - started)

        return timing


_QUERY = ("query", None, [])


_OF_RUNTIME: "weakref.WeakKeyDictionary[Any, Metrics]" = weakref.WeakKeyDictionary()


def metrics_of(runtime: Any) -> Metrics:
    """The one Metrics of a runtime, shared by the main app and every --provider-port app."""
    if runtime not in _OF_RUNTIME:
        _OF_RUNTIME[runtime] = Metrics()
    return _OF_RUNTIME[runtime]


def callback_result(attempt: dict[str, Any]) -> str:
    status = attempt.get("status")
    if isinstance(status, int) and 200 <= status < 300:
        return "ok"
    if str(attempt.get("error") or "").startswith("not sent"):
        return "not_sent"
    return "retrying" if attempt.get("next_retry_in") is not None else "failed"


async def store_families(store) -> list[Metric]:
    """Messages by provider/status and callback attempts by provider/result, counted now."""
    by_status: Tally = Tally()
    async for message in store.scan_messages():
        by_status[(message.provider, message.status.value)] += 1
    by_result: Tally = Tally()
    for n, attempt in enumerate(list(store.callbacks), 1):
        by_result[(str(attempt.get("provider")), callback_result(attempt))] += 1
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    messages = GaugeMetricFamily("msgemu_messages", "Messages held by the emulator, by provider and current status", labels=["provider", "status"])
    for (provider, status), count in sorted(by_status.items()):
        messages.add_metric([provider, status], count)
    callbacks = GaugeMetricFamily(
        "msgemu_callback_attempts", "Callback attempts in the journal, by provider and result (ok, retrying, failed, not_sent)", labels=["provider", "result"]
    )
    for (provider, result), count in sorted(by_result.items()):
        callbacks.add_metric([provider, result], count)
    held = GaugeMetricFamily("msgemu_journal_requests", "Provider requests held in the journal (bounded by --retention)")
    held.add_metric([], len(store.requests))
    return [messages, callbacks, held]


class _Scrape:
    """What generate_latest() collects: the live instruments plus this scrape's store counts."""

    def __init__(self, registry: CollectorRegistry, families: Iterable[Metric]) -> None:
        self.registry = registry
        self.families = list(families)

    def collect(self):
        yield from self.registry.collect()
        yield from self.families


routes = web.RouteTableDef()


@routes.get("/_emulator/metrics")
async def metrics(request: web.Request) -> web.Response:
    runtime = request.config_dict[RUNTIME_KEY]
    instruments = metrics_of(runtime)
    families = await store_families(runtime.store)
    body = generate_latest(_Scrape(instruments.registry, families))  # type: ignore[arg-type]
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

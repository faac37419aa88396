"""/_emulator/metrics in the Prometheus text format (prometheus-client).

Requests are counted, and their latency measured, by one small timing middleware (a true
counter: it survives reset and retention). Messages by status and callback attempts by result
are read from the store at scrape time, as gauges of what the store holds now. Under `msgemu
serve`, the answering process's garbage collections too (gc_pacing.py): how many, and the
longest, since it started.
"""
from __future__ import annotations

import asyncio
import gc
import time
import weakref
from bisect import bisect_left
from collections import Counter as Tally
from typing import Any, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from .. import gc_pacing
from ..providers.base import provider_of
from ..providers.base import OUTCOME_KEY
from ..runtime import RUNTIME_KEY

YIELD_EVERY = 5000
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The instruments of one emulator (one registry per runtime: tests build many).

    Requests are counted and timed in plain numbers (a tally is every provider request's cost:
    prometheus-client's Counter.inc and Histogram.observe take a lock and make several calls
    each) and turned into the same two families, counter and histogram, when scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counted: dict[tuple[str, str], list] = {}  # (provider, outcome) -> [count, created]
        self._timed: dict[str, _Timing] = {}  # provider -> its latency histogram
        self.registry.register(_Instruments(self))

    def tally(self, provider: str, outcome: str, seconds: float) -> None:
        """One provider request done: counted by outcome, timed (faults' delays included)."""
        counted = self._counted.get((provider, outcome))
        if counted is None:
            counted = self._counted[(provider, outcome)] = [0, time.time()]
        counted[0] += 1
        timing = self._timed.get(provider)
        if timing is None:
            timing = self._timed[provider] = _Timing()
        timing.buckets[bisect_left(_BOUNDS, seconds)] += 1  # the first bound >= seconds, as observe() finds it
        timing.sum += seconds

    def families(self) -> list[Metric]:
        """What prometheus-client's Counter and Histogram with these labels would expose."""
        created = getattr(prometheus_metrics, "_use_created", True)
        requests = Metric("msgemu_requests", "Provider requests answered, by provider and outcome", "counter")
        for (provider, outcome), (count, at) in list(self._counted.items()):
            labels = {"provider": provider, "outcome": outcome}
            requests.add_sample("msgemu_requests_total", labels, float(count))
            if created:
                requests.add_sample("msgemu_requests_created", labels, at)
        latency = Metric("msgemu_request_duration_seconds", "Time to answer a provider request (faults such as delays included)", "histogram")
        for provider, timing in list(self._timed.items()):
            total = 0.0
            for bound, count in zip(_BOUNDS, timing.buckets):
                total += count
                latency.add_sample("msgemu_request_duration_seconds_bucket", {"provider": provider, "le": _LE[bound]}, total)
            labels = {"provider": provider}
            latency.add_sample("msgemu_request_duration_seconds_count", labels, total)
            latency.add_sample("msgemu_request_duration_seconds_sum", labels, timing.sum)
            if created:
                latency.add_sample("msgemu_request_duration_seconds_created", labels, timing.created)
        return [requests, latency]

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
_BOUNDS = (*LATENCY_BUCKETS, float("inf"))
_LE = {bound: floatToGoString(bound) for bound in _BOUNDS}


class _Timing:
    """One provider's latency histogram: a count per bucket (not cumulative), the sum, created."""

    __slots__ = ("buckets", "sum", "created")

    def __init__(self) -> None:
        self.buckets = [0] * len(_BOUNDS)
        self.sum = 0.0
        self.created = time.time()


class _Instruments:
    """The registry's collector of a Metrics' request counts and latencies."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics.families()

    def describe(self) -> list[Metric]:
        return [Metric(family.name, family.documentation, family.type) for family in self.metrics.families()]


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
    families = [messages, callbacks, held]
    outage = getattr(store, "outage", None)
    if outage is not None:  # a shared store (core/store_outage.py)
        reachable = GaugeMetricFamily(
            "msgemu_store_reachable", "1 when the answering process reaches the shared store; 0 while it answers from its own copy"
        )
        reachable.add_metric([], 0 if outage.away else 1)
        families.append(reachable)
    return families


def gc_families() -> list[Metric]:
    """This process's young collections since `msgemu serve` tuned the collector (none when it
    did not: msgemu run inside a test process leaves that process's collector alone)."""
    pauses = gc_pacing.pauses
    if not pauses.tuned:
        return []
    collections = CounterMetricFamily("msgemu_gc_collections", "Young garbage collections of the answering process since it started")
    collections.add_metric([], pauses.collections)
    paced = CounterMetricFamily("msgemu_gc_paced_collections", "Of them, run by the loop because none ran for a while (gc_pacing)")
    paced.add_metric([], pauses.paced)
    spent = CounterMetricFamily("msgemu_gc_cpu_seconds", "CPU time of the answering process in garbage collections")
    spent.add_metric([], pauses.cpu_seconds)
    longest = GaugeMetricFamily("msgemu_gc_longest_pause_seconds", "CPU time of the longest garbage collection of the answering process")
    longest.add_metric([], pauses.longest)
    young = GaugeMetricFamily("msgemu_gc_young_objects", "Objects the next young collection of the answering process will look at")
    young.add_metric([], len(gc.get_objects(0)))  # (what the pacer keeps small: counting them costs as little)
    return [collections, paced, spent, longest, young]


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
    families = [*await store_families(runtime.store), *gc_families()]
    body = generate_latest(_Scrape(instruments.registry, families))  # type: ignore[arg-type]
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

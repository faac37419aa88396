"""Operations over real HTTP: CORS on the control API (--cors-origins), /_emulator/metrics in
the Prometheus format, /_emulator/ready apart from /_emulator/health, and --log-format json in
a real `msgemu serve` process."""
from __future__ import annotations

import json
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from emulator.app import build_app
from emulator.cli import main
from emulator.settings import Settings

from .conftest import advance
from .sends import send
from .test_cli import free_port, serve, wait_up  # noqa: F401  (serve is a fixture)

APP_ORIGIN = "http://localhost:3000"


@pytest.fixture
async def cors_client(aiohttp_client):
    settings = Settings(clock="manual", watch_scenario=False, callback_loopback_only=True, cors_origins=f"{APP_ORIGIN}, https://qa.example")
    return await aiohttp_client(build_app(settings))


async def test_no_cors_headers_by_default(client):
    response = await client.get("/_emulator/messages", headers={"Origin": APP_ORIGIN})
    assert response.status == 200 and "Access-Control-Allow-Origin" not in response.headers
    preflight = await client.options("/_emulator/reset", headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_cors_allows_the_configured_origins_only(cors_client):
    preflight = await cors_client.options(
        "/_emulator/reset", headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type"

    answer = await cors_client.post("/_emulator/reset", headers={"Origin": "https://qa.example"})
    assert answer.status == 200 and answer.headers["Access-Control-Allow-Origin"] == "https://qa.example"
    assert "Origin" in answer.headers["Vary"]
    missing = await cors_client.get("/_emulator/messages/nope", headers={"Origin": APP_ORIGIN})  # errors too
    assert missing.status == 404 and missing.headers["Access-Control-Allow-Origin"] == APP_ORIGIN

    stranger = await cors_client.options("/_emulator/reset", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert stranger.status == 403 and "Access-Control-Allow-Origin" not in stranger.headers
    plain = await cors_client.get("/_emulator/messages", headers={"Origin": "https://evil.example"})
    forged = await cors_client.post("/_emulator/reset", headers={"Origin": "https://evil.example"})
    assert forged.status == 403  # the control guard still refuses every other web origin
    assert "Access-Control-Allow-Origin" not in plain.headers
    # provider paths are not the control API: never marked
    provider = await send(cors_client, "alphasms", "380971234567")
    assert provider.status == 200 and "Access-Control-Allow-Origin" not in provider.headers


async def test_cors_reaches_the_event_stream(cors_client):
    stream = await cors_client.get("/_emulator/stream", headers={"Origin": APP_ORIGIN})
    assert stream.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    stream.close()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_in_prometheus_format(client):
    hook = f"http://{client.server.host}:{client.server.port}/_emulator/receiver/metrics"
    await send(client, "alphasms", "380971234567", hook=hook)
    await send(client, "alphasms", "380000000003", item_id=2)  # magic: undelivered
    await client.post("/alphasms/api/json.php", json={"auth": "wrong", "data": []})
    await send(client, "smsc", "79001234567")
    await advance(client, 10)
    response = await client.get("/_emulator/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    found = samples(await response.text())
    assert found[("msgemu_requests_total", (("outcome", "accepted"), ("provider", "alphasms")))] == 2
    assert found[("msgemu_requests_total", (("outcome", "rejected"), ("provider", "alphasms")))] == 1
    assert found[("msgemu_requests_total", (("outcome", "accepted"), ("provider", "smsc")))] == 1
    assert found[("msgemu_request_duration_seconds_count", (("provider", "alphasms"),))] == 3
    assert found[("msgemu_request_duration_seconds_bucket", (("le", "+Inf"), ("provider", "alphasms")))] == 3
    assert found[("msgemu_messages", (("provider", "alphasms"), ("status", "delivered")))] == 1
    assert found[("msgemu_messages", (("provider", "alphasms"), ("status", "undelivered")))] == 1
    assert found[("msgemu_messages", (("provider", "smsc"), ("status", "delivered")))] == 1
    assert found[("msgemu_callback_attempts", (("provider", "alphasms"), ("result", "ok")))] >= 2
    # the request counter is a real counter: a reset empties the store, not the count
    await client.post("/_emulator/reset")
    after = samples(await (await client.get("/_emulator/metrics")).text())
    assert after[("msgemu_requests_total", (("outcome", "accepted"), ("provider", "alphasms")))] == 2
    assert ("msgemu_messages", (("provider", "alphasms"), ("status", "delivered"))) not in after


async def test_provider_port_requests_are_counted_by_the_main_port(aiohttp_client, settings):
    from emulator.app import build_provider_app
    from emulator.runtime import Runtime

    runtime = Runtime(settings)
    main_port = await aiohttp_client(build_app(settings, runtime))
    smsc_port = await aiohttp_client(build_provider_app(runtime, "smsc"))
    answer = await smsc_port.post("/sys/send.php", data={"login": "demo", "psw": "demo-password", "phones": "79001234567", "mes": "hi", "fmt": "3"})
    assert answer.status == 200
    found = samples(await (await main_port.get("/_emulator/metrics")).text())
    assert found[("msgemu_requests_total", (("outcome", "accepted"), ("provider", "smsc")))] == 1


async def test_ready_and_health_are_separate(client):
    ready = await client.get("/_emulator/ready")
    body = await ready.json()
    assert ready.status == 200 and body["status"] == "ready" and all(body["checks"].values())
    assert (await client.get("/_emulator/health")).status == 200


async def test_ready_is_503_before_start_up_and_during_shutdown(aiohttp_client, settings):
    from emulator.control.readiness import READY_KEY

    app = build_app(settings)
    client = await aiohttp_client(app)
    app[READY_KEY]["phase"] = "stopping"  # what on_shutdown sets while connections drain
    answer = await client.get("/_emulator/ready")
    assert answer.status == 503 and (await answer.json())["status"] == "stopping"
    assert (await client.get("/_emulator/health")).status == 200  # alive all the same


def test_serve_logs_json_lines_and_turns_ready(serve):  # noqa: F811
    port = free_port()
    proc = serve("--port", str(port), "--log-format", "json", "--cors-origins", APP_ORIGIN, "--clock", "manual")
    base = f"http://127.0.0.1:{port}"
    wait_up(f"{base}/_emulator/ready", proc)
    with urllib.request.urlopen(f"{base}/_emulator/ready", timeout=5) as response:
        assert response.status == 200
    request = urllib.request.Request(f"{base}/_emulator/health", headers={"Origin": APP_ORIGIN})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    proc.terminate()
    _, stderr = proc.communicate(timeout=10)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "no log output"
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(e["logger"] == "msgemu" and f"alphasms http://127.0.0.1:{port}/alphasms" in e["message"] for e in entries)  # the start line
    assert any(e["logger"] == "aiohttp.access" and "/_emulator/ready" in e["message"] for e in entries)
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)


def test_log_format_is_checked(monkeypatch, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--log-format", "xml"])
    assert exited.value.code == 2 and "--log-format" in capsys.readouterr().err
    monkeypatch.setenv("MSGEMU_LOG_FORMAT", "xml")
    assert main(["serve", "--port", str(free_port())]) == 2
    assert "log format must be one of text, json" in capsys.readouterr().err


def test_tallies_are_exposed_as_prometheus_clients_own_counter_and_histogram_would():
    """Requests are tallied in plain numbers and exposed at scrape time: the text must be what
    prometheus-client's Counter and Histogram, fed the same requests, expose (created masked)."""
    import random
    import re

    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.exposition import generate_latest

    from emulator.control.metrics import LATENCY_BUCKETS, Metrics

    registry = CollectorRegistry(auto_describe=True)
    counter = Counter("msgemu_requests", "Provider requests answered, by provider and outcome", ["provider", "outcome"], registry=registry)
    histogram = Histogram("msgemu_request_duration_seconds", "Time to answer a provider request (faults such as delays included)",
                          ["provider"], buckets=LATENCY_BUCKETS, registry=registry)
    metrics = Metrics()
    rnd = random.Random(15)
    for _ in range(2000):  # bucket bounds exactly, between them, past the last one
        provider, outcome = rnd.choice(["alphasms", "smsc", "hyber"]), rnd.choice(["accepted", "rejected", "query"])
        seconds = rnd.choice([*LATENCY_BUCKETS, 0.0, 45.0, rnd.random() / 20, rnd.random() * 3])
        counter.labels(provider, outcome).inc()
        histogram.labels(provider).observe(seconds)
        metrics.tally(provider, outcome, seconds)

    def text(reg):
        return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", generate_latest(reg).decode())

    assert text(metrics.registry) == text(registry)
    assert "msgemu_request_duration_seconds_bucket" in text(metrics.registry)

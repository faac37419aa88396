"""Fuzzing (hypothesis) of every provider endpoint and a 1,000 concurrent clients test.

Whatever a client sends: no unhandled 500, no traceback, every request is journaled, and every
message a request was told was accepted exists (nothing accepted is lost).
"""
from __future__ import annotations

import asyncio
import json
import resource

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from emulator.app import build_app
from emulator.providers import REGISTRY

from .conftest import advance

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=25,
)

# Field names the providers know, so fuzzed objects reach deep validation, not only "unknown".
KNOWN_FIELDS = [
    "type", "id", "phone", "sms_signature", "sms_message", "viber_type", "viber_signature", "viber_message", "pipeline",
    "sms", "viber", "voice", "message", "hook", "channel", "text", "recipients", "phone_number", "sender", "purpose",
    "send_at", "metadata", "simulation_mode", "channels", "channel_options", "extra_id", "callback_url", "start_time",
    "alpha_name", "ttl", "channelType", "senderName", "destination", "content", "contentType", "tags", "callbackUrl",
    "externalMessageId", "uuids", "email", "conversation_id", "auth", "data",
]
field_names = st.sampled_from(KNOWN_FIELDS) | st.text(max_size=10)
objects = st.dictionaries(field_names, json_values, max_size=8)
ALPHA_TYPES = ["sms", "viber", "viber+sms", "rcs", "rcs+sms", "rcs+viber+sms", "voice", "call/otp", "pipeline", "hlr", "status", "balance"]
# Item fields get shallower garbage than whole bodies: a nested value is refused at its first
# wrong type, so depth adds generation time, not coverage (measured with coverage.py: the
# emulator lines this test reaches with max_leaves=4 are a superset of those with 25; 10 s -> 3 s).
item_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=4,
)
alpha_items = st.builds(lambda t, extra: {"type": t, **extra}, st.sampled_from(ALPHA_TYPES), st.dictionaries(field_names, item_values, max_size=8))
form_values = st.dictionaries(st.sampled_from(["login", "psw", "apikey", "phones", "mes", "fmt", "cost", "id", "time", "charset", "sender", "add", "get", "del", "phone", "name", "grp", "all", "cur"]) | st.text(max_size=8), st.text(max_size=20), max_size=8)


def provider_paths(app) -> list[tuple[str, str]]:
    """(method, path) of every provider route, with path parameters filled in."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/_emulator") or not path or route.method == "HEAD":
            continue
        path = path.replace("{client_id}", "1000").replace("{message_id}", "00000000-0000-0000-0000-000000000000")
        path = "".join(part if not part.startswith("{") else "x" for part in path.replace("}", "}/").split("/")).replace("//", "/") if "{" in path else path
        out.append(("POST" if route.method == "*" else route.method, path))
    return sorted(set(out))


def auth_headers() -> list[dict[str, str]]:
    import base64

    return [
        {},
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json", "api-key": "octopush-demo-key", "api-login": "demo@msgemu.local"},
        {"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(b"demo:demo-password").decode()},
        {"Content-Type": "application/json", "Authorization": "Basic revicom-demo-token"},
        {"Content-Type": "application/x-www-form-urlencoded"},
    ]


async def assert_sane(client, response, sent_count: int | None = None) -> None:
    text = await response.text(errors="replace")
    assert response.status < 500, (response.status, text[:300])
    assert "Traceback" not in text and 'File "' not in text


async def assert_nothing_lost(client) -> None:
    journal = (await (await client.get("/_emulator/requests", params={"limit": "10000"})).json())["requests"]
    listed = (await (await client.get("/_emulator/messages", params={"limit": "10000"})).json())["messages"]
    stored = {m["id"] for m in listed}
    for record in journal:
        assert record["status"] < 500, record
        for message_id in record["message_ids"]:
            assert message_id in stored, ("accepted message lost", record)


@pytest.mark.parametrize("provider", sorted(REGISTRY))
async def test_fuzz_every_provider_endpoint_with_garbage(aiohttp_client, settings, provider):
    client = await aiohttp_client(build_app(settings))
    app = client.server.app
    paths = [(m, p) for m, p in provider_paths(app) if p.startswith(f"/{provider}/")]
    assert paths, provider

    @hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(
        target=st.sampled_from(paths),
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", None]),
        headers=st.sampled_from(auth_headers()),
        body=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), objects.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)),
        query=form_values,
    )
    async def run(target, method, headers, body, query):
        path_method, path = target
        response = await client.request(method or path_method, path, data=body, headers=headers, params=query)
        await assert_sane(client, response)

    await _run_async_given(run)
    await assert_nothing_lost(client)


async def _run_async_given(test) -> None:
    """Hypothesis runs sync functions: drive each async example on this loop from a thread."""
    loop = asyncio.get_running_loop()
    inner = test.hypothesis.inner_test

    def sync_wrapper(*args, **kwargs):
        return asyncio.run_coroutine_threadsafe(inner(*args, **kwargs), loop).result(60)

    test.hypothesis.inner_test = sync_wrapper
    try:
        await loop.run_in_executor(None, test)
    finally:
        test.hypothesis.inner_test = inner


async def test_fuzz_alphasms_items_with_valid_auth(aiohttp_client, settings):
    client = await aiohttp_client(build_app(settings))

    @hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(items=st.lists(alpha_items, min_size=1, max_size=6))
    async def run(items):
        response = await client.post("/alphasms/api/json.php", json={"auth": "alphasms-demo-key", "data": items})
        await assert_sane(client, response)
        answer = await response.json()
        assert answer["success"] is True or set(answer) == {"success", "error"}
        if answer["success"]:
            assert len(answer["data"]) == len(items)

    await _run_async_given(run)
    await advance(client, 120)
    await assert_nothing_lost(client)


async def test_a_thousand_concurrent_clients(aiohttp_server, settings):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    server = await aiohttp_server(build_app(settings))
    url = f"http://127.0.0.1:{server.port}/alphasms/api/json.php"
    async with aiohttp.ClientSession() as http:
        await http.patch(f"http://127.0.0.1:{server.port}/_emulator/accounts/alphasms", json={"balance": 1_000_000})

    async def one_client(i: int) -> dict:
        # each client its own session and connection, all open at the same time
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, force_close=True)) as session:
            item = {"type": "sms", "id": i, "phone": 380970000000 + i, "sms_signature": "Load", "sms_message": f"code {i:06d}"}
            async with session.post(url, json={"auth": "alphasms-demo-key", "data": [item]}, timeout=aiohttp.ClientTimeout(total=120)) as response:
                assert response.status == 200
                return await response.json()

    answers = await asyncio.gather(*(one_client(i) for i in range(1000)))
    assert all(a["data"][0]["success"] for a in answers)
    msg_ids = {a["data"][0]["data"]["msg_id"] for a in answers}
    assert len(msg_ids) == 1000
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
        listed = await (await http.get("/_emulator/messages", params={"provider": "alphasms", "limit": "10000"})).json()
        journal = await (await http.get("/_emulator/requests", params={"limit": "10000"})).json()
    assert listed["count"] == 1000
    assert journal["count"] == 1000 and all(r["outcome"] == "accepted" for r in journal["requests"])

"""No input stalls the server or reaches it as a 500: scenario bombs, catastrophic regexes,
malformed bodies on every provider and on the control API (issue 11, over real HTTP)."""
from __future__ import annotations

import asyncio
import gzip
import json
import time

import pytest

from emulator.app import build_app
from aiohttp.test_utils import TestServer

from emulator.cli import check_command, main, server_options
from emulator.core.scenario import MAX_SCENARIO_BYTES, ScenarioError, load_file
from emulator.core.validation import Schemas

# 461 bytes, 9^9 strings once expanded: today it freezes the server and eats its memory
BILLION_LAUGHS = "\n".join(
    ['name: laughs', 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{x}: &{x} [{','.join(['*' + p] * 9)}]" for p, x in zip("abcdefgh", "bcdefghi")]
    + ["rules: *i", ""]
)
SEND = {"auth": "alphasms-demo-key", "data": [{"type": "sms", "id": 1, "phone": 380970000001, "sms_signature": "Test", "sms_message": "hello"}]}


@pytest.fixture
async def client(aiohttp_client, settings):
    # with the server options `msgemu serve` uses: bodies are not decoded by aiohttp itself
    server = TestServer(build_app(settings))
    await server.start_server(**{k: v for k, v in server_options(settings).items() if k not in ("access_log_format", "handler_cancellation")})
    return await aiohttp_client(server)


async def timed(coro, limit: float = 5.0):
    """The answer, within `limit` seconds (the stalls this guards against last 40-50 s)."""
    return await asyncio.wait_for(coro, limit)


async def test_billion_laughs_is_refused_before_expansion_over_put(client):
    assert len(BILLION_LAUGHS) < 500
    started = time.monotonic()
    response = await timed(client.put("/_emulator/scenario", data=BILLION_LAUGHS))
    assert response.status == 422
    problems = (await response.json())["problems"]
    assert "aliases are expanded" in problems[0]["message"]
    assert time.monotonic() - started < 5
    assert (await (await client.get("/_emulator/health")).json())["status"] == "ok"


HOSTILE_SCENARIOS = [
    ("[" * 100_000, "nested too deeply"),
    ("x: &a [*a]\nrules: []\n", "recursive alias"),
    ("rules:\n" + " - {match: {provider: alphasms}, reply: {error: x}}\n" * 1001, "too many rules"),
    ("# pad\n" * (MAX_SCENARIO_BYTES // 6 + 1), "too large"),
    ("rules:\n - match: {text_regex: '(a)\\1'}\n   reply: {error: x}\n", "RE2"),
]


async def test_oversized_or_hostile_scenarios_get_a_clear_422(client):
    for text, reason in HOSTILE_SCENARIOS:
        response = await timed(client.put("/_emulator/scenario", data=text))
        assert response.status == 422, reason
        assert reason in json.dumps(await response.json())


def test_check_scenario_and_serve_refuse_the_bomb_too(tmp_path, capsys):
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS)
    started = time.monotonic()
    assert check_command([str(path)]) == 1
    assert "aliases are expanded" in capsys.readouterr().out
    assert main(["serve", "--scenario", str(path), "--port", "1"]) == 2  # refused before binding
    with pytest.raises(ScenarioError):
        load_file(path, Schemas())  # what the hot reload calls (in a thread)
    assert time.monotonic() - started < 5


async def test_hot_reload_of_a_bomb_keeps_the_previous_scenario(aiohttp_client, settings, tmp_path):
    from emulator.runtime import RUNTIME_KEY

    good = tmp_path / "s.yaml"
    good.write_text("name: good\nrules:\n - {match: {provider: alphasms}, reply: {error: internal}}\n")
    settings.scenario = str(good)
    client = await aiohttp_client(build_app(settings))
    runtime = client.server.app[RUNTIME_KEY]
    good.write_text(BILLION_LAUGHS)
    runtime.scenarios.mtime = 0  # as if the watcher saw the file change
    runtime.settings.watch_scenario = True
    watcher = asyncio.create_task(runtime._watch_scenario())
    try:
        for _ in range(40):
            await asyncio.sleep(0.1)
            if runtime.scenarios.mtime:
                break
        health = await timed(client.get("/_emulator/health"))
        assert (await health.json())["scenario"]["name"] == "good"
    finally:
        watcher.cancel()


async def test_catastrophic_regex_cannot_freeze_the_server(client):
    scenario = "rules:\n - match: {provider: alphasms, text_regex: '^(a+)+$'}\n   reply: {error: internal}\n"
    assert (await client.put("/_emulator/scenario", data=scenario)).status == 200
    evil = {**SEND, "data": [{**SEND["data"][0], "sms_message": "a" * 31 + "!"}]}
    response = await timed(client.post("/alphasms/api/json.php", json=evil), 2.0)
    assert (await response.json())["data"][0]["success"] is True  # no match, no backtracking
    health = await timed(client.get("/_emulator/health"), 2.0)
    assert health.status == 200


# -- malformed requests: the provider's own error, journaled, never Infinity -------------------
JSON_PROVIDERS = {
    "alphasms": ("/alphasms/api/json.php", {"Content-Type": "application/json"}),
    "octopush": ("/octopush/v1/public/sms-campaign/send", {"Content-Type": "application/json", "api-key": "octopush-demo-key", "api-login": "demo@msgemu.local"}),
    "hyber": ("/hyber/1000", {"Content-Type": "application/json", "Authorization": "Basic ZGVtbzpkZW1vLXBhc3N3b3Jk"}),
    "revicom": ("/revicom/api/v1/sms", {"Content-Type": "application/json", "Authorization": "Basic revicom-demo-token"}),
}
MALFORMED = {
    "bogus content-encoding": (json.dumps(SEND).encode(), {"Content-Encoding": "bogus"}),
    "gzip that is not gzip": (json.dumps(SEND).encode(), {"Content-Encoding": "gzip"}),
    "brotli (not installed)": (json.dumps(SEND).encode(), {"Content-Encoding": "br"}),
    "1e999": (json.dumps(SEND).replace("380970000001", "1e999").encode(), {}),
    "lone surrogate": (json.dumps(SEND).replace("hello", "\\ud800").encode(), {}),
    "100k-deep nesting": (b"[" * 100_000 + b"]" * 100_000, {}),
    "5000-digit integer": (b'{"auth": ' + b"9" * 5000 + b"}", {}),
    "NaN": (b'{"auth": NaN, "data": []}', {}),
}


async def test_malformed_bodies_get_the_providers_own_error_and_are_journaled(client):
    for provider in sorted(JSON_PROVIDERS):
        await _malformed_bodies_on(client, provider)


async def _malformed_bodies_on(client, provider: str) -> None:
    path, headers = JSON_PROVIDERS[provider]
    for name, (body, extra) in MALFORMED.items():
        response = await timed(client.post(path, data=body, headers={**headers, **extra}))
        text = await response.text(errors="replace")
        assert response.status < 500, (name, response.status, text)
        assert "Infinity" not in text and "NaN" not in text and "Traceback" not in text, (name, text)
        if response.content_type == "application/json":
            json.loads(text)  # valid JSON, whatever came in
    journal = await (await client.get("/_emulator/requests", params={"provider": provider})).json()
    assert journal["count"] == len(MALFORMED)
    assert all(r["outcome"] != "accepted" for r in journal["requests"])


async def test_a_real_gzip_body_is_decoded(client):
    response = await client.post(
        "/alphasms/api/json.php", data=gzip.compress(json.dumps(SEND).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert (await response.json())["data"][0]["success"] is True


async def test_smsc_form_with_a_bogus_encoding_answers_an_smsc_error(client):
    response = await client.post(
        "/smsc/sys/send.php", data=b"login=demo&psw=demo-password&phones=79001234567&mes=hi",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"},
    )
    assert response.status == 200 and "ERROR" in await response.text()


HOSTILE_CONTROL_CALLS = [
    ("PATCH", "/_emulator/accounts/alphasms", b"[" * 100_000 + b"]" * 100_000),
    ("PATCH", "/_emulator/accounts/alphasms", b'{"balance": ' + b"1" * 5000 + b"}"),
    ("PATCH", "/_emulator/accounts/alphasms", b'{"balance": NaN}'),
    ("PATCH", "/_emulator/accounts/alphasms", b'{"balance": 1e999}'),
    ("PATCH", "/_emulator/accounts/alphasms", b'{"balance": "Infinity"}'),
    ("PATCH", "/_emulator/accounts/alphasms", b'{"balance": "NaN"}'),
    ("PATCH", "/_emulator/accounts/alphasms", b'{"balance": "1e400"}'),
    ("PATCH", "/_emulator/accounts/alphasms", b'{"balance": "\\ud800"}'),
    ("POST", "/_emulator/clock/advance", b"{" * 100_000),
    ("POST", "/_emulator/inbound", b'{"text": "\\udc00", "phone": 1}'),
]


async def test_control_api_refuses_hostile_json_with_a_400(client):
    for method, path, body in HOSTILE_CONTROL_CALLS:
        response = await timed(client.request(method, path, data=body, headers={"Content-Type": "application/json"}))
        assert response.status == 400, (body[:40], await response.text())
    accounts = await (await client.get("/_emulator/accounts/alphasms")).text()
    assert "Infinity" not in accounts and "NaN" not in accounts
    json.loads(accounts)

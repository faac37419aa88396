"""Fuzzing of every provider endpoint and a 1,000 concurrent clients test.

Whatever a client sends: no unhandled 500, no traceback, every request is journaled, and every
message a request was told was accepted exists (nothing accepted is lost). The cases come from
tests/garbage.py, seeded per test, so a failure names its case and replays exactly.
"""
from __future__ import annotations

import asyncio
import re
import resource

import aiohttp
import pytest

from emulator.app import build_app
from emulator.core.validation import Schemas
from emulator.providers import REGISTRY

from .conftest import advance
from .garbage import Garbage
from .schema_instances import InstanceMaker

# Field names the providers know, so fuzzed objects reach deep validation, not only "unknown".
KNOWN_FIELDS = [
    "type", "id", "phone", "sms_signature", "sms_message", "viber_type", "viber_signature", "viber_message", "pipeline",
    "sms", "viber", "voice", "message", "hook", "channel", "text", "recipients", "phone_number", "sender", "purpose",
    "send_at", "metadata", "simulation_mode", "channels", "channel_options", "extra_id", "callback_url", "start_time",
    "alpha_name", "ttl", "channelType", "senderName", "destination", "content", "contentType", "tags", "callbackUrl",
    "externalMessageId", "uuids", "email", "conversation_id", "auth", "data",
]
ALPHA_TYPES = ["sms", "viber", "viber+sms", "rcs", "rcs+sms", "rcs+viber+sms", "voice", "call/otp", "pipeline", "hlr", "status", "balance"]
FORM_FIELDS = ["login", "psw", "apikey", "phones", "mes", "fmt", "cost", "id", "time", "charset", "sender", "add", "get", "del",
               "phone", "name", "grp", "all", "cur", "key", "password", "command", "to", "from", "message"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
GARBAGE_CASES, GARBAGE_ROUNDS = 100, 5  # per provider: 100 cases at least, and every path 5 times at least
ALPHA_ITEM_CASES = 150


def provider_paths(app) -> list[tuple[str, str]]:
    """(method, path) of every provider route, with path parameters filled in."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/_emulator") or not path or route.method == "HEAD":
            continue
        path = path.replace("{client_id}", "1000").replace("{message_id}", "00000000-0000-0000-0000-000000000000")
        path = re.sub(r"\{[^}]*\}", "x", path)
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


async def assert_sane(client, response, case: object = None) -> None:
    """No 5xx and no traceback; `case` (what was sent) is named when it fails."""
    text = await response.text(errors="replace")
    assert response.status < 500, (case, response.status, text[:300])
    assert "Traceback" not in text and 'File "' not in text, (case, text[:300])


async def assert_nothing_lost(client) -> None:
    """Every accepted message exists, and no request met the safety net: some providers (AlphaSMS,
    SMSC) answer a bug of ours in their own error shape with a 200, so only the journal tells."""
    journal = (await (await client.get("/_emulator/requests", params={"limit": "10000"})).json())["requests"]
    listed = (await (await client.get("/_emulator/messages", params={"limit": "10000"})).json())["messages"]
    stored = {m["id"] for m in listed}
    for record in journal:
        assert record["status"] < 500, record
        if (record["outcome"], record["error"]) == ("error", "internal"):
            raise AssertionError(f"unhandled error behind {record['method']} {record['path']}?{record['query']} {record['body']}")
        for message_id in record["message_ids"]:
            assert message_id in stored, ("accepted message lost", record)


@pytest.mark.parametrize("provider", sorted(REGISTRY))
async def test_fuzz_every_provider_endpoint_with_garbage(aiohttp_client, settings, provider):
    """Any path of the provider, any method, any of the auth headers, any body and query."""
    client = await aiohttp_client(build_app(settings))
    app = client.server.app
    paths = [(m, p) for m, p in provider_paths(app) if p.startswith(f"/{provider}/")]
    assert paths, provider
    garbage, headers = Garbage(f"garbage {provider}"), auth_headers()
    rounds = max(GARBAGE_ROUNDS, -(-GARBAGE_CASES // len(paths)))  # every path as often, in a new order each round
    for number, (path_method, path) in enumerate(p for _ in range(rounds) for p in garbage.rng.sample(paths, len(paths))):
        method = path_method if garbage.rng.random() < 0.5 else garbage.rng.choice(METHODS)
        case = {"case": number, "method": method, "path": path, "headers": headers[number % len(headers)],
                "data": garbage.body(KNOWN_FIELDS, kind=number // len(headers) % 3), "params": garbage.form(FORM_FIELDS)}
        response = await client.request(method, path, data=case["data"], headers=case["headers"], params=case["params"])
        await assert_sane(client, response, case)
    await assert_nothing_lost(client)


async def test_fuzz_alphasms_items_with_valid_auth(aiohttp_client, settings):
    """Lists of items of every AlphaSMS type: garbage with known and unknown fields, and mutants
    of a valid item of the type (so acceptance, and each field's own error, are reached too).
    Each item is answered on its own (as many entries as items) or the whole request refused."""
    client = await aiohttp_client(build_app(settings))
    garbage = Garbage("alphasms items")
    mutate = InstanceMaker(SCHEMAS.raw, garbage.rng)
    for number in range(ALPHA_ITEM_CASES):
        items = []
        for index in range(garbage.rng.randint(1, 6)):
            kind = garbage.rng.choice(ALPHA_TYPES)
            if garbage.rng.random() < 0.5:
                # Shallow garbage: a nested value is refused at its first wrong type, so depth
                # adds generation time, not coverage.
                item = garbage.json_object(KNOWN_FIELDS, leaves=4)
            else:
                definition, example = VALID_ITEMS[kind]
                item = mutate.mutant(example, ITEM_DEFINITIONS.get(definition, {}), "alphasms/items")
                item = {**item, "id": number * 10 + index} if item.get("id") == 1 else item  # ids are single-use
            items.append({"type": kind, **item})
        case = {"case": number, "items": items}
        response = await client.post("/alphasms/api/json.php", json={"auth": "alphasms-demo-key", "data": items})
        await assert_sane(client, response, case)
        answer = await response.json()
        assert answer["success"] is True or set(answer) == {"success", "error"}, (case, answer)
        if answer["success"]:
            assert len(answer["data"]) == len(items), (case, answer)
    await advance(client, 120)
    await assert_nothing_lost(client)


SCHEMAS = Schemas()
ITEM_DEFINITIONS = SCHEMAS.raw("alphasms/items")["$defs"]
PHONE = 380971234567
SMS = {"sms_signature": "Shop", "sms_message": "Code 1234"}
VIBER = {"viber_type": "text", "viber_signature": "Shop", "viber_message": "Code 1234"}
RCS = {"rcs_signature": "Shop", "rcs_message": "Code 1234"}
VALID_ITEMS = {  # type -> (the definition in schemas/alphasms/items.json it is checked against, a valid item)
    "sms": ("sms", {"id": 1, "phone": PHONE, **SMS}),
    "viber": ("viber", {"id": 1, "phone": PHONE, **VIBER}),
    "viber+sms": ("viber", {"id": 1, "phone": PHONE, **VIBER, **SMS}),
    "rcs": ("rcs", {"id": 1, "phone": PHONE, **RCS}),
    "rcs+sms": ("rcs", {"id": 1, "phone": PHONE, **RCS, **SMS}),
    "rcs+viber+sms": ("rcs", {"id": 1, "phone": PHONE, **RCS, **VIBER, **SMS}),
    "voice": ("voice_item", {"id": 1, "phone": PHONE, "message": "Code 1234", "voice": {"gender": "female", "language": "uk-UA"}}),
    "call/otp": ("phone_only", {"phone": PHONE}),
    "pipeline": ("pipeline", {"id": 1, "phone": PHONE, "pipeline": ["viber", "sms"], "viber": {"signature": "Shop", "message": "Hi"},
                              "sms": {"signature": "Shop", "message": "Hi"}}),
    "hlr": ("phone_only", {"phone": PHONE}),
    "status": ("status", {"id": 1}),
    "balance": ("", {}),
}


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

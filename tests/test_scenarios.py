"""The ready scenario files of scenarios/, each exercised over real HTTP (AlphaSMS as the client)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from .conftest import advance

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
URL = "/alphasms/api/json.php"
KEY = "alphasms-demo-key"


async def use(client, name: str) -> None:
    response = await client.put("/_emulator/scenario", data=(SCENARIOS / name).read_text(encoding="utf-8"))
    assert response.status == 200, await response.text()


async def send(client, *items):
    response = await client.post(URL, json={"auth": KEY, "data": list(items)})
    return await response.json()


def sms(phone=380971234567, id=1, hook=None, **extra):
    item = {"type": "sms", "id": id, "phone": phone, "sms_signature": "Shop", "sms_message": "Your code is 4321"}
    if hook:
        item["hook"] = hook
    item.update(extra)
    return item


def viber_sms(phone=380971234567, id=1):
    return {"type": "viber+sms", "id": id, "phone": phone, "viber_type": "text", "viber_signature": "Shop",
            "viber_message": "Hi", "sms_signature": "Shop", "sms_message": "Hi"}


async def status(client, id):
    answer = await send(client, {"type": "status", "id": id})
    return answer["data"][0]["data"]


async def messages(client, **params):
    return (await (await client.get("/_emulator/messages", params=params)).json())["messages"]


def test_every_ready_scenario_is_valid_and_documented_at_its_top():
    from emulator.cli import main

    files = sorted(SCENARIOS.glob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(f"# {path.stem}:"), path
        assert main(["check-scenario", str(path)]) == 0


async def test_happy_path_delivers_and_messengers_are_read(client):
    await use(client, "happy-path.yaml")
    await send(client, sms(id=1), viber_sms(phone=380501112233, id=2))
    await advance(client, 4)
    assert (await status(client, 1))["status"] == "DELIVERED"
    await advance(client, 10)
    assert await status(client, 2) == {"id": 2, "type": "viber", "status": "READ"}
    assert (await status(client, 1))["status"] == "DELIVERED"


async def test_viber_undelivered_falls_back_to_sms(client):
    await use(client, "viber-fallback-to-sms.yaml")
    await send(client, viber_sms(id=10))
    await advance(client, 3)
    assert await status(client, 10) == {"id": 10, "type": "viber", "status": "ENROUTE"}
    await advance(client, 3)  # viber undelivered at +5 s, sms starts
    await advance(client, 3)
    assert await status(client, 10) == {"id": 10, "type": "sms", "status": "DELIVERED"}
    message = (await messages(client))[0]
    assert [(a["channel"], a["status"]) for a in message["attempts"]] == [("viber", "undelivered"), ("sms", "delivered")]


async def test_provider_outage_answers_503_and_accepts_nothing(client):
    await use(client, "provider-outage-503.yaml")
    response = await client.post(URL, json={"auth": KEY, "data": [sms()]})
    assert response.status == 503
    assert await messages(client) == []
    balance = await send(client, {"type": "balance"})
    assert balance["data"][0]["data"]["amount"] == 100.0  # queries still answer, nothing charged
    journal = (await (await client.get("/_emulator/requests")).json())["requests"]
    assert journal[0]["outcome"] == "fault" and journal[0]["status"] == 503


async def test_slow_provider_delays_the_answer_but_processes(client, monkeypatch):
    await use(client, "slow-provider-30s.yaml")
    slept = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds, *args, **kwargs):
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("emulator.middleware.asyncio.sleep", fake_sleep)
    answer = await send(client, sms())
    assert slept == [30.0]
    assert answer["data"][0]["success"] is True
    assert len(await messages(client)) == 1


async def test_invalid_numbers(client):
    await use(client, "invalid-numbers.yaml")
    answer = await send(client, sms(phone=9991234567890, id=1), sms(phone=380971230000, id=2))
    assert answer["data"][0] == {"success": False, "error": "Invalid phone number", "data": {"id": 1}}
    assert answer["data"][1]["success"] is True
    await advance(client, 5)
    assert (await status(client, 2))["status"] == "UNDELIVERABLE"


async def test_insufficient_balance(client):
    await use(client, "insufficient-balance.yaml")
    answer = await send(client, sms())
    assert answer["data"][0] == {"success": False, "error": "Insufficient funds", "data": {"id": 1}}


async def test_callbacks_receiver_flaky_is_retried_with_backoff(aiohttp_server, settings):
    from emulator.app import build_app

    server = await aiohttp_server(build_app(settings))
    base = f"http://127.0.0.1:{server.port}"
    hook = f"{base}/_emulator/receiver/flaky"
    async with aiohttp.ClientSession(base) as http:
        scenario = (SCENARIOS / "callbacks-receiver-flaky.yaml").read_text(encoding="utf-8")
        assert (await http.put("/_emulator/scenario", data=scenario)).status == 200
        await http.post(URL, json={"auth": KEY, "data": [sms(hook=hook)]})
        await http.post("/_emulator/clock/advance", json={"seconds": 30})
        attempts = (await (await http.get("/_emulator/callbacks")).json())["callbacks"]
        received = (await (await http.get("/_emulator/receiver/flaky")).json())["calls"]
    by_event: dict[str, list[tuple[int, int]]] = {}
    for attempt in attempts:
        by_event.setdefault(attempt["event"]["status"], []).append((attempt["attempt"], attempt["status"]))
    # the receiver fails calls #1 and #2: the "sent" callback needs three tries
    assert by_event["sent"] == [(1, 503), (2, 503), (3, 200)]
    assert by_event["delivered"] == [(1, 200)]
    assert [c["answered"] for c in received] == [503, 503, 200, 200]
    assert all(a["url"] == hook for a in attempts)
    sent_retries = [(a["at"], a["next_retry_in"]) for a in attempts if a["event"]["status"] == "sent"]
    assert [gap for _, gap in sent_retries] == [1.0, 2.0, None]  # exponential backoff
    assert sent_retries[1][0] - sent_retries[0][0] == 1.0 and sent_retries[2][0] - sent_retries[1][0] == 2.0


async def test_stop_reply_opts_the_number_out(client):
    await use(client, "stop-reply-optout.yaml")
    await send(client, sms(id=1))
    await advance(client, 10)
    message = (await messages(client))[0]
    assert message["inbound"][0]["text"] == "STOP" and message["inbound"][0]["optout"] is True
    answer = await send(client, sms(id=2))
    assert answer["data"][0] == {"success": False, "error": "Phone number is in the stop list", "data": {"id": 2}}


async def test_flaky_network_reset_garbage_and_hang(client, monkeypatch):
    await use(client, "flaky-network.yaml")
    first = await send(client, sms(id=1))
    assert first["data"][0]["success"] is True
    with pytest.raises(aiohttp.ClientError):
        await client.post(URL, json={"auth": KEY, "data": [sms(id=2)]})
    garbled = await client.post(URL, json={"auth": KEY, "data": [sms(id=3)]})
    with pytest.raises(ValueError):
        await garbled.json(content_type=None)
    real_sleep = asyncio.sleep

    async def short_sleep(seconds, *args, **kwargs):
        await real_sleep(0)

    monkeypatch.setattr("emulator.middleware.asyncio.sleep", short_sleep)
    hung = await client.post(URL, json={"auth": KEY, "data": [sms(id=4)]})
    assert hung.status == 504
    ids = sorted(m["client_ref"] for m in await messages(client))
    assert ids == ["1", "3"]  # the reset and the hang accepted nothing; the garbled one did


async def test_a_client_gone_before_its_late_answer_is_journaled_without_an_error(client, caplog):
    """A client that hung up while a delay fault held its answer: the message it sent was
    accepted, so the request stays in the journal (499: no answer went out), and nothing is
    logged as an error."""
    await client.put("/_emulator/scenario", json={
        "name": "late", "rules": [{"match": {"operation": "send"}, "fault": {"type": "delay", "seconds": 0.3}}]})
    body = b'{"auth":"%s","data":[{"type":"sms","id":7,"phone":380971234567,"sms_signature":"Shop","sms_message":"Hi"}]}' % KEY.encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (URL.encode(), len(body), body))
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()  # gone before the answer
    await asyncio.sleep(0.6)
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
    journal = (await (await client.get("/_emulator/requests")).json())["requests"]
    assert [(r["outcome"], r["status"], r["response"]) for r in journal] == [
        ("accepted", 499, "<no answer: the connection was closed before it was sent>")]
    assert journal[0]["message_ids"] == [m["id"] for m in await messages(client)]


async def test_a_reset_fault_is_journaled_as_no_answer(client):
    await client.put("/_emulator/scenario", json={"name": "reset", "rules": [{"match": {"operation": "send"}, "fault": {"type": "reset"}}]})
    with pytest.raises(aiohttp.ClientError):
        await client.post(URL, json={"auth": KEY, "data": [sms()]})
    journal = (await (await client.get("/_emulator/requests")).json())["requests"]
    assert [(r["status"], r["response"]) for r in journal] == [(499, "<no answer: the connection was closed before it was sent>")]

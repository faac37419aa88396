"""Another process's changes held undecoded (core/redis_store.py: Held, LazyMessages): a copy
indexes a message from the change feed's head and decodes its blob only when something reads
it. Two emulators in this process on one real Valkey, each on a real HTTP socket: what one
sends and moves on, the other finds by every index and answers for exactly as the sender
does, whether it read the message before, in between or never; long polls are woken; the
byte cap counts what is held."""
from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from emulator.app import build_app
from emulator.core.redis_store import Held, RedisStore
from emulator.runtime import RUNTIME_KEY
from emulator.settings import Settings
from tests.shared_store import needs_valkey

pytestmark = needs_valkey

SMSC = {"login": "demo", "psw": "demo-password", "fmt": "3", "charset": "utf-8"}
ALPHASMS_KEY = "alphasms-demo-key"


@pytest.fixture
async def pair(store):
    """Two emulators ("processes") on one fresh store, manual clock: (here, there) clients."""
    clients = []
    for _ in range(2):
        client = TestClient(TestServer(build_app(Settings(store=store, clock="manual", watch_scenario=False))))
        await client.start_server()
        clients.append(client)
    yield clients
    for client in clients:
        await client.close()


def store_of(client: TestClient):
    return client.server.app[RUNTIME_KEY].store


def held(client: TestClient, message_id: str) -> bool:
    """True while this copy holds another process's version of the message undecoded."""
    return type(dict.get(store_of(client).messages, message_id)) is Held


async def ok(response) -> dict:
    assert response.status == 200, await response.text()
    return await response.json()


async def smsc_send(client: TestClient, phone: str, text: str, send_id: int) -> dict:
    return await ok(await client.get("/smsc/sys/send.php", params={**SMSC, "phones": phone, "mes": text, "id": str(send_id)}))


async def advance(client: TestClient, seconds: float) -> None:
    await ok(await client.post("/_emulator/clock/advance", json={"seconds": seconds}))


async def settled(there: TestClient, message_id: str, status: str) -> None:
    """The feed is read by a task of its own: wait (bounded) until `there` applied the commit
    that made `status` (a commit's events and message versions are applied together)."""
    for _ in range(500):
        events = store_of(there).events_of(message_id)
        if events and events[-1].status.value == status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{message_id} never reached {status} in the other copy")


async def test_a_message_moved_on_by_timers_in_one_process_is_found_by_every_index_in_the_other(pair):
    here, there = pair
    sent = await smsc_send(here, "79001234567", "Your code is 4711", 42)
    message_id = (await ok(await here.get("/_emulator/messages", params={"phone": "79001234567"})))["messages"][0]["id"]
    await advance(here, 30)  # queued, sent, delivered: three more versions, fired and committed by `here`
    assert (await ok(await here.get(f"/_emulator/messages/{message_id}")))["status"] == "delivered"
    await settled(there, message_id, "delivered")
    assert held(there, message_id)  # four versions applied, none decoded: nobody there read it

    # by the provider's own keys (SMSC: send id + phone), by account listing, by phone, by id
    status = await ok(await there.get("/smsc/sys/status.php", params={**SMSC, "id": "42", "phone": "79001234567"}))
    assert status["status"] == 1  # delivered, in SMSC's codes
    assert not held(there, message_id)
    listed = await ok(await there.get("/smsc/sys/get.php", params={**SMSC, "get_messages": "1"}))
    assert [m["id"] for m in listed] == [sent["id"]]
    by_phone = (await ok(await there.get("/_emulator/messages", params={"phone": "+7 900 123-45-67"})))["messages"]
    assert [m["id"] for m in by_phone] == [message_id]

    # decoded right: every field, events and the OTP as the process that made it has them
    mine = await ok(await here.get(f"/_emulator/messages/{message_id}"))
    theirs = await ok(await there.get(f"/_emulator/messages/{message_id}"))
    assert theirs == mine
    assert [e["status"] for e in theirs["events"]] == ["accepted", "queued", "sent", "delivered"]
    assert (await ok(await there.get("/_emulator/messages/wait", params={"phone": "79001234567", "timeout": "1"})))["otp"] == "4711"


async def test_a_message_read_before_is_brought_up_to_date_in_place_when_read_again(pair):
    here, there = pair
    await smsc_send(here, "79001230001", "first", 7)
    message_id = (await ok(await there.get("/_emulator/messages", params={"phone": "79001230001"})))["messages"][0]["id"]
    seen = store_of(there).message(message_id)  # decoded here, and handed out
    assert seen.status.value == "accepted"
    await advance(here, 30)
    await settled(there, message_id, "delivered")
    assert held(there, message_id)  # later versions held, not decoded
    again = store_of(there).message(message_id)
    assert again is seen and seen.status.value == "delivered"  # the same object, now current
    assert [t.status.value for t in seen.attempts[0].history] == ["accepted", "queued", "sent", "delivered"]


async def test_duplicate_rules_see_a_message_another_process_sent_and_nobody_here_read(pair):
    here, there = pair
    body = {"auth": ALPHASMS_KEY, "data": [{"type": "sms", "id": 9001, "phone": 380971234567, "sms_signature": "Shop",
                                            "sms_message": "Your code is 1"}]}
    first = await ok(await here.post("/alphasms/api/json.php", json=body))
    assert first["data"][0]["success"] is True
    again_there = await ok(await there.post("/alphasms/api/json.php", json=body))
    assert again_there["data"][0]["success"] is False  # the same client id (208), refused there...
    assert again_there == await ok(await here.post("/alphasms/api/json.php", json=body))  # ...as here


async def test_a_long_poll_in_one_process_is_woken_by_the_other_process_s_change(pair):
    here, there = pair
    waiting = asyncio.create_task(there.get("/_emulator/messages/wait", params={
        "phone": "79001239999", "status": "delivered", "timeout": "10"}))
    await asyncio.sleep(0.2)  # the wait is registered before anything is sent
    await smsc_send(here, "79001239999", "Your code is 5555", 3)
    await advance(here, 30)
    found = await ok(await asyncio.wait_for(waiting, 10))
    assert found["status"] == "delivered" and found["otp"] == "5555"


async def test_the_byte_cap_counts_held_messages_and_drops_the_oldest(pair):
    here, there = pair
    theirs = store_of(there)
    for n in range(5):
        await smsc_send(here, f"7900555000{n}", f"message {n}", 100 + n)
    await settled(there, (await ok(await here.get("/_emulator/messages", params={"phone": "79005550004"})))["messages"][0]["id"], "accepted")
    kept = list(theirs.messages)
    assert len(kept) == 5 and all(held(there, m) for m in kept)
    assert theirs.usage()["bytes"] == store_of(here).usage()["bytes"]  # held messages cost what decoded ones do

    theirs.retention_bytes = theirs.usage()["bytes"] - 1  # one byte short: the oldest goes, undecoded
    theirs._enforce()
    assert list(theirs.messages) == kept[1:] and theirs.usage()["evicted"]["messages"] >= 1
    assert (await there.get(f"/_emulator/messages/{kept[0]}")).status == 410  # evicted, and said so
    assert (await ok(await there.get(f"/_emulator/messages/{kept[1]}")))["text"] == "message 1"


async def test_a_process_claims_its_own_transitions_at_once_and_another_s_once_overdue_by_the_grace(store):
    import pickle

    from redis import asyncio as client

    spy = client.from_url(store)
    await spy.flushdb()
    here, there = RedisStore(store), RedisStore(store)
    await here.open()
    await there.open()
    try:
        here.add_timer(100.0, ("start", "m1", 0))
        await here.commit()
        assert await there.claim_due(100.05, grace=0.1) == []  # here's, and here may still take it
        assert await here.claim_due(100.05, grace=0.1) == [(100.0, ("start", "m1", 0))]
        assert await there.claim_due(500, grace=0.1) == []  # gone: fired once

        here.add_timer(200.0, ("step", "m2", 0, 1))
        await here.commit()
        assert await there.claim_due(200.2, grace=0.1) == [(200.0, ("step", "m2", 0, 1))]  # here stalled: taken over
        assert await here.claim_due(500, grace=0.1) == []

        here.add_timer(300.0, ("step", "m3", 0, 2))
        await here.commit()
        assert await there.claim_due(300.0) == [(300.0, ("step", "m3", 0, 2))]  # no grace (a manual advance): all due

        await spy.zadd("msgemu:timers", {pickle.dumps((b"token!", "start", "m4", 0)): 400.0})  # an earlier msgemu's
        assert await there.claim_due(400.2, grace=0.1) == [(400.0, ("start", "m4", 0))]
    finally:
        await spy.aclose()
        await here.close()
        await there.close()

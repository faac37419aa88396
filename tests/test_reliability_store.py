"""The store under load: indexed lookups, waits woken only by their own phone, retention in
bytes with visible eviction (issue 11), over real HTTP."""
from __future__ import annotations

import asyncio
import gc
import pickle
import tracemalloc

from emulator.app import build_app
from emulator.core.model import Attempt, Event, Message, RequestRecord, Status, Transition
from emulator.core.store import Store
from emulator.runtime import RUNTIME_KEY
from emulator.settings import Settings

from .conftest import advance


def sms(i: int, text: str = "code 123456") -> dict:
    return {"type": "sms", "id": i, "phone": 380970000000 + i, "sms_signature": "Test", "sms_message": text}


async def send(client, *items) -> dict:
    response = await client.post("/alphasms/api/json.php", json={"auth": "alphasms-demo-key", "data": list(items)})
    assert response.status == 200
    return await response.json()


def test_lookup_by_phone_is_indexed_and_keeps_the_scan_semantics():
    store = Store(retention=1000)
    people = ["+380 97 000 0001", "380970000001", "a1@example.org", "b@example.org", "b@example.org"]
    messages = [Message("p", "acc", r, [Attempt("sms", {"text": "x"})]) for r in people]
    for message in messages:
        store.add_message(message)
    assert [m.id for m in store.query_messages(phone="380970000001")] == [m.id for m in messages[:2]]
    assert [m.id for m in store.query_messages(phone="b@example.org")] == [m.id for m in messages[3:]]
    assert store.query_messages(phone="c@example.org") == []  # no digits: exact, not "every e-mail"
    assert store.query_messages(phone="1") == [messages[2]]  # the digits of a1@...
    store.reset()
    assert store.query_messages(phone="380970000001") == []


def test_the_phone_index_follows_evictions_and_namespace_resets():
    """A phone's index entry is an id alone until it has a second message, then a list: both
    shapes shrink back as messages are evicted (oldest first) or forgotten (any of them)."""
    store = Store(retention=4)
    people = ["380970000001", "+380 97 000 0001", "380970000002", "380970000001", "x@example.org", "380970000001"]
    messages = [Message("p", "acc", r, [Attempt("sms", {"text": "x"})]) for r in people]
    for message in messages[:4]:
        store.add_message(message)
    assert [m.id for m in store.messages_for_phone("380970000001")] == [messages[0].id, messages[1].id, messages[3].id]
    store.forget({messages[1].id}, set(), set())  # from the middle of the list
    assert [m.id for m in store.messages_for_phone("380970000001")] == [messages[0].id, messages[3].id]
    for message in messages[4:]:
        store.add_message(message)
    assert len(store.messages) == 4 and store.was_evicted(messages[0].id)
    assert [m.id for m in store.messages_for_phone("380 97 000 0001")] == [messages[3].id, messages[5].id]
    assert store.evicted_for_phone("380970000001") == 1
    store.forget({messages[3].id}, set(), set())
    assert store.messages_for_phone("380970000001") == [messages[5]]
    assert store.messages_for_phone("x@example.org") == [messages[4]]
    store.forget({messages[5].id, messages[4].id, messages[2].id}, set(), set())
    assert store.messages_for_phone("380970000001") == [] and not store._by_phone


# An Event pickled by msgemu before Event had __slots__ (what a Valkey store kept across an upgrade)
OLD_EVENT_PICKLE = (
    b"\x80\x05\x95\x90\x00\x00\x00\x00\x00\x00\x00\x8c\x13emulator.core.model\x94\x8c\x05Event\x94\x93\x94)\x81"
    b"\x94}\x94(\x8c\nmessage_id\x94\x8c\x02m1\x94\x8c\x07channel\x94\x8c\x03sms\x94\x8c\x06status\x94h\x00"
    b"\x8c\x06Status\x94\x93\x94\x8c\tdelivered\x94\x85\x94R\x94\x8c\x02at\x94G@)\x00\x00\x00\x00\x00\x00\x8c\x05"
    b"error\x94N\x8c\x03seq\x94K\x07ub."
)


def test_stored_records_pickle_with_slots_and_from_before_them():
    assert pickle.loads(OLD_EVENT_PICKLE) == Event("m1", "sms", Status.DELIVERED, 12.5, None, 7)
    as_dict = Event.__new__(Event)
    as_dict.__setstate__({"message_id": "m2", "channel": "sms", "status": Status.SENT, "at": 1.0, "error": None, "seq": 3})
    assert as_dict == Event("m2", "sms", Status.SENT, 1.0, None, 3)
    attempt = Attempt("sms", {"text": "x"}, Status.SENT, [Transition(1.0, Status.SENT)])
    record = RequestRecord(1, 2.0, "alphasms", "POST", "/alphasms/api/json.php", "", {"content-type": "application/json"}, "{}")
    for item in (attempt, record, Event("m3", "sms", Status.READ, 3.0, "x", 9)):
        assert pickle.loads(pickle.dumps(item, pickle.HIGHEST_PROTOCOL)) == item
        assert not hasattr(item, "__dict__")  # __slots__: no dict per stored record


async def test_the_byte_count_follows_what_a_retained_send_really_keeps(aiohttp_client):
    """--retention-bytes caps what the store counts, so that count has to be near what a send
    really keeps in memory (tracemalloc): far below, the cap would let memory run away; far
    above, it would evict for nothing."""
    client = await aiohttp_client(build_app(Settings(clock="manual", watch_scenario=False)))
    await client.patch("/_emulator/accounts/alphasms", json={"balance": 1_000_000})

    async def sends(first: int, count: int) -> int:
        for i in range(first, first + count):
            await send(client, sms(i, f"Your code is {i}"))
        await advance(client, 3600)  # every transition fired: the events are journaled too
        gc.collect()
        return (await (await client.get("/_emulator/health")).json())["retention"]["bytes"]

    await sends(1, 200)  # warm-up: caches, compiled validators, the store's tables grown
    tracemalloc.start(20)
    try:
        counted_before = await sends(1000, 20)
        before = tracemalloc.take_snapshot()
        counted = await sends(2000, 300) - counted_before
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # what the server keeps (allocated on its way through emulator/), not the test client's
    # own bookkeeping (aiohttp's TestClient keeps every response until the test ends)
    server_side = [tracemalloc.Filter(True, "*/emulator/*", all_frames=True),
                   tracemalloc.Filter(False, "*/aiohttp/client*", all_frames=True),
                   tracemalloc.Filter(False, "*/aiohttp/test_utils.py", all_frames=True)]
    real = sum(stat.size_diff for stat in after.filter_traces(server_side).compare_to(before.filter_traces(server_side), "filename"))
    assert 0.75 * real <= counted <= 1.5 * real, (counted / 300, real / 300)


async def test_pending_waits_are_woken_only_by_their_own_phone(client):
    runtime = client.server.app[RUNTIME_KEY]
    waits = [asyncio.create_task(client.get("/_emulator/messages/wait", params={"phone": str(380990000000 + i), "timeout": "30"})) for i in range(50)]
    target = asyncio.create_task(client.get("/_emulator/messages/wait", params={"phone": "380970000007", "timeout": "30", "new": "1"}))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if (await (await client.get("/_emulator/health")).json())["waiting"] == 51:
            break
    assert (await (await client.get("/_emulator/health")).json())["waiting"] == 51
    assert not runtime.store._listeners  # long polls do not receive every change of the store
    await send(client, *[sms(i) for i in range(1, 30)])  # 29 messages, one for the target
    answer = await asyncio.wait_for(target, 5)
    assert answer.status == 200 and (await answer.json())["recipient"] == "380970000007"
    assert not any(w.done() for w in waits)
    assert (await (await client.get("/_emulator/health")).json())["waiting"] == 50
    for w in waits:
        w.cancel()
    await asyncio.gather(*waits, return_exceptions=True)


async def test_a_wait_on_a_status_is_woken_by_the_status_change(client):
    await send(client, sms(3))
    waiting = asyncio.create_task(client.get("/_emulator/messages/wait", params={"phone": "380970000003", "status": "delivered", "timeout": "30"}))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await advance(client, 60)
    answer = await asyncio.wait_for(waiting, 5)
    assert (await answer.json())["status"] == "delivered"


async def test_message_detail_uses_its_own_events(client):
    await send(client, sms(4), sms(5))
    await advance(client, 60)
    listed = (await (await client.get("/_emulator/messages", params={"phone": "380970000004"})).json())["messages"]
    detail = await (await client.get(f"/_emulator/messages/{listed[0]['id']}")).json()
    assert detail["events"] and {e["message_id"] for e in detail["events"]} == {listed[0]["id"]}


async def test_retention_in_bytes_truncates_bodies_and_shows_evictions(aiohttp_client):
    settings = Settings(clock="manual", watch_scenario=False, callback_loopback_only=True, retention_bytes=200 * 1024)
    client = await aiohttp_client(build_app(settings))
    await client.patch("/_emulator/accounts/alphasms", json={"balance": 1_000_000})
    first = await send(client, sms(1, "code 111111"))
    assert first["data"][0]["success"]
    for batch in range(10):
        await send(client, *[sms(100 + batch * 10 + i, "y" * 500) for i in range(10)])
    big = await client.post("/alphasms/api/json.php", json={"auth": "alphasms-demo-key", "data": [sms(2)], "pad": "z" * 60_000})
    assert big.status == 200
    health = (await (await client.get("/_emulator/health")).json())["retention"]
    assert health["bytes"] <= 200 * 1024
    assert health["evicted"]["messages"] > 0 and sum(health["kept"].values()) > 0
    record = (await (await client.get("/_emulator/requests", params={"limit": "1"})).json())["requests"][0]
    assert record["body_size"] > 60_000 and len(record["body"]) <= 8 * 1024
    # the evicted message: its lookup and a wait for it say "evicted", not "unknown"
    listed = (await (await client.get("/_emulator/messages", params={"limit": "10000"})).json())["messages"]
    assert all(m["recipient"] != "380970000001" for m in listed)
    wait = await client.get("/_emulator/messages/wait", params={"phone": "380970000001", "timeout": "0"})
    assert wait.status == 410 and "evicted" in (await wait.json())["error"]
    runtime = client.server.app[RUNTIME_KEY]
    evicted_id = next(iter(runtime.store._tombstones))
    gone = await client.get(f"/_emulator/messages/{evicted_id}")
    assert gone.status == 410 and "evicted" in (await gone.json())["error"]
    assert (await client.get("/_emulator/messages/no-such-id")).status == 404


async def test_count_retention_still_caps_each_kind(aiohttp_client):
    client = await aiohttp_client(build_app(Settings(clock="manual", watch_scenario=False, retention=5)))
    for i in range(1, 12):
        await send(client, sms(i))
    health = (await (await client.get("/_emulator/health")).json())
    assert health["messages"] == 5 and health["requests"] == 5
    assert health["retention"]["evicted"]["messages"] == 6


async def test_shutdown_ends_waits_and_streams_at_once(client):
    runtime = client.server.app[RUNTIME_KEY]
    wait = asyncio.create_task(client.get("/_emulator/messages/wait", params={"phone": "1", "timeout": "60"}))
    stream = await client.get("/_emulator/stream")
    assert b"event: hello" in await stream.content.readuntil(b"\n\n")
    await asyncio.sleep(0.05)
    await runtime.shutdown()
    answer = await asyncio.wait_for(wait, 2)
    assert answer.status == 503
    await asyncio.wait_for(stream.read(), 2)  # the stream ends cleanly (EOF, no error)
    late = await asyncio.wait_for(client.get("/_emulator/messages/wait", params={"phone": "2", "timeout": "60"}), 2)
    assert late.status == 503  # a wait that starts during shutdown does not hold it up


async def test_sent_message_listings_keep_nothing_per_send_beyond_the_retained_messages(aiohttp_client):
    """SMSC get_messages and Revicom's Getting Messages list the account's messages the store
    keeps. They used to keep a directory record per send of their own: SMSC's up to 100,000
    (and its cap copied all of them on every send past it; on a shared store every commit
    pickled the whole directory), Revicom's without any bound until someone listed."""
    from .sends import send as send_to

    client = await aiohttp_client(build_app(Settings(clock="manual", watch_scenario=False, retention=6)))
    for i in range(12):
        assert (await send_to(client, "smsc", f"7900123{i:04d}")).status == 200
        assert (await send_to(client, "revicom", f"7900124{i:04d}")).status == 200
    assert sum(len(d) for d in client.app[RUNTIME_KEY].store.directories.values()) == 0

    async def kept(provider: str) -> set[str]:
        listed = (await (await client.get("/_emulator/messages", params={"provider": provider})).json())["messages"]
        return {m["recipient"].lstrip("+") for m in listed}

    smsc = await (await client.get("/smsc/sys/get.php", params={
        "login": "demo", "psw": "demo-password", "get_messages": "1", "fmt": "3"})).json()
    revicom = await (await client.get("/revicom/api/v1/message", headers={"Authorization": "Basic revicom-demo-token"})).json()
    assert {m["phone"].lstrip("+") for m in smsc} == await kept("smsc") == {f"7900123{i:04d}" for i in range(9, 12)}
    assert {m["destination"] for m in revicom["items"]} == await kept("revicom") == {f"7900124{i:04d}" for i in range(9, 12)}


def test_the_running_byte_total_is_the_journals_sum_through_evictions_forgets_and_resets():
    """Journals keep the store's byte total as records come and go (no sum over the four at
    every record): after each of 3,000 random records, forgets and resets it equals the sum of
    every record still kept, and both caps hold."""
    import random

    rng = random.Random(15)
    store = Store(retention=40, retention_bytes=64 * 1024)
    kept: list[Message] = []
    for step in range(3000):
        roll = rng.random()
        if roll < 0.3 or not kept:
            message = Message("p", "acc", f"3809700{rng.randrange(100):05d}", [Attempt("sms", {"text": "x" * rng.randrange(2000)})])
            store.add_message(message)
            kept.append(message)
        elif roll < 0.7:
            store.add_event(Event(rng.choice(kept).id, "sms", Status.SENT, float(step), rng.choice([None, "e" * rng.randrange(500)])))
        elif roll < 0.85:
            store.add_request(RequestRecord(store.new_request_id(), float(step), "p", "POST", "/x", "", {"h": "v"}, "b" * rng.randrange(3000)))
        elif roll < 0.97:
            store.add_callback_attempt({"message_id": rng.choice(kept).id, "body": "c" * rng.randrange(3000)})
        elif roll < 0.995:
            store.forget({m.id for m in rng.sample(kept, min(3, len(kept)))}, {r.id for r in list(store.requests)[:2]}, set())
        else:
            store.reset()
        journals = store._journals.values()
        assert store.bytes_used == sum(j.bytes for j in journals) == sum(sum(j.costs) for j in journals)
        assert store.bytes_used <= store.retention_bytes or all(len(j) <= 1 for j in journals)
        assert all(len(j) <= store.retention for j in journals)
    assert sum(j.evicted for j in store._journals.values()) > 100  # the caps were reached, often

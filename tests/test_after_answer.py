"""Work a send leaves until its answer is written (core/after_answer.py): on the real clock, a
message's ACCEPTED event and its first channel's start follow the answer, and are never lost:
not when the client hangs up, not when a fault delays the answer."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from emulator.core import after_answer

URL = "/alphasms/api/json.php"
KEY = "alphasms-demo-key"


@pytest.fixture
async def real_clock_client():
    from emulator.app import build_app
    from emulator.settings import Settings

    client = TestClient(TestServer(build_app(Settings(clock="real", watch_scenario=False, callback_loopback_only=True))))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def sms(n: int) -> dict:
    return {"type": "sms", "id": n, "phone": 380971234500 + n, "sms_signature": "Test", "sms_message": f"Your code is {n}"}


async def events_of(client: TestClient, message_id: str) -> list[dict]:
    return (await (await client.get("/_emulator/events", params={"message_id": message_id})).json())["events"]


async def only_message(client: TestClient) -> dict:
    messages = (await (await client.get("/_emulator/messages")).json())["messages"]
    assert len(messages) == 1
    return messages[0]


async def test_a_send_on_the_real_clock_is_accepted_then_queued_once_answered(real_clock_client):
    client = real_clock_client
    answer = await client.post(URL, json={"auth": KEY, "data": [sms(1)]})
    assert answer.status == 200 and (await answer.json())["data"][0]["success"] is True
    message = await only_message(client)
    assert message["status"] == "queued"
    events = await events_of(client, message["id"])
    assert [e["status"] for e in events] == ["accepted", "queued"]
    assert events[0]["seq"] < events[1]["seq"] and events[0]["at"] <= events[1]["at"]
    assert [t["status"] for t in message["attempts"][0]["history"]] == ["accepted", "queued"]
    assert message["attempts"][0]["history"][0]["at"] == events[0]["at"]  # one moment, kept twice
    journal = (await (await client.get("/_emulator/requests")).json())["requests"]
    assert [(r["outcome"], r["status"], r["message_ids"]) for r in journal] == [("accepted", 200, [message["id"]])]


async def test_a_send_to_two_numbers_has_its_events_in_the_order_they_always_had(real_clock_client):
    client = real_clock_client
    answer = await client.post("/smsc/sys/send.php", data="login=demo&psw=demo-password&phones=79161234501,79161234502&mes=Hi&fmt=3",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 200 and (await answer.json())["cnt"] == 2
    events = (await (await client.get("/_emulator/events")).json())["events"]
    # every message accepted (as during the request), then each one's first channel started
    by_phone = {m["recipient"]: m for m in (await (await client.get("/_emulator/messages")).json())["messages"]}
    first, second = by_phone["79161234501"], by_phone["79161234502"]
    assert [(e["message_id"], e["status"]) for e in sorted(events, key=lambda e: e["seq"])] == [
        (first["id"], "accepted"), (second["id"], "accepted"), (first["id"], "queued"), (second["id"], "queued")]


async def test_a_send_whose_client_hangs_up_during_a_delay_still_plays_out(real_clock_client):
    client = real_clock_client
    await client.put("/_emulator/scenario", json={"name": "slow", "rules": [{"match": {"operation": "send"}, "fault": {"type": "delay", "seconds": 1.5}}]})
    with pytest.raises(asyncio.TimeoutError):
        await client.post(URL, json={"auth": KEY, "data": [sms(2)]}, timeout=aiohttp.ClientTimeout(total=0.3))
    message = await only_message(client)  # while the answer is still held by the fault
    assert [e["status"] for e in await events_of(client, message["id"])] == ["accepted", "queued"]
    for _ in range(100):  # the journal gets the request once the server sees the connection gone
        journal = (await (await client.get("/_emulator/requests")).json())["requests"]
        if journal:
            break
        await asyncio.sleep(0.05)
    assert [(r["outcome"], r["status"], r["message_ids"]) for r in journal] == [("accepted", 499, [message["id"]])]


async def test_a_send_whose_answer_a_fault_delays_plays_out_meanwhile(real_clock_client):
    client = real_clock_client
    await client.put("/_emulator/scenario", json={"name": "slow", "rules": [{"match": {"operation": "send"}, "fault": {"type": "delay", "seconds": 1.0}}]})
    sending = asyncio.ensure_future(client.post(URL, json={"auth": KEY, "data": [sms(3)]}))
    await asyncio.sleep(0.3)
    assert not sending.done()
    message = await only_message(client)  # the answer is still held by the fault, its work is not
    assert [e["status"] for e in await events_of(client, message["id"])] == ["accepted", "queued"]
    answer = await sending
    assert answer.status == 200 and (await answer.json())["data"][0]["success"] is True
    statuses = [e["status"] for e in await events_of(client, message["id"])]
    assert statuses[:2] == ["accepted", "queued"] and "accepted" not in statuses[2:] and "queued" not in statuses[2:]  # once each


async def test_held_work_runs_at_release_in_order_and_at_the_latest_on_the_next_loop_turn():
    done: list[str] = []
    assert after_answer.later(done.append, "nobody holds") is False  # no request: the caller does it now
    held = after_answer.hold()
    assert after_answer.later(done.append, "first") and after_answer.later(done.append, "second")
    assert done == []
    after_answer.release(held)
    assert done == ["first", "second"]
    assert after_answer.later(done.append, "after release") is False

    unreleased = after_answer.hold()
    assert after_answer.later(done.append, "next turn")
    await asyncio.sleep(0)  # the handler waited for something: the loop ran the held work
    assert done[-1] == "next turn"
    after_answer.release(unreleased)
    assert done.count("next turn") == 1  # once


def test_held_work_goes_to_the_loop_running_now_one_loop_after_another_in_a_thread():
    """The hold remembers the running loop per thread (no system call a send): a loop that
    stopped is not handed work; the next loop of the thread is, and runs it."""

    async def unreleased_hold() -> list[str]:
        done: list[str] = []
        held = after_answer.hold()
        assert after_answer.later(done.append, "next turn")
        await asyncio.sleep(0)
        after_answer.release(held)
        return done

    for make_loop in (asyncio.new_event_loop, __import__("pytest").importorskip("uvloop").new_event_loop):
        for _ in range(2):
            loop = make_loop()
            try:
                assert loop.run_until_complete(unreleased_hold()) == ["next turn"]
            finally:
                loop.close()


async def test_a_held_send_is_findable_in_its_own_request_and_filed_once_answered():
    """On the real clock the engine files a send's messages (phone and account lists, journal,
    caps) right after its answer (Store.hold_message / file_message): a status item after the
    send in the same request already finds it, and once answered it is listed by phone, counted
    in the store's bytes and held to the caps as an add_message would have (retention 3: the
    fourth send evicts the first)."""
    from emulator.app import build_app
    from emulator.runtime import RUNTIME_KEY
    from emulator.settings import Settings

    app = build_app(Settings(clock="real", watch_scenario=False, callback_loopback_only=True, retention=3))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        store = app[RUNTIME_KEY].store
        used_before = store.bytes_used
        both = (await (await client.post(URL, json={"auth": KEY, "data": [sms(1), {"type": "status", "id": 1}]})).json())["data"]
        assert both[0]["success"] is True and both[1] == {"success": True, "data": {"id": 1, "type": "sms", "status": "SCHEDULED"}}
        assert store.bytes_used > used_before
        first = (await (await client.get("/_emulator/messages", params={"phone": "380971234501"})).json())["messages"]
        assert len(first) == 1 and first[0]["status"] == "queued"
        for n in (2, 3, 4):
            assert (await (await client.post(URL, json={"auth": KEY, "data": [sms(n)]})).json())["data"][0]["success"] is True
        assert store.was_evicted(first[0]["id"]) and len(store.messages) == 3
        kept = (await (await client.get("/_emulator/messages")).json())["messages"]
        assert sorted(m["recipient"] for m in kept) == ["380971234502", "380971234503", "380971234504"]
        assert store.bytes_used == sum(journal.bytes for journal in store._journals.values())
    finally:
        await client.close()

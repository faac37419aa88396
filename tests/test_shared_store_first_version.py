"""`--store redis://` on the real clock: a send's first version in the store already has its first
channel started (accepted, then queued, before the commit that precedes the answer), as the memory
store starts it right after the answer. So no start timer goes through the store's timers, another
process reads the message queued at once, and its whole lifecycle writes the message three times
(queued, sent, delivered), not four. Two real `msgemu serve` processes on a real server."""
from __future__ import annotations

import time

import redis

from emulator.core.redis_store import split_blobs
from tests.shared_store import hyber_send, needs_valkey

pytestmark = needs_valkey


def feed_blobs(spy: redis.Redis) -> int:
    """Message versions the change feed carried to the other processes' inboxes so far."""
    return sum(len(split_blobs(fields[b"m"])) for key in spy.scan_iter(match="msgemu:inbox:*")
               for _, fields in spy.xrange(key))


def test_a_send_is_committed_with_its_first_channel_started_and_no_start_timer(store, serve):
    here, there = serve("--store", store), serve("--store", store)
    spy = redis.Redis.from_url(store)
    try:
        before = feed_blobs(spy)
        message_id = hyber_send(here, "380501234500")

        # read through the other process at once: the version committed before the answer
        found = there.client.messages(phone="380501234500")
        assert [(m["provider_id"], m["status"]) for m in found] == [(message_id, "queued")]
        assert [e["status"] for e in there.client.events(message_id=found[0]["id"])] == ["accepted", "queued"]
        assert spy.zcard("msgemu:timers") == 3  # sent +1 s, delivered +2 s, expiry at the ttl: no start timer
        assert feed_blobs(spy) - before == 1

        deadline = time.monotonic() + 10
        while there.client.messages(phone="380501234500")[0]["status"] != "delivered":
            assert time.monotonic() < deadline, there.client.messages(phone="380501234500")
            time.sleep(0.1)
        events = here.client.events(message_id=found[0]["id"])
        assert [e["status"] for e in events] == ["accepted", "queued", "sent", "delivered"]
        assert events[0]["at"] <= events[1]["at"] < events[0]["at"] + 0.5
        assert feed_blobs(spy) - before == 3  # queued, sent, delivered
        assert spy.zcard("msgemu:timers") == 1  # the expiry (ttl 300 s), which a delivered message ignores
    finally:
        spy.close()

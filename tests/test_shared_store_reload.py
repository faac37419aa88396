"""A `msgemu serve` process on its own (no --workers) whose copy missed commits: it loads the
store again in place, without restarting (a worker of --workers restarts instead:
tests/test_workers_restarts.py). In a file of its own: it waits for a lease renewal, and the
suite's workers take files, not tests."""
from __future__ import annotations

import time

from tests.shared_store import hyber_send, needs_valkey, served_pair

pytestmark = needs_valkey


def test_a_served_process_on_its_own_that_missed_commits_loads_the_store_again_in_place(store):
    """Over HTTP: two `msgemu serve` processes (no --workers); one stalls past its lease as far
    as the store knows, the other's sends drop it from the roster. Before, it served its stale
    copy until someone restarted it ("restart it to reload"); now, at its next lease renewal,
    it loads the store again without restarting, and lists what it missed."""
    import redis

    spy = redis.Redis.from_url(store)
    here, there = served_pair(store)
    try:
        hyber_send(here, "380501120000")
        (inbox,) = [key for key in spy.scan_iter("msgemu:inbox:*") if spy.xlen(key)]  # there's: here wrote to it
        spy.hset("msgemu:roster", inbox.rsplit(b":", 1)[1], 0)  # its lease ended, as if it had stalled
        pid = there.get("/_emulator/health")[1]["process"]["pid"]
        sent = {hyber_send(here, f"38050112{n:04d}") for n in range(1, 6)}  # the first of them drops it
        deadline = time.monotonic() + 20  # it finds out when it next renews its lease (every 2 s)
        while "it loads the store again now" not in there.output:
            if time.monotonic() > deadline:
                raise AssertionError(f"it did not load the store again:\n{there.output}")
            time.sleep(0.2)
        listed = {m["provider_id"] for m in there.client.messages(provider="hyber", limit=100)}
        assert listed >= sent and len(listed) == 6
        assert there.get("/_emulator/health")[1]["process"]["pid"] == pid  # the same process
        sent_there = hyber_send(there, "380501129999")  # and it is back on the roster both ways
        assert [m["provider_id"] for m in here.client.messages(phone="380501129999")] == [sent_there]
    finally:
        log = there.stop()
        here.stop()
    assert "Traceback" not in log

"""`msgemu serve --workers N`: a worker is started again when it must be (its copy missed
commits: it restarts to reload the store) and no more often than it should be (one that keeps
failing as it starts, its store out of reach). In a file of their own: each waits for seconds
(a lease renewal, restarts 1, 2, 4 s apart), and the suite's workers take files, not tests."""
from __future__ import annotations

import os
import time

import pytest

from tests.shared_store import hyber_send, needs_valkey


@needs_valkey
def test_a_worker_whose_copy_missed_commits_restarts_and_reloads_instead_of_serving_a_stale_copy(serve, store):
    import redis

    served = serve("--store", store, "--workers", "2")
    spy = redis.Redis.from_url(store)
    roster = spy.hgetall("msgemu:roster")
    assert len(roster) == 2
    stale = next(iter(roster))  # as if this worker stalled past its lease while the other went on
    spy.hset("msgemu:roster", stale, 0)
    sent = [hyber_send(served, f"38050600{n:04d}") for n in range(20)]  # the other one's commits drop it
    deadline = time.monotonic() + 30  # it finds out when it next renews its lease (every 2 s)
    while "starting it again" not in served.output:
        if time.monotonic() > deadline:
            pytest.fail(f"the stale worker did not restart:\n{served.output}")
        time.sleep(0.2)
    assert "this worker restarts to reload" in served.output
    deadline = time.monotonic() + 20
    while True:  # the new worker loaded the store: every worker sees every message
        views = [{m["provider_id"] for m in served.client.messages(provider="hyber", limit=100)} for _ in range(8)]
        pids = {served.get("/_emulator/health")[1]["process"]["pid"] for _ in range(20)}
        if all(view >= set(sent) for view in views) and len(pids) == 2:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"not every worker sees every message after the restart: {views}")
        time.sleep(0.2)
    assert "Traceback" not in served.output


def test_a_worker_that_keeps_failing_as_it_starts_is_started_again_less_and_less_often(serve, tmp_path):
    from tests.valkey import ValkeyServer

    with ValkeyServer() as valkey:
        served = serve("--store", valkey.url, "--workers", "2")
        pids = {served.get("/_emulator/health")[1]["process"]["pid"] for _ in range(40)}
        valkey.stop()  # from now on a worker cannot start: it cannot load the store
        os.kill(pids.pop(), 9)
        time.sleep(8)
        restarts = [line for line in served.output.splitlines() if "exited" in line and "starting it again" in line]
        # 1, 2, 4 s between the tries (each try fails at once): a few lines, not one a second
        assert 2 <= len(restarts) <= 4, served.output
        assert restarts[0].endswith("starting it again in 1 s") and "starting it again in 4 s" in "\n".join(restarts)
        started = time.monotonic()
        served.stop()  # a SIGTERM during a pause ends it at once
        assert time.monotonic() - started < 10

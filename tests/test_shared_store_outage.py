"""A shared store that stops answering (killed, restarting, hung): every request is still answered
from the process's own copy, within a bound; the log says so once, not once a request; what
waits for the store is bounded; once it answers again, everything kept is written and every
worker sees it."""
from __future__ import annotations

import asyncio
import collections
import json
import signal
import time
import urllib.error
import urllib.request

import pytest

from emulator.core import store_outage
from emulator.core.redis_store import RedisStore
from tests.shared_store import hyber_send, needs_valkey, opened, record, spy, wait_every_worker_lists  # noqa: F401 (fixtures)
from tests.valkey import ValkeyServer

pytestmark = needs_valkey

QUICK = 'rules:\n  - deliver: {"*": [{after: 0.1, status: sent}, {after: 0.2, status: delivered}]}\n'


@pytest.fixture
def own_valkey():
    """A Valkey of this test's own: it is killed, stopped and started again."""
    with ValkeyServer() as server:
        yield server


def _health_by_worker(served, tries: int = 40) -> dict[int, dict]:
    seen: dict[int, dict] = {}
    for _ in range(tries):  # a new connection each: SO_REUSEPORT spreads them over the workers
        health = served.get("/_emulator/health")[1]
        seen[health["process"]["pid"]] = health
    return seen


def _timed_send(served, phone: str) -> tuple[str, float]:
    started = time.monotonic()
    message_id = hyber_send(served, phone)
    return message_id, time.monotonic() - started


def _wait_reachable(served, workers: int, seconds: float = 10) -> dict[int, dict]:
    deadline = time.monotonic() + seconds
    while True:
        health = _health_by_worker(served)
        if len(health) == workers and all(h["shared_store"]["reachable"] for h in health.values()):
            return health
        if time.monotonic() > deadline:
            pytest.fail(f"not every worker reaches the store again: {health}\n{served.stop()}")
        time.sleep(0.2)


def test_a_store_killed_and_started_again_costs_no_request_and_loses_nothing(serve, own_valkey, tmp_path):
    quick = tmp_path / "quick.yaml"
    quick.write_text(QUICK)
    served = serve("--store", own_valkey.url, "--workers", "2", "--scenario", str(quick))
    before = [hyber_send(served, f"38050100{n:04d}") for n in range(5)]

    own_valkey.stop()  # SIGTERM: gone at once; the connections are refused from now on
    during = [_timed_send(served, f"38050200{n:04d}") for n in range(60)]
    assert max(seconds for _, seconds in during) < 2.0, during  # answered from the copy, not held
    away = _health_by_worker(served)
    assert len(away) == 2 and not any(h["shared_store"]["reachable"] for h in away.values()), away
    with urllib.request.urlopen(served.client.url() + "/_emulator/metrics", timeout=10) as response:
        assert "msgemu_store_reachable 0.0" in response.read().decode()
    time.sleep(1.0)  # the lifecycle goes on meanwhile (each worker's own timers)

    own_valkey.start()
    _wait_reachable(served, 2)
    sent = before + [message_id for message_id, _ in during]
    # every worker sees every message, delivered once
    wait_every_worker_lists(served, {message_id: "delivered" for message_id in sent}, 10,
                            why="not every message delivered and seen by every worker")
    delivered = collections.Counter(e["message_id"] for e in served.client.events(limit=10000) if e["status"] == "delivered")
    assert set(delivered.values()) == {1} and len(delivered) == len(sent)

    log = served.stop()
    assert "Traceback" not in log
    assert log.count("not reached") == 2, log  # one line per worker for the whole outage
    assert log.count("answers again after") == 2, log


def test_a_store_that_hangs_holds_a_request_no_longer_than_the_bound(serve, own_valkey):
    served = serve("--store", own_valkey.url, "--workers", "2")
    hyber_send(served, "380503000000")
    own_valkey.process.send_signal(signal.SIGSTOP)  # accepts, never answers: a network that drops packets
    try:
        during = [_timed_send(served, f"38050300{n:04d}") for n in range(1, 31)]
        slowest = max(seconds for _, seconds in during)
        # the first requests of each worker wait for the bound, the others are answered at once
        assert slowest < store_outage.AWAY_AFTER + 2, during
        assert sum(1 for _, seconds in during if seconds > 1) <= 4, during
        time.sleep(max(0.0, store_outage.AWAY_AFTER + 4 - slowest))  # hung longer than the bound
    finally:
        own_valkey.process.send_signal(signal.SIGCONT)
    _wait_reachable(served, 2)
    phones = {m["recipient"] for m in served.client.messages(provider="hyber", limit=100)}
    assert len(phones) == 31
    log = served.stop()
    assert "Traceback" not in log
    assert log.count("not reached (no answer within") == 2, log


async def test_what_waits_for_a_store_that_is_away_is_bounded_by_what_the_copy_keeps(own_valkey):
    here = RedisStore(own_valkey.url, retention=50)
    await here.open()
    try:
        own_valkey.stop()
        for n in range(3000):  # journal records only: what a store away sees most of
            here.add_request(record(here, f"/during/{n}"))
            if n % 100 == 0:
                await here.commit()  # (returns at once once the store is away)
        assert here.outage.away
        assert len(here._outbox) <= 4 * store_outage.CHUNK + 2 * 50, len(here._outbox)
        own_valkey.start()
        for _ in range(100):
            if not here.outage.away:
                break
            await asyncio.sleep(0.05)
        assert not here.outage.away
        from redis import asyncio as client

        spy = client.from_url(own_valkey.url)
        stored = await spy.lrange("msgemu:journal:requests", 0, -1)
        await spy.aclose()
        # the store ends as the copy is: its newest 50 (what writing them one by one leaves)
        assert len(stored) == 50 and b"/during/2999" in stored[-1] and b"/during/2950" in stored[0]
    finally:
        await here.close()


class _Message:
    def __init__(self, message_id: str) -> None:
        self.id = message_id


def test_what_waits_is_folded_without_changing_what_the_store_ends_with():
    a, b, gone = _Message("a"), _Message("b"), _Message("gone")
    head = lambda cost: ("id", "p", "acc", "+1", None, [], cost)  # noqa: E731 (the head's cost is last)
    ops = [
        ("message", a, b"a1", head(7)), ("charge", "smsc", "demo", 1), ("message", gone, b"g1", head(1)),
        ("event", "e1"), ("message", b), ("message", a, b"a2", head(None)), ("charge", "smsc", "demo", 2),
        ("account", "demo", "account", True, "change"),  # a balance set: charges before and after stay apart
        ("charge", "smsc", "demo", 4), ("dedupe", ("k",), 1.0), ("dedupe", ("k",), 2.0), ("event", "e2"),
    ]
    folded = store_outage.bound(ops, lambda message_id: message_id != "gone", {"event": 1})
    assert folded == [
        ("message", a, b"a2", head(7)),  # at its first place, its latest blob, the first version's cost
        ("message", b),  # recorded, not yet serialized: written as it is when it leaves
        ("charge", "smsc", "demo", 3),  # summed up to the balance set...
        ("account", "demo", "account", True, "change"),
        ("event", "e2"),  # the copy keeps one event: the newest
        ("charge", "smsc", "demo", 4),  # ...and after it
        ("dedupe", ("k",), 2.0),  # last wins
    ]


async def test_a_unit_of_work_larger_than_a_round_trip_returns_once_all_of_it_is_in_the_store(store, spy, opened):
    here = await opened(store)
    try:
        for n in range(3 * store_outage.CHUNK + 5):  # a manual clock's advance can record this many at once
            here.add_request(record(here, f"/big/{n}"))
        await here.commit()  # the round trips carry CHUNK each: it returns after the last
        assert await spy.llen("msgemu:journal:requests") == 3 * store_outage.CHUNK + 5
        assert not here.outage.away
    finally:
        await here.close()


def test_the_manual_clock_says_it_cannot_move_while_the_store_is_away(serve, own_valkey):
    served = serve("--store", own_valkey.url, "--clock", "manual")
    hyber_send(served, "380504000000")
    own_valkey.stop()
    hyber_send(served, "380504000001")  # (the process finds the store away)
    request = urllib.request.Request(served.client.url() + "/_emulator/clock/advance", b'{"seconds": 5}',
                                     {"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 503
    assert "the clock cannot move" in json.loads(refused.value.read())["error"]
    own_valkey.start()
    _wait_reachable(served, 1)
    served.client.advance(5)  # once back, the time moves and everything due fires
    assert {m["status"] for m in served.client.messages(provider="hyber")} == {"delivered"}
    assert "Traceback" not in served.stop()


def test_transitions_scheduled_while_the_store_was_away_survive_a_restart_once_it_is_back(serve, own_valkey, tmp_path):
    slow = tmp_path / "slow.yaml"  # delivered 6 s after the send: long enough to restart msgemu first
    slow.write_text('rules:\n  - deliver: {"*": [{after: 5, status: sent}, {after: 6, status: delivered}]}\n')
    first = serve("--store", own_valkey.url, "--scenario", str(slow))
    hyber_send(first, "380505000000")
    own_valkey.stop()
    message_id = hyber_send(first, "380505000001")  # its transitions are scheduled in this process
    own_valkey.start()
    _wait_reachable(first, 1)  # ...and handed to the store once it answers
    first.stop()
    again = serve("--store", own_valkey.url, "--scenario", str(slow))
    deadline = time.monotonic() + 15
    while True:
        statuses = {m["provider_id"]: m["status"] for m in again.client.messages(provider="hyber")}
        if statuses.get(message_id) == "delivered":
            break
        if time.monotonic() > deadline:
            pytest.fail(f"the transitions scheduled while the store was away were lost with the process: {statuses}")
        time.sleep(0.2)
    assert set(statuses.values()) == {"delivered"}


async def test_a_full_store_is_said_to_be_full_with_the_remedy_and_takes_the_changes_once_it_has_room(own_valkey, opened, caplog):
    """Valkey at its maxmemory (noeviction) refuses writes with OOM: it is reached, so the line
    says it takes no writes and what to do, not "not reached"; what waited is written once it has
    room."""
    from redis import asyncio as client

    here = await opened(own_valkey.url)  # (both clients: their errors read differently)
    spy = client.from_url(own_valkey.url)
    try:
        await spy.config_set("maxmemory-policy", "noeviction")
        await spy.config_set("maxmemory", 1)  # below what it holds already: every write refused
        here.add_request(record(here, "/while-full"))
        await here.commit()  # refused twice: answered from the copy from now on
        assert here.outage.away
        assert "takes no writes (" in caplog.text and "lower --retention-bytes" in caplog.text
        assert "not reached" not in caplog.text
        await spy.config_set("maxmemory", 0)
        for _ in range(40):
            if not here.outage.away:
                break
            await asyncio.sleep(0.05)
        assert not here.outage.away
        assert any(b"/while-full" in row for row in await spy.lrange("msgemu:journal:requests", 0, -1))
    finally:
        await spy.config_set("maxmemory", 0)
        await spy.aclose()
        await here.close()


async def test_a_store_that_evicts_keys_when_full_is_said_to_at_start(own_valkey, caplog):
    """allkeys-lru and the like drop whole keys of msgemu's when full (every message is in one
    hash): nothing would say so later, so opening the store says it once."""
    from redis import asyncio as client

    spy = client.from_url(own_valkey.url)
    try:
        here = RedisStore(own_valkey.url)
        await here.open()  # noeviction (Valkey's default): nothing said
        await here.close()
        assert "evicts keys" not in caplog.text
        await spy.config_set("maxmemory", 512 * 2**20)
        await spy.config_set("maxmemory-policy", "allkeys-lru")
        here = RedisStore(own_valkey.url)
        await here.open()
        await here.close()
        assert caplog.text.count("evicts keys when full (maxmemory-policy allkeys-lru)") == 1
    finally:
        await spy.config_set("maxmemory", 0)
        await spy.config_set("maxmemory-policy", "noeviction")
        await spy.aclose()


def test_a_read_only_replica_as_the_store_is_one_clear_line_at_start(own_valkey):
    """Before: a traceback (ReadOnlyError) from the first write of the start."""
    import subprocess
    import sys

    import redis

    from tests.valkey import free_port

    spy = redis.Redis.from_url(own_valkey.url)
    spy.replicaof("127.0.0.1", free_port())  # a replica (of nobody that answers): reads yes, writes no
    try:
        result = subprocess.run([sys.executable, "-m", "emulator.cli", "serve", "--port", str(free_port()),
                                 "--store", own_valkey.url], capture_output=True, text=True, timeout=60)
    finally:
        spy.replicaof("NO", "ONE")
    assert result.returncode == 2, result.stderr
    assert "cannot be used" in result.stderr and "point --store at its primary" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


async def test_a_store_that_becomes_a_read_only_replica_is_said_to_take_no_writes(own_valkey, opened, caplog):
    from redis import asyncio as client

    here = await opened(own_valkey.url)
    spy = client.from_url(own_valkey.url)
    try:
        await spy.execute_command("REPLICAOF", "127.0.0.1", "1")  # (a failover demoted it)
        here.add_request(record(here, "/while-read-only"))
        await here.commit()
        assert here.outage.away
        assert "takes no writes (" in caplog.text and "point --store at its primary" in caplog.text
        await spy.execute_command("REPLICAOF", "NO", "ONE")
        for _ in range(40):
            if not here.outage.away:
                break
            await asyncio.sleep(0.05)
        assert any(b"/while-read-only" in row for row in await spy.lrange("msgemu:journal:requests", 0, -1))
    finally:
        await spy.execute_command("REPLICAOF", "NO", "ONE")
        await spy.aclose()
        await here.close()

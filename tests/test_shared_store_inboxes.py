"""The shared store's change feed as an inbox per process (core/redis_store.py PUBLISH, RENEW),
on a real Valkey/Redis: a commit goes to the inbox of every other process on the roster, never
to its writer's, and a process alone writes none; two processes committing at once each see the
other's commits and count their own as applied (no false "trimmed" warning); a process that
closes leaves the roster, one whose lease ended is dropped and, once back, says what it missed
and does not wait for it; over HTTP, two `msgemu serve` processes each hold one inbox that only
the other writes to; a process that joins while another commits misses nothing."""
from __future__ import annotations

import asyncio
import time

from emulator.core.redis_store import RedisStore
from tests.shared_store import hyber_send, needs_valkey, opened, record, served_pair, spy, until_listed  # noqa: F401 (fixtures)

pytestmark = needs_valkey

TRIMMED = "were trimmed before this process read them"


async def inboxes(spy) -> dict[bytes, int]:
    return {key: await spy.xlen(key) async for key in spy.scan_iter("msgemu:inbox:*")}


async def test_a_commit_goes_to_the_other_processes_inboxes_only_and_a_process_alone_writes_none(store, spy, opened):
    here = await opened(store)
    try:
        here.add_request(record(here, "/alone"))
        await here.commit()
        assert await inboxes(spy) == {}  # nobody else on the roster: no entry at all
        there = await opened(store)
        try:
            assert set(await spy.hkeys("msgemu:roster")) == {here.origin, there.origin}
            for path in ("/one", "/two"):
                here.add_request(record(here, path))
                await here.commit()
            assert await inboxes(spy) == {there.inbox.encode(): 2}  # here's own inbox: nothing
            entries = await spy.xrange(there.inbox)
            assert {fields[b"o"] for _id, fields in entries} == {here.origin}
            await there.sync()
            assert [r.path for r in there.requests] == ["/alone", "/one", "/two"]  # (/alone: loaded at open)
            there.add_request(record(there, "/back"))
            await there.commit()
            assert (await inboxes(spy))[here.inbox.encode()] == 1
            await here.sync()
            assert [r.path for r in here.requests][-1] == "/back"
        finally:
            await there.close()
        assert set(await spy.hkeys("msgemu:roster")) == {here.origin}  # closing leaves the roster...
        assert there.inbox.encode() not in await inboxes(spy)  # ...and its inbox goes
    finally:
        await here.close()


async def test_two_copies_committing_at_once_see_each_others_commits_and_count_their_own(store, spy, opened, caplog):
    """Each copy's inbox skips the copy's own commits: those gaps are its own, never "trimmed",
    and a sync never waits for them."""
    here, there = await opened(store), await opened(store)
    try:
        async def commits(copy: RedisStore, name: str) -> None:
            for i in range(150):
                copy.add_request(record(copy, f"/{name}/{i}"))
                await copy.commit()
                if i % 7 == 0:
                    await copy.sync()

        await asyncio.gather(commits(here, "here"), commits(there, "there"), commits(here, "here2"))
        started = time.monotonic()
        await asyncio.gather(here.sync(), there.sync())
        assert time.monotonic() - started < 1.0
        for copy in (here, there):
            paths = {r.path for r in copy.requests}
            assert all(f"/{name}/{i}" in paths for name in ("here", "there", "here2") for i in range(150))
        newest = int(await spy.get("msgemu:commits"))
        assert here._applied_n == there._applied_n == newest
        assert TRIMMED not in caplog.text
    finally:
        await here.close()
        await there.close()


async def test_a_copy_that_joins_while_another_commits_misses_nothing(store, spy, opened, caplog):
    """Joining the roster and loading the copy are one MULTI: every commit is either in what the
    joiner loaded or in its inbox, never neither, never both."""
    here = await opened(store)
    try:
        done = asyncio.Event()

        async def commits() -> int:
            i = 0
            while not done.is_set() or i < 50:
                here.add_request(record(here, f"/during/{i}"))
                await here.commit()
                i += 1
            return i

        committing = asyncio.get_running_loop().create_task(commits())
        await asyncio.sleep(0.05)
        joiners = []
        for _ in range(3):  # joining at different points of the stream of commits
            joiners.append(await opened(store))
            await asyncio.sleep(0.02)
        done.set()
        made = await committing
        for joiner in joiners:
            await joiner.sync()
            assert [r.path for r in joiner.requests] == [f"/during/{i}" for i in range(made)]
        assert TRIMMED not in caplog.text
        for joiner in joiners:
            await joiner.close()
    finally:
        await here.close()


async def test_a_process_whose_lease_ended_is_dropped_and_once_back_loads_what_it_missed(store, spy, opened, caplog):
    """On its own (not a worker of --workers, which restarts instead), it loads the store again
    in place at its next round trip; what it had not written yet stays and is written after."""
    here, there = await opened(store), await opened(store)
    try:
        await spy.hset("msgemu:roster", there.origin, 0)  # its lease ended (it stalled, as far as the store knows)
        here.add_request(record(here, "/missed"))
        await here.commit()  # drops it: no entry for it, its inbox gone
        assert set(await spy.hkeys("msgemu:roster")) == {here.origin}
        assert await inboxes(spy) == {}
        real_load = there._load

        async def load_while_a_request_ends(start_over=False, keep_pending=False):
            if start_over:
                there.add_request(record(there, "/pending"))  # recorded after the round trip took what waited
            return await real_load(start_over, keep_pending)

        there._load = load_while_a_request_ends
        started = time.monotonic()
        await there._renew()  # (its reader renews every RENEW_EVERY seconds)
        assert "was off the roster" in caplog.text and "it loads the store again now" in caplog.text
        await there.sync()  # the next round trip (this one's, or one already under way) loads the store again
        assert time.monotonic() - started < 1.0
        assert set(await spy.hkeys("msgemu:roster")) == {here.origin, there.origin}
        assert [r.path for r in there.requests] == ["/missed", "/pending"]
        here.add_request(record(here, "/after"))
        await here.commit()
        await there.sync()
        assert [r.path for r in there.requests] == ["/missed", "/pending", "/after"]  # back on the roster
        await here.sync()  # (in the order they were committed: /pending was written after the reload)
        assert sorted(r.path for r in here.requests) == ["/after", "/missed", "/pending"]
        stored = await spy.lrange("msgemu:journal:requests", 0, -1)
        assert sorted(path for path in ("/missed", "/pending", "/after") for blob in stored if path.encode() in blob) == [
            "/after", "/missed", "/pending"]
        assert caplog.text.count("it loads the store again now") == 1
    finally:
        await here.close()
        await there.close()


def test_two_served_processes_each_read_only_the_others_commits(store):
    """Over HTTP: send here, query there, and the other way; each process's inbox holds only the
    other's commits; the one that stops leaves the roster and the other then writes no entry."""
    import redis

    spy = redis.Redis.from_url(store)
    here, there = served_pair(store)
    try:
        roster = spy.hkeys("msgemu:roster")
        assert len(roster) == 2
        sent_here = hyber_send(here, "380501110001")
        assert [m["provider_id"] for m in there.client.messages(phone="380501110001")] == [sent_here]
        sent_there = hyber_send(there, "380501110002")
        assert [m["provider_id"] for m in here.client.messages(phone="380501110002")] == [sent_there]
        for origin in roster:
            origins = {fields[b"o"] for _id, fields in spy.xrange(b"msgemu:inbox:" + origin)}
            assert origins and origin not in origins  # the other's commits only
        here.stop()
        assert spy.hkeys("msgemu:roster") != roster and len(spy.hkeys("msgemu:roster")) == 1
        (alone,) = spy.hkeys("msgemu:roster")
        before = {key: spy.xlen(key) for key in spy.scan_iter("msgemu:inbox:*")}
        assert list(before) == [b"msgemu:inbox:" + alone]  # the stopped one's inbox is gone
        hyber_send(there, "380501110003")
        assert {key: spy.xlen(key) for key in spy.scan_iter("msgemu:inbox:*")} == before  # alone: no entry
        assert there.client.messages(phone="380501110003")[0]["status"] in ("accepted", "queued", "sent", "delivered")
    finally:
        output = here.stop() + there.stop()
        spy.close()
    assert TRIMMED not in output and "off the roster" not in output


async def test_after_the_store_itself_was_away_no_process_is_dropped_for_the_leases_it_could_not_renew(store, spy, opened, caplog):
    here, there = await opened(store), await opened(store)
    try:
        now_ms = int(time.time() * 1000)
        # as after a store that restarted and loaded its data for a minute: both leases ended
        # about as long ago, the committer's own included
        await spy.hset("msgemu:roster", mapping={there.origin: now_ms - 20_000, here.origin: now_ms - 12_000})
        here.add_request(record(here, "/after-the-outage"))
        await here.commit()
        assert set(await spy.hkeys("msgemu:roster")) == {here.origin, there.origin}  # nobody dropped
        await there.sync()
        assert [r.path for r in there.requests] == ["/after-the-outage"]  # its entry came
        await there._renew()
        assert "off the roster" not in caplog.text and "trimmed" not in caplog.text
    finally:
        await here.close()
        await there.close()


async def test_a_copy_loaded_again_reads_its_inbox_on_from_where_the_load_left_it(store, spy, opened):
    """What the inbox still holds when a copy loads the store again is in what it loaded: read
    again from the inbox's start, every entry would be applied twice (journal records, charges)."""
    here, there = await opened(store), await opened(store)
    try:
        reader, there._reader = there._reader, None  # there reads nothing for a while
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        for n in range(5):
            here.add_request(record(here, f"/held/{n}"))
            await here.commit()
        assert sum((await inboxes(spy)).values()) == 5  # still in there's inbox
        there._reload_wanted = True  # (as when it finds it missed commits)
        await there.sync()  # its round trip loads the store again
        there._reader = asyncio.get_running_loop().create_task(there._read_changes())
        here.add_request(record(here, "/after"))
        await here.commit()
        await until_listed(there, "/after")
        assert [r.path for r in there.requests] == [f"/held/{n}" for n in range(5)] + ["/after"]
    finally:
        await here.close()
        await there.close()

"""Group commit in the shared store (core/redis_store.py), on a real Valkey/Redis: units of work
finished together share one round trip and each is durable before its commit() returns; a
request arriving meanwhile learns the commit count from that same round trip; and a copy sees
what another copy (another process) committed before its sync() was called, even when the
count comes from its own commit's reply."""
from __future__ import annotations

import asyncio

from tests.shared_store import needs_valkey, opened, record, spy, until_listed  # noqa: F401 (fixtures)

pytestmark = needs_valkey


async def round_trips(redis) -> int:
    """Transactions and lone reads of the commit count (MGET, with the store's token) the server
    has run: each one round trip."""
    stats = await redis.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("exec", "mget"))


async def test_units_finished_together_share_one_round_trip_and_each_is_durable_when_its_commit_returns(store, spy, opened):
    here = await opened(store)
    try:
        before = await round_trips(spy)

        async def unit(path: str) -> int:
            here.add_request(record(here, path))
            await here.commit()
            return await spy.llen("msgemu:journal:requests")  # what the store holds once commit() returned

        async def arriving() -> None:
            await here.sync()

        seen = await asyncio.gather(unit("/a"), unit("/b"), arriving())
        assert seen[:2] == [2, 2]
        assert await round_trips(spy) - before == 1  # both commits and the sync's count: one MULTI
    finally:
        await here.close()


async def test_a_commit_made_elsewhere_is_seen_after_sync_even_when_the_count_comes_from_its_own_commit(store, spy, opened):
    here, there = await opened(store), await opened(store)
    try:
        there.add_request(record(there, "/there"))
        await there.commit()
        here.add_request(record(here, "/here"))
        await asyncio.gather(here.commit(), here.sync())  # the count is what here's own commit returned
        assert {r.path for r in here.requests} == {"/there", "/here"}
        await there.sync()
        assert {r.path for r in there.requests} == {"/there", "/here"}
    finally:
        await here.close()
        await there.close()


async def test_a_commit_the_store_refused_is_kept_and_written_with_the_next_one(store, spy, opened):
    here = await opened(store)
    try:
        await spy.set("msgemu:journal:requests", "not a list")  # the transaction's RPUSH fails
        here.add_request(record(here, "/kept"))
        await here.commit()  # answered (a request is not held forever); its change stays queued
        assert await spy.type("msgemu:journal:requests") == b"string"
        assert here.outage.away  # refused twice: from now on answered from the copy, tried every RETRY s
        await spy.delete("msgemu:journal:requests")
        here.add_request(record(here, "/next"))
        await here.commit()  # (returns at once while the store is away)
        for _ in range(40):  # the next attempt writes both
            if not here.outage.away:
                break
            await asyncio.sleep(0.05)
        assert not here.outage.away
        assert [r.path for r in here.requests] == ["/kept", "/next"]
        stored = await spy.lrange("msgemu:journal:requests", 0, -1)
        assert len(stored) == 2 and b"/kept" in stored[0] and b"/next" in stored[1]
    finally:
        await here.close()


async def test_connections_the_server_dropped_are_made_again_and_nothing_committed_is_lost(store, spy, opened):
    here, there = await opened(store), await opened(store)
    try:
        here.add_request(record(here, "/before"))
        await here.commit()
        await spy.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")  # every msgemu connection
        here.add_request(record(here, "/during"))
        await here.commit()  # may fail (the connection was gone): kept for the next one
        here.add_request(record(here, "/after"))
        await here.commit()
        stored = await spy.lrange("msgemu:journal:requests", 0, -1)
        assert [b"/before" in stored[0], b"/during" in stored[1], b"/after" in stored[2]] == [True] * 3
        for _ in range(50):  # the other copy's feed reader connects again and catches up
            await there.sync()
            if len(there.requests) == 3:
                break
            await asyncio.sleep(0.1)
        assert [r.path for r in there.requests] == ["/before", "/during", "/after"]
    finally:
        await here.close()
        await there.close()


async def test_the_change_feed_keeps_only_its_last_seconds(store, spy, opened, monkeypatch):
    """A group commit's feed entry carries a dozen sends: bounded by count alone, the feed could
    hold gigabytes. Each commit also trims what is older than CHANGES_SECONDS (60) by the
    server's clock, in whole seconds (0 for the last commit here: nothing before the current
    second). The trim is
    approximate, as MAXLEN's is: whole stream nodes (at most 100 entries each) go. (The feed is
    the other copy's inbox.)"""
    here, there = await opened(store), await opened(store)
    try:
        for i in range(300):
            here.add_request(record(here, f"/old/{i}"))
            await here.commit()
        assert await spy.xlen(there.inbox) >= 300  # all within the last 60 s
        await asyncio.sleep(1.2)  # the next whole second has begun on the server's clock
        monkeypatch.setattr("emulator.core.redis_store.CHANGES_SECONDS", 0)
        here.add_request(record(here, "/new"))
        await here.commit()
        assert await spy.xlen(there.inbox) <= 100
    finally:
        await here.close()
        await there.close()


async def test_a_copy_that_reads_the_feed_after_it_was_trimmed_says_so(store, spy, opened, monkeypatch, caplog):
    """A process that stalls longer than the feed keeps commits has missed some: it cannot
    apply what it never read, so it logs how many and loads the store again."""
    here, late = await opened(store), await opened(store)
    try:
        reader, late._reader = late._reader, None  # the late copy stops reading, as a stalled process would
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        for i in range(300):
            here.add_request(record(here, f"/missed/{i}"))
            await here.commit()
        await asyncio.sleep(1.2)  # the next whole second has begun on the server's clock
        monkeypatch.setattr("emulator.core.redis_store.CHANGES_SECONDS", 0)
        here.add_request(record(here, "/last"))
        await here.commit()  # trims what the late copy has not read
        newest = int(await spy.get("msgemu:commits"))
        late._reader = asyncio.get_running_loop().create_task(late._read_changes())
        for _ in range(100):
            if late._read_n >= newest:
                break
            await asyncio.sleep(0.05)
        assert late._read_n == newest
        assert "were trimmed before this process read them" in caplog.text
        await late.sync()  # on its own: the next round trip loads the store again
        assert [r.path for r in late.requests] == [f"/missed/{i}" for i in range(300)] + ["/last"]
    finally:
        await here.close()
        await late.close()


def text_message(text: str):
    from emulator.core.model import Attempt, Message

    return Message(provider="alphasms", account="demo", recipient="380501234567",
                   attempts=[Attempt("sms", {"text": text})])


async def test_a_commits_message_blobs_go_once_and_reach_the_hash_the_feed_and_a_restart_in_order(store, spy, opened):
    """PUBLISH writes the commit's last messages and packs every blob into the feed entry: a
    message written then forgotten in the same commit is gone everywhere, those after it are
    kept, and blobs holding the packing's own characters (digits, colons) come back whole."""
    here, there = await opened(store), await opened(store)
    try:
        forgotten = text_message("12:34:")
        here.add_message(forgotten)
        here.forget({forgotten.id}, set(), set())
        kept = [text_message(f"{n}:{'9' * n}:") for n in range(3)]
        for message in kept:
            here.add_message(message)
        await here.commit()
        entry = (await spy.xrevrange(there.inbox, count=1))[0][1]
        assert entry[b"o"] == here.origin and entry[b"m"].count(b"12:34:") == 1  # each blob once, in the feed
        stored = await spy.hgetall("msgemu:messages")
        assert set(stored) == {m.id.encode() for m in kept}  # the hash: only what follows the reset
        await there.sync()
        assert [m.attempts[0].content["text"] for m in there.messages.values()] == ["0::", "1:9:", "2:99:"]
        again = await opened(store)  # a restart reads the hash
        try:
            assert [m.attempts[0].content["text"] for m in again.messages.values()] == ["0::", "1:9:", "2:99:"]
        finally:
            await again.close()
    finally:
        await here.close()
        await there.close()


async def test_a_feed_entry_with_its_blobs_inside_the_pickle_still_applies(store, spy, opened):
    """An entry an earlier msgemu wrote (each message blob inside the ops pickle, no field m)."""
    import pickle

    from emulator.core import store_codec as codec
    from emulator.core.redis_store import _head
    from emulator.core.store import message_cost

    here = await opened(store)
    try:
        message = text_message("from an older msgemu")
        ops = [("message", codec.message_blob(message, []), _head(message, [], message_cost(message)))]
        number = await spy.incr("msgemu:commits")
        await spy.xadd("msgemu:changes", {"o": b"older", "n": number, "ops": pickle.dumps(ops, pickle.HIGHEST_PROTOCOL)})
        await here.sync()
        assert here.messages[message.id].attempts[0].content["text"] == "from an older msgemu"
    finally:
        await here.close()


async def test_a_commit_whose_reply_was_lost_is_not_taken_for_a_trimmed_feed(store, spy, opened, caplog):
    here, there = await opened(store), await opened(store)
    try:
        link = here._commits_link
        if link is None:
            import pytest

            pytest.skip("redis-py's pipeline: a lost reply cannot be told from a refused connection")
        from emulator.core.redis_link import LinkError

        real = link._exchange

        async def reply_lost(packed):  # the MULTI runs (its commit takes a number), the reply never comes
            if b"MULTI" not in packed[0]:
                return await real(packed)
            link._exchange = real
            await real(packed)
            link.close()
            raise LinkError("connection closed by the server")

        link._exchange = reply_lost
        here.add_request(record(here, "/reply-lost"))
        await here.commit()  # written again at once: a number of its own it never learns
        there.add_request(record(there, "/later"))
        await there.commit()
        await until_listed(here, "/later")
        assert any(r.path == "/later" for r in here.requests)
        assert "trimmed before this process read them" not in caplog.text
    finally:
        await here.close()
        await there.close()


async def test_a_commit_whose_reply_was_lost_is_written_once(store, spy, opened):
    """The MULTI ran but its reply never came: the store is asked whether it ran before anything
    is written again, so its journal record, its charge and its feed entry count once."""
    here, there = await opened(store), await opened(store)
    try:
        from decimal import Decimal

        from emulator.core.model import Account

        here.add_account(Account("alphasms", "lost-reply", {"key": "k"}, Decimal("100")))
        await here.commit()
        account = here.account("alphasms", "lost-reply")
        field = b"alphasms\x1flost-reply"
        before = int(await spy.hget("msgemu:balances", field))
        real = here._transaction

        async def reply_lost(commands):  # the MULTI runs, its reply never comes
            here._transaction = real
            await real(commands)
            raise ConnectionError("connection closed by the server")

        here._transaction = reply_lost
        here.add_request(record(here, "/once"))
        here.charge(account, Decimal("2.5"))
        await here.commit()
        here.add_request(record(here, "/next"))
        await here.commit()

        stored = await spy.lrange("msgemu:journal:requests", 0, -1)
        assert [b"/once" in s for s in stored] == [True, False] and b"/next" in stored[1]
        assert int(await spy.hget("msgemu:balances", field)) == before - 2_500_000
        await until_listed(there, "/next")
        assert [r.path for r in there.requests] == ["/once", "/next"]
        assert there.account("alphasms", account.login).balance == Decimal(before) / 1_000_000 - Decimal("2.5")
    finally:
        await here.close()
        await there.close()


async def test_a_commit_lost_on_the_way_is_written_by_the_next_round_trip(store, spy, opened):
    """The connection failed before the MULTI ran: the store's note names an earlier round trip
    (or none), so the changes go again, once."""
    here = await opened(store)
    try:
        here.add_request(record(here, "/first"))
        await here.commit()
        real = here._transaction

        async def lost_on_the_way(commands):
            here._transaction = real
            raise ConnectionError("connection reset")

        here._transaction = lost_on_the_way
        here.add_request(record(here, "/lost-on-the-way"))
        await here.commit()
        stored = await spy.lrange("msgemu:journal:requests", 0, -1)
        assert [b"/first" in stored[0], b"/lost-on-the-way" in stored[1], len(stored)] == [True, True, 2]
        assert here._in_doubt is None and not here.outage.away
    finally:
        await here.close()


async def test_a_lost_reply_the_feed_passes_before_it_is_settled_is_not_taken_for_a_trimmed_feed(store, spy, opened, caplog):
    """The store cannot be asked at once (it went away with the reply): the other process's
    next commit reaches this copy first, over the gap the lost commit's number leaves; once
    the store answers, the commit is found to have run, and no commit counts as missed."""
    here, there = await opened(store), await opened(store)
    try:
        real_transaction, real_settle = here._transaction, here._settle_doubt
        asks = []

        async def reply_lost(commands):
            here._transaction = real_transaction
            await real_transaction(commands)
            raise ConnectionError("connection closed by the server")

        async def not_yet():
            asks.append(1)
            if len(asks) > 2:
                here._settle_doubt = real_settle
                return await real_settle()
            raise ConnectionError("connection refused")

        here._transaction, here._settle_doubt = reply_lost, not_yet
        here.add_request(record(here, "/once"))
        await here.commit()  # the reply lost, the store not asked: away, answered from the copy
        assert here.outage.away and here._in_doubt is not None
        there.add_request(record(there, "/later"))
        await there.commit()
        for _ in range(100):  # the feed brings /later over the lost commit's number; then settled
            if any(r.path == "/later" for r in here.requests) and not here.outage.away:
                break
            await asyncio.sleep(0.05)
        assert [r.path for r in here.requests] == ["/once", "/later"] and not here.outage.away
        assert here._in_doubt is None and len(asks) == 3
        stored = await spy.lrange("msgemu:journal:requests", 0, -1)
        assert [b"/once" in stored[0], b"/later" in stored[1], len(stored)] == [True, True, 2]
        assert "trimmed before this process read them" not in caplog.text
        assert here._applied_n == int(await spy.get("msgemu:commits"))
    finally:
        await here.close()
        await there.close()


async def test_a_claim_whose_reply_was_lost_is_answered_again_not_lost(store, spy, opened):
    """The claim script ran (the transitions left the store) but its reply never came: the next
    claim asks again with the same number and gets them, instead of taking later ones (the
    first would never fire: out of the store, and never received)."""
    here = await opened(store)
    try:
        here.add_timer(100.0, ("start", "m1", 0))
        await here.commit()
        real = here._claim

        async def reply_lost(**kwargs):
            here._claim = real
            await real(**kwargs)
            raise ConnectionError("connection closed by the server")

        here._claim = reply_lost
        try:
            await here.claim_due(100.5)
        except ConnectionError:
            pass
        assert await spy.zcard("msgemu:timers") == 0  # it ran: taken out of the store
        here.add_timer(100.2, ("start", "m2", 0))
        await here.commit()
        assert await here.claim_due(100.5) == [(100.0, ("start", "m1", 0))]  # the lost one, not m2 yet
        assert await here.claim_due(100.5) == [(100.2, ("start", "m2", 0))]
        assert await here.claim_due(100.5) == []
    finally:
        await here.close()


async def test_a_balance_set_and_a_charge_in_one_round_trip_count_once(store, spy, opened):
    """The balance written is the one set, the charge after it goes as its own increment: before,
    the account was written as it was when the round trip left (charge included) and the charge
    again, so the store and every other copy ended one charge lower than this one."""
    from decimal import Decimal

    from emulator.core.model import Account

    here, there = await opened(store), await opened(store)
    try:
        here.add_account(Account("alphasms", "set-then-charged", {"key": "k"}, Decimal("100")))
        await here.commit()
        account = here.account("alphasms", "set-then-charged")
        account.balance = Decimal("500")  # (PATCH /_emulator/accounts: a balance set)
        here.account_changed(account, account.login, True)
        here.charge(account, Decimal("1.25"))  # a send in the same group commit
        await here.commit()
        assert int(await spy.hget("msgemu:balances", b"alphasms\x1fset-then-charged")) == 498_750_000
        await there.sync()
        assert there.account("alphasms", "set-then-charged").balance == account.balance == Decimal("498.75")
    finally:
        await here.close()
        await there.close()

"""The clock on its own: real time without a task per timer, manual time exactly as advance() says."""
from __future__ import annotations

import asyncio
import time

from emulator.core import clock as clock_module
from emulator.core.clock import Clock


async def until(predicate, seconds: float = 2.0) -> None:
    """Real-time tests wait for what they expect, never a fixed sleep."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.001)


# -- real time -----------------------------------------------------------------------------------
async def test_real_timers_run_outside_any_task_in_due_then_scheduling_order():
    clock = Clock("real")
    await clock.start()
    ran: list[tuple[str, object]] = []
    now = clock.now()
    clock.call_at(now + 0.02, lambda: ran.append(("late", asyncio.current_task())))
    clock.call_at(now + 0.01, lambda: ran.append(("first", asyncio.current_task())))
    clock.call_at(now + 0.01, lambda: ran.append(("second", asyncio.current_task())))
    clock.call_at(now - 5, lambda: ran.append(("overdue", asyncio.current_task())))
    tasks_before = len(asyncio.all_tasks())
    await until(lambda: len(ran) == 4)
    await clock.stop()
    assert [name for name, _ in ran] == ["overdue", "first", "second", "late"]
    assert all(task is None for _, task in ran)  # run by the loop handle itself, no task each
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_real_timer_does_not_fire_before_it_is_due():
    clock = Clock("real")
    await clock.start()
    fired_at: list[float] = []
    due = clock.now() + 0.05
    clock.call_at(due, lambda: fired_at.append(clock.now()))
    await until(lambda: fired_at)
    await clock.stop()
    assert fired_at[0] >= due


async def test_an_earlier_timer_scheduled_later_rearms_the_runner():
    clock = Clock("real")
    await clock.start()
    ran: list[str] = []
    clock.call_later(30, lambda: ran.append("far"))
    clock.call_later(0.01, lambda: ran.append("near"))
    await until(lambda: ran == ["near"])
    assert clock.pending == 1
    await clock.stop()


async def test_a_coroutine_timer_becomes_a_task_and_a_slow_one_holds_up_no_other():
    clock = Clock("real")
    await clock.start()
    release = asyncio.Event()
    ran: list[str] = []

    async def slow() -> None:
        ran.append("slow started")
        await release.wait()
        ran.append("slow done")

    clock.call_later(0, slow)
    clock.call_later(0.005, lambda: ran.append("quick"))
    await until(lambda: "quick" in ran)
    assert ran == ["slow started", "quick"]
    release.set()
    await until(lambda: "slow done" in ran)
    await clock.stop()


async def test_a_failing_timer_is_logged_and_the_clock_goes_on(caplog):
    clock = Clock("real")
    await clock.start()
    ran: list[str] = []

    async def broken_later() -> None:
        raise RuntimeError("async boom")

    clock.call_later(0, lambda: 1 / 0)
    clock.call_later(0, broken_later)
    clock.call_later(0.005, lambda: ran.append("after"))
    await until(lambda: ran == ["after"])
    await until(lambda: len([r for r in caplog.records if r.message == "timer failed"]) == 2)
    await clock.stop()


async def test_a_burst_of_due_timers_fires_whole_in_batches_that_let_io_in():
    clock = Clock("real")
    total = clock_module.FIRE_BATCH * 3 + 7
    fired: list[int] = []
    for i in range(total):
        clock.call_later(0, lambda i=i: fired.append(i))
    await clock.start()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert 0 < len(fired) < total  # the loop got its turn between batches
    await until(lambda: len(fired) == total)
    assert fired == list(range(total))
    await clock.stop()


async def test_a_backlog_of_slow_timers_lets_io_in_every_wake_budget():
    clock = Clock("real")
    fired: list[int] = []

    def slow(i: int) -> None:  # a timer of 0.3 ms: four of them fill a wake's budget
        end = time.perf_counter() + 0.0003
        while time.perf_counter() < end:
            pass
        fired.append(i)

    for i in range(40):
        clock.call_later(0, lambda i=i: slow(i))
    turns: list[int] = []

    async def io() -> None:  # what a request would do meanwhile: one step every loop turn
        while len(fired) < 40:
            turns.append(len(fired))
            await asyncio.sleep(0)
    await clock.start()
    await asyncio.wait_for(io(), 10)
    assert fired == list(range(40))
    steps = [b - a for a, b in zip(turns, turns[1:]) if b > a]
    per_wake = int(clock_module.WAKE_BUDGET / 0.0003) + 1  # the one that crosses the budget ends it
    assert max(steps) <= per_wake  # no wake-up ran more than a budget's worth
    assert len(steps) >= 40 // per_wake - 2  # worked off over many turns
    await clock.stop()


async def test_timers_scheduled_by_a_firing_timer_fire_in_order_too():
    clock = Clock("real")
    await clock.start()
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        clock.call_later(0.01, lambda: ran.append("later"))
        clock.call_later(0, lambda: ran.append("now"))

    clock.call_later(0, first)
    await until(lambda: len(ran) == 3)
    assert ran == ["first", "now", "later"]
    await clock.stop()


async def test_cancelled_timers_do_not_pile_up_in_the_heap():
    clock = Clock("real")
    await clock.start()
    timers = [clock.call_later(3600, lambda: None) for _ in range(10_000)]
    for timer in timers[:9_000]:
        timer.cancelled = True
    assert clock.pending == 1_000
    assert len(clock._timers) <= 2_000  # rebuilt once most of it was cancelled
    for timer in timers[9_000:]:
        timer.cancel()
    assert clock.pending == 0
    assert len(clock._timers) < clock_module.REBUILD_MIN * 2
    timers[0].cancelled = True  # cancelling twice, or after a rebuild, counts nothing twice
    assert clock.pending == 0
    await clock.stop()


async def test_a_cancelled_timer_never_fires_and_a_fired_one_cancels_harmlessly():
    clock = Clock("real")
    await clock.start()
    ran: list[str] = []
    fired = clock.call_later(0, lambda: ran.append("fired"))
    clock.call_later(0.005, lambda: ran.append("never")).cancelled = True
    clock.call_later(0.01, lambda: ran.append("last"))
    await until(lambda: "last" in ran)
    fired.cancelled = True  # after it ran: no effect on the count of what is pending
    assert ran == ["fired", "last"]
    assert clock.pending == 0
    await clock.stop()


async def test_real_advance_moves_time_and_fires_what_became_due():
    clock = Clock("real")
    await clock.start()
    ran: list[str] = []
    clock.call_later(60, lambda: ran.append("in a minute"))
    clock.call_later(3600, lambda: ran.append("in an hour"))
    fired = await clock.advance(61)
    assert (fired, ran, clock.pending) == (1, ["in a minute"], 1)
    await clock.stop()


async def test_clear_and_stop_leave_nothing_to_fire():
    clock = Clock("real")
    await clock.start()
    ran: list[str] = []
    kept = clock.call_later(0.01, lambda: ran.append("cleared"))
    clock.clear()
    assert kept.cancelled and clock.pending == 0
    clock.call_later(0.01, lambda: ran.append("stopped"))
    await clock.stop()
    await asyncio.sleep(0.03)
    assert ran == []


# -- manual time -----------------------------------------------------------------------------------
async def test_manual_advance_fires_in_due_then_scheduling_order_each_awaited_at_its_own_time():
    clock = Clock("manual", start=1000.0)
    seen: list[tuple[str, float]] = []

    async def slow(name: str) -> None:
        await asyncio.sleep(0.001)
        seen.append((name, clock.now()))

    clock.call_at(1002.0, lambda: slow("b"))
    clock.call_at(1001.0, lambda: seen.append(("a", clock.now())))
    clock.call_at(1002.0, lambda: seen.append(("c", clock.now())))
    clock.call_at(1010.0, lambda: seen.append(("later", clock.now())))
    assert await clock.advance(5) == 3
    assert seen == [("a", 1001.0), ("b", 1002.0), ("c", 1002.0)]
    assert clock.now() == 1005.0 and clock.pending == 1


async def test_manual_advance_waits_for_tracked_work_within_its_budget():
    clock = Clock("manual", start=0.0)
    done: list[str] = []

    async def work(seconds: float, name: str) -> None:
        await asyncio.sleep(seconds)
        done.append(name)

    clock.call_at(1, lambda: clock.track(asyncio.get_running_loop().create_task(work(0.01, "quick"))))
    clock.call_at(1, lambda: clock.track(asyncio.get_running_loop().create_task(work(60, "hung"))))
    started = asyncio.get_running_loop().time()
    await clock.advance(2, wait=0.1)
    assert done == ["quick"]
    assert asyncio.get_running_loop().time() - started < 1.0  # the hung one cost its budget, no more
    assert clock.in_flight == 1
    await clock.stop()


async def test_a_real_advance_over_many_timers_lets_the_loop_run_between_batches():
    clock = Clock("real")
    await clock.start()
    total = clock_module.FIRE_BATCH * 2 + 1
    fired: list[int] = []
    for i in range(total):
        clock.call_later(3600, lambda i=i: fired.append(i))
    seen_mid_advance: list[int] = []

    async def observer() -> None:
        await asyncio.sleep(0)
        seen_mid_advance.append(len(fired))

    watching = asyncio.get_running_loop().create_task(observer())
    assert await clock.advance(3601) == total
    await watching
    assert 0 < seen_mid_advance[0] < total  # the loop ran while the advance was still firing
    assert fired == list(range(total))
    await clock.stop()


def test_on_uvloop_a_loop_timer_finds_its_timer_due_instead_of_spinning_up_to_it():
    """libuv keeps whole milliseconds: a loop timer armed for the exact due time went off up to
    1 ms early, again and again until the timer was due (~9 wake-ups a timer). One wake-up a
    timer (timers 20 ms apart), none fired early."""
    uvloop = __import__("pytest").importorskip("uvloop")  # in the [test] extra; absent on Windows

    async def scenario() -> tuple[int, list[tuple[float, float]]]:
        clock = Clock("real")
        wakes = 0
        wake = clock._wake

        def counted() -> None:
            nonlocal wakes
            wakes += 1
            wake()

        clock._wake = counted  # type: ignore[method-assign]
        await clock.start()
        fired: list[tuple[float, float]] = []
        start = clock.now()
        for n in range(1, 11):
            due = start + 0.02 * n + 0.0005  # not on a millisecond: the case that spun
            clock.call_at(due, lambda due=due: fired.append((due, clock.now())))
        await until(lambda: len(fired) == 10)
        await clock.stop()
        return wakes, fired

    loop = uvloop.new_event_loop()
    try:
        wakes, fired = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert all(at >= due for due, at in fired)
    assert wakes <= 12, wakes


async def test_data_timers_and_callback_timers_keep_one_order_cancel_and_clear_on_both_clocks():
    """schedule()d timers are their key tuples in the heap, beside Timer objects: one (due,
    scheduling) order for both kinds, a cancelled Timer among them skipped, clear() drops both."""
    for mode in ("manual", "real"):
        clock = Clock(mode, start=1000.0)
        await clock.start()
        base = clock.now()
        ran: list = []
        clock.on_timer = lambda *key: ran.append(key)
        clock.schedule(base + 0.06, ("b",))
        cancelled = clock.call_at(base + 0.03, lambda: ran.append("cancelled"))
        clock.call_at(base + 0.06, lambda: ran.append("c"))
        clock.schedule(base + 0.03, ("a", 1))
        cancelled.cancel()
        assert clock.pending == 3
        if mode == "manual":
            assert await clock.advance(1) == 3
        else:
            await until(lambda: len(ran) == 3)
        assert ran == [("a", 1), ("b",), "c"]
        clock.schedule(clock.now() + 0.05, ("later",))
        clock.call_at(clock.now() + 0.05, lambda: ran.append("x"))
        clock.clear()
        if mode == "manual":
            assert await clock.advance(1) == 0
        else:
            await asyncio.sleep(0.15)
        assert clock.pending == 0 and len(ran) == 3
        await clock.stop()

"""What applying another process's changes costs, per send, measured deterministically.

    python benchmarks/apply_cost.py                          # alphasms, smsc, revicom; this tree
    python benchmarks/apply_cost.py --before /tmp/base-tree  # and another tree, the same way
    python benchmarks/apply_cost.py --providers alphasms --profile      # cProfile of the replay
    python benchmarks/apply_cost.py --instructions                      # + valgrind instructions

With `--store redis://` and several processes, every process applies every other process's
commits from the change feed to its own copy (core/redis_store.py `_read_changes` / `_apply`):
with 2 workers that is about half of each process's work on the store. This tool isolates it.
One process (`capture`) makes N distinct sends through the real app on a fresh Valkey (real
clock, 20 connections, so commits group as under load) and waits for their sent/delivered
transitions; the change feed's entries are saved. A fresh process (`replay`) builds a second
copy (the runtime, not started: no Valkey needed) and applies the entries as `_read_changes`
does (unpickle, `_apply`), timing each op by kind; then reads every message once through the
store (`message(id)`), as a later "query there" would: what a lazy copy defers is paid there.

Figures: µs per send applied (median of `--runs` replays, each in a fresh process) and, with
`--instructions`, instructions per send under valgrind (the replay of all entries minus the
replay of the first fifth, divided by the sends between: start-up cancels out), applying only,
and applying then reading every message once. No lock needed
for the instruction counts; the µs figures move with the machine's load.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CAPTURE = r"""
import asyncio, os, pickle, sys
sys.path.insert(0, sys.argv[1])
import harness
sys.path.insert(0, os.getcwd())  # the tree measured first
from aiohttp import ClientSession, TCPConnector, web
from tests.valkey import ValkeyServer

provider, sends, out = sys.argv[2], int(sys.argv[3]), sys.argv[4]


async def main(url):
    import redis
    from emulator.app import build_app
    from emulator.settings import Settings
    app = build_app(Settings(store=url, clock="real", watch_scenario=False, log_level="WARNING"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = harness.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    path, headers, template = harness.send_body(provider, None)
    async with ClientSession(connector=TCPConnector(limit=20)) as session:
        async with session.patch(f"{base}/_emulator/accounts/{provider}", json={"balance": 10**11}) as r:
            assert r.status == 200, await r.text()
        client = redis.Redis.from_url(url)
        # a listener on the roster, as a second process would be: the sends' commits come to its
        # inbox (a msgemu from before the inboxes writes them to one feed, "changes")
        client.hset("msgemu:roster", "apply-cost", 10**15)
        start = client.xrevrange("msgemu:changes", count=1)
        start = start[0][0].decode() if start else "0-0"
        ok = await harness.distinct_sends(session, base + path, headers, template,
                                          iter(range(2_000_000, 2_000_000 + sends)), 20)
        assert ok == sends, f"{ok} of {sends} sends answered 200"
    await asyncio.sleep(3)  # every send's lifecycle (sent +1 s, delivered +2 s) has fired and been committed
    entries = client.xrange("msgemu:inbox:apply-cost") or client.xrange("msgemu:changes", min="(" + start)
    client.close()
    await runner.cleanup()
    with open(out, "wb") as f:
        pickle.dump([(fields[b"ops"], fields.get(b"m")) for _id, fields in entries], f)  # (m: the message blobs)
    print("entries", len(entries), flush=True)


with ValkeyServer() as server:
    asyncio.run(main(server.url))
"""

REPLAY = r"""
import collections, cProfile, gc, json, os, pickle, pstats, sys, time
sys.path.insert(0, os.getcwd())
from emulator import cli
from emulator.core import redis_store
sys.path.append(sys.argv[4])  # (after the tree measured)
from harness import gc_tuning
from emulator.runtime import Runtime
from emulator.settings import Settings

capture, limit, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(capture, "rb") as f:
    entries = pickle.load(f)
if limit:
    entries = entries[:limit]
getattr(*gc_tuning(cli))()
store = Runtime(Settings(store="redis://127.0.0.1:1/0", clock="real", watch_scenario=False, log_level="WARNING")).store
store.retention = store.retention_bytes = 10**12  # nothing evicted: the cost of applying, not of retention
by_kind = collections.Counter()
ops_of = collections.Counter()
apply_one = store._apply_one
timer = time.perf_counter


def timed(op, *blobs):
    t = timer()
    apply_one(op, *blobs)
    by_kind[op[0]] += timer() - t
    ops_of[op[0]] += 1


if mode == "time":
    store._apply_one = timed
profiler = cProfile.Profile() if mode == "profile" else None
t0 = timer()
if profiler:
    profiler.enable()
split = getattr(redis_store, "split_blobs", None)
for blob, packed in entries:
    t = timer()
    ops = pickle.loads(blob)
    blobs = split(packed) if packed else None
    by_kind["(unpickle entry)"] += timer() - t
    store._apply(ops) if blobs is None else store._apply(ops, blobs)
applied = timer() - t0
t0 = timer()
if mode != "apply-only":
    for message_id in list(store.messages):
        store.message(message_id)
read = timer() - t0
if profiler:
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
sends = sum(1 for _ in store.requests)
print(json.dumps({"sends": sends, "messages": len(store.messages), "entries": len(entries), "applied_s": applied,
                  "read_s": read, "by_kind_s": dict(by_kind), "ops": dict(ops_of)}), flush=True)
os._exit(0)
"""


def env_for(tree: Path) -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")])),
                PYTHONHASHSEED="0")


def capture(tree: Path, provider: str, sends: int, out: Path) -> int:
    done = subprocess.run([sys.executable, "-c", CAPTURE, str(HERE), provider, str(sends), str(out)],
                          cwd=tree, env=env_for(tree), capture_output=True, text=True, timeout=600)
    found = re.search(r"entries (\d+)", done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"capture {tree} {provider}: exit {done.returncode}: {done.stdout[-500:]} {done.stderr[-2000:]}")
    return int(found.group(1))


def replay(tree: Path, capture_file: Path, limit: int = 0, mode: str = "time", valgrind: bool = False) -> tuple[dict, int]:
    command = [sys.executable, "-c", REPLAY, str(capture_file), str(limit), mode, str(HERE)]
    if valgrind:
        command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *command]
    done = subprocess.run(command, cwd=tree, env=env_for(tree), capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"replay {tree}: exit {done.returncode}: {done.stdout[-500:]} {done.stderr[-3000:]}")
    if mode == "profile":
        print(done.stderr, file=sys.stderr)
    instructions = 0
    if valgrind:
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        instructions = int(found.group(1).replace(",", "")) if found else 0
    return json.loads(lines[-1]), instructions


def measure(tree: Path, provider: str, args, work: Path) -> dict:
    capture_file = work / f"{tree.name}-{provider}.pickle"
    entries = capture(tree, provider, args.sends, capture_file)
    runs = [replay(tree, capture_file)[0] for _ in range(args.runs)]
    sends = runs[0]["sends"]
    result = {
        "sends": sends, "entries": entries, "messages": runs[0]["messages"],
        "apply_us_per_send": round(statistics.median(r["applied_s"] for r in runs) / sends * 1e6, 1),
        "read_us_per_send": round(statistics.median(r["read_s"] for r in runs) / sends * 1e6, 1),
        "by_kind_us_per_send": {k: round(statistics.median(r["by_kind_s"].get(k, 0) for r in runs) / sends * 1e6, 1)
                                for k in sorted(runs[0]["by_kind_s"], key=lambda k: -runs[0]["by_kind_s"][k])},
        "ops_per_send": {k: round(v / sends, 2) for k, v in runs[0]["ops"].items()},
    }
    if args.profile:
        replay(tree, capture_file, mode="profile")
    if args.instructions:
        fifth = max(1, entries // 5)
        for mode, name in (("apply-only", "instructions_per_send_applied"), ("plain", "instructions_per_send_applied_and_read")):
            small, i_small = replay(tree, capture_file, fifth, mode=mode, valgrind=True)
            large, i_large = replay(tree, capture_file, 0, mode=mode, valgrind=True)
            result[name] = (i_large - i_small) // max(1, large["sends"] - small["sends"])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="another msgemu tree, measured the same way")
    parser.add_argument("--providers", default="alphasms,smsc,revicom")
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3, help="replays per capture (the median is printed)")
    parser.add_argument("--profile", action="store_true", help="cProfile of one replay, by own time (stderr)")
    parser.add_argument("--instructions", action="store_true", help="instructions per send under valgrind")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    trees = {"before": args.before.resolve(), "this": REPO} if args.before else {"this": REPO}
    with tempfile.TemporaryDirectory(prefix="msgemu-apply-") as work:
        for provider in [p for p in args.providers.split(",") if p]:
            for label, tree in trees.items():
                print(json.dumps({"tree": label, "provider": provider, **measure(tree, provider, args, Path(work))}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

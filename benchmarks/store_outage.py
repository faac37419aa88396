"""A shared store that goes away under full load: what clients get, what the log says, how much
memory the processes hold, and whether everything is in the store afterwards.

    python benchmarks/store_outage.py                           # --workers 2, killed for 15 s
    python benchmarks/store_outage.py --warmup 150 --outage 30  # a process that ran a while first
    python benchmarks/store_outage.py --hang                    # SIGSTOP instead: the store hangs
    python benchmarks/store_outage.py --empty flush             # FLUSHALL under load instead
    python benchmarks/store_outage.py --empty restart           # stopped, its files removed, started empty
    python benchmarks/store_outage.py --drop-connections        # every msgemu connection killed every 0.7 s
    python benchmarks/store_outage.py --msgemu-root /tmp/old    # another checkout, for a before/after

Starts a Valkey/Redis of its own (tests/valkey.py: appendonly, as the store is run to keep
everything) and `msgemu serve --store ... --workers N` on it, raises AlphaSMS's balance, runs
wrk -t1 -c50 on every core for warm-up + outage + 10 s, kills the store after the warm-up
(SIGTERM: connections refused from then on; --hang: SIGSTOP, the store accepts and never
answers) and starts it again (SIGCONT) after the outage. --empty: the store comes back empty
instead (flush: FLUSHALL, no outage; restart: stopped, its data files removed, started again
after the outage, as a Valkey without persistence restarts), and every process should then
hold what the store holds. --drop-connections: for the outage's length the store stays up but
kills every msgemu connection every 0.7 s (CLIENT KILL), so replies are lost mid-flight; every
request must then be journaled once and every charge taken once, in the store and every copy. Prints, every few seconds, each
worker's RSS and CPU and the log's length; then wrk's totals, the log lines, what the store
holds against what the workers hold, and whether /_emulator/health says the store is reachable.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from harness import (REPO, SENDS, cpu_seconds, descendants, free_port, machine_cpus, rss_mib,  # noqa: E402
                     store_command, tree_env, wait_http, wrk)
from tests.valkey import ValkeyServer  # noqa: E402


def get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="2")
    parser.add_argument("--warmup", type=int, default=10, help="seconds of load before the store goes")
    parser.add_argument("--outage", type=int, default=15, help="seconds the store is away")
    parser.add_argument("--hang", action="store_true", help="SIGSTOP the store (it hangs) instead of stopping it")
    parser.add_argument("--empty", choices=("flush", "restart"), help="the store comes back empty (see above)")
    parser.add_argument("--drop-connections", action="store_true", help="kill msgemu's connections instead (see above)")
    parser.add_argument("--every", type=int, default=5, help="seconds between two samples")
    parser.add_argument("--msgemu-root", type=Path, default=REPO)
    args = parser.parse_args()

    valkey = ValkeyServer().start()
    port = free_port()
    log_path = Path(valkey.directory) / "msgemu.log"
    log = open(log_path, "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "emulator.cli", "serve", "--port", str(port), "--store", valkey.url,
         "--workers", args.workers, "--log-level", "WARNING"],
        cwd=args.msgemu_root, env=tree_env(args.msgemu_root), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/_emulator/health", server)
        request = urllib.request.Request(base + "/_emulator/accounts/alphasms", json.dumps({"balance": 10**11}).encode(),
                                         {"Content-Type": "application/json"}, method="PATCH")
        urllib.request.urlopen(request, timeout=30).read()
        time.sleep(0.5)
        workers = [pid for pid in descendants(server.pid) if pid != server.pid]
        path, headers, template = SENDS["alphasms"]
        if args.empty == "flush":
            args.outage = 5  # (load goes on: what comes after the FLUSHALL)
        total = args.warmup + args.outage + 10
        result = wrk(base + path, headers, template.replace("{hook}", ""), int(time.time()) * 1000, total, 50,
                     machine_cpus(), background=True)
        started = time.monotonic()

        def sample(phase: str) -> dict:
            lines = sum(1 for _ in open(log_path))
            rss = [round(rss_mib([pid])) for pid in workers]
            cpu = [round(cpu_seconds([pid]), 1) for pid in workers]
            print(f"{phase:>6} t={time.monotonic() - started:5.1f} s  RSS MiB {rss}  CPU s {cpu}  log lines {lines}", flush=True)
            return {"rss": rss, "lines": lines}

        def run_for(seconds: int, phase: str) -> list[dict]:
            samples = []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(min(args.every, max(0.0, end - time.monotonic())))
                samples.append(sample(phase))
            return samples

        before = run_for(args.warmup, "before")
        if args.drop_connections:
            away, kills, end = [], 0, time.monotonic() + args.outage
            while time.monotonic() < end:
                time.sleep(0.7)
                kills += int(store_command(valkey.port, "client", "kill", "type", "normal", "skipme", "yes") or 0)
            away.append(sample(f"{kills} killed"))
        elif args.empty == "flush":
            store_command(valkey.port, "flushall")
        elif args.hang:
            valkey.process.send_signal(signal.SIGSTOP)
        else:
            valkey.stop()
            if args.empty == "restart":  # as a Valkey without persistence: nothing to load
                for item in Path(valkey.directory).iterdir():
                    if item.name != log_path.name:
                        shutil.rmtree(item) if item.is_dir() else item.unlink()
        if not args.drop_connections:
            away = run_for(args.outage, "away")
        if args.hang:
            valkey.process.send_signal(signal.SIGCONT)
        elif args.empty != "flush" and not args.drop_connections:
            valkey.start()
        after = run_for(total - args.warmup - args.outage, "back")
        r = result()
        waited = time.monotonic()
        while True:  # (a store with much to load answers LOADING for a while after it starts)
            health = {}
            for _ in range(20):
                one = get(base, "/_emulator/health")
                health[one["process"]["pid"]] = one.get("shared_store")  # (None: an msgemu from before it said)
            if all(h is None or h["reachable"] for h in health.values()) or time.monotonic() - waited > 120:
                break
            time.sleep(1)
        print(f"every worker reached the store again {time.monotonic() - waited:.1f} s after the load ended")
        time.sleep(1)
        counts = {get(base, "/_emulator/messages?limit=1&provider=alphasms")["count"] for _ in range(10)}
        held = store_command(valkey.port, "hlen", "msgemu:messages")
        print(f"wrk: {r['requests']:,} requests in {total} s, {r['non_2xx']:,} not 2xx, p99 {r['p99_ms']:.1f} ms, "
              f"socket errors: {r.get('socket_errors') or 'none'}")
        print(f"RSS MiB: before the outage {before[-1]['rss']}, at its end {away[-1]['rss']}, 10 s after {after[-1]['rss']}")
        print(f"log lines: {after[-1]['lines'] - before[-1]['lines']} during and after the outage")
        print(f"messages: the workers hold {sorted(counts)}, the store {held}; store per worker: {health}")
        time.sleep(4)  # (the lifecycle of the last sends: queued, sent, delivered within ~3 s)
        unfinished = {status: get(base, f"/_emulator/messages?limit=1&provider=alphasms&status={status}")["count"]
                      for status in ("accepted", "queued", "sent")}
        print(f"messages not yet delivered 4 s later: {unfinished}")
        journaled = store_command(valkey.port, "llen", "msgemu:journal:requests")
        balances = sorted({get(base, "/_emulator/accounts/alphasms")[0]["balance"] for _ in range(10)})
        stored = store_command(valkey.port, "hget", "msgemu:balances", "alphasms\x1fdemo")
        print(f"requests journaled in the store: {journaled}; AlphaSMS balance: the workers {balances}, "
              f"the store {int(stored) / 1e6 if stored else None}")
        print("the log beyond the start line:")
        for line in open(log_path).read().splitlines()[1:40]:
            print("  " + line[:300])
        return 0
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
        if args.hang and valkey.process is not None:
            valkey.process.send_signal(signal.SIGCONT)
        valkey.__exit__(None, None, None)


if __name__ == "__main__":
    sys.exit(main())

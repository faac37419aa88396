"""A process that stalls past its lease under load, and comes back: does its copy agree with the
store again?

    python benchmarks/stalled_process.py                        # stalled 65 s, 95 s of load
    python benchmarks/stalled_process.py --msgemu-root /tmp/old # another checkout, for a before/after

Two `msgemu serve` processes on their own (no --workers: a worker would restart instead) share
one Valkey (tests/valkey.py, appendonly); each gets wrk -t1 -c20 of AlphaSMS sends for the whole
run. After 10 s the second one is SIGSTOPped for `--stall` seconds (longer than the 60 s lease:
the first one's commits drop it from the roster, and its inbox goes), then SIGCONT: it should
find out at its next lease renewal and load the store again. Prints each process's message
count and AlphaSMS balance against the store's: the balance tells a stale copy (it missed the
other's charges) even once the retention caps the counts.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPO, SENDS, Valkey, machine_cpus, msgemu, store_command, wrk  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stall", type=int, default=65, help="seconds the second process is stopped")
    parser.add_argument("--msgemu-root", type=Path, default=REPO)
    args = parser.parse_args()
    cpus = machine_cpus()
    valkey = Valkey(cpus)
    port = valkey.server.port

    steady = msgemu(args.msgemu_root, cpus, [], store=valkey.url)
    stalled = msgemu(args.msgemu_root, cpus, [], store=valkey.url)
    try:
        steady.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**9})
        path, headers, template = SENDS["alphasms"]
        body = template.replace("{hook}", "")
        seconds = 10 + args.stall + 20
        start = int(time.time()) * 1000
        loads = [wrk(server.base + path, headers, body, start + n * 10**8, seconds, 20, cpus, background=True)
                 for n, server in enumerate((steady, stalled))]
        time.sleep(10)
        pid = stalled.pids()[0]
        os.kill(pid, signal.SIGSTOP)
        time.sleep(args.stall)
        os.kill(pid, signal.SIGCONT)
        results = [load() for load in loads]
        time.sleep(6)  # (the lifecycle of the last sends)
        print(f"wrk: steady {results[0]['requests']:,} requests, stalled {results[1]['requests']:,} "
              f"(socket errors while it was stopped: {results[1].get('socket_errors') or 'none'})")
        for name, server in (("steady", steady), ("stalled", stalled)):
            count = server.call("GET", "/_emulator/messages?limit=1&provider=alphasms")["count"]
            balance = server.call("GET", "/_emulator/accounts/alphasms")[0]["balance"]
            print(f"{name:8} messages {count:,}  AlphaSMS balance {balance:,.2f}")
        stored = int(store_command(port, "hget", "msgemu:balances", "alphasms\x1fdemo")) / 1e6
        print(f"{'store':8} messages {int(store_command(port, 'hlen', 'msgemu:messages')):,}  AlphaSMS balance {stored:,.2f}")
        return 0
    finally:
        steady.stop()
        stalled.stop()
        valkey.stop()


if __name__ == "__main__":
    sys.exit(main())

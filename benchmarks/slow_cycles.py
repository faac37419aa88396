"""What fills msgemu's slow cycles at 50 connections: the p99 of issue 15, taken apart.

    python benchmarks/slow_cycles.py                          # AlphaSMS, 10 s
    python benchmarks/slow_cycles.py --provider smsc --seconds 20

Under wrk -c50 each connection sends its next request when its answer comes, and msgemu's
listener takes requests in arrival order (emulator/arrival_order.py), so between two answers
of one connection the 49 others are answered once: that span, a cycle, is the latency wrk
reports. A slow cycle is slow either because something besides answering ran in it (the
clock's wake-ups firing lifecycle steps, the listener's hand-overs, the garbage collector) or
because answering itself took longer (msgemu's own work, or the machine running slower).

This runs `msgemu serve` under compare.py's conditions (server alone on CPU 0, wrk -t1 -c50 on
CPU 1, 5 s warm-up, distinct requests) with a probe in the server process: msgemu's code is
not changed, the probe wraps the clock's wake-up, the listener's hand-over, each connection's
transport (a timestamp per answer) and registers a GC callback. The cycles of the measured
seconds (the first third is left out) are sorted, and for the fastest 10%, the middle 10%,
p90-p99 and the slowest 1% the table shows the time spent in each, per cycle, and what is left
per answer. If the last column grows with the cycle while the others stay, the slow cycles
are slow answers, not stalls. The probe's own cost (a timestamp per answer and per wake-up) is
in every row alike.

Also printed: answers per 50 ms window over the measured seconds (min, median, max): how much
the rate of one unchanged server moves within a run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

PROBE = r'''
import bisect, gc, json, os, sys, time
sys.path.insert(0, sys.argv[1])
from emulator import arrival_order, cli
from emulator.core import clock as clock_module

now = time.perf_counter
answers = []  # (time, connection)
spans = {"wake": [], "hand_over": [], "gc": []}


class Timestamped:
    """A connection's transport that notes when each answer is written."""
    __slots__ = ("_transport", "_key")

    def __init__(self, transport, key):
        self._transport, self._key = transport, key

    def __getattr__(self, name):
        return getattr(self._transport, name)

    def write(self, data):
        answers.append((now(), self._key))
        return self._transport.write(data)

    def writelines(self, data):
        answers.append((now(), self._key))
        return self._transport.writelines(data)


made = arrival_order.InArrivalOrder.connection_made
def connection_made(self, transport):
    made(self, Timestamped(transport, id(self)))
arrival_order.InArrivalOrder.connection_made = connection_made

def timed(owner, name, kind):
    original = getattr(owner, name)
    def wrapper(self):
        start = now()
        try:
            return original(self)
        finally:
            spans[kind].append((start, now()))
    setattr(owner, name, wrapper)
timed(clock_module.Clock, "_wake", "wake")
timed(arrival_order.Turns, "hand_over", "hand_over")

gc_started = [0.0]
def on_gc(phase, info):
    if phase == "start":
        gc_started[0] = now()
    else:
        spans["gc"].append((gc_started[0], now()))
gc.callbacks.insert(0, on_gc)


def covered(intervals, start, end):
    at = bisect.bisect_left(intervals, (start - 0.05,))
    total = 0.0
    for a, b in intervals[at:]:
        if a >= end:
            break
        total += max(0.0, min(b, end) - max(a, start))
    return total


def report():
    measured = answers[len(answers) // 3:]
    last, cycles = {}, []
    for at, key in measured:
        before = last.get(key)
        if before is not None:
            cycles.append((at - before, before, at))
        last[key] = at
    cycles.sort()
    times = [at for at, _ in measured]
    count = len(cycles)
    rows = []
    for name, low, high in (("fastest 10%", 0, 0.10), ("middle 10%", 0.45, 0.55), ("p90-p99", 0.90, 0.99), ("slowest 1%", 0.99, 1.0)):
        part = cycles[int(count * low):max(int(count * low) + 1, int(count * high))]
        row = {"cycles": name, "n": len(part), "cycle_ms": sum(c for c, _, _ in part) / len(part) * 1e3}
        for kind, intervals in spans.items():
            row[kind + "_ms"] = sum(covered(intervals, s, e) for _, s, e in part) / len(part) * 1e3
        row["answers"] = sum(bisect.bisect_left(times, e) - bisect.bisect_left(times, s) for _, s, e in part) / len(part)
        rest = row["cycle_ms"] - row["wake_ms"] - row["hand_over_ms"] - row["gc_ms"]
        row["rest_per_answer_us"] = rest / max(row["answers"], 1) * 1e3
        rows.append(row)
    windows = {}
    for at in times:
        slot = int((at - times[0]) / 0.05)
        windows[slot] = windows.get(slot, 0) + 1
    per_window = [windows.get(i, 0) for i in range(max(windows))]  # (the last, partial, left out)
    with open(os.environ["SLOW_CYCLES_OUT"], "w") as out:
        json.dump({"rows": rows, "p50_ms": cycles[count // 2][0] * 1e3, "p99_ms": cycles[int(count * 0.99)][0] * 1e3,
                   "windows": per_window}, out)


exit_now = cli.exit_now
def report_then_exit(code):
    try:
        report()
    finally:
        exit_now(code)
cli.exit_now = report_then_exit
sys.exit(cli.main(sys.argv[2:]))
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", default="alphasms", choices=sorted(harness.SENDS))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if missing := harness.ensure_tools(valkey=False):
        print(f"not found, and not installed: {missing}", file=sys.stderr)
        return 2
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
    out.close()
    port = harness.free_port()
    env = {**harness.tree_env(harness.REPO), "SLOW_CYCLES_OUT": out.name}
    server = harness.Process([sys.executable, "-c", PROBE, str(harness.REPO), "serve", "--port", str(port),
                              "--clock", "real", "--log-level", "WARNING"],
                             "/_emulator/health", port, [0], cwd=harness.REPO, env=env)
    try:
        server.call("PATCH", f"/_emulator/accounts/{args.provider}", {"balance": 10**11})
        path, headers, body = harness.send_body(args.provider)
        url = server.base + path
        counter = harness.Counter()
        harness.wrk(url, headers, body, counter.take(), args.warmup, args.connections, [1])
        loaded = harness.wrk(url, headers, body, counter.take(), args.seconds, args.connections, [1])
    finally:
        server.stop()  # SIGTERM: the probe writes its report as msgemu exits
    if not Path(out.name).stat().st_size:
        print(f"the probed server wrote no report:\n{server.output()[-2000:]}", file=sys.stderr)
        return 1
    report = json.loads(Path(out.name).read_text())
    os.unlink(out.name)
    print(f"{args.provider}: wrk -t1 -c{args.connections} -d{args.seconds}s: {loaded['rps']:,.0f} req/s, "
          f"p50 {loaded['p50_ms']:.2f} / p99 {loaded['p99_ms']:.2f} ms; "
          f"cycles seen by the server: p50 {report['p50_ms']:.2f} / p99 {report['p99_ms']:.2f} ms")
    print("| cycles | n | cycle ms | clock wake-ups ms | hand-overs ms | GC ms | answers | the rest, per answer µs |")
    print("|---|---|---|---|---|---|---|---|")
    for row in report["rows"]:
        print(f"| {row['cycles']} | {row['n']:,} | {row['cycle_ms']:.2f} | {row['wake_ms']:.2f} | {row['hand_over_ms']:.2f} | "
              f"{row['gc_ms']:.2f} | {row['answers']:.1f} | {row['rest_per_answer_us']:.0f} |")
    windows = report["windows"]
    if windows:
        print(f"answers per 50 ms window ({len(windows)} windows): min {min(windows)}, "
              f"median {statistics.median(windows):.0f}, max {max(windows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

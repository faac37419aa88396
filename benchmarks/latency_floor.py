"""What p99 a server of msgemu's cost per request can reach at 50 connections, with no msgemu in it.

    python benchmarks/latency_floor.py                 # spin 0 and 200 µs, aiohttp and a raw protocol
    python benchmarks/latency_floor.py --spin 0,150,200,250 --seconds 10
    python benchmarks/latency_floor.py --spin 150 --work spin,fixed --kinds ordered --repeat 3

Issue 15 asks for p99 under 15 ms at 50 connections. Under a closed loop (wrk -c50) the mean
latency is 50 / throughput whatever the server does, so p99 depends on how far each request's
wait strays from that mean: on the order in which a single-threaded server takes requests, and
on how much the time of one request's work varies. This measures the spread with no msgemu code
at all, under compare.py's conditions (server alone on CPU 0, wrk -t1 -c50 on CPU 1, warm-up,
distinct requests, then wrk -c1 for sequential latency):

- `aiohttp`: harness.bare_app's handler (reads the body, answers a fixed JSON) that first works
  for S µs, on uvloop: msgemu's framework, loop and task structure with a handler of a chosen
  cost and nothing else.
- `ordered`: that handler behind msgemu's own listener (emulator/listener.py), which hands the
  requests read in one loop turn to aiohttp in arrival order (emulator/arrival_order.py).
- `protocol`: the same answer from a bare asyncio.Protocol on uvloop that works S µs inside
  data_received and writes the answer there: no task, no hop, requests taken strictly in the
  order the loop reads them (not a server anyone should use: no HTTP parser worth the name).

The work (`--work`): `spin` burns CPU until S µs have passed by the clock, so a request costs
S µs however fast the machine runs at that moment; `fixed` does the same number of small
allocating units (a dict and a list built, dumped to JSON) every request, as many as took S µs
when the run began, so a request costs more when the machine slows down, as msgemu's do. The
difference between the two is the machine's share of the spread.

p99 / p50 of a row is the spread its structure costs; with msgemu's ~200 µs a send, the row at
S = 150 (its framework adds ~40-50 µs) is the floor for msgemu's own p99 on this machine.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

# The work a request does before its answer. spin: CPU for S µs by the clock, whatever the
# machine's speed at that moment. fixed: the same number of small allocating units every time
# (what a real handler does: when the machine slows down, each request takes longer).
WORK = r'''
import json, time
def unit(i):
    fields = {"id": i, "phone": "380971234567", "text": "hello there", "parts": [str(j) for j in range(8)]}
    return json.dumps(fields)
def spin_for(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
def fixed_units(count):
    for i in range(count):
        unit(i)
'''

AIOHTTP = WORK + r'''
import sys, time
sys.path.insert(0, sys.argv[3])
from aiohttp import web
import uvloop
uvloop.install()
spin = float(sys.argv[2]) / 1e6
units = int(sys.argv[7])

async def answer(request):
    await request.read()
    if units:
        fixed_units(units)
    else:
        spin_for(spin)
    return web.Response(body=b'{"success":true}', content_type="application/json")

async def health(request):
    return web.Response(text="ok")

app = web.Application()
app.router.add_post(sys.argv[4], answer)
app.router.add_get("/health", health)
if sys.argv[5] == "ordered":  # msgemu's own listener: requests handed over in arrival order
    import asyncio
    sys.path.insert(0, sys.argv[6])
    from emulator.listener import Budget, ListenerSite

    async def serve():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await ListenerSite(runner, "127.0.0.1", int(sys.argv[1]), Budget()).start()
        await asyncio.Event().wait()
    asyncio.run(serve())
else:
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
'''

PROTOCOL = WORK + r'''
import asyncio, sys, time
import uvloop
port, spin = int(sys.argv[1]), float(sys.argv[2]) / 1e6
units = int(sys.argv[7])
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"success\":true}"
HEALTH = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while (head_end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:head_end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15:].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < head_end + 4 + length:
                return
            health = self.buffer.startswith(b"GET /health")
            self.buffer = self.buffer[head_end + 4 + length:]
            if health:
                self.transport.write(HEALTH)
                continue
            if units:
                fixed_units(units)
            else:
                spin_for(spin)
            self.transport.write(ANSWER)


async def main():
    await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", port)
    await asyncio.Event().wait()

uvloop.install()
asyncio.run(main())
'''


def units_for(microseconds: int) -> int:
    """How many of WORK's units take `microseconds` on this machine now (median of 5 timings,
    measured once per run, so every row of a run does exactly the same work a request)."""
    if not microseconds:
        return 0
    import statistics
    import time
    space: dict = {}
    exec(WORK, space)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        space["fixed_units"](2000)
        timings.append((time.perf_counter() - start) / 2000)
    return max(1, round(microseconds / 1e6 / statistics.median(timings)))


def measure(kind: str, spin: int, args, units: int = 0) -> dict:
    port = harness.free_port()
    path, headers, body = harness.send_body("alphasms")
    here = str(Path(__file__).resolve().parent)
    code = PROTOCOL if kind == "protocol" else AIOHTTP
    server = harness.Process([sys.executable, "-c", code, str(port), str(spin), here, path, kind, str(harness.REPO),
                              str(units)],
                             "/health", port, [0])
    try:
        url = server.base + path
        counter = harness.Counter()
        harness.wrk(url, headers, body, counter.take(), args.warmup, args.connections, [1])
        cpu_before = server.cpu_seconds()
        loaded = harness.wrk(url, headers, body, counter.take(), args.seconds, args.connections, [1])
        cpu = (server.cpu_seconds() - cpu_before) / max(loaded["requests"], 1) * 1e6
        sequential = harness.wrk(url, headers, body, counter.take(), args.sequential, 1, [1])
    finally:
        server.stop()
    if loaded.get("non_2xx"):
        raise RuntimeError(f"{kind} spin {spin}: {loaded['non_2xx']} answers were not 2xx")
    return {"kind": kind, "spin_us": spin, "units": units, "rps": loaded["rps"], "p50_ms": loaded["p50_ms"], "p99_ms": loaded["p99_ms"],
            "cpu_us": cpu, "seq_p50_ms": sequential["p50_ms"], "seq_p99_ms": sequential["p99_ms"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spin", default="0,200", help="µs of CPU each request spins for (comma separated)")
    parser.add_argument("--kinds", default="aiohttp,ordered,protocol")
    parser.add_argument("--work", default="spin", help="spin (CPU for S µs by the clock), fixed (the same units of "
                        "work every request, as many as took S µs when the run began), or spin,fixed")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--sequential", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1, help="run every row this many times (in passes)")
    args = parser.parse_args()
    if missing := harness.ensure_tools(valkey=False):
        print(f"not found, and not installed: {missing}", file=sys.stderr)
        return 2
    print(f"server on CPU 0, wrk -t1 -c{args.connections} -d{args.seconds}s on CPU 1 after {args.warmup} s of warm-up; "
          f"sequential = wrk -c1 -d{args.sequential}s")
    spins = [int(s) for s in args.spin.split(",")]
    units = {spin: units_for(spin) for spin in spins}
    if "fixed" in args.work:
        print("fixed work: " + ", ".join(f"{units[spin]} units for {spin} µs" for spin in spins if spin))
    print("| server | work | µs | req/s | p50 / p99 ms | p99 / p50 | CPU µs/req | sequential p50 / p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for _ in range(args.repeat):
        for spin in spins:
            for work in args.work.split(","):
                if work == "fixed" and not spin:
                    continue  # (no work is the same either way)
                for kind in args.kinds.split(","):
                    r = measure(kind, spin, args, units[spin] if work == "fixed" else 0)
                    print(f"| {kind} | {work if spin else '-'} | {spin} | {r['rps']:,.0f} | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | "
                          f"{r['p99_ms'] / r['p50_ms']:.2f} | {r['cpu_us']:.0f} | {r['seq_p50_ms']:.3f} / {r['seq_p99_ms']:.2f} |",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

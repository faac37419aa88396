"""msgemu benchmarks: throughput and p99 of a full send per provider (wrk), callbacks/s to a
local receiver, and RSS over 1M requests.

    python benchmarks/bench.py                 # everything (the 1M run takes minutes)
    python benchmarks/bench.py --only sends    # sends | callbacks | rss
    python benchmarks/bench.py --rss-requests 200000

Needs `wrk` (Debian package). Starts `msgemu serve` as a separate process on free ports, the
load generator in another, so the numbers are what a client on this machine would see.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from requests import SENDS as REPRESENTATIVE  # noqa: E402

# AlphaSMS refuses a client id used before (208): here every request's id is its number too
SENDS = {provider: dict(send, body=send["body"].replace('"id": 1,', '"id": {n},')) for provider, send in REPRESENTATIVE.items()}

# Each request gets its own number in place of {n} (text, client id), so that providers that
# refuse identical requests (SMSC error 9, AlphaSMS's reused id 208) see distinct ones, as a real
# client would send; successive wrk runs start their numbers apart (`start`).
LUA = """
wrk.method = {method}
{headers}
local template = {body}
local n = {start}
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, (template:gsub("{{n}}", tostring(n))))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`msgemu serve` in its own process."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator.cli", "serve", "--port", str(self.port), "--log-level", "WARNING", *args],
            stdout=subprocess.DEVNULL, stderr=tempfile.TemporaryFile("w+"), text=True,
        )
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base + "/_emulator/health", timeout=0.5)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("msgemu did not start")

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read())

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        started = time.monotonic()
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.stop_seconds = time.monotonic() - started


def lua_script(send: dict, start: int = 0) -> str:
    headers = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in send["headers"].items())
    return LUA.format(method=json.dumps(send["method"]), body=json.dumps(send["body"]), headers=headers, start=start)


def wrk(url: str, send: dict, seconds: int, connections: int, threads: int = 1, start: int = 0) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(send, start))
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    return parse_wrk(out)


def parse_wrk(out: str) -> dict:
    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": requests,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def bench_sends(seconds: int, connections: int) -> list[dict]:
    rows = []
    server = Server("--clock", "real")
    try:
        for provider, send in SENDS.items():
            if provider not in server.call("GET", "/_emulator/health")["providers"]:
                continue
            server.call("PATCH", f"/_emulator/accounts/{provider}", {"balance": 10**11})
            result = wrk(server.base + send["path"], send, seconds, connections)
            journal = server.call("GET", f"/_emulator/requests?provider={provider}&outcome=accepted&limit=1")
            result["accepted"] = journal["count"] / max(1, result["requests"])
            rows.append({"provider": provider, **result})
            print(f"  {provider:9} {result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms  "
                  f"accepted {result['accepted']:.0%}  non-2xx {result['non_2xx']}", flush=True)
            server.call("POST", "/_emulator/reset")
    finally:
        server.stop()
    return rows


async def bench_callbacks(messages: int) -> dict:
    """AlphaSMS sends with a hook to a local receiver; two callbacks per message (sent, delivered)."""
    received: list[float] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        received.append(time.monotonic())
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = Server("--clock", "manual")
    try:
        server.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**11})
        async with aiohttp.ClientSession(server.base) as http:
            batch = 100
            for start in range(0, messages, batch):
                items = [{"type": "sms", "id": i, "phone": 380970000000 + i, "sms_signature": "Bench", "sms_message": "code 1234",
                          "hook": f"http://127.0.0.1:{port}/hook"} for i in range(start, min(messages, start + batch))]
                async with http.post("/alphasms/api/json.php", json={"auth": "alphasms-demo-key", "data": items}) as r:
                    assert r.status == 200
            started = time.monotonic()
            async with http.post("/_emulator/clock/advance", json={"seconds": 10, "wait": 60}) as r:
                assert r.status == 200
            elapsed = time.monotonic() - started
    finally:
        server.stop()
        await runner.cleanup()
    expected = messages * 2
    return {"messages": messages, "callbacks": len(received), "expected": expected, "seconds": elapsed, "per_second": len(received) / elapsed}


def bench_rss(total: int, connections: int) -> dict:
    server = Server("--clock", "real", "--retention", "100000")
    send = SENDS["alphasms"]
    samples = [server.rss_mib()]
    done = 0
    try:
        server.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**11})
        while done < total:
            result = wrk(server.base + send["path"], send, 15, connections, start=1_000_000 * len(samples))
            done += result["requests"]
            samples.append(server.rss_mib())
            rejected = server.call("GET", "/_emulator/requests/count?outcome=rejected")["count"]
            kept = server.call("GET", "/_emulator/messages/count")["count"]
            print(f"  {done:>9} requests  RSS {samples[-1]:7.1f} MiB  ({result['rps']:.0f} req/s; "
                  f"{kept} messages kept, {rejected} rejected of the journaled requests)", flush=True)
    finally:
        server.stop()
    return {"requests": done, "rss_start_mib": samples[0], "rss_peak_mib": max(samples), "rss_end_mib": samples[-1],
            "samples": samples, "shutdown_seconds": server.stop_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["sends", "callbacks", "rss"])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per provider")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--callback-messages", type=int, default=5000)
    parser.add_argument("--rss-requests", type=int, default=1_000_000)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    if not shutil.which("wrk") and args.only != "callbacks":
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    results: dict = {"machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"}
    if args.only in (None, "sends"):
        print(f"full send per provider: wrk, {args.connections} connections, {args.seconds} s each")
        results["sends"] = bench_sends(args.seconds, args.connections)
    if args.only in (None, "callbacks"):
        print(f"callbacks to a local receiver: {args.callback_messages} messages x 2 callbacks")
        results["callbacks"] = asyncio.run(bench_callbacks(args.callback_messages))
        c = results["callbacks"]
        print(f"  {c['callbacks']}/{c['expected']} callbacks in {c['seconds']:.2f} s = {c['per_second']:.0f} callbacks/s")
    if args.only in (None, "rss"):
        print(f"RSS over {args.rss_requests} requests (retention 100000)")
        results["rss"] = bench_rss(args.rss_requests, args.connections)
        r = results["rss"]
        print(f"  start {r['rss_start_mib']:.1f} MiB, peak {r['rss_peak_mib']:.1f} MiB, end {r['rss_end_mib']:.1f} MiB, "
              f"shutdown {r['shutdown_seconds']:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

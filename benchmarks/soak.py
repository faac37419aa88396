"""Reliability soak (issue 11): for each item, the load held, the inputs tried, what was lost.

    python benchmarks/soak.py                  # every section
    python benchmarks/soak.py --only waits,lookup

Sections (each against a real `msgemu serve` in its own process, traffic on 127.0.0.1):
  waits     send throughput with 0 and with 500 pending long polls, 20,000 messages stored
  lookup    GET /_emulator/messages/{id} and ?phone= with 120,000 messages stored
  memory    what one stored send really costs (RSS), the store's own count, the byte cap
  inputs    scenario bombs and a catastrophic regex: time to refuse, health latency meanwhile
  fds       2,000 half-sent requests at a 1,024-descriptor limit: still serving? log lines?
  shutdown  40 keep-alive clients sending through SIGTERM: answered, refused, cut off
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import Server, free_port  # noqa: E402

ALPHA = "/alphasms/api/json.php"


def items(start: int, count: int, phone_base: int = 380970000000) -> dict:
    return {"auth": "alphasms-demo-key", "data": [
        {"type": "sms", "id": i, "phone": phone_base + i, "sms_signature": "Soak", "sms_message": f"Your code is {i % 1000000:06d}"}
        for i in range(start, start + count)]}


async def fill(base: str, total: int, batch: int = 200) -> None:
    async with aiohttp.ClientSession() as http:
        sem = asyncio.Semaphore(8)

        async def one(start: int) -> None:
            async with sem:
                async with http.post(base + ALPHA, json=items(start, batch)) as response:
                    await response.read()

        await asyncio.gather(*(one(s) for s in range(0, total, batch)))


async def send_rate(base: str, requests: int, concurrency: int = 16, offset: int = 5_000_000) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        queue = iter(range(requests))

        async def worker() -> None:
            for n in queue:
                async with http.post(base + ALPHA, json=items(offset + n, 1, 380950000000)) as response:
                    assert response.status == 200
                    await response.read()

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.monotonic() - started)


def waits_section(args) -> None:
    server = Server("--clock", "manual", "--retention", "100000", "--log-level", "WARNING")
    try:
        server.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**9})
        asyncio.run(fill(server.base, 20_000))

        async def run() -> tuple[float, float, int]:
            await send_rate(server.base, 500)  # warm-up
            http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=600))
            idle_rates, loaded_rates, pending = [], [], 0
            for k in range(args.rounds):  # alternate, so that load from elsewhere hits both alike
                idle_rates.append(await send_rate(server.base, args.sends, offset=6_000_000 + k * 100_000))
                waits = [asyncio.create_task(http.get(server.base + "/_emulator/messages/wait", params={"phone": str(380990000000 + i), "timeout": "300"}))
                         for i in range(500)]
                for _ in range(400):
                    await asyncio.sleep(0.05)
                    async with http.get(server.base + "/_emulator/health") as response:
                        pending = (await response.json())["waiting"]
                    if pending == 500:
                        break
                loaded_rates.append(await send_rate(server.base, args.sends, offset=7_000_000 + k * 100_000))
                for task in waits:
                    task.cancel()
                await asyncio.gather(*waits, return_exceptions=True)
            await http.close()
            return statistics.median(idle_rates), statistics.median(loaded_rates), pending

        idle, loaded, pending = asyncio.run(run())
        change = (loaded - idle) / idle * 100
        print(f"waits     20,000 stored, {args.sends:,} sends x{args.rounds} each way, alternating (16 clients): {idle:,.0f} req/s with 0 waits, "
              f"{loaded:,.0f} req/s with {pending} pending waits ({change:+.1f}%); lost: 0 waits dropped")
    finally:
        server.stop()


def lookup_section(args) -> None:
    server = Server("--clock", "manual", "--retention", "150000", "--retention-bytes", "2G", "--log-level", "WARNING")
    try:
        server.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**9})
        asyncio.run(fill(server.base, 120_000))

        async def run() -> tuple[float, float, int]:
            async with aiohttp.ClientSession() as http:
                async with http.get(server.base + "/_emulator/messages", params={"limit": "200"}) as response:
                    listed = (await response.json())
                ids = [m["id"] for m in listed["messages"]]
                started = time.monotonic()
                for message_id in ids:
                    async with http.get(f"{server.base}/_emulator/messages/{message_id}") as response:
                        assert response.status == 200
                        await response.read()
                by_id = (time.monotonic() - started) / len(ids) * 1000
                started = time.monotonic()
                found = 0
                for k in range(200):
                    async with http.get(server.base + "/_emulator/messages", params={"phone": str(380970000000 + k * 500)}) as response:
                        found += (await response.json())["count"]
                by_phone = (time.monotonic() - started) / 200 * 1000
                return by_id, by_phone, listed["count"], found

        by_id, by_phone, count, found = asyncio.run(run())
        print(f"lookup    {count:,} messages stored: by id {by_id:.2f} ms, by phone {by_phone:.2f} ms "
              f"(mean over 200 each, HTTP included; {found} found for 200 phones)")
    finally:
        server.stop()


def memory_section(args) -> None:
    server = Server("--clock", "manual", "--retention", "1000000", "--retention-bytes", "4G", "--log-level", "WARNING")
    try:
        server.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**9})
        asyncio.run(fill(server.base, 2_000, batch=1))
        before = server.rss_mib()
        base = server.call("GET", "/_emulator/health")["retention"]["bytes"]
        asyncio.run(fill(server.base, 20_000, batch=1))  # one message per request, as an OTP send is
        after = server.rss_mib()
        counted = server.call("GET", "/_emulator/health")["retention"]["bytes"] - base
        real = (after - before) * 1024 * 1024 / 20_000
        print(f"memory    20,000 single-message sends: RSS +{(after - before):.0f} MiB = {real / 1024:.1f} KiB per send "
              f"(message + request journal + event); the store counts {counted / 20_000 / 1024:.1f} KiB; "
              f"the default cap of 512 MiB counted holds ~{512 * 1024 * 1024 / max(1, counted / 20_000):,.0f} sends")
    finally:
        server.stop()
    server = Server("--clock", "manual", "--retention-bytes", "64M", "--log-level", "WARNING")
    try:
        server.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**9})

        async def big() -> None:
            async with aiohttp.ClientSession() as http:
                for k in range(300):  # 300 requests of 1 MiB each: 300 MiB sent
                    body = items(k, 1)
                    body["pad"] = "x" * (1024 * 1024)
                    async with http.post(server.base + ALPHA, json=body) as response:
                        await response.read()

        asyncio.run(big())
        health = server.call("GET", "/_emulator/health")["retention"]
        print(f"memory    300 requests of 1 MiB at --retention-bytes 64M: RSS {server.rss_mib():.0f} MiB, store {health['bytes'] / 2**20:.1f} MiB, "
              f"bodies kept truncated to 8 KiB with their size; evicted {health['evicted']}")
    finally:
        server.stop()


def inputs_section(args) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_reliability_inputs import BILLION_LAUGHS

    server = Server("--log-level", "WARNING")
    try:
        async def run() -> None:
            async with aiohttp.ClientSession() as http:
                async def health_latency(stop: asyncio.Event) -> float:
                    worst = 0.0
                    while not stop.is_set():
                        started = time.monotonic()
                        async with http.get(server.base + "/_emulator/health") as response:
                            await response.read()
                        worst = max(worst, time.monotonic() - started)
                        await asyncio.sleep(0.01)
                    return worst

                cases = {
                    f"billion laughs ({len(BILLION_LAUGHS)} B)": BILLION_LAUGHS,
                    "100k-deep YAML": "[" * 100_000,
                    "128 KiB scenario, 900 rules": "rules:\n" + " - {match: {provider: alphasms, recipient: [1,2,3,4,5,6,7]}, reply: {error: x}}\n" * 900,
                    "regex ^(a+)+$": "rules:\n - match: {provider: alphasms, text_regex: '^(a+)+$'}\n   reply: {error: internal}\n",
                }
                for name, text in cases.items():
                    stop = asyncio.Event()
                    watcher = asyncio.create_task(health_latency(stop))
                    started = time.monotonic()
                    async with http.put(server.base + "/_emulator/scenario", data=text) as response:
                        status = response.status
                    took = time.monotonic() - started
                    stop.set()
                    print(f"inputs    PUT scenario {name}: {status} in {took * 1000:.0f} ms; worst /_emulator/health meanwhile {await watcher * 1000:.0f} ms")
                body = items(1, 1)
                body["data"][0]["sms_message"] = "a" * 31 + "!"
                started = time.monotonic()
                async with http.post(server.base + ALPHA, json=body) as response:
                    await response.read()
                print(f"inputs    send of 'a'*31+'!' against ^(a+)+$: answered in {(time.monotonic() - started) * 1000:.0f} ms")

        asyncio.run(run())
    finally:
        server.stop()


def fds_section(args) -> None:
    port = free_port()
    log = tempfile.TemporaryFile("w+")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator.cli", "serve", "--port", str(port), "--idle-timeout", "5", "--log-level", "INFO"],
        stdout=subprocess.DEVNULL, stderr=log,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async def run() -> tuple[int, float, int]:
            async with aiohttp.ClientSession() as http:
                for _ in range(200):
                    try:
                        async with http.get(base + "/_emulator/health") as response:
                            break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.05)
            loop = asyncio.get_running_loop()
            sockets = []

            async def half_sent() -> None:
                sock = socket.socket()
                sock.setblocking(False)
                try:
                    await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 5)
                    await loop.sock_sendall(sock, b"POST /alphasms/api/json.php HTTP/1.1\r\nHost: x\r\nContent-Le")
                except (OSError, asyncio.TimeoutError):
                    pass
                sockets.append(sock)

            await asyncio.gather(*(half_sent() for _ in range(2000)))
            started = time.monotonic()
            served = 0
            async with aiohttp.ClientSession() as http:
                while time.monotonic() - started < 30:
                    try:
                        async with http.post(base + ALPHA, json=items(1, 1), timeout=aiohttp.ClientTimeout(total=1)) as response:
                            if response.status == 200:
                                served = 1
                                break
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        await asyncio.sleep(0.2)
            recovered = time.monotonic() - started
            for sock in sockets:
                sock.close()
            return served, recovered, len(sockets)

        served, recovered, opened = asyncio.run(run())
        time.sleep(1)
        log.seek(0)
        text = log.read()
        print(f"fds       {opened:,} half-sent requests at ulimit -n 1024 (--idle-timeout 5): a send answered {recovered:.1f} s later "
              f"({'served' if served else 'NOT served'}), server {'alive' if proc.poll() is None else 'DEAD'}; "
              f"'file descriptors ran out' logged {text.count('file descriptors ran out')}x, raw accept errors {text.count('out of system resource')}x")
    finally:
        proc.kill()
        proc.wait()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def shutdown_section(args) -> None:
    server = Server("--log-level", "WARNING")
    server.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**9})
    outcomes = {"answered": 0, "refused": 0, "cut": 0}

    async def client(n: int) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
            for i in range(10**6):
                try:
                    async with http.post(server.base + ALPHA, json=items(n * 10**6 + i, 1)) as response:
                        json.loads(await response.read())
                        outcomes["answered"] += 1
                except aiohttp.ClientConnectorError:
                    outcomes["refused"] += 1
                    return
                except (aiohttp.ClientError, ValueError):
                    outcomes["cut"] += 1
                    return

    async def run() -> float:
        clients = [asyncio.create_task(client(n)) for n in range(40)]
        await asyncio.sleep(3)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*clients)
        server.proc.wait(30)
        return time.monotonic() - started

    took = asyncio.run(run())
    print(f"shutdown  40 keep-alive clients sending through SIGTERM: {outcomes['answered']:,} answered in full, "
          f"{outcomes['refused']} refused at connect (after SIGTERM), {outcomes['cut']} cut off; exit {server.proc.returncode} in {took:.2f} s")


SECTIONS = {"waits": waits_section, "lookup": lookup_section, "memory": memory_section, "inputs": inputs_section,
            "fds": fds_section, "shutdown": shutdown_section}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--sends", type=int, default=2000, help="sends per throughput measurement")
    parser.add_argument("--rounds", type=int, default=5, help="alternating measurements with and without waits")
    args = parser.parse_args()
    for name in args.only.split(","):
        SECTIONS[name](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

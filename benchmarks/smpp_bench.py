"""SMPP front door benchmark: submit_sm per second with delivery receipts, over one bind and
over 10 binds, and the p99 latency of submit_sm_resp.

    python benchmarks/smpp_bench.py                  # 20,000 messages per case
    python benchmarks/smpp_bench.py --messages 5000 --window 50

Starts `msgemu serve --smpp-port` in its own process (real clock: the default lifecycle
delivers 3 s after a submit), raises the SMSC demo balance, lifts the SMPP throttle with a
scenario (`smpp: {max_per_second, window}`), then drives transceiver binds from this process
with the project's codec (asyncio, pipelined up to --window unanswered submits in all (split among the binds)),
acknowledging every receipt. A case ends when every receipt has arrived.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from emulator.smpp import codec  # noqa: E402

SCENARIO = "name: smpp-bench\nsmpp: {max_per_second: 100000000, window: 100000}\nrules: []\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self) -> None:
        self.http, self.smpp = free_port(), free_port()
        self.scenario = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        self.scenario.write(SCENARIO)
        self.scenario.close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator.cli", "serve", "--port", str(self.http), "--smpp-port", str(self.smpp),
             "--scenario", self.scenario.name, "--log-level", "WARNING"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.smpp), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("msgemu did not start")

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        Path(self.scenario.name).unlink(missing_ok=True)


class Bind:
    """One transceiver: pipelined submit_sm, receipts acknowledged as they come."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sent_at: dict[int, float] = {}
        self.latencies: list[float] = []
        self.errors = 0
        self.receipts = 0
        self.answered = asyncio.Event()
        self.room = asyncio.Semaphore(1)

    @classmethod
    async def open(cls, port: int) -> "Bind":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        bind = cls(reader, writer)
        writer.write(codec.encode(codec.Pdu(codec.BIND_TRANSCEIVER, 1, params={"system_id": "demo", "password": "smppdemo", "interface_version": 0x34})))
        resp = await bind.read()
        assert resp.status == 0, resp
        return bind

    async def read(self) -> codec.Pdu:
        head = await self.reader.readexactly(4)
        return codec.decode(head + await self.reader.readexactly(codec.peek_length(head) - 4))

    async def run(self, count: int, window: int, first_seq: int) -> None:
        room = asyncio.Semaphore(window)
        reading = asyncio.ensure_future(self._read_loop(room, count))
        for n in range(count):
            await room.acquire()
            seq = first_seq + n
            pdu = codec.Pdu(codec.SUBMIT_SM, seq, params={
                "source_addr": "BENCH", "dest_addr_ton": 1, "destination_addr": f"7901{seq % 10_000_000:07d}",
                "short_message": f"Your code is {seq % 10000:04d}".encode(), "registered_delivery": 1,
            })
            self.sent_at[seq] = time.perf_counter()
            self.writer.write(codec.encode(pdu))
            if n % 64 == 0:
                await self.writer.drain()
        await self.writer.drain()
        self.reading = reading

    async def _read_loop(self, room: asyncio.Semaphore, count: int) -> None:
        answers = 0
        while answers < count or self.receipts < count - self.errors:
            pdu = await self.read()
            if pdu.command_id == codec.SUBMIT_SM | codec.RESP:
                self.latencies.append(time.perf_counter() - self.sent_at.pop(pdu.sequence))
                answers += 1
                if pdu.status:
                    self.errors += 1
                room.release()
                if answers == count:
                    self.answered.set()
            elif pdu.command_id == codec.DELIVER_SM:
                self.receipts += 1
                self.writer.write(codec.encode(codec.Pdu(codec.DELIVER_SM | codec.RESP, pdu.sequence)))


async def case(port: int, binds: int, messages: int, window: int) -> dict:
    connections = [await Bind.open(port) for _ in range(binds)]
    per_bind = messages // binds
    started = time.perf_counter()
    per_bind_window = max(1, window // binds)  # the same number of submits in flight in every case
    await asyncio.gather(*(b.run(per_bind, per_bind_window, 10 + i * per_bind) for i, b in enumerate(connections)))
    await asyncio.gather(*(b.answered.wait() for b in connections))
    submitted = time.perf_counter() - started
    await asyncio.wait_for(asyncio.gather(*(b.reading for b in connections)), timeout=120)
    finished = time.perf_counter() - started
    latencies = sorted(x for b in connections for x in b.latencies)
    for b in connections:
        b.writer.close()
    total = per_bind * binds
    return {
        "binds": binds,
        "messages": total,
        "submit_per_s": round(total / submitted),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "errors": sum(b.errors for b in connections),
        "receipts": sum(b.receipts for b in connections),
        "all_receipts_s": round(finished, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=100, help="unanswered submit_sm in all, shared by the binds")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    rows = []
    for binds in (1, 10):
        server = Server()
        try:
            server.call("PATCH", "/_emulator/accounts/smsc", {"balance": 10**11})
            rows.append(asyncio.run(case(server.smpp, binds, args.messages, args.window)))
        finally:
            server.stop()
    print("| binds | messages | submit_sm/s | p50 submit_sm_resp | p99 submit_sm_resp | errors | receipts | all receipts in |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['binds']} | {r['messages']} | {r['submit_per_s']} | {r['p50_ms']} ms | {r['p99_ms']} ms | {r['errors']} | {r['receipts']} | {r['all_receipts_s']} s |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

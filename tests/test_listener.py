"""emulator/listener.py on its own: the bound it derives from `ulimit -n`, EMFILE from accept()
under both event loops (a real process with few descriptors), and the addresses it binds."""
from __future__ import annotations

import asyncio
import os
import resource
import socket
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web

from emulator.listener import Budget, CannotListen, ListenerSite, connection_limit

LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(sys.platform == "win32", reason="no uvloop on Windows"))]

# A one-route aiohttp app behind ListenerSite whose bound is far above what 64 descriptors
# allow: only EMFILE from accept() can stop it. Prints its port, serves until killed.
SERVER = r"""
import asyncio, logging, sys
from aiohttp import web
from emulator.listener import Budget, ListenerSite

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
if sys.argv[1] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

async def hello(request):
    return web.Response(text="hello")

async def main():
    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=60)
    await runner.setup()
    site = ListenerSite(runner, "127.0.0.1", 0, Budget(limit=1_000_000))
    await site.start()
    print(site.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


# What the SMPP and SMTP front doors use: listen() with a protocol of their own (here one that
# answers each line), not aiohttp.
RAW_SERVER = r"""
import asyncio, logging, sys
from emulator.listener import Budget, listen

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
if sys.argv[1] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

class Hello(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(b"hello" * data.count(b"\n"))

async def main():
    acceptor = await listen("127.0.0.1", 0, Hello, Budget(limit=1_000_000), "raw")
    print(acceptor.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_the_bound_keeps_descriptors_for_everything_else():
    assert connection_limit(1024) == 768  # a quarter held back at small limits
    assert connection_limit(65536) == 65536 - 264  # 64 for the process + 200 callback connections
    assert connection_limit(256) == 192
    assert connection_limit(None) >= 1 << 20  # unlimited
    assert Budget(nofile=1024).shortage.message().startswith(
        "file descriptors ran out (ulimit -n is 1024, 768 of them for HTTP connections)")


async def ask_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive: the server keeps its descriptor
    head = await reader.readuntil(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0] + b" " + await reader.readexactly(5)


async def ask_raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"hi\n")
    return await reader.readexactly(5)


KINDS = {"http": (SERVER, ask_http, b"HTTP/1.1 200 OK hello"), "front door": (RAW_SERVER, ask_raw, b"hello")}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("loop", LOOPS)
async def test_emfile_from_accept_leaves_connections_waiting_then_serves_them(loop, kind, tmp_path):
    """HTTP (ListenerSite) and what the SMPP/SMTP front doors use (listen() with a protocol of
    their own) at `ulimit -n 64`: connections beyond it wait in the backlog, none is accepted
    and closed, and they are served once descriptors are free again."""
    script, ask, answer = KINDS[kind]
    log_path = tmp_path / "server.log"

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc = subprocess.Popen([sys.executable, "-c", script, loop], stdout=subprocess.PIPE, stderr=log_path.open("w"),
                            preexec_fn=few_descriptors, text=True)
    clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        port = int(await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20))

        for _ in range(90):  # more than 64 descriptors can hold
            clients.append(await asyncio.open_connection("127.0.0.1", port))
        asks = [asyncio.create_task(ask(*client)) for client in clients]
        for _ in range(200):  # until the server finds descriptors exhausted
            if "file descriptors ran out" in log_path.read_text():
                break
            await asyncio.sleep(0.05)
        done, waiting = await asyncio.wait(asks, timeout=1.0)
        assert 0 < len(done) < 64 and waiting, (len(done), log_path.read_text())  # the rest wait in the backlog
        assert {task.result() for task in done} == {answer}
        spent = cpu_seconds(proc.pid)
        await asyncio.sleep(1.0)  # out of descriptors meanwhile: a back-off, not a busy loop
        assert cpu_seconds(proc.pid) - spent < 0.3
        for task in list(done)[:40]:  # free some descriptors on the server
            clients[asks.index(task)][1].close()
        answers = await asyncio.wait_for(asyncio.gather(*waiting), 10)  # none was accepted and closed
        assert set(answers) == {answer}
        assert proc.poll() is None
    finally:
        for _, writer in clients:
            writer.close()
        proc.kill()
        proc.wait()
    log = log_path.read_text()
    assert log.count("file descriptors ran out (ulimit -n is 64") == 1, log
    assert "Traceback" not in log


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback here")
async def test_binds_ipv6_and_every_address_of_a_name_and_stop_refuses_new_connections():
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    budget = Budget()
    six = ListenerSite(runner, "::1", 0, budget)
    await six.start()
    every = ListenerSite(runner, "", 0, budget)  # all interfaces: an IPv4 and an IPv6 socket
    await every.start()
    try:
        assert {address[0] for address in runner.addresses} >= {"::1", "0.0.0.0", "::"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://[::1]:{six.port}/") as response:
                assert await response.text() == "ok"
        with pytest.raises(CannotListen, match=r"cannot listen on ::1:\d+: address already in use"):
            await ListenerSite(runner, "::1", six.port, budget).start()
        await six.stop()
        with pytest.raises(OSError):
            await asyncio.open_connection("::1", six.port)
    finally:
        await runner.cleanup()

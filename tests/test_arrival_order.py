"""emulator/arrival_order.py behind the real listener: among the connections read in one turn of
the loop, the one handed a request longest ago is served first; a lone client is served without
waiting a turn; every connection's bytes, end and loss arrive as they came.

The server is a real process (asyncio's loop and uvloop) with ListenerSite; a handler that
blocks the loop until the test says so lets several clients' requests arrive during one turn."""
from __future__ import annotations

import hashlib
import socket
import struct
import subprocess
import sys
import time

import pytest

LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(sys.platform == "win32", reason="no uvloop on Windows"))]

SERVER = r"""
import asyncio, hashlib, sys
from aiohttp import web
from emulator import arrival_order
from emulator.listener import Budget, ListenerSite

if sys.argv[1] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

marks, turns_handed = [], [0]
hand_over = arrival_order.Turns.hand_over

def counted(self):
    turns_handed[0] += 1
    hand_over(self)

arrival_order.Turns.hand_over = counted

async def mark(request):
    marks.append(request.query["c"])
    return web.Response(text=request.query["c"])

async def block(request):
    print("blocked", flush=True)
    sys.stdin.readline()  # the whole loop waits here, on purpose: requests pile up in the kernel
    return web.Response(text="unblocked")

async def order(request):
    return web.json_response({"marks": marks, "turns": turns_handed[0]})

async def echo(request):
    body = await request.read()
    return web.Response(text=f"{len(body)} {hashlib.sha256(body).hexdigest()}")

async def main():
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_get("/mark", mark)
    app.router.add_get("/block", block)
    app.router.add_get("/order", order)
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=60)
    await runner.setup()
    site = ListenerSite(runner, "127.0.0.1", 0, Budget())
    await site.start()
    print(site.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.fixture(params=LOOPS)
def server(request):
    proc = subprocess.Popen([sys.executable, "-c", SERVER, request.param], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield proc, port
    finally:
        proc.kill()
        proc.wait(10)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def answer(sock: socket.socket) -> bytes:
    """One HTTP answer's body (Content-Length framed, as aiohttp writes these)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before an answer"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside an answer"
        body += chunk
    return body[:length]


def served(port: int, name: str) -> socket.socket:
    """A connection that has had one request (`/mark?c=<name>`) handed over and answered."""
    sock = connect(port)
    sock.sendall(get(f"/mark?c={name}"))
    assert answer(sock) == name.encode()
    return sock


def order(port: int) -> dict:
    import json
    with connect(port) as sock:
        sock.sendall(get("/order"))
        return json.loads(answer(sock))


def blocked(proc, port: int) -> socket.socket:
    """A connection whose request holds the server's loop until unblock()."""
    sock = connect(port)
    sock.sendall(get("/block"))
    assert proc.stdout.readline().strip() == "blocked"
    return sock


def unblock(proc, sock: socket.socket) -> None:
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert answer(sock) == b"unblocked"
    sock.close()


def test_the_connection_served_longest_ago_goes_first(server):
    proc, port = server
    clients = {name: served(port, f"{name}1") for name in "ABC"}  # served A, then B, then C
    holder = blocked(proc, port)
    for name in "CBA":  # their next requests come in the other way round, all in one turn
        clients[name].sendall(get(f"/mark?c={name}2"))
    time.sleep(0.2)  # all three in the kernel's buffers before the loop looks again
    unblock(proc, holder)
    for name, sock in clients.items():
        assert answer(sock) == f"{name}2".encode()
        sock.close()
    assert order(port)["marks"] == ["A1", "B1", "C1", "A2", "B2", "C2"]


def test_a_lone_client_does_not_wait_a_turn(server):
    proc, port = server
    with connect(port) as sock:
        for n in range(20):
            sock.sendall(get(f"/mark?c={n}"))
            assert answer(sock) == str(n).encode()
    assert order(port) == {"marks": [str(n) for n in range(20)], "turns": 0}


def test_a_body_read_over_many_turns_arrives_whole_and_in_order(server):
    proc, port = server
    body = bytes(range(256)) * (3 * 4096)  # 3 MiB, read in many chunks
    others = [served(port, f"o{n}") for n in range(3)]
    holder = blocked(proc, port)
    with connect(port) as uploader:
        uploader.sendall(f"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                         + body[:100_000])
        for n, sock in enumerate(others):  # others read in the same turns as the upload's chunks
            sock.sendall(get(f"/mark?c=p{n}"))
        time.sleep(0.1)
        unblock(proc, holder)
        uploader.sendall(body[100_000:])
        assert answer(uploader) == f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()
    for n, sock in enumerate(others):
        assert answer(sock) == f"p{n}".encode()
        sock.close()


def test_a_request_then_the_clients_end_is_still_handed_over(server):
    """aiohttp closes a half-closed connection without an answer, with or without the hand-over
    order; what the order must not do is lose the request that came before the end (both loops
    read the end a turn after the bytes, so the turn's hand-over has run by then)."""
    proc, port = server
    waiting, closing = served(port, "w1"), served(port, "c1")
    holder = blocked(proc, port)  # the last connection handed a request: the others' wait a turn
    with closing:
        closing.sendall(get("/mark?c=half"))
        closing.shutdown(socket.SHUT_WR)  # its end right behind its request
        waiting.sendall(get("/mark?c=w2"))
        time.sleep(0.2)
        unblock(proc, holder)
        assert answer(waiting) == b"w2"
    waiting.close()
    assert sorted(order(port)["marks"][-2:]) == ["half", "w2"]


def test_a_connection_reset_while_waiting_leaves_the_others_served(server):
    """A request whose connection is then reset is handed over before the loss, as it was
    without the order (aiohttp runs it; nobody reads the answer), and the others are served."""
    proc, port = server
    waiting, reset = served(port, "w1"), served(port, "r1")
    holder = blocked(proc, port)  # the last connection handed a request: the others' wait a turn
    reset.sendall(get("/mark?c=gone"))
    waiting.sendall(get("/mark?c=w2"))
    reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reset.close()  # RST: its request and its loss arrive in one turn
    time.sleep(0.2)
    unblock(proc, holder)
    assert answer(waiting) == b"w2"
    waiting.close()
    assert proc.poll() is None
    assert sorted(order(port)["marks"][-2:]) == ["gone", "w2"]


RAW = r"""
import asyncio, sys
from emulator.arrival_order import in_arrival_order
from emulator.listener import Budget, listen

if sys.argv[1] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

class Lines(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if data.startswith(b"boom"):
            raise RuntimeError("this protocol fails on boom")
        if data.startswith(b"block"):
            self.transport.write(b"blocked\n")
            print("blocked", flush=True)
            sys.stdin.readline()
        self.transport.write(b"pong " + data)

async def main():
    acceptor = await listen("127.0.0.1", 0, in_arrival_order(Lines), Budget(), "raw")
    print(acceptor.port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.mark.parametrize("loop", LOOPS)
def test_a_protocol_failing_in_a_hand_over_drops_its_connection_only(loop):
    proc = subprocess.Popen([sys.executable, "-c", RAW, loop], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        failing, fine = connect(port), connect(port)
        for sock in (failing, fine):
            sock.sendall(b"hello\n")
            assert sock.recv(100) == b"pong hello\n"
        holder = connect(port)
        holder.sendall(b"block\n")
        assert proc.stdout.readline().strip() == "blocked"
        failing.sendall(b"boom\n")  # handed over first (served longest ago), and fails
        fine.sendall(b"ping\n")
        time.sleep(0.2)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert fine.recv(100) == b"pong ping\n"
        try:
            assert failing.recv(100) == b""
        except ConnectionResetError:
            pass  # aborted: either way, closed
        assert proc.poll() is None
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    assert "protocol.data_received() call failed" in err

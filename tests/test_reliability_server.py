"""`msgemu serve` as a real process under hostile clients (issue 11): SIGTERM mid-flight
loses no request already received; slow and idle clients are cut; running out of file
descriptors neither takes the server down, nor drops the connections waiting, nor floods the
log. The SIGTERM and descriptor tests run under both event loops (`MSGEMU_LOOP`)."""
from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import pytest

DELAYED = "rules:\n - match: {provider: alphasms}\n   fault: {type: delay, seconds: 1.0}\n"
LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(sys.platform == "win32", reason="no uvloop on Windows"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """`msgemu serve` in its own process, its log in a file."""

    def __init__(self, tmp_path, *args: str, nofile: int | None = None, loop: str | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "serve.log"
        self.loop = loop

        def limit_fds() -> None:
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator.cli", "serve", "--port", str(self.port), "--clock", "manual", *args],
            stdout=subprocess.DEVNULL, stderr=self.log_path.open("w"), preexec_fn=limit_fds,
            env={**os.environ, "MSGEMU_LOOP": loop or "auto"},
        )

    async def up(self) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(self.base + "/_emulator/health") as response:
                        if response.status == 200:
                            self.check_loop()
                            return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        raise AssertionError(self.log())

    def check_loop(self) -> None:
        """The process runs on the loop asked for: uvloop's library is loaded in it, or not."""
        maps = f"/proc/{self.proc.pid}/maps"
        if self.loop and os.path.exists(maps):
            with open(maps) as lines:
                assert ("uvloop" in lines.read()) == (self.loop == "uvloop"), self.loop

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def serve(tmp_path):
    started: list[Serve] = []

    def start(*args: str, nofile: int | None = None, loop: str | None = None) -> Serve:
        server = Serve(tmp_path, *args, nofile=nofile, loop=loop)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def raise_own_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted), hard))


def sms(i: int) -> dict:
    item = {"type": "sms", "id": i, "phone": 380970000000 + i, "sms_signature": "Test", "sms_message": f"code {i:06d}"}
    return {"auth": "alphasms-demo-key", "data": [item]}


@pytest.mark.parametrize("loop", LOOPS)
async def test_sigterm_answers_every_request_already_received(serve, tmp_path, loop):
    raise_own_fd_limit(4096)
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(DELAYED)
    server = serve("--scenario", str(scenario), "--log-level", "INFO", loop=loop)
    await server.up()
    url = server.base + "/alphasms/api/json.php"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await http.patch(server.base + "/_emulator/accounts/alphasms", json={"balance": 1_000_000})

        async def one(i: int):
            try:
                async with http.post(url, json=sms(i), timeout=aiohttp.ClientTimeout(total=30)) as response:
                    return response.status, await response.json()
            except aiohttp.ClientError as exc:
                return None, repr(exc)

        async def long_poll():
            async with http.get(server.base + "/_emulator/messages/wait", params={"phone": "1", "timeout": "120"}) as response:
                return response.status

        async def stream():
            async with http.get(server.base + "/_emulator/stream") as response:
                return await response.read()  # raises if the stream is cut instead of ended

        in_flight = [asyncio.create_task(one(i)) for i in range(300)]
        waits = [asyncio.create_task(long_poll()) for _ in range(5)]
        streams = [asyncio.create_task(stream()) for _ in range(3)]
        for _ in range(100):
            await asyncio.sleep(0.05)
            if (await (await http.get(server.base + "/_emulator/health")).json())["waiting"] == 5:
                break
        await asyncio.sleep(0.4)  # the sends are received and parked in their 1 s delay
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        answers = await asyncio.gather(*in_flight)
        assert await asyncio.gather(*waits) == [503] * 5
        assert all(b"event: hello" in body for body in await asyncio.gather(*streams))
    async with aiohttp.ClientSession() as fresh:  # after SIGTERM: refused, never half-answered
        with pytest.raises(aiohttp.ClientConnectorError):
            await fresh.post(url, json=sms(10_000))
    assert server.proc.wait(20) == 0
    assert time.monotonic() - started < 15
    lost = [a for a in answers if a[0] != 200]
    assert not lost, (len(lost), lost[:3])
    assert all(a[1]["data"][0]["success"] for a in answers)


async def test_idle_and_half_sent_connections_are_cut(serve):
    server = serve("--idle-timeout", "1", "--body-timeout", "1")
    await server.up()
    idle = socket.create_connection(("127.0.0.1", server.port))
    half_headers = socket.create_connection(("127.0.0.1", server.port))
    half_headers.sendall(b"POST /alphasms/api/json.php HTTP/1.1\r\nHost: x\r\n")
    half_body = socket.create_connection(("127.0.0.1", server.port))
    half_body.sendall(b"POST /alphasms/api/json.php HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"auth\"")
    for sock in (idle, half_headers, half_body):
        sock.settimeout(5)
    assert idle.recv(100) == b""  # closed by the server after --idle-timeout
    assert half_headers.recv(100) == b""
    answer = half_body.recv(1000)
    assert answer.startswith(b"HTTP/1.1 408") or answer == b"", answer
    for sock in (idle, half_headers, half_body):
        sock.close()
    async with aiohttp.ClientSession() as http:
        journal = await (await http.get(server.base + "/_emulator/requests")).json()
    assert [r["status"] for r in journal["requests"]] == [408]
    assert "not received in time" in journal["requests"][0]["body"]


@pytest.mark.parametrize("loop", LOOPS)
async def test_half_sent_requests_beyond_1024_fds_wait_their_turn(serve, loop):
    """At `ulimit -n 1024` the server holds 768 HTTP connections; further half-sent requests
    and a complete one wait in the backlog until --idle-timeout cuts the idle ones. None is
    accepted only to be closed (libuv's own listener does that when descriptors run out): each
    half-sent one lives its full idle timeout and ends in an orderly close; the complete one,
    sent while the server is at its bound, is answered."""
    raise_own_fd_limit(4500)
    idle_timeout = 1.5
    server = serve("--idle-timeout", str(idle_timeout), "--log-level", "INFO", loop=loop, nofile=1024)
    await server.up()
    loop_ = asyncio.get_running_loop()

    async def half_sent() -> tuple[str, float]:
        """How the connection ended (closed, reset, not connected...), and when, counted from
        the first connect: nothing the server accepted can be idle-cut before idle_timeout from
        there, and a busy client only sees the end later, never earlier."""
        with socket.socket() as sock:
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop_.sock_connect(sock, ("127.0.0.1", server.port)), 10)
            except (OSError, asyncio.TimeoutError) as exc:
                return f"not connected: {exc!r}", 0.0
            try:
                await loop_.sock_sendall(sock, b"POST /alphasms/api/json.php HTTP/1.1\r\nHost: x\r\nContent-Le")
                while await asyncio.wait_for(loop_.sock_recv(sock, 4096), 30):
                    pass
                return "closed", loop_.time() - started
            except (OSError, asyncio.TimeoutError) as exc:
                return type(exc).__name__, loop_.time() - started

    async def complete() -> bytes:
        body = json.dumps(sms(1)).encode()
        with socket.socket() as sock:
            sock.setblocking(False)
            await asyncio.wait_for(loop_.sock_connect(sock, ("127.0.0.1", server.port)), 10)
            await loop_.sock_sendall(sock, b"POST /alphasms/api/json.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            answer = b""
            try:
                while chunk := await asyncio.wait_for(loop_.sock_recv(sock, 65536), 30):
                    answer += chunk
            except (OSError, asyncio.TimeoutError) as exc:
                return f"not answered: {exc!r} after {answer[:200]!r}".encode()
            return answer

    started = loop_.time()
    first = [asyncio.create_task(half_sent()) for _ in range(1100)]  # more than either loop can hold open
    await asyncio.sleep(0.3)
    answer = asyncio.create_task(complete())
    await asyncio.sleep(0.1)
    endings = await asyncio.gather(*first, *(half_sent() for _ in range(400)), answer)
    answer = endings.pop()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["data"][0]["success"]
    how = {outcome: sum(1 for o, _ in endings if o == outcome) for outcome, _ in endings}
    # none reset, none left hanging; if some are, when (from the first connect) says which phase:
    # at accept, at the idle cut (~1.5 s), or while waiting in the backlog
    assert how == {"closed": 1500}, (how, sorted(round(after, 2) for outcome, after in endings if outcome != "closed")[:20])
    cut_early = sorted(after for _, after in endings if after < 0.9 * idle_timeout)  # accepted and closed at once
    assert not cut_early, (len(cut_early), cut_early[:5])
    async with aiohttp.ClientSession() as http:
        async with http.post(server.base + "/alphasms/api/json.php", json=sms(2)) as response:
            assert (await response.json())["data"][0]["success"]
    assert server.proc.poll() is None
    log = server.log()
    assert log.count("file descriptors ran out") == 1, log[-3000:]
    assert "ulimit -n is 1024, 768 of them for HTTP connections" in log
    assert "out of system resource" not in log


@pytest.mark.parametrize("loop", LOOPS)
async def test_a_keep_alive_client_a_moment_late_after_sigterm_is_still_answered(serve, loop):
    """A client slowed down for a moment (a busy CI machine) sends its next request 0.3 s after
    the SIGTERM, on the keep-alive connection it already had: it is answered, with Connection:
    close. Before, the drain ended once no connection had work for 0.1 s, and the request met
    a closed connection."""
    server = serve("--log-level", "WARNING", loop=loop)
    await server.up()
    body = json.dumps(sms(1)).encode()
    head = (f"POST /alphasms/api/json.php HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head + body)
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert first.startswith(b"HTTP/1.1 200") and b"Connection: close" not in first
        length = int(first.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        writer.write(head + json.dumps(sms(2)).encode())
        second = await asyncio.wait_for(reader.read(65536), 10)
        assert second.startswith(b"HTTP/1.1 200") and b"Connection: close" in second, second
    finally:
        writer.close()
    assert server.proc.wait(20) == 0


@pytest.mark.parametrize("loop", LOOPS)
async def test_keep_alive_clients_hammering_through_sigterm_lose_nothing(serve, loop):
    """Each request is either answered in full or refused at connect: none is dropped after
    the server read it (today a few percent are cut off under load)."""
    server = serve("--log-level", "WARNING", loop=loop)
    await server.up()
    url = server.base + "/alphasms/api/json.php"
    outcomes = {"answered": 0, "refused": 0, "cut": []}
    async with aiohttp.ClientSession() as http:
        await http.patch(server.base + "/_emulator/accounts/alphasms", json={"balance": 1_000_000})

    async def client(n: int) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
            for i in range(100_000):
                try:
                    async with http.post(url, json=sms(n * 100_000 + i)) as response:
                        assert (await response.json())["data"][0]["success"]
                        outcomes["answered"] += 1
                except aiohttp.ClientConnectorError:
                    outcomes["refused"] += 1
                    return
                except aiohttp.ClientError as exc:
                    outcomes["cut"].append(repr(exc))
                    return

    clients = [asyncio.create_task(client(n)) for n in range(40)]
    await asyncio.sleep(1.0)
    server.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(*clients), 30)
    assert server.proc.wait(20) == 0
    assert outcomes["answered"] > 100
    assert outcomes["cut"] == [], (len(outcomes["cut"]), outcomes["cut"][:3], outcomes["answered"])

"""`msgemu serve --workers N --store redis://`: N processes on one port (SO_REUSEPORT), each
transition and each callback once whatever the number of workers; refused, in one line, without a
shared store or when the store cannot be reached."""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.shared_store import hyber_send, needs_valkey
from tests.valkey import free_port


@pytest.fixture
def receiver():
    """A real webhook receiver counting the delivery reports it gets per message id."""
    calls: collections.Counter = collections.Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with lock:
                calls[str(body.get("message_id"))] += 1
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield calls, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@needs_valkey
def test_workers_share_one_port_each_transition_and_callback_happens_once_and_they_end_with_the_parent(serve, store, receiver, tmp_path):
    calls, hook = receiver
    quick = tmp_path / "quick.yaml"  # sent and delivered within a quarter second, in real time
    quick.write_text('rules:\n  - deliver: {"*": [{after: 0.1, status: sent}, {after: 0.2, status: delivered}]}\n')
    served = serve("--store", store, "--workers", "2", "--scenario", str(quick))  # real clock: both workers claim
    pids = {served.get("/_emulator/health")[1]["process"]["pid"] for _ in range(40)}  # a new connection each
    if len(pids) != 2:
        pytest.fail(f"SO_REUSEPORT did not spread 40 connections over both workers: {pids}\n{served.stop()}")

    sent = [hyber_send(served, f"38050{n:07d}", hook) for n in range(30)]  # Hyber reports final statuses only
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sum(calls.values()) < len(sent):
        time.sleep(0.1)
    time.sleep(0.5)  # a duplicate would arrive now, if any were to
    assert dict(calls) == {message_id: 1 for message_id in sent}

    journal = served.client.callbacks()
    assert sorted(a["message_id"] for a in journal if a["outcome"] == "delivered") == sorted(
        m["id"] for m in served.client.messages(provider="hyber")
    )
    statuses = collections.Counter(m["status"] for m in served.client.messages(provider="hyber"))
    assert statuses == {"delivered": len(sent)}

    # the workers end with their parent, however it ends (here SIGKILL: nothing can be passed on)
    served.proc.kill()
    served.proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    assert not [pid for pid in pids if _alive(pid)], "workers outlived their parent"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_several_workers_without_a_shared_store_is_one_clear_line():
    result = subprocess.run(
        [sys.executable, "-m", "emulator.cli", "serve", "--port", str(free_port()), "--workers", "2"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "msgemu: --workers='2': several workers need a shared store (--store redis://host:port/db): each worker "
        "is a process of its own, and only a store they share lets one see the messages, timers and clock of another"
    ]


def test_an_unreachable_store_is_one_clear_line():
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "emulator.cli", "serve", "--port", str(free_port()), "--store", f"redis://127.0.0.1:{port}/0"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert f"store redis://127.0.0.1:{port}/0: cannot connect" in result.stderr
    assert "Traceback" not in result.stderr


@needs_valkey
def test_a_second_msgemu_with_workers_on_the_same_port_is_refused_not_handed_half_the_connections(serve, store):
    first = serve("--store", store, "--workers", "2")
    # SO_REUSEPORT would let it join the first one's port: the kernel would hand it a share of the
    # connections, answered from whatever it holds (here: the same store, a fresh scenario, clock...)
    second = subprocess.Popen(
        [sys.executable, "-m", "emulator.cli", "serve", "--port", str(first.port), "--store", store, "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        out, _ = second.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        second.terminate()
        out, _ = second.communicate(timeout=30)
        pytest.fail(f"a second msgemu started on port {first.port} beside the first:\n{out}")
    assert second.returncode == 2
    assert out.strip().splitlines() == [
        f"msgemu: cannot listen on 127.0.0.1:{first.port}: address already in use "
        "(another msgemu? choose one with --port or MSGEMU_PORT)"
    ]
    # the first one still has the port to itself: every new connection reaches one of its 2 workers
    pids = {first.get("/_emulator/health")[1]["process"]["pid"] for _ in range(40)}
    assert len(pids) == 2


@needs_valkey
def test_workers_refuse_a_port_another_program_listens_on_even_with_so_reuseport(store):
    import socket

    with socket.socket() as other:  # a server that allows port sharing: the workers would join it
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "emulator.cli", "serve", "--port", str(port), "--store", store, "--workers", "2"],
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "Traceback" not in result.stderr


@needs_valkey
def test_workers_on_port_0_share_the_one_port_the_kernel_chose(store):
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator.cli", "serve", "--port", "0", "--store", store, "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        line = proc.stdout.readline()
        import re

        ports = set(re.findall(r"alphasms http://127\.0\.0\.1:(\d+)/", line))
        assert len(ports) == 1 and "0" not in ports, line
        url = f"http://127.0.0.1:{ports.pop()}/_emulator/health"
        pids = set()
        for _ in range(40):  # each worker listens on it (each asking the kernel for port 0 got a port of its own)
            with urllib.request.urlopen(url, timeout=10) as response:
                pids.add(json.loads(response.read())["process"]["pid"])
        assert len(pids) == 2
    finally:
        proc.terminate()
        proc.wait(30)


@needs_valkey
def test_workers_that_could_outgrow_the_machines_memory_say_so_once_at_start(serve, store):
    served = serve("--store", store, "--workers", "2", "--retention-bytes", "64T")  # more than any machine here
    line = next((line for line in served.output.splitlines() if "warning" in line), "")
    assert line.startswith("msgemu: warning: 2 workers each keep a whole copy of the store"), served.output
    assert "a lower --retention-bytes or fewer --workers" in line
    assert served.client.health()["status"] == "ok"  # a warning: it serves all the same


def test_the_memory_note_is_silent_when_the_workers_fit():
    from emulator.workers import memory_note

    assert memory_note(2, 512 * 2**20, 8 * 2**30) is None
    assert memory_note(64, 512 * 2**20, 8 * 2**30).startswith("msgemu: warning: 64 workers")
    assert memory_note(64, 512 * 2**20, None) is None

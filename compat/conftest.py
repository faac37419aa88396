"""The compatibility suite: real client libraries, installed from the registries, against a real
`msgemu serve` over a socket. Only the base URL differs from production.

One server per session (started here); every test starts from a reset emulator.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
NODE_MODULES = ROOT / "node" / "node_modules"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """A running `msgemu serve` and a few control API helpers the checks need."""

    def __init__(self, url: str):
        self.url = url

    def control(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def reset(self) -> None:
        self.control("POST", "/_emulator/reset")

    def messages(self, **query) -> list[dict]:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return self.control("GET", "/_emulator/messages" + (f"?{qs}" if qs else ""))["messages"]

    def advance(self, seconds: float) -> dict:
        return self.control("POST", "/_emulator/clock/advance", {"seconds": seconds})


def serve_msgemu(*extra: str):
    """`msgemu serve` on a free port (manual clock, callbacks kept on this machine), up and
    answering; yields an Emulator, stops the server after. Health is asked without any proxy, so
    a test that sets HTTP_PROXY for its library still reaches the control API directly."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator.cli", "serve", "--port", str(port), "--clock", "manual",
         "--callback-loopback-only", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 30
    while True:
        try:
            opener.open(url + "/_emulator/health", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("msgemu did not start:\n" + (proc.stdout.read() if proc.stdout else ""))
            time.sleep(0.1)
    yield Emulator(url)
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def emulator():
    yield from serve_msgemu()


@pytest.fixture(autouse=True)
def fresh(emulator):
    emulator.reset()
    yield


@pytest.fixture(scope="session")
def node():
    """run_node, as a fixture: each provider folder may have a conftest.py of its own, so the
    shared helpers are reached through fixtures rather than `from conftest import ...`."""
    return run_node


def run_node(script: Path, *args: str, timeout: float = 60) -> dict:
    """Run a Node.js check script; it prints one JSON object with what the library returned."""
    env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
    done = subprocess.run(["node", str(script), *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])

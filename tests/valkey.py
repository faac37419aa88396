"""A throwaway Valkey (or Redis) server of our own, for the tests and the benchmarks.

Debian ships `valkey-server` from trixie on and `redis-server` before; either speaks the same
protocol. `.ci/valkey` installs one. Each server gets a free port and a temporary directory of
its own (its append-only file lives there), so several can run at once and none touches a
system Redis.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BINARIES = ("valkey-server", "redis-server")


def server_binary() -> str | None:
    """The first Valkey/Redis server on PATH (None when neither is installed)."""
    return next((found for name in BINARIES if (found := shutil.which(name))), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ValkeyServer:
    """`with ValkeyServer() as server: server.url` -> redis://127.0.0.1:<port>/0.

    Persistence is on (appendonly, fsync every second) the way a store that "keeps everything
    across restarts" is run; `restart()` stops the process and starts it again on the same port
    and directory, to show what survives."""

    def __init__(self, binary: str | None = None, directory: str | Path | None = None) -> None:
        self.binary = binary or server_binary()
        if self.binary is None:
            raise RuntimeError("no valkey-server or redis-server on PATH (install one: bash .ci/valkey)")
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="msgemu-valkey-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "ValkeyServer":
        self.process = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.binary} exited: {self.process.stderr.read().decode(errors='replace')}")
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.binary} did not answer PING on port {self.port} within 10 s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Valkey/Redis flush the append-only file first
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "ValkeyServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

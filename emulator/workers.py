"""`msgemu serve --workers N`: N processes serving one port, sharing one store.

Each worker is a forked process with its own event loop and runtime; all bind the same port
with SO_REUSEPORT and the kernel spreads connections between them. What one worker accepts,
the others see through the shared Valkey/Redis store (core/redis_store.py), whose scheduled
transitions are claimed by one worker each (core/shared_clock.py). The parent only starts the
workers, prints the start line once they all listen, passes SIGINT/SIGTERM on (each worker
drains its own connections) and starts again a worker that died.
"""
from __future__ import annotations

import asyncio
import os
import select
import signal
import sys
import time
from functools import partial
from typing import Callable, NamedTuple

from . import port_claim
from .listener import CannotListen
from .settings import Settings

RESTART_PAUSE = 1.0  # seconds before a worker that died is started again (not in a tight loop)...
RESTART_MAX = 30.0  # ...twice as long each time one dies within STEADY seconds of its start, up to this
STEADY = 10.0


def serve(settings: Settings, count: int) -> int:
    if not hasattr(os, "fork") or not hasattr(__import__("socket"), "SO_REUSEPORT"):
        print("msgemu: --workers needs fork and SO_REUSEPORT (Linux, BSD): start one msgemu per port "
              "on the same --store instead", file=sys.stderr, flush=True)
        return 2
    try:
        settings.port = port_claim.chosen(settings.host, settings.port)
        settings.provider_ports = {name: port_claim.chosen(settings.host, port) for name, port in settings.provider_ports.items()}
        locks = port_claim.claim(settings.host, _ports(settings))  # held until this process ends
    except CannotListen as exc:
        print(f"msgemu: {exc}", file=sys.stderr, flush=True)
        return 2
    note = memory_note(count, settings.retention_bytes, available_memory())
    if note:
        print(note, file=sys.stderr, flush=True)
    try:
        return _supervise(settings, count)
    finally:
        port_claim.release(locks)


# What a worker holds at most beyond its counted retention: 100,000 retained AlphaSMS sends counted
# 355 MiB against an RSS of 543 MiB (2026-11-25), of which ~60-80 MiB a process starts with.
RSS_PER_COUNTED = 1.35
RSS_BASE = 100 * 1024 * 1024


def memory_note(count: int, retention_bytes: int, available: int | None) -> str | None:
    """A warning when `count` workers, each with a whole copy of the store held to
    `retention_bytes`, could need more memory than the machine has available (`--workers auto`
    on a machine with many cores); None when they fit or nobody knows."""
    if available is None:
        return None
    each = int(retention_bytes * RSS_PER_COUNTED) + RSS_BASE
    if count * each <= available:
        return None
    return (f"msgemu: warning: {count} workers each keep a whole copy of the store, up to about "
            f"{each / 2**20:,.0f} MiB with --retention-bytes {retention_bytes / 2**20:,.0f}M: {count * each / 2**30:,.1f} GiB "
            f"in all, more than the {available / 2**30:,.1f} GiB available here; a lower --retention-bytes or "
            "fewer --workers keeps them within it")


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (Linux), or None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _supervise(settings: Settings, count: int) -> int:
    """Start the workers, say once that they listen, start again one that dies, stop them on a signal."""
    from .cli import start_line
    from .runtime import announce_control_token

    announce_control_token(settings)  # once, here: the workers inherit the token
    stopping = False
    children: dict[int, int] = {}  # pid -> worker index

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            _kill(pid, signal.SIGTERM)

    # before the first fork: a SIGTERM while the workers start stops them too, never orphans them
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # the lifeline: only this process holds its write end, so when it goes (even by SIGKILL)
    # every worker reads end-of-file, drains its connections and exits
    lifeline, lifeline_write = os.pipe()
    ready_read, ready_write = os.pipe()
    pipes = Pipes(lifeline, lifeline_write, ready_read, ready_write)
    started: dict[int, float] = {}  # worker index -> when it was last started (monotonic)
    pauses: dict[int, float] = {}  # worker index -> the pause before its last restart
    for index in range(count):
        children[_start(settings, index, pipes)] = index
        started[index] = time.monotonic()
    os.close(ready_write)
    if not _wait_ready(ready_read, count, children, lambda: stopping):
        _stop(children)
        return 0 if stopping else 2
    os.close(ready_read)
    print(start_line(settings, _providers_only(), count), flush=True)
    pipes = Pipes(lifeline, lifeline_write, None, None)
    code = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
            continue
        index = children.pop(pid, None)
        if index is None or stopping:
            continue
        code = os.waitstatus_to_exitcode(status)
        # one that keeps failing as it starts (its store out of reach) is started again less and less often
        quick = time.monotonic() - started.get(index, 0.0) < STEADY
        pause = pauses[index] = min(2 * pauses.get(index, RESTART_PAUSE / 2), RESTART_MAX) if quick else RESTART_PAUSE
        print(f"msgemu: worker {index} exited ({code}); starting it again in {pause:.0f} s", file=sys.stderr, flush=True)
        deadline = time.monotonic() + pause
        while not stopping and time.monotonic() < deadline:  # (a SIGTERM ends the pause at once)
            time.sleep(0.05)
        if not stopping:  # a SIGTERM during the pause: no new worker that nobody would stop
            children[_start(settings, index, pipes)] = index
            started[index] = time.monotonic()
    return 0 if stopping else code


class Pipes(NamedTuple):
    lifeline: int  # read end, kept by the workers
    lifeline_write: int  # write end, kept by the parent only
    ready_read: int | None  # startup only: each worker writes one byte once it listens
    ready_write: int | None


def _start(settings: Settings, index: int, pipes: Pipes) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    # the worker
    os.close(pipes.lifeline_write)
    if pipes.ready_read is not None:
        os.close(pipes.ready_read)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os._exit(_run_worker(settings, index, pipes.ready_write, pipes.lifeline))


def _run_worker(settings: Settings, index: int, ready_write: int | None, lifeline: int) -> int:
    from . import gc_pacing
    from .cli import CannotListen, _serve, exit_now, use_loop
    from .runtime import Runtime

    try:
        runtime = Runtime(settings)
    except Exception as exc:  # the parent checked the settings: only the environment can differ
        print(f"msgemu: worker {index}: {exc}", file=sys.stderr, flush=True)
        return 2
    if hasattr(runtime.store, "when_stale"):  # a copy that missed commits: drain, exit, and be started again
        runtime.store.when_stale = partial(os.kill, os.getpid(), signal.SIGTERM)
    gc_pacing.tune()
    use_loop(settings.loop)
    try:
        asyncio.run(_serve(settings, runtime, worker=index, ready=ready_write, lifeline=lifeline))
    except KeyboardInterrupt:
        pass
    except CannotListen as exc:
        print(f"msgemu: {exc}", file=sys.stderr, flush=True)
        exit_now(2)
    except RuntimeError as exc:
        print(f"msgemu: {exc}", file=sys.stderr, flush=True)  # the store cannot be reached
        exit_now(2)
    except Exception as exc:
        print(f"msgemu: worker {index} stopped: {exc}", file=sys.stderr, flush=True)
        exit_now(1)
    exit_now(0)
    return 0  # pragma: no cover


def _wait_ready(ready_read: int, count: int, children: dict[int, int], stopping: Callable[[], bool],
                timeout: float = 60.0) -> bool:
    """True once every worker listens; False (and why) when one exits first or we are told to stop."""
    got = 0
    deadline = time.monotonic() + timeout
    while got < count:
        if stopping():
            return False
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                print(f"msgemu: a worker exited while starting ({code}); stopping the others", file=sys.stderr, flush=True)
                return False
        if time.monotonic() > deadline:
            print(f"msgemu: {count - got} of {count} workers not listening after {timeout:.0f} s", file=sys.stderr, flush=True)
            return False
        readable, _, _ = select.select([ready_read], [], [], 0.1)
        if readable:
            chunk = os.read(ready_read, count)
            got += len(chunk)
    return True


def _ports(settings: Settings) -> list[int]:
    """Every port the workers will listen on (SMPP and SMTP: worker 0's)."""
    ports = [settings.port, *settings.provider_ports.values()]
    return ports + [port for port in (settings.smpp_port, settings.smtp_port) if port]


def _providers_only():
    """What the start line needs of a runtime (its providers' names) without building one."""
    from .providers import REGISTRY

    class Names:
        providers = dict.fromkeys(REGISTRY)

    return Names()


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _stop(children: dict[int, int]) -> None:
    for pid in list(children):
        _kill(pid, signal.SIGTERM)
    for pid in list(children):
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

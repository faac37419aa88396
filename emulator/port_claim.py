"""`--workers N`: the ports are this msgemu's alone before its workers bind them.

The workers share a port through SO_REUSEPORT, and the kernel lets any process of the same user
join such a group: a second `msgemu serve --workers 2` started on the same port by mistake
(another terminal, a leftover container, a test suite's fixture) would start without an error and
be handed a share of the connections, answering them from a store of its own, so that a message
sent through one "disappears" for the next request. One process alone is safe (it binds without
SO_REUSEPORT, and the kernel refuses anyone beside it); several must check for themselves.

So the parent, before it forks, claims each port: it takes a lock only one process can hold (on
Linux an abstract Unix socket named after the address: the kernel drops it with the process,
even on kill -9, and it is as wide as the network namespace the port lives in), then binds the
port once without SO_REUSEPORT and lets go: that fails while anything listens there (a
one-process msgemu, another server, a group of SO_REUSEPORT sockets). The lock closes the gap
between that check and the workers' binds for two msgemus starting at the same time.
"""
from __future__ import annotations

import errno
import socket
import sys

from .listener import CannotListen, new_socket


def claim(host: str, ports: list[int]) -> list[socket.socket]:
    """Every port free and locked for this process, or CannotListen (busy, no such address): the
    locks come back, to be kept open as long as the workers serve (closing them lets go)."""
    locks: list[socket.socket] = []
    try:
        for port in ports:  # (none is 0: chosen() picked one first)
            lock = _lock(host, port)
            if lock is not None:
                locks.append(lock)
            _check_free(host, port)
    except BaseException:
        release(locks)
        raise
    return locks


def chosen(host: str, port: int) -> int:
    """`port`, or for 0 one the kernel picks now: every worker must bind the same one (each asking
    for 0 would get a port of its own). `claim` then checks it is free at every address."""
    if port:
        return port
    infos = socket.getaddrinfo(host or None, 0, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.bind(address)
        return probe.getsockname()[1]


def release(locks: list[socket.socket]) -> None:
    for lock in locks:
        lock.close()


def _lock(host: str, port: int) -> socket.socket | None:
    """An abstract Unix socket bound to a name of this address (Linux), or None where there are none."""
    if not sys.platform.startswith("linux"):
        return None
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(f"\0msgemu-port:{host or '*'}:{port}")
    except OSError as exc:
        lock.close()
        if exc.errno == errno.EADDRINUSE:  # another msgemu holds it: its workers listen there, or soon will
            raise CannotListen(host, port, exc) from None
        return None  # abstract sockets not allowed here (a sandbox): the bind check alone
    return lock  # (the workers get it with fork: it goes when the last of them does)


def _check_free(host: str, port: int) -> None:
    """Bind every address `host` resolves to on `port`, as the workers will but without SO_REUSEPORT,
    then let go: EADDRINUSE when anything listens there, SO_REUSEPORT group or not."""
    try:
        infos = socket.getaddrinfo(host or None, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotListen(host, port, OSError(exc.errno, exc.strerror)) from None
    for family, kind, proto, _, address in dict.fromkeys(infos):
        with new_socket(family, kind, proto, reuse_port=False) as probe:
            try:
                probe.bind(address)
            except OSError as exc:
                raise CannotListen(host, port, exc) from None

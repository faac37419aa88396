"""Webhook dispatcher: provider-rendered callbacks POSTed with retries, every attempt journaled.

Core decides *when* (on each lifecycle event or subscriber reply) and retries on the clock;
the provider decides *whether* and *what* (its own payload format) through its renderer.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

import aiohttp

from .clock import Clock
from .model import Event, Message
from .store import Store

log = logging.getLogger("msgemu.callbacks")


@dataclass
class CallbackRequest:
    """One HTTP call a provider would make to the client's webhook."""

    url: str
    body: bytes | str
    content_type: str = "application/json"
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = "status"  # status | inbound


class CallbackRenderer(Protocol):
    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]: ...

    def inbound_callbacks(self, message: Message, reply: dict[str, Any]) -> list[CallbackRequest]: ...


@dataclass
class RetryPolicy:
    attempts: int = 5  # total tries per callback
    base_delay: float = 1.0  # seconds before the 2nd try; doubles each time
    timeout: float = 5.0  # per HTTP attempt
    loopback_only: bool = False  # sandboxes (and our tests): never call a host off this machine


LOOPBACK_HOSTS = ("localhost", "::1", "[::1]")


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class Dispatcher:
    def __init__(self, store: Store, clock: Clock, policy: RetryPolicy | None = None) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.renderers: dict[str, CallbackRenderer] = {}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.policy.timeout),
                headers={"User-Agent": "msgemu-callbacks/0.1"},
            )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- entry points, wired as engine listeners ------------------------------------------------
    def on_event(self, message: Message, event: Event) -> None:
        renderer = self.renderers.get(message.provider)
        if renderer is None:
            return
        for request in renderer.status_callbacks(message, event):
            self._schedule(message, request, 1, event.public())

    def on_inbound(self, message: Message, reply: dict[str, Any]) -> None:
        renderer = self.renderers.get(message.provider)
        if renderer is None:
            return
        for request in renderer.inbound_callbacks(message, reply):
            self._schedule(message, request, 1, {"inbound": reply.get("text")})

    def _schedule(self, message: Message, request: CallbackRequest, attempt: int, event: dict[str, Any], delay: float = 0.0) -> None:
        self.clock.call_later(delay, lambda: self._deliver(message, request, attempt, event))

    async def _deliver(self, message: Message, request: CallbackRequest, attempt: int, event: dict[str, Any]) -> None:
        await self.start()
        assert self._session is not None
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        record: dict[str, Any] = {
            "message_id": message.id,
            "provider": message.provider,
            "kind": request.kind,
            "event": event,
            "url": request.url,
            "method": request.method,
            "content_type": request.content_type,
            "body": body.decode("utf-8", "replace"),
            "attempt": attempt,
            "at": self.clock.now(),
            "status": None,
            "response": None,
            "error": None,
            "next_retry_in": None,
        }
        headers = {"Content-Type": request.content_type, **request.headers}
        if self.policy.loopback_only and not is_loopback(request.url):
            record["error"] = "not sent: --callback-loopback-only allows 127.0.0.0/8 and localhost only"
            self.store.add_callback_attempt(record)
            return
        try:
            async with self._session.request(request.method, request.url, data=body, headers=headers) as response:
                record["status"] = response.status
                record["response"] = (await response.text(errors="replace"))[:2000]
                ok = 200 <= response.status < 300
                if not ok:
                    record["error"] = f"HTTP {response.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            ok = False
            record["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not ok and attempt < self.policy.attempts:
            delay = self.policy.base_delay * 2 ** (attempt - 1)
            record["next_retry_in"] = delay
            self._schedule(message, request, attempt + 1, event, delay)
        self.store.add_callback_attempt(record)
        if not ok:
            log.info("callback %s attempt %d failed: %s", request.url, attempt, record["error"])


def wire(engine_listeners: list[Callable], inbound_listeners: list[Callable], dispatcher: Dispatcher) -> None:
    """Subscribe the dispatcher to the engine's lifecycle and subscriber replies."""
    engine_listeners.append(dispatcher.on_event)
    inbound_listeners.append(dispatcher.on_inbound)

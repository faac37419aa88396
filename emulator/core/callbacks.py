"""Webhook dispatcher: provider-rendered callbacks POSTed with retries, every attempt journaled.

Core decides *when* (on each lifecycle event or subscriber reply) and retries on the clock;
the provider decides *whether* and *what* (its own payload format) through its renderer.

Callbacks of one message go out one after the other (a lane per message): a later status
waits until the earlier one was accepted or given up, so a receiver that was down for a
while still gets every callback afterwards, in order, each once. Retries follow the
provider's ladder (core/retries.py, emulator/data/callback_retries.yaml); after the last try
the callback is journaled as given up and kept, so it can be resent (retry / retry_failed).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

from yarl import URL

from .callback_client import CallbackClient
from .clock import Clock
from .model import Event, Message
from .retries import RetryLadder, load_ladders
from .store import Store
from .targets import GuardedResolver, TargetPolicy, TargetRefused, literal_address, local_addresses

log = logging.getLogger("msgemu.callbacks")

RESPONSE_KEPT = 2000  # characters of the receiver's answer journaled
BODY_KEPT = 64 * 1024  # characters of the callback body journaled
MAX_WAITING = 100_000  # callbacks queued or waiting for a retry; more are given up at once
OWN_RECEIVER = "/_emulator/receiver/"
CALLBACK_CONNECTIONS = 200  # open at once, at most (the HTTP listener keeps descriptors for them)
USER_AGENT = "msgemu-callbacks/0.1"


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
    attempts: int = 0  # tries per callback; 0: the provider's ladder
    base_delay: float = 0.0  # > 0: exponential ladder (base, 2*base...) instead of the providers'
    timeout: float = 0.0  # per try; 0: the provider's
    loopback_only: bool = False  # sandboxes (and our tests): never call a host off this machine
    allow_link_local: bool = False  # 169.254.0.0/16, fe80::/10, metadata names
    ladders: dict[str, RetryLadder] = field(default_factory=dict)
    default_ladder: RetryLadder | None = None

    def __post_init__(self) -> None:
        if self.default_ladder is None:
            self.default_ladder, loaded = load_ladders()
            self.ladders = {**loaded, **self.ladders}

    def ladder(self, provider: str) -> RetryLadder:
        ladder = self.ladders.get(provider) or self.default_ladder
        assert ladder is not None
        if self.base_delay > 0:
            ladder = RetryLadder.exponential(self.attempts or 5, self.base_delay, ladder.timeout)
        elif self.attempts > 0:
            ladder = RetryLadder(ladder.delays[: self.attempts - 1], ladder.timeout, ladder.source)
        if self.timeout > 0:
            ladder = RetryLadder(ladder.delays, self.timeout, ladder.source)
        return ladder


@dataclass
class Delivery:
    """One callback, across all its tries."""

    id: int
    message: Message
    request: CallbackRequest
    event: dict[str, Any]
    ladder: RetryLadder
    state: str = "queued"  # queued | in_flight | waiting (for a retry) | delivered | gave_up | refused
    tries: int = 0
    timer: Any = None
    last_error: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "callback_id": self.id,
            "message_id": self.message.id,
            "provider": self.message.provider,
            "kind": self.request.kind,
            "url": self.request.url,
            "state": self.state,
            "tries": self.tries,
            "last_error": self.last_error,
        }


class Dispatcher:
    def __init__(self, store: Store, clock: Clock, policy: RetryPolicy | None = None, keep: int = 100_000) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.targets = TargetPolicy(self.policy.loopback_only, self.policy.allow_link_local)
        self.renderers: dict[str, CallbackRenderer] = {}
        self.keep = max(1, keep)
        self.own_token: str | None = None  # sent only to this emulator's own receiver
        self.own_ports: set[int] = set()
        self._own_addresses: set[Any] = set()
        self._bound_host = "127.0.0.1"
        self._client: CallbackClient | None = None
        self._resolver: GuardedResolver | None = None
        self.reset()

    def reset(self) -> None:
        """Forget every callback (and stop those in flight): the store is being reset too."""
        for delivery in getattr(self, "deliveries", {}).values():
            if delivery.timer is not None:
                delivery.timer.cancelled = True
        for task in list(getattr(self, "_tasks", ())):
            task.cancel()
        self._tasks: set[asyncio.Task] = set()
        self.deliveries: OrderedDict[int, Delivery] = OrderedDict()
        self.lanes: dict[str, deque[Delivery]] = {}
        self.waiting = 0
        self._ids = itertools.count(1)
        self.stats = {"delivered": 0, "failed": 0, "gave_up": 0, "refused": 0}

    def serve_own_receiver(self, token: str | None, ports: set[int], bound_host: str) -> None:
        """The control token to present to this emulator's built-in receiver, and where it is."""
        self.own_token = token
        self.own_ports = set(ports)
        self._bound_host = bound_host

    async def start(self) -> None:
        if self._client is None:
            self._resolver = GuardedResolver(self.targets)
            self._client = CallbackClient(self._resolver, CALLBACK_CONNECTIONS, USER_AGENT)
            if self.own_token:
                self._own_addresses = await local_addresses(self._bound_host)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    @property
    def in_flight(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    # -- entry points, wired as engine listeners ------------------------------------------------
    def on_event(self, message: Message, event: Event) -> None:
        renderer = self.renderers.get(message.provider)
        if renderer is None:
            return
        for request in renderer.status_callbacks(message, event):
            self._queue(message, request, event.public())

    def on_inbound(self, message: Message, reply: dict[str, Any]) -> None:
        renderer = self.renderers.get(message.provider)
        if renderer is None:
            return
        for request in renderer.inbound_callbacks(message, reply):
            self._queue(message, request, {"inbound": reply.get("text")})

    # -- resending ------------------------------------------------------------------------------
    def get(self, callback_id: int) -> Delivery | None:
        return self.deliveries.get(callback_id)

    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries.values() if d.state in ("gave_up", "refused")]

    def retry(self, callback_id: int) -> Delivery:
        """Resend a callback now: a given-up, refused or delivered one (a deliberate replay, to see
        how the receiver takes a duplicate) gets a fresh ladder; one waiting for its next try is
        tried at once. KeyError when unknown, ValueError while it is in flight."""
        delivery = self.deliveries.get(callback_id)
        if delivery is None:
            raise KeyError(callback_id)
        if delivery.state == "waiting":
            delivery.timer.cancelled = True
            delivery.timer = self.clock.call_later(0, lambda: self._start(delivery))
            return delivery
        if delivery.state not in ("gave_up", "refused", "delivered"):
            raise ValueError(f"callback {callback_id} is {delivery.state}")
        delivery.tries = 0
        delivery.state = "queued"
        self._enter_lane(delivery)
        return delivery

    def retry_failed(self) -> list[Delivery]:
        """Resend every callback that was given up (not those refused by the target policy)."""
        return [self.retry(d.id) for d in self.deliveries.values() if d.state == "gave_up"]

    # -- the lane of one message ------------------------------------------------------------------
    def _queue(self, message: Message, request: CallbackRequest, event: dict[str, Any]) -> None:
        delivery = Delivery(self.store.next_id("delivery"), message, request, event, self.policy.ladder(message.provider))
        self.deliveries[delivery.id] = delivery
        while len(self.deliveries) > self.keep:
            self.deliveries.popitem(last=False)  # still in its lane if pending; no longer by id
        if self.waiting >= MAX_WAITING:
            delivery.state = "gave_up"
            delivery.last_error = f"not queued: {MAX_WAITING} callbacks already waiting"
            self.stats["gave_up"] += 1
            self.store.add_callback_attempt({**self._record(delivery, self.clock.now(), _body_bytes(delivery.request)), "error": delivery.last_error, "outcome": "gave_up"})
            return
        self._enter_lane(delivery)

    def _enter_lane(self, delivery: Delivery) -> None:
        self.waiting += 1
        lane = self.lanes.setdefault(delivery.message.id, deque())
        lane.append(delivery)
        if len(lane) == 1:
            delivery.timer = self.clock.call_later(0, lambda: self._start(delivery))

    def _leave_lane(self, delivery: Delivery, at: float) -> None:
        self.waiting -= 1
        lane = self.lanes.get(delivery.message.id)
        if lane and lane[0] is delivery:
            lane.popleft()
        elif lane and delivery in lane:
            lane.remove(delivery)
        if lane:
            head = lane[0]
            head.timer = self.clock.call_at(at, lambda: self._start(head))
        else:
            self.lanes.pop(delivery.message.id, None)

    def _start(self, delivery: Delivery) -> None:
        if delivery.state not in ("queued", "waiting"):
            return  # already tried by another path (a manual retry): never twice at once
        delivery.state = "in_flight"
        delivery.tries += 1
        task = asyncio.get_running_loop().create_task(self._try(delivery, self.clock.now()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.clock.track(task)

    # -- one try ----------------------------------------------------------------------------------
    def _record(self, delivery: Delivery, at: float, body: bytes) -> dict[str, Any]:
        """The journal record of a try (`body`: the request's, as sent)."""
        request = delivery.request
        return {
            "callback_id": delivery.id,
            "message_id": delivery.message.id,
            "provider": delivery.message.provider,
            "kind": request.kind,
            "event": delivery.event,
            "url": request.url,
            "method": request.method,
            "content_type": request.content_type,
            "body": body[:BODY_KEPT].decode("utf-8", "replace"),
            "attempt": delivery.tries,
            "at": at,
            "status": None,
            "response": None,
            "error": None,
            "next_retry_in": None,
            "outcome": None,
        }

    async def _try(self, delivery: Delivery, at: float) -> None:
        await self.start()
        assert self._client is not None
        request = delivery.request
        body = _body_bytes(request)
        record = self._record(delivery, at, body)
        ok = refused = False
        try:
            url, headers = await self._target(request)
            reply = await self._client.send(request.method, url, headers, body, delivery.ladder.timeout, RESPONSE_KEPT)
            record["status"] = reply.status
            record["response"] = reply.text
            ok = 200 <= reply.status < 300
            if not ok:
                record["error"] = f"HTTP {reply.status}"
                if 300 <= reply.status < 400:
                    record["error"] += " (redirects are not followed)"
        except TargetRefused as exc:
            refused = True
            record["error"] = f"not sent: {exc}"
        except (asyncio.TimeoutError, TimeoutError):
            record["error"] = f"no answer within {delivery.ladder.timeout:g} s"
        except (OSError, ValueError) as exc:
            record["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # a bug of ours must not strand the lane: a failed try, retried, logged
            log.exception("callback %d to %s: unexpected error", delivery.id, request.url)
            record["error"] = f"internal error: {type(exc).__name__}: {exc}"
        self._settle(delivery, record, at, ok, refused)

    def _settle(self, delivery: Delivery, record: dict[str, Any], at: float, ok: bool, refused: bool) -> None:
        delivery.last_error = record["error"]
        ladder = delivery.ladder
        if ok:
            delivery.state = record["outcome"] = "delivered"
            self.stats["delivered"] += 1
        elif refused:
            delivery.state = record["outcome"] = "refused"
            self.stats["refused"] += 1
        elif delivery.tries <= len(ladder.delays):
            self.stats["failed"] += 1
            delay = ladder.delays[delivery.tries - 1]
            delivery.state = "waiting"
            record["outcome"] = "retrying"
            record["next_retry_in"] = delay
            delivery.timer = self.clock.call_at(at + delay, lambda: self._start(delivery))
        else:
            self.stats["failed"] += 1
            self.stats["gave_up"] += 1
            delivery.state = record["outcome"] = "gave_up"
            record["error"] = f"{record['error']}; gave up after {delivery.tries} tries over {ladder.span:g} s"
            log.warning("callback %d to %s given up: %s", delivery.id, delivery.request.url, record["error"])
        self.store.add_callback_attempt(record)
        if delivery.state != "waiting":
            self._leave_lane(delivery, at)
        elif not ok:
            log.info("callback %s try %d failed: %s", delivery.request.url, delivery.tries, record["error"])

    async def _target(self, request: CallbackRequest) -> tuple[URL, dict[str, str]]:
        """The URL to connect to and the headers: checks a literal address here (the resolver
        checks names); this emulator's own receiver gets the control token, on the address
        that was checked to be this machine."""
        headers = {"Content-Type": request.content_type, **request.headers}
        url = URL(request.url)
        host = url.host or ""
        literal = self.targets.check_host(host)
        if not (self.own_token and url.path.startswith(OWN_RECEIVER) and url.port in self.own_ports and url.scheme == "http"):
            return url, headers  # (parsed once: the client takes it as it is)
        assert self._resolver is not None
        addresses = [literal] if literal is not None else [literal_address(r["host"]) for r in await self._resolver.resolve(host, url.port or 80)]
        address = addresses[0] if addresses else None
        if address is None or not (address.is_loopback or address in self._own_addresses):
            return url, headers
        headers["Authorization"] = f"Bearer {self.own_token}"
        headers["Host"] = urlsplit(request.url).netloc.rsplit("@", 1)[-1]
        return url.with_host(str(address)), headers


def _body_bytes(request: CallbackRequest) -> bytes:
    return request.body.encode("utf-8") if isinstance(request.body, str) else request.body


def wire(engine_listeners: list[Callable], inbound_listeners: list[Callable], dispatcher: Dispatcher) -> None:
    """Subscribe the dispatcher to the engine's lifecycle and subscriber replies."""
    engine_listeners.append(dispatcher.on_event)
    inbound_listeners.append(dispatcher.on_inbound)

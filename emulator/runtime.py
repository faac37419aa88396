"""The running emulator's parts, built once from Settings and shared by every app and port."""
from __future__ import annotations

import asyncio
import logging
import sys
from decimal import Decimal
from pathlib import Path

from aiohttp import web

from .resources import DATA, read_yaml, scenario_file
from .core.callbacks import Dispatcher, RetryPolicy, wire
from .core.clock import Clock
from .core.engine import Engine
from .core.model import Account
from .core.namespaces import Namespaces, NamespacedScenarios
from .core.scenario import Scenario, ScenarioError, ScenarioSet, load_file, load_file_async, load_magic, load_text
from .core.store import Store
from .core.validation import Schemas
from .providers import REGISTRY
from .providers.base import Provider
from .settings import Settings
from .control.received import ReceivedCalls
from .control.token import ensure_control_token, token_required

log = logging.getLogger("msgemu")

ACCOUNTS_FILE = DATA / "accounts.yaml"


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.schemas = Schemas()
        self.store = new_store(settings)
        for provider, entries in (read_yaml(ACCOUNTS_FILE) or {}).items():
            for entry in entries:
                self.store.add_account(
                    Account(
                        provider,
                        str(entry["login"]),
                        {k: str(v) for k, v in entry.get("secrets", {}).items()},
                        Decimal(str(entry.get("balance", 100))),
                        str(entry.get("currency", "EUR")),
                    )
                )
        self.namespaces = Namespaces(self.store, [a for accounts in self.store.accounts.values() for a in accounts])
        self.clock = new_clock(settings, self.store)
        self.scenarios = ScenarioSet(magic=load_magic(self.schemas))
        if settings.scenario:
            self.use_scenario_file(scenario_file(settings.scenario))
        self.engine = Engine(self.store, self.clock, self.scenarios)
        self.engine.scenarios = NamespacedScenarios(self.scenarios, self.namespaces)  # type: ignore[assignment]
        self.dispatcher = Dispatcher(
            self.store,
            self.clock,
            RetryPolicy(
                attempts=settings.callback_attempts,
                base_delay=settings.callback_backoff,
                timeout=settings.callback_timeout,
                loopback_only=settings.callback_loopback_only,
                allow_link_local=settings.callback_allow_link_local,
            ),
            keep=settings.retention,
        )
        self.received = ReceivedCalls()
        self._announce_control_token()
        wire(self.engine.listeners, self.engine.inbound_listeners, self.dispatcher)
        self.providers: dict[str, Provider] = {name: cls(self.engine, self.schemas) for name, cls in REGISTRY.items()}
        self.dispatcher.renderers.update(self.providers)
        self._watcher: asyncio.Task | None = None
        self.stopping = False  # SIGTERM received: finishing what is in flight
        if self.store.shared:  # what other processes sharing the store change, this one follows
            self.store.on_shared["scenario"] = self._follow_scenario
            self.store.on_shared["reset"] = lambda _at: self._reset_here()
            self.store.on_shared["namespaces"] = self._follow_namespaces
            self.store.on_shared["received"] = lambda told: self.received.record(*told)
            self.store.on_shared["received_drop"] = self.received.drop
            self.store.on_shared["request_counted"] = self.engine.counted_elsewhere
            self.store.on_shared["callbacks_retry_failed"] = lambda _: self.dispatcher.retry_failed()
            self.store.on_shared["callback_retry"] = self._retry_callback_held_here

    def _announce_control_token(self) -> None:
        """Off loopback the control API needs a token: print a generated one, and let the
        dispatcher present it to this emulator's own built-in receiver."""
        settings = self.settings
        announce_control_token(settings)
        if token_required(settings):
            ports = {settings.port, *settings.provider_ports.values()}
            self.dispatcher.serve_own_receiver(settings.control_token, ports, settings.host)

    # -- scenarios --------------------------------------------------------------------------
    def use_scenario_file(self, path: str | Path, scenario: Scenario | None = None) -> Scenario:
        scenario = scenario or load_file(path, self.schemas)
        self.scenarios.active = scenario
        self.scenarios.path = Path(path)
        self.scenarios.mtime = Path(path).stat().st_mtime
        log.info("scenario %s loaded from %s (%d rules)", scenario.name, path, len(scenario.rules))
        self.store.notify({"type": "scenario"})  # the page's header shows the active scenario
        return scenario

    def use_scenario(self, scenario: Scenario | None, text: str | None = None) -> None:
        """Make `scenario` (loaded from `text`) the active one, in every process sharing the store."""
        self.scenarios.active = scenario
        self.scenarios.path = None
        self.scenarios.mtime = None
        self.store.notify({"type": "scenario"})
        self.store.publish("scenario", {"text": text, "source": scenario.source if scenario else None})

    def _retry_callback_held_here(self, callback_id: int) -> None:
        """Another process was asked to resend a callback this one holds."""
        if self.dispatcher.get(callback_id) is not None:
            try:
                self.dispatcher.retry(callback_id)
            except ValueError:  # in flight right now: it is being sent anyway
                pass

    def _follow_namespaces(self, shared: dict | None) -> None:
        try:
            self.namespaces.follow(shared, lambda text, source: load_text(text, self.schemas, source=source))
        except ScenarioError as exc:
            log.error("a namespace's scenario from another process not loaded:\n%s", exc)

    def _follow_scenario(self, shared: dict | None) -> None:
        if not shared or shared.get("text") is None:
            self.scenarios.active = None
        else:
            try:
                self.scenarios.active = load_text(shared["text"], self.schemas, source=shared.get("source") or "<shared>")
            except ScenarioError as exc:  # valid where it was loaded, so only a different version could say this
                log.error("scenario from another process not loaded:\n%s", exc)
                return
        self.scenarios.path = None
        self.scenarios.mtime = None
        self.store.notify({"type": "scenario"})

    async def _watch_scenario(self) -> None:
        """Reload the scenario file when it changes on disk (kept when the new one is invalid)."""
        while True:
            await asyncio.sleep(1.0)
            path = self.scenarios.path
            if path is None:
                continue
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if mtime != self.scenarios.mtime:
                self.scenarios.mtime = mtime
                try:
                    self.use_scenario_file(path, await load_file_async(path, self.schemas))
                except ScenarioError as exc:
                    log.error("scenario not reloaded, keeping the previous one:\n%s", exc)

    # -- lifecycle --------------------------------------------------------------------------
    def reset(self) -> None:
        self.store.reset()
        self._reset_here()
        self.store.publish("reset", self.clock.now())

    def _reset_here(self) -> None:
        """What a reset clears beside the store (another process's reset reaches here too)."""
        self.engine.reset()
        self.dispatcher.reset()
        self.namespaces.after_global_reset()
        self.received.clear()
        for provider in self.providers.values():
            provider.reset()

    async def start(self, app: web.Application | None = None) -> None:
        if self.store.shared and not self.store.opened:  # (start runs once per app and port)
            await self.store.open()  # a copy of what the store holds, then its change feed
            await self.clock.restore()
            if self.scenarios.active is None and self.store.shared_state("scenario"):
                self._follow_scenario(self.store.shared_state("scenario"))
            self._follow_namespaces(self.store.shared_state("namespaces"))
        await self.clock.start()
        await self.dispatcher.start()
        if self.settings.watch_scenario and self._watcher is None:
            self._watcher = asyncio.create_task(self._watch_scenario(), name="msgemu-scenario-watch")

    async def shutdown(self, app: web.Application | None = None) -> None:
        """Server going down: end long-lived answers (event streams, long polls) now; new
        ones answer at once (the store stays closed for them)."""
        self.stopping = True
        if not self.store.closing:
            self.store.notify({"type": "shutdown"})

    async def stop(self, app: web.Application | None = None) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        await self.clock.stop()
        await self.dispatcher.stop()
        if self.store.shared:
            await self.store.close()


def announce_control_token(settings: Settings) -> None:
    """Generate the control token when one is needed and none was given, and print it (once:
    with --workers the parent does it before starting the workers, which then have one)."""
    generated = ensure_control_token(settings)
    if generated:
        print(
            f"msgemu: /_emulator needs a control token (--host {settings.host}): {generated}\n"
            f"msgemu:   curl -H 'Authorization: Bearer {generated}' http://HOST:{settings.port}/_emulator/messages\n"
            f"msgemu:   inbox: http://HOST:{settings.port}/_emulator/ui?token={generated}",
            file=sys.stderr,
            flush=True,
        )


def new_store(settings: Settings) -> Store:
    """The in-memory store, or one on Valkey/Redis that several processes share."""
    if settings.store == "memory":
        return Store(settings.retention, settings.retention_bytes)
    from .core.redis_store import RedisStore

    return RedisStore(settings.store, settings.retention, settings.retention_bytes)


def new_clock(settings: Settings, store: Store) -> Clock:
    if not store.shared:
        return Clock(settings.clock)
    from .core.shared_clock import SharedClock

    return SharedClock(settings.clock, store)


RUNTIME_KEY = web.AppKey("msgemu_runtime", Runtime)

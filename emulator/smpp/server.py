"""The SMPP 3.4 front door: one TCP port for every provider that has schemas/<p>/smpp.yaml,
the provider chosen by the bind's system_id and password.

It turns engine events into deliver_sm: receipts of messages submitted over SMPP and the
subscriber's replies (POST /_emulator/inbound, scenario `inbound`). A receipt with no bound
receiver waits (bounded) for one to bind; nothing accepted is lost while the process lives."""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from decimal import Decimal
from typing import Any, Callable

from ..core.engine import Engine
from ..core.model import Account, Event, Message
from ..listener import Acceptor, Budget, listen
from .bridge import SMPP_KEY, Bridge
from .codec import STATUS
from .parts import Assembler
from .profiles import Profile, load_profiles, same_secret
from .receipts import mobile_originated, receipts, wanted
from .session import Outgoing, Session

log = logging.getLogger("msgemu.smpp")

MAX_SESSIONS = 1000
MAX_WAITING = 100_000  # deliver_sm kept per account while no receiver is bound
RETRY_AFTER = 10.0  # seconds before a deliver_sm the ESME answered "not now" is sent again
MAX_TRIES = 5


class SmppServer:
    def __init__(self, engine: Engine, price_of: Callable[[str, str, int], Decimal], profiles: dict[str, Profile] | None = None) -> None:
        self.engine = engine
        self.clock = engine.clock
        self.profiles = profiles if profiles is not None else load_profiles()
        self.bridge = Bridge(engine, price_of)
        self.parts = Assembler()
        self.sessions: set[Session] = set()
        self._receivers: dict[tuple[str, str], list[Session]] = {}
        self._turn: dict[tuple[str, str], int] = {}
        self._waiting: dict[tuple[str, str], deque[Outgoing]] = {}
        self._acceptor: Acceptor | None = None
        engine.listeners.append(self.on_transition)
        engine.inbound_listeners.append(self.on_inbound)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, host: str, port: int, budget: Budget | None = None) -> int:
        """Listen (within the process's connection budget, as HTTP: emulator/listener.py);
        returns the port (useful with port 0)."""

        def session_protocol() -> asyncio.StreamReaderProtocol:  # what asyncio.start_server makes
            return asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=2**17), self._accept)

        self._acceptor = await listen(host, port, session_protocol, budget or Budget(), f"smpp://{host}:{port}")
        return self._acceptor.port

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
        for session in list(self.sessions):
            session.close()
        if self._acceptor is not None:
            await self._acceptor.settled()
            self._acceptor = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.sessions) >= MAX_SESSIONS:
            writer.close()
            return
        session = Session(self, reader, writer)
        self.sessions.add(session)
        await session.run()

    def reset(self) -> None:
        self.parts.clear()
        self._waiting.clear()

    # -- binds ----------------------------------------------------------------------------------
    def authenticate(self, system_id: str, password: str) -> tuple[int, Profile | None, Account | None]:
        """ESME_RINVSYSID for an unknown system_id, ESME_RINVPASWD for a known one with another
        password; system_ids may repeat across providers, the password tells them apart."""
        known = False
        for profile in self.profiles.values():
            for account in self.engine.accounts(profile.provider):
                if profile.system_id(account) != system_id:
                    continue
                known = True
                expected = profile.password(account)
                if expected is not None and same_secret(password, expected):
                    return STATUS["ESME_ROK"], profile, account
        return (STATUS["ESME_RINVPASWD"] if known else STATUS["ESME_RINVSYSID"]), None, None

    def receiver_bound(self, session: Session) -> None:
        key = session.key
        assert key is not None
        self._receivers.setdefault(key, []).append(session)
        waiting = self._waiting.pop(key, None)
        while waiting:  # sent after the bind_resp, on the loop's next turn
            self._route(key, waiting.popleft())

    def _still_known(self, item: Outgoing) -> bool:
        """A deliver_sm about a message the store forgot (reset, retention) is not sent."""
        return self.engine.store.message(item.message_id) is not None

    def session_closed(self, session: Session, undelivered: list[Outgoing]) -> None:
        self.sessions.discard(session)
        key = session.key
        if key is None:
            return
        receivers = self._receivers.get(key, [])
        if session in receivers:
            receivers.remove(session)
        for item in undelivered:  # not acknowledged: offered to the next receiver
            if self._still_known(item):
                self._route(key, item)

    def retry_later(self, session: Session, item: Outgoing) -> None:
        """The ESME said "not now" to a deliver_sm: offer it again RETRY_AFTER seconds of the
        emulator's clock later, at most MAX_TRIES times."""
        key = session.key
        item.refusals += 1
        if key is None or item.refusals > MAX_TRIES:
            log.info("SMPP: deliver_sm refused %d times; dropped", item.refusals)
            return
        self.clock.call_later(RETRY_AFTER, lambda: self._route(key, item))

    def scenario_limits(self) -> dict[str, Any]:
        active = self.engine.scenarios.active
        return dict(getattr(active, "smpp", None) or {}) if active is not None else {}

    # -- what the SMSC sends --------------------------------------------------------------------
    def _route(self, key: tuple[str, str], item: Outgoing) -> None:
        """Send on the next turn of the loop: the answer to the request that caused it (a
        cancel_sm, say) goes out first."""
        try:
            asyncio.get_running_loop().call_soon(self._route_now, key, item)
        except RuntimeError:  # no loop running (unit use): now
            self._route_now(key, item)

    def _route_now(self, key: tuple[str, str], item: Outgoing) -> None:
        if not self._still_known(item):
            return
        receivers = [s for s in self._receivers.get(key, []) if not s.closed]
        if not receivers:
            waiting = self._waiting.setdefault(key, deque(maxlen=MAX_WAITING))
            if len(waiting) == MAX_WAITING:
                log.warning("SMPP: %d deliver_sm wait for %s/%s; dropping the oldest", MAX_WAITING, *key)
            waiting.append(item)
            return
        turn = self._turn.get(key, 0) % len(receivers)
        self._turn[key] = turn + 1
        receivers[turn].deliver(item)

    def on_transition(self, message: Message, event: Event) -> None:
        if SMPP_KEY not in message.meta:
            return
        kind = wanted(message, event)
        profile = self.profiles.get(message.provider)
        if kind is None or profile is None:
            return
        if kind == "final":
            message.meta[SMPP_KEY]["receipted"] = True
        for pdu in receipts(profile, message, event, kind):
            self._route((message.provider, message.account), Outgoing(message.id, pdu))

    def on_inbound(self, message: Message, reply: dict[str, Any]) -> None:
        """A subscriber's reply reaches bound receivers of the account that sent the message
        (waiting for one when the message itself came over SMPP)."""
        key = (message.provider, message.account)
        if message.provider not in self.profiles:
            return
        if SMPP_KEY in message.meta or self._receivers.get(key):
            self._route(key, Outgoing(message.id, mobile_originated(message, reply)))

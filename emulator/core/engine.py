"""submit() decides what happens to a request; the lifecycle then plays it out on the clock.

The engine asks the active scenario (and the built-in magic recipients) for a decision per
message, charges the account, stores what was accepted and schedules each channel's planned
statuses. A channel that ends in failure hands over to the next channel of the cascade; a
delivered one stops it. Every transition is an Event, and each Event is offered to the
provider's callback renderer through the dispatcher.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Protocol

from . import after_answer
from .clock import Clock
from .model import Account, Attempt, Event, Message, Rejection, Status, Transition, ZERO, digits
from .scenario import Action, MatchContext, ScenarioSet, Step
from .store import Store

log = logging.getLogger("msgemu.engine")

_NO_KEYS = itertools.repeat(())  # a submission that names no index keys: none for each message
DEFAULT_PLAN = (Step(after=1.0, status=Status.SENT), Step(after=2.0, status=Status.DELIVERED))
INSUFFICIENT_BALANCE = "insufficient_balance"


@dataclass
class Submission:
    """What a provider asks core to send: drafts of messages plus the context rules match on."""

    provider: str
    account: Account
    messages: list[Message]
    atomic: bool = True  # True: one bad message rejects the whole request (no per-item results)
    operation: str = "send"
    charge: bool = True  # False for simulations and price-only requests
    store: bool = True
    # per message (in order): the provider's own ids an accepted one is found by besides its
    # provider_id (engine.find_message), indexed as it is stored: no index_message call each
    index_keys: list[tuple[str, ...]] | None = None


@dataclass
class Outcome:
    """The decision for one message: accepted (and planned) or rejected with an error key."""

    message: Message
    error: str | None = None
    reason: Rejection | None = None  # the scenario/magic rule or balance check that refused it

    @property
    def accepted(self) -> bool:
        return self.error is None


@dataclass
class Decision:
    """The answer to a submission. `action` is accept, reject, reply (raw) or fault."""

    action: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None  # request-level error key (atomic rejection)
    raw: dict[str, Any] | None = None  # scenario's raw reply: status, body, headers
    fault: dict[str, Any] | None = None  # scenario's fault: delay, status, reset, hang, malformed
    total_cost: Decimal = ZERO
    reason: Rejection | None = None  # why the request as a whole was refused or answered raw

    @property
    def accepted(self) -> list[Message]:
        return [o.message for o in self.outcomes if o.accepted]

    @property
    def first_reason(self) -> Rejection | None:
        """The request-level reason, else the first refused message's (per-item answers)."""
        return self.reason or next((o.reason for o in self.outcomes if o.reason), None)


class TransitionListener(Protocol):
    def __call__(self, message: Message, event: Event) -> Any: ...


class Engine:
    def __init__(self, store: Store, clock: Clock, scenarios: ScenarioSet) -> None:
        self.store = store
        self.clock = clock
        self.scenarios = scenarios
        clock.on_timer = self.fire
        # a store that adds a message its own way (the shared one records it) gets it whole;
        # the memory store's filing of a send's messages follows the answer (_accept, _begin)
        self._files_after_answer = type(store).add_message is Store.add_message
        self._tells = type(store).tell is not Store.tell  # the memory store has no one to tell: no call a send
        self.listeners: list[TransitionListener] = []
        self.inbound_listeners: list[Callable[[Message, dict[str, Any]], Any]] = []
        self._request_counts: dict[str, int] = {}
        self._counted_for: object = None  # the active scenario the counts belong to

    # -- submitting -------------------------------------------------------------------------
    def submit(self, submission: Submission) -> Decision:
        """Decide, charge, store and plan. Synchronous: nothing here waits on the network."""
        now = self.clock.now()
        n = self._count_request(submission.provider)
        outcomes: list[Outcome] = []
        actions: list[Action | None] = []
        fault: dict[str, Any] | None = None
        scenarios = self.scenarios
        for message in submission.messages:
            message.created_at = now
            if scenarios.silent_for(submission.provider, submission.account.login, message.recipient):
                message.rule = None  # no rule could match: what decide() would have said, without its context
                actions.append(None)
                outcomes.append(Outcome(message))
                continue
            action = scenarios.decide(self._context(submission, message, n))
            message.rule = _rule_origin(action, message)  # which rule decided (null: none matched)
            if action and action.kind == "fault" and _fault_accepts(action.fault):
                # delay / malformed: processed as usual, only the HTTP response is altered
                fault, action = action.fault, None
            elif action and action.kind in ("fault", "raw"):
                # a fault or raw reply speaks for the whole HTTP request: nothing is accepted
                reason = _scenario_reason(None, action, message)
                return Decision(action=action.kind, fault=action.fault, raw=action.raw, reason=reason)
            actions.append(action)
            if action and action.kind == "reject":
                outcomes.append(Outcome(message, error=action.error, reason=_scenario_reason(action.error, action, message)))
            else:
                outcomes.append(Outcome(message))

        if submission.atomic:
            for refused in outcomes:  # the first refused message refuses them all
                if refused.error:
                    return Decision(action="reject", outcomes=outcomes, error=refused.error, fault=fault, reason=refused.reason)

        total = ZERO  # Decimals are immutable: one zero for every submission
        if submission.charge:
            balance = submission.account.balance
            for outcome in outcomes:
                if outcome.error:
                    continue
                if total + outcome.message.cost > balance:
                    reason = Rejection(INSUFFICIENT_BALANCE, "balance", detail=f"balance {balance} < cost {total + outcome.message.cost}")
                    if submission.atomic:
                        return Decision(action="reject", outcomes=outcomes, error=INSUFFICIENT_BALANCE, fault=fault, reason=reason)
                    outcome.error, outcome.reason = INSUFFICIENT_BALANCE, reason
                    continue
                total += outcome.message.cost
            self.store.charge(submission.account, total)

        decision = Decision(action="accept", outcomes=outcomes, fault=fault, total_cost=total)
        if submission.store:
            # real time, in a request that holds work until its answer: the accepted messages'
            # events and first starts follow the answer, in the order they would have come
            hold = after_answer.open_hold() if self.clock.mode == "real" else None
            held: list[tuple[Message, float, bool]] | None = [] if hold is not None else None
            for outcome, action, keys in zip(outcomes, actions, submission.index_keys or _NO_KEYS):
                if outcome.error is None:  # Outcome.accepted, without a property call a message
                    self._accept(outcome.message, action, held, keys)
            if hold is not None and held:
                hold.add(self._begin, (held,))
        return decision

    @staticmethod
    def _context(submission: Submission, message: Message, nth: int) -> MatchContext:
        return MatchContext(
            provider=submission.provider,
            account=submission.account.login,
            channel=message.attempts[0].channel if message.attempts else "",
            channels=[a.channel for a in message.attempts] if len(message.attempts) != 1 else [message.attempts[0].channel],
            recipient=message.recipient,
            text=message.text,
            nth=nth,
            operation=submission.operation,
        )

    def _count_request(self, provider: str) -> int:
        """The request's number for `nth`: counted per provider from the moment the active
        scenario was loaded (or from the last reset), so a scenario loaded after traffic fires."""
        self._count(provider)
        if self._tells:
            self.store.tell("request_counted", provider)  # processes sharing a store count them all
        return self._request_counts[provider]

    def _count(self, provider: str) -> None:
        if self.scenarios.active is not self._counted_for:
            self._counted_for = self.scenarios.active
            self._request_counts.clear()
        self._request_counts[provider] = self._request_counts.get(provider, 0) + 1

    def counted_elsewhere(self, provider: str) -> None:
        """Another process sharing the store counted a request (its `nth` is everyone's)."""
        self._count(provider)

    def reset(self) -> None:
        self._request_counts.clear()
        self.clock.clear()

    # -- lifecycle --------------------------------------------------------------------------
    def _accept(self, message: Message, action: Action | None, held: list[tuple[Message, float, bool]] | None = None,
                keys: tuple[str, ...] = ()) -> None:
        planned = message.plans
        if action and action.kind == "deliver":
            plans = action.plans
            for attempt in message.attempts:
                planned[attempt.channel] = plans.get(attempt.channel) or plans.get("*") or DEFAULT_PLAN
        else:  # no plan of a scenario (the usual send): every channel the default one
            for attempt in message.attempts:
                planned[attempt.channel] = DEFAULT_PLAN
        if held is not None and self._files_after_answer:
            self.store.hold_message(message, keys)  # findable now; filed by _begin, right after the answer
        else:
            self.store.add_message(message, keys)
        first = message.attempts[0]
        start = message.scheduled_at or message.created_at
        if held is None:
            self._transition(message, first, Status.ACCEPTED)
            self.clock.schedule(start, ("start", message.id, 0))
        else:
            now = self._step(first, Status.ACCEPTED)  # what the answer may read now; its event follows the answer
            starts_now = start <= now
            held.append((message, now, starts_now))
            if not starts_now:  # a later start keeps its timer (due after the held work has run)
                self.clock.schedule(start, ("start", message.id, 0))
        if action and action.inbound:
            for reply in action.inbound:
                self.clock.schedule(message.created_at + reply.after, ("inbound", message.id, reply.text))

    def _begin(self, accepted: list[tuple[Message, float, bool]]) -> None:
        """The messages a request got accepted, once its answer is written: their ACCEPTED
        events (their status was set before the answer), then the first channel of each due
        now starts, as the start timers due at once would have started them on the next loop
        turn: the same events in the same order as when the events came during the request.
        First each is filed in the store (Store.file_message), as add_message would have."""
        if self._files_after_answer:
            store = self.store
            for message, _, _ in accepted:
                if store.message(message.id) is message:  # not reset or forgotten meanwhile (a delayed answer)
                    store.file_message(message)
        for message, accepted_at, _ in accepted:
            self._announce(message, message.attempts[0], Status.ACCEPTED, accepted_at, None)
        for message, _, starts_now in accepted:
            if starts_now and self.store.message(message.id) is message:  # not reset or evicted meanwhile
                self._start_attempt(message, 0)

    def fire(self, kind: str, message_id: str, *args: Any) -> None:
        """A scheduled transition is due. Timers are data (kind, message id, arguments), not
        closures, so a store shared by several processes can keep them and hand each to exactly
        one process; a message the store no longer has (evicted, reset) has nothing left to do."""
        message = self.store.message(message_id)
        if message is None:
            return
        wait = self.store.retry_after()
        if wait:  # nothing done yet: the same transition, a little later (here: the store is away)
            self.clock.schedule(self.clock.now() + wait, (kind, message_id, *args))
            return
        if kind == "step":  # the most frequent: every planned status
            index, step_no = args
            self._apply_step(message, index, message.plans[message.attempts[index].channel][step_no])
        elif kind == "start":
            self._start_attempt(message, args[0])
        elif kind == "expire":
            self._expire(message, args[0])
        elif kind == "inbound":
            self.receive_inbound(message, args[0])
        else:
            log.error("unknown timer %r for message %s", kind, message_id)

    def _start_attempt(self, message: Message, index: int) -> None:
        if index >= len(message.attempts):
            return
        attempt = message.attempts[index]
        if attempt.status is not None and attempt.status.is_final:
            return  # cancelled before it started
        if attempt.status is None:
            self._transition(message, attempt, Status.ACCEPTED)
        self._transition(message, attempt, Status.QUEUED)
        started = self.clock.now()
        plan = message.plans[attempt.channel]
        for step_no, step in enumerate(plan):
            self.clock.schedule(started + step.after, ("step", message.id, index, step_no))
        ttl = attempt.content.get("_ttl")
        if ttl:
            self.clock.schedule(started + float(ttl), ("expire", message.id, index))

    def _apply_step(self, message: Message, index: int, step: Step) -> None:
        attempt = message.attempts[index]
        if attempt.status is None or attempt.status.is_final:  # not started, or done (READ is final)
            return
        if message.succeeded and step.status is not Status.READ:  # delivered: only a read may follow
            return
        self._transition(message, attempt, step.status, step.error)
        if step.status.is_failure:
            self._start_attempt(message, index + 1)

    def _expire(self, message: Message, index: int) -> None:
        attempt = message.attempts[index]
        if attempt.status == Status.DELIVERED and attempt.content.get("_unread_at_ttl"):
            # the provider reports reads on this channel: delivered but never read by its ttl
            self._transition(message, attempt, Status.UNREAD)
            return
        if attempt.status is None or attempt.status.is_final or attempt.status.is_success:
            return
        self._transition(message, attempt, Status.EXPIRED)
        self._start_attempt(message, index + 1)

    def cancel(self, message: Message) -> bool:
        """Stop a message that is not final yet (provider 'stop'/'delete' operations)."""
        if message.status.is_success or message.status.is_final:
            return False
        attempt = message.current
        if attempt.status is not None and (attempt.status.is_final or attempt.status.is_success):
            return False
        self._transition(message, attempt, Status.CANCELLED)
        for later in message.attempts[message.attempts.index(attempt) + 1 :]:
            later.status = Status.CANCELLED
        self.store.changed(message)
        return True

    def _transition(self, message: Message, attempt: Attempt, status: Status, error: str | None = None) -> None:
        self._announce(message, attempt, status, self._step(attempt, status, error), error)

    def _step(self, attempt: Attempt, status: Status, error: str | None = None) -> float:
        """A channel reaches a status now (its history says when); the time, for its event."""
        now = self.clock.now()
        attempt.status = status
        if error is not None:
            attempt.error = error
        attempt.history.append(Transition(now, status, error))
        return now

    def _announce(self, message: Message, attempt: Attempt, status: Status, now: float, error: str | None) -> None:
        """A transition's event, stored and offered to the listeners (callbacks, SMPP receipts)."""
        event = self.store.add_event(Event(message.id, attempt.channel, status, now, error))
        for listener in self.listeners:
            try:
                listener(message, event)
            except Exception:
                log.exception("transition listener failed")

    # -- subscriber replies -----------------------------------------------------------------
    def receive_inbound(self, message: Message, text: str) -> dict[str, Any]:
        """The subscriber answered `message`; STOP-like words opt them out of the account."""
        reply = {"text": text, "at": self.clock.now(), "from": message.recipient}
        message.inbound.append(reply)
        if text.strip().upper() in ("STOP", "STOP SMS", "UNSUBSCRIBE", "СТОП"):
            self.store.optout_set(message.provider, message.account).add(digits(message.recipient))
            reply["optout"] = True
        self.store.changed(message)
        for listener in self.inbound_listeners:
            try:
                listener(message, reply)
            except Exception:
                log.exception("inbound listener failed")
        self.store.notify({"type": "inbound", "message": message.id})
        return reply

    def is_opted_out(self, provider: str, account: str, recipient: str) -> bool:
        return digits(recipient) in self.store.optout_set(provider, account)

    # -- lookups for providers --------------------------------------------------------------
    def find_message(self, provider: str, account: str, key: Any) -> Message | None:
        return self.store.find_message(provider, account, str(key))

    def index_message(self, message: Message, key: Any) -> None:
        self.store.index_message(message, str(key))

    def sent_messages(self, provider: str, account: str) -> list[Message]:
        """The account's messages the store still keeps, oldest first."""
        return self.store.account_messages(provider, account)

    def accounts(self, provider: str) -> list[Account]:
        return self.store.provider_accounts(provider)

    def account(self, provider: str, login: str) -> Account | None:
        return self.store.account(provider, login)

    def charge(self, account: Account, amount: Decimal) -> None:
        """Move money off (or, negative, onto) an account: through the store, which may be shared."""
        self.store.charge(account, amount)

    def directory(self, provider: str, account: str, kind: str):
        return self.store.directory(provider, account, kind)

    def optouts(self, provider: str, account: str) -> set[str]:
        return self.store.optout_set(provider, account)

    def seen(self, provider: str, account: str, key: str, window: float) -> bool:
        """True when `key` was already seen within `window` seconds (and remember it now)."""
        now = self.clock.now()
        index = (provider, account, key)
        last = self.store.seen_at(index)
        if last is not None and now - last < window:
            return True
        self.store.remember(index, now)
        return False


def _rule_origin(action: Action | None, message: Message) -> dict[str, Any] | None:
    """The scenario or magic rule that decided `message` ({source, index, name}, plus the recipient
    for magic ones): what a rejected request's `reason.scenario` and an accepted message's `rule` hold."""
    return action.origin(message.recipient) if action is not None else None


def _scenario_reason(key: str | None, action: Action, message: Message) -> Rejection:
    return Rejection(key, "magic" if action.magic else "scenario", scenario=_rule_origin(action, message))


def _fault_accepts(fault: dict[str, Any] | None) -> bool:
    return bool(fault) and fault.get("type") in ("delay", "malformed")

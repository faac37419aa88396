"""The /_emulator control API: what tests and QA use to look inside and steer the emulator."""
from __future__ import annotations

import asyncio
import os
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from ..core.model import Status
from ..core.scenario import MAX_SCENARIO_BYTES, ScenarioError, load_text_async
from ..core.store import message_matches
from ..providers.base import NotJSON, parse_json
from ..runtime import RUNTIME_KEY, Runtime
from ..core.otp import extract_otp
from ..core.validation import schemas_root
from . import filters
from .scope import in_scope

routes = web.RouteTableDef()


def _runtime(request: web.Request) -> Runtime:
    return request.config_dict[RUNTIME_KEY]


def problem(status: int, title: str, **extra: Any) -> web.Response:
    """Control API errors: one small JSON shape everywhere ({"error": ..., ...})."""
    return web.json_response({"error": title, **extra}, status=status)


async def _json_body(request: web.Request) -> Any:
    """The body as strict JSON (bounded nesting, finite numbers, no lone surrogates, no
    5,000-digit integers): anything else is a 400, never a 500."""
    try:
        return parse_json(await request.read())
    except NotJSON as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body is not valid JSON", "reason": str(exc)}), content_type="application/json"
        ) from None


@routes.get("/_emulator/health")
async def health(request: web.Request) -> web.Response:
    rt = _runtime(request)
    return web.json_response(
        {
            "status": "ok",
            "clock": {"mode": rt.clock.mode, "now": rt.clock.now(), "pending_timers": await rt.clock.pending_count()},
            "providers": sorted(rt.providers),
            "scenario": rt.scenarios.active.public() if rt.scenarios.active else None,
            "messages": len(rt.store.messages),
            "requests": len(rt.store.requests),
            "waiting": rt.store.waiting,
            "retention": rt.store.usage(),
            # which process answered, and what it shares: with --workers each has its own pid
            "process": {"pid": os.getpid(), "store": "redis" if rt.store.shared else "memory"},
            **({"shared_store": rt.store.outage.state()} if rt.store.shared else {}),  # reachable or not, since when
        }
    )


@routes.get("/_emulator/openapi.yaml")
async def openapi_document(request: web.Request) -> web.FileResponse:
    """This API's own description (shipped in the package with the schemas)."""
    return web.FileResponse(schemas_root() / "control-api.openapi.yaml", headers={"Content-Type": "application/yaml"})


MESSAGE_FILTERS = ("provider", "phone", "channel", "status", "account")


def _filters(request: web.Request) -> dict[str, str]:
    return {k: request.query[k] for k in MESSAGE_FILTERS if k in request.query}


def _limit(request: web.Request, default: int = 100) -> int:
    try:
        return max(1, min(10_000, int(request.query.get("limit", default))))
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": "limit must be an integer"}), content_type="application/json")


@routes.get("/_emulator/messages")
async def list_messages(request: web.Request) -> web.Response:
    found = await _matching_messages(request)
    limit = _limit(request)
    return web.json_response({"count": len(found), "messages": [m.public() for m in found[-limit:]]})


@routes.get("/_emulator/messages/count")
async def count_messages(request: web.Request) -> web.Response:
    """How many messages match the filters of GET /_emulator/messages (verification)."""
    return web.json_response({"count": len(await _matching_messages(request))})


async def _matching_messages(request: web.Request) -> list:
    """The messages of the namespace asked for that pass every filter given (400 on a bad status)."""
    status = request.query.get("status")
    if status and status not in {s.value for s in Status}:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "unknown status", "allowed": [s.value for s in Status]}), content_type="application/json"
        )
    found = in_scope(request, await _runtime(request).store.select_messages(**_filters(request)))
    return await _verified(request, found, filters.message_predicate)


async def _verified(request: web.Request, items: list, predicate_of) -> list:
    """`items` narrowed by the verification filters of control/filters.py (400 when unreadable)."""
    try:
        keep = predicate_of(request.query, _runtime(request).store)
    except filters.FilterError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"bad {exc.parameter} filter", "parameter": exc.parameter, "problem": exc.problem}),
            content_type="application/json",
        )
    return await filters.select(items, keep)


@routes.get("/_emulator/messages/wait")
async def wait_message(request: web.Request) -> web.Response:
    """Long-poll until a message for `phone` (and the other filters) exists (with `new=1`: one
    that was not there when the wait began). Woken only by changes to that phone, so pending
    waits cost nothing to the rest of the traffic."""
    rt = _runtime(request)
    filters = _filters(request)
    if "phone" not in filters:
        return problem(400, "phone is required")
    try:
        timeout = float(request.query.get("timeout", 10))
    except ValueError:
        timeout = float("nan")
    if not 0 <= timeout <= 300:  # also refuses nan and inf
        return problem(400, "timeout must be a number of seconds from 0 to 300")
    phone = filters["phone"]
    wanted = dict(filters)
    existing = in_scope(request, rt.store.query_messages(**filters))  # an unknown namespace: 404 now
    if request.query.get("new") not in ("1", "true") and existing:
        return _found(existing[-1])
    new_only = request.query.get("new") in ("1", "true")
    known = {m.id for m in existing}
    evicted_before = rt.store.evicted_for_phone(phone)
    queue = rt.store.watch_phone(phone)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if rt.store.evicted_for_phone(phone) > evicted_before or (evicted_before and not new_only):
                    return problem(
                        410, "the message was evicted from the store (retention cap)",
                        filters=filters, retention=rt.store.usage(),
                    )
                return problem(404, "no message arrived in time", filters=filters, timeout=timeout)
            try:
                message = await asyncio.wait_for(queue.get(), timeout=remaining)
            except asyncio.TimeoutError:
                continue
            if message is None:
                return problem(503, "emulator shutting down")
            if message.id not in known and message_matches(message, wanted) and in_scope(request, [message]):
                if rt.store.message(message.id) is None:
                    return problem(410, "the message was evicted from the store (retention cap)", id=message.id)
                return _found(message)
    finally:
        rt.store.unwatch_phone(phone, queue)


def _found(message) -> web.Response:
    return web.json_response({**message.public(), "otp": message.otp or extract_otp(message.text)})


@routes.get("/_emulator/messages/{id}")
async def get_message(request: web.Request) -> web.Response:
    rt = _runtime(request)
    message_id = request.match_info["id"]
    message = rt.store.message(message_id)
    if message is not None and not in_scope(request, [message]):
        return problem(404, "no such message", id=message_id)  # another namespace's: not here
    if message is None:
        if rt.store.was_evicted(message_id):
            return problem(410, "message evicted from the store (retention cap)", id=message_id, retention=rt.store.usage())
        return problem(404, "no such message", id=message_id)
    events = [e.public() for e in rt.store.events_of(message.id)]
    callbacks = rt.store.callbacks_of(message.id)
    return web.json_response({**message.public(), "events": events, "callbacks": callbacks})


@routes.get("/_emulator/requests")
async def list_requests(request: web.Request) -> web.Response:
    records = await _matching_requests(request)
    limit = _limit(request)
    return web.json_response({"count": len(records), "requests": [r.public() for r in records[-limit:]]})


@routes.get("/_emulator/requests/count")
async def count_requests(request: web.Request) -> web.Response:
    """How many journaled requests match the filters of GET /_emulator/requests."""
    return web.json_response({"count": len(await _matching_requests(request))})


async def _matching_requests(request: web.Request) -> list:
    """The journaled requests of the namespace asked for that pass every filter given."""
    records = in_scope(request, _runtime(request).store.requests)
    for key in ("provider", "outcome"):
        if key in request.query:
            records = [r for r in records if getattr(r, key) == request.query[key]]
    return await _verified(request, records, filters.request_predicate)


@routes.get("/_emulator/events")
async def list_events(request: web.Request) -> web.Response:
    rt = _runtime(request)
    if "message_id" in request.query:  # indexed: a message's events are kept with it
        events = in_scope(request, rt.store.events_of(request.query["message_id"]))
    else:
        events = in_scope(request, rt.store.events)
    return web.json_response({"count": len(events), "events": [e.public() for e in events[-_limit(request, 1000):]]})


@routes.get("/_emulator/callbacks")
async def list_callbacks(request: web.Request) -> web.Response:
    rt = _runtime(request)
    attempts = in_scope(request, rt.store.callbacks)
    for key in ("provider", "message_id", "url", "outcome"):
        if key in request.query:
            attempts = [a for a in attempts if a.get(key) == request.query[key]]
    if "callback_id" in request.query:
        attempts = [a for a in attempts if str(a.get("callback_id")) == request.query["callback_id"]]
    return web.json_response({"count": len(attempts), "callbacks": attempts[-_limit(request, 1000):]})


@routes.get("/_emulator/callbacks/failed")
async def failed_callbacks(request: web.Request) -> web.Response:
    """Callbacks given up (every try failed) or refused by the target policy: what retry resends."""
    rt = _runtime(request)
    failed = [d.public() for d in rt.dispatcher.failed()] + _failed_elsewhere(rt)
    return web.json_response({"count": len(failed), "callbacks": failed[-_limit(request, 1000):]})


def _failed_elsewhere(rt: Runtime, states: tuple[str, ...] = ("gave_up", "refused")) -> list[dict[str, Any]]:
    """With a shared store: callbacks another process started and gave up on (or refused), read
    from the shared journal of attempts (their last attempt says how they stand)."""
    if not rt.store.shared:
        return []
    last: dict[int, dict[str, Any]] = {}
    for attempt in rt.store.callbacks:
        last[attempt["callback_id"]] = attempt
    return [
        _attempt_public(attempt)
        for callback_id, attempt in last.items()
        if attempt["outcome"] in states and rt.dispatcher.get(callback_id) is None
    ]


def _held_elsewhere(rt: Runtime, callback_id: str) -> dict[str, Any] | None:
    """The last journaled attempt of a callback another process of a shared store holds."""
    if not rt.store.shared or not callback_id.isdigit():
        return None
    return next((a for a in reversed(rt.store.callbacks) if a["callback_id"] == int(callback_id)), None)


def _attempt_public(attempt: dict[str, Any], state: str | None = None) -> dict[str, Any]:
    """What Delivery.public() says, from a journaled attempt (a callback of another process)."""
    return {
        "callback_id": attempt["callback_id"],
        "message_id": attempt["message_id"],
        "provider": attempt["provider"],
        "kind": attempt["kind"],
        "url": attempt["url"],
        "state": state or attempt["outcome"],
        "tries": attempt["attempt"],
        "last_error": attempt["error"],
    }


@routes.post("/_emulator/callbacks/retry")
async def retry_failed_callbacks(request: web.Request) -> web.Response:
    """Resend every callback that was given up, each with a fresh retry ladder."""
    rt = _runtime(request)
    elsewhere = [{**c, "state": "queued elsewhere"} for c in _failed_elsewhere(rt, ("gave_up",))]
    resent = [d.public() for d in rt.dispatcher.retry_failed()]
    rt.store.tell("callbacks_retry_failed", None)  # each process resends the ones it holds
    return web.json_response({"count": len(resent) + len(elsewhere), "callbacks": resent + elsewhere}, status=202)


@routes.post("/_emulator/callbacks/{id}/retry")
async def retry_callback(request: web.Request) -> web.Response:
    """Resend one callback (its `callback_id`): given up, refused, or waiting for its next try."""
    rt = _runtime(request)
    try:
        callback_id = int(request.match_info["id"])
        delivery = rt.dispatcher.retry(callback_id)
    except (KeyError, ValueError) as exc:
        known = request.match_info["id"].isdigit() and rt.dispatcher.get(int(request.match_info["id"])) is not None
        if not known:
            held = _held_elsewhere(rt, request.match_info["id"])
            if held is not None:  # another process holds it: it resends it (retry is asynchronous anyway)
                rt.store.tell("callback_retry", held["callback_id"])
                return web.json_response(_attempt_public(held, "queued elsewhere"), status=202)
            return problem(404, "no such callback", id=request.match_info["id"])
        return problem(409, str(exc), id=request.match_info["id"])
    return web.json_response(delivery.public(), status=202)


@routes.post("/_emulator/reset")
async def reset(request: web.Request) -> web.Response:
    rt = _runtime(request)
    rt.reset()
    return web.json_response({"status": "reset"})


@routes.get("/_emulator/accounts")
async def list_accounts(request: web.Request) -> web.Response:
    rt = _runtime(request)
    return web.json_response({p: [a.public() for a in accs] for p, accs in rt.store.accounts.items()})


@routes.get("/_emulator/accounts/{provider}")
async def get_accounts(request: web.Request) -> web.Response:
    rt = _runtime(request)
    provider = request.match_info["provider"]
    if provider not in rt.store.accounts:
        return problem(404, "unknown provider", provider=provider)
    return web.json_response([a.public() for a in rt.store.accounts[provider]])


MAX_BALANCE = Decimal(10) ** 12  # a float renders it exactly enough; NaN/Infinity never reach a provider's JSON


@routes.patch("/_emulator/accounts/{provider}")
async def patch_account(request: web.Request) -> web.Response:
    """Change balance / currency / credentials of a provider's account (the first, or `login`)."""
    rt = _runtime(request)
    provider = request.match_info["provider"]
    accounts = rt.store.accounts.get(provider)
    if not accounts:
        return problem(404, "unknown provider", provider=provider)
    body = await _json_body(request)
    if not isinstance(body, dict):
        return problem(400, "body must be a JSON object")
    unknown = set(body) - {"login", "balance", "currency", "credentials", "new_login"}
    if unknown:
        return problem(400, "unknown fields", fields=sorted(unknown))
    account = accounts[0]
    if "login" in body:
        account = next((a for a in accounts if a.login == body["login"]), None)
        if account is None:
            return problem(404, "no account with that login", login=body["login"])
    old_login = account.login
    if "balance" in body:
        try:
            if isinstance(body["balance"], bool) or not isinstance(body["balance"], (int, float, str)):
                raise InvalidOperation
            balance = Decimal(str(body["balance"]))
            if not balance.is_finite() or abs(balance) >= MAX_BALANCE:
                raise InvalidOperation
            account.balance = balance
        except (InvalidOperation, ValueError):
            return problem(400, f"balance must be a finite number below {MAX_BALANCE:,} in absolute value")
    if "currency" in body:
        if not isinstance(body["currency"], str):
            return problem(400, "currency must be a string")
        account.currency = body["currency"]
    if "credentials" in body:
        creds = body["credentials"]
        if not isinstance(creds, dict) or not all(isinstance(v, str) for v in creds.values()):
            return problem(400, "credentials must be an object of strings")
        account.secrets.update(creds)
    if "new_login" in body:
        if not isinstance(body["new_login"], str) or not body["new_login"]:
            return problem(400, "new_login must be a non-empty string")
        account.login = body["new_login"]
    rt.store.account_changed(account, old_login, balance_set="balance" in body)
    return web.json_response(account.public())


# -- clock ----------------------------------------------------------------------------------
@routes.get("/_emulator/clock")
async def get_clock(request: web.Request) -> web.Response:
    rt = _runtime(request)
    return web.json_response({"mode": rt.clock.mode, "now": rt.clock.now(), "pending_timers": await rt.clock.pending_count()})


ADVANCE_WAIT = 2.0  # wall-clock seconds an advance waits at most for callbacks in flight
ADVANCE_WAIT_LIMIT = 60.0


def _seconds(value: Any, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= limit:
        return None
    return float(value)


@routes.post("/_emulator/clock/advance")
async def advance_clock(request: web.Request) -> web.Response:
    """Move virtual time on by `seconds`, firing everything due on the way. Callbacks due are
    sent concurrently; the answer waits for them `wait` seconds at most (default 2) and says
    how many were delivered, failed, given up or are still in flight."""
    rt = _runtime(request)
    body = await _json_body(request)
    body = body if isinstance(body, dict) else {}
    seconds = _seconds(body.get("seconds"), 10 * 365 * 86400)
    if seconds is None:
        return problem(400, "seconds must be a number from 0 to 315360000")
    wait = _seconds(body.get("wait", ADVANCE_WAIT), ADVANCE_WAIT_LIMIT)
    if wait is None:
        return problem(400, f"wait must be a number of seconds from 0 to {ADVANCE_WAIT_LIMIT:g}")
    before = dict(rt.dispatcher.stats)
    fired = await rt.clock.advance(seconds, wait=wait)
    after = rt.dispatcher.stats
    callbacks = {key: after[key] - before.get(key, 0) for key in ("delivered", "failed", "gave_up", "refused")}
    callbacks["in_flight"] = rt.dispatcher.in_flight
    return web.json_response(
        {"mode": rt.clock.mode, "now": rt.clock.now(), "fired": fired, "pending_timers": await rt.clock.pending_count(), "callbacks": callbacks}
    )


# -- scenarios ------------------------------------------------------------------------------
@routes.get("/_emulator/scenario")
async def get_scenario(request: web.Request) -> web.Response:
    rt = _runtime(request)
    active = rt.scenarios.active
    return web.json_response({"active": active.public() if active else None})


SCENARIO_SOURCE = "<PUT /_emulator/scenario>"


@routes.put("/_emulator/scenario")
async def put_scenario(request: web.Request) -> web.Response:
    """Replace the active scenario with the YAML (or JSON) body; invalid ones are refused."""
    rt = _runtime(request)
    raw = await request.read()
    try:
        if len(raw) > MAX_SCENARIO_BYTES:  # checked before decoding, parsing or expanding anything
            raise ScenarioError(SCENARIO_SOURCE, [(None, f"scenario too large: {len(raw):,} bytes (at most {MAX_SCENARIO_BYTES:,})")])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ScenarioError(SCENARIO_SOURCE, [(None, "not UTF-8 text")]) from None
        scenario = await load_text_async(text, rt.schemas, source=SCENARIO_SOURCE)
    except ScenarioError as exc:
        return problem(422, "invalid scenario", problems=[{"line": line, "message": msg} for line, msg in exc.problems])
    rt.use_scenario(scenario, text)
    return web.json_response({"active": scenario.public()})


@routes.delete("/_emulator/scenario")
async def delete_scenario(request: web.Request) -> web.Response:
    _runtime(request).use_scenario(None)
    return web.json_response({"active": None})


@routes.get("/_emulator/optouts")
async def list_optouts(request: web.Request) -> web.Response:
    """Recipients opted out (STOP replies, provider blacklists), per provider and account."""
    rt = _runtime(request)
    rows = [
        {"provider": provider, "account": account.login, "recipient": recipient}
        for provider, accounts in sorted(rt.store.accounts.items())
        for account in accounts
        for recipient in sorted(rt.engine.optouts(provider, account.login))
    ]
    return web.json_response({"count": len(rows), "optouts": rows})


@routes.get("/_emulator/magic")
async def magic(request: web.Request) -> web.Response:
    """The built-in magic recipients, as a table."""
    rt = _runtime(request)
    rows = []
    for rule in rt.scenarios.magic.rules if rt.scenarios.magic else []:
        action = rule.action
        rows.append(
            {
                "name": rule.name,
                "match": rule.match,
                "action": action.kind,
                "error": action.error,
                "deliver": {ch: [{"after": s.after, "status": s.status.value, "error": s.error} for s in steps] for ch, steps in action.plans.items()},
            }
        )
    provider = request.query.get("provider")
    if provider:
        rows = [r for r in rows if provider in _providers_of(r["match"])]
    return web.json_response({"count": len(rows), "magic": rows})


def _providers_of(match: dict[str, Any]) -> list[str]:
    value = match.get("provider", [])
    return value if isinstance(value, list) else [value]


# -- subscriber replies ---------------------------------------------------------------------
@routes.post("/_emulator/inbound")
async def inbound(request: web.Request) -> web.Response:
    """Simulate the subscriber answering a message: {"message_id"| "phone" (+provider), "text"}."""
    rt = _runtime(request)
    body = await _json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return problem(400, "text is required")
    message = None
    if "message_id" in body:
        message = rt.store.message(str(body["message_id"]))
    elif "phone" in body:
        found = in_scope(request, rt.store.query_messages(phone=str(body["phone"]), provider=body.get("provider")))
        message = found[-1] if found else None
    else:
        return problem(400, "message_id or phone is required")
    if message is None:
        return problem(404, "no message to reply to")
    reply = rt.engine.receive_inbound(message, body["text"])
    return web.json_response({"message_id": message.id, **reply})


# -- live updates ---------------------------------------------------------------------------
@routes.get("/_emulator/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every new message, status change, callback attempt, reply and rejected request."""
    rt = _runtime(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue = rt.store.subscribe()
    try:
        # retry: a dropped stream (msgemu restarted, a proxy timeout) is reconnected after 1 s,
        # not the browser's default 3 s: the inbox is back as soon as msgemu is
        await response.write(b"retry: 1000\nevent: hello\ndata: {}\n\n")
        while True:
            try:
                change = await asyncio.wait_for(queue.get(), timeout=15)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if change["type"] == "shutdown":
                break
            payload = dict(change)
            message = rt.store.message(change.get("message", "")) if change.get("message") else None
            if message is not None:
                payload["message"] = message.public()
            if change["type"] == "callback":
                payload["callback"] = rt.store.callback(change["callback"])
            if change["type"] == "request" and change.get("outcome") != "rejected":
                continue  # the inbox shows messages, and rejected requests (their id: it fetches them)
            data = json.dumps(payload, default=str)
            await response.write(f"event: {change['type']}\ndata: {data}\n\n".encode("utf-8"))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        rt.store.unsubscribe(queue)
    return response

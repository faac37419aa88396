"""HTTP middleware shared by every provider: request journal, body deadline, faults, and
the safety net, in one layer (`http_concerns`: each middleware layer costs aiohttp a partial
and a coroutine per request, and these four always run together, in this order).

The journal records every request (accepted, rejected, faulted, timed out) with the response
it got, bodies truncated to BODY_JOURNAL_LIMIT with their real size; the body deadline cuts a
client that stops sending mid-body after `body_timeout` (408, journaled) instead of letting it
hold a handler forever; faults alter the response a provider
produced (delay, garbage) or replace it (5xx, reset, hang); the safety net turns a bug of ours
into the provider's own error shape.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion10, HttpVersion11
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDict

from .control.security import CONTROL_PREFIX, is_control
from .core import after_answer
from .core.model import RequestRecord
from .core.store import Store
from .core.store_outage import StoreAway
from .providers.base import BODY_TOO_LARGE_KEY, FAULT_KEY, OUTCOME_KEY, REASON_KEY, Provider, provider_of

log = logging.getLogger("msgemu.http")

STORE_KEY = web.AppKey("msgemu_store", Store)
BODY_TIMEOUT_KEY = web.AppKey("msgemu_body_timeout", float)
BODY_JOURNAL_LIMIT = 8 * 1024  # journaled bytes of a body or response; the real size is kept too
DEFAULT_BODY_TIMEOUT = 30.0
BODY_STATE_KEY = web.RequestKey("msgemu_body_state", str)  # "timeout" when not received in time
ANSWER_FIRST_KEY = web.AppKey("msgemu_answer_first", bool)  # False when a shared store commits after the journal
# (provider name, outcome, seconds) of every provider request once done: the metrics' counters
TALLY_KEY = web.AppKey("msgemu_tally", object)
# request -> the control guard's refusal or None (control/security.refusal), asked here for
# /_emulator paths when the guard is not a layer of its own (app._base_app: memory store)
GUARD_KEY = web.AppKey("msgemu_guard", object)
# () -> True when a shared store is away so long that a request could run out of unique ids
# half-way (RedisStore.short_of_ids): it is refused before anything is done. Not set in memory.
IDS_SHORT_KEY = web.AppKey("msgemu_ids_short", object)
_UNMARKED = ("query", None, None)
# journaled headers: lower-case name -> that same string, so every record shares one copy of it
_HEADERS_KEPT = {name: name for name in ("content-type", "authorization", "api-key", "api-login", "user-agent", "content-length")}
_SHARED_TEXTS_LIMIT = 4096  # distinct short texts the journal keeps one copy of (paths, header values)
_shared_texts: dict[str, str] = {}


@web.middleware
async def shared_store(request: web.Request, handler) -> web.StreamResponse:
    """With a store several processes share: see what they committed before answering, and
    commit what this request changed before the client gets its answer (so its next request,
    to any process, sees it). Installed only then (app._base_app): in memory it has nothing to do."""
    store: Store = request.app[STORE_KEY]
    await store.sync()
    try:
        return await handler(request)
    finally:
        await store.commit()


def _own_keys(request: web.Request | web.Application) -> Any:
    """Where a request's (or an app's) own keys are read: its dict (aiohttp's private `_state`),
    as request.get() is the Mapping ABC's, in Python, and raises and catches a KeyError for each
    key not set (a fault, a body deadline, a reason: three per send), and app.get() and app[key]
    are two Python calls each. The object itself, should an aiohttp release no longer have that
    attribute (aiohttp is not pinned): slower, never broken."""
    return getattr(request, "_state", request)


@web.middleware
async def http_concerns(request: web.Request, handler) -> web.StreamResponse:
    """From the outside in: the control guard (/_emulator paths, when it is not a layer of its
    own), the journal (provider requests only: the control API and the UI are not journaled),
    the safety net, the body deadline, then faults on the handler's response."""
    app = request.app  # its own keys: msgemu mounts no sub-applications (config_dict builds a chain per read)
    keys = _own_keys(app)
    if request.path.startswith(CONTROL_PREFIX):  # what the guard refuses is neither journaled nor tallied
        guard = keys.get(GUARD_KEY)
        refused = guard(request) if guard is not None and is_control(request.path) else None
        if refused is not None:
            return refused
    provider = provider_of(request, keys)
    started = time.perf_counter()
    # what only follows from a send waits: for its answer (memory store), or until the handler is
    # done, before the shared store's commit (its first channel started in the message's first version)
    held = after_answer.hold() if provider is not None else None
    try:
        try:
            try:  # the safety net
                deadline = _body_deadline(request)
                try:
                    short = keys.get(IDS_SHORT_KEY) if provider is not None else None
                    if short is not None and short():
                        raise StoreAway("the shared store did not answer for so long that unique ids ran low")
                    response = await handler(request)
                    fault: dict[str, Any] | None = _own_keys(request).get(FAULT_KEY)
                    if fault:
                        response = await _apply_fault(request, response, fault)
                finally:
                    if deadline is not None:
                        deadline.cancel()
            except web.HTTPException as exc:
                if provider is not None and exc.status == 413:
                    response = provider.reject(request, "body_too_large")
                elif provider is not None and exc.status == 404 and request.match_info.http_exception is exc:
                    response = provider.unknown_path(request)  # no route: the provider's shape, not aiohttp's
                else:
                    raise
            except (asyncio.CancelledError, ConnectionResetError):
                raise
            except StoreAway as away:  # (said once by the store, not once a request)
                if provider is None:  # the control API: what it cannot do without the store (move the clock)
                    return web.json_response({"error": str(away)}, status=503)
                request[OUTCOME_KEY] = ("error", "internal", [])
                response = provider.internal_error(request)
            except Exception:
                log.exception("unhandled error in %s %s", request.method, request.path)
                if provider is None:
                    return web.json_response({"error": "internal error"}, status=500)
                request[OUTCOME_KEY] = ("error", "internal", [])
                response = provider.internal_error(request)
        except web.HTTPException as exc:  # aiohttp's own answers (404, 405...) are journaled too
            if held is not None:
                after_answer.release(held)
            if provider is not None:
                await _record(keys[STORE_KEY], request, provider, exc)
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            # no answer went out: the client hung up while its answer was being made (or held by a
            # delay/hang fault), or a reset fault closed the connection. What the request did (a
            # message accepted and charged) stays traceable to it in the journal.
            if held is not None:
                after_answer.release(held)
            if provider is not None and _own_keys(request).get(BODY_STATE_KEY) != "timeout":  # a 408 is journaled already
                await _record(keys[STORE_KEY], request, provider, None)
            raise
        if provider is not None:
            try:
                if held is not None and isinstance(response, web.Response) and keys.get(ANSWER_FIRST_KEY):
                    await _answer_now(request, response, app)
            finally:
                if held is not None:
                    after_answer.release(held)  # before the journal record, as the work came before it
                if not _record_now(keys[STORE_KEY], request, provider, response):  # no coroutine when the body is at hand
                    await _record(keys[STORE_KEY], request, provider, response)
            if log.isEnabledFor(logging.DEBUG):  # nothing formatted, nothing measured twice when it is off
                log.debug("journaled %s %s in %.1f ms", request.method, request.path, (time.perf_counter() - started) * 1000)
        return response
    finally:
        if provider is not None:
            tally = keys.get(TALLY_KEY)
            if tally is not None:  # counted however it ended, its time with faults' delays and the journal
                tally(provider.name, (_own_keys(request).get(OUTCOME_KEY) or _UNMARKED)[0], time.perf_counter() - started)


async def _answer_now(request: web.Request, response: web.Response, app: web.Application | None = None) -> None:
    """Write the answer before journaling it, so the client's wait ends with the provider's
    work, not with ours. Nothing can observe the gap: the journal record is made right after,
    before the loop runs anything else (unless the client's socket is full, and then the client
    does not have its whole answer yet either). Only with the memory store: a shared store
    must commit before the answer leaves (middleware.shared_store). A client already gone is
    left to aiohttp, which meets the same error when it writes and ends the connection quietly."""
    try:
        if not await _write_whole(request, response, app or request.app):
            await response.prepare(request)
            await response.write_eof()  # aiohttp's own prepare/write_eof later find it done
    except ConnectionError:
        pass


_WHOLE_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # whose answers carry a body


async def _write_whole(request: web.Request, response: web.Response, app: web.Application) -> bool:
    """A plain answer (bytes, its Content-Type its only header) written as aiohttp's prepare()
    and write_eof() write it, the same bytes in one transport write, without their eleven
    coroutines: Content-Length, Date, Server and Connection set in the same order and by the
    same rules, the app's on_response_prepare hooks run on the finished headers (they may close
    the connection), the status line and headers serialized by aiohttp's own function. False,
    nothing done, for anything else (a HEAD, a 204/304, cookies, chunked or compressed, more
    headers, a closing transport) or when this aiohttp does not have what it takes (_WHOLE):
    prepare() does it then. The response's state is read from the attributes its properties
    return (a Python call each), which _whole_parts checked they do."""
    if _WHOLE is None:
        return False
    body = response._body
    headers = response._headers
    status = response._status
    if (
        type(body) is not bytes or len(headers) != 1 or hdrs.CONTENT_TYPE not in headers or status < 200 or status in (204, 304)
        or request.method not in _WHOLE_METHODS or response._keep_alive is not None
        or response._chunked or response._compression or getattr(response, "_cookies", True)
    ):
        return False
    transport = request.transport
    writer = request.writer
    if transport is None or transport.is_closing() or writer.output_size:
        return False
    serialize, http_date, server = _WHOLE
    keep_alive = request.keep_alive
    version = request.version
    headers[hdrs.CONTENT_LENGTH] = str(len(body))
    headers[hdrs.DATE] = http_date()
    headers[hdrs.SERVER] = server
    if keep_alive:
        if version == HttpVersion10:
            headers[hdrs.CONNECTION] = "keep-alive"
    elif version == HttpVersion11:
        headers[hdrs.CONNECTION] = "close"
    _set_keep_alive(response, keep_alive)
    hooks = app.on_response_prepare
    if hooks:
        await hooks.send(request, response)
    whole = serialize(f"HTTP/{version[0]}.{version[1]} {status} {response._reason}", headers) + body
    transport.write(whole)
    writer.output_size += len(whole)
    response._eof_sent = True  # aiohttp's own prepare()/write_eof() then do nothing (checked by _whole_parts)
    response._body_length = len(whole)  # what write_eof() records (the access log's size)
    if transport.get_write_buffer_size():
        await writer.drain()  # a full socket: wait as write_eof() waits
    return True


def _set_keep_alive(response: web.StreamResponse, keep_alive: bool) -> None:
    """What prepare() decides: response.keep_alive from the request's."""
    if keep_alive:
        response._keep_alive = True
    else:
        response.force_close()


def _whole_parts() -> tuple[Any, Any, str] | None:
    """(header serializer, Date formatter, Server value) of this aiohttp, or None when one of them,
    or the response attributes _write_whole sets, is not what it was written against (aiohttp is
    not pinned: a release without them makes every answer go through prepare(), never a second
    answer written after the first)."""
    try:
        from aiohttp.helpers import rfc822_formatted_time
        from aiohttp.http import SERVER_SOFTWARE
        from aiohttp.http_writer import _serialize_headers

        probe = web.Response(body=b"x", status=201, reason="Made", content_type="text/plain")
        if not (probe._body is probe.body and probe._headers is probe.headers and probe._status == probe.status == 201
                and probe._reason == probe.reason == "Made" and probe._keep_alive is probe.keep_alive is None
                and probe._chunked is probe.chunked is False and probe._compression is probe.compression is False):
            return None  # the properties _write_whole reads through their attributes
        _set_keep_alive(probe, True)
        probe._eof_sent = True
        probe._body_length = 7
        for start in (lambda: probe.prepare(None), probe.write_eof):  # type: ignore[arg-type]
            step = start()
            try:
                step.send(None)
            except StopIteration as done:
                if done.value is not None:
                    return None
            else:
                step.close()
                return None
        if not (probe.keep_alive is True and probe.body_length == 7 and probe.prepared):
            return None
        line = _serialize_headers("HTTP/1.1 200 OK", CIMultiDict({hdrs.CONTENT_TYPE: "text/plain"}))
        if line != b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n":
            return None
        return _serialize_headers, rfc822_formatted_time, SERVER_SOFTWARE
    except Exception:  # an import, an attribute, a changed signature: the public way then
        return None


_WHOLE = _whole_parts()


NO_ANSWER_STATUS = 499  # journaled when the connection closed before any answer (nginx's "client closed request")
NO_ANSWER_TEXT = "<no answer: the connection was closed before it was sent>"
NOT_RECEIVED_TEXT = "<body not received in time: the client stopped sending>"  # journaled as the body (408)
TOO_LARGE_TEXT = "<body larger than the configured limit>"


def _record_now(store: Store, request: web.Request, provider: Provider, response: web.StreamResponse | None) -> bool:
    """_record without a coroutine when the body is at hand (_body_at_hand): False, nothing done,
    when it is still to be read."""
    state = _own_keys(request)
    body = _body_at_hand(request, state)
    if body is None:
        return False
    _record_with(store, request, provider, response, state, *body)
    return True


async def _record(store: Store, request: web.Request, provider: Provider, response: web.StreamResponse | None) -> None:
    state = _own_keys(request)
    body = _body_at_hand(request, state)
    if body is None:  # not read by the handler: read it for the journal
        try:
            raw = await request.read()
            body = len(raw), raw[:BODY_JOURNAL_LIMIT].decode("utf-8", "replace")
        except web.HTTPRequestEntityTooLarge:
            body = request.content_length or 0, TOO_LARGE_TEXT
        except (ConnectionError, HttpProcessingError, RequestPayloadError):
            body = request.content_length or 0, "<body not received: the client went away or sent a broken body>"
    _record_with(store, request, provider, response, state, *body)


def _body_at_hand(request: web.Request, state: Any) -> tuple[int, str] | None:
    """The body's size and journaled text when known without reading (not received in time,
    refused for its size, read whole by the handler, or none); None when it is still to be read."""
    if state.get(BODY_STATE_KEY) == "timeout":
        return request.content_length or 0, NOT_RECEIVED_TEXT
    if state.get(BODY_TOO_LARGE_KEY):  # read up to the limit and refused: what came is not all of it
        return request.content_length or getattr(request.content, "total_bytes", 0), TOO_LARGE_TEXT
    body = getattr(request, "_read_bytes", None)  # what request.read() keeps once the handler read it
    if body is None:
        if request.body_exists:
            return None
        body = b""
    return len(body), body[:BODY_JOURNAL_LIMIT].decode("utf-8", "replace")


def _record_with(
    store: Store, request: web.Request, provider: Provider, response: web.StreamResponse | None, state: Any,
    body_size: int, body_text: str,
) -> None:
    outcome, error, ids = state.get(OUTCOME_KEY) or ("query", None, [])  # a fresh list for each unmarked one
    reason = state.get(REASON_KEY)
    if reason is None and outcome in ("rejected", "error") and error:
        reason = provider.reason_for(error)  # every refusal says which kind of check fired
    response_text = "" if response is not None else NO_ANSWER_TEXT
    response_size = 0
    if isinstance(response, web.Response) and response.body is not None:
        raw = response.body if isinstance(response.body, bytes) else str(response.body).encode()
        response_size = len(raw)
        response_text = raw[:BODY_JOURNAL_LIMIT].decode("utf-8", "replace")
    status = response.status if response is not None else NO_ANSWER_STATUS
    _journal(store, request, provider, body_text, status, response_text, outcome, error, ids, reason, body_size, response_size)


def _journal(
    store: Store, request: web.Request, provider: Provider, body: str, status: int, response: str, outcome: str,
    error: str | None = None, message_ids: list[str] | None = None, reason: Any = None, body_size: int = 0,
    response_size: int = 0,
) -> None:
    """One journal record of a provider request: what was asked (the same for every record),
    beside how it was received and answered."""
    try:
        request_id = store.new_request_id()
    except StoreAway:  # a shared store away so long that its ids ran out: not journaled (counted, said)
        return
    store.add_request(
        RequestRecord(
            request_id, time.time(), provider.name, request.method, _shared(request.path),
            request.query_string, _kept_headers(request), body, status, response, outcome, error,
            message_ids if message_ids is not None else [], reason, body_size, response_size,
        )
    )


def _body_deadline(request: web.Request) -> asyncio.TimerHandle | None:
    """A body not received whole within the body timeout: the request is journaled (408),
    answered 408 and its connection closed, whatever the handler was waiting for. Handlers
    still read the body themselves (a provider may count a request as in flight meanwhile).
    The timer to cancel once the handler is done; None when the body is all here already."""
    if not request.body_exists or request.content.is_eof():
        return None
    timeout = request.config_dict.get(BODY_TIMEOUT_KEY, DEFAULT_BODY_TIMEOUT)
    return asyncio.get_running_loop().call_later(timeout, _cut_slow_body, request, timeout)


def _cut_slow_body(request: web.Request, timeout: float) -> None:
    if request.content.is_eof():
        return  # the body arrived; the handler is busy with something else (a delay fault...)
    request[BODY_STATE_KEY] = "timeout"
    log.info("%s %s: body not received within %.0f s, connection closed", request.method, request.path, timeout)
    provider = provider_of(request)
    if provider is not None:
        _journal(request.config_dict[STORE_KEY], request, provider, NOT_RECEIVED_TEXT, 408, "", "timeout",
                 body_size=request.content_length or 0)
    transport = request.transport
    if transport is not None and not transport.is_closing():
        transport.write(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        transport.close()  # the handler waiting on the body is cancelled with the connection


async def _apply_fault(request: web.Request, response: web.StreamResponse, fault: dict[str, Any]) -> web.StreamResponse:
    """The scenario's fault alters the provider's response (delay, garbage) or replaces it
    (5xx, reset, hang)."""
    kind = fault["type"]
    seconds = float(fault.get("seconds", 0))
    if kind == "delay":
        await asyncio.sleep(seconds)
        return response
    if kind == "status":
        status = int(fault.get("status", 503))
        return web.Response(status=status, text=fault.get("body", _reason(status)), content_type="text/plain")
    if kind == "malformed":
        if isinstance(response, web.Response) and response.body:
            raw = response.body if isinstance(response.body, bytes) else bytes(str(response.body), "utf-8")
            garbled = fault.get("body", "").encode() or raw[: max(1, len(raw) // 2)] + b"\x00\xff<!--garbage"
            return web.Response(status=response.status, body=garbled, headers={"Content-Type": response.content_type})
        return web.Response(status=200, body=b"\x00\xff<!--garbage")
    if kind == "hang":
        await asyncio.sleep(seconds or 3600)
        return web.Response(status=504, text="msgemu: hang fault ended\n")
    if kind == "reset":
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError()  # the connection is gone; aiohttp drops the handler
    return response


def _kept_headers(request: web.Request) -> dict[str, str]:
    """The journaled headers, by lower-case name, in the order received (the last one wins)."""
    kept = {}
    for name, value in request.headers.items():
        lowered = _kept_names.get(name)  # by the name as it came: clients repeat their spelling
        if lowered is None:
            lowered = _kept_name(name)
        if lowered:
            known = _shared_texts.get(value)  # _shared's own first step, without a call (the usual case)
            kept[lowered] = known if known is not None else _shared(value)
    return kept


_kept_names: dict[str, str] = {}  # a header name as received -> its journaled name, "" when not journaled


def _kept_name(name: str) -> str:
    """The journaled name of a header (its lower case), "" for one the journal leaves out;
    remembered for the next request (bounded: past the limit, a new spelling is looked up each time)."""
    lowered = _HEADERS_KEPT.get(name.lower(), "")
    if len(_kept_names) < _SHARED_TEXTS_LIMIT:
        _kept_names[name] = lowered
    return lowered


def _shared(text: str) -> str:
    """One copy of a text that repeats from request to request (a path, a Content-Type, a
    User-Agent, an API key) for every journal record that keeps it. Bounded: once full, a new
    text costs a lookup and is kept as it came."""
    known = _shared_texts.get(text)
    if known is not None:
        return known
    if len(_shared_texts) < _SHARED_TEXTS_LIMIT and len(text) <= 256:
        _shared_texts[text] = text
    return text


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"{status} {HTTPStatus(status).phrase}\n"
    except ValueError:
        return f"{status}\n"


MIDDLEWARES = [http_concerns]

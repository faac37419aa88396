"""Verification filters of /_emulator/requests and /_emulator/messages (and their /count).

Every parameter narrows the result (they combine with AND; a repeated `json` or `header` too):

- `text`     regex searched in a request's path, query and body (form-decoded too) / in a message's text (every
             channel of its cascade). Compiled by control/regex.py: linear-time with google-re2.
- `json`     `PATH` (present and not null) or `PATH=VALUE` (equal), on a request's body (a JSON
             body, else its form fields and query string) / on a message as this API serves it.
             PATH is dotted names and indexes: `data[0].phone`, `data[*].phone` (any element),
             `meta.sender`, `attempts[*].channel`; at most 16 steps. VALUE is compared with the
             JSON scalar written plainly: `380971234567` matches the number and the string,
             `true`, `null`.
- `header`   `NAME` (present) or `NAME:REGEX`, on a request's journaled headers / the headers of
             the request that created a message. Names are case-insensitive.
- `since`, `until`  epoch seconds or ISO 8601 (UTC unless it says otherwise); since <= t < until,
             on a request's `at` / a message's `created_at`.
- requests only: `status` (HTTP status, `404` or a class `4xx`), `channel` (a message the
  request created went on that channel), `message_id` (the request that created a message).
"""
from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, TypeVar
from urllib.parse import parse_qsl, unquote_plus

from ..core.model import Message, RequestRecord
from ..core.store import Store
from .regex import PatternError, compile_search

MAX_PATH_STEPS = 16
MAX_EXPRESSION = 300
MAX_REPEATED = 8  # json= / header= given at most this many times
YIELD_EVERY = 2000  # records filtered between two yields to the event loop

REQUEST_FILTERS = ("text", "json", "header", "since", "until", "status", "channel", "message_id")
MESSAGE_FILTERS = ("text", "json", "header", "since", "until")


class FilterError(ValueError):
    """A filter parameter that cannot be understood; answered as a 400 naming the parameter."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


T = TypeVar("T")
Predicate = Callable[[Any], bool]


async def select(items: Iterable[T], keep: Callable[[T], bool]) -> list[T]:
    """The items `keep` accepts, yielding to the event loop now and then on large journals."""
    out = []
    for n, item in enumerate(items, 1):
        if keep(item):
            out.append(item)
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    return out


# -- building predicates from a query string --------------------------------------------------
def request_predicate(query: Any, store: Store) -> Callable[[RequestRecord], bool]:
    tests: list[Callable[[RequestRecord], bool]] = []
    if "text" in query:
        text_search = _regex("text", query["text"])
        tests.append(lambda r: any(text_search(part) for part in (r.path, r.query, r.body, *_decoded(r))))
    for path, wanted in _json_filters(query):
        tests.append(lambda r, path=path, wanted=wanted: _json_matches(_request_document(r), path, wanted))
    for name, value_search in _header_filters(query):
        tests.append(lambda r, name=name, value_search=value_search: _header_matches(r.headers, name, value_search))
    tests.extend(_time_tests(query, lambda r: r.at))
    if "status" in query:
        tests.append(_status_test(query["status"]))
    if "message_id" in query:
        message_id = query["message_id"]
        tests.append(lambda r: message_id in r.message_ids)
    if "channel" in query:
        channel = query["channel"]

        def on_channel(record: RequestRecord) -> bool:
            for message_id in record.message_ids:
                message = store.message(message_id)
                if message is not None and any(a.channel == channel for a in message.attempts):
                    return True
            return False

        tests.append(on_channel)
    return lambda record: all(test(record) for test in tests)


def message_predicate(query: Any, store: Store) -> Callable[[Message], bool]:
    tests: list[Callable[[Message], bool]] = []
    if "text" in query:
        text_search = _regex("text", query["text"])
        tests.append(lambda m: any(text_search(str(a.content.get("text") or "")) for a in m.attempts))
    for path, wanted in _json_filters(query):
        tests.append(lambda m, path=path, wanted=wanted: _json_matches(m.public(), path, wanted))
    headers = _header_filters(query)
    if headers:
        origin = _origin_requests(store)
        for name, value_search in headers:
            tests.append(lambda m, name=name, value_search=value_search: m.id in origin and _header_matches(origin[m.id].headers, name, value_search))
    tests.extend(_time_tests(query, lambda m: m.created_at))
    return lambda message: all(test(message) for test in tests)


def _decoded(record: RequestRecord) -> tuple[str, ...]:
    """Form-encoded query and body as a person reads them (`Kod%3A+5521` -> `Kod: 5521`)."""
    out = [unquote_plus(record.query)] if "%" in record.query or "+" in record.query else []
    if record.body[:1] not in ("{", "[") and ("%" in record.body or "+" in record.body):
        out.append(unquote_plus(record.body))
    return tuple(out)


def _origin_requests(store: Store) -> dict[str, RequestRecord]:
    return {message_id: record for record in list(store.requests) for message_id in record.message_ids}


# -- text -------------------------------------------------------------------------------------
def _regex(parameter: str, pattern: str) -> Callable[[str], bool]:
    try:
        return compile_search(pattern)
    except PatternError as exc:
        raise FilterError(parameter, str(exc)) from None


# -- JSON paths -------------------------------------------------------------------------------
_STEP = re.compile(r"\.?([A-Za-z0-9_$@:\-]+|\*)|\[(\d{1,6}|\*)\]")
ANY = object()


def parse_path(text: str) -> list[Any]:
    """`data[0].phone` -> ["data", 0, "phone"]; `*` / `[*]` -> ANY."""
    steps: list[Any] = []
    position = 0
    while position < len(text):
        found = _STEP.match(text, position)
        if found is None or (found.group(0).startswith(".") and position == 0):
            raise FilterError("json", f"cannot read the path at character {position + 1} of {text!r}")
        name, index = found.groups()
        if name is not None:
            steps.append(ANY if name == "*" else name)
        else:
            steps.append(ANY if index == "*" else int(index))
        position = found.end()
    if not steps:
        raise FilterError("json", "empty path")
    if len(steps) > MAX_PATH_STEPS:
        raise FilterError("json", f"path longer than {MAX_PATH_STEPS} steps")
    return steps


def _json_filters(query: Any) -> list[tuple[list[Any], str | None]]:
    expressions = query.getall("json", []) if hasattr(query, "getall") else ([query["json"]] if "json" in query else [])
    if len(expressions) > MAX_REPEATED:
        raise FilterError("json", f"at most {MAX_REPEATED} json filters")
    out = []
    for expression in expressions:
        if len(expression) > MAX_EXPRESSION:
            raise FilterError("json", f"longer than {MAX_EXPRESSION} characters")
        path, sep, value = expression.partition("=")
        out.append((parse_path(path.strip()), value if sep else None))
    return out


def _values_at(document: Any, steps: list[Any]) -> list[Any]:
    current = [document]
    for step in steps:
        following = []
        for node in current:
            if step is ANY:
                if isinstance(node, list):
                    following.extend(node)
                elif isinstance(node, dict):
                    following.extend(node.values())
            elif isinstance(step, int):
                if isinstance(node, list) and step < len(node):
                    following.append(node[step])
            elif isinstance(node, dict) and step in node:
                following.append(node[step])
        current = following
        if not current:
            break
    return current


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_matches(document: Any, steps: list[Any], wanted: str | None) -> bool:
    found = _values_at(document, steps)
    if wanted is None:
        return any(value is not None for value in found)
    return any(_plain(value) == wanted for value in found)


def _request_document(record: RequestRecord) -> Any:
    """A request's body as a document: parsed JSON, else its form fields and query string."""
    body = record.body.strip()
    if body[:1] in ("{", "["):
        try:
            return json.loads(body)
        except ValueError:
            pass
    fields: dict[str, Any] = {}
    for source in (record.query, record.body if "=" in record.body else ""):
        for key, value in parse_qsl(source, keep_blank_values=True):
            fields.setdefault(key, value)
    return fields


# -- headers ----------------------------------------------------------------------------------
def _header_filters(query: Any) -> list[tuple[str, Callable[[str], bool] | None]]:
    expressions = query.getall("header", []) if hasattr(query, "getall") else ([query["header"]] if "header" in query else [])
    if len(expressions) > MAX_REPEATED:
        raise FilterError("header", f"at most {MAX_REPEATED} header filters")
    out = []
    for expression in expressions:
        name, sep, pattern = expression.partition(":")
        name = name.strip().lower()
        if not name:
            raise FilterError("header", "a header name is required (NAME or NAME:REGEX)")
        out.append((name, _regex("header", pattern.strip()) if sep else None))
    return out


def _header_matches(headers: Mapping[str, str], name: str, search: Callable[[str], bool] | None) -> bool:
    value = headers.get(name)
    return value is not None and (search is None or search(value))


# -- time and status --------------------------------------------------------------------------
def parse_time(parameter: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(parameter, "epoch seconds or an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _time_tests(query: Any, time_of: Callable[[Any], float]) -> list[Predicate]:
    tests: list[Predicate] = []
    if "since" in query:
        since = parse_time("since", query["since"])
        tests.append(lambda item: time_of(item) >= since)
    if "until" in query:
        until = parse_time("until", query["until"])
        tests.append(lambda item: time_of(item) < until)
    return tests


_STATUS = re.compile(r"([1-5])(\d\d|xx)", re.IGNORECASE)


def _status_test(text: str) -> Predicate:
    found = _STATUS.fullmatch(text.strip())
    if found is None:
        raise FilterError("status", "an HTTP status (404) or class (4xx)")
    if found.group(2).lower() == "xx":
        low = int(found.group(1)) * 100
        return lambda record: low <= record.status < low + 100
    status = int(text)
    return lambda record: record.status == status

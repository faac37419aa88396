"""assert_sent / assert_not_sent / assert_requested: verification in one line of a test, with a
failure message that says what was expected, how many matched and what came close.

Built on the filters of /_emulator/messages and /_emulator/requests (and their /count), so a
check reads exactly like the query a person would type: phone, provider, channel, status, `text`
(a regex), plus any other filter of control/filters.py (`json=`, `header=`, `since=`...).
A mixin of emulator.client.Msgemu (standard library only, like the client).
"""
from __future__ import annotations

from typing import Any

NEAR_MISSES = 5  # shown at most, newest first
TEXT_SHOWN = 70  # characters of a text in a failure message


class Verification:
    """Mixed into Msgemu: needs its `call(method, path, query=...)`."""

    def call(self, method: str, path: str, query: dict[str, Any] | None = None, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    # -- messages -------------------------------------------------------------------------------
    def assert_sent(self, phone: str | None = None, text: str | None = None, provider: str | None = None,
                    channel: str | None = None, status: str | None = None, count: int | None = None,
                    **filters: Any) -> list[dict[str, Any]]:
        """The messages matching every filter given (`text`: a regex); at least one of them, or
        exactly `count`. Otherwise an AssertionError listing the near misses."""
        query = _given(phone=phone, text=text, provider=provider, channel=channel, status=status, **filters)
        found = self.call("GET", "/_emulator/messages", query={**query, "limit": 10_000})
        matched = found["count"]
        if _enough(matched, count):
            return found["messages"]
        lines = [f"expected {_wanted(count, 'message')} sent ({_described(query)}); {matched} matched."]
        lines += _section("Matched", found["messages"], _message_line)
        lines += _section("Near misses (same phone or similar text)" if phone or text else "Last messages sent",
                          self._message_near_misses(query, {m["id"] for m in found["messages"]}), _message_line)
        raise AssertionError("\n".join(lines))

    def assert_not_sent(self, phone: str | None = None, text: str | None = None, provider: str | None = None,
                        channel: str | None = None, status: str | None = None, **filters: Any) -> None:
        """No message matches every filter given (`text`: a regex); else an AssertionError listing them."""
        query = _given(phone=phone, text=text, provider=provider, channel=channel, status=status, **filters)
        matched = self.call("GET", "/_emulator/messages/count", query=query)["count"]
        if matched == 0:
            return
        shown = self.call("GET", "/_emulator/messages", query={**query, "limit": NEAR_MISSES})["messages"]
        lines = [f"expected no message sent ({_described(query)}); {matched} matched."]
        lines += _section("Matched", shown, _message_line)
        raise AssertionError("\n".join(lines))

    def _message_near_misses(self, query: dict[str, Any], exclude: set[str]) -> list[dict[str, Any]]:
        """Messages to the same phone, or whose text matches the regex ignoring case; without a
        phone or text to go by, the last messages sent."""
        probes = []
        if "phone" in query:
            probes.append({"phone": query["phone"]})
        if "text" in query:
            probes.append({"text": f"(?i){query['text']}"})
        near: dict[str, dict[str, Any]] = {}
        for probe in probes or [{}]:
            for message in self.call("GET", "/_emulator/messages", query={**probe, "limit": 50})["messages"]:
                if message["id"] not in exclude:
                    near[message["id"]] = message
        return sorted(near.values(), key=lambda m: m["created_at"])

    # -- provider requests ----------------------------------------------------------------------
    def assert_requested(self, provider: str | None = None, text: str | None = None, outcome: str | None = None,
                         status: int | str | None = None, count: int | None = None,
                         **filters: Any) -> list[dict[str, Any]]:
        """The journaled provider requests matching every filter (`text`: a regex on path, query
        and body; `status`: 404 or 4xx; `outcome`: accepted | rejected | ...); at least one, or
        exactly `count`. Otherwise an AssertionError listing the near misses."""
        query = _given(provider=provider, text=text, outcome=outcome, status=status, **filters)
        found = self.call("GET", "/_emulator/requests", query={**query, "limit": 10_000})
        matched = found["count"]
        if _enough(matched, count):
            return found["requests"]
        lines = [f"expected {_wanted(count, 'request')} to a provider ({_described(query)}); {matched} matched."]
        lines += _section("Matched", found["requests"], _request_line)
        probe = {"provider": provider} if provider else {}
        exclude = {r["id"] for r in found["requests"]}
        near = [r for r in self.call("GET", "/_emulator/requests", query={**probe, "limit": 50})["requests"] if r["id"] not in exclude]
        lines += _section("Near misses (same provider)" if provider else "Last requests", near, _request_line)
        raise AssertionError("\n".join(lines))


def _enough(matched: int, count: int | None) -> bool:
    """Exactly `count` when one is given, else at least one."""
    return matched == count if count is not None else matched > 0


def _wanted(count: int | None, noun: str) -> str:
    return f"exactly {count} {noun}{'s' if count != 1 else ''}" if count is not None else f"at least one {noun}"


def _given(**filters: Any) -> dict[str, Any]:
    return {k: v for k, v in filters.items() if v is not None}


def _described(query: dict[str, Any]) -> str:
    if not query:
        return "any"
    return ", ".join(f"{k}=/{v}/" if k == "text" else f"{k}={v!r}" for k, v in query.items())


def _section(title: str, items: list[dict[str, Any]], line) -> list[str]:
    if not items:
        return []
    shown = items[-NEAR_MISSES:][::-1]  # newest first
    more = f", newest {len(shown)} shown" if len(items) > len(shown) else ""
    return [f"{title} ({len(items)}{more}):"] + [f"  - {line(item)}" for item in shown]


def _message_line(m: dict[str, Any]) -> str:
    text = m["text"] if len(m["text"]) <= TEXT_SHOWN else m["text"][: TEXT_SHOWN - 1] + "…"
    return f"{m['recipient']} {m['provider']} {m['channel']} {m['status']}: {text!r}"


def _request_line(r: dict[str, Any]) -> str:
    reason = f" {r['error']}" if r.get("error") else ""
    return f"#{r['id']} {r['provider']} {r['method']} {r['path']} -> HTTP {r['status']} {r['outcome']}{reason}"

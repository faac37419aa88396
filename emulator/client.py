"""A small synchronous client of msgemu's control API (`/_emulator`, schemas/control-api.openapi.yaml).

Standard library only, so any test suite can use it against any running msgemu (a local
`msgemu serve`, a container, a CI service) without pulling the server's dependencies in:

    from emulator.client import Msgemu

    emu = Msgemu("http://127.0.0.1:8080")
    emu.reset()
    ...  # the application under test sends an OTP through emu.url("smsc") + "/sys/send.php"
    assert emu.wait_otp("+79001234567") == "1234"
    emu.assert_sent(phone="+79001234567", text=r"code \\d+", count=1)

The pytest fixture `msgemu` is one of these.
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .verify import Verification


class ControlAPIError(AssertionError):
    """The control API refused a call (a test failure, hence an AssertionError): status and body."""

    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"msgemu {method} {path} -> {status}: {detail}")


class Msgemu(Verification):
    """The control API as methods; assert_sent / assert_not_sent / assert_requested come from
    emulator/verify.py."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        # an emulator serving beyond loopback wants its control token (msgemu serve prints it)
        self.token = token if token is not None else os.environ.get("MSGEMU_CONTROL_TOKEN") or None
        self.headers: dict[str, str] = {}  # sent with every call (a namespace's client scopes them)

    def __repr__(self) -> str:
        return f"Msgemu({self.base!r})"

    def url(self, provider: str = "") -> str:
        """Base URL to give the application under test instead of the provider's host."""
        return f"{self.base}/{provider}" if provider else self.base

    # -- state --------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self.call("GET", "/_emulator/health")

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        """Poll /_emulator/health until it answers (a container or process just started)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.call("GET", "/_emulator/health", timeout=2)
            except (OSError, ControlAPIError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def reset(self) -> None:
        """Forget messages, requests, events; demo accounts back; no scenario."""
        self.call("POST", "/_emulator/reset")
        self.clear_scenario()

    # -- what was "sent" ----------------------------------------------------------------------
    def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Messages so far (filters: provider, phone, channel, status, account, limit)."""
        return self.call("GET", "/_emulator/messages", query=filters)["messages"]

    def message(self, message_id: str) -> dict[str, Any]:
        """One message with its events and callback attempts."""
        return self.call("GET", f"/_emulator/messages/{urllib.parse.quote(str(message_id), safe='')}")

    def wait_message(self, phone: str, timeout: float = 10, **filters: Any) -> dict[str, Any]:
        """The latest message to `phone`, waiting up to `timeout` s for one (`new=1`: a newer one)."""
        query = {"phone": phone, "timeout": timeout, **filters}
        return self.call("GET", "/_emulator/messages/wait", query=query, timeout=timeout + 5)

    def wait_otp(self, phone: str, timeout: float = 10, **filters: Any) -> str | None:
        """The one-time code of the (latest) message to `phone`, waiting up to `timeout` s."""
        return self.wait_message(phone, timeout, **filters)["otp"]

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """Every provider request, accepted or rejected, with the answer sent (provider, outcome)."""
        return self.call("GET", "/_emulator/requests", query=filters)["requests"]

    def callbacks(self, **filters: Any) -> list[dict[str, Any]]:
        """Every callback attempt, with the receiver's answer."""
        return self.call("GET", "/_emulator/callbacks", query=filters)["callbacks"]

    def events(self, **filters: Any) -> list[dict[str, Any]]:
        return self.call("GET", "/_emulator/events", query=filters)["events"]

    # -- driving it ---------------------------------------------------------------------------
    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the manual clock; every status change and callback due fires before it returns."""
        return self.call("POST", "/_emulator/clock/advance", json_body={"seconds": seconds})

    def load_scenario(self, scenario: str | Path) -> dict[str, Any]:
        """A scenario file path, or its YAML text."""
        text = Path(scenario).read_text(encoding="utf-8") if _is_path(scenario) else str(scenario)
        return self.call("PUT", "/_emulator/scenario", body=text.encode("utf-8"))

    def clear_scenario(self) -> None:
        self.call("DELETE", "/_emulator/scenario")

    def accounts(self, provider: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/_emulator/accounts/{provider}")

    def set_account(self, provider: str, **changes: Any) -> dict[str, Any]:
        """Change the demo account: balance=, credentials={...}, new_login=..."""
        return self.call("PATCH", f"/_emulator/accounts/{provider}", json_body=changes)

    def reply(self, phone: str, text: str, provider: str | None = None) -> dict[str, Any]:
        """The subscriber answers (STOP opts them out)."""
        body = {"phone": phone, "text": text, **({"provider": provider} if provider else {})}
        return self.call("POST", "/_emulator/inbound", json_body=body)

    # -- namespaces (parallel test runs on one emulator) ----------------------------------------
    def namespace(self) -> "Namespace":
        """A client scoped to a fresh namespace: its own credentials for every provider, and
        messages, requests, events, callbacks, balance, scenario and reset of its own."""
        return Namespace(self, self.call("POST", "/_emulator/namespaces"))

    # -- transport ----------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> Any:
        """One control API call; the decoded JSON answer, or ControlAPIError."""
        query = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.base + path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")
        headers = {**self.headers, "X-Msgemu-Request": "1"}  # the control API refuses bodies a web page could forge
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif body is not None:
            headers["Content-Type"] = "application/yaml" if path.endswith("/scenario") else "application/octet-stream"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise ControlAPIError(method, path, exc.code, detail) from None


class Namespace(Msgemu):
    """The same methods, scoped to one namespace of the emulator (Msgemu.namespace()).

    Give the application under test `credentials(provider)` (and `url(provider)`): what it
    sends with them is what this client sees. The clock stays the emulator's, shared by all."""

    def __init__(self, parent: Msgemu, described: dict[str, Any]) -> None:
        super().__init__(parent.base, parent.timeout, parent.token)
        self.name: str = described["namespace"]
        self.all_credentials: dict[str, dict[str, str]] = described["credentials"]
        self.headers = {**parent.headers, "X-Msgemu-Namespace": self.name}

    def __repr__(self) -> str:
        return f"Msgemu({self.base!r}, namespace={self.name!r})"

    def credentials(self, provider: str) -> dict[str, str]:
        """The login and secrets of this namespace's account at `provider`."""
        return dict(self.all_credentials[provider])

    def reset(self) -> None:
        """Forget this namespace's messages, requests, events, callbacks; its balances back; its
        scenario cleared. Other namespaces are untouched."""
        self.call("POST", f"/_emulator/namespaces/{self.name}/reset")
        self.clear_scenario()

    def load_scenario(self, scenario: str | Path) -> dict[str, Any]:
        text = Path(scenario).read_text(encoding="utf-8") if _is_path(scenario) else str(scenario)
        return self.call("PUT", f"/_emulator/namespaces/{self.name}/scenario", body=text.encode("utf-8"))

    def clear_scenario(self) -> None:
        self.call("DELETE", f"/_emulator/namespaces/{self.name}/scenario")

    def accounts(self, provider: str) -> list[dict[str, Any]]:
        login = self.all_credentials[provider]["login"]
        return [a for a in self.call("GET", f"/_emulator/accounts/{provider}") if a["login"] == login]

    def set_account(self, provider: str, **changes: Any) -> dict[str, Any]:
        body = {**changes, "login": self.all_credentials[provider]["login"]}
        return self.call("PATCH", f"/_emulator/accounts/{provider}", json_body=body)

    def delete(self) -> None:
        """Remove the namespace and everything it sent (its credentials stop working)."""
        self.call("DELETE", f"/_emulator/namespaces/{self.name}")


def _is_path(value: str | Path) -> bool:
    return isinstance(value, Path) or ("\n" not in value and Path(value).is_file())

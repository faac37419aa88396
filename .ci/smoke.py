"""One real send to every provider of a running msgemu, then what a user checks next: the
message is listed with its code, the control API document and the inbox page are served.
Standard library only: run with any python3 against a wheel install, a container, a service.

    python3 .ci/smoke.py http://127.0.0.1:8080
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import urllib.request
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("sends", Path(__file__).resolve().parents[1] / "benchmarks" / "requests.py")
SENDS = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(SENDS)


def fetch(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def control_headers() -> dict:
    """A msgemu listening beyond loopback (a container) wants its control token."""
    token = os.environ.get("MSGEMU_CONTROL_TOKEN")
    return {"X-Msgemu-Request": "1", **({"Authorization": f"Bearer {token}"} if token else {})}


def main(base: str) -> int:
    base = base.rstrip("/")
    fetch(base + "/_emulator/reset", "POST", headers=control_headers())
    for provider, send in SENDS.SENDS.items():
        status, answer = fetch(base + send["path"], send["method"], send["body"].replace("{n}", "4242").encode(), send["headers"])
        listed = json.loads(fetch(f"{base}/_emulator/messages?provider={provider}", headers=control_headers())[1])["messages"]
        assert status == 200 and len(listed) == 1 and listed[0]["otp"] == "4242", (provider, status, answer, listed)
        print(f"  {provider:9} {send['method']} {send['path']} -> {status}, message {listed[0]['id']} code {listed[0]['otp']}")
    status, document = fetch(base + "/_emulator/openapi.yaml", headers=control_headers())
    assert status == 200 and document.startswith(b"openapi: 3.1"), document[:40]
    status, page = fetch(base + "/_emulator/ui", headers=control_headers())
    assert status == 200 and b"<html" in page.lower()
    print(f"  {base}: every provider answered; /_emulator/openapi.yaml and /_emulator/ui served")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""`msgemu serve` honours `access_log`: one line per request when on, none when off."""
from __future__ import annotations

import json
import urllib.request

import pytest

from tests.test_cli import free_port, serve, stop, wait_up  # noqa: F401 - `serve` is a fixture


def _send(base: str) -> None:
    body = json.dumps({"auth": "alphasms-demo-key", "data": [{"type": "balance"}]}).encode()
    request = urllib.request.Request(base + "/alphasms/api/json.php?trace=1", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


@pytest.mark.parametrize("setting, logged", [("true", True), ("false", False)])
def test_access_log_setting_is_honoured(serve, setting, logged):
    port = free_port()
    proc = serve("--port", str(port), env={"MSGEMU_ACCESS_LOG": setting, "MSGEMU_LOG_LEVEL": "INFO"})
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/_emulator/health", proc)
    _send(base)
    err = stop(proc)  # lines still buffered at Ctrl-C are written before the process exits
    lines = [line for line in err.splitlines() if "aiohttp.access" in line]
    if logged:
        assert any('"POST /alphasms/api/json.php?trace=1 HTTP/1.1" 200 ' in line for line in lines), err
        assert all(" INFO aiohttp.access: 127.0.0.1 " in line for line in lines)
    else:
        assert lines == []
        assert "shutting down" in err  # the rest of the log is still there

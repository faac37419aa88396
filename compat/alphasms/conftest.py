"""AlphaSMS compat fixtures: a `msgemu serve` that also serves AlphaSMS at the root of its own port
(`--provider-port alphasms=PORT`), because PyPI alphasms-client hardcodes its URL
(`http://alphasms.com.ua/api/xml.php`, inside a staticmethod) and offers no base-URL option.

The least invasive redirection is then the standard proxy variable its HTTP stack (requests)
honours for plain-http URLs: HTTP_PROXY=http://127.0.0.1:PORT. The library's code is untouched;
only its process environment differs from production. Overrides the session `emulator` of
compat/conftest.py for this folder, so `fresh` resets this server.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

# compat/ is not a package: load the shared helpers of compat/conftest.py by path
_spec = importlib.util.spec_from_file_location("compat_shared", Path(__file__).resolve().parents[1] / "conftest.py")
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)
Emulator, free_port = _shared.Emulator, _shared.free_port


@pytest.fixture(scope="session")
def alphasms_port():
    return free_port()


@pytest.fixture(scope="session")
def emulator(alphasms_port):
    yield from _shared.serve_msgemu("--provider-port", f"alphasms={alphasms_port}")


@pytest.fixture
def via_msgemu(monkeypatch, alphasms_port):
    """Route the library's plain-http calls to msgemu; the control API (127.0.0.1) stays direct."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{alphasms_port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{alphasms_port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")

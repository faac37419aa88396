"""When the control API needs a token, and the token itself (generated when not given)."""
from __future__ import annotations

import ipaddress
import secrets

from ..settings import Settings


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_required(settings: Settings) -> bool:
    return not is_loopback_host(settings.host)


def ensure_control_token(settings: Settings) -> str | None:
    """Generate the token when one is needed and none was given; returns it when generated."""
    if token_required(settings) and not settings.control_token:
        settings.control_token = secrets.token_urlsafe(24)
        return settings.control_token
    return None

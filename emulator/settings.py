"""One Settings object from defaults, an optional config file, MSGEMU_* env vars and CLI flags.

Later sources win: defaults < config file < environment < command line.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    scenario: str | None = None
    clock: str = "real"  # real | manual
    provider_ports: dict[str, int] = field(default_factory=dict)
    retention: int = 100_000  # messages / requests / events kept in memory
    retention_bytes: int = 512 * 1024 * 1024  # and at most this many bytes of them (~5.5 KiB a send: ~95k sends)
    idle_timeout: float = 15.0  # a connection with no complete request (idle keep-alive, half-sent headers)
    body_timeout: float = 30.0  # a request body not received whole in this time is cut
    shutdown_timeout: float = 30.0  # SIGTERM: how long requests already received may take to finish
    max_body: int = 4 * 1024 * 1024  # bytes; larger bodies get the provider's error
    callback_attempts: int = 5
    callback_backoff: float = 1.0
    callback_timeout: float = 5.0
    callback_loopback_only: bool = False  # never POST callbacks off this machine
    log_level: str = "INFO"
    access_log: bool = True
    watch_scenario: bool = True

    @classmethod
    def load(cls, argv_values: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        config = (argv_values or {}).get("config") or env.get("MSGEMU_CONFIG")
        if config:
            values.update(yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {})
        for f in fields(cls):
            key = f"MSGEMU_{f.name.upper()}"
            if key in env:
                values[f.name] = env[key]
        for name, value in (argv_values or {}).items():
            if value is not None and name != "config":
                values[name] = value
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Settings":
        known = {f.name: f for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls()
        for name, value in values.items():
            setattr(settings, name, _coerce(name, value, getattr(settings, name)))
        if settings.clock not in ("real", "manual"):
            raise ValueError("clock must be 'real' or 'manual'")
        return settings


def parse_provider_ports(values: Any) -> dict[str, int]:
    """`alphasms=9001,smsc=9002` or a list of `name=port` or a mapping -> {name: port}."""
    if isinstance(values, Mapping):
        return {str(k): int(v) for k, v in values.items()}
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    ports = {}
    for item in values or []:
        if "=" not in str(item):
            raise ValueError(f"provider port must look like name=port, not {item!r}")
        name, port = str(item).split("=", 1)
        ports[name.strip()] = int(port)
    return ports


def _size(value: Any) -> int:
    """`268435456`, `256M`, `1G`, `512k` -> bytes."""
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    factor = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    number = text[:-1] if factor > 1 else text
    try:
        return int(float(number) * factor)
    except ValueError:
        raise ValueError(f"not a size: {value!r} (e.g. 268435456, 256M, 1G)") from None


def _coerce(name: str, value: Any, default: Any) -> Any:
    if name == "provider_ports":
        return parse_provider_ports(value)
    if name == "retention_bytes":
        return _size(value)
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
    if isinstance(default, int) and not isinstance(default, bool):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port of the main server (default 8080)")
    parser.add_argument("--scenario", help="scenario YAML file to start with")
    parser.add_argument("--clock", choices=["real", "manual"], help="real time, or virtual time moved by the control API")
    parser.add_argument(
        "--provider-port",
        dest="provider_ports",
        action="append",
        metavar="NAME=PORT",
        help="also serve one provider at the root of its own port (repeatable)",
    )
    parser.add_argument("--retention", type=int, help="how many messages/requests to keep in memory")
    parser.add_argument(
        "--retention-bytes", dest="retention_bytes", type=_size,
        help="and at most this much memory for them, e.g. 512M (default), 1G; the oldest are evicted",
    )
    parser.add_argument("--idle-timeout", dest="idle_timeout", type=float, help="seconds before an idle or half-sent connection is closed (15)")
    parser.add_argument("--body-timeout", dest="body_timeout", type=float, help="seconds to receive a whole request body (30)")
    parser.add_argument("--shutdown-timeout", dest="shutdown_timeout", type=float, help="seconds SIGTERM waits for requests in flight (30)")
    parser.add_argument(
        "--callback-loopback-only",
        dest="callback_loopback_only",
        action="store_const",
        const=True,
        help="only POST callbacks to 127.0.0.0/8 / localhost (others are journaled, not sent)",
    )
    parser.add_argument("--config", help="YAML file with settings (same names as the flags)")
    parser.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING...")

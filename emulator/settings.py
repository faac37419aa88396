"""One Settings object from defaults, an optional config file, MSGEMU_* env vars and CLI flags.

Later sources win: defaults < config file < environment < command line.
"""
from __future__ import annotations

import argparse
import importlib.util
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
    retention_bytes: int = 512 * 1024 * 1024  # and at most this many bytes of them (~4.1 KiB a send: ~128k sends)
    idle_timeout: float = 15.0  # a connection with no complete request (idle keep-alive, half-sent headers)
    body_timeout: float = 30.0  # a request body not received whole in this time is cut
    shutdown_timeout: float = 30.0  # SIGTERM: how long requests already received may take to finish
    max_body: int = 4 * 1024 * 1024  # bytes; larger bodies get the provider's error
    callback_attempts: int = 0  # tries per callback; 0: the provider's ladder (data/callback_retries.yaml)
    callback_backoff: float = 0.0  # > 0: exponential retries (b, 2b, 4b... s) instead of the ladders
    callback_timeout: float = 0.0  # seconds per try; 0: the provider's
    callback_loopback_only: bool = False  # never POST callbacks off this machine
    callback_allow_link_local: bool = False  # allow 169.254.0.0/16, fe80::/10, metadata names
    control_token: str = ""  # needed by /_emulator when --host is not loopback; generated if empty
    allowed_hosts: list[str] = field(default_factory=list)  # more Host names the control API answers
    log_level: str = "INFO"
    access_log: bool = True
    watch_scenario: bool = True
    smpp_port: int = 0  # SMPP 3.4 front door (emulator/smpp); 0 = off
    smtp_port: int = 0  # SMSC e-mail-to-SMS front door (emulator/smtp); 0 = off
    # -- operations: CORS on the control API, log format (emulator/control/operations.py, logs.py)
    cors_origins: str = ""  # comma-separated origins allowed to call /_emulator from a browser; "*" any
    log_format: str = "text"  # text | json (one JSON object per line)
    # -- several processes (core/redis_store.py, workers.py)
    store: str = "memory"  # memory | redis://host:port/db (Valkey or Redis, shared and kept)
    workers: str = "1"  # processes serving the same port (SO_REUSEPORT); "auto": one per core
    loop: str = "auto"  # auto | asyncio | uvloop: the event loop of `msgemu serve` (auto: uvloop when installed)

    @classmethod
    def load(cls, argv_values: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        config = (argv_values or {}).get("config") or env.get("MSGEMU_CONFIG")
        if config:
            try:
                loaded = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise ValueError(f"{config}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
            if not isinstance(loaded, Mapping):
                raise ValueError(f"{config}: expected a mapping of setting: value")
            values.update(loaded)
        origins = {name: f"{config}: {name}" for name in values}  # where a bad value came from
        for f in fields(cls):
            key = f"MSGEMU_{f.name.upper()}"
            if key in env:
                values[f.name] = env[key]
                origins[f.name] = key
        for name, value in (argv_values or {}).items():
            if value is not None and name != "config":
                values[name] = value
                origins[name] = "--" + name.replace("_", "-")
        return cls.from_mapping(values, origins)

    def worker_count(self) -> int:
        return _worker_count(self.workers)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], origins: Mapping[str, str] | None = None) -> "Settings":
        """Typed settings; a bad value raises ValueError naming its origin (`MSGEMU_PORT=abc: ...`)."""
        known = {f.name: f for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls()
        for name, value in values.items():
            try:
                setattr(settings, name, _coerce(name, value, getattr(settings, name)))
            except (ValueError, TypeError) as exc:
                origin = (origins or {}).get(name, name)
                raise ValueError(f"{origin}={value!r}: {_reason(exc)}") from None
        if settings.store != "memory":
            from .core.redis_store import check_url

            try:
                settings.store = check_url(settings.store)
            except ValueError as exc:
                raise ValueError(f"{(origins or {}).get('store', 'store')}={settings.store!r}: {exc}") from None
        try:
            workers = _worker_count(settings.workers)
        except ValueError as exc:
            raise ValueError(f"{(origins or {}).get('workers', 'workers')}={settings.workers!r}: {exc}") from None
        if workers > 1 and settings.store == "memory":
            raise ValueError(
                f"{(origins or {}).get('workers', 'workers')}={settings.workers!r}: several workers need a shared store "
                "(--store redis://host:port/db): each worker is a process of its own, and only a store they share "
                "lets one see the messages, timers and clock of another"
            )
        if settings.clock not in ("real", "manual"):
            raise ValueError(f"{(origins or {}).get('clock', 'clock')}={settings.clock!r}: must be 'real' or 'manual'")
        if settings.loop not in LOOPS:
            raise ValueError(f"{(origins or {}).get('loop', 'loop')}={settings.loop!r}: must be 'auto', 'asyncio' or 'uvloop'")
        if settings.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise ValueError(
                f"{(origins or {}).get('loop', 'loop')}='uvloop': uvloop is not installed "
                "(pip install 'msgemu[fast]'; it does not exist on Windows), or choose 'auto' or 'asyncio'"
            )
        if not 0 <= settings.port <= 65535:
            raise ValueError(f"{(origins or {}).get('port', 'port')}={settings.port!r}: not a TCP port (0-65535)")
        return settings


LOOPS = ("auto", "asyncio", "uvloop")


def _worker_count(value: str) -> int:
    if str(value).strip().lower() == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number of processes or 'auto', not {value!r}") from None
    if not 1 <= count <= 256:
        raise ValueError(f"must be between 1 and 256, not {count}")
    return count


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


def _reason(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("invalid literal for int()"):
        return "not an integer"
    if text.startswith("could not convert string to float"):
        return "not a number"
    return text


def _size(value: Any) -> int:
    """`268435456`, `256M`, `1G`, `512k` -> bytes."""
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    factor = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}.get(text[-1:], 1)
    number = text[:-1] if factor > 1 else text
    try:
        return int(float(number) * factor)
    except ValueError:
        raise ValueError(f"not a size: {value!r} (e.g. 268435456, 256M, 1G)") from None


def _coerce(name: str, value: Any, default: Any) -> Any:
    if name == "provider_ports":
        return parse_provider_ports(value)
    if name == "allowed_hosts":
        items = value.split(",") if isinstance(value, str) else list(value or [])
        return [str(item).strip().lower() for item in items if str(item).strip()]
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
    parser.add_argument("--scenario", help="scenario YAML file to start with, or a shipped one's name (happy-path...)")
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
    parser.add_argument(
        "--callback-allow-link-local",
        dest="callback_allow_link_local",
        action="store_const",
        const=True,
        help="also POST callbacks to link-local / cloud metadata addresses (refused by default)",
    )
    parser.add_argument(
        "--control-token",
        dest="control_token",
        help="token the control API, inbox and receiver require when --host is not loopback "
        "(env MSGEMU_CONTROL_TOKEN; generated and printed when not given)",
    )
    parser.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        metavar="NAME",
        help="another Host name the control API answers to (repeatable; against DNS rebinding)",
    )
    parser.add_argument("--smpp-port", dest="smpp_port", type=int, help="also serve SMPP 3.4 on this port (SMSC.ru, Revicom)")
    parser.add_argument("--smtp-port", dest="smtp_port", type=int, help="also serve SMSC.ru e-mail-to-SMS (SMTP) on this port")
    parser.add_argument("--store", help="memory (default), or redis://host:port/db: a Valkey/Redis store that "
                        "several msgemu processes share and that keeps everything across restarts")
    parser.add_argument("--workers", help="processes serving the same port, sharing the --store (default 1; "
                        "'auto' = one per core; more than 1 needs --store redis://)")
    parser.add_argument("--loop", choices=LOOPS, help="event loop: auto (default: uvloop when installed), "
                        "asyncio (Python's own) or uvloop (needs msgemu[fast])")
    parser.add_argument("--config", help="YAML file with settings (same names as the flags)")
    parser.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING...")
    parser.add_argument("--cors-origins", dest="cors_origins", metavar="ORIGINS",
                        help="comma-separated web origins allowed to call /_emulator (CORS); '*' for any; default none")
    parser.add_argument("--log-format", dest="log_format", choices=["text", "json"], help="text (default) or json: one JSON object per line")

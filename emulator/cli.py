"""`msgemu serve | check-scenario | list-providers`."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys

from aiohttp import web

from . import access_log as access_log_module
from .app import build_app, build_provider_app
from .core.scenario import ScenarioError, load_file
from .core.validation import Schemas
from .providers import REGISTRY
from .runtime import Runtime
from .settings import Settings, add_serve_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="msgemu", description="Local emulator of messaging providers")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator")
    add_serve_arguments(serve)
    check = commands.add_parser("check-scenario", help="validate scenario files, with line numbers")
    check.add_argument("files", nargs="+")
    commands.add_parser("list-providers", help="list emulated providers and their paths")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve_command(args)
    if args.command == "check-scenario":
        return check_command(args.files)
    return list_command()


def serve_command(args: argparse.Namespace) -> int:
    values = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        settings = Settings.load(values)
        logging.basicConfig(
            level=getattr(logging, str(settings.log_level).upper(), logging.INFO),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        runtime = Runtime(settings)
        unknown = set(settings.provider_ports) - set(runtime.providers)
        if unknown:
            raise ValueError(f"unknown provider(s) in --provider-port: {', '.join(sorted(unknown))}")
    except (ValueError, ScenarioError, OSError) as exc:
        print(f"msgemu: {exc}", file=sys.stderr)
        return 2
    tune_gc()
    use_uvloop_if_installed()
    try:
        asyncio.run(_serve(settings, runtime))
    except KeyboardInterrupt:
        pass
    exit_now(0)
    return 0  # pragma: no cover


def exit_now(code: int) -> None:
    """Leave without tearing the in-memory store down object by object: with a full retention
    that took longer than Ctrl-C users (and process managers) wait. Sockets are closed and
    timers stopped by then; state is in memory by design, so nothing is lost."""
    access_log_module.flush()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def tune_gc() -> None:
    """Bounded GC pauses with a heap of retained messages, requests and events.

    A young collection every YOUNG_THRESHOLD allocations, and whatever survives it is frozen
    (moved out of the generations the collector scans): each collection then looks only at
    what was allocated since the last one, never at the store's whole heap, so no pause grows
    with `retention`. Frozen objects are still freed by reference counting when the store lets
    them go; only reference cycles that become garbage after surviving a collection would stay
    (71 objects after 30k sends; RSS soak figures in the README's Benchmarks section)."""
    gc.freeze()  # what start-up built is never garbage
    gc.set_threshold(YOUNG_THRESHOLD, 1_000_000, 1_000_000)  # older generations stay empty anyway
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


YOUNG_THRESHOLD = 5_000


def _freeze_survivors(phase: str, info: dict) -> None:
    if phase == "stop":
        gc.freeze()


def use_uvloop_if_installed() -> None:
    """uvloop (`pip install msgemu[fast]`) took 8% less CPU per AlphaSMS send (benchmarks/);
    without it, asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def access_log(settings: Settings) -> logging.Logger | None:
    """The access log at INFO on `aiohttp.access` (emulator/access_log.py), or none at all
    (`access_log: false`): then aiohttp neither times nor formats anything per request."""
    return logging.getLogger("aiohttp.access") if settings.access_log else None


async def _serve(settings: Settings, runtime: Runtime) -> None:
    log = logging.getLogger("msgemu")
    runners = []
    sites = [(build_app(settings, runtime), settings.port, "all providers + /_emulator")]
    for name, port in settings.provider_ports.items():
        sites.append((build_provider_app(runtime, name), port, f"{name} at /"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover - not on this platform
            pass
    try:
        for app, port, what in sites:
            runner = web.AppRunner(app, access_log=access_log(settings), access_log_class=access_log_module.AccessLog,
                                   handler_cancellation=True)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, settings.host, port).start()
            log.info("listening on http://%s:%d (%s)", settings.host, port, what)
        if not settings.provider_ports:
            await runtime.start()  # provider-port apps share the runtime; the main app starts it
        await stop.wait()
        log.info("shutting down")
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        await runtime.stop()


def check_command(files: list[str]) -> int:
    schemas = Schemas()
    providers = {name: cls for name, cls in REGISTRY.items()}
    failed = 0
    for path in files:
        try:
            scenario = load_file(path, schemas)
        except ScenarioError as exc:
            failed += 1
            for line in exc.lines():
                print(line)
            continue
        problems = unknown_error_keys(scenario, providers)
        if problems:
            failed += 1
            for line in problems:
                print(f"{path}:{line}")
            continue
        print(f"{path}: OK ({len(scenario.rules)} rules)")
    return 1 if failed else 0


def unknown_error_keys(scenario, providers) -> list[str]:
    """Error keys a rule uses that the providers it may match do not define."""
    from .core.scenario import error_keys
    from .providers.base import load_catalog

    out = []
    for rule_name, names, key in error_keys(scenario):
        for name in names or list(providers):
            if name not in providers:
                out.append(f"?: {rule_name}: unknown provider {name!r}")
            elif key not in load_catalog(name):
                out.append(f"?: {rule_name}: provider {name} has no error {key!r}")
    return out


def list_command() -> int:
    for name, cls in sorted(REGISTRY.items()):
        print(f"{name:10} /{name}/  {cls.title}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

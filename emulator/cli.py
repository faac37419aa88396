"""`msgemu serve | check-scenario | list-providers`."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys

from aiohttp import web, web_log

from . import __version__, access_log as access_log_module, front_doors, gc_pacing
from .app import build_app, build_provider_app
from .core.scenario import ScenarioError, load_file
from .core.validation import Schemas
from .listener import Budget, CannotListen, ListenerSite
from .logs import configure as configure_logging
from .providers import REGISTRY
from .resources import scenario_file
from .runtime import Runtime
from .settings import Settings, add_serve_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="msgemu", description="Local emulator of messaging providers")
    parser.add_argument("--version", action="version", version=f"msgemu {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator")
    add_serve_arguments(serve)
    check = commands.add_parser("check-scenario", help="validate scenario files, with line numbers")
    check.add_argument("files", nargs="+", help="paths, or names of shipped scenarios (happy-path...)")
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
        configure_logging(settings.log_level, settings.log_format)
        runtime = Runtime(settings)
        unknown = set(settings.provider_ports) - set(runtime.providers)
        if unknown:
            raise ValueError(f"unknown provider(s) in --provider-port: {', '.join(sorted(unknown))}")
    except (ValueError, ScenarioError, OSError) as exc:
        print(f"msgemu: {exc}", file=sys.stderr)
        return 2
    if settings.worker_count() > 1:
        from . import workers

        del runtime  # it checked the settings; each worker builds its own
        gc.collect()
        return workers.serve(settings, settings.worker_count())
    gc_pacing.tune()
    use_loop(settings.loop)
    try:
        asyncio.run(_serve(settings, runtime))
    except KeyboardInterrupt:
        pass
    except CannotListen as exc:
        print(f"msgemu: {exc}", file=sys.stderr)
        exit_now(2)
    except RuntimeError as exc:
        if type(exc).__name__ != "StoreUnavailable":  # (the store module is imported only when used)
            raise
        print(f"msgemu: {exc}", file=sys.stderr)
        exit_now(2)
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


def use_loop(choice: str = "auto") -> None:
    """The event loop `msgemu serve` runs on (`loop` setting). auto: uvloop when installed
    (`pip install msgemu[fast]`: 8% less CPU per AlphaSMS send, benchmarks/), else asyncio's
    own. Both behave the same at the edges that matter: the HTTP listener is ours (listener.py).
    Settings checked that uvloop is installed when asked for by name. On Windows asyncio's
    selector loop: the listener needs readiness callbacks, which the proactor loop lacks."""
    if sys.platform == "win32":  # pragma: no cover - no uvloop there either
        asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())
        return
    if choice == "asyncio":
        return
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":  # pragma: no cover - Settings refuses it first
            raise
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def access_log(settings: Settings) -> logging.Logger | None:
    """The access log at INFO on `aiohttp.access` (emulator/access_log.py), or none at all
    (`access_log: false`): then aiohttp neither times nor formats anything per request."""
    return logging.getLogger("aiohttp.access") if settings.access_log else None


async def _serve(settings: Settings, runtime: Runtime, worker: int | None = None, ready: int | None = None,
                 lifeline: int | None = None) -> None:
    """Serve until SIGINT/SIGTERM. As one of several workers (workers.py): bind with
    SO_REUSEPORT beside the others, leave the SMPP/SMTP front doors to worker 0, tell the
    parent through `ready` instead of printing the start line, and stop as on SIGTERM when
    the `lifeline` pipe ends (the parent is gone)."""
    log = logging.getLogger("msgemu")
    budget = Budget()  # one bound on the connections of every port of this process (HTTP, SMPP, SMTP)
    runners = []
    doors: list = []  # SMPP / SMTP servers (front_doors.py)
    pacer: gc_pacing.Pacer | None = None  # young collections when CPython's count is held down
    # the main port listens last: once it answers (/_emulator/health), every port does
    sites = [(build_provider_app(runtime, name), port, f"{name} at /") for name, port in settings.provider_ports.items()]
    sites.append((build_app(settings, runtime), settings.port, "all providers + /_emulator"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover - not on this platform
            pass
    if lifeline is not None:  # readable only at end-of-file: nobody writes to it

        def parent_gone() -> None:
            loop.remove_reader(lifeline)  # (end-of-file stays readable: once is enough)
            stop.set()

        loop.add_reader(lifeline, parent_gone)
    try:
        for app, _, _ in sites:  # every app started (the main one starts the runtime) before any port listens
            app.on_response_prepare.append(_close_when_stopping(runtime))
            runner = web.AppRunner(app, **server_options(settings))
            await runner.setup()
            runners.append(runner)
        named = [*settings.provider_ports, None]  # (the main port last, as in sites)
        for runner, (_, port, what), name in zip(runners, sites, named):
            site = ListenerSite(runner, settings.host, port, budget, reuse_port=worker is not None)
            await site.start()
            if port == 0:  # the kernel chose it: the start line (and whatever builds URLs) says which
                port = site.port
                if name is None:
                    settings.port = port
                else:
                    settings.provider_ports[name] = port
            log.debug("listening on http://%s:%d (%s)", settings.host, port, what)
        if not settings.provider_ports:
            await runtime.start()  # provider-port apps share the runtime; the main app starts it
        if not worker:
            doors.extend(await front_doors.start(runtime, budget))
        if gc_pacing.pauses.tuned:
            pacer = gc_pacing.Pacer().start()
        if worker is not None:  # the parent says it once for all workers
            if ready is not None:
                os.write(ready, b"r")
                os.close(ready)
        elif settings.log_format == "json":  # log collectors read one JSON object per line
            log.info(start_line(settings, runtime))
        else:
            print(start_line(settings, runtime), flush=True)
        await stop.wait()
        log.info("shutting down: no new connections; answering the requests already received")
        await drain(runners, runtime, settings.shutdown_timeout)
    finally:
        if pacer is not None:
            pacer.stop()
        for door in doors:
            await door.stop()
        for runner in reversed(runners):
            await runner.cleanup()
        await runtime.stop()


def start_line(settings: Settings, runtime: Runtime, workers: int = 1) -> str:
    """What a user needs once it is up: each provider's base URL and the inbox page."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
    base = f"http://{host}:{settings.port}"
    urls = [f"{name} {base}/{name}" for name in sorted(runtime.providers)]
    urls += [f"{name} http://{host}:{port}" for name, port in settings.provider_ports.items()]
    if settings.smpp_port:
        urls.append(f"SMPP {host}:{settings.smpp_port}")
    if settings.smtp_port:
        urls.append(f"SMTP {host}:{settings.smtp_port}")
    where = f" (listening on {settings.host})" if settings.host in ("0.0.0.0", "::", "") else ""
    if workers > 1:
        where += f" ({workers} workers sharing {_redacted(settings.store)})"
    elif settings.store != "memory":
        where += f" (store {_redacted(settings.store)})"
    return f"msgemu {__version__} ready{where}: {', '.join(urls)}; inbox {base}/_emulator/ui"


def _redacted(url: str) -> str:
    """A store URL without its password, for the start line."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return url


def server_options(settings: Settings) -> dict:
    """How the HTTP server treats slow, idle and odd clients.

    keepalive_timeout also bounds a connection that never completes its request headers
    (aiohttp starts that timer when the connection is made): slowloris-style clients are cut.
    Bodies are not decoded by the server (as the providers' own servers don't): the provider
    gets the bytes and answers its own error when they make no sense (see base.read_body)."""
    return {
        "access_log": access_log(settings),  # None when off: no access log work at all
        # buffered plain lines; under --log-format json every line goes through the JSON formatter
        "access_log_class": access_log_module.AccessLog if settings.log_format == "text" else web_log.AccessLogger,
        "handler_cancellation": True,
        "keepalive_timeout": settings.idle_timeout,
        "auto_decompress": False,
        "shutdown_timeout": settings.shutdown_timeout,
    }


def _close_when_stopping(runtime: Runtime):
    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        if runtime.stopping:  # tell keep-alive clients to come back on a new connection (after restart)
            response.force_close()
            response.headers["Connection"] = "close"  # headers are computed before this hook runs

    return on_prepare


IDLE_GRACE = 0.5  # s: a keep-alive connection quiet this long while draining is taken for idle


async def drain(runners: list[web.AppRunner], runtime: Runtime, timeout: float) -> None:
    """Stop accepting, end event streams and long polls, then wait (up to `timeout`) until
    every request already received has been answered. runner.cleanup() then closes what is
    left: idle keep-alive connections."""
    runtime.stopping = True
    for runner in runners:
        for site in list(runner.sites):
            await site.stop()  # the listening sockets close: new connections are refused
    await runtime.shutdown()  # streams end, long polls answer 503 now
    # Keep-alive connections stay open meanwhile: a request arriving on one is answered, with
    # Connection: close, so its client comes back on a new connection (refused) rather than
    # seeing its request dropped. Done when every connection left has been quiet for
    # IDLE_GRACE (one quiet since before the drain: counted from its start), each on its own:
    # a client starved of CPU for a moment (a busy CI machine) still gets its next request in.
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout
    last_busy: dict = {}
    while loop.time() < deadline:
        now = loop.time()
        waiting = False
        for conn in [conn for runner in runners for conn in _connections(runner)]:
            if _busy(conn):
                last_busy[conn] = now
                waiting = True
            elif now - last_busy.get(conn, started) < IDLE_GRACE:
                waiting = True
        if not waiting:
            break
        await asyncio.sleep(0.02)


def _connections(runner: web.AppRunner) -> list:
    return list(runner.server.connections) if runner.server is not None else []


def _busy(conn) -> bool:
    """A connection with a request being handled or already parsed and queued."""
    return bool(getattr(conn, "_request_in_progress", False) or getattr(conn, "_messages", None))


def check_command(files: list[str]) -> int:
    schemas = Schemas()
    providers = {name: cls for name, cls in REGISTRY.items()}
    failed = 0
    for path in files:
        try:
            scenario = load_file(scenario_file(path), schemas)
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

"""The `msgemu` command as a user runs it: a real process on real sockets."""
from __future__ import annotations

import json
import re
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from emulator.cli import main
from emulator.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, body: dict | None = None, method: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as response:
        return response.status, json.loads(response.read())


def wait_up(url: str, proc: subprocess.Popen) -> None:
    """Poll until the server answers: often (it is up in well under a second), for at most 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        try:
            urllib.request.urlopen(url, timeout=0.5)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.02)
    raise AssertionError(f"{url} never came up")


@pytest.fixture
def serve():
    procs = []

    def start(*args, env=None):
        proc = subprocess.Popen(
            [sys.executable, "-m", "emulator.cli", "serve", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return err


def test_serve_answers_over_a_real_socket_and_stops_cleanly_on_ctrl_c(serve):
    port = free_port()
    proc = serve("--port", str(port), "--clock", "manual")
    base = f"http://127.0.0.1:{port}"
    wait_up(f"{base}/_emulator/health", proc)
    status, body = request(f"{base}/alphasms/api/json.php", {"auth": "alphasms-demo-key", "data": [{"type": "balance"}]})
    assert status == 200 and body["data"][0]["data"]["currency"] == "UAH"
    err = stop(proc)
    assert err.count('"POST /alphasms/api/json.php HTTP/1.1" 200') == 1  # one log line per request
    assert "shutting down" in err


def test_provider_port_serves_one_provider_at_its_root(serve):
    main_port, own_port = free_port(), free_port()
    proc = serve("--port", str(main_port), "--provider-port", f"alphasms={own_port}")
    wait_up(f"http://127.0.0.1:{main_port}/_emulator/health", proc)
    status, body = request(f"http://127.0.0.1:{own_port}/api/json.php", {"auth": "alphasms-demo-key", "data": [{"type": "balance"}]})
    assert body["success"] is True
    # both ports share one state: the main port sees the request made on the provider port
    _, journal = request(f"http://127.0.0.1:{main_port}/_emulator/requests")
    assert journal["requests"][-1]["path"] == "/api/json.php"
    stop(proc)


def test_env_vars_configure_the_server(serve):
    port = free_port()
    proc = serve(env={"MSGEMU_PORT": str(port), "MSGEMU_CLOCK": "manual"})
    wait_up(f"http://127.0.0.1:{port}/_emulator/health", proc)
    _, health = request(f"http://127.0.0.1:{port}/_emulator/health")
    assert health["clock"]["mode"] == "manual"
    stop(proc)


def test_scenario_file_is_loaded_and_reloaded_when_it_changes(serve, tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: first\nrules: []\n")
    port = free_port()
    proc = serve("--port", str(port), "--scenario", str(scenario))
    base = f"http://127.0.0.1:{port}"
    wait_up(f"{base}/_emulator/health", proc)
    assert request(f"{base}/_emulator/scenario")[1]["active"]["name"] == "first"
    loaded_at = scenario.stat().st_mtime
    scenario.write_text("name: second\nrules: []\n")
    # an edit a second later, without waiting that second (a file system's mtime may be that coarse)
    os.utime(scenario, (loaded_at + 1, loaded_at + 1))
    deadline = time.monotonic() + 5  # the file is looked at every second
    while time.monotonic() < deadline:
        if request(f"{base}/_emulator/scenario")[1]["active"]["name"] == "second":
            break
        time.sleep(0.05)
    assert request(f"{base}/_emulator/scenario")[1]["active"]["name"] == "second"
    stop(proc)


def test_bad_flags_exit_with_a_message_not_a_traceback(tmp_path):
    cases = (["--provider-port", "nope=9"], ["--provider-port", "alphasms"], ["--scenario", str(tmp_path / "missing.yaml")])
    procs = [  # started together: each is a fresh interpreter that exits on its own
        subprocess.Popen([sys.executable, "-m", "emulator.cli", "serve", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for args in cases
    ]
    try:
        for args, proc in zip(cases, procs):
            _, stderr = proc.communicate(timeout=20)
            assert proc.returncode == 2, (args, stderr)
            assert "Traceback" not in stderr and stderr.startswith("msgemu:")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_check_scenario_reports_errors_with_line_numbers(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\n"
        "rules:\n"
        "  - match: {provider: alphasms}\n"
        "    deliver:\n"
        "      sms:\n"
        "        - {after: 1, status: teleported}\n"
        "  - match: {provider: alphasms}\n"
        "    reply: {error: no_such_error}\n"
    )
    assert main(["check-scenario", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:6:" in out and "teleported" in out
    bad.write_text("rules:\n  - match: {provider: alphasms}\n    reply: {error: no_such_error}\n")
    assert main(["check-scenario", str(bad)]) == 1
    assert "no_such_error" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - match: {\n")
    assert main(["check-scenario", str(broken)]) == 1
    assert f"{broken}:" in capsys.readouterr().out


def test_settings_precedence(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("port: 7000\nclock: manual\nprovider_ports: {alphasms: 9001}\n")
    settings = Settings.load({"config": str(config), "port": 7100}, env={"MSGEMU_PORT": "7050", "MSGEMU_RETENTION": "10"})
    assert settings.port == 7100 and settings.clock == "manual" and settings.retention == 10
    assert settings.provider_ports == {"alphasms": 9001}
    assert Settings.load({}, env={"MSGEMU_PROVIDER_PORTS": "alphasms=9001,smsc=9002"}).provider_ports == {"alphasms": 9001, "smsc": 9002}
    with pytest.raises(ValueError):
        Settings.load({}, env={"MSGEMU_CLOCK": "sundial"})


def test_start_line_names_every_url_and_a_busy_port_is_one_clear_line(serve):
    port = free_port()
    proc = serve("--port", str(port), "--clock", "manual")
    line = proc.stdout.readline()  # printed once every socket listens
    base = f"http://127.0.0.1:{port}"
    assert line.startswith("msgemu ") and " ready: " in line
    for provider in ("alphasms", "octopush", "smsc", "hyber", "revicom"):
        assert f"{provider} {base}/{provider}" in line
    assert line.rstrip().endswith(f"inbox {base}/_emulator/ui")
    second = subprocess.run([sys.executable, "-m", "emulator.cli", "serve", "--port", str(port)], capture_output=True, text=True, timeout=30)
    assert second.returncode == 2
    assert second.stderr.strip() == (
        f"msgemu: cannot listen on 127.0.0.1:{port}: address already in use (another msgemu? choose one with --port or MSGEMU_PORT)"
    )
    stop(proc)


def test_port_0_lets_the_kernel_choose_and_the_start_line_says_which(serve):
    proc = serve("--port", "0", "--provider-port", "smsc=0", "--clock", "manual")
    line = proc.stdout.readline()
    ports = re.findall(r"http://127\.0\.0\.1:(\d+)", line)
    assert ports and "0" not in ports, line  # (a harness starting msgemu on a free port reads it here)
    main = int(re.search(r"alphasms http://127\.0\.0\.1:(\d+)/alphasms", line)[1])
    own = int(re.search(r"smsc http://127\.0\.0\.1:(\d+)[;,]", line)[1])  # (its own port: no path)
    assert main != own
    status, body = request(f"http://127.0.0.1:{main}/alphasms/api/json.php", {"auth": "alphasms-demo-key", "data": [{"type": "balance"}]})
    assert status == 200 and body["success"] is True
    with urllib.request.urlopen(f"http://127.0.0.1:{own}/sys/balance.php?login=demo&psw=demo-password&fmt=3", timeout=5) as answer:
        assert "balance" in json.loads(answer.read())
    stop(proc)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"MSGEMU_PORT": "eighty"}, "msgemu: MSGEMU_PORT='eighty': not an integer"),
        ({"MSGEMU_CLOCK": "sundial"}, "msgemu: MSGEMU_CLOCK='sundial': must be 'real' or 'manual'"),
        ({"MSGEMU_CALLBACK_TIMEOUT": "soon"}, "msgemu: MSGEMU_CALLBACK_TIMEOUT='soon': not a number"),
        ({"MSGEMU_PROVIDER_PORTS": "smsc"}, "msgemu: MSGEMU_PROVIDER_PORTS='smsc': provider port must look like name=port, not 'smsc'"),
        ({"MSGEMU_LOOP": "trio"}, "msgemu: MSGEMU_LOOP='trio': must be 'auto', 'asyncio' or 'uvloop'"),
    ],
)
def test_a_bad_environment_value_is_one_line_naming_the_variable(monkeypatch, capsys, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["serve"]) == 2
    assert capsys.readouterr().err.strip() == message


def test_asking_for_uvloop_where_it_is_not_installed_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what `import uvloop` finds without msgemu[fast]
    assert main(["serve", "--loop", "uvloop"]) == 2
    assert capsys.readouterr().err.strip() == (
        "msgemu: --loop='uvloop': uvloop is not installed (pip install 'msgemu[fast]'; it does not exist "
        "on Windows), or choose 'auto' or 'asyncio'"
    )
    assert Settings.load({"loop": "auto"}, env={}).loop == "auto"  # auto falls back to asyncio's loop


def test_version_comes_from_the_package(capsys):
    from emulator import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"msgemu {__version__}"
    from emulator.resources import parse_yaml, shipped

    # the control API document states the same version (it is not a second source: this keeps it so)
    assert parse_yaml((shipped("schemas") / "control-api.openapi.yaml").read_text())["info"]["version"] == __version__


def test_shipped_scenarios_can_be_named_without_their_path(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # wherever the package lives, a name is enough
    assert main(["check-scenario", "happy-path", "flaky-network.yaml"]) == 0
    assert capsys.readouterr().out.splitlines() == ["happy-path: OK (2 rules)", "flaky-network.yaml: OK (3 rules)"]
    from emulator.runtime import Runtime

    assert Runtime(Settings(scenario="viber-fallback-to-sms", clock="manual")).scenarios.active.name == "viber-fallback-to-sms"


def test_a_bad_config_file_is_one_line_naming_it(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    for text, message in (("port: [1\n", "not valid YAML"), ("- port\n", "expected a mapping"), ("port: x\n", f"{config}: port='x': not an integer")):
        config.write_text(text)
        assert main(["serve", "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"msgemu: {config}") and message in err and err.count("\n") == 1, err

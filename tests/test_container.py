"""Example: msgemu's container image started by Testcontainers, used through emulator.client.

What a team whose suite is in Python but whose emulator runs as a container does. Needs a
Docker daemon and the image (`docker build -t msgemu .`; .ci/run builds it as msgemu:ci and
sets MSGEMU_IMAGE); skipped, saying which is missing, otherwise.
"""
from __future__ import annotations

import json
import os
import secrets
import urllib.request

import pytest

from emulator.client import Msgemu

# Ryuk (Testcontainers' reaper) is an image of its own from a registry; the `with` block below
# removes the container anyway
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
IMAGE = os.environ.get("MSGEMU_IMAGE", "msgemu:latest")


@pytest.fixture(scope="module")
def image() -> str:
    docker = pytest.importorskip("docker", reason="testcontainers is not installed (pip install -e '.[test]')")
    try:
        daemon = docker.from_env()
        daemon.ping()
    except Exception as exc:  # no socket, no permission, daemon down: all mean "no Docker here"
        pytest.skip(f"no Docker daemon reachable ({type(exc).__name__}); .ci/run starts one")
    try:
        daemon.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"image {IMAGE} is not built: docker build -t {IMAGE} . (.ci/run builds it)")
    return IMAGE


def test_the_image_started_by_testcontainers_serves_an_otp_flow(image):
    from testcontainers.core.container import DockerContainer

    token = secrets.token_hex(8)  # msgemu listens on all interfaces inside: its control API wants a token
    container = DockerContainer(image).with_env("MSGEMU_CLOCK", "manual").with_env("MSGEMU_CONTROL_TOKEN", token)
    with container.with_exposed_ports(8080) as container:
        emu = Msgemu(f"http://{container.get_container_host_ip()}:{container.get_exposed_port(8080)}", token=token)
        assert emu.wait_ready(timeout=30)["clock"]["mode"] == "manual"
        body = {"auth": "alphasms-demo-key", "data": [{"type": "sms", "id": 7, "phone": 380971234567,
                                                       "sms_signature": "App", "sms_message": "Your code is 7311"}]}
        request = urllib.request.Request(emu.url("alphasms") + "/api/json.php", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["data"][0]["success"] is True
        assert emu.wait_otp("380971234567") == "7311"
        emu.advance(5)
        assert emu.messages(phone="380971234567")[0]["status"] == "delivered"
        assert [r["outcome"] for r in emu.requests(provider="alphasms")] == ["accepted"]

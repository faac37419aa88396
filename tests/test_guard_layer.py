"""With the memory store the control guard is asked by the journal's layer (one middleware
layer for a provider request): /_emulator paths are still guarded on the main port and on a
provider's own port, and what the guard refuses is neither journaled nor counted."""
from __future__ import annotations

from emulator.app import build_app, build_provider_app
from emulator.middleware import http_concerns
from emulator.runtime import Runtime
from emulator.settings import Settings


def settings() -> Settings:
    return Settings(clock="manual", watch_scenario=False, callback_loopback_only=True)


async def test_one_layer_and_the_guard_still_refuses(aiohttp_client):
    runtime = Runtime(settings())
    app = build_app(settings(), runtime)
    assert list(app.middlewares) == [http_concerns]  # no CORS origins configured: nothing else
    client = await aiohttp_client(app)
    smsc_port = await aiohttp_client(build_provider_app(runtime, "smsc"))

    refused = await client.get("/_emulator/requests", headers={"Host": "evil.example"})
    assert refused.status == 403 and "is not served here" in (await refused.json())["error"]
    form = await client.post("/_emulator/reset", data=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status == 403
    on_provider_port = await smsc_port.get("/_emulator/anything", headers={"Host": "evil.example"})
    assert on_provider_port.status == 403  # the guard, not SMSC's unknown path

    sent = await client.post("/alphasms/api/json.php", json={"auth": "alphasms-demo-key", "data": [
        {"type": "sms", "id": 1, "phone": 380971234567, "sms_signature": "Bench", "sms_message": "Hi"}]})
    assert sent.status == 200 and (await sent.json())["success"] is True
    journal = await (await client.get("/_emulator/requests")).json()
    assert [record["path"] for record in journal["requests"]] == ["/alphasms/api/json.php"]
    metrics = await (await client.get("/_emulator/metrics")).text()
    counted = [line for line in metrics.splitlines() if line.startswith("msgemu_requests_total{")]
    assert counted == ['msgemu_requests_total{outcome="accepted",provider="alphasms"} 1.0']  # the refusals are not counted

"""The inbox page in headless Chromium (Debian's chromium, driven by Playwright): live updates
over SSE, phone filter, status history and callback attempts."""
from __future__ import annotations

import os
import shutil

import aiohttp
import pytest

from emulator.app import build_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian chromium is not installed (.ci/run installs it)", allow_module_level=True)
playwright = pytest.importorskip("playwright.async_api")

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
URL = "/alphasms/api/json.php"


def sms(phone, id, text, hook=None):
    item = {"type": "sms", "id": id, "phone": phone, "sms_signature": "Shop", "sms_message": text}
    if hook:
        item["hook"] = hook
    return {"auth": "alphasms-demo-key", "data": [item]}


@pytest.fixture
async def browser_page():
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        yield page
        await browser.close()


async def test_inbox_shows_messages_live_with_history_and_callbacks(aiohttp_server, settings, browser_page, tmp_path):
    server = await aiohttp_server(build_app(settings))
    base = f"http://127.0.0.1:{server.port}"
    page = browser_page
    async with aiohttp.ClientSession(base) as http:
        await http.post(URL, json=sms(380971111111, 1, "Hello from before the page opened"))
        await page.goto(f"{base}/_emulator/ui")
        await page.wait_for_selector("#live.on")
        await page.wait_for_selector("text=Hello from before the page opened")

        # live: a message sent while the page is open appears without a reload
        hook = f"{base}/_emulator/receiver/ui-test"
        await http.post(URL, json=sms(380972222222, 2, "Your code is 731902", hook=hook))
        await page.wait_for_selector('.conversation[data-recipient="380972222222"]')
        await page.click('.conversation[data-recipient="380972222222"]')
        bubble = page.locator(".bubble", has_text="Your code is 731902")
        await bubble.wait_for()
        assert "OTP 731902" in await bubble.inner_text()
        assert "accepted" in await bubble.locator(".status").inner_text()

        # the status follows the lifecycle live
        await http.post("/_emulator/clock/advance", json={"seconds": 5})
        await page.wait_for_selector('.bubble:has-text("731902") .status-delivered')

        # details: status history and callback attempts
        await bubble.click()
        await page.wait_for_selector("#history td.status-delivered")
        history = await page.locator("#history").inner_text()
        for status in ("accepted", "queued", "sent", "delivered"):
            assert status in history
        callbacks = await page.locator("#callbacks").inner_text()
        assert "ui-test" in callbacks and "200" in callbacks

        # filter by phone
        await page.fill("#phone-filter", "0971111")
        await page.wait_for_function("document.querySelectorAll('.conversation').length === 1")
        assert await page.locator(".conversation").get_attribute("data-recipient") == "380971111111"
        await page.screenshot(path=str(tmp_path / "inbox.png"))
        if os.environ.get("MSGEMU_UI_SCREENSHOT"):
            await page.screenshot(path=os.environ["MSGEMU_UI_SCREENSHOT"])


async def test_stream_sends_server_sent_events(client):
    response = await client.get("/_emulator/stream")
    assert response.headers["Content-Type"] == "text/event-stream"
    hello = await response.content.readuntil(b"\n\n")
    assert hello.startswith(b"event: hello")
    await client.post(URL, json=sms(380973333333, 3, "sse"))
    chunk = await response.content.readuntil(b"\n\n")
    assert b"event: message" in chunk and b"380973333333" in chunk
    response.close()

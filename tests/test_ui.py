"""The inbox page in headless Chromium (Debian's chromium, driven by Playwright) against a real
server: recipients with provider, last status, time and opt-outs; a message's cascade, raw
provider request and response, status history and callback attempts with "resend"; search;
deep links; clock controls and reset; 360 px wide; live updates that resync after a burst or an
SSE error; the messages-per-minute chart. Screenshots are kept in tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from emulator.app import build_app
from emulator.runtime import RUNTIME_KEY

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian chromium is not installed (.ci/run installs it)", allow_module_level=True)
playwright = pytest.importorskip("playwright.async_api")

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
URL = "/alphasms/api/json.php"


def sms(phone, id, text, hook=None, **extra):
    item = {"type": "sms", "id": id, "phone": phone, "sms_signature": "Shop", "sms_message": text, **extra}
    if hook:
        item["hook"] = hook
    return item


def body(*items):
    return {"auth": "alphasms-demo-key", "data": list(items)}


# the page tests share one browser (starting Playwright's driver and Chromium is most of their
# time), so they and their fixtures run on the module's event loop
on_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_browser():
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def browser(shared_browser):
    """The shared browser; each page a test opens has a context of its own (no cookies, storage
    or cache from another test), closed when the test ends."""
    yield shared_browser
    for context in shared_browser.contexts:
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def served(settings):
    """A fresh emulator per test on a real server."""
    app = build_app(settings)
    server = TestServer(app)
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession(base) as http:
            yield base, http, app[RUNTIME_KEY]
    finally:
        await server.close()


async def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), full_page=True)


async def no_external_requests(page, base):
    """Record every URL the page asks for: all must be the emulator's own."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    return asked


@on_module_loop
async def test_inbox_debugging_flow(served, browser):
    base, http, _ = served
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    asked = await no_external_requests(page, base)
    hook = f"{base}/_emulator/receiver/ui-test"
    await http.post(URL, json=body(sms(380971111111, 1, "Hello from before the page opened")))
    await page.goto(f"{base}/_emulator/ui")
    await page.wait_for_selector("#live.on")
    await page.wait_for_selector("text=Hello from before the page opened")

    # live: messages sent while the page is open appear; one cascades viber -> sms (magic 380000000007)
    await http.post(URL, json=body(sms(380972222222, 2, "Your code is 731902. Support: 0800 123 456", hook=hook)))
    cascade = {"type": "viber+sms", "id": 3, "phone": 380000000007, "viber_type": "text", "viber_signature": "Shop",
               "viber_message": "Viber first", "sms_signature": "Shop", "sms_message": "SMS fallback"}
    await http.post(URL, json=body(cascade))
    await http.post(URL, json=body(sms(380000000003, 4, "Never arrives")))  # magic: undelivered
    row = page.locator('.conversation[data-recipient="380972222222"]')
    await row.wait_for()
    assert "alphasms" in await row.locator(".provider").inner_text()

    # the clock controls: current time shown, advance from the page; statuses follow live
    before = await page.locator("#clock-now").inner_text()
    assert "manual" in before
    await page.fill("#advance-seconds", "30")
    await page.click("#advance")
    await page.wait_for_selector('.conversation[data-recipient="380972222222"] .status-delivered')
    assert await page.locator("#clock-now").inner_text() != before
    assert "change(s) fired" in await page.locator("#notice").inner_text()

    # the list marks failures and shows opt-outs
    failed = page.locator('.conversation[data-recipient="380000000003"]')
    await failed.locator(".status-undelivered").wait_for()
    assert "failed" in (await failed.get_attribute("class")) and "✕" in await failed.locator(".last-status").inner_text()
    await http.post("/_emulator/inbound", json={"phone": "380971111111", "text": "STOP"})
    await page.locator('.conversation[data-recipient="380971111111"] .optout').wait_for()

    # a message: status history, raw request and response, callbacks with resend
    await row.click()
    bubble = page.locator(".bubble", has_text="Your code is 731902")
    assert "OTP 731902" in await bubble.inner_text()
    await bubble.click()
    await page.wait_for_selector("#history td.status-delivered")
    message_id = await bubble.get_attribute("data-message")
    assert page.url.endswith(f"#/message/{message_id}")
    history = await page.locator("#history").inner_text()
    for status in ("accepted", "queued", "sent", "delivered"):
        assert status in history
    assert "POST /alphasms/api/json.php" in await page.locator("#raw-request").inner_text()
    assert "731902" in await page.locator("#raw-request").inner_text()
    assert "HTTP 200" in await page.locator("#raw-response").inner_text()
    callbacks = await page.locator("#callbacks").inner_text()
    assert "ui-test" in callbacks and "200" in callbacks
    await page.locator("#callbacks .resend").first.click()
    notice = page.locator("#callback-notice")
    await notice.wait_for(state="visible")
    assert "resent" in await notice.inner_text()

    # every channel of a cascade, each with its own status
    await page.goto(f"{base}/_emulator/ui#/message/{await message_of(http, '380000000007')}")
    await page.wait_for_selector("#cascade tr[data-channel='sms']")
    assert "undelivered" in await page.locator("#cascade tr[data-channel='viber']").inner_text()
    assert "delivered" in await page.locator("#cascade tr[data-channel='sms']").inner_text()
    assert await page.locator(".conversation.active").get_attribute("data-recipient") == "380000000007"
    await shot(page, "inbox-desktop-cascade.png")
    await page.goto(f"{base}/_emulator/ui#/message/no-such-id")
    await page.wait_for_selector("#missing")

    # search by text, provider, status, channel
    await page.fill("#search", "0971111")
    await page.wait_for_function("document.querySelectorAll('.conversation').length === 1")
    await page.fill("#search", "never arrives")
    await page.wait_for_function("document.querySelector('.conversation').dataset.recipient === '380000000003'")
    await page.fill("#search", "")
    await page.select_option("#status-filter", "undelivered")
    await page.wait_for_function("document.querySelectorAll('.conversation').length === 1")
    await page.select_option("#status-filter", "")
    await page.select_option("#channel-filter", "viber")
    await page.wait_for_function("document.querySelectorAll('.conversation').length === 1")
    assert await page.locator(".conversation").get_attribute("data-recipient") == "380000000007"
    await page.select_option("#channel-filter", "")
    await page.select_option("#provider-filter", "smsc")
    await page.wait_for_selector(".empty:has-text('No messages.')")
    await page.select_option("#provider-filter", "")

    # the chart counts this minute's messages by status
    await page.wait_for_function("[...document.querySelectorAll('#chart g')].reduce((n, g) => n + +g.dataset.total, 0) === 4")
    assert await page.locator("#chart rect.bar-failed").count() >= 1
    await shot(page, "inbox-desktop-chart.png")

    # reset from the page
    await page.click("#reset")
    await page.wait_for_selector(".empty:has-text('No messages.')")
    assert (await (await http.get("/_emulator/messages")).json())["count"] == 0
    assert all(url.startswith(base) for url in asked), [u for u in asked if not u.startswith(base)]


async def message_of(http, phone):
    listed = await (await http.get("/_emulator/messages", params={"phone": phone})).json()
    return listed["messages"][-1]["id"]


SCENARIO = """
name: ui rules
description: slow promos
rules:
  - name: slow promos
    match: {text_regex: "promo"}
    deliver:
      sms: [{after: 1, status: sent}, {after: 120, status: delivered}]
"""


@on_module_loop
async def test_scenario_rule_of_each_message_and_rejected_requests(served, browser):
    base, http, _ = served
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{base}/_emulator/ui")
    await page.wait_for_selector("#live.on")
    assert await page.locator("#scenario").inner_text() == "scenario: none"
    assert "No rejected requests" in await page.locator("#rejected").inner_text()

    # the header follows the active scenario; each message says which rule decided it
    loaded = await http.put("/_emulator/scenario", data=SCENARIO, headers={"Content-Type": "application/yaml", "X-Msgemu-Request": "1"})
    assert loaded.status == 200, await loaded.text()
    await page.wait_for_selector("#scenario:has-text('scenario: ui rules (1 rules)')")
    await http.post(URL, json=body(sms(380974444444, 1, "promo -20%"), sms(380975555555, 2, "Code 1234")))
    promo = page.locator('.conversation[data-recipient="380974444444"]')
    await promo.locator(".rule-mark").wait_for()
    assert await page.locator('.conversation[data-recipient="380975555555"] .rule-mark').count() == 0
    await promo.click()
    await page.locator(".bubble .rule-mark", has_text="slow promos").click()
    await page.wait_for_selector("#rule strong")
    assert await page.locator("#rule").inner_text() == 'Decided by "slow promos" (#0 of <PUT /_emulator/scenario>)'
    await page.goto(f"{base}/_emulator/ui#/message/{await message_of(http, '380975555555')}")
    await page.wait_for_selector("#rule:has-text('default delivery plan')")

    # rejected provider requests appear live, each with the rule that fired
    await http.post(URL, json=body(sms(380000000001, 3, "magic refuses")))
    await http.post(URL, json={"auth": "alphasms-demo-key", "data": [{"type": "sms", "id": 4, "phone": 380971234567}]})
    await http.post(URL, json={"auth": "wrong-key", "data": [sms(380971234567, 5, "x")]})
    await page.wait_for_function("document.querySelectorAll('#rejected-requests tr[data-request]').length === 3")
    assert await page.locator("#rejected-count").inner_text() == "3"
    rows = [await r.inner_text() for r in await page.locator("#rejected-requests tr[data-request]").all()]
    assert "auth" in rows[0]  # newest first
    assert "schema" in rows[1] and "/data/0" in rows[1]
    assert 'magic recipient 380000000001: "alphasms invalid phone" (#0 of magic/alphasms.yaml)' in rows[2]
    assert "POST /alphasms/api/json.php" in rows[2]
    await shot(page, "inbox-scenario-rules-rejected.png")

    await http.delete("/_emulator/scenario", headers={"X-Msgemu-Request": "1"})
    await page.wait_for_selector("#scenario.none")


@on_module_loop
async def test_works_360_px_wide_with_a_deep_link(served, browser):
    base, http, _ = served
    hook = f"{base}/_emulator/receiver/narrow"
    await http.post(URL, json=body(sms(380973333333, 1, "Ваш код 5521, не сообщайте его никому", hook=hook)))
    await http.post(URL, json=body(sms(380000000001, 2, "a rejected request, its reason on a narrow screen")))
    await http.post("/_emulator/clock/advance", json={"seconds": 5})
    page = await browser.new_page(viewport={"width": 360, "height": 740}, is_mobile=True)
    await page.goto(f"{base}/_emulator/ui#/message/{await message_of(http, '380973333333')}")
    await page.wait_for_selector("#history td.status-delivered")
    await page.wait_for_selector("#callbacks .resend")
    await page.wait_for_selector("#rejected-requests tr[data-request]")
    overflow = await page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 360, f"the page is {overflow} px wide at a 360 px viewport"
    for selector in ("#search", "#advance", "#reset", "#status-filter", ".conversation", ".bubble", "#scenario", "#rejected-requests .reason"):
        box = await page.locator(selector).first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 361, (selector, box)
    await shot(page, "inbox-360px.png")


@on_module_loop
async def test_live_view_resyncs_after_a_burst_and_after_a_stream_error(served, browser):
    base, http, runtime = served
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(f"{base}/_emulator/ui")
    await page.wait_for_selector("#live.on")

    # a burst: 300 messages x (message + accepted, queued, sent, delivered events) > 1,000 updates
    phones = [380950000000 + n for n in range(300)]
    await http.patch("/_emulator/accounts/alphasms", json={"balance": 100000})
    sent = await http.post(URL, json=body(*(sms(p, p, f"burst {p}") for p in phones)))
    assert sent.status == 200 and (await (await http.get("/_emulator/messages/count")).json())["count"] == 300
    await http.post("/_emulator/clock/advance", json={"seconds": 5})
    await page.wait_for_function("window.msgemuInbox.resyncs >= 1", timeout=20000)
    reason = await page.evaluate("window.msgemuInbox.lastResync")
    assert "1,000" in reason or "missed" in reason, reason
    await page.wait_for_function("document.querySelectorAll('.conversation .status-delivered').length === 300", timeout=20000)
    assert await page.locator(".conversation .status-sent, .conversation .status-queued, .conversation .status-accepted").count() == 0

    # a stream error: the server ends the stream; what was sent meanwhile shows up all the same
    resyncs = await page.evaluate("window.msgemuInbox.resyncs")
    runtime.store.notify({"type": "shutdown"})  # what a server going down sends its streams...
    runtime.store.closing = False  # ...but this one stays up: the page must reconnect and resync
    await http.post(URL, json=body(sms(380979999999, 1, "sent while the stream was down")))
    await page.wait_for_selector("text=sent while the stream was down", timeout=15000)
    # the burst's own resync may still land after this point: look for the stream's among the new ones
    await page.wait_for_function(
        f"window.msgemuInbox.resyncs > {resyncs} && "
        f"window.msgemuInbox.resyncReasons.slice(-(window.msgemuInbox.resyncs - {resyncs})).some(r => r.includes('stream'))",
        timeout=15000,
    )
    await page.wait_for_selector("#live.on", timeout=15000)
    await shot(page, "inbox-after-resync.png")


async def test_stream_sends_server_sent_events(client):
    response = await client.get("/_emulator/stream")
    assert response.headers["Content-Type"] == "text/event-stream"
    hello = await response.content.readuntil(b"\n\n")
    assert hello == b"retry: 1000\nevent: hello\ndata: {}\n\n"  # a dropped stream comes back after 1 s
    await client.post(URL, json=body(sms(380973333333, 3, "sse")))
    chunk = await response.content.readuntil(b"\n\n")
    assert b"event: message" in chunk and b"380973333333" in chunk
    response.close()


def test_page_fetches_nothing_from_outside():
    static = Path(__file__).resolve().parents[1] / "emulator" / "ui" / "static"
    for path in static.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, path.name
        assert "//cdn" not in text and "@import" not in text, path.name

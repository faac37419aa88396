"""Where callbacks may go: redirects are not followed, --callback-loopback-only cannot be
bypassed, link-local / metadata targets are refused by default, and the application under
test (loopback, a private address, a compose service name) is still reached."""
from __future__ import annotations

import ipaddress

import pytest
from aiohttp import web

from emulator.app import build_app
from emulator.core.targets import GuardedResolver, TargetPolicy, TargetRefused
from emulator.settings import Settings

from .test_callbacks_outage import advance, journal
from .test_control import send, sms


@pytest.fixture
async def hooks(aiohttp_server):
    """Two real receivers: /redirect answers 307 to the other one, /hook records."""
    got: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    recorder = await aiohttp_server(app)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(recorder.make_url("/hook")))

    bouncer_app = web.Application()
    bouncer_app.router.add_post("/redirect", redirect)
    bouncer = await aiohttp_server(bouncer_app)
    return recorder, bouncer, got


def app_with(**settings) -> web.Application:
    return build_app(Settings(clock="manual", watch_scenario=False, **settings))


async def test_redirects_are_not_followed(aiohttp_client, hooks):
    recorder, bouncer, got = hooks
    client = await aiohttp_client(app_with(callback_loopback_only=True))
    await send(client, sms(id=1, hook=str(bouncer.make_url("/redirect"))))
    await advance(client, 5)
    [attempt] = await journal(client)
    assert attempt["status"] == 307 and attempt["error"] == "HTTP 307 (redirects are not followed)"
    assert attempt["outcome"] == "retrying" and got == []


BYPASSES = ["http://127.0.0.1.nip.io:9/hook", "http://127.example.org/hook", "http://[::ffff:10.0.0.1]:9/"]
LINK_LOCAL = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]:8080/hook",
    "http://[::ffff:169.254.169.254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://0.0.0.0:9/hook",
]


async def refused_outcomes(client, urls: list[str]) -> dict[str, list[str]]:
    await send(client, *(sms(phone=380971230000 + i, id=i, hook=url) for i, url in enumerate(urls)))
    answer = await advance(client, 5)
    assert answer["callbacks"]["refused"] == 2 * len(urls)
    outcomes: dict[str, list[str]] = {}
    for attempt in await journal(client):
        assert attempt["error"].startswith("not sent") and attempt["status"] is None and attempt["next_retry_in"] is None
        outcomes.setdefault(attempt["url"], []).append(attempt["outcome"])
    return outcomes


async def test_loopback_only_judges_the_address_not_the_spelling(aiohttp_client):
    client = await aiohttp_client(app_with(callback_loopback_only=True))
    assert await refused_outcomes(client, BYPASSES) == {url: ["refused", "refused"] for url in BYPASSES}


async def test_link_local_and_metadata_targets_are_refused_by_default(aiohttp_client):
    client = await aiohttp_client(app_with())
    assert await refused_outcomes(client, LINK_LOCAL) == {url: ["refused", "refused"] for url in LINK_LOCAL}
    failed = await (await client.get("/_emulator/callbacks/failed")).json()
    assert failed["count"] == 2 * len(LINK_LOCAL) and {c["state"] for c in failed["callbacks"]} == {"refused"}


async def test_the_application_under_test_is_still_reached(aiohttp_client, hooks):
    recorder, _, got = hooks
    client = await aiohttp_client(app_with())  # default policy, no loopback-only
    await send(client, sms(id=4, hook=str(recorder.make_url("/hook"))))
    await send(client, sms(phone=380971234568, id=5, hook=f"http://localhost:{recorder.port}/hook"))
    await advance(client, 5)
    assert sorted((g["id"], g["status"]) for g in got) == [(4, "DELIVERED"), (4, "ENROUTE"), (5, "DELIVERED"), (5, "ENROUTE")]


class FakeDNS:
    """What an attacker's DNS answers: a public-looking name pointing anywhere."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host, port=0, family=0):
        return [{"hostname": host, "host": self.address, "port": port, "family": family, "proto": 0, "flags": 0}]

    async def close(self):
        pass


@pytest.mark.parametrize(
    "address, loopback_only, refused",
    [
        ("169.254.169.254", False, True),  # a name that resolves to the metadata service
        ("fd00:ec2::254", False, True),
        ("10.1.2.3", False, False),  # a compose service / private address: the app under test
        ("172.18.0.5", False, False),
        ("127.0.0.1", True, False),
        ("10.1.2.3", True, True),
    ],
)
async def test_names_are_judged_on_the_address_they_resolve_to(address, loopback_only, refused):
    resolver = GuardedResolver(TargetPolicy(loopback_only=loopback_only))
    resolver._inner = FakeDNS(address)
    name = "localhost" if loopback_only else "app"
    if refused:
        with pytest.raises(TargetRefused):
            await resolver.resolve(name, 80)
    else:
        assert [r["host"] for r in await resolver.resolve(name, 80)] == [address]


def test_link_local_can_be_allowed_explicitly():
    TargetPolicy(allow_link_local=True).check_address(ipaddress.ip_address("169.254.169.254"))
    TargetPolicy(allow_link_local=True).check_name("metadata.google.internal")
    with pytest.raises(TargetRefused):
        TargetPolicy().check_name("metadata.google.internal")


def test_a_hosts_verdict_is_remembered_within_a_bound():
    policy = TargetPolicy(loopback_only=True)
    assert policy.check_host("127.0.0.1") == ipaddress.ip_address("127.0.0.1")
    assert policy.check_host("127.0.0.1") == ipaddress.ip_address("127.0.0.1")
    assert policy.check_host("localhost") is None  # a name: its addresses are the resolver's to judge
    for _ in range(2):  # refused the first time and every time after, with the same reason
        with pytest.raises(TargetRefused, match="10.0.0.1 is not loopback"):
            policy.check_host("10.0.0.1")
    for i in range(3000):
        with pytest.raises(TargetRefused):
            policy.check_host(f"10.0.{i // 256}.{i % 256}")
    assert len(policy._verdicts) <= 1024

"""Namespaces over real HTTP: parallel test runs sharing one emulator (one server per module).

Two namespaces send to the same phone with their own credentials and see only their own
messages, requests, balance, scenario, directories and callbacks; a reset of one leaves the
other and the default untouched; without namespaces everything is as before."""
from __future__ import annotations

import base64
import itertools
import json
import urllib.parse
import urllib.request
from decimal import Decimal

import pytest

from emulator.app import build_app
from emulator.client import ControlAPIError, Msgemu
from emulator.core.model import Account
from emulator.core.namespaces import Namespaces, TooManyNamespaces
from emulator.core.store import Store
from emulator.runtime import RUNTIME_KEY
from emulator.server_thread import ServerThread

from .conftest import threaded_receiver
from .sends import send_request

PHONE = "380971234567"
DEMO_KEY = "alphasms-demo-key"
CLIENT_IDS = itertools.count(1)  # AlphaSMS refuses an item id an account already used
NO_RECORDS = {"error": "records not found", "error_code": 3}  # SMSC's answer to an empty listing


@pytest.fixture(scope="module")
def server():
    started = ServerThread().start()
    yield started
    started.stop()


@pytest.fixture
def emu(server):
    client = Msgemu(server.base)
    client.reset()
    client.call("DELETE", "/_emulator/namespaces")
    return client


@pytest.fixture(scope="module")
def hook():
    """The application's own webhook receiver on this machine: callbacks are really POSTed."""
    with threaded_receiver("/hook") as receiver:
        yield receiver


def alphasms_send(emu: Msgemu, key: str, text: str, phone: str = PHONE, hook: str | None = None, item_id: int | None = None) -> tuple[int, dict | str]:
    item = {"type": "sms", "id": item_id or next(CLIENT_IDS), "phone": int(phone), "sms_signature": "Shop", "sms_message": text}
    if hook:
        item["hook"] = hook
    request = urllib.request.Request(
        emu.url("alphasms") + "/api/json.php",
        data=json.dumps({"auth": key, "data": [item]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def smsc(emu: Msgemu, command: str, login: str, password: str, **params: str) -> dict | list:
    query = urllib.parse.urlencode({"login": login, "psw": password, "fmt": "3", "charset": "utf-8", **params})
    with urllib.request.urlopen(f"{emu.url('smsc')}/sys/{command}?{query}", timeout=10) as response:
        return json.loads(response.read())


def smsc_as(namespace, command: str, **params: str):
    creds = namespace.credentials("smsc")
    return smsc(namespace, command, creds["login"], creds["password"], **params)


def test_credentials_for_every_provider_shaped_like_the_demo_accounts(emu, server):
    answer = emu.call("POST", "/_emulator/namespaces")
    name = answer["namespace"]
    assert name.startswith("ns-")
    demo = emu.call("GET", "/_emulator/accounts")
    assert set(answer["credentials"]) == set(demo)
    for provider, creds in answer["credentials"].items():
        assert set(creds) == {"login", *demo[provider][0]["credentials"]}
        assert answer["base_urls"][provider] == f"{server.base}/{provider}"
        assert answer["balances"][provider]["balance"] == demo[provider][0]["balance"]
    for provider in ("smsc", "revicom"):  # SMPP: system_id <= 15 characters, password <= 8
        assert len(answer["credentials"][provider]["login"]) <= 15
        assert len(answer["credentials"][provider]["smpp_password"]) <= 8
    other = emu.namespace()
    assert other.name != name
    assert not set(other.credentials("smsc").values()) & set(answer["credentials"]["smsc"].values())
    assert {n["namespace"] for n in emu.call("GET", "/_emulator/namespaces")["namespaces"]} == {name, other.name}
    assert emu.call("GET", f"/_emulator/namespaces/{name}")["credentials"] == answer["credentials"]


def test_two_namespaces_on_one_phone_see_only_their_own(emu):
    a, b = emu.namespace(), emu.namespace()
    assert alphasms_send(emu, a.credentials("alphasms")["api_key"], "Your code is 111111")[0] == 200
    assert alphasms_send(emu, b.credentials("alphasms")["api_key"], "Your code is 222222")[0] == 200
    assert alphasms_send(emu, DEMO_KEY, "Your code is 333333")[0] == 200
    assert alphasms_send(emu, "wrong-key", "Your code is 444444")[0] == 200  # refused: default journal

    assert a.wait_otp(PHONE, timeout=1) == "111111"
    assert b.wait_otp(PHONE, timeout=1) == "222222"
    assert [m["text"] for m in a.messages(phone=PHONE)] == ["Your code is 111111"]
    assert [m["text"] for m in b.messages(phone=PHONE)] == ["Your code is 222222"]
    # without a namespace: everything, as before; `default`: what no namespace owns
    assert len(emu.messages(phone=PHONE)) == 3
    assert [m["text"] for m in emu.messages(phone=PHONE, namespace="default")] == ["Your code is 333333"]
    assert [r["outcome"] for r in emu.requests(namespace="default")] == ["accepted", "rejected"]
    assert [r["outcome"] for r in a.requests()] == ["accepted"]
    assert a.requests()[0]["message_ids"] == [a.messages()[0]["id"]]
    assert a.message(a.messages()[0]["id"])["text"] == "Your code is 111111"
    with pytest.raises(ControlAPIError, match="404"):
        b.message(a.messages()[0]["id"])  # another namespace's message is not found from here
    assert emu.message(a.messages()[0]["id"])["text"] == "Your code is 111111"

    emu.advance(10)
    assert {e["message_id"] for e in a.events()} == {a.messages()[0]["id"]}
    assert {e["message_id"] for e in b.events()} == {b.messages()[0]["id"]}
    assert len(emu.events()) == len(a.events()) + len(b.events()) + len(emu.events(namespace="default"))


def test_balances_directories_and_refused_logins_stay_in_their_namespace(emu):
    a, b = emu.namespace(), emu.namespace()
    before = smsc_as(b, "balance.php")["balance"]
    assert "id" in smsc_as(a, "send.php", phones="79001234567", mes="code 5555")
    assert smsc_as(a, "balance.php")["balance"] != before
    assert smsc_as(b, "balance.php")["balance"] == before
    assert float(smsc(emu, "balance.php", "demo", "demo-password")["balance"]) == 1000.0

    assert smsc_as(a, "phones.php", add="1", phone="79001112233", name="Ann") == {"id": 1}
    assert [c["name"] for c in smsc_as(a, "phones.php", get="1")] == ["Ann"]
    assert smsc_as(b, "phones.php", get="1") == NO_RECORDS
    assert smsc(emu, "phones.php", "demo", "demo-password", get="1") == NO_RECORDS

    # a namespace login with a wrong password: refused, and journaled in that namespace
    refused = smsc(emu, "send.php", a.credentials("smsc")["login"], "wrong", phones="79001234567", mes="x")
    assert "error" in refused
    assert [r["outcome"] for r in a.requests(provider="smsc") if "send.php" in r["path"]] == ["accepted", "rejected"]
    assert not [r for r in b.requests() if "send.php" in r["path"]]


def test_a_namespace_scenario_applies_to_its_requests_only_and_magic_still_works(emu):
    a, b = emu.namespace(), emu.namespace()
    a.load_scenario("name: a-down\nrules:\n  - fault: {type: status, status: 503}\n")
    emu.load_scenario("name: global-down\nrules:\n  - match: {recipient: '380971111111'}\n    fault: {type: status, status: 502}\n")
    try:
        assert alphasms_send(emu, a.credentials("alphasms")["api_key"], "hi")[0] == 503
        assert alphasms_send(emu, b.credentials("alphasms")["api_key"], "hi")[0] == 200
        assert alphasms_send(emu, DEMO_KEY, "hi")[0] == 200
        # the global scenario still applies to the default and to namespaces without their own
        assert alphasms_send(emu, DEMO_KEY, "hi", phone="380971111111")[0] == 502
        assert alphasms_send(emu, b.credentials("alphasms")["api_key"], "hi", phone="380971111111")[0] == 502
        assert alphasms_send(emu, a.credentials("alphasms")["api_key"], "hi", phone="380971111111")[0] == 503
        assert emu.call("GET", f"/_emulator/namespaces/{a.name}/scenario")["active"]["name"] == "a-down"
        assert emu.call("GET", "/_emulator/scenario")["active"]["name"] == "global-down"

        a.clear_scenario()
        status, body = alphasms_send(emu, a.credentials("alphasms")["api_key"], "hi", phone="380000000001")
        assert status == 200 and body["data"][0]["success"] is False  # a magic recipient, in a namespace
        assert [r["outcome"] for r in a.requests()][-1] == "rejected"
    finally:
        emu.clear_scenario()


def test_nth_counts_the_namespace_own_requests_from_when_its_scenario_was_loaded(emu):
    a, b = emu.namespace(), emu.namespace()
    for _ in range(3):  # traffic before the scenario, elsewhere and in the namespace itself
        alphasms_send(emu, b.credentials("alphasms")["api_key"], "hi")
        alphasms_send(emu, a.credentials("alphasms")["api_key"], "hi")
    a.load_scenario("rules:\n  - match: {nth: [2]}\n    fault: {type: status, status: 503}\n")
    statuses = []
    for _ in range(3):
        alphasms_send(emu, b.credentials("alphasms")["api_key"], "hi")
        statuses.append(alphasms_send(emu, a.credentials("alphasms")["api_key"], "hi")[0])
    assert statuses == [200, 503, 200]


def test_callbacks_are_seen_in_the_namespace_of_their_message(emu, hook):
    url, calls = hook
    a, b = emu.namespace(), emu.namespace()
    alphasms_send(emu, a.credentials("alphasms")["api_key"], "code 1234", hook=url)
    alphasms_send(emu, b.credentials("alphasms")["api_key"], "code 5678", hook=url)
    emu.advance(10)
    for namespace in (a, b):
        attempts = namespace.callbacks()
        assert attempts and {c["message_id"] for c in attempts} == {namespace.messages()[0]["id"]}
        assert all(c["outcome"] == "delivered" for c in attempts)
    assert len(emu.callbacks()) == len(a.callbacks()) + len(b.callbacks())


def test_reset_of_one_namespace_leaves_the_other_and_the_default(emu):
    a, b = emu.namespace(), emu.namespace()
    alphasms_send(emu, a.credentials("alphasms")["api_key"], "code 1111", item_id=7)
    alphasms_send(emu, b.credentials("alphasms")["api_key"], "code 2222", item_id=7)
    alphasms_send(emu, DEMO_KEY, "code 3333", item_id=7)
    smsc_as(a, "phones.php", add="1", phone="79001112233", name="Ann")
    a.set_account("alphasms", balance=5)
    b_balance = b.accounts("alphasms")[0]["balance"]
    emu.advance(10)

    a.reset()
    assert a.messages() == [] and a.requests() == [] and a.events() == []
    assert a.accounts("alphasms")[0]["balance"] == 100.0
    assert smsc_as(a, "phones.php", get="1") == NO_RECORDS
    assert [m["text"] for m in b.messages()] == ["code 2222"] and b.events()
    assert b.accounts("alphasms")[0]["balance"] == b_balance
    assert [m["text"] for m in emu.messages(namespace="default")] == ["code 3333"]
    status, body = alphasms_send(emu, a.credentials("alphasms")["api_key"], "code 9999", item_id=7)
    assert status == 200 and body["data"][0]["success"] is True  # its client ids are forgotten too
    assert alphasms_send(emu, b.credentials("alphasms")["api_key"], "code 8888", item_id=7)[1]["data"][0]["success"] is False
    assert a.wait_otp(PHONE, timeout=1) == "9999"
    kept = emu.call("GET", "/_emulator/health")["retention"]
    assert kept["kept"]["messages"] == len(emu.messages()) == 3  # the store's byte journal agrees
    assert kept["evicted"]["messages"] == 0  # a namespace reset forgets; it does not evict


def test_global_reset_resets_everything_and_keeps_the_namespaces(emu):
    a = emu.namespace()
    alphasms_send(emu, a.credentials("alphasms")["api_key"], "code 1111")
    a.set_account("alphasms", balance=1)
    emu.reset()
    assert emu.messages() == [] and a.messages() == []
    assert a.accounts("alphasms")[0]["balance"] == 100.0
    assert alphasms_send(emu, a.credentials("alphasms")["api_key"], "code 2222")[0] == 200
    assert a.wait_otp(PHONE, timeout=1) == "2222"


def test_delete_removes_the_credentials_and_what_they_sent(emu):
    a = emu.namespace()
    key = a.credentials("alphasms")["api_key"]
    alphasms_send(emu, key, "code 1111")
    a.delete()
    assert emu.messages() == []
    status, body = alphasms_send(emu, key, "code 2222")
    assert status == 200 and body["success"] is False  # the provider's own auth error now
    for method, path in (("GET", f"/_emulator/namespaces/{a.name}"), ("POST", f"/_emulator/namespaces/{a.name}/reset"),
                         ("DELETE", f"/_emulator/namespaces/{a.name}"), ("GET", "/_emulator/messages?namespace=" + a.name)):
        with pytest.raises(ControlAPIError) as refused:
            emu.call(method, path)
        assert refused.value.status == 404 and "no such namespace" in refused.value.detail
    with pytest.raises(ControlAPIError, match="404"):
        a.messages()  # the header names a namespace that is gone
    left = [emu.namespace(), emu.namespace()]
    alphasms_send(emu, left[0].credentials("alphasms")["api_key"], "code 3333")
    assert sorted(emu.call("DELETE", "/_emulator/namespaces")["deleted"]) == sorted(n.name for n in left)
    assert emu.call("GET", "/_emulator/namespaces")["count"] == 0 and emu.messages() == []


def test_bad_scenario_for_a_namespace_is_refused_with_its_lines(emu):
    a = emu.namespace()
    with pytest.raises(ControlAPIError) as refused:
        a.load_scenario("rules: 5\n")
    assert refused.value.status == 422 and "rules" in refused.value.detail


def test_namespaces_are_bounded():
    store = Store()
    store.add_account(Account("alphasms", "demo", {"api_key": "k"}, Decimal("100")))
    namespaces = Namespaces(store, store.provider_accounts("alphasms"), limit=2)
    first = namespaces.create()
    namespaces.create()
    with pytest.raises(TooManyNamespaces):
        namespaces.create()
    namespaces.delete(first)
    assert namespaces.create().name not in (first.name,)
    assert len(store.provider_accounts("alphasms")) == 3  # the demo one and two namespaces'


async def test_beyond_the_bound_a_clear_429(aiohttp_client, settings):
    app = build_app(settings)
    app[RUNTIME_KEY].namespaces.limit = 1
    client = await aiohttp_client(app)
    assert (await client.post("/_emulator/namespaces")).status == 201
    refused = await client.post("/_emulator/namespaces")
    assert refused.status == 429
    assert (await refused.json())["error"].startswith("at most 1 namespaces")


async def test_namespace_answers_match_the_control_api_document(client):
    from .test_openapi import check

    created = await check(await client.post("/_emulator/namespaces"), "/_emulator/namespaces", "post")
    ns = created["namespace"]
    item = f"/_emulator/namespaces/{ns}"
    sms = {"auth": created["credentials"]["alphasms"]["api_key"],
           "data": [{"type": "sms", "id": 1, "phone": 380971234567, "sms_signature": "Shop", "sms_message": "code 1234"}]}
    assert (await client.post("/alphasms/api/json.php", json=sms)).status == 200
    await check(await client.get("/_emulator/namespaces"), "/_emulator/namespaces")
    await check(await client.get(item), "/_emulator/namespaces/{ns}")
    await check(await client.put(item + "/scenario", data="rules: []\n"), "/_emulator/namespaces/{ns}/scenario", "put")
    await check(await client.put(item + "/scenario", data="rules: 5\n"), "/_emulator/namespaces/{ns}/scenario", "put")
    await check(await client.get(item + "/scenario"), "/_emulator/namespaces/{ns}/scenario")
    await check(await client.delete(item + "/scenario"), "/_emulator/namespaces/{ns}/scenario", "delete")
    for path in ("/_emulator/messages", "/_emulator/requests", "/_emulator/events", "/_emulator/callbacks"):
        listed = await check(await client.get(path, params={"namespace": ns}), path)
        assert listed["count"] >= (0 if path == "/_emulator/callbacks" else 1)
        await check(await client.get(path, headers={"X-Msgemu-Namespace": "ns-00000000"}), path)
    await check(await client.get("/_emulator/messages/wait", params={"phone": "380971234567", "namespace": ns, "timeout": "0"}), "/_emulator/messages/wait")
    await check(await client.post(item + "/reset"), "/_emulator/namespaces/{ns}/reset", "post")
    await check(await client.delete(item), "/_emulator/namespaces/{ns}", "delete")
    for method, path in (("get", "/_emulator/namespaces/{ns}"), ("delete", "/_emulator/namespaces/{ns}"),
                         ("post", "/_emulator/namespaces/{ns}/reset"), ("get", "/_emulator/namespaces/{ns}/scenario"),
                         ("put", "/_emulator/namespaces/{ns}/scenario"), ("delete", "/_emulator/namespaces/{ns}/scenario")):
        response = await client.request(method.upper(), path.replace("{ns}", ns), data="rules: []\n" if method == "put" else None)
        assert response.status == 404
        await check(response, path, method)
    await client.post("/_emulator/namespaces")
    deleted = await check(await client.delete("/_emulator/namespaces"), "/_emulator/namespaces", "delete")
    assert len(deleted["deleted"]) == 1


DEMO_SECRETS = {
    "alphasms": {"alphasms-demo-key": "api_key"},
    "octopush": {"octopush-demo-key": "api_key", "demo@msgemu.local": "login"},
    "smsc": {"demo-password": "password", "demo": "login"},
    "revicom": {"revicom-demo-token": "token"},
}


def namespaced(provider: str, spec: dict, creds: dict[str, str]) -> dict:
    """tests/sends.py's demo-account request, with the namespace's credentials instead."""
    if provider == "hyber":
        token = base64.b64encode(f"{creds['login']}:{creds['password']}".encode()).decode()
        return {**spec, "path": f"/hyber/{creds['client_id']}", "headers": {"Authorization": f"Basic {token}"}}
    text = json.dumps(spec)
    for demo, key in DEMO_SECRETS[provider].items():
        text = text.replace(json.dumps(demo), json.dumps(creds[key])).replace(f"Basic {demo}", f"Basic {creds[key]}")
    return json.loads(text)


async def test_every_provider_accepts_the_namespace_credentials_and_files_under_it(client):
    created = await (await client.post("/_emulator/namespaces")).json()
    ns = created["namespace"]
    for provider in ("alphasms", "octopush", "smsc", "hyber", "revicom"):
        spec = namespaced(provider, send_request(provider, "+380971234567", text="Your code is 246810"), created["credentials"][provider])
        method, path = spec.pop("method"), spec.pop("path")
        response = await client.request(method, path, **spec)
        assert response.status < 300, (provider, await response.text())
        mine = await (await client.get("/_emulator/messages", params={"namespace": ns, "provider": provider})).json()
        assert [m["otp"] for m in mine["messages"]] == ["246810"], provider
        default = await (await client.get("/_emulator/messages", params={"namespace": "default", "provider": provider})).json()
        assert default["count"] == 0, provider
        journal = await (await client.get("/_emulator/requests", params={"namespace": ns, "provider": provider})).json()
        assert [r["outcome"] for r in journal["requests"]] == ["accepted"], provider


def test_smpp_binds_with_a_namespace_credentials_and_files_under_it():
    """The SMPP front door authenticates against the same accounts: a namespace's login is a
    valid system_id (<= 15 characters) and its 8-character SMPP password binds."""
    from .test_smpp import OPEN, esme, shared_server, submit

    server = shared_server()
    ns = server.namespace()
    try:
        for provider, phone in (("smsc", "79001230011"), ("revicom", "79001230012")):
            creds = ns.credentials(provider)
            assert submit(esme(server, system_id=creds["login"], password=creds["smpp_password"]), to=phone).status == 0
            assert ns.wait_otp(phone, timeout=5) == "4711"
            assert ns.messages(phone=phone)[0]["provider"] == provider
            assert server.messages(phone=phone, namespace="default") == []
    finally:
        while OPEN:
            OPEN.pop().disconnect()
        ns.delete()

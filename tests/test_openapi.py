"""schemas/control-api.openapi.yaml against the running server, both ways: every route is
documented, every documented operation exists, and every answer (successes and errors) has a
documented status and matches its documented schema."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from emulator.app import build_app

from .conftest import advance

SPEC = yaml.safe_load((Path(__file__).resolve().parents[1] / "schemas" / "control-api.openapi.yaml").read_text())
REGISTRY = Registry().with_resource("urn:control-api", Resource.from_contents(SPEC, default_specification=DRAFT202012))
METHODS = {"get", "post", "put", "patch", "delete"}


def documented_operations() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in SPEC["paths"].items() for method in item if method in METHODS}


def served_operations(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if not path.startswith("/_emulator") or "static" in info.get("prefix", "") or route.method == "HEAD":
            continue
        if route.method == "*":
            found |= {(m, path) for m in ("GET", "POST", "DELETE")}
        else:
            found.add((route.method, path))
    return found


def test_every_route_is_documented_and_every_documented_operation_is_served(settings):
    assert served_operations(build_app(settings)) == documented_operations()


def pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


async def check(response, path: str, method: str = "get"):
    """Assert the answer's status is documented for the operation and its body matches."""
    operation = SPEC["paths"][path][method]
    status = str(response.status)
    assert status in operation["responses"], f"{method.upper()} {path} answered undocumented {status}"
    documented = operation["responses"][status]
    ref = f"#/paths/{pointer(path, method, 'responses', status)}"
    if "$ref" in documented:
        ref = documented["$ref"]
        documented = SPEC["components"]["responses"][ref.rsplit("/", 1)[1]]
    (content_type, media), = documented["content"].items()
    assert response.content_type == content_type, (path, response.content_type)
    if content_type != "application/json":
        return await response.read()
    body = await response.json()
    validator = Draft202012Validator({"$ref": f"urn:control-api{ref}/content/{pointer(content_type)}/schema"}, registry=REGISTRY)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{method.upper()} {path} {status}: {errors[0].message} at {list(errors[0].absolute_path)}"
    return body


async def test_every_documented_answer_matches_the_document(client, aiohttp_server):
    hook = "/_emulator/receiver/openapi"
    server_base = f"http://{client.server.host}:{client.server.port}"
    sms = {"auth": "alphasms-demo-key", "data": [{"type": "sms", "id": 1, "phone": 380971234567, "sms_signature": "Shop",
                                                   "sms_message": "code 1234", "hook": server_base + hook}]}
    await client.post("/alphasms/api/json.php", json=sms)
    await client.post("/alphasms/api/json.php", json={"auth": "bad", "data": []})
    await advance(client, 5)

    await check(await client.get("/_emulator/health"), "/_emulator/health")
    served = await check(await client.get("/_emulator/openapi.yaml"), "/_emulator/openapi.yaml")
    assert yaml.safe_load(served) == SPEC  # the server describes itself with this very document
    await check(await client.get("/_emulator/ready"), "/_emulator/ready")
    await check(await client.get("/_emulator/metrics"), "/_emulator/metrics")
    listed = await check(await client.get("/_emulator/messages", params={"phone": "380971234567"}), "/_emulator/messages")
    await check(await client.get("/_emulator/messages", params={"status": "bogus"}), "/_emulator/messages")
    message_id = listed["messages"][0]["id"]
    await check(await client.get(f"/_emulator/messages/{message_id}"), "/_emulator/messages/{id}")
    await check(await client.get("/_emulator/messages/nope"), "/_emulator/messages/{id}")
    await check(await client.get("/_emulator/messages/wait", params={"phone": "380971234567", "timeout": "1"}), "/_emulator/messages/wait")
    await check(await client.get("/_emulator/messages/wait", params={"phone": "380000000000", "timeout": "0.1"}), "/_emulator/messages/wait")
    await check(await client.get("/_emulator/messages/wait"), "/_emulator/messages/wait")
    await check(await client.get("/_emulator/requests"), "/_emulator/requests")
    await check(await client.get("/_emulator/requests", params={"text": "code", "json": "data[0].type=sms", "status": "2xx"}), "/_emulator/requests")
    await check(await client.get("/_emulator/requests/count", params={"header": "content-type:json"}), "/_emulator/requests/count")
    await check(await client.get("/_emulator/requests/count", params={"text": "(bad"}), "/_emulator/requests/count")
    await check(await client.get("/_emulator/messages/count", params={"json": "attempts[*].channel=sms"}), "/_emulator/messages/count")
    await check(await client.get("/_emulator/messages/count", params={"since": "never"}), "/_emulator/messages/count")
    await check(await client.get("/_emulator/events"), "/_emulator/events")
    callbacks = await check(await client.get("/_emulator/callbacks"), "/_emulator/callbacks")
    assert callbacks["count"] >= 2
    await check(await client.get("/_emulator/accounts"), "/_emulator/accounts")
    await check(await client.get("/_emulator/accounts/alphasms"), "/_emulator/accounts/{provider}")
    await check(await client.get("/_emulator/accounts/nope"), "/_emulator/accounts/{provider}")
    await check(await client.patch("/_emulator/accounts/alphasms", json={"balance": 3}), "/_emulator/accounts/{provider}", "patch")
    await check(await client.patch("/_emulator/accounts/alphasms", json={"balance": "x"}), "/_emulator/accounts/{provider}", "patch")
    await check(await client.patch("/_emulator/accounts/nope", json={}), "/_emulator/accounts/{provider}", "patch")
    await check(await client.get("/_emulator/clock"), "/_emulator/clock")
    await check(await client.post("/_emulator/clock/advance", json={"seconds": 1}), "/_emulator/clock/advance", "post")
    await check(await client.post("/_emulator/clock/advance", json={"seconds": -1}), "/_emulator/clock/advance", "post")
    await check(await client.put("/_emulator/scenario", data="rules: []\n"), "/_emulator/scenario", "put")
    await check(await client.put("/_emulator/scenario", data="rules: 5\n"), "/_emulator/scenario", "put")
    not_utf8 = await check(await client.put("/_emulator/scenario", data=b"\xf6rules: []"), "/_emulator/scenario", "put")
    assert not_utf8["problems"][0]["message"].startswith("not UTF-8 text")
    await check(await client.get("/_emulator/scenario"), "/_emulator/scenario")
    await check(await client.delete("/_emulator/scenario"), "/_emulator/scenario", "delete")
    await check(await client.get("/_emulator/magic"), "/_emulator/magic")
    await check(await client.get("/_emulator/optouts"), "/_emulator/optouts")
    await check(await client.post("/_emulator/inbound", json={"phone": "380971234567", "text": "STOP"}), "/_emulator/inbound", "post")
    await check(await client.post("/_emulator/inbound", json={"text": "x"}), "/_emulator/inbound", "post")
    await check(await client.post("/_emulator/inbound", json={"phone": "1", "text": "x"}), "/_emulator/inbound", "post")
    await check(await client.get(hook), "/_emulator/receiver/{name}")
    await check(await client.post(hook, data=b"{}"), "/_emulator/receiver/{name}", "post")
    await check(await client.delete(hook), "/_emulator/receiver/{name}", "delete")
    await check(await client.get("/_emulator/ui"), "/_emulator/ui")
    stream = await client.get("/_emulator/stream")
    assert str(stream.status) in SPEC["paths"]["/_emulator/stream"]["get"]["responses"]
    assert stream.content_type == "text/event-stream"
    stream.close()
    await check(await client.post("/_emulator/reset"), "/_emulator/reset", "post")


# -- generated requests: the schemathesis idea, on this document ---------------------------------
from .garbage import Garbage  # noqa: E402

OPERATIONS = sorted(
    (path, method)
    for path, item in SPEC["paths"].items()
    for method in item
    if method in METHODS and path not in ("/_emulator/stream", "/_emulator/messages/wait")
)
QUERY_NAMES = ["provider", "phone", "channel", "status", "limit", "account", "outcome", "message_id", "url"]
QUERY_VALUES = ["delivered", "alphasms", "0", "1", "-1", "1e9", "nan", "380971234567"]
ROUNDS = 2  # every operation twice with each query parameter first (others after it), a new body each time


async def test_generated_requests_get_documented_answers(client):
    """Random parameters and bodies for every documented operation: never a 500, always a
    status the document lists for that operation."""
    garbage = Garbage("openapi operations")
    operations = [(name, operation) for name in QUERY_NAMES * ROUNDS for operation in garbage.rng.sample(OPERATIONS, len(OPERATIONS))]
    namespaces: list[str] = []
    receivers: list[str] = []
    for number, (first, (path, method)) in enumerate(operations):
        names = [first] + [garbage.rng.choice(QUERY_NAMES) for _ in range(garbage.size(3))]
        query = {name: garbage.rng.choice([garbage.text(12), str(garbage.rng.randint(-5, 10**6)), garbage.rng.choice(QUERY_VALUES)])
                 for name in names}
        body = [lambda: json.dumps(garbage.json_value()).encode(), lambda: garbage.binary(64), lambda: b'{"seconds": 1}',
                lambda: b"rules: []\n", lambda: b""][number % 5]()  # each operation gets each kind of body
        path_value = garbage.rng.choice(["alphasms", "smsc", "nope", "x" * 40])
        url = path.replace("{provider}", path_value).replace("{id}", path_value)
        # a receiver or namespace used earlier in the run, another name, or (as a client might) "{ns}" itself
        url = url.replace("{name}", garbage.rng.choice(receivers + [path_value]))
        url = url.replace("{ns}", garbage.rng.choice(namespaces + [path_value, "{ns}"]))
        case = {"case": number, "method": method, "url": url, "query": query, "body": body}
        response = await client.request(method.upper(), url, params=query, data=body if method != "get" else None)
        documented = SPEC["paths"][path][method]["responses"]
        assert response.status < 500, (case, response.status)
        assert str(response.status) in documented, (case, response.status, await response.text())
        if (path, method, response.status) == ("/_emulator/namespaces", "post", 201):
            namespaces.append((await response.json())["namespace"])
        if (path, method) == ("/_emulator/receiver/{name}", "post") and response.status < 300:
            receivers.append(url.rsplit("/", 1)[1])
        await response.read()

"""The compiled check (fastjsonschema) never calls valid what jsonschema calls invalid.

Providers see only jsonschema's verdict on anything the compiled check rejects, so the one way
the fast path could change behaviour is a false "valid". Hypothesis draws instances guided by
each schema (its enums, consts, patterns, length and number bounds, nested objects) mixed with
junk, for every schema file and every `$defs` entry, and compares the two validators.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.core.validation import Schemas
from tests.sends import send_request

SCHEMAS = Schemas()
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**16), st.floats(allow_nan=False),
                 st.text(max_size=5), st.just(""), st.just([]), st.just({}), st.just("\n"))


def _names() -> list[str]:
    names = []
    for name in SCHEMAS.names():
        names.append(name)
        names.extend(f"{name}#/$defs/{d}" for d in SCHEMAS.raw(name).get("$defs", {}))
    return names


def _resolve(schema: dict, file: str) -> tuple[dict, str]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema, file
    target, _, pointer = ref.partition("#")
    file = target.removeprefix("urn:msgemu:") if target else file
    node = SCHEMAS.raw(file)
    for part in pointer.strip("/").split("/") if pointer.strip("/") else []:
        node = node[part]
    return _resolve(node, file)


def _branches(schema: dict, file: str) -> list[tuple[dict, str]]:
    """The schema and every subschema it combines (allOf/anyOf/oneOf/if/then/else), resolved."""
    schema, file = _resolve(schema, file)
    found = [(schema, file)]
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            found.extend(_branches(sub, file))
    for key in ("if", "then", "else"):
        if isinstance(schema.get(key), dict):
            found.extend(_branches(schema[key], file))
    return found


def instances(schema: dict, file: str, depth: int = 0) -> st.SearchStrategy:
    if depth > 4 or not isinstance(schema, dict):
        return JUNK
    options = [JUNK]
    properties: dict[str, list] = {}
    for branch, branch_file in _branches(schema, file):
        if "const" in branch:
            options.append(st.just(branch["const"]))
        if "enum" in branch:
            options.append(st.sampled_from(branch["enum"]))
        if "pattern" in branch:
            options.append(st.from_regex(branch["pattern"], fullmatch=False).map(lambda s: s[:40]))
        if "maxLength" in branch or "minLength" in branch:
            low, high = branch.get("minLength", 0), branch.get("maxLength", 20)
            options.append(st.text(alphabet="a1 é", min_size=max(0, low - 1), max_size=min(high + 1, 2000)))
        if "minimum" in branch or "maximum" in branch:
            low, high = branch.get("minimum", -5), branch.get("maximum", 10**6)
            options.append(st.sampled_from([low - 1, low, high, high + 1, float(low), True]))
            options.append(st.integers(low, high))
        if "items" in branch and isinstance(branch["items"], dict):
            item = instances(branch["items"], branch_file, depth + 1)
            options.append(st.lists(item, min_size=branch.get("minItems", 0), max_size=3))
        for key, sub in branch.get("properties", {}).items():
            properties.setdefault(key, []).append(instances(sub, branch_file, depth + 1))
    if properties:
        fields = {k: st.one_of(v) for k, v in properties.items()}
        options.append(st.fixed_dictionaries({}, optional=fields))
        options.append(st.fixed_dictionaries(fields))  # all present: the most likely to be valid
        options.append(st.fixed_dictionaries(fields, optional={"unexpected": JUNK}))
    return st.one_of(options)


def _properties(schema: dict, file: str) -> dict[str, tuple[dict, str]]:
    merged = {}
    for branch, branch_file in _branches(schema, file):
        for key, sub in branch.get("properties", {}).items():
            merged.setdefault(key, (sub, branch_file))
    return merged


DROP = object()


def mutants(seed, schema: dict, file: str, depth: int = 0) -> st.SearchStrategy:
    """A valid example with some of its values replaced, dropped or extended: near the boundary
    between valid and invalid, where a disagreement between the validators would show."""
    if depth > 4:
        return st.just(seed)
    if isinstance(seed, dict):
        properties = _properties(schema, file)
        fields = {}
        for key, value in seed.items():
            sub, sub_file = properties.get(key, ({}, file))
            fields[key] = st.integers(0, 9).flatmap(
                lambda n, v=value, s=sub, f=sub_file: st.just(v) if n < 6 else st.just(DROP) if n == 6
                else instances(s, f, depth + 1) if n == 7 else mutants(v, s, f, depth + 1))
        extra = {k: instances(sub, f, depth + 1) for k, (sub, f) in properties.items() if k not in seed}
        return st.fixed_dictionaries(fields, optional=extra).map(lambda d: {k: v for k, v in d.items() if v is not DROP})
    if isinstance(seed, list) and seed:
        items = next((b["items"] for b, _ in _branches(schema, file) if isinstance(b.get("items"), dict)), {})
        return st.lists(mutants(seed[0], items, file, depth + 1), min_size=0, max_size=3)
    return st.one_of(st.just(seed), instances(schema, file, depth + 1))


def _seeds() -> list[tuple[str, object]]:
    """Valid examples of the schemas whose instances are too constrained to be hit at random."""
    import yaml
    from pathlib import Path

    alphasms = send_request("alphasms", "+380971234567", hook="http://127.0.0.1:9/hook")["json"]
    revicom = send_request("revicom", "+79001234567", hook="http://127.0.0.1:9/hook")["json"]
    seeds = {
        "alphasms/envelope": alphasms,
        "alphasms/items#/$defs/sms": alphasms["data"][0],
        "octopush/multichannel": send_request("octopush", "+33611223344")["json"],
        "hyber/send": send_request("hyber", "+380961111111", hook="http://127.0.0.1:9/hook")["json"],
        "revicom/message#/$defs/request": revicom,
        "revicom/message#/$defs/SMS": revicom[0],
        "smsc/params#/$defs/send": {"login": "demo", "psw": "demo-password", "phones": "79001234567", "mes": "hi",
                                    "fmt": "3", "cost": "1", "translit": "0", "id": "5"},
    }
    root = Path(__file__).resolve().parents[1] / "scenarios"
    scenarios = [("scenario.schema", yaml.safe_load(p.read_text(encoding="utf-8"))) for p in sorted(root.glob("*.yaml"))]
    return list(seeds.items()) + scenarios


@pytest.mark.parametrize("name, seed", _seeds())
def test_compiled_check_agrees_near_valid_examples(name, seed):
    assert SCHEMAS.is_valid(name, seed), "the seed itself must be valid"
    _compare(name, mutants(seed, _schema(name), name.partition("#")[0]))


@pytest.mark.parametrize("name", _names())
def test_compiled_check_never_accepts_what_jsonschema_rejects(name):
    _compare(name, instances(_schema(name), name.partition("#")[0]))


def _schema(name: str) -> dict:
    file, _, fragment = name.partition("#")
    schema = SCHEMAS.raw(file)
    for part in fragment.strip("/").split("/") if fragment else []:
        schema = schema[part]
    return schema


def _compare(name: str, strategy: st.SearchStrategy) -> None:
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def agree(instance):
        if SCHEMAS._compiled_says_valid(name, instance):
            assert SCHEMAS.validator(name).is_valid(instance), f"compiled check accepted {instance!r}"

    agree()


@pytest.mark.parametrize("provider", ["alphasms", "octopush", "hyber", "revicom"])
def test_valid_sends_are_settled_by_the_compiled_check_alone(provider):
    """The fast path is really taken: a valid send never reaches jsonschema."""
    body = send_request(provider, "+380971234567")["json"]
    name = {"alphasms": "alphasms/envelope", "octopush": "octopush/multichannel", "hyber": "hyber/send",
            "revicom": "revicom/message#/$defs/request"}[provider]
    assert SCHEMAS._compiled_says_valid(name, body)
    assert SCHEMAS.violations(name, body) == []


def test_invalid_input_keeps_jsonschema_pointers():
    item = {"type": "sms", "id": 1, "phone": "abc", "sms_signature": "Shop", "sms_message": "hi"}
    violation = SCHEMAS.first_violation("alphasms/items#/$defs/sms", item)
    assert (violation.pointer, violation.keyword, violation.field) == ("/phone", "pattern", "phone")


def test_unknown_schema_is_still_a_key_error():
    with pytest.raises(KeyError):
        SCHEMAS.violations("nope/none", {})


@pytest.mark.parametrize("channel", ["sms", "voice_sms", "rcs", "email", "live_chat", "SMS", 7, None])
def test_a_schema_split_by_its_discriminator_decides_as_the_whole_schema(channel):
    """octopush/multichannel's allOf picks rules by `channel` (if/then/else): the compiled check
    runs one variant per channel value with each `if` decided (validation.FastChecks), and must
    say what the schema as written says, near valid bodies of every channel and others."""
    import fastjsonschema

    name = "octopush/multichannel"
    compiler = SCHEMAS._compiler
    assert compiler._split_by_discriminator(name) is not None  # the split is really taken
    whole = fastjsonschema.compile({"$ref": compiler._BASE + name}, handlers={"https": compiler._document},
                                   use_default=False, use_formats=False)

    def says_valid(instance) -> bool:
        try:
            whole(instance)
        except Exception:  # noqa: BLE001
            return False
        return True

    seed = dict(send_request("octopush", "+33611223344")["json"])
    if channel is None:
        del seed["channel"]
    else:
        seed["channel"] = channel
    if channel == "rcs":
        seed["metadata"] = {"message_type": "rich_card", "cards": [{}]}

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(mutants(seed, _schema(name), name))
    def agree(instance):
        assert SCHEMAS._compiled_says_valid(name, instance) == says_valid(instance), instance

    agree()

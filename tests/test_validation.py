"""The compiled check (fastjsonschema) never calls valid what jsonschema calls invalid.

Providers see only jsonschema's verdict on anything the compiled check rejects, so the one way
the fast path could change behaviour is a false "valid". For every schema file and every `$defs`
entry, seeded instances guided by the schema (its enums, consts, patterns, length, number and
size bounds, nested objects) mixed with junk, and mutants of valid examples, go to both
validators (tests/schema_instances.py makes them).
"""
from __future__ import annotations

import json
import random

import pytest

from emulator.core.validation import Schemas
from tests.schema_instances import InstanceMaker
from tests.sends import send_request

SCHEMAS = Schemas()
# Instances per schema: a few hundred cost milliseconds (the validators take microseconds each).
SCHEMA_GUIDED = 200
NEAR_VALID = 150


def _names() -> list[str]:
    names = []
    for name in SCHEMAS.names():
        names.append(name)
        names.extend(f"{name}#/$defs/{d}" for d in SCHEMAS.raw(name).get("$defs", {}))
    return names


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
    """Mutants of a valid example sit near the boundary between valid and invalid, where a
    disagreement between the validators would show."""
    assert SCHEMAS.is_valid(name, seed), "the seed itself must be valid"
    maker = InstanceMaker(SCHEMAS.raw, random.Random(f"mutants {name} {json.dumps(seed, sort_keys=True)}"))
    schema, file = _schema(name), name.partition("#")[0]
    _compare(name, [maker.mutant(seed, schema, file) for _ in range(NEAR_VALID)])


@pytest.mark.parametrize("name", _names())
def test_compiled_check_never_accepts_what_jsonschema_rejects(name):
    maker = InstanceMaker(SCHEMAS.raw, random.Random(f"instances {name}"))
    schema, file = _schema(name), name.partition("#")[0]
    _compare(name, [maker.instance(schema, file) for _ in range(SCHEMA_GUIDED)])


def _schema(name: str) -> dict:
    file, _, fragment = name.partition("#")
    schema = SCHEMAS.raw(file)
    for part in fragment.strip("/").split("/") if fragment else []:
        schema = schema[part]
    return schema


def _compare(name: str, instances: list) -> None:
    """Fails naming the schema and the shortest instances the compiled check wrongly accepts
    (#n: the n-th instance of the seeded run, so it replays), with jsonschema's reason."""
    wrong = [(i, instance) for i, instance in enumerate(instances)
             if SCHEMAS._compiled_says_valid(name, instance) and not SCHEMAS.validator(name).is_valid(instance)]
    wrong.sort(key=lambda pair: len(repr(pair[1])))
    assert not wrong, f"{name}: the compiled check accepted {len(wrong)} of {len(instances)} instances jsonschema rejects; " + \
        "; ".join(f"#{i}: {_shown(instance)} ({_shown(next(SCHEMAS.validator(name).iter_errors(instance)).message)})" for i, instance in wrong[:3])


def _shown(value: object, most: int = 400) -> str:
    text = repr(value)
    return text if len(text) <= most else f"{text[:most]}... ({len(text):,} characters)"


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

    maker = InstanceMaker(SCHEMAS.raw, random.Random(f"split {name} {channel!r}"))
    instances = [seed] + [maker.mutant(seed, _schema(name), name) for _ in range(NEAR_VALID)]
    disagree = [(i, instance) for i, instance in enumerate(instances)
                if SCHEMAS._compiled_says_valid(name, instance) != says_valid(instance)]
    assert not disagree, f"{len(disagree)} of {len(instances)} disagree; " + "; ".join(
        f"#{i}: {_shown(instance)} (whole schema says {says_valid(instance)})" for i, instance in disagree[:3])


@pytest.mark.parametrize("name", ["smsc/params#/$defs/send", "smsc/params#/$defs/get", "octopush/multichannel#/properties/recipients/items"])
def test_an_object_of_string_fields_is_checked_field_by_field_as_jsonschema_says(name):
    """Such schemas (SMSC's parameters) get validation._flat_strings_check, which must say
    exactly what jsonschema says, both ways: valid and invalid."""
    from emulator.core.validation import _flat_strings_check

    file, _, fragment = name.partition("#")
    check = _flat_strings_check(SCHEMAS.raw(file), fragment)
    assert check is not None  # the field-by-field check is really taken
    maker = InstanceMaker(SCHEMAS.raw, random.Random(f"flat {name}"))
    schema = _schema(name)
    instances = [maker.instance(schema, file) for _ in range(SCHEMA_GUIDED)]
    instances += [{"flash": "1\n"}, {"id": " 5 "}, {"mes": 5}, {"cost": "4"}, [], "x", {"unknown": 1}]
    for instance in instances:
        assert check(instance) == SCHEMAS.validator(name).is_valid(instance), instance


@pytest.mark.parametrize("name", _names())
def test_inlined_refs_decide_as_the_schema_as_written(name):
    """The compiled check inlines `$ref`s (validation.FastChecks._inlined_root) and drops the
    key sets nothing reads from fastjsonschema's code (_without_unread_key_sets): it must say
    what fastjsonschema's code for the schema as written says, both ways, on schema-guided
    instances and mutants of them."""
    import fastjsonschema

    compiler = SCHEMAS._compiler
    file, _, fragment = name.partition("#")
    if not compiler._compatible.get(file):
        pytest.skip("no compiled check: jsonschema alone")
    as_written = fastjsonschema.compile({"$ref": compiler._BASE + file + (f"#{fragment}" if fragment else "")},
                                        handlers={"https": compiler._document}, use_default=False, use_formats=False)
    inlined = compiler._fast(compiler._inlined_root(file, fragment))  # what the compiled check runs

    def says_valid(check, instance) -> bool:
        try:
            check(instance)
        except Exception:  # noqa: BLE001
            return False
        return True

    maker = InstanceMaker(SCHEMAS.raw, random.Random(f"inlined {name}"))
    schema = _schema(name)
    instances = [maker.instance(schema, file) for _ in range(SCHEMA_GUIDED)]
    seeds = [seed for seeded, seed in _seeds() if seeded == name]  # the sends: mostly valid near them
    instances += seeds + [maker.mutant(seed, schema, file) for seed in seeds for _ in range(NEAR_VALID)]
    instances += [maker.mutant(instance, schema, file) for instance in instances if says_valid(as_written, instance)]
    assert any(says_valid(as_written, instance) for instance in instances) or not seeds
    disagree = [(i, instance) for i, instance in enumerate(instances)
                if says_valid(inlined, instance) != says_valid(as_written, instance)]
    assert not disagree, f"{len(disagree)} of {len(instances)} disagree; " + "; ".join(
        f"#{i}: {_shown(instance)} (as written: {says_valid(as_written, instance)})" for i, instance in disagree[:3])


def test_unique_items_still_refuse_repeated_items():
    """uniqueItems is compiled as "at most one item, or unique" (FastChecks._inlined): repeated
    channels, however spelled in JSON, are still refused and distinct ones accepted."""
    body = send_request("hyber", "+380961111111")["json"]
    for channels, valid in ((["sms"], True), (["sms", "viber"], True), (["sms", "sms"], False), (["viber", "sms", "viber"], False)):
        instance = {**body, "channels": channels, "channel_options": {**body["channel_options"], "viber": {"text": "hi", "ttl": 60}}}
        assert SCHEMAS._compiled_says_valid("hyber/send", instance) is valid
        assert SCHEMAS.validator("hyber/send").is_valid(instance) is valid
    assert SCHEMAS._compiled_says_valid("alphasms/items#/$defs/pipeline", {"id": 1, "phone": 380971234567, "pipeline": ["sms", "sms"]}) is False


def test_key_sets_read_elsewhere_are_kept():
    """additionalProperties reads the key set left after `properties`: that code keeps it,
    and refuses an unknown field as before; a set only tested and removed goes."""
    from emulator.core.validation import _without_unread_key_sets

    compiler = SCHEMAS._compiler
    closed = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False, "$id": "urn:t:closed"}
    check = compiler._fast(closed)
    check({"a": "x"})
    with pytest.raises(Exception):
        check({"a": "x", "b": 1})
    import fastjsonschema
    _, generator = fastjsonschema._factory(closed, {}, {}, False, False)
    assert "data_keys" in _without_unread_key_sets(generator.func_code)
    _, generator = fastjsonschema._factory({"type": "object", "properties": {"a": {"type": "string"}}}, {}, {}, False, False)
    assert "data_keys" in generator.func_code and "data_keys" not in _without_unread_key_sets(generator.func_code)


def test_a_changed_fastjsonschema_factory_still_gives_a_compiled_check(monkeypatch):
    """FastChecks._fast reads fastjsonschema's private factory and rewrites the code it makes;
    when that fails (fastjsonschema is not pinned: another release, other code) the check is
    fastjsonschema's public compile, not jsonschema alone (about ten times slower a send)."""
    from emulator.core import validation

    def changed(code):
        raise ValueError("code of another shape")

    monkeypatch.setattr(validation, "_without_unread_key_sets", changed)
    check = validation.FastChecks(SCHEMAS._raw).check("hyber/send")
    assert check is not None
    body = send_request("hyber", "+380971234567")["json"]
    assert check(body) is True and check({**body, "phone_number": "x"}) is False

"""Rules that name recipients are looked up by recipient (core/scenario.py RuleIndex), and the
first rule in file order still decides: an earlier rule without a recipient (a prefix, a
catch-all) wins over a later exact one, phones compare by digits, and magic recipients come
after the user's scenario."""
from __future__ import annotations

URL = "/alphasms/api/json.php"
KEY = "alphasms-demo-key"
MIXED = """
rules:
  - name: exact a (text must say hello)
    match: {provider: alphasms, recipient: "380501111111", text_regex: "hello"}
    reply: {error: invalid_phone}
  - name: exact a
    match: {provider: alphasms, recipient: "380501111111"}
    deliver: {"*": [{after: 1, status: sent}]}
  - name: prefix 38050
    match: {provider: alphasms, recipient_prefix: "38050"}
    deliver: {"*": [{after: 1, status: sent}]}
  - name: exact b (behind the prefix)
    match: {provider: alphasms, recipient: ["+380502222222", "380503333333"]}
    reply: {error: invalid_phone}
  - name: exact c
    match: {provider: alphasms, recipient: "+38 067 111 11 11"}
    deliver: {"*": [{after: 1, status: sent}]}
  - name: only for octopush
    match: {provider: octopush, recipient: "380672222222"}
    reply: {error: invalid_phone}
  - name: any
    match: {provider: alphasms}
    deliver: {"*": [{after: 1, status: sent}]}
  - name: exact d (behind the catch-all)
    match: {provider: alphasms, recipient: "380672222222"}
    reply: {error: invalid_phone}
"""


async def decided_by(client, phone: int, text: str = "Your code is 4321") -> str | None:
    item = {"type": "sms", "id": phone, "phone": phone, "sms_signature": "Shop", "sms_message": text}
    answer = await (await client.post(URL, json={"auth": KEY, "data": [item]})).json()
    journal = await (await client.get("/_emulator/requests", params={"provider": "alphasms"})).json()
    last = journal["requests"][-1]
    if not answer["data"][0]["success"]:
        return last["reason"]["scenario"]["name"]
    messages = await (await client.get("/_emulator/messages", params={"phone": str(phone)})).json()
    rule = messages["messages"][-1]["rule"]
    return rule and rule["name"]


async def test_the_first_rule_in_file_order_decides(client):
    assert (await client.put("/_emulator/scenario", data=MIXED)).status == 200
    assert await decided_by(client, 380501111111, "hello there") == "exact a (text must say hello)"
    assert await decided_by(client, 380501111111) == "exact a"
    assert await decided_by(client, 380502222222) == "prefix 38050"
    assert await decided_by(client, 380503333333) == "prefix 38050"
    assert await decided_by(client, 380671111111) == "exact c"  # the rule's number compares by digits
    assert await decided_by(client, 380672222222) == "any"
    assert await decided_by(client, 380000000001) == "any"  # the user's scenario before the magic numbers


async def test_magic_recipients_without_a_scenario(client):
    assert await decided_by(client, 380000000001) == "alphasms invalid phone"
    assert await decided_by(client, 380971234567) is None


def test_the_index_decides_as_a_scan_of_every_rule():
    """Any recipient (as written, by digits, an e-mail, not a string): the index's first
    match is the first rule in file order that matches, the magic files' rules included."""
    import random

    from emulator.core.scenario import MatchContext, load_text
    from emulator.core.validation import Schemas
    from emulator.resources import PACKAGE

    schemas = Schemas()
    magic = sorted((PACKAGE / "data" / "magic").glob("*.yaml"))
    scenarios = [load_text(MIXED, schemas)] + [load_text(p.read_text(encoding="utf-8"), schemas) for p in magic]
    named = sorted({r for s in scenarios for rule in s.rules for r in rule._recipients[0]})
    rng = random.Random("rule index")
    forms = [lambda r: r, lambda r: "+" + r, lambda r: " ".join(r), lambda r: r[:-1], lambda r: r + "0", lambda r: f"{r}@example.org"]
    recipients = [rng.choice(forms)(rng.choice(named)) for _ in range(3000)] + ["", "abc", "+", "380971234567"]
    for scenario in scenarios:
        for provider in ("alphasms", "octopush", "smsc", "hyber", "revicom"):
            for recipient in recipients:
                ctx = MatchContext(provider=provider, account="demo", channel="sms", channels=["sms"],
                                   recipient=recipient, text="hello", nth=1)
                scanned = next((rule.action for rule in scenario.rules if rule.matches(ctx)), None)
                assert scenario.decide(ctx) is scanned, (scenario.name, provider, recipient)


def test_silent_for_only_when_no_rule_of_any_form_could_match():
    """The engine's shortcut (ScenarioSet.silent_for: no MatchContext built) holds exactly when
    the index has no rule to try for the recipient, whatever the rest of the message says; and
    a rule that could be tried (one without a recipient, one naming it) is never skipped."""
    import random

    from emulator.core.scenario import MatchContext, ScenarioSet, load_magic, load_text
    from emulator.core.validation import Schemas

    schemas = Schemas()
    magic = load_magic(schemas)
    exact_only = load_text(MIXED.split("  - name: prefix 38050")[0], schemas)  # two exact rules, no open one
    named = sorted({r for s in (magic, load_text(MIXED, schemas)) for rule in s.rules for r in rule._recipients[0]})
    rng = random.Random("silent for")
    forms = [lambda r: r, lambda r: "+" + r, lambda r: " ".join(r), lambda r: r[:-1], lambda r: r + "0", lambda r: f"{r}@example.org"]
    recipients = [rng.choice(forms)(rng.choice(named)) for _ in range(2000)]
    recipients += [str(rng.randrange(10**11, 10**13)) for _ in range(500)] + ["", "abc", "+", "380971234567", 380971234567]
    silent_seen = tried_seen = 0
    for scenario_set in (ScenarioSet(magic=magic), ScenarioSet(magic=magic, active=load_text(MIXED, schemas)),
                         ScenarioSet(magic=magic, active=exact_only), ScenarioSet()):
        for provider in ("alphasms", "octopush", "smsc", "hyber", "revicom"):
            for recipient in recipients:
                silent = scenario_set.silent_for(provider, "demo", recipient)
                indexes = [s._rules_for(provider) for s in (scenario_set.active, scenario_set.magic) if s is not None]
                for text, nth in (("hello", 1), ("Your code is 1", 7)):
                    ctx = MatchContext(provider=provider, account="demo", channel="sms", channels=["sms"],
                                       recipient=recipient, text=text, nth=nth)
                    anything_to_try = any(index.candidates(ctx) for index in indexes)
                    assert silent is not anything_to_try, (provider, recipient)
                    if silent:
                        assert scenario_set.decide(ctx) is None
                silent_seen += silent
                tried_seen += not silent
    assert silent_seen > 1000 and tried_seen > 1000  # both ways taken


"""Scenario files: load, validate against schemas/scenario.schema.json, and match rules.

A scenario is an ordered list of rules; the first rule whose `match` fits a message decides
what happens to it. The built-in magic recipients are one more scenario, always consulted
after the user's, so documented magic numbers work with no file at all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..resources import DATA, YAML_LOADER
from .model import Status, digits
from .validation import Schemas

SCHEMA_NAME = "scenario.schema"
MAGIC_DIR = DATA / "magic"


class ScenarioError(ValueError):
    """A scenario file that cannot be used; `problems` carries (line, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[int | None, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.source}:{line or '?'}: {text}" for line, text in self.problems]


@dataclass(frozen=True)
class Step:
    after: float
    status: Status
    error: str | None = None


@dataclass(frozen=True)
class InboundReply:
    after: float
    text: str


@dataclass
class Action:
    """What a matching rule does: reject (error key), raw reply, fault, or deliver."""

    kind: str  # reject | raw | fault | deliver
    error: str | None = None
    raw: dict[str, Any] | None = None
    fault: dict[str, Any] | None = None
    plans: dict[str, tuple[Step, ...]] = field(default_factory=dict)
    inbound: tuple[InboundReply, ...] = ()
    rule: str = ""
    source: str = "<memory>"  # the scenario file the rule came from
    index: int = 0  # its position in that file's `rules` (0-based)
    magic: bool = False  # a built-in magic recipient rather than the user's scenario

    def origin(self, recipient: str | None = None) -> dict[str, Any]:
        """Where this action was written, for the request journal's `reason.scenario`."""
        found: dict[str, Any] = {"source": self.source, "index": self.index, "name": self.rule}
        if self.magic and recipient is not None:
            found["recipient"] = recipient
        return found


@dataclass(frozen=True)
class MatchContext:
    provider: str
    account: str
    channel: str
    channels: list[str]
    recipient: str
    text: str
    nth: int
    operation: str = "send"

    @cached_property
    def recipient_digits(self) -> str:
        return digits(self.recipient)


@dataclass
class Rule:
    name: str
    match: dict[str, Any]
    action: Action
    _regexes: dict[str, re.Pattern] = field(default_factory=dict)
    _recipients: tuple[set[str], set[str]] = field(default_factory=lambda: (set(), set()))  # (exact, digits)

    def __post_init__(self) -> None:
        for key in ("recipient_regex", "text_regex"):
            if key in self.match:
                self._regexes[key] = re.compile(self.match[key], re.S)
        if "recipient" in self.match:
            candidates = [str(r) for r in _as_list(self.match["recipient"])]
            self._recipients = (set(candidates), {digits(c) for c in candidates if digits(c)})

    @property
    def providers(self) -> list[str] | None:
        """The providers this rule can match, None for any."""
        return _as_list(self.match["provider"]) if "provider" in self.match else None

    def matches(self, ctx: MatchContext) -> bool:
        m = self.match
        if "provider" in m and ctx.provider not in _as_list(m["provider"]):
            return False
        if "operation" in m and ctx.operation not in _as_list(m["operation"]):
            return False
        if "account" in m and ctx.account not in _as_list(m["account"]):
            return False
        if "channel" in m and not set(_as_list(m["channel"])) & set(ctx.channels or [ctx.channel]):
            return False
        if "recipient" in m:
            exact, by_digits = self._recipients
            # phones compare by digits (+33 6... == 336...); e-mails and ids compare exactly
            if ctx.recipient not in exact and ctx.recipient_digits not in by_digits:
                return False
        if "recipient_prefix" in m and not _recipient_starts(ctx.recipient, _as_list(m["recipient_prefix"])):
            return False
        if "recipient_regex" in m and not self._regexes["recipient_regex"].search(ctx.recipient):
            return False
        if "text_regex" in m and not self._regexes["text_regex"].search(ctx.text or ""):
            return False
        if "nth" in m and ctx.nth not in _as_list(m["nth"]):
            return False
        return True


@dataclass
class Scenario:
    name: str
    description: str
    rules: list[Rule]
    source: str = "<memory>"
    receiver: dict[str, Any] = field(default_factory=dict)  # built-in receiver behaviour
    smpp: dict[str, Any] = field(default_factory=dict)  # SMPP session limits (emulator/smpp)

    def __post_init__(self) -> None:
        self._by_provider: dict[str, list[Rule]] = {}

    def decide(self, ctx: MatchContext) -> Action | None:
        for rule in self._rules_for(ctx.provider):
            if rule.matches(ctx):
                return rule.action
        return None

    def _rules_for(self, provider: str) -> list[Rule]:
        """The rules that may match a provider, in file order (cached: rules never change)."""
        if provider not in self._by_provider:
            self._by_provider[provider] = [r for r in self.rules if r.providers is None or provider in r.providers]
        return self._by_provider[provider]

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "source": self.source, "rules": len(self.rules)}


class ScenarioSet:
    """The active user scenario (optional) in front of the built-in magic recipients."""

    def __init__(self, magic: Scenario | None = None, active: Scenario | None = None) -> None:
        self.magic = magic
        self.active = active
        self.path: Path | None = None
        self.mtime: float | None = None

    def decide(self, ctx: MatchContext) -> Action | None:
        for scenario in (self.active, self.magic):
            if scenario is not None:
                action = scenario.decide(ctx)
                if action is not None:
                    return action
        return None


# -- loading --------------------------------------------------------------------------------
def load_text(text: str, schemas: Schemas, source: str = "<memory>") -> Scenario:
    """Parse and validate a scenario; raise ScenarioError with line numbers on any problem."""
    try:
        data = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ScenarioError(source, [(line, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    except UnicodeEncodeError as exc:  # libyaml's answer to a lone surrogate
        raise ScenarioError(source, [(None, f"not valid YAML: unacceptable character at position {exc.start}")]) from None
    if data is None:
        raise ScenarioError(source, [(1, "empty scenario: expected a mapping with 'rules'")])
    violations = schemas.violations(SCHEMA_NAME, data)
    if violations:
        lines = _line_map(yaml.compose(text, Loader=YAML_LOADER))  # line numbers only when needed
        problems = {(_line_for(lines, v.pointer), f"{v.pointer or '/'}: {v.message}") for v in violations}
        raise ScenarioError(source, sorted(problems, key=lambda p: (p[0] or 0, p[1])))
    rules = []
    for index, raw in enumerate(data["rules"]):
        try:
            rules.append(_rule(index, raw, source))
        except re.error as exc:
            lines = _line_map(yaml.compose(text, Loader=YAML_LOADER))
            raise ScenarioError(source, [(_line_for(lines, f"/rules/{index}/match"), f"bad regex: {exc}")]) from None
    name = data.get("name", Path(source).stem)
    scenario = Scenario(name, data.get("description", ""), rules, source, dict(data.get("receiver") or {}))
    scenario.smpp = dict(data.get("smpp") or {})
    return scenario


def load_file(path: str | Path, schemas: Schemas) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), [(None, f"cannot read: {exc.strerror or exc}")]) from None
    return load_text(text, schemas, str(path))


def load_magic(schemas: Schemas) -> Scenario:
    """Every provider's magic-recipient file (data/magic/<provider>.yaml) as one scenario.
    Built once per process (and schemas root): a Scenario never changes once loaded."""
    key = str(schemas.root)
    if key not in _MAGIC:
        rules: list[Rule] = []
        for path in sorted(MAGIC_DIR.glob("*.yaml")):
            rules.extend(load_file(path, schemas).rules)
        for rule in rules:
            rule.action.magic = True
            rule.action.source = f"magic/{Path(rule.action.source).name}"  # data/magic/<provider>.yaml
        _MAGIC[key] = Scenario("magic", "built-in magic recipients", rules, str(MAGIC_DIR))
    return _MAGIC[key]


_MAGIC: dict[str, Scenario] = {}


def error_keys(scenario: Scenario) -> Iterable[tuple[str, list[str], str]]:
    """(rule name, providers it may apply to, error key) for every symbolic error it uses."""
    for rule in scenario.rules:
        if rule.action.kind == "reject" and rule.action.error:
            yield rule.name, _as_list(rule.match.get("provider", [])), rule.action.error


def _rule(index: int, raw: dict[str, Any], source: str = "<memory>") -> Rule:
    name = raw.get("name") or f"rule {index + 1}"
    match = dict(raw.get("match") or {})
    inbound = tuple(InboundReply(float(i.get("after", 0)), str(i["text"])) for i in raw.get("inbound", []))
    if "reply" in raw:
        reply = raw["reply"]
        if "error" in reply:
            action = Action("reject", error=reply["error"], inbound=inbound, rule=name)
        else:
            action = Action("raw", raw=dict(reply), inbound=inbound, rule=name)
    elif "fault" in raw:
        action = Action("fault", fault=dict(raw["fault"]), inbound=inbound, rule=name)
    else:
        plans = {
            channel: tuple(Step(float(s.get("after", 0)), Status(s["status"]), _opt_str(s.get("error"))) for s in steps)
            for channel, steps in (raw.get("deliver") or {}).items()
        }
        action = Action("deliver", plans=plans, inbound=inbound, rule=name)
    action.source, action.index = source, index
    return Rule(name, match, action)


def _recipient_starts(recipient: str, prefixes: list[Any]) -> bool:
    return any(recipient.startswith(str(p)) or (digits(p) and digits(recipient).startswith(digits(p))) for p in prefixes)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _line_map(node: yaml.Node | None, pointer: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """JSON pointer -> 1-based line of the YAML node it designates."""
    out = {} if out is None else out
    if node is None:
        return out
    out[pointer] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{pointer}/{key.value}"
            out[child] = key.start_mark.line + 1
            _line_map(value, child, out)
            out[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, f"{pointer}/{i}", out)
    return out


def _line_for(lines: dict[str, int], pointer: str) -> int | None:
    while True:
        if pointer in lines:
            return lines[pointer]
        if not pointer:
            return None
        pointer = pointer.rsplit("/", 1)[0]

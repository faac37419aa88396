"""Scenario files: load, validate against schemas/scenario.schema.json, and match rules.

A scenario is an ordered list of rules; the first rule whose `match` fits a message decides
what happens to it. The built-in magic recipients are one more scenario, always consulted
after the user's, so documented magic numbers work with no file at all.

Loading is bounded before anything is expanded: the text's size, the YAML graph's size once
aliases are expanded (a "billion laughs" is refused, not built), its depth; regexes run on
RE2 (linear time, no catastrophic backtracking). `load_text_async` does the work in a
thread, so a big scenario never stalls the event loop.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..resources import DATA, YAML_LOADER
from .model import Status, digits
from .validation import Schemas

try:  # Google's RE2: matching in time linear in the text, whatever the pattern
    import re2 as _re2
except ImportError:  # pragma: no cover - google-re2 is a dependency; kept working without it
    _re2 = None

SCHEMA_NAME = "scenario.schema"
MAX_SCENARIO_BYTES = 128 * 1024  # real scenario files are a few KiB; this one parses in < 1 s here
MAX_YAML_NODES = 20_000  # nodes once every alias is expanded (what validation would walk)
MAX_RULES = 1_000
MAX_YAML_DEPTH = 64
MAX_REGEX_LENGTH = 2_000
MAX_MATCH_TEXT = 64 * 1024  # a regex looks at most this much of a text (RE2 is linear, still bounded)
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


@dataclass
class MatchContext:
    """What rules match on, for one message (built per message: not frozen, whose __init__
    sets each field through object.__setattr__; nothing changes it once built)."""

    provider: str
    account: str
    channel: str
    channels: list[str]
    recipient: str
    text: str
    nth: int
    operation: str = "send"

    @property
    def recipient_digits(self) -> str:
        """Worked out once, on first use (functools.cached_property takes a lock for it on 3.11)."""
        found = self.__dict__.get("_recipient_digits")
        if found is None:
            found = self.__dict__["_recipient_digits"] = digits(self.recipient)
        return found


@dataclass
class Rule:
    name: str
    match: dict[str, Any]
    action: Action
    _regexes: dict[str, Any] = field(default_factory=dict)
    _recipients: tuple[set[str], set[str]] = field(default_factory=lambda: (set(), set()))  # (exact, digits)

    def __post_init__(self) -> None:
        for key in ("recipient_regex", "text_regex"):
            if key in self.match:
                self._regexes[key] = compile_regex(str(self.match[key]))
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
        if "recipient_regex" in m and not self._regexes["recipient_regex"].search(ctx.recipient[:MAX_MATCH_TEXT]):
            return False
        if "text_regex" in m and not self._regexes["text_regex"].search((ctx.text or "")[:MAX_MATCH_TEXT]):
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
        self._by_provider: dict[str, RuleIndex] = {}

    def decide(self, ctx: MatchContext) -> Action | None:
        index = self._by_provider.get(ctx.provider) or self._rules_for(ctx.provider)
        for rule in index.candidates(ctx):
            if rule.matches(ctx):
                return rule.action
        return None

    def _rules_for(self, provider: str) -> RuleIndex:
        """The rules that may match a provider, in file order (cached: rules never change)."""
        index = self._by_provider.get(provider)
        if index is None:
            index = self._by_provider[provider] = RuleIndex(
                [r for r in self.rules if r.providers is None or provider in r.providers]
            )
        return index

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "source": self.source, "rules": len(self.rules)}


class RuleIndex:
    """One provider's rules in file order, those that name recipients indexed by them: a
    message is tried only against the rules that could match its recipient (and those that
    name none), still in file order, so the first match is the one a scan would find. The
    magic files are a dozen such rules per provider, tried on every send."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._open = [i for i, rule in enumerate(rules) if "recipient" not in rule.match]
        self._open_rules = [rules[i] for i in self._open]
        self._exact: dict[str, list[int]] = {}  # recipient as written -> rules naming it
        self._digits: dict[str, list[int]] = {}  # its digits -> rules naming them
        for i, rule in enumerate(rules):
            if "recipient" in rule.match:
                exact, by_digits = rule._recipients
                for key in exact:
                    self._exact.setdefault(key, []).append(i)
                for key in by_digits:
                    self._digits.setdefault(key, []).append(i)

    def candidates(self, ctx: MatchContext) -> list[Rule]:
        """The rules worth trying for `ctx`, in file order (Rule.matches still decides): for
        a recipient no rule names (the usual send), two dict misses."""
        recipient = ctx.recipient
        if not isinstance(recipient, str):
            return self.rules
        exact = self._exact.get(recipient)
        if not self._digits:
            by_digits = None
        elif recipient.isascii() and recipient.isdigit():  # its own digits (model.digits' test)
            by_digits = self._digits.get(recipient)
        else:
            by_digits = self._digits.get(ctx.recipient_digits)
        if exact is None and by_digits is None:
            return self._open_rules
        return [self.rules[i] for i in sorted({*(exact or ()), *(by_digits or ()), *self._open})]

    def none_for(self, recipient: Any) -> bool:
        """True when candidates() of any message to `recipient` is empty: no rule without a
        recipient, none naming this one (the usual send, with only the magic files loaded):
        candidates()' lookups, asked for every message."""
        if self._open_rules or not isinstance(recipient, str) or recipient in self._exact:
            return False
        if not self._digits:
            return True
        if recipient.isascii() and recipient.isdigit():  # its own digits (model.digits' test)
            return recipient not in self._digits
        return digits(recipient) not in self._digits


class ScenarioSet:
    """The active user scenario (optional) in front of the built-in magic recipients."""

    def __init__(self, magic: Scenario | None = None, active: Scenario | None = None) -> None:
        self.magic = magic
        self.active = active
        self.path: Path | None = None
        self.mtime: float | None = None

    def silent_for(self, provider: str, account: str, recipient: Any) -> bool:
        """True when decide() returns None for any message of `provider` to `recipient`
        (no rule of the active scenario or the magic ones could be tried): the engine then
        builds no MatchContext. (`account`: namespaces.NamespacedScenarios asks it.)"""
        for scenario in (self.active, self.magic):
            if scenario is not None:
                index = scenario._by_provider.get(provider) or scenario._rules_for(provider)
                if not index.none_for(recipient):
                    return False
        return True

    def decide(self, ctx: MatchContext) -> Action | None:
        active, magic = self.active, self.magic
        if active is not None:
            action = active.decide(ctx)
            if action is not None:
                return action
        return magic.decide(ctx) if magic is not None else None


# -- loading --------------------------------------------------------------------------------
def load_text(text: str, schemas: Schemas, source: str = "<memory>") -> Scenario:
    """Parse and validate a scenario; raise ScenarioError with line numbers on any problem.
    Size, alias expansion and depth are checked on the composed graph, before any expansion."""
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(source, [(None, f"scenario too large: {len(text):,} characters (at most {MAX_SCENARIO_BYTES:,})")])
    try:
        _check_depth(text)  # before composing: libyaml's composer recurses on the C stack
        loader = YAML_LOADER(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_graph(node)
                data = loader.construct_document(node)
            else:
                data = None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or exc
        if "maximum nesting depth" in str(problem):
            # PyYAML 6.0.4's libyaml stops at 1,000 levels itself, and its scanner reads that far
            # ahead of the events _check_depth counts: the same refusal, whichever saw it first
            raise ScenarioError(source, [(line, f"nested too deeply (at most {MAX_YAML_DEPTH} levels)")]) from None
        raise ScenarioError(source, [(line, f"not valid YAML: {problem}")]) from None
    except UnicodeEncodeError as exc:  # libyaml's answer to a lone surrogate
        raise ScenarioError(source, [(None, f"not valid YAML: unacceptable character at position {exc.start}")]) from None
    except RecursionError:
        raise ScenarioError(source, [(None, f"nested too deeply (at most {MAX_YAML_DEPTH} levels)")]) from None
    except _TooBig as exc:
        raise ScenarioError(source, [(exc.line, str(exc))]) from None
    if data is None:
        raise ScenarioError(source, [(1, "empty scenario: expected a mapping with 'rules'")])
    if isinstance(data, dict) and isinstance(data.get("rules"), list) and len(data["rules"]) > MAX_RULES:
        raise ScenarioError(source, [(None, f"too many rules: {len(data['rules']):,} (at most {MAX_RULES:,})")])
    lines = _line_map(node)
    problems = []
    for violation in schemas.violations(SCHEMA_NAME, data):
        problems.append((_line_for(lines, violation.pointer), f"{violation.pointer or '/'}: {violation.message}"))
    if problems:
        raise ScenarioError(source, sorted(set(problems), key=lambda p: (p[0] or 0, p[1])))
    rules = []
    for index, raw in enumerate(data["rules"]):
        try:
            rules.append(_rule(index, raw, source))
        except re.error as exc:
            raise ScenarioError(source, [(_line_for(lines, f"/rules/{index}/match"), f"bad regex: {exc}")]) from None
    name = data.get("name", Path(source).stem)
    scenario = Scenario(name, data.get("description", ""), rules, source, dict(data.get("receiver") or {}))
    scenario.smpp = dict(data.get("smpp") or {})
    return scenario


async def load_text_async(text: str, schemas: Schemas, source: str = "<memory>") -> Scenario:
    """load_text in a worker thread: the event loop keeps serving while a scenario is parsed."""
    return await asyncio.to_thread(load_text, text, schemas, source)


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_YAML_DEPTH from the event stream (no tree is built)."""
    depth = 0
    for count, event in enumerate(yaml.parse(text, Loader=YAML_LOADER)):
        if count > 4 * MAX_YAML_NODES:
            raise _TooBig(f"scenario too large: more than {MAX_YAML_NODES:,} nodes", None)
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else None
                raise _TooBig(f"nested too deeply (at most {MAX_YAML_DEPTH} levels)", line)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


class _TooBig(ValueError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _check_graph(root: yaml.Node) -> None:
    """Refuse a YAML graph whose expansion (aliases followed) is too large, too deep, or
    recursive, without expanding it: each node's expanded size is computed once."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # iterative post-order walk: (node, depth, children done?)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        line = node.start_mark.line + 1 if node.start_mark else None
        if done:
            on_path.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_YAML_NODES:
                raise _TooBig(f"scenario too large once its aliases are expanded: more than {MAX_YAML_NODES:,} nodes", line)
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise _TooBig("recursive alias (a node that contains itself)", line)
        if depth > MAX_YAML_DEPTH:
            raise _TooBig(f"nested too deeply (at most {MAX_YAML_DEPTH} levels)", line)
        on_path.add(key)
        stack.append((node, depth, True))
        for child in _children(node):
            if id(child) not in sizes:
                stack.append((child, depth + 1, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Regex:
    """A compiled scenario regex: RE2 (linear time) when installed."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        if len(pattern) > MAX_REGEX_LENGTH:
            raise re.error(f"pattern longer than {MAX_REGEX_LENGTH} characters")
        re.compile(pattern, re.S)  # Python's syntax is the documented one: same errors as before
        if _re2 is not None:
            options = _re2.Options()
            options.dot_nl = True
            options.log_errors = False
            try:
                self._compiled = _re2.compile(pattern, options)
            except _re2.error as exc:
                detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
                raise re.error(
                    f"{detail} (scenario regexes run on RE2, in linear time: no backreferences or lookaround)"
                ) from None
        else:  # pragma: no cover
            if _NESTED_QUANTIFIER.search(pattern):
                raise re.error("nested quantifier such as (a+)+ could backtrack catastrophically; install google-re2")
            self._compiled = re.compile(pattern, re.S)

    def search(self, text: str) -> Any:
        return self._compiled.search(text)


_NESTED_QUANTIFIER = re.compile(r"\([^()]*[+*}][^()]*\)\s*[+*{]")


def compile_regex(pattern: str) -> _Regex:
    return _Regex(pattern)


def load_file(path: str | Path, schemas: Schemas) -> Scenario:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SCENARIO_BYTES + 1)  # never more than the cap, whatever the file
    except OSError as exc:
        raise ScenarioError(str(path), [(None, f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(str(path), [(None, f"scenario too large: more than {MAX_SCENARIO_BYTES:,} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), [(None, f"not UTF-8 text (byte {exc.start})")]) from None
    return load_text(text, schemas, str(path))


async def load_file_async(path: str | Path, schemas: Schemas) -> Scenario:
    """load_file in a worker thread (hot reload: the server keeps serving meanwhile)."""
    return await asyncio.to_thread(load_file, path, schemas)


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

"""JSON Schemas from `schemas/`, compiled once, with JSON-pointer error paths.

Two validators per schema: a compiled yes/no check (fastjsonschema, ~40x faster) decides valid
input, and jsonschema explains invalid input (pointers, keywords) exactly as it always did.

Providers validate their request bodies here and translate the first violation into their own
documented error; the schema files are the single written-down statement of each format.
"""
from __future__ import annotations

import copy
import functools
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # jsonschema is imported on first need: valid input never needs it
    import jsonschema
    from jsonschema import Draft202012Validator
    from referencing import Registry

try:
    import fastjsonschema
except ImportError:  # pragma: no cover - the compiled check is a speed-up; jsonschema alone still works
    fastjsonschema = None

log = logging.getLogger("msgemu.validation")


def schemas_root() -> Path:
    """The schemas shipped in the package, the checkout's `schemas/`, or MSGEMU_SCHEMAS_DIR."""
    from ..resources import shipped

    return shipped("schemas")


@dataclass(frozen=True)
class Violation:
    pointer: str  # JSON pointer into the instance, "" for the root
    keyword: str  # the schema keyword that failed (type, required, maxLength...)
    field: str  # the offending property name (for "required": the missing one)
    message: str
    schema_path: str

    def public(self) -> dict[str, str]:
        return {"pointer": self.pointer, "keyword": self.keyword, "field": self.field, "message": self.message}


class Schemas:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or schemas_root()
        self._validators: dict[str, Draft202012Validator] = {}
        self._checks: dict[str, Callable[[Any], bool]] = {}
        # name -> the compiled check itself where it is one function that raises on invalid
        # input (_passes' argument): first_violation calls it without _passes' frame
        self._raising: dict[str, Callable[[Any], Any] | None] = {}
        self._raw: dict[str, Any] = {}
        self._load()

    def _load(self) -> None:
        # checked and compiled once per process: every app of a test run shares the work
        self._files = tuple((str(p), p.stat().st_mtime_ns) for p in sorted(self.root.rglob("*.json")))
        raw, compiler = _compile(str(self.root), self._files, not _is_shipped(self.root))
        self._raw.update(raw)
        self._compiler = compiler
        self._registry: Registry | None = None  # jsonschema's side, built when first needed

    def _explainers(self) -> Registry:
        if self._registry is None:
            self._registry, validators = _explainers(str(self.root), self._files)
            for name, validator in validators.items():
                self._validators.setdefault(name, validator)
        return self._registry

    def names(self) -> list[str]:
        return sorted(name for name, schema in self._raw.items() if _is_schema(schema))

    def raw(self, name: str) -> Any:
        return self._raw[name]

    def validator(self, name: str) -> Draft202012Validator:
        """`name` is a schema file (`alphasms/envelope`) or a fragment (`alphasms/items#/$defs/sms`)."""
        if name not in self._validators:
            registry = self._explainers()
            if name not in self._validators:  # a fragment (every schema file is there now)
                from jsonschema import Draft202012Validator

                subschema = self._schema_at(name)
                file = name.partition("#")[0]
                root = self._validators.get(file) or Draft202012Validator(self._raw[file], registry=registry)
                # evolve keeps the root's resolver, so "#/$defs/..." inside the fragment still resolve
                self._validators[name] = root.evolve(schema=subschema)
        return self._validators[name]

    def _schema_at(self, name: str) -> Any:
        """The schema a name points at: a schema file, or a fragment (JSON pointer) in one;
        KeyError when there is none."""
        file, _, fragment = name.partition("#")
        if file not in self._raw or not (fragment or _is_schema(self._raw[file])):
            raise KeyError(f"no schema {name!r}")
        node = _at_pointer(self._raw[file], fragment)
        if node is _MISSING:
            raise KeyError(f"no schema {name!r}")
        return node

    def is_valid(self, name: str, instance: Any) -> bool:
        return self._compiled_says_valid(name, instance) or self.validator(name).is_valid(instance)

    def violations(self, name: str, instance: Any) -> list[Violation]:
        """Every violation, most specific first (deepest pointer, then document order).

        Valid input (the common case) is settled by the compiled check alone; only what it
        rejects pays for jsonschema, whose errors give the pointers and keywords providers map."""
        check = self._checks.get(name) or self._check_for(name)
        if check(instance):
            return []
        return self._explained(name, instance)

    def first_violation(self, name: str, instance: Any) -> Violation | None:
        raising = self._raising.get(name)
        if raising is not None:
            try:
                raising(instance)
                return None  # valid (every send): one call, no list
            except Exception:  # noqa: BLE001 - any doubt goes to jsonschema, as _passes says
                pass
        else:
            check = self._checks.get(name) or self._check_for(name)
            if check(instance):
                return None
        violations = self._explained(name, instance)
        return violations[0] if violations else None

    def _explained(self, name: str, instance: Any) -> list[Violation]:
        """jsonschema's violations of what the compiled check refused (none: it was a doubt)."""
        validator = self.validator(name)
        found = []
        for error in validator.iter_errors(instance):
            found.extend(_leaves(error))
        found.sort(key=lambda v: (-v.pointer.count("/"), v.pointer, v.schema_path))
        return found

    def _compiled_says_valid(self, name: str, instance: Any) -> bool:
        return self._check_for(name)(instance)

    def _check_for(self, name: str) -> Callable[[Any], bool]:
        check = self._checks.get(name)
        if check is None:
            self._schema_at(name)  # unknown names raise KeyError here, as before
            check = self._checks[name] = self._compiler.check(name) or _never
            if type(check) is functools.partial and check.func is _passes:
                self._raising[name] = check.args[0]
        return check


def _is_shipped(root: Path) -> bool:
    """msgemu's own schemas (in the package or the checkout) are checked against the JSON Schema
    meta-schema by the test suite (tests/test_schema_files.py), not at every start: the check
    took 0.3 s of CPU per process. Schemas from MSGEMU_SCHEMAS_DIR are still checked at load."""
    from ..resources import PACKAGE

    return root.resolve() in (PACKAGE / "_schemas", PACKAGE.parent / "schemas")


@lru_cache(maxsize=8)
def _compile(root_dir: str, files: tuple[tuple[str, int], ...], check_meta: bool = True) -> tuple[dict[str, Any], "FastChecks"]:
    """Keyed by every file and its mtime: a changed schema is compiled again. The FastChecks
    compile each schema on first use, once per process for every Schemas sharing them."""
    root = Path(root_dir)
    raw: dict[str, Any] = {}
    for path in (Path(f) for f, _ in files):
        name = path.relative_to(root).with_suffix("").as_posix()
        raw[name] = json.loads(path.read_text(encoding="utf-8"))
    if check_meta:
        from jsonschema import Draft202012Validator

        for schema in raw.values():
            if _is_schema(schema):
                Draft202012Validator.check_schema(schema)
    return raw, FastChecks(raw)


@lru_cache(maxsize=8)
def _explainers(root_dir: str, files: tuple[tuple[str, int], ...]) -> tuple[Registry, dict[str, Draft202012Validator]]:
    """jsonschema's validators, which explain invalid input (pointers, keywords): built once per
    process, the first time some input is invalid."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    raw, _ = _compile(root_dir, files, False)
    resources = [(schema.get("$id", f"urn:msgemu:{name}"), Resource.from_contents(schema, default_specification=DRAFT202012))
                 for name, schema in raw.items()]
    registry = Registry().with_resources(resources)
    validators = {name: Draft202012Validator(schema, registry=registry) for name, schema in raw.items() if _is_schema(schema)}
    return registry, validators


_MISSING = object()


def _at_pointer(document: Any, pointer: str) -> Any:
    """The node a JSON pointer (`/$defs/sms`; "" for the whole document) names, or _MISSING."""
    node = document
    for part in pointer.strip("/").split("/") if pointer else ():
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _is_schema(document: Any) -> bool:
    """A schema file, as opposed to a file of shared definitions only."""
    return isinstance(document, dict) and any(k in document for k in ("$schema", "type", "properties", "$defs"))


class FastChecks:
    """Schemas compiled to Python code by fastjsonschema, once per schema name.

    fastjsonschema knows draft-07, not 2020-12: a schema using what the two drafts read
    differently ($ref beside other keywords, 2019+/2020 keywords) gets no compiled check and
    keeps jsonschema's. Its "valid" is trusted (tests/test_validation.py compares the two on
    every schema); its "invalid" is only a hint, confirmed by jsonschema."""

    _BASE = "https://msgemu.invalid/schemas/"  # fastjsonschema resolves "#/..." only under a hierarchical URI
    _NEWER = frozenset({"prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentRequired",
                        "dependentSchemas", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor",
                        "$anchor", "minContains", "maxContains"})

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw
        self._documents = {}
        self._compatible = {}
        self._compiled: dict[str, Callable[[Any], bool] | None] = {}  # shared by every Schemas of the process
        for name, schema in raw.items():
            document = self._rewrite(schema)
            if isinstance(document, dict):
                document.setdefault("$id", self._BASE + name)
                self._documents[document["$id"]] = document
            self._compatible[name] = _draft7_reads_alike(schema, self._NEWER)
        changed = True
        while changed:  # a schema is only as compatible as the files it refers to
            changed = False
            for name, schema in raw.items():
                if self._compatible[name] and not all(self._compatible.get(f, False) for f in _files_referred(schema)):
                    self._compatible[name] = False
                    changed = True

    def check(self, name: str) -> Callable[[Any], bool] | None:
        if name not in self._compiled:
            self._compiled[name] = self._compile(name)
        return self._compiled[name]

    def _compile(self, name: str) -> Callable[[Any], bool] | None:
        file, _, fragment = name.partition("#")
        flat = _flat_strings_check(self._raw.get(file), fragment)
        if flat is not None:
            return flat
        if fastjsonschema is None or not self._compatible.get(file):
            return None
        try:
            compiled = self._fast(self._inlined_root(file, fragment))
            split = None if fragment else self._split_by_discriminator(file)
        except Exception:  # noqa: BLE001 - a schema fastjsonschema cannot compile keeps jsonschema
            log.warning("schema %s: no compiled check, jsonschema alone", name, exc_info=True)
            return None

        if split is None:
            return functools.partial(_passes, compiled)  # no discriminator: one call, nothing to pick

        key, by_value, otherwise = split

        def check_split(instance: Any) -> bool:
            chosen = compiled  # not an object: the whole schema says why
            if isinstance(instance, dict):
                value = instance.get(key)
                chosen = by_value.get(value, otherwise) if isinstance(value, str) else otherwise
            return _passes(chosen, instance)

        return check_split

    def _split_by_discriminator(self, file: str) -> tuple[str, dict[str, Callable[[Any], Any]], Callable[[Any], Any]] | None:
        """A schema whose `allOf` picks rules by one property's value (`if: {required: [k],
        properties: {k: {const: v}}}`, then/else), compiled once per value with each `if`
        already decided: fastjsonschema tries an `if` by raising and catching an exception,
        so a body of Octopush's multichannel send paid six of them per check. For an object,
        (k, {v: check with k == v}, check for any other value or none); None when the
        schema does not have that shape."""
        document = self._documents.get(self._BASE + file)
        entries = document.get("allOf") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            return None
        decided: dict[int, tuple[str, Any]] = {}  # allOf index -> (value, the if)
        for index, entry in enumerate(entries):
            test = entry.get("if") if isinstance(entry, dict) else None
            if not (isinstance(test, dict) and set(test) == {"required", "properties"} and set(entry) <= {"if", "then", "else", "$comment"}):
                continue
            required, properties = test["required"], test["properties"]
            if not (isinstance(required, list) and len(required) == 1 and isinstance(properties, dict) and list(properties) == required):
                continue
            condition = properties[required[0]]
            if isinstance(condition, dict) and set(condition) == {"const"} and isinstance(condition["const"], str):
                decided[index] = (required[0], condition["const"])
        keys = {key for key, _ in decided.values()}
        if len(decided) < 2 or len(keys) != 1:
            return None

        def variant(value: str | None) -> Callable[[Any], Any]:
            schema = self._inlined_root(file, "")
            kept = []
            for index, entry in enumerate(schema["allOf"]):
                if index not in decided:
                    kept.append(entry)
                elif (branch := entry.get("then" if decided[index][1] == value else "else")) is not None:
                    kept.append(branch)
            schema["allOf"] = kept
            schema["$id"] = f"{document['$id']}--{'any' if value is None else value}"
            return self._fast(schema)

        values = {value for _, value in decided.values()}
        return keys.pop(), {value: variant(value) for value in values}, variant(None)

    def _fast(self, schema: dict[str, Any]) -> Callable[[Any], Any]:
        """fastjsonschema's check of `schema`, its code without the key sets nothing reads
        (_without_unread_key_sets); fastjsonschema.compile itself where its private factory
        is not there."""
        factory = getattr(fastjsonschema, "_factory", None)
        if factory is not None:
            try:
                resolver, generator = factory(schema, {"https": self._document}, {}, False, False)
                state = generator.global_state
                code = _required_sets_made_once(_without_unread_key_sets(generator.func_code), state)
                exec(code, state)  # noqa: S102 - fastjsonschema's own code, as its compile does
                return state[resolver.get_scope_name()]
            except Exception:  # noqa: BLE001 - its private factory changed: its public compile, slower, never none
                log.debug("schema %s: fastjsonschema's factory failed, its compile instead", schema.get("$id"), exc_info=True)
        return fastjsonschema.compile(schema, handlers={"https": self._document}, use_default=False, use_formats=False)

    def _inlined_root(self, file: str, fragment: str) -> dict[str, Any]:
        """The schema `file#fragment` with its `$ref`s replaced by what they point at, for
        fastjsonschema to compile: its code called a function per `$ref` (and built the
        field's name for its error text on every call), ~40% of a small schema's check. A
        `$ref` met again inside its own target (a recursive schema) stays, made absolute."""
        uri = self._BASE + file
        node = _at_pointer(self._documents.get(uri), fragment)
        root = self._inlined(uri, node, (f"{uri}#{fragment}",))
        if not isinstance(root, dict):
            root = {"allOf": [root]}  # a boolean schema
        root["$id"] = f"{uri}--inlined{fragment.replace('/', '-').replace('$', '')}"  # not the document's: its refs go there
        return root

    def _inlined(self, base: str, node: Any, trail: tuple[str, ...]) -> Any:
        """`node` (a schema of the document at `base`) with its `$ref`s inlined; only the
        keywords that hold schemas are walked (a `const` or a property's name stays as is)."""
        if not isinstance(node, dict):
            return node  # a boolean schema
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = base + ref if ref.startswith("#") else ref
            uri, _, pointer = target.partition("#")
            found = _at_pointer(self._documents[uri], pointer) if uri in self._documents else _MISSING
            if target in trail or not isinstance(found, (dict, bool)):
                return {**node, "$ref": target}
            if isinstance(found, bool):
                return found
            return self._inlined(uri, {k: v for k, v in found.items() if k not in _NOT_INLINED}, trail + (target,))
        inlined = {}
        for key, value in node.items():
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                value = {name: self._inlined(base, schema, trail) for name, schema in value.items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                value = [self._inlined(base, schema, trail) for schema in value]
            elif key in _SCHEMA_ONE:
                value = self._inlined(base, value, trail)
            inlined[key] = value
        if inlined.get("uniqueItems") is True and isinstance(inlined.get("allOf", []), list):
            # fastjsonschema's test defines a function and hashes every item on each call; an
            # array of at most one item (Hyber's usual `channels`) is unique without it
            del inlined["uniqueItems"]
            inlined["allOf"] = [*inlined.get("allOf", ()), {"anyOf": [{"maxItems": 1}, {"uniqueItems": True}]}]
        return inlined

    def _document(self, uri: str) -> Any:
        return copy.deepcopy(self._documents[uri])  # fastjsonschema rewrites the $refs it walks

    def _rewrite(self, node: Any) -> Any:
        if isinstance(node, dict):
            return {k: self._BASE + v[len("urn:msgemu:"):] if k in ("$id", "$ref") and isinstance(v, str)
                    and v.startswith("urn:msgemu:") else self._rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self._rewrite(v) for v in node]
        return node


# draft-07's keywords that hold schemas: one, a list (or `items`: one), a map of names to schemas
_SCHEMA_ONE = frozenset({"items", "additionalItems", "additionalProperties", "contains", "not", "if", "then", "else", "propertyNames"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "items"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependencies", "$defs", "definitions"})
_NOT_INLINED = frozenset({"$id", "$schema", "$defs", "definitions"})  # the target's refs are resolved already


_KEY_SET = re.compile(r"^\s*(\w+)_keys = set\(\1\.keys\(\)\)$")
_KEY_TAKEN = re.compile(r'^\s*(\w+)_keys\.remove\("(?:[^"\\]|\\.)*"\)$')
_KEY_TEST = re.compile(r'^(\s*if "(?:[^"\\]|\\.)*" in )(\w+)_keys:$')


def _without_unread_key_sets(code: str) -> str:
    """fastjsonschema's code with `<object>_keys` sets that only serve `if "k" in
    <object>_keys` (each key of a `properties` tested once, then removed) replaced by
    `if "k" in <object>`: a set built and a remove per property on every check, read by
    nothing else (additionalProperties and patternProperties read the set: those stay)."""
    lines = code.split("\n")
    roles: dict[str, int] = {}  # object -> lines of those three forms
    for line in lines:
        found = _KEY_SET.match(line) or _KEY_TAKEN.match(line) or _KEY_TEST.match(line)
        if found:
            name = found.group(2) if found.re is _KEY_TEST else found.group(1)
            roles[name] = roles.get(name, 0) + 1
    uses = {name: len(re.findall(rf"\b{name}_keys\b", code)) for name in roles}
    dead = {name for name, count in roles.items() if uses[name] == count}  # read nowhere else
    kept = []
    for line in lines:
        if (found := _KEY_SET.match(line) or _KEY_TAKEN.match(line)) and found.group(1) in dead:
            continue
        if (found := _KEY_TEST.match(line)) and found.group(2) in dead:
            line = f"{found.group(1)}{found.group(2)}:"
        kept.append(line)
    return "\n".join(kept)


_REQUIRED = re.compile(r"= set\((\[(?:'(?:[^'\\]|\\.)*'(?:, )?)+\])\) - (\w+)\.keys\(\)$", re.M)


def _required_sets_made_once(code: str, state: dict[str, Any]) -> str:
    """`set(['a', 'b']) - obj.keys()` (a `required` list, built on every check) with the set
    made once, a frozenset in the code's globals."""
    import ast

    def made_once(found: re.Match[str]) -> str:
        name = f"_required_{len(made)}"
        made[name] = frozenset(ast.literal_eval(found.group(1)))
        return f"= {name} - {found.group(2)}.keys()"

    made: dict[str, frozenset[str]] = {}
    code = _REQUIRED.sub(made_once, code)
    state.update(made)
    return code


def _passes(compiled: Callable[[Any], Any], instance: Any) -> bool:
    """The compiled check's verdict: it raises on invalid input; any doubt goes to jsonschema."""
    try:
        compiled(instance)
    except Exception:  # noqa: BLE001 - any doubt goes to jsonschema
        return False
    return True


def _never(instance: Any) -> bool:
    return False


def _files_referred(node: Any) -> set[str]:
    """Other schema files a schema's $refs point into (`urn:msgemu:<file>#...`)."""
    if isinstance(node, list):
        return set().union(*(_files_referred(v) for v in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set().union(*(_files_referred(v) for v in node.values())) if node else set()
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("urn:msgemu:"):
        found.add(ref[len("urn:msgemu:"):].partition("#")[0])
    return found


def _draft7_reads_alike(node: Any, newer: frozenset[str]) -> bool:
    """No keyword draft-07 lacks, and no $ref with sibling keywords (draft-07 ignores those)."""
    if isinstance(node, list):
        return all(_draft7_reads_alike(v, newer) for v in node)
    if not isinstance(node, dict):
        return True
    if newer & node.keys():
        return False
    if "$ref" in node and node.keys() - {"$ref", "description", "title", "$comment", "examples"}:
        return False
    if isinstance(node.get("$ref"), str) and not (node["$ref"].startswith("#") or node["$ref"].startswith("urn:msgemu:")):
        return False
    return all(_draft7_reads_alike(v, newer) for k, v in node.items() if k not in ("const", "enum", "default", "examples"))


def _leaves(error: jsonschema.ValidationError) -> list[Violation]:
    """Descend into anyOf/oneOf so the reported violation names the real culprit."""
    if error.context:
        from jsonschema.exceptions import best_match

        best = best_match(error.context)
        if best is not None:
            return _leaves(best)
    pointer = "".join(f"/{_escape(p)}" for p in error.absolute_path)
    field = str(error.absolute_path[-1]) if error.absolute_path else ""
    if error.validator == "required":
        missing = _missing_property(error)
        field = missing or field
        pointer = f"{pointer}/{_escape(missing)}" if missing else pointer
    elif error.validator == "additionalProperties":
        extra = _extra_property(error)
        field = extra or field
        pointer = f"{pointer}/{_escape(extra)}" if extra else pointer
    return [
        Violation(
            pointer=pointer,
            keyword=str(error.validator),
            field=field,
            message=error.message,
            schema_path="/".join(str(p) for p in error.absolute_schema_path),
        )
    ]


def _missing_property(error: jsonschema.ValidationError) -> str:
    # message reads "'name' is a required property"
    text = error.message
    if text.startswith("'") and "' is a required property" in text:
        return text[1 : text.index("' is a required property")]
    return ""


def _extra_property(error: jsonschema.ValidationError) -> str:
    text = error.message
    if "('" in text:
        return text.split("('", 1)[1].split("'", 1)[0]
    return ""


def _escape(part: Any) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


# -- objects of optional string fields (SMSC's parameters) -------------------------------------------
_FLAT_OBJECT_KEYS = frozenset({"type", "properties", "description", "title", "$comment", "$schema", "$id", "$defs"})
_FLAT_STRING_KEYS = frozenset({"type", "pattern", "maxLength", "minLength", "description", "title", "$comment"})
_NOTES = frozenset({"description", "title", "$comment"})


def _flat_strings_check(document: Any, fragment: str) -> Callable[[Any], bool] | None:
    """A check for a schema that is only an object of optional string fields (type, pattern,
    length), each perhaps a local `$ref` to such a field: what jsonschema says, walking the
    fields the instance has (an SMSC request names 6 of the 24 parameters send.php reads)
    instead of the code fastjsonschema generates, which tests each of the schema's names.
    None for any other schema."""
    node = _at_pointer(document, fragment)
    if not isinstance(node, dict) or node.get("type") != "object" or not _FLAT_OBJECT_KEYS.issuperset(node):
        return None
    properties = node.get("properties")
    if not isinstance(properties, dict):
        return None
    rules: dict[str, tuple[Any, int, float]] = {}
    for key, spec in properties.items():
        spec = _local_ref(document, spec)
        if not isinstance(spec, dict) or spec.get("type") != "string" or not _FLAT_STRING_KEYS.issuperset(spec):
            return None
        pattern, least, most = spec.get("pattern"), spec.get("minLength", 0), spec.get("maxLength", float("inf"))
        if (pattern is not None and not isinstance(pattern, str)) or not all(
            isinstance(n, (int, float)) and not isinstance(n, bool) for n in (least, most)
        ):
            return None
        try:
            search = re.compile(pattern).search if pattern is not None else None  # jsonschema's re.search
        except re.error:
            return None
        rules[key] = (search, least, most)

    def check(instance: Any) -> bool:
        if not isinstance(instance, dict):
            return False
        for key, value in instance.items():
            rule = rules.get(key)
            if rule is None:
                continue
            if not isinstance(value, str):
                return False
            search, least, most = rule
            if not least <= len(value) <= most or (search is not None and search(value) is None):
                return False
        return True

    return check


def _local_ref(document: Any, spec: Any) -> Any:
    """A field given as `{"$ref": "#/$defs/<name>"}` (notes aside): that definition; else the field."""
    if not (isinstance(spec, dict) and isinstance(spec.get("$ref"), str) and _NOTES.issuperset(set(spec) - {"$ref"})):
        return spec
    ref = spec["$ref"]
    return _at_pointer(document, ref[1:]) if ref.startswith("#/") else None

"""JSON Schemas from `schemas/`, compiled once, with JSON-pointer error paths.

Providers validate their request bodies here and translate the first violation into their own
documented error; the schema files are the single written-down statement of each format.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


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
        self._raw: dict[str, Any] = {}
        self._load()

    def _load(self) -> None:
        # checked and compiled once per process: every app of a test run shares the work
        files = tuple((str(p), p.stat().st_mtime_ns) for p in sorted(self.root.rglob("*.json")))
        raw, registry, validators = _compile(str(self.root), files)
        self._raw.update(raw)
        self._registry = registry
        self._validators.update(validators)

    def names(self) -> list[str]:
        return sorted(self._validators)

    def raw(self, name: str) -> Any:
        return self._raw[name]

    def validator(self, name: str) -> Draft202012Validator:
        """`name` is a schema file (`alphasms/envelope`) or a fragment (`alphasms/items#/$defs/sms`)."""
        if name not in self._validators:
            file, _, fragment = name.partition("#")
            if not fragment or file not in self._raw:
                raise KeyError(f"no schema {name!r}")
            root = self._validators.get(file) or Draft202012Validator(self._raw[file], registry=self._registry)
            subschema: Any = self._raw[file]
            for part in fragment.strip("/").split("/"):
                subschema = subschema[part.replace("~1", "/").replace("~0", "~")]
            # evolve keeps the root's resolver, so "#/$defs/..." inside the fragment still resolve
            self._validators[name] = root.evolve(schema=subschema)
        return self._validators[name]

    def violations(self, name: str, instance: Any) -> list[Violation]:
        """Every violation, most specific first (deepest pointer, then document order)."""
        validator = self.validator(name)
        found = []
        for error in validator.iter_errors(instance):
            found.extend(_leaves(error))
        found.sort(key=lambda v: (-v.pointer.count("/"), v.pointer, v.schema_path))
        return found

    def first_violation(self, name: str, instance: Any) -> Violation | None:
        violations = self.violations(name, instance)
        return violations[0] if violations else None


@lru_cache(maxsize=8)
def _compile(root_dir: str, files: tuple[tuple[str, int], ...]) -> tuple[dict[str, Any], Registry, dict[str, Draft202012Validator]]:
    """Keyed by every file and its mtime: a changed schema is compiled again."""
    root = Path(root_dir)
    raw: dict[str, Any] = {}
    resources = []
    for path in (Path(f) for f, _ in files):
        name = path.relative_to(root).with_suffix("").as_posix()
        schema = json.loads(path.read_text(encoding="utf-8"))
        raw[name] = schema
        resource = Resource.from_contents(schema, default_specification=DRAFT202012)
        resources.append((schema.get("$id", f"urn:msgemu:{name}"), resource))
    registry = Registry().with_resources(resources)
    validators = {}
    for name, schema in raw.items():
        if "$schema" in schema or "type" in schema or "properties" in schema or "$defs" in schema:
            Draft202012Validator.check_schema(schema)
            validators[name] = Draft202012Validator(schema, registry=registry)
    return raw, registry, validators


def _leaves(error: jsonschema.ValidationError) -> list[Violation]:
    """Descend into anyOf/oneOf so the reported violation names the real culprit."""
    if error.context:
        best = jsonschema.exceptions.best_match(error.context)
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

"""Seeded instances of a JSON Schema, for the differential test of the two validators.

Schema-guided values (enums, consts, strings matching or missing a pattern, lengths and numbers
at their bounds, arrays at their size limits, nested objects) mixed with junk of every JSON type,
and mutants of a valid example: its values kept, dropped, replaced or themselves mutated.

Plain `random.Random` rather than Hypothesis: the validators take microseconds per instance and
Hypothesis's engine took over 90% of the test's time; shrinking is not needed to read a failure
(the instance is printed with its schema and its index, and the same seed replays it).
"""
from __future__ import annotations

import functools
import random
import re
import sys
from typing import Any, Callable

if sys.version_info >= (3, 11):
    from re import _constants as sre, _parser as sre_parse
else:  # pragma: no cover - Python 3.10
    import sre_constants as sre
    import sre_parse

# Characters strings are made of: ASCII, the whitespace \s and $ care about, control, Latin-1,
# Cyrillic (SMSC and AlphaSMS texts), a non-BMP emoji (one code point, two UTF-16 units), a lone
# surrogate (json.loads accepts "\ud800"), the line and paragraph separators.
CHARACTERS = ("abcxyzABCXYZ0123456789 .,_-+/:@#&'\"?=%*\\()[]{}!~|<>\n\t\r\x00\x0b\x1f\x7fé\u00a0ßЖжКод"
              "\u2028\u3000€😀\ud800")
INTEGERS = (-(2**63), -(2**31) - 1, -1000, -3, -2, -1, 0, 1, 2, 3, 9, 10, 99, 100, 255, 256, 999, 1000,
            2**31 - 1, 2**31, 2**53 + 1, 10**15, 10**16, 2**64)
FLOATS = (0.0, -0.0, 0.5, -1.5, 1.0, 3.0, 1e-7, 5e-324, 1.7976931348623157e308, float("inf"), float("-inf"), 1e16)
DROP = object()


class InstanceMaker:
    """Instances of one schema file's subschemas, `$ref`s resolved through `raw(file)`."""

    def __init__(self, raw: Callable[[str], Any], rng: random.Random) -> None:
        self.raw = raw
        self.rng = rng
        self._plans: dict[tuple[int, str], tuple[dict, list]] = {}
        self._classes: dict[str, str] = {}

    # -- junk ------------------------------------------------------------------------------
    def junk(self) -> Any:
        """Any JSON value, shallow: what a wrong type looks like."""
        rng = self.rng
        kind = rng.randrange(12)
        if kind == 0:
            return None
        if kind == 1:
            return rng.random() < 0.5
        if kind == 2:
            return rng.choice(INTEGERS)
        if kind == 3:
            return rng.randint(-3, 10**16)
        if kind == 4:
            return rng.choice(FLOATS) if rng.random() < 0.5 else rng.uniform(-1e6, 1e6)
        if kind in (5, 6):
            return self.text(0, 5)
        return rng.choice(["", [], {}, "\n", "0", "true", [None], {"": None}])

    def text(self, low: int, high: int, alphabet: str = CHARACTERS) -> str:
        """A string whose length is often a bound (low-1, low, high, high+1), else in between."""
        rng = self.rng
        size = max(0, rng.choice([low - 1, low, high, high + 1, rng.randint(low, max(low, min(high, low + 12)))]))
        chunk = "".join(rng.choices(alphabet, k=min(size, 32)))
        return (chunk * (size // 32 + 1))[:size] if size > 32 else chunk  # a long one repeats its start

    # -- schema-guided ---------------------------------------------------------------------
    def instance(self, schema: Any, file: str, depth: int = 0) -> Any:
        """One of the values this schema's keywords suggest, or junk (a uniform pick among them)."""
        if depth > 4 or not isinstance(schema, dict):
            return self.junk()
        return self.rng.choice(self._options(schema, file))(depth)

    def _options(self, schema: dict, file: str) -> list[Callable[[int], Any]]:
        """The ways to make an instance of `schema` (each takes the depth), worked out once."""
        key = (id(schema), file)
        if key not in self._plans:
            self._plans[key] = (schema, self._plan(schema, file))  # the schema kept: its id stays unique
        return self._plans[key][1]

    def _plan(self, schema: dict, file: str) -> list[Callable[[int], Any]]:
        options: list[Callable[[int], Any]] = [lambda depth: self.junk()]
        properties: dict[str, list[tuple[Any, str]]] = {}
        required: set[str] = set()
        for branch, branch_file in self.branches(schema, file):
            options.extend(self._keyword_options(branch, branch_file))
            for key, sub in branch.get("properties", {}).items():
                properties.setdefault(key, []).append((sub, branch_file))
            required.update(k for k in branch.get("required", []) if isinstance(k, str))
        if properties:
            options.append(lambda depth: self._object(properties, depth, lambda key: self.rng.random() < 0.5))
            options.append(lambda depth: self._object(properties, depth, lambda key: True))  # the most likely to be valid
            options.append(lambda depth: self._object(properties, depth, required.__contains__))  # the least that may be
            options.append(lambda depth: {**self._object(properties, depth, lambda key: True), "unexpected": self.junk()})
        return options

    def _keyword_options(self, branch: dict, file: str) -> list[Callable[[int], Any]]:
        rng, options = self.rng, []
        if "const" in branch:
            options.append(lambda depth: branch["const"])
        if isinstance(branch.get("enum"), list):
            options.append(lambda depth: rng.choice(branch["enum"]))
        if isinstance(branch.get("pattern"), str):
            options.append(lambda depth: self.matching(branch["pattern"]))
        if "maxLength" in branch or "minLength" in branch:
            shortest, longest = branch.get("minLength", 0), branch.get("maxLength", 20)
            options.append(lambda depth: self.text(shortest, longest, "a1 é😀\n"))
        bounds = [branch[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in branch]
        if bounds:
            low = branch.get("minimum", branch.get("exclusiveMinimum", -5))
            high = branch.get("maximum", branch.get("exclusiveMaximum", 10**6))
            near = [b + d for b in bounds for d in (-1, 0, 1)] + [float(low), low - 0.5, high + 0.5, True, str(low)]
            options.append(lambda depth: rng.choice(near))
            options.append(lambda depth: rng.randint(int(low), int(high)) if low <= high else low)
        types = branch.get("type")
        for name in [types] if isinstance(types, str) else types if isinstance(types, list) else []:
            options.append(lambda depth, name=name: self.of_type(name))
        if isinstance(branch.get("items"), dict):
            fewest = branch.get("minItems", 0)
            most = branch.get("maxItems", max(fewest, 3))
            unique = branch.get("uniqueItems", False)
            options.append(lambda depth: self._array(branch["items"], file, depth, fewest, most, unique))
        if isinstance(branch.get("not"), dict):
            options.append(lambda depth: self.instance(branch["not"], file, depth + 1))
        return options

    def of_type(self, name: str) -> Any:
        rng = self.rng
        return {
            "null": lambda: None, "boolean": lambda: rng.random() < 0.5,
            "integer": lambda: rng.choice(INTEGERS), "number": lambda: rng.choice(FLOATS + INTEGERS[:6]),
            "string": lambda: self.text(0, 8), "array": lambda: [self.junk() for _ in range(rng.randint(0, 3))],
            "object": lambda: {self.text(0, 4): self.junk() for _ in range(rng.randint(0, 3))},
        }.get(name, self.junk)()

    def _object(self, properties: dict[str, list[tuple[Any, str]]], depth: int, keep: Callable[[str], bool]) -> dict:
        return {key: self.instance(*self.rng.choice(subs), depth + 1) for key, subs in properties.items() if keep(key)}

    def _array(self, items: dict, file: str, depth: int, low: int, high: int, unique: bool) -> list:
        rng = self.rng
        size = max(0, rng.choice([low - 1, low, high, high + 1, rng.randint(low, max(low, high))]))
        values = [self.instance(items, file, depth + 1) for _ in range(min(size, 8))]
        if unique and values and rng.random() < 0.3:
            values.append(values[0])  # a repeat, where uniqueItems must refuse it
        return values

    def matching(self, pattern: str) -> str:
        """A string built from the pattern's syntax tree (as Hypothesis's from_regex does), so it
        usually matches; lookaheads are ignored, a `$` may be satisfied with a trailing newline,
        and it is sometimes cut short or extended, so near misses come too."""
        text = self._from_tree(_parsed(pattern))
        roll = self.rng.random()
        if roll < 0.1:
            text = text[: self.rng.randrange(len(text) + 1)]
        elif roll < 0.2:
            text += self.rng.choice(CHARACTERS)
        elif roll < 0.25:
            text = self.text(0, 5) + text
        return text[:2000]

    def _from_tree(self, tree: Any) -> str:
        rng, out = self.rng, []
        for op, arg in tree:
            if op is sre.LITERAL:
                out.append(chr(arg))
            elif op is sre.NOT_LITERAL:
                out.append(self._choose_char((op, arg), lambda c: c != chr(arg)))
            elif op is sre.ANY:
                out.append(self._choose_char("any", lambda c: c != "\n"))
            elif op is sre.IN:
                out.append(self._in_class(arg))
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
                low, high, sub = arg
                high = low + 6 if high is sre.MAXREPEAT else high
                count = rng.choice([low, high, rng.randint(low, high)])
                out.extend(self._from_tree(sub) for _ in range(count))
            elif op is sre.SUBPATTERN:
                out.append(self._from_tree(arg[-1]))
            elif op is sre.BRANCH:
                out.append(self._from_tree(rng.choice(arg[1])))
            elif op is sre.AT and arg in (sre.AT_END, sre.AT_END_STRING) and rng.random() < 0.1:
                out.append("\n")  # `$` also matches before a final newline
            # AT (anchors), ASSERT, ASSERT_NOT, GROUPREF: nothing to emit
        return "".join(out)

    def _in_class(self, items: list) -> str:
        if items and items[0][0] is sre.NEGATE:
            return self._choose_char(items, lambda c: not any(_member(item, c) for item in items[1:]))
        op, arg = self.rng.choice(items)
        if op is sre.LITERAL:
            return chr(arg)
        if op is sre.RANGE:
            return chr(self.rng.choice([arg[0], arg[1], self.rng.randint(*arg)]))
        return self._choose_char((op, arg), lambda c: _member((op, arg), c))

    def _choose_char(self, key: Any, accept: Callable[[str], bool]) -> str:
        """One of CHARACTERS that `accept`s, the accepted ones listed once per `key`."""
        key = repr(key)
        if key not in self._classes:
            self._classes[key] = "".join(c for c in CHARACTERS if accept(c))
        chars = self._classes[key]
        return self.rng.choice(chars) if chars else ""

    # -- near a valid example --------------------------------------------------------------
    def mutant(self, seed: Any, schema: Any, file: str, depth: int = 0) -> Any:
        """A valid example with some of its values kept, dropped, replaced by an instance of
        their subschema, or mutated in turn; properties it lacks sometimes added."""
        rng = self.rng
        if depth > 4:
            return seed
        if isinstance(seed, dict):
            properties = self.properties(schema, file)
            out = {}
            for key, value in seed.items():
                sub, sub_file = properties.get(key, ({}, file))
                roll = rng.randrange(10)
                new = value if roll < 6 else DROP if roll == 6 else (
                    self.instance(sub, sub_file, depth + 1) if roll == 7 else self.mutant(value, sub, sub_file, depth + 1))
                if new is not DROP:
                    out[key] = new
            for key, (sub, sub_file) in properties.items():
                if key not in seed and rng.random() < 0.3:
                    out[key] = self.instance(sub, sub_file, depth + 1)
            return out
        if isinstance(seed, list) and seed:
            items = next((b["items"] for b, _ in self.branches(schema, file) if isinstance(b.get("items"), dict)), {})
            size = rng.choice([0, 1, len(seed), len(seed) + 1, rng.randint(0, 3)])
            return [self.mutant(rng.choice(seed), items, file, depth + 1) for _ in range(size)]
        return seed if rng.random() < 0.5 else self.instance(schema, file, depth + 1)

    # -- schema walking ----------------------------------------------------------------------
    def resolve(self, schema: dict, file: str) -> tuple[dict, str]:
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema, file
        target, _, pointer = ref.partition("#")
        file = target.removeprefix("urn:msgemu:") if target else file
        node = self.raw(file)
        for part in pointer.strip("/").split("/") if pointer.strip("/") else []:
            node = node[part]
        return self.resolve(node, file)

    def branches(self, schema: dict, file: str) -> list[tuple[dict, str]]:
        """The schema and every subschema it combines (allOf/anyOf/oneOf/if/then/else), resolved."""
        schema, file = self.resolve(schema, file)
        found = [(schema, file)]
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key, []):
                found.extend(self.branches(sub, file))
        for key in ("if", "then", "else"):
            if isinstance(schema.get(key), dict):
                found.extend(self.branches(schema[key], file))
        return found

    def properties(self, schema: dict, file: str) -> dict[str, tuple[Any, str]]:
        merged: dict[str, tuple[Any, str]] = {}
        for branch, branch_file in self.branches(schema, file):
            for key, sub in branch.get("properties", {}).items():
                merged.setdefault(key, (sub, branch_file))
        return merged


@functools.lru_cache(maxsize=None)
def _parsed(pattern: str) -> Any:
    return sre_parse.parse(pattern)


_CATEGORIES = {
    sre.CATEGORY_DIGIT: re.compile(r"\d"), sre.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    sre.CATEGORY_SPACE: re.compile(r"\s"), sre.CATEGORY_NOT_SPACE: re.compile(r"\S"),
    sre.CATEGORY_WORD: re.compile(r"\w"), sre.CATEGORY_NOT_WORD: re.compile(r"\W"),
}


def _member(item: tuple, c: str) -> bool:
    op, arg = item
    if op is sre.LITERAL:
        return c == chr(arg)
    if op is sre.RANGE:
        return arg[0] <= ord(c) <= arg[1]
    if op is sre.CATEGORY:
        return bool(_CATEGORIES[arg].match(c))
    return False

"""Seeded garbage for the fuzz tests: JSON values of every type and depth, strings with the
characters parsers trip on, raw bytes, form fields.

Plain `random.Random` rather than Hypothesis: the fuzz tests spend their time in the emulator,
not in a data-generation engine (Hypothesis's took most of their CPU), and each case is a
function of the test's seed and its index, so a failure prints the request and replays exactly.
The values lean to the edges the way Hypothesis's do: empty and boundary sizes, integers at
the 2**31/2**53/2**63 limits and beyond, inf/-inf/-0.0, NUL, RTL marks, noncharacters and
emoji (no lone surrogates: a form or a query cannot carry one).
"""
from __future__ import annotations

import json
import random
from typing import Any

CHARACTERS = ("abcxyzABCXYZ0123456789 .,_-+/:@#&'\"?=%*\\()[]{}!~|<>;\n\t\r\x00\x0b\x1f\x7f\x80\xa0é"
              "ßЖжКод€\u200b\u200f\u2028\ufeff\uffff😀\U0010ffff")
INTEGERS = (0, 1, -1, 2, 9, 10, 127, 128, 255, 256, 1000, 2**31 - 1, 2**31, -(2**31) - 1, 2**32, 2**53, 2**53 + 1,
            2**63 - 1, 2**63, -(2**63), 2**64, 2**70, -(2**70), 380971234567, 10**15, 10**16)
ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
DIGITS = "0123456789"
FLOATS = (0.0, -0.0, 0.5, -1.5, 1.0, 1e-7, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e16,
          float("inf"), float("-inf"))


class Garbage:
    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def size(self, most: int) -> int:
        """0 and `most` often, small sizes more than large ones."""
        roll = self.rng.random()
        if roll < 0.2:
            return 0
        if roll < 0.4:
            return most
        return self.rng.randint(0, most) if roll < 0.8 else self.rng.randint(1, min(most, 4))

    def text(self, most: int, alphabet: str | None = None) -> str:
        """Any characters, or (as often as Hypothesis does) only ASCII, or only digits: the
        strings that get past a first check."""
        alphabet = alphabet or self.rng.choice([CHARACTERS, CHARACTERS, ASCII, DIGITS])
        return "".join(self.rng.choices(alphabet, k=self.size(most)))

    def scalar(self) -> Any:
        rng = self.rng
        kind = rng.randrange(9)
        if kind == 0:
            return None
        if kind == 1:
            return rng.random() < 0.5
        if kind == 2:
            return rng.choice(INTEGERS)
        if kind == 3:
            return rng.randint(-(2**70), 2**70) if rng.random() < 0.3 else rng.randint(-1000, 1000)
        if kind == 4:
            return rng.choice(FLOATS) if rng.random() < 0.6 else rng.uniform(-1e9, 1e9)
        return self.text(30)

    def json_value(self, leaves: int = 25) -> Any:
        """A JSON value of up to `leaves` scalars: lists (5 items at most) and objects (6 keys)
        nested as the budget allows."""
        budget = [leaves]

        def value(depth: int) -> Any:
            roll = self.rng.random()
            if budget[0] <= 1 or roll < 0.5 or depth > 6:
                budget[0] -= 1
                return self.scalar()
            if roll < 0.75:
                return [value(depth + 1) for _ in range(self.size(5)) if budget[0] > 0]
            return {self.text(12): value(depth + 1) for _ in range(self.size(6)) if budget[0] > 0}

        return value(0)

    def json_object(self, keys: list[str], most: int = 8, leaves: int = 25) -> dict:
        """An object whose keys are mostly ones the providers know, so it reaches deep validation."""
        rng = self.rng
        return {rng.choice(keys) if rng.random() < 0.7 else self.text(10): self.json_value(leaves) for _ in range(self.size(most))}

    def binary(self, most: int) -> bytes:
        return self.rng.randbytes(self.size(most))

    def body(self, keys: list[str], kind: int | None = None) -> bytes:
        """What a confused client might POST: (0) JSON (with inf as `Infinity`), (1) an object with
        known fields, or (2) raw bytes; `kind` picks one, else any."""
        roll = self.rng.randrange(3) if kind is None else kind
        if roll == 0:
            return json.dumps(self.json_value()).encode()
        if roll == 1:
            return json.dumps(self.json_object(keys)).encode()
        return self.binary(200)

    def form(self, keys: list[str], most: int = 8) -> dict[str, str]:
        rng = self.rng
        return {rng.choice(keys) if rng.random() < 0.7 else self.text(8): self.text(20) for _ in range(self.size(most))}

    def text_or(self, values: list[str], most: int = 20) -> str:
        """One of `values` (the ones that mean something), else any text."""
        return self.rng.choice(values) if self.rng.random() < 0.6 else self.text(most)

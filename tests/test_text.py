"""SMS segment counting (core/text.py): the figures every provider prices a send by."""
from __future__ import annotations

import random

import pytest

from emulator.core.text import GSM7_BASIC, GSM7_EXTENDED, Segments, count_parts, count_segments


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", Segments("gsm7", 0, 1)),
        ("a" * 160, Segments("gsm7", 160, 1)),
        ("a" * 161, Segments("gsm7", 161, 2)),
        ("a" * 306, Segments("gsm7", 306, 2)),
        ("a" * 307, Segments("gsm7", 307, 3)),
        ("€" * 80, Segments("gsm7", 160, 1)),  # an extension character takes two septets
        ("€" * 81, Segments("gsm7", 162, 2)),
        ("ж" * 70, Segments("ucs2", 70, 1)),
        ("ж" * 71, Segments("ucs2", 71, 2)),
        ("😀" * 35, Segments("ucs2", 70, 1)),  # outside the BMP: two UTF-16 code units each
        ("😀" * 36, Segments("ucs2", 72, 2)),
    ],
)
def test_segments_of_known_texts(text, expected):
    assert count_segments(text) == expected
    assert count_parts(text) == expected.parts


def test_count_parts_is_count_segments_parts():
    rng = random.Random(15)
    alphabet = sorted(GSM7_BASIC) + sorted(GSM7_EXTENDED) + list("жё😀’`")
    ascii_only = [chr(c) for c in range(128)]  # GSM-7's, its extension's, and others (` ` sends as UCS-2)
    for _ in range(3000):
        for characters in (alphabet, ascii_only):
            text = "".join(rng.choice(characters) for _ in range(rng.choice([0, 1, 35, 36, 50, 69, 70, 71, 80, 81, 153, 160, 161, 400])))
            assert count_parts(text) == count_segments(text).parts, text

"""SMS text encoding and segment counting (3GPP TS 23.038), the base of every price."""
from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the extension table: each takes two septets (escape + char).
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67
SURELY_ONE_PART = UCS2_SINGLE // 2  # characters: each is at most 2 UTF-16 units or 2 septets


@dataclass(frozen=True)
class Segments:
    encoding: str  # "gsm7" | "ucs2"
    length: int  # septets for GSM-7, UTF-16 code units for UCS-2
    parts: int


GSM7_ALL = GSM7_BASIC | GSM7_EXTENDED


def is_gsm7(text: str) -> bool:
    return GSM7_ALL.issuperset(text)  # set operations run in C: a send counts its text's parts


def count_segments(text: str) -> Segments:
    """How many SMS parts a text needs, and in which encoding."""
    encoding, length = _measure(text)
    return Segments(encoding, length, _parts(encoding, length))


def count_parts(text: str) -> int:
    """count_segments(text).parts, without building the Segments (what every send prices by)."""
    length = len(text)
    if length <= SURELY_ONE_PART or (length <= UCS2_SINGLE and text.isascii()):
        return 1  # at most 70 UTF-16 units (or ASCII: 70 units, or at most 140 septets)
    return _parts(*_measure(text))


def _measure(text: str) -> tuple[str, int]:
    if is_gsm7(text):
        length = len(text)
        if not GSM7_BASIC.issuperset(text):  # each extension character takes two septets
            length += sum(map(text.count, GSM7_EXTENDED))
        return "gsm7", length
    return "ucs2", len(text.encode("utf-16-le")) // 2


def _parts(encoding: str, length: int) -> int:
    if length == 0:
        return 1
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding == "gsm7" else (UCS2_SINGLE, UCS2_MULTI)
    return 1 if length <= single else -(-length // multi)

"""short_message octets <-> text: data_coding (SMPP 3.4 5.2.19), GSM 03.38 default alphabet
(one septet per octet, as SMPP carries it), the user data header of concatenated parts
(3GPP TS 23.040 9.2.3.24) and the sar_* optional parameters."""
from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 default alphabet, by septet value; 0x1B escapes to the extension table
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€"}
_GSM_ENCODE = {ch: bytes([i]) for i, ch in enumerate(GSM_BASIC) if ch != "\x1b"}
_GSM_ENCODE.update({ch: bytes([0x1B, code]) for code, ch in GSM_EXTENDED.items()})

UCS2 = 0x08
GSM = 0x00
BINARY = frozenset({0x02, 0x04})
CODINGS = {0x01: "ascii", 0x03: "latin-1", 0x06: "iso8859-5", 0x07: "iso8859-8", 0x08: "utf-16-be"}

UDHI = 0x40  # esm_class bit: short_message starts with a user data header


def gsm_decode(data: bytes) -> str:
    out = []
    escaped = False
    for octet in data:
        septet = octet & 0x7F
        if escaped:
            out.append(GSM_EXTENDED.get(septet, " "))
            escaped = False
        elif septet == 0x1B:
            escaped = True
        else:
            out.append(GSM_BASIC[septet])
    return "".join(out)


def gsm_encode(text: str) -> bytes | None:
    """GSM 03.38 septets, one per octet; None when a character has no GSM form."""
    out = bytearray()
    for ch in text:
        code = _GSM_ENCODE.get(ch)
        if code is None:
            return None
        out += code
    return bytes(out)


def decode_text(data: bytes, data_coding: int, overrides: dict[int, str] | None = None) -> str:
    """What a phone would show for these octets; binary payloads are shown as hex.
    `overrides` maps a data_coding to a Python codec where the provider reads it its own way."""
    if overrides and data_coding in overrides:
        codec = overrides[data_coding]
        return gsm_decode(data) if codec == "gsm" else data.decode(codec, "replace")
    if data_coding in BINARY or data_coding & 0xF4 == 0xF4:
        return data.hex()
    if data_coding == GSM or data_coding & 0xF0 == 0xF0:
        return gsm_decode(data)
    codec = CODINGS.get(data_coding)
    if codec == "utf-16-be" and len(data) % 2:
        data = data[:-1]
    if codec:
        return data.decode(codec, "replace")
    return data.decode("latin-1")


def encode_text(text: str) -> tuple[bytes, int]:
    """(octets, data_coding) for a text we send: GSM 03.38 when it fits, else UCS-2."""
    gsm = gsm_encode(text)
    if gsm is not None:
        return gsm, GSM
    return text.encode("utf-16-be"), UCS2


@dataclass(frozen=True)
class Part:
    """One segment of a concatenated message, however its header was carried."""

    ref: int
    total: int
    seq: int


def split_udh(short_message: bytes) -> tuple[Part | None, bytes]:
    """(concatenation info from the UDH, the user data after it). Raises ValueError when the
    header is longer than the message."""
    if not short_message:
        raise ValueError("UDHI set on an empty message")
    length = short_message[0]
    if 1 + length > len(short_message):
        raise ValueError("user data header longer than the message")
    header, body = short_message[1 : 1 + length], short_message[1 + length :]
    part = None
    i = 0
    while i + 2 <= len(header):
        iei, size = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + size]
        if len(value) < size:
            raise ValueError("truncated information element")
        if iei == 0x00 and size == 3:
            part = Part(value[0], value[1], value[2])
        elif iei == 0x08 and size == 4:
            part = Part(int.from_bytes(value[:2], "big"), value[2], value[3])
        i += 2 + size
    return part, body

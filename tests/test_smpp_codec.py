"""Generated tests of the SMPP codec (emulator/smpp/codec.py): every PDU round-trips, and no
byte string makes decode fail other than with Malformed (which the session turns into
generic_nack); a live session answers random garbage without dying.

The cases come from a `random.Random` seeded per test (tests/garbage.py for the bytes and
texts): each case is printed when it fails and replays exactly.
"""
from __future__ import annotations

import socket
import struct

from emulator.smpp import codec
from emulator.smpp.text import decode_text, encode_text, gsm_decode, gsm_encode, split_udh
from emulator.smpp.times import BadTime, parse

from .garbage import Garbage

CSTRING_CHARACTERS = "".join(chr(i) for i in range(1, 256))
GSM_ALPHABET = "@£$¥èéùìòÇ\nØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCXYZÄÖÑÜ§¿abcxyzäöñüà^{}\\[~]|€"


def cstring(garbage: Garbage) -> str:
    return garbage.text(30, CSTRING_CHARACTERS)


def octet(garbage: Garbage) -> int:
    return garbage.rng.choice([0, 1, 255, garbage.rng.randrange(256)])


def dest(garbage: Garbage) -> dict:
    if garbage.rng.random() < 0.5:
        return {"ton": octet(garbage), "npi": octet(garbage), "addr": cstring(garbage)}
    return {"dl_name": cstring(garbage)}


def unsuccess(garbage: Garbage) -> dict:
    error = garbage.rng.choice([0, 2**32 - 1, garbage.rng.randrange(2**32)])
    return {"ton": octet(garbage), "npi": octet(garbage), "addr": cstring(garbage), "error": error}


KINDS = {
    "c": cstring, "u8": octet, "sm": lambda garbage: garbage.binary(254),
    "dests": lambda garbage: [dest(garbage) for _ in range(garbage.size(5))],
    "unsuccess": lambda garbage: [unsuccess(garbage) for _ in range(garbage.size(5))],
}


def pdu(garbage: Garbage) -> codec.Pdu:
    """Any command with parameters of the right kinds; TLVs where the command takes them."""
    rng = garbage.rng
    command_id = rng.choice(sorted(codec.BODIES))
    params = {name: KINDS[kind](garbage) for name, kind in codec.BODIES[command_id]}
    status = 0 if not command_id & codec.RESP else rng.choice([0, 0, 0x58])
    if command_id == codec.GENERIC_NACK:
        status = rng.randrange(256)
    pdu = codec.Pdu(command_id, rng.choice([0, 1, 0x7FFFFFFF, rng.randrange(0x80000000)]), status, params)
    if command_id in codec.WITH_TLVS and not (status and command_id & codec.RESP):
        pdu.tlvs = {rng.choice([1, 0xFFFF, rng.randint(1, 0xFFFF)]): garbage.binary(40) for _ in range(garbage.size(4))}
    if status and command_id & codec.RESP and command_id != codec.GENERIC_NACK:
        pdu.params = {}
    return pdu


def test_every_pdu_round_trips():
    garbage = Garbage("pdu round trip")
    for number in range(600):
        sent = pdu(garbage)
        decoded = codec.decode(codec.encode(sent))
        case = (number, sent, vars(decoded))
        assert (decoded.command_id, decoded.sequence, decoded.status) == (sent.command_id, sent.sequence, sent.status), case
        assert decoded.params == sent.params, case
        assert decoded.tlvs == sent.tlvs, case


def test_decode_of_any_bytes_is_a_pdu_or_malformed():
    """Random bytes, and random bodies behind a header that has the right length and a real
    command id (so decoding gets past the header)."""
    garbage = Garbage("decode any bytes")
    for number in range(1500):
        data = garbage.binary(300)
        if garbage.rng.random() < 0.5:
            command_id = garbage.rng.choice(sorted(codec.BODIES))
            data = struct.pack(">IIII", 16 + len(data), command_id, garbage.rng.choice([0, 0x58]), number) + data
        try:
            codec.decode(data)
        except codec.Malformed as bad:
            assert bad.status in (codec.STATUS["ESME_RINVCMDLEN"], codec.STATUS["ESME_RINVCMDID"]), (number, data)


def test_truncating_or_corrupting_a_pdu_never_crashes_decode():
    garbage = Garbage("truncate or corrupt")
    for number in range(600):
        raw = bytearray(codec.encode(pdu(garbage)))
        raw = raw[: garbage.rng.randint(codec.HEADER_SIZE, len(raw))]
        if len(raw) > codec.HEADER_SIZE:
            raw[garbage.rng.randint(codec.HEADER_SIZE, len(raw) - 1)] = octet(garbage)
        raw[0:4] = struct.pack(">I", len(raw))
        try:
            codec.decode(bytes(raw))
        except codec.Malformed:
            pass
        except Exception as error:  # noqa: BLE001 - name the case that crashed decode
            raise AssertionError((number, bytes(raw))) from error


def test_gsm_text_round_trips():
    garbage = Garbage("gsm text")
    for _ in range(500):
        text = garbage.text(60, GSM_ALPHABET)
        assert gsm_decode(gsm_encode(text)) == text, text
        raw, coding = encode_text(text)
        assert coding == 0 and decode_text(raw, coding) == text, text


def any_text(garbage: Garbage, most: int) -> str:
    """Characters from every plane (no lone surrogates: they are not text a client can send)."""
    rng = garbage.rng

    def character() -> str:
        roll = rng.random()
        if roll < 0.5:
            return rng.choice(GSM_ALPHABET)
        code = rng.randrange(0x80, 0x10000) if roll < 0.8 else rng.randrange(0x10000, 0x110000)
        return "?" if 0xD800 <= code <= 0xDFFF else chr(code)

    return "".join(character() for _ in range(garbage.size(most)))


def test_any_text_round_trips_through_the_coding_we_pick():
    garbage = Garbage("any text")
    for _ in range(500):
        text = any_text(garbage, 100)
        raw, coding = encode_text(text)
        assert coding in (0, 8) and decode_text(raw, coding) == text, text


def test_decode_text_and_udh_never_crash():
    """Random bytes in every data_coding, and bytes shaped like a user data header (length,
    then concatenation elements, 8- and 16-bit, whole or cut short)."""
    garbage = Garbage("decode text and udh")
    for _ in range(1000):
        # the codings with a meaning (GSM, Latin-1, binary, UCS-2, the 0xF_ classes) and any other
        data, coding = garbage.binary(50), garbage.rng.choice([0, 1, 2, 3, 4, 8, 0xF0, 0xF4, garbage.rng.randrange(256)])
        if garbage.rng.random() < 0.3:
            element = garbage.rng.choice([b"\x00\x03", b"\x08\x04", bytes([garbage.rng.randrange(256), garbage.rng.randrange(6)])])
            header = element + garbage.binary(5)
            data = bytes([garbage.rng.choice([len(header), garbage.rng.randrange(256)])]) + header + data
        try:
            decode_text(data, coding)
        except Exception as error:  # noqa: BLE001 - name the case that crashed
            raise AssertionError(("decode_text", data, coding)) from error
        try:
            split_udh(data)
        except ValueError:
            pass


def test_smpp_times_parse_or_refuse():
    """Any text, and 16-character strings of digits with a last `+`, `-`, `R` or other."""
    garbage = Garbage("smpp times")
    for _ in range(1000):
        if garbage.rng.random() < 0.5:
            value = garbage.text(20)
        else:
            value = "".join(garbage.rng.choice("0123456789") for _ in range(15)) + garbage.rng.choice("+-R0 ")
        try:
            parse(value, 1_700_000_000.0)
        except BadTime:
            pass
        except Exception as error:  # noqa: BLE001 - name the value that crashed parse
            raise AssertionError(value) from error


def test_relative_and_absolute_times():
    assert parse("000000010000000R", 1000.0) == 1000.0 + 3600
    assert parse("250101120000000+", 0) == parse("250101150000012+", 0)  # 12 quarters = UTC+3
    assert parse("", 0) is None


def test_a_live_session_answers_garbage_and_keeps_serving(server):
    """Random PDUs with valid lengths: each gets an answer (a response or generic_nack), and
    the session still answers enquire_link afterwards."""
    garbage = Garbage("live session")
    for _ in range(12):
        chunks = [bytes([garbage.rng.randrange(256)]) + garbage.binary(119) for _ in range(garbage.rng.randint(1, 8))]
        _answers_garbage_and_keeps_serving(server, chunks)


def _answers_garbage_and_keeps_serving(server, chunks: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", server.smpp_port), timeout=5) as sock:
        for seq, chunk in enumerate(chunks, start=1):
            body = chunk[12:] if len(chunk) > 12 else b""
            command_id = int.from_bytes(chunk[:4].ljust(4, b"\0"), "big") & 0x800001FF
            if command_id in (codec.UNBIND, codec.UNBIND | codec.RESP):  # either ends the session, as it should
                command_id = codec.ENQUIRE_LINK
            sock.sendall(struct.pack(">IIII", 16 + len(body), command_id, 0, seq) + body)
            if command_id & codec.RESP:  # a response (even generic_nack) is not answered
                answer = _recv(sock)
                if answer is None:
                    continue
            else:  # a request is: however loaded the machine, its answer comes
                answer = _recv(sock, wait=5)
            assert answer is not None and answer.sequence in (seq, 0), chunks
        sock.sendall(codec.encode(codec.Pdu(codec.ENQUIRE_LINK, 999)))
        while True:
            answer = _recv(sock, wait=5)
            assert answer is not None, chunks
            if answer.sequence == 999:
                assert answer.command_id == codec.ENQUIRE_LINK | codec.RESP
                break


def _recv(sock: socket.socket, wait: float = 0.1) -> codec.Pdu | None:
    """The next PDU, or None when nothing comes within `wait` (responses are not answered)."""
    sock.settimeout(wait)
    try:
        head = sock.recv(4, socket.MSG_WAITALL)
    except socket.timeout:
        return None
    finally:
        sock.settimeout(5)
    if len(head) < 4:
        raise ConnectionError("closed")
    rest = b""
    need = codec.peek_length(head) - 4
    while len(rest) < need:
        rest += sock.recv(need - len(rest))
    return codec.decode(head + rest)


import pytest  # noqa: E402

from tests.test_smpp import FrontDoorServer, shared_server  # noqa: E402


@pytest.fixture(scope="module")
def server() -> FrontDoorServer:
    return shared_server()

"""Property-based tests of the SMPP codec (emulator/smpp/codec.py): every PDU round-trips,
and no byte string makes decode fail other than with Malformed (which the session turns into
generic_nack); a live session answers random garbage without dying."""
from __future__ import annotations

import socket
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.smpp import codec
from emulator.smpp.text import decode_text, encode_text, gsm_decode, gsm_encode, split_udh
from emulator.smpp.times import BadTime, parse

cstrings = st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=30)
octets = st.integers(0, 255)
sm = st.binary(max_size=254)
tlvs = st.dictionaries(st.integers(0x0001, 0xFFFF), st.binary(max_size=40), max_size=4)
dest = st.one_of(
    st.fixed_dictionaries({"ton": octets, "npi": octets, "addr": cstrings}),
    st.fixed_dictionaries({"dl_name": cstrings}),
)
unsuccess = st.fixed_dictionaries({"ton": octets, "npi": octets, "addr": cstrings, "error": st.integers(0, 2**32 - 1)})
KINDS = {"c": cstrings, "u8": octets, "sm": sm, "dests": st.lists(dest, max_size=5), "unsuccess": st.lists(unsuccess, max_size=5)}


@st.composite
def pdus(draw) -> codec.Pdu:
    command_id = draw(st.sampled_from(sorted(codec.BODIES)))
    params = {name: draw(KINDS[kind]) for name, kind in codec.BODIES[command_id]}
    status = 0 if not command_id & codec.RESP else draw(st.sampled_from([0, 0, 0x58]))
    if command_id == codec.GENERIC_NACK:
        status = draw(st.integers(0, 0xFF))
    pdu = codec.Pdu(command_id, draw(st.integers(0, 0x7FFFFFFF)), status, params)
    if command_id in codec.WITH_TLVS and not (status and command_id & codec.RESP):
        pdu.tlvs = draw(tlvs)
    if status and command_id & codec.RESP and command_id != codec.GENERIC_NACK:
        pdu.params = {}
    return pdu


@given(pdus())
@settings(max_examples=120)
def test_every_pdu_round_trips(pdu):
    decoded = codec.decode(codec.encode(pdu))
    assert (decoded.command_id, decoded.sequence, decoded.status) == (pdu.command_id, pdu.sequence, pdu.status)
    assert decoded.params == pdu.params
    assert decoded.tlvs == pdu.tlvs


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_decode_of_any_bytes_is_a_pdu_or_malformed(data):
    try:
        codec.decode(data)
    except codec.Malformed as bad:
        assert bad.status in (codec.STATUS["ESME_RINVCMDLEN"], codec.STATUS["ESME_RINVCMDID"])


@given(pdus(), st.data())
@settings(max_examples=150)
def test_truncating_or_corrupting_a_pdu_never_crashes_decode(pdu, data):
    raw = bytearray(codec.encode(pdu))
    cut = data.draw(st.integers(codec.HEADER_SIZE, len(raw)))
    raw = raw[:cut]
    if len(raw) > codec.HEADER_SIZE:
        at = data.draw(st.integers(codec.HEADER_SIZE, len(raw) - 1))
        raw[at] = data.draw(octets)
    raw[0:4] = struct.pack(">I", len(raw))
    try:
        codec.decode(bytes(raw))
    except codec.Malformed:
        pass


@given(st.text(alphabet="@£$¥èéùìòÇ\nØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCXYZÄÖÑÜ§¿abcxyzäöñüà^{}\\[~]|€"))
def test_gsm_text_round_trips(text):
    assert gsm_decode(gsm_encode(text)) == text
    raw, coding = encode_text(text)
    assert coding == 0 and decode_text(raw, coding) == text


@given(st.text(max_size=100))
def test_any_text_round_trips_through_the_coding_we_pick(text):
    raw, coding = encode_text(text)
    assert coding in (0, 8) and decode_text(raw, coding) == text


@given(st.binary(max_size=50), st.integers(0, 255))
def test_decode_text_and_udh_never_crash(data, coding):
    decode_text(data, coding)
    try:
        split_udh(data)
    except ValueError:
        pass


@given(st.text(max_size=20))
def test_smpp_times_parse_or_refuse(value):
    try:
        parse(value, 1_700_000_000.0)
    except BadTime:
        pass


def test_relative_and_absolute_times():
    assert parse("000000010000000R", 1000.0) == 1000.0 + 3600
    assert parse("250101120000000+", 0) == parse("250101150000012+", 0)  # 12 quarters = UTC+3
    assert parse("", 0) is None


@given(st.lists(st.binary(min_size=1, max_size=120), min_size=1, max_size=8))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_live_session_answers_garbage_and_keeps_serving(server, chunks):
    """Random PDUs with valid lengths: each gets an answer (a response or generic_nack), and
    the session still answers enquire_link afterwards."""
    with socket.create_connection(("127.0.0.1", server.smpp_port), timeout=5) as sock:
        for seq, chunk in enumerate(chunks, start=1):
            body = chunk[12:] if len(chunk) > 12 else b""
            command_id = int.from_bytes(chunk[:4].ljust(4, b"\0"), "big") & 0x800001FF
            if command_id in (codec.UNBIND, codec.UNBIND | codec.RESP):  # either ends the session, as it should
                command_id = codec.ENQUIRE_LINK
            sock.sendall(struct.pack(">IIII", 16 + len(body), command_id, 0, seq) + body)
            answer = _recv(sock)
            if command_id & codec.RESP and answer is None:  # a response (even generic_nack) is not answered
                continue
            assert answer is not None and answer.sequence in (seq, 0)
        sock.sendall(codec.encode(codec.Pdu(codec.ENQUIRE_LINK, 999)))
        while True:
            answer = _recv(sock)
            assert answer is not None
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

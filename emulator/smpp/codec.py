"""SMPP 3.4 PDUs: bytes <-> Pdu, written from the specification (SMPP v3.4 Issue 1.2, ch. 3-5).

Why our own codec: PyPI `aiosmpplib` is an ESME (client) only; `smpp.pdu` is Python 2 /
Twisted; `smpp34` is a Rust server with its own timers and window, which would take the
PDU-level control an emulator needs (scenario faults that drop or delay one response, the
manual clock) away from us. This module is pure and synchronous: the session does the I/O.

`decode` raises `Malformed` (never anything else) for bytes that are not a well-formed PDU;
the session answers those with generic_nack. C-octet strings are kept as `str` (latin-1, so
any byte round-trips); their spec maxima are not enforced on input, as most SMSCs accept a
longer password or system_id, but a string must end with its NUL inside the PDU.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

HEADER = struct.Struct(">IIII")
HEADER_SIZE = 16
MAX_PDU_SIZE = 70_000  # 64 KiB message_payload + fields; anything larger is refused unread

# -- command ids (5.1.2) -------------------------------------------------------------------------
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
QUERY_SM = 0x00000003
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
REPLACE_SM = 0x00000007
CANCEL_SM = 0x00000008
BIND_TRANSCEIVER = 0x00000009
OUTBIND = 0x0000000B
ENQUIRE_LINK = 0x00000015
SUBMIT_MULTI = 0x00000021
ALERT_NOTIFICATION = 0x00000102
DATA_SM = 0x00000103
RESP = 0x80000000

COMMAND_NAMES = {
    GENERIC_NACK: "generic_nack",
    BIND_RECEIVER: "bind_receiver",
    BIND_TRANSMITTER: "bind_transmitter",
    QUERY_SM: "query_sm",
    SUBMIT_SM: "submit_sm",
    DELIVER_SM: "deliver_sm",
    UNBIND: "unbind",
    REPLACE_SM: "replace_sm",
    CANCEL_SM: "cancel_sm",
    BIND_TRANSCEIVER: "bind_transceiver",
    OUTBIND: "outbind",
    ENQUIRE_LINK: "enquire_link",
    SUBMIT_MULTI: "submit_multi",
    ALERT_NOTIFICATION: "alert_notification",
    DATA_SM: "data_sm",
}
for _cid, _name in list(COMMAND_NAMES.items()):
    if _cid != GENERIC_NACK:
        COMMAND_NAMES[_cid | RESP] = _name + "_resp"

# -- command_status (5.1.3) ---------------------------------------------------------------------
STATUS = {
    "ESME_ROK": 0x00,
    "ESME_RINVMSGLEN": 0x01,
    "ESME_RINVCMDLEN": 0x02,
    "ESME_RINVCMDID": 0x03,
    "ESME_RINVBNDSTS": 0x04,
    "ESME_RALYBND": 0x05,
    "ESME_RINVPRTFLG": 0x06,
    "ESME_RINVREGDLVFLG": 0x07,
    "ESME_RSYSERR": 0x08,
    "ESME_RINVSRCADR": 0x0A,
    "ESME_RINVDSTADR": 0x0B,
    "ESME_RINVMSGID": 0x0C,
    "ESME_RBINDFAIL": 0x0D,
    "ESME_RINVPASWD": 0x0E,
    "ESME_RINVSYSID": 0x0F,
    "ESME_RCANCELFAIL": 0x11,
    "ESME_RREPLACEFAIL": 0x13,
    "ESME_RMSGQFUL": 0x14,
    "ESME_RINVSERTYP": 0x15,
    "ESME_RINVNUMDESTS": 0x33,
    "ESME_RINVDLNAME": 0x34,
    "ESME_RINVDESTFLAG": 0x40,
    "ESME_RINVSUBREP": 0x42,
    "ESME_RINVESMCLASS": 0x43,
    "ESME_RCNTSUBDL": 0x44,
    "ESME_RSUBMITFAIL": 0x45,
    "ESME_RINVSRCTON": 0x48,
    "ESME_RINVSRCNPI": 0x49,
    "ESME_RINVDSTTON": 0x50,
    "ESME_RINVDSTNPI": 0x51,
    "ESME_RINVSYSTYP": 0x53,
    "ESME_RINVREPFLAG": 0x54,
    "ESME_RINVNUMMSGS": 0x55,
    "ESME_RTHROTTLED": 0x58,
    "ESME_RINVSCHED": 0x61,
    "ESME_RINVEXPIRY": 0x62,
    "ESME_RINVDFTMSGID": 0x63,
    "ESME_RX_T_APPN": 0x64,
    "ESME_RX_P_APPN": 0x65,
    "ESME_RX_R_APPN": 0x66,
    "ESME_RQUERYFAIL": 0x67,
    "ESME_RINVOPTPARSTREAM": 0xC0,
    "ESME_ROPTPARNOTALLWD": 0xC1,
    "ESME_RINVPARLEN": 0xC2,
    "ESME_RMISSINGOPTPARAM": 0xC3,
    "ESME_RINVOPTPARAMVAL": 0xC4,
    "ESME_RDELIVERYFAILURE": 0xFE,
    "ESME_RUNKNOWNERR": 0xFF,
}
STATUS_NAMES = {code: name for name, code in STATUS.items()}

# -- optional parameters (5.3.2) ------------------------------------------------------------------
TLV = {
    "dest_addr_subunit": 0x0005,
    "source_port": 0x020A,
    "destination_port": 0x020B,
    "sar_msg_ref_num": 0x020C,
    "sar_total_segments": 0x020E,
    "sar_segment_seqnum": 0x020F,
    "sc_interface_version": 0x0210,
    "user_message_reference": 0x0204,
    "receipted_message_id": 0x001E,
    "network_error_code": 0x0423,
    "message_payload": 0x0424,
    "delivery_failure_reason": 0x0425,
    "message_state": 0x0427,
    "payload_type": 0x0019,
    "additional_status_info_text": 0x001D,
}

# -- bodies (chapter 4): (name, kind) in wire order ------------------------------------------------
# kinds: "c" C-octet string, "u8" one octet, "sm" sm_length + short_message octets,
# "dests" submit_multi destinations, "unsuccess" submit_multi_resp failed destinations.
_ADDR_SRC = [("source_addr_ton", "u8"), ("source_addr_npi", "u8"), ("source_addr", "c")]
_ADDR_DST = [("dest_addr_ton", "u8"), ("dest_addr_npi", "u8"), ("destination_addr", "c")]
_MESSAGE = [
    ("esm_class", "u8"),
    ("protocol_id", "u8"),
    ("priority_flag", "u8"),
    ("schedule_delivery_time", "c"),
    ("validity_period", "c"),
    ("registered_delivery", "u8"),
    ("replace_if_present_flag", "u8"),
    ("data_coding", "u8"),
    ("sm_default_msg_id", "u8"),
    ("short_message", "sm"),
]
_BIND = [
    ("system_id", "c"),
    ("password", "c"),
    ("system_type", "c"),
    ("interface_version", "u8"),
    ("addr_ton", "u8"),
    ("addr_npi", "u8"),
    ("address_range", "c"),
]
BODIES: dict[int, list[tuple[str, str]]] = {
    GENERIC_NACK: [],
    BIND_RECEIVER: _BIND,
    BIND_TRANSMITTER: _BIND,
    BIND_TRANSCEIVER: _BIND,
    BIND_RECEIVER | RESP: [("system_id", "c")],
    BIND_TRANSMITTER | RESP: [("system_id", "c")],
    BIND_TRANSCEIVER | RESP: [("system_id", "c")],
    OUTBIND: [("system_id", "c"), ("password", "c")],
    UNBIND: [],
    UNBIND | RESP: [],
    ENQUIRE_LINK: [],
    ENQUIRE_LINK | RESP: [],
    SUBMIT_SM: [("service_type", "c"), *_ADDR_SRC, *_ADDR_DST, *_MESSAGE],
    SUBMIT_SM | RESP: [("message_id", "c")],
    DELIVER_SM: [("service_type", "c"), *_ADDR_SRC, *_ADDR_DST, *_MESSAGE],
    DELIVER_SM | RESP: [("message_id", "c")],
    SUBMIT_MULTI: [("service_type", "c"), *_ADDR_SRC, ("dest_addresses", "dests"), *_MESSAGE],
    SUBMIT_MULTI | RESP: [("message_id", "c"), ("unsuccess_sme", "unsuccess")],
    QUERY_SM: [("message_id", "c"), *_ADDR_SRC],
    QUERY_SM | RESP: [("message_id", "c"), ("final_date", "c"), ("message_state", "u8"), ("error_code", "u8")],
    CANCEL_SM: [("service_type", "c"), ("message_id", "c"), *_ADDR_SRC, *_ADDR_DST],
    CANCEL_SM | RESP: [],
    REPLACE_SM: [
        ("message_id", "c"),
        *_ADDR_SRC,
        ("schedule_delivery_time", "c"),
        ("validity_period", "c"),
        ("registered_delivery", "u8"),
        ("sm_default_msg_id", "u8"),
        ("short_message", "sm"),
    ],
    REPLACE_SM | RESP: [],
    DATA_SM: [
        ("service_type", "c"),
        *_ADDR_SRC,
        *_ADDR_DST,
        ("esm_class", "u8"),
        ("registered_delivery", "u8"),
        ("data_coding", "u8"),
    ],
    DATA_SM | RESP: [("message_id", "c")],
    ALERT_NOTIFICATION: [*_ADDR_SRC, ("esme_addr_ton", "u8"), ("esme_addr_npi", "u8"), ("esme_addr", "c")],
}
# PDUs whose body may end with optional parameters
WITH_TLVS = frozenset(
    {
        SUBMIT_SM,
        DELIVER_SM,
        SUBMIT_MULTI,
        DATA_SM,
        DATA_SM | RESP,
        ALERT_NOTIFICATION,
        BIND_RECEIVER | RESP,
        BIND_TRANSMITTER | RESP,
        BIND_TRANSCEIVER | RESP,
    }
)


class Malformed(ValueError):
    """Bytes that are not a well-formed PDU; `status` is the command_status to answer with."""

    def __init__(self, reason: str, status: int = STATUS["ESME_RINVCMDLEN"], command_id: int = 0, sequence: int = 0) -> None:
        super().__init__(reason)
        self.status = status
        self.command_id = command_id
        self.sequence = sequence


@dataclass
class Pdu:
    command_id: int
    sequence: int = 0
    status: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command_id, f"0x{self.command_id:08x}")

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESP)

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def tlv_int(self, name: str) -> int | None:
        raw = self.tlvs.get(TLV[name])
        return int.from_bytes(raw, "big") if raw else None

    def tlv_bytes(self, name: str) -> bytes | None:
        return self.tlvs.get(TLV[name])


def default_value(kind: str) -> Any:
    return {"c": "", "u8": 0, "sm": b"", "dests": [], "unsuccess": []}[kind]


# -- encoding ------------------------------------------------------------------------------------
def _cstring(value: str) -> bytes:
    raw = value.encode("latin-1")
    if b"\x00" in raw:
        raise ValueError("a C-octet string cannot contain NUL")
    return raw + b"\x00"


def encode(pdu: Pdu) -> bytes:
    """The PDU's bytes. A response with a non-zero status carries no body (4.1.2, 4.4.2...)."""
    body = bytearray()
    layout = BODIES.get(pdu.command_id)
    if layout is None:
        raise ValueError(f"unknown command_id 0x{pdu.command_id:08x}")
    if not (pdu.is_response and pdu.status != 0 and pdu.command_id != GENERIC_NACK):
        for name, kind in layout:
            value = pdu.params.get(name, default_value(kind))
            body += _encode_field(kind, value)
        if pdu.command_id in WITH_TLVS:
            for tag, value in pdu.tlvs.items():
                body += struct.pack(">HH", tag, len(value)) + value
    length = HEADER_SIZE + len(body)
    return HEADER.pack(length, pdu.command_id, pdu.status, pdu.sequence) + bytes(body)


def _encode_field(kind: str, value: Any) -> bytes:
    if kind == "c":
        return _cstring(value)
    if kind == "u8":
        return bytes([value])
    if kind == "sm":
        if len(value) > 254:
            raise ValueError("short_message is at most 254 octets (use message_payload)")
        return bytes([len(value)]) + bytes(value)
    if kind == "dests":
        out = bytearray([len(value)])
        for dest in value:
            if "dl_name" in dest:
                out += b"\x02" + _cstring(dest["dl_name"])
            else:
                out += b"\x01" + bytes([dest["ton"], dest["npi"]]) + _cstring(dest["addr"])
        return bytes(out)
    if kind == "unsuccess":
        out = bytearray([len(value)])
        for item in value:
            out += bytes([item["ton"], item["npi"]]) + _cstring(item["addr"]) + struct.pack(">I", item["error"])
        return bytes(out)
    raise ValueError(kind)


# -- decoding ------------------------------------------------------------------------------------
def peek_length(first4: bytes) -> int:
    return struct.unpack(">I", first4)[0]


def decode(data: bytes) -> Pdu:
    """One PDU from exactly its bytes (header included)."""
    if len(data) < HEADER_SIZE:
        raise Malformed("shorter than a PDU header")
    length, command_id, status, sequence = HEADER.unpack_from(data)
    if length != len(data) or length > MAX_PDU_SIZE:
        raise Malformed("command_length does not match the PDU", command_id=command_id, sequence=sequence)
    layout = BODIES.get(command_id)
    if layout is None:
        raise Malformed("unknown command_id", STATUS["ESME_RINVCMDID"], command_id, sequence)
    pdu = Pdu(command_id, sequence, status)
    reader = _Reader(data, HEADER_SIZE, command_id, sequence)
    if pdu.is_response and status != 0 and reader.at_end():
        return pdu  # error responses carry no body
    for name, kind in layout:
        pdu.params[name] = reader.field(kind)
    if command_id in WITH_TLVS:
        while not reader.at_end():
            tag = reader.u16()
            size = reader.u16()
            pdu.tlvs[tag] = reader.take(size)
    elif not reader.at_end():
        raise Malformed("bytes after the last field", command_id=command_id, sequence=sequence)
    return pdu


class _Reader:
    def __init__(self, data: bytes, offset: int, command_id: int, sequence: int) -> None:
        self.data, self.offset = data, offset
        self.command_id, self.sequence = command_id, sequence

    def fail(self, reason: str) -> Malformed:
        return Malformed(reason, command_id=self.command_id, sequence=self.sequence)

    def at_end(self) -> bool:
        return self.offset >= len(self.data)

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise self.fail("field runs past the end of the PDU")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def cstring(self) -> str:
        end = self.data.find(b"\x00", self.offset)
        if end < 0:
            raise self.fail("C-octet string without its NUL")
        value = self.data[self.offset : end].decode("latin-1")
        self.offset = end + 1
        return value

    def field(self, kind: str) -> Any:
        if kind == "c":
            return self.cstring()
        if kind == "u8":
            return self.u8()
        if kind == "sm":
            return self.take(self.u8())
        if kind == "dests":
            dests = []
            for _ in range(self.u8()):
                flag = self.u8()
                if flag == 1:
                    dests.append({"ton": self.u8(), "npi": self.u8(), "addr": self.cstring()})
                elif flag == 2:
                    dests.append({"dl_name": self.cstring()})
                else:
                    raise self.fail("dest_flag is neither 1 nor 2")
            return dests
        if kind == "unsuccess":
            items = []
            for _ in range(self.u8()):
                ton, npi, addr = self.u8(), self.u8(), self.cstring()
                items.append({"ton": ton, "npi": npi, "addr": addr, "error": struct.unpack(">I", self.take(4))[0]})
            return items
        raise ValueError(kind)


def response(request: Pdu, status: int = 0, **params: Any) -> Pdu:
    return Pdu(request.command_id | RESP, request.sequence, status, dict(params))


def generic_nack(sequence: int, status: int) -> Pdu:
    return Pdu(GENERIC_NACK, sequence, status)

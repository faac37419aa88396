"""SMPP 3.4 front door over real sockets, driven by PyPI smpplib (an ESME used in production)
and, for the commands smpplib lacks (cancel_sm, submit_multi, broken PDUs), by raw sockets.
One emulator for the module (manual clock), reset before each test."""
from __future__ import annotations

import json
import re
import socket
import struct
import time
import urllib.parse
import urllib.request
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import smpplib.client
import smpplib.consts
import smpplib.gsm

from emulator import front_doors
from emulator.client import Msgemu
from emulator.server_thread import ServerThread
from emulator.smpp import codec

SMSC = {"system_id": "demo", "password": "smppdemo"}
REVICOM = {"system_id": "demo", "password": "revdemo"}
PHONE = "79001234567"


class FrontDoorServer(Msgemu):
    """An emulator served from a thread (as the pytest plugin starts it) with the SMPP and SMTP
    front doors, and the control API client the plugin's fixture is."""

    def __init__(self) -> None:
        self.thread = ServerThread(clock="manual")
        self.settings = self.thread.settings
        self.settings.smpp_port = _free_port()
        self.settings.smtp_port = _free_port()
        self.settings.callback_loopback_only = True

    def start(self) -> "FrontDoorServer":
        self.thread.start()
        super().__init__(self.thread.base)
        self.runtime = self.thread.runtime
        return self

    def stop(self) -> None:
        self.thread.stop()

    @property
    def smpp_port(self) -> int:
        return self.settings.smpp_port

    def get(self, path: str, headers: dict[str, str] | None = None) -> bytes:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_SHARED: list[FrontDoorServer] = []


def shared_server() -> FrontDoorServer:
    """One emulator with its front doors for every SMPP/SMTP test module of the run (each test
    resets it); a daemon thread, gone with the test process."""
    if not _SHARED:
        _SHARED.append(FrontDoorServer().start())
    return _SHARED[0]


@pytest.fixture(scope="module")
def server() -> FrontDoorServer:
    return shared_server()


OPEN: list[smpplib.client.Client] = []
RAW: list[socket.socket] = []  # raw sessions, closed after each test


@pytest.fixture
def emu(server: FrontDoorServer) -> Iterator[FrontDoorServer]:
    server.reset()
    yield server
    while OPEN:
        OPEN.pop().disconnect()
    while RAW:
        RAW.pop().close()


def connect(emu: FrontDoorServer) -> smpplib.client.Client:
    client = smpplib.client.Client("127.0.0.1", emu.smpp_port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    OPEN.append(client)
    return client


def esme(emu: FrontDoorServer, mode: str = "transceiver", **credentials: str) -> smpplib.client.Client:
    client = connect(emu)
    getattr(client, f"bind_{mode}")(**(credentials or SMSC))
    return client


def submit(client: smpplib.client.Client, text: str | bytes = "Your code is 4711", to: str = PHONE, **extra: Any):
    """submit_sm, then its response."""
    if isinstance(text, str):
        parts, coding, esm_class = smpplib.gsm.make_parts(text)
        assert len(parts) == 1
        raw = parts[0]
    else:
        raw, coding, esm_class = text, 0, 0
    params = dict(
        source_addr_ton=5,
        source_addr="MSGEMU",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr=to,
        short_message=raw,
        data_coding=coding,
        esm_class=esm_class,
        registered_delivery=1,
    )
    params.update(extra)
    client.send_message(**params)
    return client.read_pdu()


def read(client: smpplib.client.Client):
    """The next PDU; a deliver_sm is acknowledged as an ESME does."""
    pdu = client.read_pdu()
    if pdu.command == "deliver_sm":
        ack = smpplib.smpp.make_pdu("deliver_sm_resp", client=client)
        ack.sequence = pdu.sequence
        client.send_pdu(ack)
    return pdu


def nothing_pending(client: smpplib.client.Client) -> bool:
    """True when the next PDU is the answer to our enquire_link (nothing was queued before it)."""
    client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
    return client.read_pdu().command == "enquire_link_resp"


def message_id(resp) -> str:
    return resp.message_id.decode() if isinstance(resp.message_id, bytes) else str(resp.message_id)


def text_of(pdu) -> str:
    return pdu.short_message.decode("latin-1")


# -- binds ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["transmitter", "receiver", "transceiver"])
def test_every_bind_mode_authenticates_with_the_account(emu, mode):
    client = esme(emu, mode)
    assert client.state in (smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX, smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX, smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX)
    client.unbind()


@pytest.mark.parametrize(
    "credentials, status",
    [
        ({"system_id": "demo", "password": "wrong"}, "ESME_RINVPASWD"),
        ({"system_id": "nobody", "password": "smppdemo"}, "ESME_RINVSYSID"),
        ({"system_id": "demo", "password": ""}, "ESME_RINVPASWD"),
    ],
)
def test_bad_credentials_get_their_command_status(emu, credentials, status):
    client = connect(emu)
    with pytest.raises(smpplib.exceptions.PDUError) as caught:
        client.bind_transceiver(**credentials)
    assert caught.value.args[1] == codec.STATUS[status]


def test_one_port_serves_both_providers_by_credentials(emu):
    smsc, revicom = esme(emu), esme(emu, **REVICOM)
    assert submit(smsc).status == 0
    assert submit(revicom).status == 0
    providers = sorted(m["provider"] for m in emu.messages())
    assert providers == ["revicom", "smsc"]


def test_submit_before_bind_and_on_a_receiver_bind_is_refused(emu):
    client = connect(emu)
    client.state = smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX  # smpplib itself would not send it
    assert submit(client).status == codec.STATUS["ESME_RINVBNDSTS"]
    receiver = esme(emu, "receiver")
    receiver.state = smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX
    assert submit(receiver).status == codec.STATUS["ESME_RINVBNDSTS"]


def test_a_second_bind_on_a_bound_session_is_refused(emu):
    client = esme(emu)
    client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN  # smpplib would not send it bound
    client.send_pdu(smpplib.smpp.make_pdu("bind_transmitter", client=client, **SMSC))
    assert client.read_pdu().status == codec.STATUS["ESME_RALYBND"]


def test_enquire_link_and_unbind(emu):
    client = esme(emu)
    assert nothing_pending(client)
    client.unbind()
    assert client.state == smpplib.consts.SMPP_CLIENT_STATE_OPEN


# -- submit_sm: the same message everywhere --------------------------------------------------------
RECEIPT = re.compile(
    r"^id:(?P<id>\S+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:\d{10} done date:\d{10} stat:(?P<stat>[A-Z]+) err:(?P<err>\d{3}) text:(?P<text>.*)$"
)


def smsc_status(emu, message_id: str, phone: str = PHONE) -> dict[str, Any]:
    query = urllib.parse.urlencode({"login": "demo", "psw": "demo-password", "phone": phone, "id": message_id, "fmt": 3})
    return json.loads(emu.get(f"/smsc/sys/status.php?{query}"))


def smsc_balance(emu) -> float:
    return float(json.loads(emu.get("/smsc/sys/balance.php?login=demo&psw=demo-password&fmt=3"))["balance"])


def test_a_gsm7_submit_is_journaled_charged_and_visible_to_status_php(emu):
    before = smsc_balance(emu)
    client = esme(emu)
    resp = submit(client, "Your code is 4711")
    assert resp.command == "submit_sm_resp" and resp.status == 0
    sms_id = message_id(resp)
    assert sms_id.isdigit()
    [message] = emu.messages(provider="smsc")
    assert message["text"] == "Your code is 4711" and message["otp"] == "4711" and message["recipient"] == PHONE
    assert message["provider_id"] == sms_id and message["meta"]["via"] == "smpp"
    assert smsc_balance(emu) == pytest.approx(before - message["cost"]) and message["cost"] > 0
    assert smsc_status(emu, sms_id)["status"] == -1  # waiting to be sent
    emu.advance(5)
    assert smsc_status(emu, sms_id)["status"] == 1
    [journal] = [r for r in emu.requests() if r["method"] == "SMPP"]
    assert journal["path"] == "submit_sm" and journal["outcome"] == "accepted" and journal["message_ids"] == [message["id"]]


def test_delivery_receipt_follows_the_lifecycle_on_the_clock(emu):
    client = esme(emu)
    sms_id = message_id(submit(client))
    assert nothing_pending(client)  # nothing before the clock moves
    emu.advance(5)
    receipt = read(client)
    assert receipt.command == "deliver_sm" and receipt.esm_class == 0x04
    found = RECEIPT.match(text_of(receipt))
    assert found, text_of(receipt)
    assert found["id"] == sms_id and found["stat"] == "DELIVRD" and found["dlvrd"] == "001" and found["err"] == "000"
    assert found["text"] == "Your code is 4711"
    assert receipt.receipted_message_id.decode() == sms_id
    assert receipt.message_state == 2  # DELIVERED
    assert receipt.source_addr.decode() == PHONE and receipt.destination_addr.decode() == "MSGEMU"
    assert nothing_pending(client)  # one receipt only


def test_no_receipt_without_registered_delivery(emu):
    client = esme(emu)
    assert submit(client, registered_delivery=0).status == 0
    emu.advance(5)
    assert nothing_pending(client)


def test_ucs2_text_is_decoded(emu):
    client = esme(emu)
    text = "Код подтверждения: 9876"
    parts, coding, _ = smpplib.gsm.make_parts(text)
    assert coding == smpplib.consts.SMPP_ENCODING_ISO10646
    assert submit(client, parts[0], data_coding=coding).status == 0
    [message] = emu.messages()
    assert message["text"] == text and message["otp"] == "9876"


@pytest.mark.parametrize("text", ["A long GSM message " * 12, "Длинное сообщение на русском языке. " * 4])
def test_concatenated_parts_by_udh_make_one_message_with_a_receipt_per_part(emu, text):
    client = esme(emu)
    parts, coding, esm_class = smpplib.gsm.make_parts(text)
    assert len(parts) > 1
    ids = []
    for part in parts:
        client.send_message(source_addr="MSGEMU", destination_addr=PHONE, dest_addr_ton=1, short_message=part, data_coding=coding, esm_class=esm_class, registered_delivery=1)
        resp = client.read_pdu()
        assert resp.status == 0
        ids.append(message_id(resp))
    assert len(set(ids)) == len(parts)
    [message] = emu.messages()
    assert message["text"] == text and message["parts"] == len(parts)
    emu.advance(5)
    receipts = [read(client) for _ in parts]
    assert sorted(r.receipted_message_id.decode() for r in receipts) == sorted(ids)


def test_concatenated_parts_by_sar_tlvs(emu):
    client = esme(emu)
    chunks = [b"first half, ", b"second half"]
    for seq, chunk in enumerate(chunks, start=1):
        resp = submit(client, chunk, sar_msg_ref_num=77, sar_total_segments=2, sar_segment_seqnum=seq)
        assert resp.status == 0
    [message] = emu.messages()
    assert message["text"] == "first half, second half" and message["parts"] == 2


def test_message_payload_carries_a_long_text_in_one_pdu(emu):
    client = esme(emu)
    text = "x" * 400
    resp = submit(client, b"", message_payload=text.encode())
    assert resp.status == 0
    [message] = emu.messages()
    assert message["text"] == text and message["parts"] == 3


def test_revicom_submit_is_visible_through_its_http_api(emu):
    client = esme(emu, **REVICOM)
    resp = submit(client, "Hello from SMPP")
    uuid = message_id(resp)
    token = {"Authorization": "Basic revicom-demo-token"}
    found = json.loads(emu.get(f"/revicom/api/v1/message/{uuid}", token))
    assert found["messageUuid"] == uuid and found["content"] == "Hello from SMPP" and found["destination"] == PHONE
    listed = json.loads(emu.get("/revicom/api/v1/message", token))
    assert [m["messageUuid"] for m in listed["items"]] == [uuid]


# -- provider errors, magic recipients, scenarios -----------------------------------------------------
@pytest.mark.parametrize(
    "phone, status",
    [
        ("79000000301", "ESME_RINVDSTADR"),  # SMSC error 7 invalid number
        ("79000000302", "ESME_RSUBMITFAIL"),  # 8 can't deliver
        ("79000000303", "ESME_RMSGQFUL"),  # 3 no money
        ("79000000304", "ESME_RINVSRCADR"),  # 6 message is denied
        ("12ab", "ESME_RINVDSTADR"),
    ],
)
def test_smsc_errors_map_to_command_status(emu, phone, status):
    client = esme(emu)
    assert submit(client, to=phone).status == codec.STATUS[status]
    assert emu.messages() == []


def test_magic_undelivered_number_gives_an_undeliv_receipt_with_smsc_err(emu):
    client = esme(emu)
    submit(client, to="79000000305")
    emu.advance(10)
    found = RECEIPT.match(text_of(read(client)))
    assert found and found["stat"] == "UNDELIV" and found["err"] == "006" and found["dlvrd"] == "000"


def test_revicom_magic_numbers(emu):
    client = esme(emu, **REVICOM)
    assert submit(client, to="79000000201").status == codec.STATUS["ESME_RINVDSTADR"]
    submit(client, to="79000000203")
    emu.advance(5)
    receipt = read(client)
    assert RECEIPT.match(text_of(receipt))["stat"] == "UNDELIV" and receipt.message_state == 5


def test_insufficient_balance_is_message_queue_full(emu):
    emu.set_account("smsc", balance=0)
    client = esme(emu)
    assert submit(client).status == codec.STATUS["ESME_RMSGQFUL"]


def test_scenario_reply_error_maps_to_command_status(emu):
    emu.load_scenario("rules:\n  - match: {provider: smsc, text_regex: blocked}\n    reply: {error: forbidden}\n")
    client = esme(emu)
    assert submit(client, "this is blocked").status == codec.STATUS["ESME_RINVSRCADR"]
    assert submit(client, "this is fine").status == 0


def test_scenario_deliver_plan_drives_the_receipt(emu):
    emu.load_scenario("rules:\n  - match: {provider: smsc}\n    deliver: {'*': [{after: 30, status: expired}]}\n")
    client = esme(emu)
    submit(client)
    emu.advance(10)
    assert nothing_pending(client)
    emu.advance(25)
    found = RECEIPT.match(text_of(read(client)))
    assert found["stat"] == "EXPIRED"


def test_fault_delay_holds_the_response_and_the_window_refuses_more(emu):
    emu.load_scenario(
        "smpp: {window: 1}\nrules:\n  - match: {provider: smsc, text_regex: slow}\n    fault: {type: delay, seconds: 0.4}\n"
    )
    client = esme(emu)
    started = time.monotonic()
    first = client.send_message(source_addr="MSGEMU", destination_addr=PHONE, short_message=b"slow one")
    second = client.send_message(source_addr="MSGEMU", destination_addr=PHONE, short_message=b"fast one")
    early = client.read_pdu()
    assert early.sequence == second.sequence and early.status == codec.STATUS["ESME_RMSGQFUL"]
    late = client.read_pdu()
    assert late.sequence == first.sequence and late.status == 0
    assert time.monotonic() - started >= 0.35
    assert [m["text"] for m in emu.messages()] == ["slow one"]


def test_fault_hang_drops_the_response_and_reset_closes_the_connection(emu):
    emu.load_scenario(
        "rules:\n  - match: {text_regex: hang}\n    fault: {type: hang, seconds: 30}\n"
        "  - match: {text_regex: reset}\n    fault: {type: reset}\n"
    )
    client = esme(emu)
    client.send_message(source_addr="MSGEMU", destination_addr=PHONE, short_message=b"please hang")
    assert nothing_pending(client)  # no submit_sm_resp came before the enquire_link_resp
    client.send_message(source_addr="MSGEMU", destination_addr=PHONE, short_message=b"please reset")
    with pytest.raises((smpplib.exceptions.ConnectionError, ConnectionError, OSError)):
        client.read_pdu()
    client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED


def test_throttling_per_second_of_the_emulator_clock(emu):
    emu.load_scenario("smpp: {max_per_second: 2}\nrules: []\n")
    client = esme(emu)
    assert [submit(client, f"message {n}").status for n in range(3)] == [0, 0, codec.STATUS["ESME_RTHROTTLED"]]
    emu.advance(1)
    assert submit(client, "message 3").status == 0


# -- query_sm, cancel_sm --------------------------------------------------------------------------------
def test_query_sm_reports_the_message_state(emu):
    client = esme(emu)
    sms_id = message_id(submit(client, registered_delivery=0))

    def query(mid: str):
        client.query_message(message_id=mid, source_addr_ton=5, source_addr_npi=0, source_addr="MSGEMU")
        return client.read_pdu()

    pending = query(sms_id)
    assert pending.status == 0 and pending.message_state in (1, 6) and not pending.final_date
    emu.advance(5)
    done = query(sms_id)
    assert done.message_state == 2 and re.fullmatch(rb"\d{12}000\+", done.final_date)
    assert query("999999999").status == codec.STATUS["ESME_RQUERYFAIL"]


def raw_session(emu, **credentials: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", emu.smpp_port), timeout=5)
    RAW.append(sock)
    creds = credentials or SMSC
    send(sock, codec.Pdu(codec.BIND_TRANSCEIVER, 1, params={"system_id": creds["system_id"], "password": creds["password"], "interface_version": 0x34}))
    assert recv(sock).status == 0
    return sock


def send(sock: socket.socket, pdu: codec.Pdu) -> None:
    sock.sendall(codec.encode(pdu))


def recv(sock: socket.socket) -> codec.Pdu:
    head = _exact(sock, 4)
    return codec.decode(head + _exact(sock, codec.peek_length(head) - 4))


def _exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def submit_params(to: str = PHONE, text: bytes = b"hello", **extra: Any) -> dict[str, Any]:
    params = {"source_addr": "MSGEMU", "dest_addr_ton": 1, "destination_addr": to, "short_message": text, "registered_delivery": 1}
    params.update(extra)
    return params


def test_cancel_sm_stops_a_scheduled_message(emu):
    sock = raw_session(emu)
    send(sock, codec.Pdu(codec.SUBMIT_SM, 2, params=submit_params(schedule_delivery_time="000000010000000R")))
    resp = recv(sock)
    assert resp.status == 0
    mid = resp.get("message_id")
    send(sock, codec.Pdu(codec.CANCEL_SM, 3, params={"message_id": mid, "source_addr": "MSGEMU", "destination_addr": PHONE}))
    answer = recv(sock)
    assert (answer.command_id, answer.sequence, answer.status) == (codec.CANCEL_SM | codec.RESP, 3, 0)
    receipt = recv(sock)
    assert receipt.command_id == codec.DELIVER_SM and RECEIPT.match(receipt.get("short_message").decode())["stat"] == "DELETED"
    assert receipt.tlv_int("message_state") == 4
    send(sock, codec.Pdu(codec.DELIVER_SM | codec.RESP, receipt.sequence))
    emu.advance(120)
    send(sock, codec.Pdu(codec.CANCEL_SM, 4, params={"message_id": mid}))
    assert recv(sock).status == codec.STATUS["ESME_RCANCELFAIL"]  # already final
    [message] = emu.messages()
    assert message["status"] == "cancelled"
    sock.close()


@pytest.mark.parametrize("credentials", [SMSC, REVICOM])
def test_submit_multi_is_not_served_where_the_provider_has_none(emu, credentials):
    """SMSC: "The SUBMIT_MULTI command ... is not yet implemented"; Revicom: not documented."""
    sock = raw_session(emu, **credentials)
    send(sock, codec.Pdu(codec.SUBMIT_MULTI, 9, params={"dest_addresses": [{"ton": 1, "npi": 1, "addr": PHONE}], "short_message": b"x"}))
    nack = recv(sock)
    assert (nack.command_id, nack.sequence, nack.status) == (codec.GENERIC_NACK, 9, codec.STATUS["ESME_RINVCMDID"])
    assert emu.messages() == []


# -- malformed PDUs --------------------------------------------------------------------------------------
def test_malformed_pdus_get_generic_nack_and_the_session_goes_on(emu):
    sock = raw_session(emu)
    sock.sendall(struct.pack(">IIII", 16, 0x00000077, 0, 5))  # unknown command_id
    assert (lambda p: (p.command_id, p.sequence, p.status))(recv(sock)) == (codec.GENERIC_NACK, 5, codec.STATUS["ESME_RINVCMDID"])
    sock.sendall(struct.pack(">IIII", 20, codec.SUBMIT_SM, 0, 6) + b"abcd")  # strings without their NUL
    nack = recv(sock)
    assert (nack.command_id, nack.sequence, nack.status) == (codec.GENERIC_NACK, 6, codec.STATUS["ESME_RINVCMDLEN"])
    send(sock, codec.Pdu(codec.ENQUIRE_LINK, 7))
    assert recv(sock).command_id == codec.ENQUIRE_LINK | codec.RESP
    sock.sendall(struct.pack(">I", 3) + b"\x00" * 12)  # a command_length no PDU can have
    assert recv(sock).command_id == codec.GENERIC_NACK
    with pytest.raises((ConnectionError, OSError)):
        recv(sock)
    sock.close()
    client = esme(emu)  # the server still serves
    assert submit(client).status == 0


# -- what the SMSC sends ------------------------------------------------------------------------------------
def test_inbound_reply_reaches_a_bound_receiver_as_deliver_sm(emu):
    sender = esme(emu, "transmitter")
    submit(sender, registered_delivery=0)
    receiver = esme(emu, "receiver")
    emu.reply(PHONE, "Привет, STOP", provider="smsc")
    mo = read(receiver)
    assert mo.command == "deliver_sm" and mo.esm_class == 0
    assert mo.source_addr.decode() == PHONE and mo.destination_addr.decode() == "MSGEMU"
    assert mo.data_coding == 8 and mo.short_message.decode("utf-16-be") == "Привет, STOP"


def test_receipts_wait_for_a_receiver_to_bind(emu):
    sender = esme(emu, "transmitter")
    sms_id = message_id(submit(sender))
    emu.advance(5)
    assert nothing_pending(sender)  # a transmitter is never sent deliver_sm
    receiver = esme(emu, "receiver")
    assert read(receiver).receipted_message_id.decode() == sms_id


def test_intermediate_notification_when_asked(emu):
    client = esme(emu)
    submit(client, registered_delivery=0x11)
    emu.advance(1.5)
    intermediate = read(client)
    assert intermediate.esm_class == 0x20 and RECEIPT.match(text_of(intermediate))["stat"] == "ENROUTE"
    emu.advance(5)
    assert RECEIPT.match(text_of(read(client)))["stat"] == "DELIVRD"


# -- the command line ------------------------------------------------------------------------------------
def test_msgemu_serve_opens_the_smpp_and_smtp_ports(tmp_path):
    """`msgemu serve --smpp-port N`, and MSGEMU_SMTP_PORT from the environment."""
    http, smpp, smtp = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "MSGEMU_SMTP_PORT": str(smtp)}
    command = [sys.executable, "-m", "emulator.cli", "serve", "--port", str(http), "--smpp-port", str(smpp), "--clock", "manual"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", smtp), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.poll() is not None else "not listening"
                time.sleep(0.1)
        client = smpplib.client.Client("127.0.0.1", smpp, timeout=5, allow_unknown_opt_params=True)
        client.connect()
        client.bind_transceiver(**SMSC)
        assert submit(client).status == 0
        client.unbind()
        client.disconnect()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_readme_smpplib_example_works_as_written(emu, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## SMPP and SMTP front doors") :]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(example.strip().splitlines()) == 5
    exec(example.replace("2775", str(emu.smpp_port)), {})
    printed = capsys.readouterr().out.strip()
    [message] = emu.messages()
    assert printed in (f"b'{message['provider_id']}'", message["provider_id"])


def test_scenario_inbound_reply_arrives_as_deliver_sm_on_the_clock(emu):
    emu.load_scenario("rules:\n  - match: {provider: smsc}\n    inbound: [{after: 20, text: 'YES please'}]\n")
    client = esme(emu)
    submit(client, registered_delivery=0)
    emu.advance(10)
    assert nothing_pending(client)
    emu.advance(15)
    mo = read(client)
    assert mo.esm_class == 0 and mo.short_message == b"YES please" and mo.data_coding == 0


def test_check_scenario_knows_the_smpp_limits(tmp_path, capsys):
    from emulator.cli import main

    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("smpp: {max_per_second: 5, window: 2}\nrules: []\n")
    bad.write_text("smpp: {window: 0, burst: 3}\nrules: []\n")
    assert main(["check-scenario", str(good)]) == 0
    assert main(["check-scenario", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "/smpp/window" in out and "burst" in out


async def test_no_front_door_opens_unless_its_port_is_set():
    from emulator.runtime import Runtime
    from emulator.settings import Settings

    assert Settings().smpp_port == 0 and Settings().smtp_port == 0
    assert await front_doors.start(Runtime(Settings())) == []
    assert Settings.load({}, env={"MSGEMU_SMPP_PORT": "2775"}).smpp_port == 2775


def test_smsc_refuses_an_identical_message_within_a_minute(emu):
    """[DOC] "does not accept more than one identical request to send SMS within a minute"."""
    client = esme(emu)
    assert submit(client, "same text").status == 0
    assert submit(client, "same text").status == codec.STATUS["ESME_RTHROTTLED"]
    assert submit(client, "same text", to="79001234568").status == 0  # another recipient
    emu.advance(61)
    assert submit(client, "same text").status == 0
    assert len(emu.messages()) == 3


@pytest.mark.parametrize(
    "system_type, data_coding, raw, text",
    [
        ("", 4, "Café".encode("latin-1"), "Café"),  # SMSC: data_coding = coding * 4, 1 = ISO-8859-1
        ("ISO", 0, "Café".encode("latin-1"), "Café"),  # system-type "ISO": coding 0 is ISO-8859-1
        ("", 0, b"Caf\x05", "Café"),  # GSM 03.38 otherwise
    ],
)
def test_smsc_reads_data_coding_its_way(emu, system_type, data_coding, raw, text):
    sock = socket.create_connection(("127.0.0.1", emu.smpp_port), timeout=5)
    RAW.append(sock)
    send(sock, codec.Pdu(codec.BIND_TRANSMITTER, 1, params={**SMSC, "system_type": system_type}))
    assert recv(sock).status == 0
    send(sock, codec.Pdu(codec.SUBMIT_SM, 2, params=submit_params(text=raw, data_coding=data_coding)))
    assert recv(sock).status == 0
    assert emu.messages()[0]["text"] == text


def test_a_deliver_sm_the_esme_refuses_for_now_is_offered_again_on_the_clock(emu):
    sock = raw_session(emu)
    send(sock, codec.Pdu(codec.SUBMIT_SM, 2, params=submit_params()))
    mid = recv(sock).get("message_id")
    emu.advance(5)
    first = recv(sock)
    assert first.tlv_bytes("receipted_message_id") == mid.encode() + b"\0"
    send(sock, codec.Pdu(codec.DELIVER_SM | codec.RESP, first.sequence, codec.STATUS["ESME_RX_T_APPN"]))
    send(sock, codec.Pdu(codec.ENQUIRE_LINK, 3))
    assert recv(sock).command_id == codec.ENQUIRE_LINK | codec.RESP  # not again at once
    emu.advance(10)
    again = recv(sock)
    assert again.command_id == codec.DELIVER_SM and again.get("short_message") == first.get("short_message")
    send(sock, codec.Pdu(codec.DELIVER_SM | codec.RESP, again.sequence))

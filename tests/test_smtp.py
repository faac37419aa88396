"""SMSC.ru e-mail to SMS over a real SMTP socket with Python's smtplib (one emulator for the
module, manual clock, reset before each test)."""
from __future__ import annotations

import smtplib
from email.mime.text import MIMEText
from typing import Iterator

import pytest

from tests.test_smpp import FrontDoorServer, shared_server, smsc_balance, smsc_status

PHONE = "79001234567"


@pytest.fixture(scope="module")
def server() -> FrontDoorServer:
    return shared_server()


@pytest.fixture
def emu(server: FrontDoorServer) -> Iterator[FrontDoorServer]:
    server.reset()
    yield server


def mail(emu: FrontDoorServer, body: str, charset: str = "koi8-r", html: bool = False) -> tuple[int, str]:
    """Send one letter to SMSC's address; (reply code, reply text) of its DATA."""
    message = MIMEText(body, "html" if html else "plain", charset)
    message["From"] = "app@example.org"
    message["To"] = "send@send.smsc.ru"
    message["Subject"] = "sms"
    with smtplib.SMTP("127.0.0.1", emu.settings.smtp_port, timeout=10) as client:
        client.ehlo()
        client.mail("app@example.org")
        client.rcpt("send@send.smsc.ru")
        code, reply = client.data(message.as_bytes().replace(b"\n", b"\r\n"))
    return code, reply.decode()


def test_the_documented_format_sends_an_sms_into_the_same_journal(emu):
    before = smsc_balance(emu)
    code, reply = mail(emu, f"demo:demo-password:::0,0,MSGEMU,0:{PHONE}:Ваш код 5577")
    assert code == 250 and reply.startswith("OK - 1 SMS, ID - ")
    sms_id = reply.rsplit(" ", 1)[1]
    [message] = emu.messages(provider="smsc")
    assert message["text"] == "Ваш код 5577" and message["otp"] == "5577" and message["meta"]["via"] == "smtp"
    assert message["provider_id"] == sms_id and message["meta"]["sender"] == "MSGEMU"
    assert smsc_balance(emu) == pytest.approx(before - message["cost"])
    emu.advance(5)
    assert smsc_status(emu, sms_id)["status"] == 1
    [journal] = [r for r in emu.requests() if r["method"] == "SMTP"]
    assert journal["status"] == 250 and journal["outcome"] == "accepted"


def test_client_id_several_phones_translit_and_md5_password(emu):
    import hashlib

    md5 = hashlib.md5(b"demo-password").hexdigest()
    code, reply = mail(emu, f"demo:{md5}:4242::1,0,,0:{PHONE},79001234568:Привет", charset="utf-8")
    assert (code, reply) == (250, "OK - 2 SMS, ID - 4242")
    texts = {m["recipient"]: m["text"] for m in emu.messages()}
    assert texts == {PHONE: "Privet", "79001234568": "Privet"}
    assert smsc_status(emu, "4242", "79001234568")["status"] == -1


def test_the_list_form_sends_a_text_per_line(emu):
    code, _ = mail(emu, f"demo:demo-password:::0,0,,0::{PHONE}:first text\n79001234568:second text")
    assert code == 250
    assert {m["recipient"]: m["text"] for m in emu.messages()} == {PHONE: "first text", "79001234568": "second text"}


def test_empty_login_takes_the_api_key_and_tags_carry_a_non_plain_text(emu):
    code, _ = mail(emu, f"<p>[text]:smsc-demo-apikey:::0,0,,0:{PHONE}:tagged[/text]</p>", html=True)
    assert code == 250
    assert emu.messages()[0]["text"] == "tagged"


def test_test_mode_is_virtual_and_free(emu):
    before = smsc_balance(emu)
    code, reply = mail(emu, f"demo:demo-password:::0,0,,1:{PHONE}:virtual one")
    assert code == 250
    assert smsc_balance(emu) == before
    status = smsc_status(emu, reply.rsplit(" ", 1)[1])
    assert status["err"] == 200


@pytest.mark.parametrize(
    "body, answer",
    [
        (f"demo:wrong:::0,0,,0:{PHONE}:hi", "ERROR = 2 (authorise error)"),
        ("demo:demo-password:::0,0,,0:123:hi", "ERROR = 7 (invalid number)"),
        ("demo:demo-password:::0,0,,0:79000000303:hi", "ERROR = 3 (no money)"),
        ("just some words", "ERROR = 1 (parameters error)"),
        (f"demo:demo-password:::0,99,,0:{PHONE}:hi", "ERROR = 1 (parameters error)"),
        (f"demo:demo-password::tomorrow,0:0,0,,0:{PHONE}:hi", "ERROR = 5 (invalid date format)"),
    ],
)
def test_errors_are_answered_with_send_php_codes(emu, body, answer):
    code, reply = mail(emu, body)
    assert code == 550 and reply.startswith(answer)
    assert emu.messages() == []


def test_a_letter_over_100_kb_is_refused_by_the_server(emu):
    code, reply = mail(emu, f"demo:demo-password:::0,0,,0:{PHONE}:" + ("x" * 70 + "\n") * 1600, charset="utf-8")
    assert code == 552, reply
    assert emu.messages() == []

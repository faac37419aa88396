"""PyPI alphasms-client 0.1.3 (XML API) against msgemu, unchanged: every operation it offers
(balance, send single / bulk / queued, flash, WAP-push, voice, status by own id and by gateway
id, delete, login+password auth) and the errors the magic recipients trigger, checking what the
library returns. The last tests show where the library itself is wrong against the documented
provider, and why.
"""
from __future__ import annotations

import pytest
from alphasms import client as alphasms

KEY = "alphasms-demo-key"
PHONE = "380971234567"

pytestmark = pytest.mark.usefixtures("via_msgemu")


@pytest.fixture
def api():
    return alphasms.Client(api_key=KEY)


def test_balance_is_a_float(api):
    assert api.check_balance() == 100.0


def test_send_single_returns_the_documented_result(api, emulator):
    result = api.send_sms(PHONE, "Shop", "Your code is 1234", user_sms_id=42)
    assert result.error == "1" and result.user_sms_id == "42" and result.sms_count == "1"
    assert result.sms_id.isdigit() and int(result.sms_id) > 0
    [message] = emulator.messages(phone=PHONE)
    assert message["otp"] == "1234" and message["attempts"][0]["channel"] == "sms"
    assert api.check_balance() == pytest.approx(98.75)


def test_send_without_own_id(api):
    result = api.send_sms(PHONE, "Shop", "Hello")
    assert result.error == "1" and result.user_sms_id is None and int(result.sms_id) > 0


def test_bulk_send_and_national_number_format(api, emulator):
    results = api.bulk_send_sms([
        alphasms.MessageRequest("0501112233", "Shop", "a" * 161, alphasms.MESSAGE_TYPE_NORMAL, 1, None),
        alphasms.MessageRequest(PHONE, "Shop", "Flash!", alphasms.MESSAGE_TYPE_FLASH, 2, None),
        alphasms.MessageRequest(PHONE, "Shop", "Open", alphasms.MESSAGE_TYPE_WAP_PUSH, 3, "https://example.org/"),
        alphasms.MessageRequest("380441234567", "Shop", "Your code is 5678", alphasms.MESSAGE_TYPE_VOICE, 4, None),
    ])
    assert [(r.user_sms_id, r.sms_count, r.error) for r in results] == [("1", "2", "1"), ("2", "1", "1"), ("3", "1", "1"), ("4", "1", "1")]
    assert emulator.messages(phone="380501112233")[0]["parts"] == 2
    assert emulator.messages(phone="380441234567")[0]["attempts"][0]["channel"] == "voice"


def test_message_queue_flushes_into_one_request(api, emulator):
    queue = alphasms.MessageQueue(api)
    queue.queue, queue.sent_messages = [], []  # the class-level lists are shared (see the last tests)
    with queue as q:
        for n in range(3):
            q.add_message(f"38097123450{n}", "Shop", f"Hello {n}", user_sms_id=100 + n)
    assert [(r.user_sms_id, r.error) for r in queue.sent_messages] == [("100", "1"), ("101", "1"), ("102", "1")]
    assert len(emulator.messages()) == 3


def test_status_by_own_id_and_by_gateway_id_follows_the_code_table(api, emulator):
    sent = api.send_sms(PHONE, "Shop", "Hello", user_sms_id=7)
    fresh = api.get_status(user_sms_id=7)
    assert (fresh.status, fresh.status_string(), fresh.date_completed) == ("100", "scheduled for delivery", None)
    emulator.advance(1)
    assert api.get_status(sms_id=sent.sms_id).status_string() == "enroute state"
    emulator.advance(10)
    done = api.get_status(sms_id=sent.sms_id)
    assert (done.status, done.status_string(), done.user_sms_id, done.sms_count) == ("102", "delivered", "7", "1")
    assert done.date_completed
    statuses = api.bulk_get_status([alphasms.StatusRequest(7, None), alphasms.StatusRequest(None, 999999)])
    assert [s.status for s in statuses] == ["102", "201"]  # 201 ERR_ID: wrong message ID


def test_delete_before_sending(api, emulator):
    api.send_sms(PHONE, "Shop", "Hello", user_sms_id=9)
    deleted = api.delete(user_sms_id=9)
    assert (deleted.status, deleted.status_string()) == ("104", "deleted")
    assert emulator.messages(phone=PHONE)[0]["status"] == "cancelled"
    assert api.delete(user_sms_id=9).status == "211"  # ERR_DELETE


def test_duplicate_own_id_is_error_208(api):
    api.send_sms(PHONE, "Shop", "Hello", user_sms_id=500)
    with pytest.raises(alphasms.AlphaSmsServerError) as error:
        api.send_sms(PHONE, "Shop", "Hello again", user_sms_id=500)
    assert error.value.args[0] == "208" and str(error.value) == "208: Duplicate id (user_sms_id)"


def test_wrong_key_and_login_password(emulator):
    with pytest.raises(alphasms.AlphaSmsServerError) as error:
        alphasms.Client(api_key="nope").check_balance()
    assert str(error.value) == "209: Wrong API key or API disabled by user"
    assert alphasms.Client(login="demo", password="alphasms-demo-password").check_balance() == 100.0
    with pytest.raises(alphasms.AlphaSmsServerError) as error:
        alphasms.Client(login="demo", password="nope").check_balance()
    assert str(error.value) == "202: Authorization error"


@pytest.mark.parametrize("phone,code", [("380000000001", "203"), ("380000000002", "206"), ("380000000006", "202")])
def test_magic_recipients_refuse_the_message(api, emulator, phone, code):
    with pytest.raises(alphasms.AlphaSmsServerError) as error:
        api.send_sms(phone, "Shop", "Hello", user_sms_id=1)
    assert error.value.args[0] == code
    assert emulator.messages(phone=phone) == []


@pytest.mark.parametrize("phone,after,status", [("380000000003", 10, "undeliverable"), ("380000000004", 100, "expired"),
                                                ("380000000008", 10, "delivered")])
def test_magic_recipients_play_their_lifecycle(api, emulator, phone, after, status):
    api.send_sms(phone, "Shop", "Hello", user_sms_id=2)
    emulator.advance(after)
    assert api.get_status(user_sms_id=2).status_string() == status


def test_bad_input_is_refused_per_message(api):
    results = api.bulk_send_sms([
        alphasms.MessageRequest(PHONE, "WayTooLongSenderName", "x", 0, 1, None),
        alphasms.MessageRequest(PHONE, "Shop", "", 0, 2, None),
        alphasms.MessageRequest("12", "Shop", "x", 0, 3, None),
        alphasms.MessageRequest(PHONE, "Shop", "fine", 0, 4, None),
    ])
    assert [(r.error, r.sms_id) for r in results][:3] == [("202", "0"), ("204", "0"), ("203", "0")]
    assert results[3].error == "1"


# -- where the library itself is wrong against the documented provider ---------------------------

def test_library_flaw_message_codes_are_described_with_the_package_table(api):
    """send_sms raises AlphaSmsServerError for a refused message, but that class only knows the
    package-level codes (200-210): the documented per-message codes (202 ERR_SENDER, 203
    ERR_RECIPIENT, 204 ERR_LENGTH, 206 ERR_BILLING...) are described as "Unknown error", and 202
    even as "Authorization error". The code itself (args[0]) is right."""
    with pytest.raises(alphasms.AlphaSmsServerError) as error:
        api.send_sms("12", "Shop", "x")
    assert str(error.value) == "203: Unknown error"
    with pytest.raises(alphasms.AlphaSmsServerError) as error:
        api.send_sms(PHONE, "WayTooLongSenderName", "x")
    assert str(error.value) == "202: Authorization error"


def test_library_flaw_message_queues_share_their_lists(api):
    """MessageQueue keeps `queue` and `sent_messages` as class attributes: every queue of every
    client in the process appends to the same lists, so one queue reports another's results."""
    first, second = alphasms.MessageQueue(api), alphasms.Client(api_key=KEY).message_queue()
    before = len(second.sent_messages)
    with first as q:
        q.add_message(PHONE, "Shop", "from the first queue", user_sms_id=900)
    assert len(second.sent_messages) == before + 1 and second.sent_messages[-1].user_sms_id == "900"


def test_library_flaw_own_id_zero_cannot_be_queried(api):
    """StatusRequest tests `if self.user_sms_id:`, so an own id of 0 (sent fine) is never asked for."""
    assert api.send_sms(PHONE, "Shop", "Hello", user_sms_id=0).error == "1"
    with pytest.raises(ValueError):
        api.get_status(user_sms_id=0)

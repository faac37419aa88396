"""Example: testing an OTP login flow against msgemu with the `msgemu` pytest fixture.

Run it with `python -m pytest docs/examples/test_otp_login.py` once msgemu is installed
(`pip install -e ".[test]"`): the fixture comes with the package, nothing to configure.
"""
import json
import urllib.error
import urllib.request


def send_login_code(base_url: str, phone: str, code: str) -> dict:
    """Stands for the application under test: it sends an OTP through AlphaSMS."""
    body = {"auth": "alphasms-demo-key",
            "data": [{"type": "sms", "id": 1, "phone": phone, "sms_signature": "MyApp",
                      "sms_message": f"Your login code is {code}"}]}
    request = urllib.request.Request(base_url + "/api/json.php", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def test_the_code_sent_is_the_code_received(msgemu):
    answer = send_login_code(msgemu.url("alphasms"), "380971234567", "482913")
    assert answer["data"][0]["success"] is True
    assert msgemu.wait_otp("380971234567") == "482913"


def test_each_test_starts_clean(msgemu):
    assert msgemu.messages() == []


def test_delivery_with_virtual_time(msgemu):
    send_login_code(msgemu.url("alphasms"), "380971234567", "111222")
    assert msgemu.messages(phone="380971234567")[0]["status"] == "accepted"
    msgemu.advance(5)
    assert msgemu.messages(phone="380971234567")[0]["status"] == "delivered"


def test_scenario_makes_the_provider_fail(msgemu):
    msgemu.load_scenario("rules:\n  - fault: {type: status, status: 503}\n")
    try:
        send_login_code(msgemu.url("alphasms"), "380971234567", "123456")
    except urllib.error.HTTPError as exc:
        assert exc.code == 503
    else:
        raise AssertionError("expected the outage")
    assert msgemu.messages() == []

"""OTP extraction as a person reads a message: the keyword's code first, never a phone number,
an order number, an amount, a date or a time; None rather than a wrong code (issue 13)."""
from __future__ import annotations

import pytest

from emulator.core.otp import extract_otp



TEXTS = [
    # English
    ("Your code is 482913. Support: 0800 123 456", "482913"),
    ("482913 is your verification code", "482913"),
    ("G-482913 is your Google verification code.", "482913"),
    ("Your Uber code: 5521. Never share this code.", "5521"),
    ("Use 771204 to verify your account. Call +44 20 7946 0958 if this was not you", "771204"),
    ("Order #12345 confirmed. Your delivery PIN is 9988", "9988"),
    ("You paid $1500.00 at ACME. Confirmation code 7781", "7781"),
    ("Your OTP for txn of INR 2500 is 839201. Valid for 10 mins", "839201"),
    ("Your code: 482 913", "482913"),
    ("Your verification code is 12-34-56", "123456"),
    ("Your voice code is 1 2 3 4", "1234"),
    ("WhatsApp code 123-456. Don't share this code with others", "123456"),
    ("Meet at 12:30 on 01.02.2025", None),
    ("Call 0800 123 456 for support", None),
    ("Your order 55512 has shipped", None),
    ("Hello! Your parcel is on its way.", None),
    ("Balance: 2500 UAH", None),
    ("2024 was a great year, thanks for being with us. Your code: 3141", "3141"),
    ("Tracking 88812345 updated. One-time password 664422", "664422"),
    # Russian / Ukrainian
    ("Код подтверждения: 5521. Никому не сообщайте", "5521"),
    ("Ваш пароль 1234. Заказ 55555 принят", "1234"),
    ("Ваш код для входа 739102, тел. поддержки 8 800 555 35 35", "739102"),
    ("Оплата 1500 руб. Код 4410", "4410"),
    ("Ваш код підтвердження: 600712", "600712"),
    ("Замовлення 77123 оформлено. Код 3300", "3300"),
    # Polish, Czech, Turkish
    ("Twój kod to 8812", "8812"),
    ("Twoje hasło jednorazowe: 551234. Zamówienie 123456", "551234"),
    ("Váš ověřovací kód je 402931", "402931"),
    ("Doğrulama kodunuz: 908172", "908172"),
    # German, French, Spanish, Portuguese, Italian
    ("Ihr Bestätigungscode lautet 209384", "209384"),
    ("Votre code de vérification est 7364", "7364"),
    ("Tu código es 5519. No lo compartas", "5519"),
    ("Seu código de verificação: 112233", "112233"),
    ("Il tuo codice è 8080", "8080"),
    # Chinese, Korean
    ("验证码123456，5分钟内有效", "123456"),
    ("[Web발신] 인증번호 [482913]을 입력해주세요", "482913"),
    # A code with no keyword: the first group that is none of the above
    ("Welcome! 2931 - enter it on the site. Hotline 0 800 500 600", "2931"),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), TEXTS, ids=[t[:40] for t, _ in TEXTS])
def test_the_code_a_person_would_read(text, expected):
    assert extract_otp(text) == expected


def test_at_least_thirty_real_world_texts():
    assert len(TEXTS) >= 30


async def test_wait_returns_the_keyword_code_not_the_support_number(client):
    sent = await client.post("/alphasms/api/json.php", json={
        "auth": "alphasms-demo-key", "data": [{"type": "sms", "id": 1, "phone": 380671234567, "sms_signature": "Demo",
                                            "sms_message": "Your code is 482913. Support: 0800 123 456"}]})
    assert sent.status == 200, await sent.text()
    waited = await client.get("/_emulator/messages/wait", params={"phone": "380671234567", "timeout": "2"})
    assert waited.status == 200 and (await waited.json())["otp"] == "482913"

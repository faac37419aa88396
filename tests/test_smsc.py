"""SMSC.ru HTTP API over real HTTP: transport (GET/POST/multipart, charsets), auth, the four
answer formats, send/cost/status/balance/jobs/phones/senders/get, limits, magic numbers,
lifecycle-driven statuses and account-level callbacks."""
from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from aiohttp import web

from .conftest import advance

BASE = "/smsc/sys/"
AUTH = {"login": "demo", "psw": "demo-password"}
APIKEY = "smsc-demo-apikey"
MD5 = hashlib.md5(b"demo-password").hexdigest()
MOSCOW = timezone(timedelta(hours=3))


async def smsc(client, command: str, params: dict | None = None, *, method: str = "GET", form: dict | None = None, auth: dict | None = AUTH, raw_query: str | None = None):
    """One SMSC call; returns (body text decoded in the answer's charset, response)."""
    query = {**(auth or {}), **(params or {})}
    url = BASE + command + ("?" + raw_query if raw_query is not None else "")
    kwargs = {} if raw_query is not None else {"params": query}
    if form is not None:
        kwargs["data"] = form
    response = await client.request(method, url, **kwargs)
    assert response.status == 200
    raw = await response.read()
    return raw.decode(response.charset or "utf-8"), response


async def js(client, command: str, params: dict | None = None, **kwargs):
    text, _ = await smsc(client, command, {"fmt": "3", "charset": "utf-8", **(params or {})}, **kwargs)
    return json.loads(text)


async def messages(client, phone: str | None = None) -> list[dict]:
    query = {"provider": "smsc"}
    if phone:
        query["phone"] = phone
    return (await (await client.get("/_emulator/messages", params=query)).json())["messages"]


def send_params(phone: str = "79001234567", mes: str = "Код 1234", **extra) -> dict:
    return {"phones": phone, "mes": mes, "charset": "utf-8", **extra}


# -- auth -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "auth",
    [
        {"login": "demo", "psw": "demo-password"},
        {"login": "demo", "psw": MD5},
        {"apikey": APIKEY},
        {"login": "", "psw": APIKEY},
    ],
    ids=["password", "md5", "apikey", "empty-login-psw-apikey"],
)
async def test_every_documented_way_to_authenticate(client, auth):
    data = await js(client, "balance.php", auth=auth)
    assert data == {"balance": "1000"}


@pytest.mark.parametrize(
    "auth",
    [
        {"login": "demo", "psw": "wrong"},
        {"login": "demo", "psw": MD5.upper()},  # the MD5 must be lowercase hex
        {"login": "nobody", "psw": "demo-password"},
        {"apikey": "nope"},
        {"login": "", "psw": "demo-password"},
        {},
    ],
)
async def test_bad_credentials_are_error_2(client, auth):
    assert await js(client, "balance.php", auth=auth) == {"error": "authorise error", "error_code": 2}


@pytest.mark.parametrize(
    "fmt,body",
    [
        ("0", "ERROR = 2 (authorise error)"),
        ("1", "0,-2"),
        ("2", "<result>\n<error>authorise error</error>\n<error_code>2</error_code>\n</result>"),
        ("3", '{"error": "authorise error", "error_code": 2}'),
    ],
)
async def test_errors_come_in_the_four_formats(client, fmt, body):
    text, response = await smsc(client, "send.php", {"fmt": fmt, **send_params()}, auth={"login": "demo", "psw": "x"})
    assert text == body
    assert response.charset == "utf-8"


# -- transport ------------------------------------------------------------------------------------------
async def test_send_by_get_post_form_and_split_params_all_work(client):
    ids = []
    text, _ = await smsc(client, "send.php", send_params("79001230001", fmt="1"))
    ids.append(text)
    text, _ = await smsc(client, "send.php", method="POST", auth=None, form={**AUTH, **send_params("79001230002", fmt="1")})
    ids.append(text)
    text, _ = await smsc(client, "send.php", {"fmt": "1", "charset": "utf-8"}, method="POST", form={"phones": "79001230003", "mes": "Код 1234"})
    ids.append(text)
    text, _ = await smsc(client, "send.php", send_params("79001230004", fmt="1"), method="POST")  # POST, all in the query
    ids.append(text)
    assert ids == ["1,1", "2,1", "3,1", "4,1"]
    texts = [m["text"] for m in await messages(client)]
    assert texts == ["Код 1234"] * 4


async def test_multipart_post_like_the_official_library_with_files(client):
    form = aiohttp.FormData()
    for key, value in {**AUTH, "phones": "79001230005", "mes": "Photo", "mms": "1", "fmt": "3"}.items():
        form.add_field(key, value)
    form.add_field("file0", b"\x89PNG...", filename="a.png", content_type="image/png")
    response = await client.post(BASE + "send.php", data=form)
    assert json.loads(await response.text()) == {"id": 1, "cnt": 1}
    assert (await messages(client, "79001230005"))[0]["attempts"][0]["channel"] == "mms"


@pytest.mark.parametrize(
    "charset,codec",
    [(None, "cp1251"), ("windows-1251", "cp1251"), ("utf-8", "utf-8"), ("koi8-r", "koi8_r")],
)
async def test_charset_decodes_the_request_and_encodes_the_answer(client, charset, codec):
    name = "Вася Пупкин"
    query = {**AUTH, "add": "1", "phone": "79001112233", "name": name}
    if charset:
        query["charset"] = charset
    raw = "&".join(f"{k}={quote(v.encode(codec))}" for k, v in query.items())
    text, _ = await smsc(client, "phones.php", raw_query=raw, auth=None)
    assert text == "ID = 1"
    listing = f"{urlencode(AUTH)}&get=1&fmt=3" + (f"&charset={charset}" if charset else "")
    response = await client.get(BASE + "phones.php?" + listing)
    body = await response.read()
    assert response.charset == (charset or "windows-1251")
    assert json.loads(body.decode(codec))[0]["name"] == name


async def test_bytes_invalid_in_the_charset_are_a_parameter_error(client):
    raw = f"{urlencode(AUTH)}&phones=79001234567&mes=%FF%FE%FA&charset=utf-8&fmt=3"
    text, _ = await smsc(client, "send.php", raw_query=raw, auth=None)
    assert json.loads(text) == {"error": "parameters error", "error_code": 1}


async def test_default_charset_reads_utf8_bytes_as_windows_1251(client):
    """A client that forgets charset=utf-8 gets mojibake, exactly as from the real service."""
    raw = f"{urlencode(AUTH)}&phones=79001234567&mes={quote('Код'.encode())}"
    text, _ = await smsc(client, "send.php", raw_query=raw, auth=None)
    assert text == "OK - 1 SMS, ID - 1"
    assert (await messages(client))[0]["text"] == "Код".encode().decode("cp1251")


# -- send answers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fmt,cost,body",
    [
        ("0", "0", "OK - 1 SMS, ID - 1"),
        ("1", "0", "1,1"),
        ("2", "0", "<result>\n<id>1</id>\n<cnt>1</cnt>\n</result>"),
        ("3", "0", '{"id": 1, "cnt": 1}'),
        ("1", "2", "1,1,3.50"),
        ("1", "3", "1,1,3.50,996.50"),
        ("3", "2", '{"id": 1, "cnt": 1, "cost": "3.5"}'),
        ("3", "3", '{"id": 1, "cnt": 1, "cost": "3.5", "balance": "996.5"}'),
        ("0", "3", "OK - 1 SMS, ID - 1, COST - 3.50, BALANCE - 996.50"),
        ("2", "3", "<result>\n<id>1</id>\n<cnt>1</cnt>\n<cost>3.50</cost>\n<balance>996.50</balance>\n</result>"),
    ],
)
async def test_send_answer_forms(client, fmt, cost, body):
    text, _ = await smsc(client, "send.php", send_params(fmt=fmt, cost=cost))
    assert text == body


@pytest.mark.parametrize(
    "fmt,body",
    [("1", "7.00,2"), ("3", '{"cost": "7", "cnt": 2}'), ("0", "OK - 2 SMS, COST - 7.00"), ("2", "<result>\n<cost>7.00</cost>\n<cnt>2</cnt>\n</result>")],
)
async def test_cost_1_quotes_without_sending_or_charging(client, fmt, body):
    text, _ = await smsc(client, "send.php", send_params("79001230001,79001230002", fmt=fmt, cost="1"))
    assert text == body
    assert await messages(client) == []
    assert await js(client, "balance.php") == {"balance": "1000"}


async def test_client_id_is_echoed_and_finds_the_message(client):
    assert await js(client, "send.php", send_params(id="10")) == {"id": 10, "cnt": 1}
    status = await js(client, "status.php", {"id": "10", "phone": "+79001234567"})
    assert status["status"] == -1


@pytest.mark.parametrize("bad_id", ["abc", "2147483648", "-5", "1.5"])  # 0: no client id (test_smsc_families)
async def test_bad_client_id_is_error_1(client, bad_id):
    assert (await js(client, "send.php", send_params(id=bad_id)))["error_code"] == 1


async def test_phone_lists_with_both_separators_and_optional_plus(client):
    data = await js(client, "send.php", send_params("+79001230001;79001230002, 89001230003", mes="a" * 161))
    assert data == {"id": 1, "cnt": 6}  # 3 numbers x 2 parts
    assert sorted(m["recipient"] for m in await messages(client)) == ["79001230001", "79001230002", "79001230003"]
    assert (await js(client, "balance.php"))["balance"] == "979"


async def test_bad_numbers_are_left_out_and_listed_with_err_1(client):
    data = await js(client, "send.php", send_params("79001230001,123,79000000301", err="1"))
    assert data["cnt"] == 1
    assert [(p["phone"], p["error"]) for p in data["phones"]] == [("123", "7"), ("79000000301", "7")]


async def test_long_cyrillic_text_counts_ucs2_parts(client):
    assert (await js(client, "send.php", send_params(mes="Ж" * 71)))["cnt"] == 2
    assert (await js(client, "send.php", send_params("79001230009", mes="Ж" * 70)))["cnt"] == 1


async def test_translit_turns_cyrillic_into_latin(client):
    await js(client, "send.php", send_params(mes="Привет", translit="1"))
    assert (await messages(client))[0]["text"] == "Privet"


@pytest.mark.parametrize(
    "flags,channel,recipient",
    [
        ({"hlr": "1", "mes": ""}, "hlr", "79001234567"),
        ({"ping": "1", "mes": ""}, "ping", "79001234567"),
        ({"call": "1", "voice": "w"}, "call", "79001234567"),
        ({"viber": "1"}, "viber", "79001234567"),
        ({"flash": "1"}, "flash", "79001234567"),
        ({"tg": "1"}, "telegram", "79001234567"),
        ({"mail": "1", "phones": "User@Example.com", "subj": "Hi", "sender": "shop@example.com"}, "mail", "user@example.com"),
        ({"mes": "__VIBER__Hello"}, "viber", "79001234567"),
    ],
)
async def test_every_message_kind(client, flags, channel, recipient):
    data = await js(client, "send.php", {**send_params(), **flags})
    assert data == {"id": 1, "cnt": 1}
    message = (await messages(client))[0]
    assert message["attempts"][0]["channel"] == channel and message["recipient"] == recipient
    if flags.get("mes") == "__VIBER__Hello":
        assert message["text"] == "Hello"


async def test_mail_needs_addresses(client):
    assert await js(client, "send.php", send_params("not-an-address", mail="1")) == {"error": "invalid number", "error_code": 7, "id": 1}


async def test_valid_sets_the_lifetime(client):
    await js(client, "send.php", send_params(valid="01:30"))
    assert (await messages(client))[0]["attempts"][0]["content"]["_ttl"] == 5400


@pytest.mark.parametrize("valid", ["25", "0", "24:01", "ab", "1:5"])
async def test_bad_valid_is_error_1(client, valid):
    assert (await js(client, "send.php", send_params(valid=valid)))["error_code"] == 1


# -- scheduling -------------------------------------------------------------------------------------
async def clock_now(client) -> float:
    return (await (await client.get("/_emulator/clock")).json())["now"]


async def test_time_forms_schedule_the_message(client):
    now = await clock_now(client)
    local = datetime.fromtimestamp(now, MOSCOW) + timedelta(days=1)
    ddmmyyhhmm = local.strftime("%d%m%y%H%M")
    await js(client, "send.php", send_params("79001230001", time=ddmmyyhhmm))
    await js(client, "send.php", send_params("79001230002", time="+30"))
    await js(client, "send.php", send_params("79001230003", time=f"0{int(now) + 3000}"))
    await js(client, "send.php", send_params("79001230004", time=ddmmyyhhmm, tz="2"))
    found = {m["recipient"]: m for m in await messages(client)}
    day = local.replace(second=0, microsecond=0).timestamp()
    assert found["79001230002"]["attempts"][0]["history"][-1]["status"] == "accepted"
    await advance(client, 30 * 60 + 10)
    statuses = {m["recipient"]: m["status"] for m in await messages(client)}
    assert statuses["79001230002"] == "delivered" and statuses["79001230003"] == "accepted"
    await advance(client, 3600)
    assert {m["recipient"]: m["status"] for m in await messages(client)}["79001230003"] == "delivered"
    await advance(client, day - now + 60)  # the tz=2 one is two hours earlier in absolute time
    statuses = {m["recipient"]: m["status"] for m in await messages(client)}
    assert statuses["79001230001"] == "delivered" and statuses["79001230004"] == "delivered"


async def test_hour_window_waits_for_its_opening(client):
    now = await clock_now(client)
    hour = datetime.fromtimestamp(now, MOSCOW).hour
    first, last = (hour + 2) % 22, (hour + 2) % 22 + 1  # a window that is not open now
    await js(client, "send.php", send_params(time=f"{first}-{last}"))
    assert (await js(client, "status.php", {"id": "1", "phone": "79001234567"}))["status"] == -1
    await advance(client, 60)
    assert (await messages(client))[0]["status"] == "accepted"
    await advance(client, 24 * 3600)
    assert (await messages(client))[0]["status"] == "delivered"


@pytest.mark.parametrize(
    "time,tz",
    [("3213251200", ""), ("tomorrow", ""), ("18-9", ""), ("+x", ""), ("0112251200", "abc"), ("0112251200", "40")],
)
async def test_bad_time_is_error_5(client, time, tz):
    text, _ = await smsc(client, "send.php", send_params(time=time, tz=tz))
    assert text == "ERROR = 5 (invalid date format)"


# -- send errors 1..9 -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params",
    [
        {"phones": "79001234567"},
        {"mes": "hi"},
        {"phones": "79001234567", "mes": "   "},
        {"phones": "79001234567", "mes": "hi", "cost": "7"},
        {"phones": "79001234567", "mes": "hi", "flash": "yes"},
        {"phones": "79001234567", "mes": "hi", "translit": "9"},
    ],
)
async def test_missing_or_mistyped_parameters_are_error_1(client, params):
    text, _ = await smsc(client, "send.php", params)
    assert text == "ERROR = 1 (parameters error)"


async def test_no_money_is_error_3_with_the_id(client):
    await client.patch("/_emulator/accounts/smsc", json={"balance": 3})
    for fmt, body in [("0", "ERROR = 3 (no money), ID - 1"), ("1", "2,-3"), ("3", '{"error": "no money", "error_code": 3, "id": 3}')]:
        text, _ = await smsc(client, "send.php", send_params(fmt=fmt, mes=f"code {fmt}"))
        assert text == body
    assert await messages(client) == []


async def test_ip_is_blocked_after_ten_bad_logins_in_a_minute(client):
    for _ in range(10):
        assert (await js(client, "balance.php", auth={"login": "demo", "psw": "bad"}))["error_code"] == 2
    assert await js(client, "balance.php") == {"error": "ip is blocked", "error_code": 4}
    await advance(client, 601)
    assert await js(client, "balance.php") == {"balance": "1000"}


async def test_reset_lifts_the_ip_block(client):
    for _ in range(10):
        await js(client, "balance.php", auth={"apikey": "bad"})
    assert (await js(client, "balance.php"))["error_code"] == 4
    await client.post("/_emulator/reset")
    assert await js(client, "balance.php") == {"balance": "1000"}


@pytest.mark.parametrize("sender", ["WayTooLongSenderName", "Мой магазин", "<script>"])
async def test_bad_sender_is_error_6(client, sender):
    data = await js(client, "send.php", send_params(sender=sender))
    assert data == {"error": "message is denied", "error_code": 6, "id": 1}


@pytest.mark.parametrize("fmt,body", [("0", "ERROR = 7 (invalid number), ID - 1"), ("1", "1,-7"), ("2", "<result>\n<error>invalid number</error>\n<error_code>7</error_code>\n<id>1</id>\n</result>")])
async def test_invalid_number_is_error_7_with_the_id(client, fmt, body):
    text, _ = await smsc(client, "send.php", send_params("123", fmt=fmt))
    assert text == body


async def test_client_id_is_the_id_of_an_error(client):
    assert await js(client, "send.php", send_params("12", id="77")) == {"error": "invalid number", "error_code": 7, "id": 77}


async def test_identical_send_within_a_minute_is_error_9(client):
    assert (await js(client, "send.php", send_params()))["cnt"] == 1
    assert await js(client, "send.php", send_params()) == {"error": "duplicate request, wait a minute", "error_code": 9}
    assert (await js(client, "send.php", send_params(mes="another")))["cnt"] == 1
    await advance(client, 61)
    assert (await js(client, "send.php", send_params()))["cnt"] == 1


async def test_identical_means_the_same_parameters_whatever_the_credentials_and_order(client):
    """Error 9 compares every parameter but the credentials, in any order: the same send with
    the MD5 of the password, by API key, or with its parameters reordered is still identical;
    one more or one different parameter is not."""
    params = send_params(phone="79001234568", mes="same text", id="41")
    assert (await js(client, "send.php", params))["cnt"] == 1
    duplicate = {"error": "duplicate request, wait a minute", "error_code": 9}
    assert await js(client, "send.php", params, auth={"login": "demo", "psw": MD5}) == duplicate
    assert await js(client, "send.php", params, auth={"apikey": APIKEY}) == duplicate
    assert await js(client, "send.php", dict(reversed(list(params.items())))) == duplicate
    assert (await js(client, "send.php", {**params, "id": "42"}))["cnt"] == 1
    assert (await js(client, "send.php", {**params, "sender": "Shop"}))["cnt"] == 1


async def test_each_identical_send_leaves_the_minute_on_its_own_time(client):
    """Hits of all requests share one time-ordered window: A's hit leaves while B's, 30 s
    younger, still counts."""
    assert (await js(client, "send.php", send_params(mes="A")))["cnt"] == 1
    await advance(client, 30)
    assert (await js(client, "send.php", send_params(mes="B")))["cnt"] == 1
    await advance(client, 31)
    assert (await js(client, "send.php", send_params(mes="A")))["cnt"] == 1
    assert (await js(client, "send.php", send_params(mes="B")))["error_code"] == 9
    assert (await js(client, "send.php", send_params(mes="A")))["error_code"] == 9


async def test_more_than_five_identical_cost_requests_is_error_9(client):
    for _ in range(5):
        assert "cost" in await js(client, "send.php", send_params(cost="1"))
    assert (await js(client, "send.php", send_params(cost="1")))["error_code"] == 9


async def test_fifteen_concurrent_requests_under_one_login_is_error_9(client):
    release = asyncio.Event()

    async def slow_body():
        yield b"phones=79001230001&"
        await release.wait()
        yield b"mes=slow"

    async def slow(n: int):
        response = await client.post(
            BASE + "send.php",
            params={**AUTH, "fmt": "3", "id": str(n + 1)},
            data=slow_body(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return await response.text()

    pending = [asyncio.create_task(slow(n)) for n in range(14)]
    try:
        answer = None
        for _ in range(200):
            answer = await js(client, "senders.php", {"get": "1"})
            if isinstance(answer, dict):
                break
            await asyncio.sleep(0.01)
        assert answer == {"error": "too many concurrent requests", "error_code": 9}
    finally:
        release.set()
        bodies = await asyncio.gather(*pending)
    assert all(json.loads(b)["cnt"] == 1 for b in bodies)
    assert await js(client, "senders.php", {"get": "1"}) == [{"sender": "SMSC.RU"}]


@pytest.mark.parametrize(
    "phone,error",
    [
        ("79000000301", {"error": "invalid number", "error_code": 7, "id": 1}),
        ("79000000302", {"error": "can't to deliver", "error_code": 8, "id": 1}),
        ("79000000303", {"error": "no money", "error_code": 3, "id": 1}),
        ("79000000304", {"error": "message is denied", "error_code": 6, "id": 1}),
        ("79000000312", {"error": "duplicate request, wait a minute", "error_code": 9}),
    ],
)
async def test_magic_numbers_give_send_errors(client, phone, error):
    assert await js(client, "send.php", send_params(phone)) == error
    assert await messages(client) == []


async def test_magic_table_is_served(client):
    table = await (await client.get("/_emulator/magic", params={"provider": "smsc"})).json()
    assert table["count"] == 13


# -- status ------------------------------------------------------------------------------------------
async def test_status_follows_the_lifecycle(client):
    await js(client, "send.php", send_params())
    seen = []
    for step in (0, 1.5, 5):
        await advance(client, step)
        seen.append((await js(client, "status.php", {"id": "1", "phone": "79001234567"}))["status"])
    assert seen == [-1, 0, 1]


@pytest.mark.parametrize(
    "phone,flags,seconds,status,err",
    [
        ("79000000305", {}, 10, 20, 6),
        ("79000000306", {}, 70, 3, 6),
        ("79000000307", {}, 10, 22, 249),
        ("79000000308", {}, 10, 23, 252),
        ("79000000309", {}, 10, 24, 0),
        ("79000000310", {}, 10, 25, 1),
        ("79000000311", {}, 10, 4, 0),
        ("79000000311", {"viber": "1"}, 10, 2, 0),
    ],
)
async def test_statuses_and_errs_from_the_magic_outcomes(client, phone, flags, seconds, status, err):
    await js(client, "send.php", send_params(phone, **flags))
    await advance(client, seconds)
    data = await js(client, "status.php", {"id": "1", "phone": phone, "all": "1"})
    assert (data["status"], data["err"]) == (status, err)


async def test_valid_expires_the_message_on_the_clock(client):
    await client.put("/_emulator/scenario", data="rules:\n  - match: {provider: smsc}\n    deliver:\n      '*': [{after: 1, status: sent}, {after: 7200, status: delivered}]\n")
    await js(client, "send.php", send_params(valid="1"))
    await advance(client, 3700)
    assert await js(client, "status.php", {"id": "1", "phone": "79001234567"}) == {"status": 3, "last_date": _moscow(await clock_now(client) - 100), "last_timestamp": int(await clock_now(client) - 100), "flag": 0, "err": 6}


def _moscow(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), MOSCOW).strftime("%d.%m.%Y %H:%M:%S")


async def test_single_status_in_every_format(client):
    await js(client, "send.php", send_params())
    await advance(client, 5)
    now = await clock_now(client)
    changed = int(now - 3)  # default plan: sent 1 s, delivered 2 s after the start
    date = _moscow(changed)
    expected = {
        "0": f"Status = 1, check_time = {date}, err = 0",
        "1": f"1,{changed},0",
        "2": f"<sms>\n<status>1</status>\n<last_date>{date}</last_date>\n<last_timestamp>{changed}</last_timestamp>\n<flag>0</flag>\n<err>0</err>\n</sms>",
        "3": json.dumps({"status": 1, "last_date": date, "last_timestamp": changed, "flag": 0, "err": 0}),
    }
    for fmt, body in expected.items():
        text, _ = await smsc(client, "status.php", {"id": "1", "phone": "79001234567", "fmt": fmt})
        assert text == body


async def test_status_all_1_and_2_add_the_details(client):
    await js(client, "send.php", send_params(mes="Hi, there", sender="Shop"))
    await advance(client, 5)
    full = await js(client, "status.php", {"id": "1", "phone": "79001234567", "all": "2"})
    assert {k: full[k] for k in ("id", "status", "status_name", "phone", "cost", "sender_id", "message", "type", "country")} == {
        "id": 1, "status": 1, "status_name": "Доставлено", "phone": "79001234567", "cost": "3.5",
        "sender_id": "Shop", "message": "Hi, there", "type": 0, "country": "Россия",
    }
    text, _ = await smsc(client, "status.php", {"id": "1", "phone": "79001234567", "all": "1", "fmt": "1", "charset": "utf-8"})
    fields = re.split(r"(?<!\\),", text)  # the comma inside the text is escaped
    assert fields[:3] == ["1", str(int(full["last_timestamp"])), "0"]
    assert fields[4:] == ["79001234567", "3.50", "Shop", "Доставлено", "Hi\\, there", "", "0"]
    text, _ = await smsc(client, "status.php", {"id": "1", "phone": "79001234567", "all": "1", "charset": "utf-8"})
    assert ", sender_id = Shop, status_name = Доставлено, message = Hi, there, comment = , type = 0" in text


async def test_status_of_many_messages_with_parallel_lists_and_trailing_comma(client):
    await js(client, "send.php", send_params("79001230001,79001230002"))
    await advance(client, 5)
    many = await js(client, "status.php", {"id": "1,1,99", "phone": "79001230001,79001230002,79001230001"})
    assert [(m["id"], m["phone"], m["status"]) for m in many] == [(1, "79001230001", 1), (1, "79001230002", 1), (99, "79001230001", -3)]
    assert many[2] == {"status": -3, "last_date": None, "last_timestamp": 0, "flag": 0, "err": 0, "id": 99, "phone": "79001230001"}
    one = await js(client, "status.php", {"id": "1,", "phone": "79001230001,"})
    assert isinstance(one, list) and one[0]["status"] == 1
    text, _ = await smsc(client, "status.php", {"id": "1,99", "phone": "79001230001", "fmt": "1"})
    lines = text.split("\n")
    assert lines[0].startswith("1,79001230001,1,") and lines[1] == "99,79001230001,-3,0,0"


async def test_unknown_message_is_status_minus_3(client):
    assert await js(client, "status.php", {"id": "5", "phone": "79001234567"}) == {"status": -3, "last_date": None, "last_timestamp": 0, "flag": 0, "err": 0}
    text, _ = await smsc(client, "status.php", {"id": "5", "phone": "79001234567"})
    assert text == "Status = -3, check_time = , err = 0"
    text, _ = await smsc(client, "status.php", {"id": "5", "phone": "79001234567", "fmt": "1"})
    assert text == "-3,0,0"
    full = await js(client, "status.php", {"id": "5", "phone": "79001234567", "all": "2"})
    assert full["status"] == -3 and full["id"] == 5 and full["phone"] == "79001234567" and full["status_name"] == "Сообщение не найдено"
    assert set(full) >= {"send_date", "send_timestamp", "cost", "sender_id", "message", "comment", "type", "country", "operator", "region"}


@pytest.mark.parametrize("params", [{"id": "1"}, {"phone": "79001234567"}, {"id": "a", "phone": "79001234567"}, {"id": "1,2,3", "phone": "7900,7901"}, {"id": "1", "phone": "79001234567", "all": "5"}])
async def test_bad_status_requests_are_error_1(client, params):
    assert (await js(client, "status.php", params))["error_code"] == 1


async def test_delete_stops_a_scheduled_message_and_hides_it(client):
    await js(client, "send.php", send_params(time="+60"))
    assert await js(client, "status.php", {"id": "1", "phone": "79001234567", "del": "1"}) == {"result": "OK"}
    assert (await js(client, "status.php", {"id": "1", "phone": "79001234567"}))["status"] == -3
    await advance(client, 3700)
    assert (await messages(client))[0]["status"] == "cancelled"
    assert await js(client, "status.php", {"id": "1", "phone": "79001234567", "del": "1"}) == {"error": "error deleting message", "error_code": 5}


async def test_more_than_five_status_requests_for_one_message_is_error_9(client):
    await js(client, "send.php", send_params())
    for _ in range(5):
        assert (await js(client, "status.php", {"id": "1", "phone": "79001234567"}))["status"] == -1
    assert (await js(client, "status.php", {"id": "1", "phone": "79001234567"}))["error_code"] == 9
    await advance(client, 61)
    assert "status" in await js(client, "status.php", {"id": "1", "phone": "79001234567"})


# -- balance ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fmt,cur,body",
    [
        ("0", "0", "1000.00"),
        ("1", "0", "1000.00"),
        ("2", "0", "<balance>1000.00</balance>"),
        ("3", "0", '{"balance": "1000"}'),
        ("0", "1", "1000.00 RUR"),
        ("1", "1", "1000.00,RUR"),
        ("3", "1", '{"balance": "1000", "currency": "RUR"}'),
    ],
)
async def test_balance_forms(client, fmt, cur, body):
    text, _ = await smsc(client, "balance.php", {"fmt": fmt, "cur": cur})
    assert text == body


async def test_more_than_ten_balance_requests_a_minute_is_error_9(client):
    for _ in range(10):
        await js(client, "balance.php")
    assert (await js(client, "balance.php"))["error_code"] == 9


# -- phones.php: contacts, groups, blacklist ---------------------------------------------------------------
NODE = {"login": "demo", "psw": MD5}  # node-smsc: md5 psw, fmt=3, charset=utf-8, all in the query


async def test_node_smsc_contact_and_group_flow(client):
    async def phones(**query):
        return await js(client, "phones.php", query, auth=NODE)

    assert await phones(add=1, phone="11111111111", name="Contact From Test") == {"id": 1}
    assert await phones(add_black=1, phone="11111111111") == {"id": 1}
    assert await phones(del_black=1, phone="11111111111") == {"result": "OK"}
    listed = await phones(get=1)
    assert [(c["phone"], c["name"]) for c in listed] == [("11111111111", "Contact From Test")]
    assert await phones(chg=1, phone="11111111111", new_phone="99999999999") == {"result": "OK"}
    assert await js(client, "phones.php", {"del": "1", "phone": "99999999999"}, auth=NODE) == {"result": "OK"}
    await phones(add=1, phone="11111111111", name="Contact From Test")
    await phones(add=1, phone="99999999999", name="Another Contact From Test")
    group = await phones(add_group=1, name="Group From Test")
    assert group == {"id": 1}
    assert [(g["id"], g["name"]) for g in await phones(get_group=1)] == [(1, "Group From Test")]
    assert await phones(chg_group=1, grp=1, name="From Test Group") == {"result": "OK"}
    assert await phones(move_group=1, grp=1, phone="11111111111") == {"result": "OK"}
    assert await phones(move_group=2, grp=1, phone="99999999999") == {"result": "OK"}
    assert (await phones(get_group=1))[0] == {"id": 1, "name": "From Test Group", "number": 0, "cnt": "2"}
    assert await phones(move_group=3, grp=1, phone="11111111111") == {"result": "OK"}
    assert (await phones(get_group=1))[0]["cnt"] == "1"
    assert await phones(del_group=1, grp=1) == {"result": "OK"}
    await advance(client, 61)  # more than three identical requests a minute would be error 9
    assert await phones(get_group=1) == {"error": "records not found", "error_code": 3}


@pytest.mark.parametrize(
    "fmt,created,group,ok",
    [
        ("0", "ID = 1", "ID = 1", "OK"),
        ("1", "1", "1", "OK"),
        ("2", "<phone>\n<id>1</id>\n</phone>", "<group>\n<id>1</id>\n</group>", "<result>OK</result>"),
        ("3", '{"id": 1}', '{"id": 1}', '{"result": "OK"}'),
    ],
)
async def test_phones_answer_forms_of_the_seed(client, fmt, created, group, ok):
    text, _ = await smsc(client, "phones.php", {"add": "1", "phone": "79001112233", "name": "Ann", "fmt": fmt})
    assert text == created
    text, _ = await smsc(client, "phones.php", {"add_group": "1", "name": "VIP", "fmt": fmt})
    assert text == group
    text, _ = await smsc(client, "phones.php", {"chg": "1", "phone": "79001112233", "name": "Anna", "fmt": fmt})
    assert text == ok


async def test_contact_list_in_the_four_forms(client):
    await smsc(client, "phones.php", {"add_group": "1", "name": "VIP", "num": "5"})
    await smsc(client, "phones.php", {"add": "1", "phone": "79001112233", "name": "Ann", "grp": "1", "fnm": "Anna", "lnm": "Smith", "bd": "01.02.1990", "myid": "c-7", "cmt": "note", "tags": "a", "pho": "79005556677"})
    text, _ = await smsc(client, "phones.php", {"get": "1"})
    assert text == ("phone = 79001112233, name = Ann, group = 1, first_name = Anna, last_name = Smith, middle_name = , "
                    "birthday = 01.02.1990, id = c-7, comments = note, tags = a, phone_other = 79005556677")
    text, _ = await smsc(client, "phones.php", {"get": "1", "fmt": "1"})
    assert text == "79001112233,Ann,1,Anna,Smith,,01.02.1990,c-7,note,a,79005556677"
    text, _ = await smsc(client, "phones.php", {"get": "1", "fmt": "2"})
    assert text.startswith("<list>\n<contact>\n<phone>79001112233</phone>\n<name>Ann</name>\n<group>1</group>\n") and text.endswith("</contact>\n</list>")
    assert (await js(client, "phones.php", {"get": "1"}))[0] == {
        "phone": "79001112233", "name": "Ann", "group": 1, "first_name": "Anna", "last_name": "Smith", "middle_name": "",
        "birthday": "01.02.1990", "id": "c-7", "comments": "note", "tags": "a", "phone_other": "79005556677",
    }
    text, _ = await smsc(client, "phones.php", {"get_group": "1"})
    assert text == "id = 1, name = VIP, number = 5, cnt = 1"
    text, _ = await smsc(client, "phones.php", {"get_group": "1", "fmt": "1"})
    assert text == "1,VIP,5,1"


async def test_email_contacts_show_mail(client):
    await js(client, "phones.php", {"add": "1", "mail": "Ann@Example.com", "name": "Ann"})
    contact = (await js(client, "phones.php", {"get": "1"}))[0]
    assert contact["mail"] == "ann@example.com" and "phone" not in contact and "mail_other" in contact
    text, _ = await smsc(client, "phones.php", {"get": "1", "fmt": "2"})
    assert "<mail>ann@example.com</mail>" in text


async def test_blacklist_list_forms_and_type(client):
    await js(client, "phones.php", {"add_black": "1", "phone": "+79001112233", "type": "1", "cmt": "asked"})
    text, _ = await smsc(client, "phones.php", {"get_black": "1"})
    assert text == "id = 1, phone = 79001112233, type = 1, comment = asked"
    text, _ = await smsc(client, "phones.php", {"get_black": "1", "fmt": "2"})
    assert text == "<list>\n<record>\n<id>1</id>\n<phone>79001112233</phone>\n<type>1</type>\n<comment>asked</comment>\n</record>\n</list>"
    assert await js(client, "phones.php", {"get_black": "1"}) == [{"id": 1, "phone": "79001112233", "type": 1, "comment": "asked"}]


@pytest.mark.parametrize(
    "params,code",
    [
        ({"add": "1"}, 1),
        ({"add": "1", "phone": "12"}, 1),
        ({"add": "1", "phone": "79001112233", "grp": "42"}, 3),
        ({"chg": "1", "phone": "79009999999", "name": "x"}, 3),
        ({"del": "1", "phone": "79009999999"}, 3),
        ({"get": "1"}, 3),
        ({"get_black": "1"}, 3),
        ({"del_black": "1", "phone": "79009999999"}, 3),
        ({"add_group": "1"}, 1),
        ({"chg_group": "1", "grp": "7", "name": "x"}, 3),
        ({"del_group": "1", "grp": "7"}, 3),
        ({"move_group": "4", "grp": "1", "phone": "79001112233"}, 1),
        ({"move_group": "1", "grp": "7", "phone": "79001112233"}, 3),
        ({"grp": "1"}, 1),
        ({"add_black": "1", "phone": "79001112233", "type": "x"}, 1),
    ],
)
async def test_phones_errors(client, params, code):
    assert (await js(client, "phones.php", params))["error_code"] == code


async def test_adding_a_phone_twice_is_error_5(client):
    await js(client, "phones.php", {"add": "1", "phone": "79001112233", "name": "a"})
    assert await js(client, "phones.php", {"add": "1", "phone": "+7 900 111-22-33", "name": "b"}) == {"error": "operation error", "error_code": 5}


async def test_more_than_three_identical_phones_requests_a_minute_is_error_9(client):
    await js(client, "phones.php", {"add": "1", "phone": "79001112233"})
    for _ in range(3):
        assert isinstance(await js(client, "phones.php", {"get": "1"}), list)
    assert await js(client, "phones.php", {"get": "1"}) == {"error": "duplicate request, wait a minute", "error_code": 9}


async def test_send_to_a_contact_group(client):
    await js(client, "phones.php", {"add_group": "1", "name": "Staff", "num": "12"})
    await js(client, "phones.php", {"add": "1", "phone": "79001230001, 79001230002", "grp": "1"})
    await js(client, "phones.php", {"add": "1", "phone": "79001230003", "grp": "1"})
    await js(client, "phones.php", {"add": "1", "phone": "79001230004"})
    assert await js(client, "send.php", send_params("G12")) == {"id": 1, "cnt": 3}
    assert sorted(m["recipient"] for m in await messages(client)) == ["79001230001", "79001230002", "79001230003"]
    assert (await js(client, "send.php", send_params("G99")))["error_code"] == 7


async def test_blacklisted_numbers_are_not_sent_to(client):
    await js(client, "phones.php", {"add_black": "1", "phone": "79001230001"})
    assert await js(client, "send.php", send_params("79001230001")) == {"error": "can't to deliver", "error_code": 8, "id": 1}
    assert await js(client, "send.php", send_params("79001230001,79001230002", err="1")) == {
        "id": 2, "cnt": 1, "phones": [{"phone": "79001230001", "mccmnc": "", "cost": "0", "status": "", "error": "8"}],
    }
    assert [m["recipient"] for m in await messages(client)] == ["79001230002"]


async def test_blacklist_types_split_mass_and_single_messages(client):
    await js(client, "phones.php", {"add_black": "1", "phone": "79001230001", "type": "1"})  # mass mailings only
    assert (await js(client, "send.php", send_params("79001230001")))["cnt"] == 1
    many = await js(client, "send.php", send_params("79001230001,79001230002", err="1"))
    assert many["cnt"] == 1 and many["phones"][0]["error"] == "8"


async def test_stop_reply_blacklists_the_number_and_shows_in_answers(client):
    await js(client, "send.php", send_params(sender="Shop"))
    await advance(client, 5)
    reply = await client.post("/_emulator/inbound", json={"provider": "smsc", "phone": "79001234567", "text": "STOP"})
    assert reply.status == 200
    assert await js(client, "phones.php", {"get_black": "1"}) == [{"id": 1, "phone": "79001234567", "type": 0, "comment": "STOP"}]
    answers = await js(client, "get.php", {"get_answers": "1"})
    assert [(a["id"], a["phone"], a["to_phone"], a["sent"], a["message"]) for a in answers] == [(1, "79001234567", "Shop", 1, "STOP")]
    assert (await js(client, "send.php", send_params(mes="again")))["error_code"] == 8
    assert await js(client, "phones.php", {"del_black": "1", "phone": "79001234567"}) == {"result": "OK"}
    assert (await js(client, "send.php", send_params(mes="again")))["cnt"] == 1


# -- jobs, senders, get -------------------------------------------------------------------------------
async def test_jobs_add_cancel_delete(client):
    job = await js(client, "jobs.php", {"add": "1", "name": "Promo", "phones": "79001230001,79001230002", "mes": "Sale", "time": "+60"})
    assert job == {"id": 1}
    assert len(await messages(client)) == 2
    assert await js(client, "jobs.php", {"cancel": "1", "id": "1"}) == {"result": "OK"}
    statuses = await js(client, "status.php", {"id": "1,1", "phone": "79001230001,79001230002"})
    assert [s["status"] for s in statuses] == [-2, -2]
    text, _ = await smsc(client, "jobs.php", {"del": "1", "id": "1"})
    assert text == "OK"
    assert (await js(client, "jobs.php", {"cancel": "1", "id": "1"}))["error_code"] == 3
    assert (await js(client, "jobs.php", {"add": "1", "name": "x", "phones": "79001230001"}))["error_code"] == 1


async def test_senders_get_add_delete(client):
    assert await js(client, "senders.php", {"get": "1"}) == [{"sender": "SMSC.RU"}]
    assert await js(client, "senders.php", {"add": "1", "sender": "MyShop", "cmt": "ours"}) == {"id": 2}
    text, _ = await smsc(client, "senders.php", {"get": "1", "fmt": "1"})
    assert text == "SMSC.RU\nMyShop"
    assert await js(client, "senders.php", {"del": "1", "sender": "MyShop"}) == {"result": "OK"}
    assert (await js(client, "senders.php", {"del": "1", "sender": "MyShop"}))["error_code"] == 3
    assert (await js(client, "senders.php", {"add": "1", "sender": "Слишком длинное имя"}))["error_code"] == 1


async def test_get_messages_lists_the_history(client):
    assert await js(client, "get.php", {"get_messages": "1"}) == {"error": "records not found", "error_code": 3}
    await js(client, "send.php", send_params("79001230001", mes="first"))
    await js(client, "send.php", send_params("79001230002", mes="second"))
    history = await js(client, "get.php", {"get_messages": "1"})
    assert [(m["id"], m["phone"], m["message"]) for m in history] == [(2, "79001230002", "second"), (1, "79001230001", "first")]
    only = await js(client, "get.php", {"get_messages": "1", "phone": "79001230001"})
    assert [m["id"] for m in only] == [1]
    assert (await js(client, "get.php", {"get_messages": "1", "start": "99.99.2020"}))["error_code"] in (1, 5)


# -- callbacks -----------------------------------------------------------------------------------------
@pytest.fixture
async def receiver(aiohttp_server):
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(dict(await request.post()))
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/smsc-hook", hook)
    server = await aiohttp_server(app)
    return server, received


async def test_status_callbacks_go_to_the_account_url(client, receiver):
    server, received = receiver
    url = str(server.make_url("/smsc-hook"))
    patched = await client.patch("/_emulator/accounts/smsc", json={"credentials": {"callback_url": url, "callback_secret": "s3"}})
    assert patched.status == 200
    await js(client, "send.php", send_params())
    await advance(client, 10)
    assert [(r["id"], r["phone"], r["status"], r["err"]) for r in received] == [("1", "79001234567", "0", "0"), ("1", "79001234567", "1", "0")]
    assert received[1]["cnt"] == "1" and received[1]["cost"] == "3.5" and received[1]["ts"].isdigit()
    assert received[1]["md5"] == hashlib.md5(b"1:79001234567:1:s3").hexdigest()


async def test_failure_callbacks_carry_the_err(client, receiver):
    server, received = receiver
    await client.patch("/_emulator/accounts/smsc", json={"credentials": {"callback_url": str(server.make_url("/smsc-hook"))}})
    await js(client, "send.php", send_params("79000000305"))
    await advance(client, 10)
    assert [(r["status"], r["err"]) for r in received] == [("0", "0"), ("20", "6")]
    assert "md5" not in received[0]


async def test_no_callback_url_no_callbacks(client):
    await js(client, "send.php", send_params())
    await advance(client, 10)
    assert (await (await client.get("/_emulator/callbacks")).json())["count"] == 0


async def test_replies_are_forwarded_to_the_account_url(client, receiver):
    server, received = receiver
    await client.patch("/_emulator/accounts/smsc", json={"credentials": {"callback_url": str(server.make_url("/smsc-hook"))}})
    await js(client, "send.php", send_params())
    await advance(client, 5)
    received.clear()
    await client.post("/_emulator/inbound", json={"provider": "smsc", "phone": "79001234567", "text": "Yes"})
    await advance(client, 1)
    assert [(r["id"], r["phone"], r["mes"], r["sent"]) for r in received] == [("1", "79001234567", "Yes", "1")]


# -- bad input never breaks the shape --------------------------------------------------------------------
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_wrong_method_is_error_1_in_the_asked_format(client, method):
    text, _ = await smsc(client, "send.php", {**send_params(), "fmt": "3"}, method=method)
    assert json.loads(text) == {"error": "parameters error", "error_code": 1}


async def test_huge_body_is_error_1(client):
    body = urlencode({**AUTH, "phones": "79001234567", "mes": "x" * (5 * 1024 * 1024)})
    response = await client.post(BASE + "send.php?fmt=1", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 200 and await response.text() == "0,-1"


async def test_broken_multipart_is_error_1(client):
    response = await client.post(
        BASE + "balance.php?fmt=3", data=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=zzz"}
    )
    assert json.loads(await response.text())["error_code"] in (1, 2)


async def test_other_body_types_are_ignored_like_php_does(client):
    response = await client.post(BASE + "balance.php?fmt=3&login=demo&psw=demo-password", data=b'{"x": 1}', headers={"Content-Type": "application/json"})
    assert json.loads(await response.text()) == {"balance": "1000"}


@pytest.mark.parametrize("fmt", ["9", "x", "-1", ""])
async def test_unknown_fmt_falls_back_to_text(client, fmt):
    text, _ = await smsc(client, "balance.php", {"fmt": fmt})
    assert text == "1000.00"


@pytest.mark.parametrize("command", ["send.php", "status.php", "balance.php", "jobs.php", "phones.php", "senders.php", "get.php"])
@pytest.mark.parametrize(
    "params",
    [{}, {"fmt": "3"}, {"id": "[]", "phones": "\x00", "mes": "\u0000", "fmt": "2"}, {"time": "%", "cost": "1e9", "all": "x", "grp": "-1", "fmt": "1"}],
)
async def test_junk_parameters_never_break_the_answer_shape(client, command, params):
    text, response = await smsc(client, command, params)
    fmt = params.get("fmt", "0")
    if fmt == "3":
        assert isinstance(json.loads(text), (dict, list))
    elif fmt == "2":
        assert text.startswith("<")
    else:
        assert text
    record = (await (await client.get("/_emulator/requests", params={"provider": "smsc"})).json())["requests"][-1]
    assert record["status"] == 200 and record["outcome"] != "error" and record["error"] != "internal"


async def test_unknown_command_answers_in_smsc_error_shape(client):
    response = await client.get(BASE + "nothing.php", params={**AUTH, "fmt": "3"})
    assert response.status == 200 and await response.json() == {"error": "parameters error", "error_code": 1}


async def test_price_quotes_take_no_message_number(client):
    await js(client, "send.php", send_params(cost="1"))
    assert await js(client, "send.php", send_params("79000000301", cost="1")) == {"error": "invalid number", "error_code": 7}
    assert await js(client, "send.php", send_params()) == {"id": 1, "cnt": 1}

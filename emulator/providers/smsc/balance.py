"""balance.php: the account balance, with cur=1 its currency.

Shapes [DOC D4]: `<balance>` for fmt 0 and 1, `<balance>…</balance>`, {"balance": "<balance>"}
(a string). Money in fmt 0/1/2 has two decimals (`250.80`), JSON keeps PHP's float print. With cur=1 fmt=0 is `<balance> <currency>` [DOC D4]; fmt 1/2/3 with currency are
a GUESS (P1 reads `balance`, `currency` from JSON). Error 9 after more than 10 balance requests
in a minute [DOC D4].
"""
from __future__ import annotations

from aiohttp import web

from . import formats
from .call import Call


async def handle(call: Call) -> web.StreamResponse:
    if call.invalid("balance"):
        return call.fail("params")
    if call.too_often("balance", 10):
        return call.fail("duplicate")
    shown = formats.money_text(call.account.balance)
    balance = formats.money(call.account.balance)
    if not call.params.flag("cur"):
        return call.answer(formats.Answer(shown, shown, f"<balance>{shown}</balance>", {"balance": balance}))
    currency = call.account.currency
    return call.answer(
        formats.Answer(
            text=f"{shown} {currency}",
            csv=f"{shown},{currency}",
            xml=formats.xml_element("result", [("balance", shown), ("currency", currency)]),
            json={"balance": balance, "currency": currency},
        )
    )

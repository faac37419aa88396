"""users.php: sub-clients of the account. add=1 (user, password, fio, ...) creates one -> {"id"},
chg=1 (user, ...) changes it -> OK, del=1 (user) deletes it -> OK, get=1 lists them, pay=1
(user, sum) moves money from the account to the sub-client -> OK, get_stat=1 (user) lists
its sending statistics [CLI P4: add/chg/pay/get_stat; DOC D8: errors 1..10].

Sub-clients are records of the parent account, not accounts that can log in (GUESS-free
simplification: documented in docs/providers/smsc.md). "Nothing found" is error 3, which
node-smsc turns into [] for every users.php call [CLI P4].
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from aiohttp import web

from . import formats
from .call import Call

_LOGIN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
USER_FIELDS = ("fio", "email", "phone", "comment")


def _find(call: Call, user: str):
    return next((r for r in call.directory("users") if r.fields["user"] == user), None)


def _row(record) -> dict:
    f = record.fields
    return {"id": record.id, "user": f["user"], "fio": f.get("fio", ""), "email": f.get("email", ""),
            "phone": f.get("phone", ""), "balance": f["balance"], "comment": f.get("comment", "")}


async def handle(call: Call) -> web.StreamResponse:
    p = call.params
    users = call.directory("users")
    user = p.get("user").strip()
    if p.flag("add"):
        if not _LOGIN.match(user) or not p.get("password"):
            return call.fail("params")
        if _find(call, user) is not None:
            return call.fail("operation_failed")
        record = users.add({"user": user, "balance": Decimal("0"), **{k: p.get(k) for k in USER_FIELDS if p.has(k)}})
        return call.answer(formats.created(record.id, "user"), "accepted")
    if p.flag("get"):
        rows = [_row(r) for r in users]
        if not rows:
            return call.fail("not_found")
        text_rows = [{**row, "balance": formats.money_text(row["balance"])} for row in rows]
        json_rows = [{**row, "balance": formats.money(row["balance"])} for row in rows]
        return call.answer(formats.listing(text_rows, "user", json_rows))
    if not (p.flag("chg") or p.flag("del") or p.flag("pay") or p.flag("get_stat")):
        return call.fail("params")
    if not user:
        return call.fail("params")
    record = _find(call, user)
    if record is None:
        return call.fail("not_found")
    if p.flag("del"):
        users.remove(record.id)
        return call.answer(formats.ok())
    if p.flag("chg"):
        record.fields.update({k: p.get(k) for k in USER_FIELDS if k in p.values})
        return call.answer(formats.ok())
    if p.flag("pay"):
        try:
            amount = Decimal(p.get("sum").strip().replace(",", "."))
        except InvalidOperation:
            return call.fail("params")
        if not amount.is_finite() or amount == 0:
            return call.fail("params")
        if amount > call.account.balance:
            return call.fail("insufficient_balance")
        if -amount > record.fields["balance"]:
            return call.fail("operation_failed")
        call.engine.charge(call.account, amount)
        record.fields["balance"] += amount
        return call.answer(formats.ok(), "accepted")
    # get_stat: a sub-client that cannot log in has sent nothing
    return call.fail("not_found")

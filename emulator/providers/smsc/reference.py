"""Look-up scripts over SMSC's reference data (schemas/smsc/directory.yaml): info.php (the
operator of a number), receive_phones.php (dedicated numbers for incoming SMS) and get_mnp.php
(ported numbers). The data is illustrative; the answer shapes are SMSC's where published.

- info.php?get_operator=1&phone=<one or a comma list>: fmt=3 {country, operator, region, mcc,
  mnc, tz} [CLI P4 live test asserts these keys]; a list of numbers answers one record per
  number (GUESS). Unknown operator: error 3; error 9 after more than three identical or 100 any
  requests a minute [DOC get_data/operator].
- receive_phones.php?get=1: list of {phone, cost, country} [CLI P4 expects an array; fields
  GUESS]; add=1&phone= rents one (OK), del=1&phone= gives it back (OK) (GUESS).
- get_mnp.php?date=DD.MM.YYYY: list of {phone, mccmnc}; without a date the CSV file
  `Phone;mccmnc` [CLI P4 live test].
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from ...core.validation import schemas_root
from ..base import mark
from . import formats, recipients
from .call import Call

_DATE = re.compile(r"^\d{2}\.\d{2}\.\d{4}$")


@lru_cache(maxsize=1)
def data() -> dict[str, Any]:
    path = Path(schemas_root()) / "smsc" / "directory.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def operator_of(phone: str) -> dict[str, Any] | None:
    table = data()["operators"]
    prefix = next((p for p in sorted(table, key=len, reverse=True) if phone.startswith(p)), None)
    return dict(table[prefix]) if prefix else None


# -- info.php ---------------------------------------------------------------------------------------
async def info(call: Call) -> web.StreamResponse:
    p = call.params
    if not p.flag("get_operator"):
        return call.fail("params")
    numbers = [recipients.phone(token) for token in recipients.split(p.get("phone"))]
    if not numbers or None in numbers:
        return call.fail("params")
    if call.too_often(f"info:{p.get('phone')}", 3) or call.too_often("info", 100):
        return call.fail("duplicate")
    rows = []
    for number in numbers:
        found = operator_of(number or "")
        if found is None:
            return call.fail("operator_not_found")
        rows.append({"country": found["country"], "operator": found["operator"], "region": found["region"],
                     "mcc": found["mcc"], "mnc": found["mnc"], "tz": found["tz"]})
    if len(rows) == 1:
        row = rows[0]
        return call.answer(formats.Answer(
            text=formats.text_pairs(row.items()),
            csv=formats.csv_line(row.values()),
            xml=formats.xml_element("result", row.items()),
            json=row,
        ))
    listed = [{"phone": number, **row} for number, row in zip(numbers, rows)]
    return call.answer(formats.listing(listed, "phone"))


# -- receive_phones.php ---------------------------------------------------------------------------------
async def receive_phones(call: Call) -> web.StreamResponse:
    p = call.params
    rented = call.directory("receive_phones")
    mine = {record.fields["phone"]: record for record in rented}
    if p.flag("get"):
        rows = [{"phone": row["phone"], "cost": formats.money_text(row["cost"]), "country": row["country"]}
                for row in data()["receive_phones"] if row["phone"] not in mine]
        json_rows = [{**row, "cost": formats.money(row["cost"])} for row in rows]
        return call.answer(formats.listing(rows, "phone", json_rows))
    wanted = recipients.phone(p.get("phone")) if p.has("phone") else None
    if p.flag("add") or p.flag("del"):
        if wanted is None:
            return call.fail("params")
        if p.flag("add"):
            if wanted in mine or wanted not in {row["phone"] for row in data()["receive_phones"]}:
                return call.fail("not_found")
            rented.add({"phone": wanted})
            return call.answer(formats.ok(), "accepted")
        if wanted not in mine:
            return call.fail("not_found")
        rented.remove(mine[wanted].id)
        return call.answer(formats.ok())
    return call.fail("params")


# -- get_mnp.php -------------------------------------------------------------------------------------------
async def get_mnp(call: Call) -> web.StreamResponse:
    p = call.params
    ported = data()["mnp"]
    if not p.has("date"):
        body = "Phone;mccmnc\r\n" + "".join(f"{row['phone']};{row['mccmnc']}\r\n" for row in ported)
        mark(call.request, "query", None)
        return web.Response(body=body.encode(formats.CODECS[call.params.charset], errors="replace"), content_type="text/csv",
                            charset=call.params.charset, headers={"Content-Disposition": 'attachment; filename="mnp_phones.csv"'})
    if not _DATE.match(p.get("date").strip()):
        return call.fail("bad_date")
    rows = [{"phone": row["phone"], "mccmnc": row["mccmnc"]} for row in ported]
    return call.answer(formats.listing(rows, "phone"))

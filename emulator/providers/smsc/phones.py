"""phones.php: contacts (add, chg, del, get), contact groups (add_group, chg_group, del_group,
get_group, move_group) and the blacklist (add_black, del_black, get_black).

Every answer form is the provider's own (seed shared/seeds/smsc-contacts-groups-errors.txt):
created records `ID = n` / `n` / `<phone|group><id>n</id>` / {"id": n}; changes and deletions
`OK` / `<result>OK</result>` / {"result": "OK"}; lists one line per record in fmt 0/1,
`<list>` in XML, an array in JSON with the seed's value types (a contact's "id" and a group's
"cnt" are strings). Errors 1, 2, 3 (no records), 4, 5, 9 (more than three identical requests a
minute) as the seed lists them. `get_black` is a GUESS by analogy (the list is documented, the
parameter name was not found); so are error 5 for adding a phone twice and error 3 for an
unknown group.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

from aiohttp import web

from . import formats, recipients
from .book import Book, contact_fields
from .call import Call

AUTH_PARAMS = ("login", "psw", "apikey")


async def handle(call: Call) -> web.StreamResponse:
    if call.invalid("phones"):
        return call.fail("params")
    action = next((name for name in ACTIONS if call.params.flag(name)), None)
    if action is None:
        return call.fail("params")
    identical = hashlib.sha1(repr(sorted(call.params.without(*AUTH_PARAMS).items())).encode()).hexdigest()
    if call.too_often(f"phones:{identical}", 3):
        return call.fail("duplicate")
    return ACTIONS[action](call, call.book())


# -- contacts -------------------------------------------------------------------------------------
def _target(call: Call) -> tuple[str, str]:
    """(phone, mail) a contact request is about."""
    return call.params.get("phone").strip(), call.params.get("mail").strip().lower()


def _groups(call: Call, book: Book) -> list[int] | None:
    """`grp` as a list of existing group ids (None when one does not exist)."""
    refs = [int(ref) for ref in recipients.split(call.params.get("grp")) if ref.isdigit()]
    return refs if all(book.group(ref) for ref in refs) else None


def add_contact(call: Call, book: Book) -> web.StreamResponse:
    phone, mail = _target(call)
    numbers = book.numbers(phone)
    if (not numbers and not mail) or (phone and not numbers) or (mail and not recipients.mail(mail)):
        return call.fail("params")
    existing = book.contact(phone=phone) if numbers else book.contact(mail=mail)
    if existing is not None:
        return call.fail("operation_failed")
    groups = _groups(call, book)
    if groups is None:
        return call.fail("not_found")
    fields = {"phone": phone, "numbers": numbers, "mail": mail, "groups": groups, **contact_fields(call.params.values)}
    record = book.contacts.add(fields)
    return call.answer(formats.created(record.id, "phone"), "accepted")


def _find_contact(call: Call, book: Book):
    phone, mail = _target(call)
    return book.contact(mail=mail) if mail and not phone else book.contact(phone=phone)


def change_contact(call: Call, book: Book) -> web.StreamResponse:
    contact = _find_contact(call, book)
    if contact is None:
        return call.fail("not_found")
    p = call.params
    if p.has("new_phone"):
        numbers = book.numbers(p.get("new_phone"))
        if not numbers:
            return call.fail("params")
        contact.fields.update({"phone": p.get("new_phone").strip(), "numbers": numbers})
    if p.has("new_mail"):
        if not recipients.mail(p.get("new_mail")):
            return call.fail("params")
        contact.fields["mail"] = p.get("new_mail").strip().lower()
    if p.has("grp"):
        groups = _groups(call, book)
        if groups is None:
            return call.fail("not_found")
        contact.fields["groups"] = groups
    contact.fields.update(contact_fields(p.values))
    return call.answer(formats.ok())


def delete_contact(call: Call, book: Book) -> web.StreamResponse:
    contact = _find_contact(call, book)
    if contact is None:
        return call.fail("not_found")
    book.contacts.remove(contact.id)
    return call.answer(formats.ok())


def list_contacts(call: Call, book: Book) -> web.StreamResponse:
    p = call.params
    search = p.get("search").strip().lower()
    rows, json_rows = [], []
    for contact in book.contacts:
        f = contact.fields
        if p.has("after_id") and contact.id <= p.number("after_id"):
            continue
        if p.has("grp") and p.number("grp") not in f["groups"]:
            continue
        if search and search not in " ".join(str(v) for v in (f["phone"], f["mail"], f.get("name", ""))).lower():
            continue
        row, typed = _contact_row(f)
        rows.append(row)
        json_rows.append(typed)
    if not rows:
        return call.fail("not_found")
    return call.answer(formats.listing(rows, "contact", json_rows))


def _contact_row(f: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed's contact fields; e-mail contacts show <mail>/<mail_other> instead of phones.
    `group`: the group id (0 when none; several ids comma-joined, a string in JSON: GUESS)."""
    is_mail = bool(f["mail"]) and not f["numbers"]
    groups = f["groups"]
    group_text = ",".join(str(g) for g in groups) or "0"
    row = {
        "mail" if is_mail else "phone": f["mail"] if is_mail else f["phone"],
        "name": f.get("name", ""),
        "group": group_text,
        "first_name": f.get("first_name", ""),
        "last_name": f.get("last_name", ""),
        "middle_name": f.get("middle_name", ""),
        "birthday": f.get("birthday", ""),
        "id": f.get("myid", ""),  # "id of the contact, assigned by the Client" (seed)
        "comments": f.get("comments", ""),
        "tags": f.get("tags", ""),
        "mail_other" if is_mail else "phone_other": f.get("phone_other", ""),
    }
    typed = dict(row)
    typed["group"] = groups[0] if len(groups) == 1 else (0 if not groups else group_text)
    return row, typed


# -- groups ---------------------------------------------------------------------------------------
def add_group(call: Call, book: Book) -> web.StreamResponse:
    p = call.params
    if not p.get("name").strip():
        return call.fail("params")
    record = book.groups.add({"name": p.get("name").strip(), "number": p.number("num"), "type": p.number("type")})
    return call.answer(formats.created(record.id, "group"), "accepted")


def change_group(call: Call, book: Book) -> web.StreamResponse:
    p = call.params
    group = book.group(p.number("grp")) if p.has("grp") else None
    if not p.has("grp"):
        return call.fail("params")
    if group is None:
        return call.fail("not_found")
    if p.get("name").strip():
        group.fields["name"] = p.get("name").strip()
    if p.has("num"):
        group.fields["number"] = p.number("num")
    return call.answer(formats.ok())


def delete_group(call: Call, book: Book) -> web.StreamResponse:
    p = call.params
    if not p.has("grp"):
        return call.fail("params")
    group_id = p.number("grp")
    if not book.groups.remove(group_id):
        return call.fail("not_found")
    for contact in book.members(group_id):
        contact.fields["groups"] = [g for g in contact.fields["groups"] if g != group_id]
    return call.answer(formats.ok())


def list_groups(call: Call, book: Book) -> web.StreamResponse:
    rows, json_rows = [], []
    for group in book.groups:
        count = len(book.members(group.id))
        rows.append({"id": group.id, "name": group.fields["name"], "number": group.fields["number"], "cnt": count})
        json_rows.append({"id": group.id, "name": group.fields["name"], "number": group.fields["number"], "cnt": str(count)})
    if not rows:
        return call.fail("not_found")
    return call.answer(formats.listing(rows, "group", json_rows))


def move_group(call: Call, book: Book) -> web.StreamResponse:
    """move_group=1 moves the contact to the group, 2 adds the group, 3 takes it away [CLI P4]."""
    p = call.params
    if not p.has("grp"):
        return call.fail("params")
    group_id = p.number("grp")
    contact = _find_contact(call, book)
    if contact is None or book.group(group_id) is None:
        return call.fail("not_found")
    groups = contact.fields["groups"]
    mode = p.get("move_group").strip()
    if mode == "1":
        contact.fields["groups"] = [group_id]
    elif mode == "2" and group_id not in groups:
        contact.fields["groups"] = groups + [group_id]
    elif mode == "3":
        contact.fields["groups"] = [g for g in groups if g != group_id]
    return call.answer(formats.ok())


# -- blacklist ------------------------------------------------------------------------------------
def _black_target(call: Call) -> str | None:
    phone, mail = _target(call)
    return recipients.mail(mail) if mail and not phone else recipients.recipient(phone)


def add_black(call: Call, book: Book) -> web.StreamResponse:
    target = _black_target(call)
    if target is None:
        return call.fail("params")
    comment = call.params.get("cmt") or call.params.get("comment")
    record = book.add_black(target, call.params.number("type"), comment)
    return call.answer(formats.created(record.id, "phone"), "accepted")


def delete_black(call: Call, book: Book) -> web.StreamResponse:
    target = _black_target(call)
    if target is None:
        return call.fail("params")
    if not book.remove_black(target):
        return call.fail("not_found")
    return call.answer(formats.ok())


def list_black(call: Call, book: Book) -> web.StreamResponse:
    rows, json_rows = [], []
    for record in book.black_entries():
        f = record.fields
        rows.append({"id": record.id, "phone": f["phone"], "type": f["type"], "comment": f["comment"]})
        json_rows.append({"id": record.id, "phone": f["phone"], "type": int(f["type"]), "comment": f["comment"]})
    if not rows:
        return call.fail("not_found")
    return call.answer(formats.listing(rows, "record", json_rows))


# Group and blacklist actions first: `del_group=1` must not read as `del=1`.
ACTIONS: dict[str, Callable[[Call, Book], web.StreamResponse]] = {
    "add_group": add_group,
    "chg_group": change_group,
    "del_group": delete_group,
    "get_group": list_groups,
    "move_group": move_group,
    "add_black": add_black,
    "del_black": delete_black,
    "get_black": list_black,
    "add": add_contact,
    "chg": change_contact,
    "del": delete_contact,
    "get": list_contacts,
}

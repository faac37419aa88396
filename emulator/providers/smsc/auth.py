"""Who is calling: `login` + `psw` (the password or the lowercase hex MD5 of it), or `apikey`,
or an empty `login` with the API key in `psw`.

Sources: login/psw/apikey [DOC D1, D3]; MD5 passwords are what django-fs-smsc and node-smsc
send by default [CLI P3, P4]; the empty-login quirk is stated for SMTP and relied on by the
official PHP library over HTTP [DOC D7, OFF-LIB R2].
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Iterable

from ...core.model import Account


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _by_apikey(accounts: Iterable[Account], key: str) -> Account | None:
    return next((a for a in accounts if a.secrets.get("apikey") and _same(a.secrets["apikey"], key)), None)


def authenticate(accounts: list[Account], values: dict[str, str]) -> Account | None:
    login = values.get("login", "")
    psw = values.get("psw", "")
    apikey = values.get("apikey", "")
    if apikey:
        return _by_apikey(accounts, apikey)
    if not login:
        return _by_apikey(accounts, psw) if psw else None
    for account in accounts:  # a loop, not a generator: every request authenticates
        if account.login == login:
            break
    else:
        return None
    if not psw:
        return None
    password = account.secrets.get("password", "")
    if password and (_same(psw, password) or _same(psw, md5_hex(password))):
        return account
    return None


def claimed_login(accounts: list[Account], values: dict[str, str]) -> str | None:
    """The login a request speaks for, before its password is checked (for in-flight counting)."""
    if values.get("login"):
        return values["login"]
    key = values.get("apikey") or values.get("psw")
    if key:
        account = _by_apikey(accounts, key)
        return account.login if account else None
    return None

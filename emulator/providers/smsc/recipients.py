"""send.php `phones`: a list split by `,` or `;`, `+` optional, `G<n>` for a contact group, or
e-mail addresses with mail=1 [DOC D1]."""
from __future__ import annotations

import re

_SPLIT = re.compile(r"[,;\n]")
_GROUP = re.compile(r"^[Gg](\d{1,10})$")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_DECORATION = re.compile(r"[\s()\-.]")


def split(phones: str) -> list[str]:
    if "," not in phones and ";" not in phones and "\n" not in phones:  # one recipient, the usual send
        token = phones.strip()
        return [token] if token else []
    return [token.strip() for token in _SPLIT.split(phones) if token.strip()]


def group_ref(token: str) -> int | None:
    if token[:1] not in ("G", "g"):  # a number, the usual token
        return None
    match = _GROUP.match(token)
    return int(match[1]) if match else None


def phone(token: str) -> str | None:
    """Digits of a valid number, or None. SMSC corrects numbers sent without `+`; we correct
    the Russian trunk prefix 8XXXXXXXXXX -> 7XXXXXXXXXX (GUESS: the correction rules are not
    published). Length 9..15 digits (E.164; a real answer refuses "123": "invalid number")."""
    if not token.isdigit():  # digits alone have nothing to strip
        token = _DECORATION.sub("", token)
    if token.startswith("+"):
        token = token[1:]
    if not token.isdigit() or not 9 <= len(token) <= 15:
        return None
    if len(token) == 11 and token.startswith("8"):
        token = "7" + token[1:]
    return token


def mail(token: str) -> str | None:
    token = token.strip()
    return token.lower() if _EMAIL.match(token) else None


def recipient(token: str) -> str | None:
    """A phone or an e-mail address as messages and lookups store it."""
    return mail(token) if "@" in token else phone(token)

"""send.php `translit`: Cyrillic rewritten in Latin letters before sending (cheaper GSM-7 parts)."""
from __future__ import annotations

from pathlib import Path


from ...resources import read_yaml
from ...core.validation import schemas_root

TABLES: dict[str, dict[str, str]] = read_yaml(
    Path(schemas_root()) / "smsc" / "translit.yaml"
)


def transliterate(text: str, mode: str) -> str:
    table = TABLES.get(mode)
    if not table:
        return text
    out = []
    for ch in text:
        low = ch.lower()
        if low in table:
            latin = table[low]
            out.append(latin.capitalize() if ch != low and latin.islower() else latin)
        else:
            out.append(ch)
    return "".join(out)

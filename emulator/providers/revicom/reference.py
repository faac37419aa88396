"""The Revicom reference tables of schemas/revicom/ (References page, callback events, countries),
loaded once. Data lives in the YAML files; this module only answers questions about it."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from ...core.validation import schemas_root


@lru_cache(maxsize=None)
def tables() -> dict[str, Any]:
    return yaml.safe_load((schemas_root() / "revicom" / "references.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _countries() -> dict[str, tuple[str, str]]:
    raw = yaml.safe_load((schemas_root() / "revicom" / "countries.yaml").read_text(encoding="utf-8"))
    return {str(prefix): (code, name) for prefix, (code, name) in raw.items()}


def country_of(number: str) -> tuple[str, str] | None:
    """(ISO-3166 alpha-2, English name) of a subscriber number, by its longest dialling prefix."""
    countries = _countries()
    for length in range(min(len(number), 4), 0, -1):
        found = countries.get(number[:length])
        if found:
            return found
    return None


def traffic_type(channel: str) -> str:
    by_channel = tables()["traffic_type_by_channel"]
    return by_channel.get(channel, by_channel["*"])


def reports_reads(channel: str) -> bool:
    return channel in tables()["read_channels"]


def default_error_code(canonical_status: str) -> int | None:
    return tables()["default_error_codes"].get(canonical_status)


def callback_event_of(status_name: str) -> str | None:
    return tables()["callback_event_of"].get(status_name)

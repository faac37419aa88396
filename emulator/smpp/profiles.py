"""Per-provider SMPP facts, read from schemas/<provider>/smpp.yaml: who may bind, how message
ids look, how an error key becomes a command_status, how a receipt reads. Code stays generic;
adding SMPP to a provider is one YAML file."""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core.model import Account
from ..core.validation import schemas_root
from .codec import STATUS

FILE_NAME = "smpp.yaml"


@dataclass
class Profile:
    provider: str
    data: dict[str, Any]

    @property
    def channel(self) -> str:
        return str(self.data["channel"])

    @property
    def price_as(self) -> str:
        return str(self.data.get("price_as", self.channel))

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def system_id(self, account: Account) -> str:
        return account.login if self.data["credentials"]["system_id"] == "login" else account.secrets.get(self.data["credentials"]["system_id"], "")

    def password(self, account: Account) -> str | None:
        for name in self.data["credentials"]["password"]:
            if account.secrets.get(name):
                return account.secrets[name]
        return None

    def command_status(self, error_key: str | None) -> int:
        name = (self.data.get("errors") or {}).get(error_key or "", self.data.get("default_error", "ESME_RSUBMITFAIL"))
        return STATUS[name]


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def load_profiles(root: Path | None = None) -> dict[str, Profile]:
    """Every provider that has a schemas/<provider>/smpp.yaml."""
    root = root or schemas_root()
    profiles = {}
    for path in sorted(Path(root).glob(f"*/{FILE_NAME}")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key in ("provider", "channel", "credentials", "message_id", "receipt"):
            if key not in data:
                raise ValueError(f"{path}: missing {key!r}")
        for name in list((data.get("errors") or {}).values()) + [data.get("default_error", "ESME_RSUBMITFAIL")]:
            if name not in STATUS:
                raise ValueError(f"{path}: unknown command_status {name!r}")
        profiles[data["provider"]] = Profile(data["provider"], data)
    return profiles


def render(template: Any, values: dict[str, Any]) -> Any:
    """Fill "{name}" placeholders of a YAML template; a string that is exactly one placeholder
    keeps the value's own type (an integer id stays an integer)."""
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1] in values:
            return values[template[1:-1]]
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            return template
    return template

"""An account's contacts, contact groups and blacklist ("black list"), kept in engine
directories (auto-numbered records) and, for the blacklist, in the engine's opt-out set.

The opt-out set is the truth for "may we send to this number": a subscriber answering STOP is
opted out by core, and shows up here as a blacklist record of type 0 with comment "STOP".
Blacklist types [DOC seed, CLI R1]: 0 all messages, 1 mass mailings only, 2 single messages only.
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

from ...core.engine import Engine
from ...core.store import Record
from . import recipients


class Book:
    """The directories are looked up when first used: a send to a number nobody opted out of
    needs only the opt-out set."""

    def __init__(self, engine: Engine, provider: str, login: str, optouts: set[str] | None = None) -> None:
        """`optouts`: the account's opt-out set when the caller has it already."""
        self._engine, self._provider, self._login = engine, provider, login
        self.optouts = engine.optouts(provider, login) if optouts is None else optouts

    @cached_property
    def contacts(self):
        return self._engine.directory(self._provider, self._login, "contacts")

    @cached_property
    def groups(self):
        return self._engine.directory(self._provider, self._login, "groups")

    @cached_property
    def black(self):
        return self._engine.directory(self._provider, self._login, "blacklist")

    # -- contacts ---------------------------------------------------------------------------
    @staticmethod
    def numbers(text: str) -> list[str]:
        """A contact's `phone` is "a list of numbers with any separator" (seed)."""
        found: list[str] = []
        for token in recipients.split(text):
            whole = recipients.phone(token)
            for number in [whole] if whole else [recipients.phone(part) for part in token.split()]:
                if number and number not in found:
                    found.append(number)
        return found

    def contact(self, phone: str = "", mail: str = "") -> Record | None:
        if mail:
            wanted = mail.strip().lower()
            return next((c for c in self.contacts if c.fields.get("mail") == wanted), None)
        wanted_numbers = self.numbers(phone)
        if not wanted_numbers:
            return None
        return next((c for c in self.contacts if wanted_numbers[0] in c.fields["numbers"]), None)

    def members(self, group_id: int) -> list[Record]:
        return [c for c in self.contacts if group_id in c.fields["groups"]]

    # -- groups -----------------------------------------------------------------------------
    def group(self, group_id: int) -> Record | None:
        return self.groups.get(group_id)

    def group_for_send(self, ref: int) -> Record | None:
        """`G<n>` names a group by its mailing number, else by its id (GUESS: both accepted)."""
        by_number = next((g for g in self.groups if str(g.fields.get("number")) == str(ref)), None)
        return by_number or self.groups.get(ref)

    # -- blacklist --------------------------------------------------------------------------
    def black_entries(self) -> list[Record]:
        listed = {r.fields["phone"] for r in self.black}
        for number in sorted(self.optouts - listed):
            self.black.add({"phone": number, "type": 0, "comment": "STOP"})
        return list(self.black)

    def black_entry(self, number: str) -> Record | None:
        return next((r for r in self.black_entries() if r.fields["phone"] == number), None)

    def add_black(self, number: str, kind: int, comment: str) -> Record:
        existing = self.black_entry(number)
        if existing is not None:
            existing.fields.update({"type": kind, "comment": comment or existing.fields["comment"]})
            return existing
        self.optouts.add(number)
        return self.black.add({"phone": number, "type": kind, "comment": comment})

    def remove_black(self, number: str) -> bool:
        entry = self.black_entry(number)
        if entry is None:
            return False
        self.black.remove(entry.id)
        self.optouts.discard(number)
        return True

    def refuses(self, number: str, mass: bool) -> bool:
        """Whether the blacklist stops a message to `number` (a mass mailing or a single one)."""
        if number not in self.optouts:
            return False
        entry = self.black_entry(number)
        kind = int(entry.fields["type"]) if entry else 0
        return kind == 0 or (kind == 1 and mass) or (kind == 2 and not mass)


def contact_fields(values: dict[str, str]) -> dict[str, Any]:
    """phones.php parameter names -> contact fields (add=1 / chg=1) [DOC D5, CLI R1]."""
    names = {
        "name": "name",
        "fnm": "first_name",
        "lnm": "last_name",
        "mnm": "middle_name",
        "bd": "birthday",
        "myid": "myid",
        "cmt": "comments",
        "tags": "tags",
        "pho": "phone_other",
    }
    return {field: values[param] for param, field in names.items() if param in values}

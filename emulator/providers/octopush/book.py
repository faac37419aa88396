"""An Octopush account's contacts, contact lists, tags and the campaigns prepared on them, kept
in engine directories (so POST /_emulator/reset forgets them with everything else).

Documented (dev.octopush.com "Create a contact list", "Add a contact", "Send SMS to contacts",
"Status of a campaign to existing contacts", "Confirm SMS on contacts", "Cancel an SMS campaign
on contacts"): a contact is keyed by its phone number and may belong to lists and carry tags;
a campaign on a list or a tag is created, then confirmed (or cancelled) by its ticket_number.
Bounded (GUESS on the numbers, as the legacy API had "maximum number of lists" (301) and "too
many contacts" (305) errors): MAX_LISTS lists, MAX_CONTACTS contacts, MAX_CAMPAIGNS campaigns
waiting for confirmation per account.
"""
from __future__ import annotations

from typing import Any

from ...core.engine import Engine
from ...core.store import Record
from .rules import Rejected, normalise_phone, personal_params

MAX_LISTS = 100
MAX_CONTACTS = 50_000
MAX_CAMPAIGNS = 100


class Book:
    def __init__(self, engine: Engine, provider: str, login: str) -> None:
        self.lists = engine.directory(provider, login, "contact_lists")
        self.contacts = engine.directory(provider, login, "contacts")
        self.campaigns = engine.directory(provider, login, "list_campaigns")

    # -- lists ------------------------------------------------------------------------------
    def has_list(self, name: str) -> bool:
        return bool(self.lists.find(name=name))

    def create_list(self, name: str, exist_ok: bool = False) -> None:
        if self.has_list(name):
            if exist_ok:
                return
            raise Rejected("list_exists")
        if len(self.lists) >= MAX_LISTS:
            raise Rejected("too_many_lists")
        self.lists.add({"name": name})

    # -- contacts -----------------------------------------------------------------------------
    def add_contacts(self, body: dict[str, Any]) -> int:
        """contact/create: every contact with an international number is stored (merged on its
        number unless do_not_overwrite), then attached to the named lists and tags."""
        lists = [n for n in [body.get("list_name"), *(body.get("list_names") or [])] if n]
        tags = [n for n in [body.get("tag_name"), *(body.get("tag_names") or [])] if n]
        for name in lists:
            self.create_list(name, exist_ok=True)  # "the list name you want to create"
        added = 0
        for item in body["contacts"]:
            phone = normalise_phone(item.get("phone_number")) if isinstance(item, dict) else None
            if phone is None:
                continue  # GUESS: numbers that are not international are skipped
            record = self.contact(phone)
            if record is None:
                if len(self.contacts) >= MAX_CONTACTS:
                    raise Rejected("too_many_contacts")
                record = self.contacts.add({"phone": phone, "params": {}, "lists": [], "tags": []})
            elif body.get("do_not_overwrite"):
                added += 1
                continue
            record.fields["params"].update(personal_params(item))
            if body.get("un_list"):
                record.fields["lists"] = []
            if body.get("un_tag"):
                record.fields["tags"] = []
            record.fields["lists"] = list(dict.fromkeys(record.fields["lists"] + lists))
            record.fields["tags"] = list(dict.fromkeys(record.fields["tags"] + tags))
            added += 1
        return added

    def contact(self, phone: str) -> Record | None:
        found = self.contacts.find(phone=phone)
        return found[0] if found else None

    def members(self, list_name: str | None, tag_name: str | None) -> list[Record]:
        """Contacts of a list, or carrying a tag (both given: of the list and carrying the tag)."""
        if list_name and not self.has_list(list_name):
            raise Rejected("unknown_list")
        chosen = [c for c in self.contacts if (not list_name or list_name in c.fields["lists"]) and (not tag_name or tag_name in c.fields["tags"])]
        if tag_name and not list_name and not chosen and not any(tag_name in c.fields["tags"] for c in self.contacts):
            raise Rejected("unknown_tag")
        return chosen

    # -- campaigns on a list or a tag -----------------------------------------------------------------
    def add_campaign(self, fields: dict[str, Any]) -> Record:
        if len(self.campaigns) >= MAX_CAMPAIGNS:
            raise Rejected("too_many_campaigns")
        return self.campaigns.add(fields)

    def campaign(self, ticket: Any) -> Record:
        found = self.campaigns.find(ticket=ticket) if isinstance(ticket, str) and ticket else []
        if not found:
            raise Rejected("campaign_not_found")
        return found[0]

    def close(self, record: Record) -> None:
        self.campaigns.remove(record.id)

"""Who acts: one value for a person in Teams, an unknown clicker, or a system sender.

Every action names its actor twice: in the audit log (`audit_id`, a stable id) and in a
case's history and on cards (`display_name`, what people read). Both spellings are part
of what is stored, so they never change:

===========================  ===========================  ==========================
actor                        `audit_id`                   `display_name`
===========================  ===========================  ==========================
a person of the directory    ``staff:<aad object id>``    their name
an unknown clicker           ``aad:<aad object id>``      the same as `audit_id`
                             (``aad:unknown`` without id)
the intake (a sending        ``intake:<sender>``          the same as `audit_id`
system's token name)
a command (``cli:purge``),   as given                     the same as `audit_id`
a job (``system:daily``),
a reader (``api:<sender>``)
===========================  ===========================  ==========================

Clinicians never read an internal id: `shown_name` turns a stored spelling into what a
card shows (a person's name as it is, a system in Swedish words, an unknown clicker as
"okänd användare"), for rows written before and after this rule alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bot.directory.models import Staff

__all__ = ["SHOWN_SYSTEMS", "UNKNOWN_PERSON", "Actor", "shown_name"]

SHOWN_SYSTEMS: Final[dict[str, str]] = {
    "intake": "Integrationsmotorn",  # the sending system of the DXA answers
    "system": "systemet",  # a background job
    "cli": "systemet",  # an operator's command
    "api": "systemet",  # a reader of the case or report API
}
"""The Swedish word shown for each kind of sender that is not a person (by prefix)."""

UNKNOWN_PERSON: Final = "okänd användare"

_PREFIX = re.compile(r"([a-z]+):")
_AAD_ID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)


def shown_name(stored: str) -> str:
    """Who, as a clinician reads it, from a stored `display_name` or `audit_id`: a
    person's name unchanged; a system, job, command or API reader as its Swedish word
    (`SHOWN_SYSTEMS`); an unknown clicker, a bare id or an unknown prefix as
    `UNKNOWN_PERSON`. Never an internal id."""
    prefix = _PREFIX.match(stored)
    if prefix is not None:
        return SHOWN_SYSTEMS.get(prefix.group(1), UNKNOWN_PERSON)
    if _AAD_ID.search(stored) or not stored.strip():
        return UNKNOWN_PERSON
    return stored


@dataclass(frozen=True)
class Actor:
    """The one who acts. Build it with a constructor below; `person` is the directory row
    of a person (None for anyone else), `aad_object_id` the id Teams gave for a click,
    `system` the name of a sender that is not a person."""

    person: Staff | None = None
    aad_object_id: str | None = None
    system: str | None = None

    @classmethod
    def of(cls, person: Staff) -> Actor:
        """A person of the directory."""
        return cls(person=person, aad_object_id=person.aad_object_id)

    @classmethod
    def clicker(cls, person: Staff | None, aad_object_id: str | None) -> Actor:
        """Whoever clicked or wrote in Teams: `person` when the directory knows their
        `aad_object_id`, else only the id (None when Teams sent none)."""
        return cls(person=person, aad_object_id=aad_object_id)

    @classmethod
    def intake(cls, sender: str) -> Actor:
        """The sending system of a DXA answer, by the name of its token."""
        return cls(system=f"intake:{sender}")

    @classmethod
    def cli(cls, command: str) -> Actor:
        """An operator's `frakturkedjan` command, e.g. ``purge``."""
        return cls(system=f"cli:{command}")

    @classmethod
    def job(cls, name: str) -> Actor:
        """A background job of the service, e.g. ``daily``."""
        return cls(system=f"system:{name}")

    @classmethod
    def reader(cls, sender: str) -> Actor:
        """A reader of the case or report API, by the name of its token."""
        return cls(system=f"api:{sender}")

    @classmethod
    def named(cls, name: str) -> Actor:
        """A sender known only by the name the audit log stores for it (tests, scripts)."""
        return cls(system=name)

    @property
    def audit_id(self) -> str:
        """Who, as the audit log stores it."""
        if self.person is not None:
            return f"staff:{self.person.aad_object_id}"
        if self.system is not None:
            return self.system
        return f"aad:{self.aad_object_id or 'unknown'}"

    @property
    def display_name(self) -> str:
        """Who, as a case's history stores it (cards show it through `shown_name`)."""
        return self.person.name if self.person is not None else self.audit_id

    @property
    def staff(self) -> Staff:
        """The person acting; only for actions a role check has let through (a person
        holds every role), so anyone else is a programming error (RuntimeError)."""
        if self.person is None:
            raise RuntimeError(f"{self.audit_id} is not a person of the directory")
        return self.person

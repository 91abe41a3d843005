"""The Patient: identity (personnummer or samordningsnummer), name, birth date, gender
and protected identity; and person names (HumanName), which practitioners have too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.core.identifiers import (
    IdentifierError,
    IdentityKind,
    PersonalIdentity,
    kind_for_system,
    parse_personal_number,
)
from bot.intake.fhir.access import Json, Reader
from bot.intake.fhir.bundle import Resource
from bot.intake.fhir.codes import PROTECTED_IDENTITY_CODE
from bot.intake.fhir.values import DATE, make_date
from bot.intake.limits import NAME_MAX

__all__ = ["PatientInfo", "read_name", "read_patient"]

_GENDERS = frozenset({"male", "female", "other", "unknown"})


@dataclass(frozen=True)
class PatientInfo:
    """The patient as sent. ``birth_date`` is ``birthDate`` (None when absent or only a
    year/month); ``name`` is "Given Family" from the official (else first) name, or its
    ``text``."""

    identity: PersonalIdentity
    name: str | None
    family: str | None
    given: str | None
    birth_date: date | None
    gender: str | None
    protected: bool


def read_patient(reader: Reader, resource: Resource, *, today: date) -> PatientInfo | None:
    """The patient; None without a valid identity number (the problems say why). The first
    valid personnummer wins over a samordningsnummer; ``today`` dates the number checks."""
    body, path = resource.body, resource.path
    identity: PersonalIdentity | None = None
    seen_kind = False
    for identifier_path, identifier in reader.objects(body, "identifier", path):
        system = reader.string(identifier, "system", identifier_path)
        kind: IdentityKind | None = kind_for_system(system) if system is not None else None
        if kind is None:
            continue
        seen_kind = True
        value = reader.string(identifier, "value", identifier_path, required=True)
        if value is None:
            continue
        try:
            parsed = parse_personal_number(value, kind=kind, today=today)
        except IdentifierError as error:
            reader.problem(f"{identifier_path}.value", str(error))
            continue
        if identity is None or (
            identity.kind == "samordningsnummer" and parsed.kind == "personnummer"
        ):
            identity = parsed
    if not seen_kind and isinstance(body.get("identifier", []), list):
        reader.problem(
            f"{path}.identifier",
            "a personnummer or samordningsnummer identifier is required",
        )

    name, family, given = read_name(reader, body, path)

    birth_date = None
    birth_text = reader.string(body, "birthDate", path)
    if birth_text is not None:
        match = DATE.fullmatch(birth_text)
        if match is None:
            reader.problem(f"{path}.birthDate", "expected a date such as 1952-03-14")
        elif match[3] is not None:
            birth_date = make_date(int(match[1]), int(match[2]), int(match[3]))
            if birth_date is None:
                reader.problem(f"{path}.birthDate", "is not a valid date")

    gender = reader.string(body, "gender", path)
    if gender is not None and gender not in _GENDERS:
        reader.problem(f"{path}.gender", "expected male, female, other or unknown")
        gender = None

    protected = False
    meta = reader.obj(body, "meta", path)
    if meta is not None:
        for label_path, label in reader.objects(meta, "security", f"{path}.meta"):
            if reader.string(label, "code", label_path) == PROTECTED_IDENTITY_CODE:
                protected = True

    if identity is None:
        return None
    return PatientInfo(
        identity=identity,
        name=name,
        family=family,
        given=given,
        birth_date=birth_date,
        gender=gender,
        protected=protected,
    )


def read_name(reader: Reader, body: Json, path: str) -> tuple[str | None, str | None, str | None]:
    """(display name, family, given) from the official, else the first, HumanName.

    The display name is "Given Family" when either part is present, else ``text``.
    """
    names: list[tuple[bool, tuple[str | None, str | None, str | None]]] = []
    for name_path, name in reader.objects(body, "name", path):
        use = reader.string(name, "use", name_path)
        family = reader.string(name, "family", name_path)
        given_parts = reader.strings(name, "given", name_path)
        text = reader.string(name, "text", name_path)
        given = " ".join(part.strip() for part in given_parts if part.strip()) or None
        family = family.strip() if family is not None else None
        parts = [part for part in (given, family) if part]
        display = " ".join(parts) if parts else (text.strip() if text else None)
        if display is not None:
            reader.bounded(display, name_path, NAME_MAX)
        names.append((use == "official", (display, family, given)))
    for official, name_parts in names:
        if official:
            return name_parts
    return names[0][1] if names else (None, None, None)

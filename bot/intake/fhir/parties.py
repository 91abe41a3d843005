"""The receiving unit (an Organization with an HSA-id) and the requesting practitioner,
found through the referral."""

from __future__ import annotations

import re

from bot.intake.fhir.bundle import Bundle, Resource
from bot.intake.fhir.codes import HSA_SYSTEM
from bot.intake.fhir.patient import read_name
from bot.intake.limits import NAME_MAX

__all__ = ["Parties"]

_HSA_ID = re.compile(r"SE[0-9]{10,12}-[A-Za-z0-9]{1,31}")
_REQUESTER_TYPES = frozenset(
    {"Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson", "Device"}
)


class Parties:
    """Reads the unit and the practitioner of one bundle; each resource's HSA-id is read
    once, so its problems are reported once."""

    def __init__(self, bundle: Bundle) -> None:
        self._bundle = bundle
        self._hsa_ids: dict[str, str | None] = {}
        self._bad_hsa: set[str] = set()  # resources with an HSA-id identifier, but invalid

    def hsa_id(self, resource: Resource) -> str | None:
        """The resource's first valid HSA-id, or None."""
        if resource.path in self._hsa_ids:
            return self._hsa_ids[resource.path]
        bundle = self._bundle
        found: str | None = None
        for identifier_path, identifier in bundle.objects(
            resource.body, "identifier", resource.path
        ):
            if bundle.string(identifier, "system", identifier_path) != HSA_SYSTEM:
                continue
            value = bundle.string(identifier, "value", identifier_path, required=True)
            if value is not None and not _HSA_ID.fullmatch(value):
                bundle.problem(f"{identifier_path}.value", "is not a valid HSA-id")
                value = None
            if value is None:
                self._bad_hsa.add(resource.path)
            elif found is None:
                found = value
        self._hsa_ids[resource.path] = found
        return found

    def find_unit(self, referral: Resource | None, requester: Resource | None) -> Resource | None:
        """The receiving unit: the Organization with an HSA-id among the referral's
        performers, else the only Organization with an HSA-id that is not the
        requester."""
        bundle = self._bundle
        if referral is not None:
            performers: list[Resource] = []
            for ref_path, ref in bundle.objects(referral.body, "performer", referral.path):
                resource = bundle.resolve_reference(ref, ref_path, None, required=False)
                if (
                    resource is not None
                    and resource.type == "Organization"
                    and resource not in performers
                ):
                    performers.append(resource)
            if performers:
                with_hsa = [org for org in performers if self.hsa_id(org) is not None]
                if len(with_hsa) == 1:
                    return with_hsa[0]
                if len(with_hsa) > 1:
                    bundle.problem(
                        f"{referral.path}.performer",
                        "refers to several Organizations with an HSA-id; "
                        "exactly one receiving unit is allowed",
                    )
                elif not any(org.path in self._bad_hsa for org in performers):
                    bundle.problem(
                        f"{performers[0].path}.identifier",
                        f"the receiving unit (ServiceRequest.performer) has no HSA-id "
                        f"({HSA_SYSTEM})",
                    )
                return None
        candidates = [
            org
            for org in bundle.of_type("Organization")
            if org is not requester and self.hsa_id(org) is not None
        ]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            bundle.problem(
                "$.entry",
                f"no receiving unit: an Organization with an HSA-id ({HSA_SYSTEM}) is required",
            )
        else:
            bundle.problem(
                "$.entry",
                f"{len(candidates)} Organizations with an HSA-id and no ServiceRequest.performer "
                "naming the receiving unit",
            )
        return None

    def read_unit(self, unit: Resource) -> tuple[str, str | None] | None:
        """(HSA-id, name) of the unit; None without a valid HSA-id."""
        hsa_id = self.hsa_id(unit)
        if hsa_id is None:
            return None
        return hsa_id, self._bundle.string(unit.body, "name", unit.path, max_length=NAME_MAX)

    def find_requester(self, referral: Resource | None) -> Resource | None:
        """The resource the referral's ``requester`` refers to, if it is in the bundle."""
        if referral is None or "requester" not in referral.body:
            return None
        return self._bundle.resolve(
            referral.body, "requester", referral.path, _REQUESTER_TYPES, required=False
        )

    def read_requester(self, requester: Resource | None) -> tuple[str | None, str | None]:
        """(HSA-id, name) of the requesting Practitioner (directly or through a
        PractitionerRole); (None, None) for any other requester."""
        resource = requester
        if resource is not None and resource.type == "PractitionerRole":
            resource = self._bundle.resolve(
                resource.body,
                "practitioner",
                resource.path,
                frozenset({"Practitioner"}),
                required=False,
            )
        if resource is None or resource.type != "Practitioner":
            return None, None
        name, _, _ = read_name(self._bundle, resource.body, resource.path)
        return self.hsa_id(resource), name

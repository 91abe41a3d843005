"""The bundle: its envelope, its entries' resources, and references between them.

References resolve by ``Type/id`` or by an entry's ``fullUrl``; a key used twice is a
problem at its second use.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.intake.fhir.access import Json, Reader, describe, json_type
from bot.intake.problems import ProblemList

__all__ = ["BUNDLE_TYPES", "Bundle", "Resource"]

BUNDLE_TYPES: frozenset[str] = frozenset({"collection", "message", "transaction"})


@dataclass(eq=False)
class Resource:
    """A resource of the bundle; compared by identity."""

    path: str
    type: str
    body: Json


class Bundle(Reader):
    """A `Reader` over one bundle that knows its resources and resolves references."""

    def __init__(self, problems: ProblemList) -> None:
        super().__init__(problems)
        self.resources: list[Resource] = []
        self.by_reference: dict[str, Resource] = {}

    def index(self, data: object) -> Json | None:
        """Check the envelope (a ``Bundle`` of a known type with an ``entry`` array) and
        index its entries; the bundle object, or None when there is nothing to read."""
        if not isinstance(data, dict):
            self.problem("$", f"expected a FHIR Bundle object, got {json_type(data)}")
            return None
        resource_type = data.get("resourceType")
        if resource_type != "Bundle":
            self.problem("$.resourceType", f"expected 'Bundle', got {describe(resource_type)}")
            return None
        bundle_type = data.get("type")
        if not isinstance(bundle_type, str) or bundle_type not in BUNDLE_TYPES:
            self.problem(
                "$.type",
                f"expected collection, message or transaction, got {describe(bundle_type)}",
            )
        entries = self.array(data, "entry", "$", required=True)
        if entries is None:
            return None
        self._index_entries(entries)
        return data

    def _index_entries(self, entries: list[object]) -> None:
        first_path: dict[str, str] = {}
        for index, entry in enumerate(entries):
            entry_path = f"$.entry[{index}]"
            if not isinstance(entry, dict):
                self.problem(entry_path, f"expected an object, got {json_type(entry)}")
                continue
            full_url = self.string(entry, "fullUrl", entry_path)
            body = self.obj(entry, "resource", entry_path, required=True)
            if body is None:
                continue
            path = f"{entry_path}.resource"
            resource_type = self.string(body, "resourceType", path, required=True)
            if resource_type is None:
                continue
            resource = Resource(path, resource_type, body)
            self.resources.append(resource)
            keys: list[tuple[str, str]] = []
            if full_url is not None:
                keys.append((full_url, f"{entry_path}.fullUrl"))
            resource_id = self.string(body, "id", path)
            if resource_id is not None:
                keys.append((f"{resource_type}/{resource_id}", f"{path}.id"))
            for key, key_path in keys:
                if key in self.by_reference:
                    if self.by_reference[key] is not resource:
                        self.problem(key_path, f"duplicate of {first_path[key]}")
                    continue
                self.by_reference[key] = resource
                first_path[key] = key_path

    def of_type(self, resource_type: str) -> list[Resource]:
        """The bundle's resources of one type, in entry order."""
        return [r for r in self.resources if r.type == resource_type]

    def resolve(
        self,
        holder: Json,
        key: str,
        path: str,
        expected: frozenset[str] | None,
        *,
        required: bool,
    ) -> Resource | None:
        """Resolve the Reference ``holder[key]`` to a resource in the bundle.

        With ``required`` a missing, unresolvable or wrongly typed target is a problem;
        otherwise only a wrongly typed target is. ``expected`` None accepts any type.
        """
        ref = self.obj(holder, key, path, required=required)
        if ref is None:
            return None
        return self.resolve_reference(ref, f"{path}.{key}", expected, required=required)

    def resolve_reference(
        self, ref: Json, path: str, expected: frozenset[str] | None, *, required: bool
    ) -> Resource | None:
        """Resolve the Reference object ``ref`` (at ``path``), as `resolve` does."""
        target = self.string(ref, "reference", path, required=required)
        if target is None:
            return None
        resource = self.by_reference.get(target)
        wanted = " or ".join(sorted(expected)) if expected is not None else "any type"
        if resource is None:
            if required:
                self.problem(
                    f"{path}.reference",
                    f"does not resolve to a resource in the bundle (expected {wanted})",
                )
            return None
        if expected is not None and resource.type not in expected:
            self.problem(f"{path}.reference", f"refers to {resource.type}, expected {wanted}")
            return None
        return resource

"""The roles a person holds in a care unit (SPEC section 6), named once."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    """A role per unit (`staff_roles.role`, the directory file's role names)."""

    PHYSICIAN = "physician"
    MVA = "mva"
    ADMIN = "admin"

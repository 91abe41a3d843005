"""The directory file (SPEC section 7) as pydantic models: units, staff and their roles.

`parse_directory` reads the YAML and returns a `DirectoryFile`, or raises `DirectoryError`
listing every problem at once, each as `where: what` (`units[0].settings.call_in_months:
a whole number 1–12`). Field lengths match the database columns, so a file that parses
always loads.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictInt,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from bot.directory import enums

__all__ = [
    "CARD_IDENTITIES",
    "DirectoryError",
    "DirectoryFile",
    "StaffEntry",
    "UnitEntry",
    "UnitSettings",
    "parse_directory",
]

CARD_IDENTITIES = ("full", "masked", "reference")
_HH_MM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_UNITS_OF_A_PERSON = "a mapping of unit HSA-id to a list of roles"
# what a missing key means, by its name
_MISSING = {
    "hsa_id": "required text",
    "name": "required text",
    "aad_object_id": "required text",
    "units": _UNITS_OF_A_PERSON,
}


class DirectoryError(ValueError):
    """The directory file is malformed; `problems` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("directory", message)


def _text(max_length: int) -> Any:
    """Required, non-blank text of at most `max_length` characters (the column's size)."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _fail("required text")
        if len(value) > max_length:
            raise _fail(f"at most {max_length} characters")
        return value

    return BeforeValidator(check)


def _optional_text(max_length: int) -> Any:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise _fail("must be text")
        if len(value) > max_length:
            raise _fail(f"at most {max_length} characters")
        return value

    return BeforeValidator(check)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitSettings(_Strict):
    """A unit's settings; a key left out takes the product default (DEFAULT_UNIT_SETTINGS)."""

    card_identity: str = "full"
    call_in_months: StrictInt = 2
    letter_tasks_to: str = enums.Role.PHYSICIAN
    retention_days: StrictInt = 180
    digest_time: str = "07:30"
    task_texts: dict[str, str] = {}
    physio_due_working_days: StrictInt = 5

    @field_validator("card_identity", mode="before")
    @classmethod
    def _identity(cls, value: Any) -> Any:
        if value not in CARD_IDENTITIES:
            raise _fail(f"one of {', '.join(CARD_IDENTITIES)}")
        return value

    @field_validator("letter_tasks_to", mode="before")
    @classmethod
    def _letters(cls, value: Any) -> Any:
        if value not in (enums.Role.PHYSICIAN, enums.Role.MVA):
            raise _fail("physician or mva")
        return value

    @field_validator("call_in_months", mode="before")
    @classmethod
    def _months(cls, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 12:
            raise _fail("a whole number 1–12")
        return value

    @field_validator("retention_days", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 36_500:
            raise _fail("a whole number of days, 1–36500")
        return value

    @field_validator("physio_due_working_days", mode="before")
    @classmethod
    def _physio_days(cls, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 60:
            raise _fail("a whole number of working days, 1–60")
        return value

    @field_validator("digest_time", mode="before")
    @classmethod
    def _digest_time(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _HH_MM.fullmatch(value):
            raise _fail("a time of day as HH:MM")
        return value

    @field_validator("task_texts", mode="before")
    @classmethod
    def _task_texts(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not all(
            isinstance(kind, str) and isinstance(title, str) and title.strip()
            for kind, title in value.items()
        ):
            raise _fail("a mapping of task kind to text")
        return value


class UnitEntry(_Strict):
    hsa_id: Annotated[str, _text(64)]
    name: Annotated[str, _text(200)]
    mva_channel: Annotated[str | None, _optional_text(200)] = None
    settings: UnitSettings = UnitSettings()

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _fail("must be a mapping")
        return value

    def settings_given(self) -> dict[str, Any]:
        """The settings written in the file (stored as given; defaults apply at read)."""
        return self.settings.model_dump(exclude_unset=True)


def _role(value: Any) -> str:
    if value not in tuple(enums.Role):
        raise _fail(f"unknown role {value!r}")
    return str(value)


def _roles(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise _fail("a list of roles")
    return value


Role = Annotated[str, BeforeValidator(_role)]
Roles = Annotated[list[Role], BeforeValidator(_roles)]


class StaffEntry(_Strict):
    name: Annotated[str, _text(200)]
    aad_object_id: Annotated[str, _text(64)]
    hsa_id: Annotated[str | None, _optional_text(64)] = None
    units: dict[str, Roles]

    @field_validator("units", mode="before")
    @classmethod
    def _units(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise _fail(_UNITS_OF_A_PERSON)
        return value


class DirectoryFile(_Strict):
    model_config = ConfigDict(extra="ignore", frozen=True)

    units: list[UnitEntry]
    staff: list[StaffEntry] = []

    @field_validator("units", "staff", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise _fail("must be a list")
        return value


def _where(loc: tuple[int | str, ...]) -> str:
    """`units[0].settings.call_in_months` from pydantic's location. A role is reported at
    its unit (`staff[2].units.SE…`), without its index in the list."""
    if len(loc) == 5 and loc[0] == "staff" and loc[2] == "units":
        loc = loc[:4]
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where


def _message(error: Any) -> str:
    kind, loc = error["type"], tuple(error["loc"])
    if kind == "directory":
        return str(error["msg"])
    if kind == "missing":
        return "must be a list" if len(loc) == 1 else _MISSING.get(str(loc[-1]), "required")
    if kind == "extra_forbidden":
        return "unknown setting" if "settings" in loc else "unknown key"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a mapping"
    return str(error["msg"])


def _problems(error: ValidationError) -> list[str]:
    return [f"{_where(tuple(item['loc']))}: {_message(item)}" for item in error.errors()]


def _cross_checks(data: dict[str, Any], parsed: DirectoryFile | None) -> list[str]:
    """Uniqueness and references between entries, on whatever of the file is readable."""
    problems: list[str] = []
    units = data.get("units") if isinstance(data.get("units"), list) else []
    staff = data.get("staff") if isinstance(data.get("staff"), list) else []
    hsa_ids: set[str] = set()
    for i, unit in enumerate(units or []):
        hsa = unit.get("hsa_id") if isinstance(unit, dict) else None
        if isinstance(hsa, str):
            if hsa in hsa_ids:
                problems.append(f"units[{i}].hsa_id: {hsa} listed twice")
            hsa_ids.add(hsa)
    aad_ids: set[str] = set()
    staff_hsa_ids: set[str] = set()
    for i, person in enumerate(staff or []):
        if not isinstance(person, dict):
            continue
        aad = person.get("aad_object_id")
        if isinstance(aad, str):
            if aad in aad_ids:
                problems.append(f"staff[{i}].aad_object_id: {aad} listed twice")
            aad_ids.add(aad)
        hsa = person.get("hsa_id")
        if isinstance(hsa, str) and hsa.strip():
            if hsa in staff_hsa_ids:
                problems.append(f"staff[{i}].hsa_id: {hsa} listed twice")
            staff_hsa_ids.add(hsa)
        roles = person.get("units")
        if isinstance(roles, dict):
            problems.extend(
                f"staff[{i}].units.{unit_hsa}: not a unit of this file"
                for unit_hsa in roles
                if unit_hsa not in hsa_ids
            )
    return problems


def parse_directory(text: str) -> DirectoryFile:
    """Parse and check a directory file; raises DirectoryError listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DirectoryError([f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise DirectoryError(["the file must be a mapping with `units` and `staff`"])
    parsed: DirectoryFile | None = None
    problems: list[str] = []
    try:
        parsed = DirectoryFile.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
    problems.extend(_cross_checks(data, parsed))
    if problems or parsed is None:
        raise DirectoryError(problems)
    return parsed

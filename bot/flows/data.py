"""The data of each card verb (SPEC section 4): what the card sends, typed and checked.

The verbs and their data are a contract: cards already posted in Teams keep sending them,
so fields are only ever added. Every model takes the raw JSON of a click and accepts only
what the database can hold: ids within PostgreSQL `integer`, texts within their limits
(refused whole with the limit in Swedish, never cut), no NUL or lone surrogate. Unknown
keys are ignored; an empty input ("" from Teams) counts as not given.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from bot.cases.models import MAX_NOTE
from bot.core.calendar import STOCKHOLM
from bot.core.texts import grouped, too_long
from bot.tasks.models import MAX_REFERRAL_CLINIC, MAX_TASK_NOTE
from bot.visits.followups import MAX_FOLLOWUP_TEXT
from bot.visits.service import MAX_INVESTIGATION, MAX_NO_TREATMENT_REASON

__all__ = [
    "MAX_AAD",
    "MAX_ID",
    "AssignData",
    "DecideData",
    "FollowUpData",
    "RefreshData",
    "TaskData",
    "UndoData",
    "VerbData",
    "VisitData",
    "describe",
    "storable",
]

MAX_ID = 2_147_483_647  # PostgreSQL `integer`: every id and version column
MAX_AAD = 64  # Staff.aad_object_id


def _whole_number(value: Any, *, low: int) -> int:
    # JSON numbers as the templates send them, or their decimal digits as a string (lax
    # pydantic took those); never a bool or a float, never outside the column's range
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit() and len(digits) <= len(str(MAX_ID)):
            number = int(digits)
    if number is None or not low <= number <= MAX_ID:
        raise PydanticCustomError(
            "whole_number",
            "ska vara ett heltal från {low} till {high}",
            {"low": grouped(low), "high": grouped(MAX_ID)},
        )
    return number


def _id(value: Any) -> int:
    return _whole_number(value, low=1)


def _version(value: Any) -> int:
    return _whole_number(value, low=0)


def storable(text: str) -> bool:
    """Whether both databases can store `text`: no NUL, no lone surrogate."""
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("text_type", "ska vara text")
    return value.strip()


class _FreeText:
    """What a person typed into an Input.Text: at most `limit` characters (the card's
    `maxLength`), refused whole when longer, never cut."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit

    def __call__(self, value: Any) -> str:
        text = _string(value)
        if len(text) > self.limit:
            raise PydanticCustomError(
                "text_too_long",
                too_long(self.name, length=len(text), limit=self.limit),
            )
        if not storable(text):
            raise PydanticCustomError("text_chars", "innehåller tecken som inte kan sparas")
        return text


class _Choice:
    """A value the card chose (a decision, a physician's object id, a view): short text."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, value: Any) -> str:
        text = _string(value)
        if len(text) > self.limit or not storable(text):
            raise PydanticCustomError("choice", "är inget giltigt val")
        return text


Id = Annotated[int, PlainValidator(_id)]
Version = Annotated[int, PlainValidator(_version)]
Decision = Annotated[str, PlainValidator(_Choice(32))]
Physician = Annotated[str, PlainValidator(_Choice(MAX_AAD))]
View = Annotated[str, PlainValidator(_Choice(32))]
Note = Annotated[str, PlainValidator(_FreeText("Anteckningen", MAX_NOTE))]
OtherNote = Annotated[str, PlainValidator(_FreeText("Beskrivningen av åtgärden", MAX_NOTE))]
TaskNote = Annotated[str, PlainValidator(_FreeText("Anteckningen", MAX_TASK_NOTE))]
ReferralClinic = Annotated[
    str, PlainValidator(_FreeText("Mottagande mottagning", MAX_REFERRAL_CLINIC))
]
Investigation = Annotated[
    str, PlainValidator(_FreeText("Kompletterande utredning", MAX_INVESTIGATION))
]
NoTreatmentReason = Annotated[
    str,
    PlainValidator(
        _FreeText("Skälet till att ingen behandling sätts in", MAX_NO_TREATMENT_REASON)
    ),
]
Treatment = Annotated[str, PlainValidator(_Choice(32))]
NotStartedReason = Annotated[
    str,
    PlainValidator(
        _FreeText("Skälet till att behandling inte har satts in", MAX_FOLLOWUP_TEXT)
    ),
]
StoppedNote = Annotated[
    str,
    PlainValidator(
        _FreeText("Beskrivningen av varför behandlingen avslutades", MAX_FOLLOWUP_TEXT)
    ),
]


class VerbData(BaseModel):
    """The data of a verb. Every field is typed for what the card sends and checked for
    what the database holds: ids within `integer`, texts within their limits."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_inputs_are_missing(cls, value: Any) -> Any:
        # Teams sends an empty input as "": treat it as not given
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if not (isinstance(v, str) and not v.strip())}
        return value


class DecideData(VerbData):
    """`case.decide`: the decision (`bot.cases.enums.DecisionKind`) on the case as the card
    showed it (`version`); `note` (call-in) or `other_note` (other), the physician of the
    visit (call-in) or the one to hand the case to (`physician`, reassign). `confirmed`:
    sent by the confirmation card, for a decision that goes against the answer."""

    case_id: Id
    version: Version
    decision: Decision
    note: Note | None = None
    other_note: OtherNote | None = None
    visit_physician: Physician | None = None
    physician: Physician | None = None
    confirmed: bool = False


class UndoData(VerbData):
    """`case.undo`: undo the decision on the case as the card showed it (`version`)."""

    case_id: Id
    version: Version


class AssignData(VerbData):
    """`case.assign`: the physician to give the case (as the card showed it) to."""

    case_id: Id
    version: Version
    physician: Physician


class TaskData(VerbData):
    """`task.complete` and `task.reopen`: the task, a note, for "Boka läkartid" the
    booked date and time, and for "Fysioterapikontakt" the day the referral went and the
    receiving clinic (per task on cards listing several: `booked_date_<id>`,
    `referral_on_<id>`)."""

    task_id: Id
    note: TaskNote | None = None
    booked_date: date | None = None
    booked_time: time | None = None
    referral_on: date | None = None
    referral_clinic: ReferralClinic | None = None
    view: View | None = None  # "digest" when clicked on the morning digest

    @model_validator(mode="before")
    @classmethod
    def _per_task_inputs(cls, value: Any) -> Any:
        # cards listing several tasks name the booking inputs per task: booked_date_<id>
        if isinstance(value, dict) and "task_id" in value:
            for name in ("booked_date", "booked_time", "referral_on", "referral_clinic"):
                suffixed = f"{name}_{value['task_id']}"
                if suffixed in value and name not in value:
                    value = {**value, name: value[suffixed]}
        return value

    def booked_at(self) -> datetime | None:
        """The booked visit (Stockholm wall time from the card) as an aware datetime."""
        if self.booked_date is None or self.booked_time is None:
            return None
        return datetime.combine(self.booked_date, self.booked_time, tzinfo=STOCKHOLM)


class RefreshData(VerbData):
    """`card.refresh`: the case or task whose card to show again, and which card."""

    case_id: Id | None = None
    task_id: Id | None = None
    view: View | None = None  # which card of the case: "visit" for the checklist


class VisitData(VerbData):
    """`visit.record`: the visit checklist's answers."""

    case_id: Id
    patient_informed: bool = False
    investigation: Investigation | None = None
    treatment: Treatment | None = None
    no_treatment_reason: NoTreatmentReason | None = None
    followup_date: date | None = None
    physio_contact: bool = False


class FollowUpData(VerbData):
    """`followup.record`: the follow-up card's answers, on the case as the card showed it
    (`version`). `falls` and `new_fracture` are required answers (checked by the flow)."""

    case_id: Id
    version: Version
    treatment: Treatment | None = None
    not_started_reason: NotStartedReason | None = None
    on_treatment: bool | None = None
    stopped_reason: Treatment | None = None
    stopped_note: StoppedNote | None = None
    falls: bool | None = None
    new_fracture: bool | None = None
    next_due: date | None = None
    dxa_planned: date | None = None
    physio_assessed_on: date | None = None


_BUILTIN_PROBLEMS = (
    ("missing", "saknas"),
    ("bool", "ska vara true eller false"),
    ("date", "ska vara ett datum (ÅÅÅÅ-MM-DD)"),
    ("time", "ska vara ett klockslag (TT:MM)"),
)


def _problem(error: ErrorDetails) -> str:
    field = ".".join(str(p) for p in error["loc"]) or "data"
    if error["type"].startswith(("whole_number", "text_", "choice")):
        return f"{field} {error['msg']}"
    phrase = next((p for kind, p in _BUILTIN_PROBLEMS if error["type"].startswith(kind)), None)
    return f"{field} {phrase or 'är ogiltigt'}"


def describe(error: ValidationError) -> str:
    """The Swedish answer to invalid card data: each problem by field, and the limit of
    every text that is too long. Never echoes the values."""
    errors = error.errors(include_url=False, include_input=False)
    too_long = [e["msg"] for e in errors if e["type"] == "text_too_long"]
    problems = list(dict.fromkeys(_problem(e) for e in errors if e["type"] != "text_too_long"))
    parts = []
    if problems:
        parts.append("Ogiltiga uppgifter i kortet: " + "; ".join(problems) + ". Ladda om kortet.")
    return " ".join([*parts, *too_long])

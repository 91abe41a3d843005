"""Card verbs (SPEC section 4): one table from verb to handler, each typed by its data.

Handlers parse the invoke data, call one service function inside one transaction, and
render the card to answer with. The verbs and their data are a contract: cards already
posted in Teams keep sending them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit import service as audit
from bot.cases import service as cases
from bot.cases import views
from bot.core.calendar import STOCKHOLM, local_date
from bot.core.texts import grouped, too_long
from bot.db import transaction
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.flows.result import Done, Refused, Stale
from bot.jobs.service import digest_context
from bot.visits import service as visits
from cards.render import render

MAX_ID = 2_147_483_647  # PostgreSQL `integer`: every id and version column
MAX_AAD = 64  # Staff.aad_object_id
DATABASE_UNAVAILABLE = "Databasen svarar inte just nu. Försök igen om en stund."
UNKNOWN_VERB = "Okänd åtgärd. Ladda om kortet."


@dataclass(frozen=True)
class Invoke:
    """Who clicked, and when; `trigger` is `automatic` for a refresh, `manual` for a click."""

    actor_aad: str | None
    now: datetime
    trigger: str | None


@dataclass(frozen=True)
class Answer:
    """A card to replace the clicked one, or a Swedish error message."""

    card: dict[str, Any] | None = None
    error: str | None = None
    changed: bool = False
    decision: str | None = None  # the decision kind recorded by this action, if any


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
Note = Annotated[str, PlainValidator(_FreeText("Anteckningen", cases.MAX_NOTE))]
OtherNote = Annotated[str, PlainValidator(_FreeText("Beskrivningen av åtgärden", cases.MAX_NOTE))]
TaskNote = Annotated[str, PlainValidator(_FreeText("Anteckningen", cases.MAX_TASK_NOTE))]
Investigation = Annotated[
    str, PlainValidator(_FreeText("Kompletterande utredning", visits.MAX_INVESTIGATION))
]
NoTreatmentReason = Annotated[
    str,
    PlainValidator(
        _FreeText("Skälet till att ingen behandling sätts in", visits.MAX_NO_TREATMENT_REASON)
    ),
]
Treatment = Annotated[str, PlainValidator(_Choice(32))]


class _Data(BaseModel):
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


class DecideData(_Data):
    case_id: Id
    version: Version
    decision: Decision
    note: Note | None = None
    other_note: OtherNote | None = None
    visit_physician: Physician | None = None
    physician: Physician | None = None


class AssignData(_Data):
    case_id: Id
    version: Version
    physician: Physician


class TaskData(_Data):
    task_id: Id
    note: TaskNote | None = None
    booked_date: date | None = None
    booked_time: time | None = None
    view: View | None = None  # "digest" when clicked on the morning digest

    @model_validator(mode="before")
    @classmethod
    def _per_task_inputs(cls, value: Any) -> Any:
        # cards listing several tasks name the booking inputs per task: booked_date_<id>
        if isinstance(value, dict) and "task_id" in value:
            for name in ("booked_date", "booked_time"):
                suffixed = f"{name}_{value['task_id']}"
                if suffixed in value and name not in value:
                    value = {**value, name: value[suffixed]}
        return value

    def booked_at(self) -> datetime | None:
        """The booked visit (Stockholm wall time from the card) as an aware datetime."""
        if self.booked_date is None or self.booked_time is None:
            return None
        return datetime.combine(self.booked_date, self.booked_time, tzinfo=STOCKHOLM)


class RefreshData(_Data):
    case_id: Id | None = None
    task_id: Id | None = None
    view: View | None = None  # which card of the case: "visit" for the checklist


class VisitData(_Data):
    case_id: Id
    patient_informed: bool = False
    investigation: Investigation | None = None
    treatment: Treatment | None = None
    no_treatment_reason: NoTreatmentReason | None = None
    followup_date: date | None = None
    physio_contact: bool = False


Handler = Callable[[AsyncSession, Actor, Any, Invoke], Awaitable[Answer]]


def _error(result: Stale | Refused) -> Answer | None:
    """The error answer of a result that shows no card, else None."""
    return None if result.on_card else Answer(error=result.message)


async def _decide(session: AsyncSession, actor: Actor, data: DecideData, inv: Invoke) -> Answer:
    note = data.other_note if data.decision == "other" and data.other_note else data.note
    result = await cases.decide_case(
        session,
        case_id=data.case_id,
        version=data.version,
        decision=data.decision,
        note=note,
        visit_physician_aad=data.visit_physician,
        reassign_to_aad=data.physician or data.visit_physician,
        actor=actor,
        now=inv.now,
    )
    match result:
        case Refused():
            return Answer(error=result.message)
        case Stale():  # answer with the current card for this physician
            card = await views.card_for_viewer(
                session, result.case, viewer=actor.staff, now=inv.now, notice=result.message
            )
            return Answer(card=card)
        case Done():
            card = await views.summary_card(
                session, result.case, now=inv.now, notice=result.message, tasks=result.tasks
            )
            return Answer(card=card, changed=True, decision=data.decision)


async def _assign(session: AsyncSession, actor: Actor, data: AssignData, inv: Invoke) -> Answer:
    result = await cases.assign_case(
        session,
        case_id=data.case_id,
        version=data.version,
        physician_aad=data.physician,
        actor=actor,
        now=inv.now,
    )
    match result:
        case Refused():
            return Answer(error=result.message)
        case Stale():
            card = await views.card_for_viewer(
                session, result.case, viewer=actor.staff, now=inv.now, notice=result.message
            )
            return Answer(card=card)
        case Done():
            case = result.case
            assert case.physician is not None
            card = await views.triage_card(
                session,
                case,
                assigned={
                    "to": case.physician.name,
                    "by": actor.display_name,
                    "at": views.fmt_time(inv.now) or "",
                },
            )
            return Answer(card=card, changed=True)


async def _task(
    session: AsyncSession, actor: Actor, data: TaskData, inv: Invoke, *, reopen: bool
) -> Answer:
    if reopen:
        result = await cases.reopen_task(session, task_id=data.task_id, actor=actor, now=inv.now)
    else:
        result = await cases.complete_task(
            session,
            task_id=data.task_id,
            note=data.note,
            booked_at=data.booked_at(),
            actor=actor,
            now=inv.now,
        )
    if not isinstance(result, Done) and (error := _error(result)):
        return error
    if result.case is None or result.task is None:
        return Answer(error=result.message)
    changed = isinstance(result, Done)
    if data.view == "digest":
        ctx = await digest_context(session, unit=result.case.unit, today=local_date(inv.now))
        return Answer(card=render("digest_card", **ctx), changed=changed)
    card = await views.task_card(
        session,
        result.case,
        group=views.task_group(result.task),
        now=inv.now,
        notice=result.message,
    )
    return Answer(card=card, changed=changed)


async def _complete(session: AsyncSession, actor: Actor, data: TaskData, inv: Invoke) -> Answer:
    return await _task(session, actor, data, inv, reopen=False)


async def _reopen(session: AsyncSession, actor: Actor, data: TaskData, inv: Invoke) -> Answer:
    return await _task(session, actor, data, inv, reopen=True)


async def _record_visit(
    session: AsyncSession, actor: Actor, data: VisitData, inv: Invoke
) -> Answer:
    checklist = visits.Checklist(
        patient_informed=data.patient_informed,
        investigation=data.investigation,
        treatment=data.treatment or "",
        no_treatment_reason=data.no_treatment_reason,
        followup_date=data.followup_date,
        physio_contact=data.physio_contact,
    )
    result = await visits.record_visit(
        session, case_id=data.case_id, checklist=checklist, actor=actor, now=inv.now
    )
    if not isinstance(result, Done) and (error := _error(result)):
        return error
    if result.case is None:
        return Answer(error=result.message)
    card = await views.summary_card(session, result.case, now=inv.now, notice=result.message)
    return Answer(card=card, changed=isinstance(result, Done))


async def _refresh(session: AsyncSession, actor: Actor, data: RefreshData, inv: Invoke) -> Answer:
    if data.case_id is None and data.task_id is None:
        return Answer(error="Kortet saknar ärende eller uppgift.")
    if data.view == "visit" and data.case_id is not None:
        checklist = await visits.current_checklist(
            session, case_id=data.case_id, actor=actor, trigger=inv.trigger
        )
        if checklist is not None:
            return Answer(card=checklist)
    result, card = await cases.view_case(
        session,
        case_id=data.case_id,
        task_id=data.task_id,
        actor=actor,
        now=inv.now,
        trigger=inv.trigger,
        view=data.view,
    )
    if card is None:
        return Answer(error=result.message if isinstance(result, Refused) else None)
    return Answer(card=card)


VERBS: dict[str, tuple[type[_Data], Handler]] = {
    "case.decide": (DecideData, _decide),
    "case.assign": (AssignData, _assign),
    "task.complete": (TaskData, _complete),
    "task.reopen": (TaskData, _reopen),
    "card.refresh": (RefreshData, _refresh),
    "visit.record": (VisitData, _record_visit),
}
# Verbs of the contract that are not served (yet): answered with a clear message.
PENDING_VERBS: dict[str, str] = {}


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


def known_verb(verb: Any) -> str | None:
    """`verb` when it is a verb of the contract, else None (it may be any JSON value)."""
    return verb if isinstance(verb, str) and (verb in VERBS or verb in PENDING_VERBS) else None


def actor_aad_of(value: Any) -> str | None:
    """The clicker's Entra object id as the directory could hold it, else None (unknown)."""
    if isinstance(value, str) and 0 < len(value) <= MAX_AAD and storable(value):
        return value
    return None


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached or stopped answering (an outage
    worth trying again), rather than a fault of ours (constraint, data, SQL)."""
    if isinstance(exc, IntegrityError | DataError | ProgrammingError):
        return False
    return isinstance(exc, DBAPIError | PoolTimeoutError | OSError | TimeoutError)


async def dispatch(
    factory: async_sessionmaker[AsyncSession], verb: Any, data: Any, inv: Invoke
) -> Answer:
    """Run one card action in one transaction and return what to answer Teams with.

    `verb` and `data` are the raw JSON of the click: any type. Data the verb's model
    refuses records nothing but the audit row of the refusal. Database errors propagate
    (`database_unavailable` tells an outage from a fault).
    """
    verb = known_verb(verb)
    if verb is None:
        return Answer(error=UNKNOWN_VERB)
    if verb in PENDING_VERBS:
        return Answer(error=PENDING_VERBS[verb])
    model, handler = VERBS[verb]
    try:
        parsed = model.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "data" for e in exc.errors()})
        async with transaction(factory) as session:
            audit.record(
                session,
                actor=Actor.clicker(None, inv.actor_aad).audit_id,
                action=verb,
                outcome="refused",
                detail={"reason": "invalid data", "fields": fields},
            )
        return Answer(error=describe(exc))
    async with transaction(factory) as session:
        person = await directory.staff_by_aad(session, inv.actor_aad) if inv.actor_aad else None
        return await handler(session, Actor.clicker(person, inv.actor_aad), parsed, inv)


def check_verbs() -> None:
    """Start-up check: every verb of the contract has a handler or a pending answer."""
    contract = {
        "case.decide",
        "case.assign",
        "task.complete",
        "task.reopen",
        "visit.record",
        "card.refresh",
    }
    missing = contract - set(VERBS) - set(PENDING_VERBS)
    if missing:
        raise RuntimeError(f"card verbs without handler: {sorted(missing)}")

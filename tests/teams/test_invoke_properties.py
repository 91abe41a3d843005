"""Card invoke data mutated at every key, through the real `POST /api/messages` (issue 10,
point 7): never a 5xx, never InternalError, and nothing recorded by a refused click.

Each example starts from a click that is valid and would record something (a decision, an
assignment, a task done or undone, a visit), changes any of its keys to any JSON (wrong
types, out-of-range numbers, huge strings, lone surrogates, NUL, nested lists and objects,
unknown and non-string verbs), and then makes at least one key invalid for what the verb
takes. Such a click must be refused with a Swedish message and record nothing but its audit
row. A second property lets any key take any value (valid or not) on clicks that record
nothing even when valid: a refresh, or a click by someone outside the unit.

Every example goes through one of the two paths at random: without the SDK's turn
(`CardActionBot`) or through it. Bounded: `MAX_EXAMPLES` a property, no example database.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.calendar import local_date
from bot.db import utcnow
from bot.flows import registry
from tests.harness import ANNA, ERIK, MARIA, STRANGER, card_of
from tests.teams.clicks import Product, World, product, recorded, world
from tests.teams.conftest import plain_click_check

MAX_EXAMPLES = 100
PROPERTY = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAX_ID = 2_147_483_647
VERBS = ("case.decide", "case.assign", "task.complete", "task.reopen", "visit.record")
Person = dict[str, str]
Strategy = st.SearchStrategy[Any]

# ---------------------------------------------------------------- any JSON

ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "\ud800",
    "a\udfffb",
    "\u202e\u200d",
    "x" * 100_000,
    "å" * 1001,
    "2147483648",
    "99999999999999999999999",
    "1.0",
    "-1",
    "0",
    "true",
    "null",
    "2026-02-30",
    "25:61",
    "case.decide",
    "card.refresh",
    ANNA["aad"],
]
# any code point, lone surrogates included
any_text: Strategy = st.text(st.characters(codec=None, categories=None), max_size=30)
strings: Strategy = st.one_of(any_text, st.sampled_from(ODD_STRINGS))
numbers: Strategy = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 1, MAX_ID, MAX_ID + 1, 2**63, 2**70, -(2**31) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars: Strategy = st.one_of(st.none(), st.booleans(), numbers, strings)


def _nested(depth: int) -> Any:
    value: Any = "tief"
    for _ in range(depth):
        value = [value]
    return value


json_values: Strategy = st.one_of(
    st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(strings, inner, max_size=3)
        ),
        max_leaves=6,
    ),
    st.sampled_from([_nested(50), {"a": {"b": {"c": [[[]]]}}}]),
)
not_null: Strategy = json_values.filter(lambda v: v is not None)
containers: Strategy = st.one_of(
    st.lists(json_values, max_size=3), st.dictionaries(strings, json_values, max_size=3)
)

# ---------------------------------------------------------------- what each key refuses


def _digits_in_range(value: str, low: int) -> bool:
    text = value.strip()
    return text.isascii() and text.isdigit() and low <= int(text) <= MAX_ID


def not_a_number(low: int) -> Strategy:
    """Anything but a JSON integer in low..MAX_ID (or its decimal digits): never an id."""
    return st.one_of(
        st.integers(max_value=low - 1),
        st.integers(min_value=MAX_ID + 1),
        st.booleans(),
        st.floats(),
        st.none(),
        st.integers(min_value=MAX_ID + 1, max_value=10**40).map(str),
        strings.filter(lambda s: not _digits_in_range(s, low)),
        containers,
    )


def not_a_text(limit: int) -> Strategy:
    """No string of at most `limit` storable characters, and not empty (empty is absent)."""
    return st.one_of(
        not_null.filter(lambda v: not isinstance(v, str)),
        st.tuples(st.sampled_from("xå😀"), st.integers(limit + 1, 100_000)).map(
            lambda t: t[0] * t[1]
        ),
        st.tuples(any_text, st.sampled_from(["\x00", "\ud800", "\udc00"]), any_text).map("".join),
    )


_LETTERS = st.text("abcdefghijklmnopqrstuvwxyzåäö", min_size=1, max_size=12)
_BOOL_WORDS = {"t", "f", "y", "n", "yes", "no", "on", "off", "true", "false"}
not_a_date: Strategy = st.one_of(containers, _LETTERS)
not_a_bool: Strategy = st.one_of(
    containers,
    st.integers().filter(lambda n: n not in (0, 1)),
    _LETTERS.filter(lambda s: s not in _BOOL_WORDS),
)

SPECIAL_IDS = st.sampled_from(
    [0, -1, MAX_ID + 1, 2**63, 2**70, True, False, 1.0, "1.0", [1], {"id": 1}]
)
ID = st.one_of(SPECIAL_IDS, not_a_number(1))
VERSION = st.one_of(SPECIAL_IDS.filter(lambda v: not (type(v) is int and v == 0)), not_a_number(0))
CHOICE = not_a_text(32)
AAD = not_a_text(64)  # Staff.aad_object_id

# the keys of each verb's data, and values each of them refuses
REFUSED: dict[str, dict[str, Strategy]] = {
    "case.decide": {
        "case_id": ID,
        "version": VERSION,
        "decision": CHOICE,
        "note": not_a_text(1000),
        "other_note": not_a_text(1000),
        "visit_physician": AAD,
        "physician": AAD,
    },
    "case.assign": {"case_id": ID, "version": VERSION, "physician": AAD},
    "task.complete": {
        "task_id": ID,
        "note": not_a_text(1000),
        "booked_date": not_a_date,
        "booked_time": not_a_date,
        "referral_on": not_a_date,
        "referral_clinic": not_a_text(200),
        "view": CHOICE,
    },
    "task.reopen": {"task_id": ID},
    "visit.record": {
        "case_id": ID,
        "patient_informed": not_a_bool,
        "investigation": not_a_text(500),
        "treatment": CHOICE,
        "no_treatment_reason": not_a_text(500),
        "followup_date": not_a_date,
        "physio_contact": not_a_bool,
    },
}


def valid_clicks(w: World) -> dict[str, tuple[Person, dict[str, Any]]]:
    """One click per verb that is valid and records something (checked below)."""
    followup = (local_date(utcnow()) + timedelta(days=60)).isoformat()
    return {
        "case.decide": (
            ANNA,
            {
                "case_id": w.undecided,
                "version": 1,
                "decision": "call_in",
                "visit_physician": ERIK["aad"],
                "note": "Tolk: arabiska",
            },
        ),
        "case.assign": (
            MARIA,
            {"case_id": w.unassigned, "version": 1, "physician": ANNA["aad"]},
        ),
        "task.complete": (MARIA, {"task_id": w.task, "note": "Klart"}),
        "task.reopen": (MARIA, {"task_id": w.booking}),
        "visit.record": (
            ERIK,
            {
                "case_id": w.booked,
                "patient_informed": "true",
                "investigation": "Prover",
                "treatment": "none",
                "no_treatment_reason": "Patienten avböjer",
                "followup_date": followup,
                "physio_contact": "true",
            },
        ),
    }


def value_of(verb: Any, data: Any, trigger: Any = "manual") -> dict[str, Any]:
    return {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": trigger}


# ---------------------------------------------------------------- mutations

unknown_verbs: Strategy = st.one_of(
    st.lists(json_values, max_size=3),
    st.dictionaries(strings, json_values, max_size=3),
    st.sampled_from([["case.decide"], {"verb": "case.decide"}, None, 17, 1.5, True]),
    numbers,
    strings.filter(lambda v: v not in registry.ROUTES),
)
not_an_object: Strategy = st.one_of(
    st.lists(json_values, max_size=3), st.sampled_from([None, "case.decide", 17, True]), scalars
)


def _extra_keys(draw: Callable[[Strategy], Any], data: dict[str, Any]) -> None:
    """Keys no verb reads, with any JSON: ignored."""
    for key in draw(st.lists(strings, max_size=2)):
        data.setdefault(key, draw(json_values))


@st.composite
def refused_clicks(draw: Callable[[Strategy], Any], w: World) -> tuple[Person, Any]:
    """A valid click made invalid: one or two of its keys changed to a value the key does
    not take, or its verb, data, action or whole value replaced; keys no verb reads added."""
    verb = draw(st.sampled_from(VERBS))
    person, base = valid_clicks(w)[verb]
    data = copy.deepcopy(base)
    _extra_keys(draw, data)
    value: Any = value_of(verb, data, trigger=draw(st.one_of(st.just("manual"), json_values)))
    where = draw(st.sampled_from(["key", "key", "key", "key", "verb", "data", "action", "value"]))
    if where == "key":
        keys = sorted(REFUSED[verb])
        for key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=2, unique=True)):
            data[key] = draw(REFUSED[verb][key])
    elif where == "verb":
        if draw(st.booleans()):
            value["action"]["verb"] = draw(unknown_verbs)
        else:
            del value["action"]["verb"]
    elif where == "data":
        value["action"]["data"] = draw(not_an_object)
    elif where == "action":
        value["action"] = draw(not_an_object)
    else:
        value = draw(not_an_object)
    return person, value


REFRESH: dict[str, Strategy] = {
    "case_id": not_a_number(1),
    "task_id": not_a_number(1),
    "view": not_a_text(32),
}


@st.composite
def harmless_clicks(draw: Callable[[Strategy], Any], w: World) -> tuple[Person, Any, str]:
    """A refresh, or a click by someone outside the unit, with any of its keys sent as
    anything: valid or not, it records nothing."""
    if draw(st.booleans()):
        full = {"case_id": w.undecided, "task_id": w.task, "view": "visit"}
        data = {k: v for k, v in full.items() if draw(st.booleans())}
        refused = REFRESH
        person = draw(st.sampled_from([ANNA, MARIA, ERIK, STRANGER]))
        verb: Any = "card.refresh"
    else:
        verb = draw(st.sampled_from(VERBS))
        data = copy.deepcopy(valid_clicks(w)[verb][1])
        refused = REFUSED[verb]
        person = STRANGER
    for key in draw(st.sets(st.sampled_from(sorted(refused)))):
        data[key] = draw(st.one_of(refused[key], json_values))
    _extra_keys(draw, data)
    staff = {ANNA["aad"], ERIK["aad"], MARIA["aad"]}
    aad = draw(st.one_of(st.just(person["aad"]), strings.filter(lambda s: s not in staff)))
    trigger = draw(st.one_of(st.sampled_from(["manual", "automatic"]), json_values))
    return person, value_of(verb, data, trigger), aad


# ---------------------------------------------------------------- the running product


@dataclass
class Clicking:
    """The product on a fresh world; `sdk` sends the next click through the SDK's turn."""

    product: Product
    world: World
    factory: async_sessionmaker[AsyncSession]
    baseline: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    sdk: bool = False


@pytest.fixture
async def clicking(
    db_url: str,
    factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    runtime: str,
) -> AsyncIterator[Clicking]:
    w = await world(factory)
    async with product(db_url) as p:
        state = Clicking(p, w, factory, await recorded(factory))
        module, name = plain_click_check(runtime)
        plain = getattr(module, name)
        monkeypatch.setattr(module, name, lambda body: not state.sdk and plain(body))
        yield state


def assert_answered(status: int, answer: Any) -> None:
    """An invoke answer Teams shows: HTTP 200, a card or a Swedish error, never
    InternalError."""
    assert status == 200, (status, answer)
    assert isinstance(answer, dict), answer
    if answer["type"] == "application/vnd.microsoft.card.adaptive":
        card_of(answer)
        return
    assert answer["type"] == "application/vnd.microsoft.error", answer
    assert answer["value"]["code"] == "BadRequest", answer
    message = answer["value"]["message"]
    assert message and message[0].isupper() and len(message) < 1000, message


@PROPERTY
@given(data=st.data())
async def test_invalid_card_data_is_refused_and_records_nothing(
    clicking: Clicking, data: st.DataObject
) -> None:
    person, value = data.draw(refused_clicks(clicking.world), label="click")
    clicking.sdk = data.draw(st.booleans(), label="sdk")
    status, answer = await clicking.product.click(value, person=person)
    assert_answered(status, answer)
    assert answer["type"] == "application/vnd.microsoft.error"
    message = answer["value"]["message"]
    assert message.startswith(("Ogiltiga uppgifter i kortet: ", "Okänd åtgärd.")) or (
        message.endswith(" får plats.")
    ), message
    assert await recorded(clicking.factory) == clicking.baseline


@PROPERTY
@given(data=st.data())
async def test_any_data_on_a_click_that_records_nothing_is_answered(
    clicking: Clicking, data: st.DataObject
) -> None:
    person, value, aad = data.draw(harmless_clicks(clicking.world), label="click")
    clicking.sdk = data.draw(st.booleans(), label="sdk")
    status, answer = await clicking.product.click(value, person=person, aad=aad)
    assert_answered(status, answer)
    assert await recorded(clicking.factory) == clicking.baseline


async def test_the_clicks_before_mutation_are_valid(
    db_url: str, factory: async_sessionmaker[AsyncSession]
) -> None:
    """What the first property mutates records something when left alone, so that its
    refusals come from the mutation."""
    w = await world(factory)
    async with product(db_url) as p:
        for verb, (person, data) in valid_clicks(w).items():
            before = await recorded(factory)
            status, answer = await p.click(value_of(verb, data), person=person)
            card_of(answer)
            assert await recorded(factory) != before, verb

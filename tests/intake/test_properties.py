"""Property-based tests of the intake (issue 10): the sample bundles mutated at every JSON
path never get a 5xx, and a refused or poisoned bundle never makes a case.

A mutation replaces a value with another type, a huge string, text with a lone surrogate or
NUL, a number out of range, deep nesting (the last three as raw JSON text, which Python's
`json.dumps` cannot write), or drops a key or an item. At most one poison (a mutation no
valid bundle can hold) is applied, and last, so that no later mutation removes it.

Two levels: the parser alone (many examples, no database), and the real app over HTTP on
both databases (fewer examples; one app and one database for all of them).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.cases.models import Case
from bot.db import create_engine, session_factory, transaction
from bot.directory.service import load_directory
from bot.intake import limits
from bot.intake.fhir import BundleInvalid, DxaAnswer, parse_bundle
from bot.intake.jsontext import NotJson, decode
from bot.intake.models import RejectedMessage
from tests.harness import Teams, running_bot
from tests.helpers import FIXTURES

TODAY = date(2026, 11, 21)
SAMPLES = {path.name: path.read_text(encoding="utf-8") for path in sorted(FIXTURES.glob("0*.json"))}
OTHER_TYPES: list[object] = [None, True, False, 0, -1, 1.5, "", " ", "x", [], {}, [None], {"x": 1}]
HUGE_STRINGS = ["A" * 100_000, "Å" * 30_000, "S72.0" * 20_000]
POISON_TEXT = ["a\ud800b", "\udfff", "a\x00b", "\x00"]
POISON_LITERALS = [
    "-1" + "0" * 400,
    "9" * 5000,
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "[" * 33 + "]" * 33,
    "[" * 5000 + "]" * 5000,
    '{"a":' * 40 + "1" + "}" * 40,
]
LITERALS_IN_RANGE = ["1e308", "-0.0", "123456789012345678901234567890", "0.5e-400"]
EXAMPLES_PARSER = 500
EXAMPLES_HTTP = 250

Step = str | int


@dataclass
class Mutated:
    """A mutated sample: the document, raw literals to splice in, and whether it is poisoned."""

    document: Any
    literals: dict[str, str] = field(default_factory=dict)
    poisoned: bool = False

    def body(self, *, ascii_only: bool) -> bytes:
        text = json.dumps(self.document, ensure_ascii=ascii_only)
        for marker, literal in self.literals.items():
            text = text.replace(json.dumps(marker), literal)
        # a lone surrogate written as itself is not UTF-8 either: refused as not JSON
        return text.encode("utf-8", errors="surrogatepass")


def paths(document: Any) -> list[tuple[Step, ...]]:
    """Every JSON path in `document` below its root, in reading order."""
    found: list[tuple[Step, ...]] = []
    stack: list[tuple[tuple[Step, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if path:
            found.append(path)
        children: list[tuple[Step, Any]] = []
        if isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, list):
            children = list(enumerate(value))
        stack.extend(((*path, step), child) for step, child in reversed(children))
    return found


def parent_of(document: Any, path: tuple[Step, ...]) -> Any:
    target = document
    for step in path[:-1]:
        target = target[step]
    return target


@st.composite
def mutated_samples(draw: st.DrawFn) -> Mutated:
    name = draw(st.sampled_from(sorted(SAMPLES)))
    mutated = Mutated(json.loads(SAMPLES[name]))
    for _ in range(draw(st.integers(0, 3))):
        candidates = paths(mutated.document)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = parent_of(mutated.document, path)
        kind = draw(st.sampled_from(["type", "huge", "in range", "drop"]))
        if kind == "drop":
            del parent[path[-1]]
        elif kind == "type":
            parent[path[-1]] = draw(st.sampled_from(OTHER_TYPES))
        elif kind == "huge":
            parent[path[-1]] = draw(st.sampled_from(HUGE_STRINGS))
        else:
            marker = f"@@literal-{len(mutated.literals)}@@"
            mutated.literals[marker] = draw(st.sampled_from(LITERALS_IN_RANGE))
            parent[path[-1]] = marker
    if draw(st.booleans()):
        poison(draw, mutated)
    return mutated


def poison(draw: st.DrawFn, mutated: Mutated) -> None:
    """One mutation that no valid bundle can hold, anywhere in the document."""
    path = draw(st.sampled_from(paths(mutated.document) or [()]))
    if not path:
        mutated.document = {"resourceType": "Bundle", "\ud800": 1}
        mutated.poisoned = True
        return
    parent = parent_of(mutated.document, path)
    kind = draw(st.sampled_from(["text", "literal", "key"]))
    if kind == "text":
        parent[path[-1]] = draw(st.sampled_from(POISON_TEXT))
    elif kind == "literal":
        marker = f"@@literal-{len(mutated.literals)}@@"
        mutated.literals[marker] = draw(st.sampled_from(POISON_LITERALS))
        parent[path[-1]] = marker
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(POISON_TEXT))] = "key"
    else:
        parent[path[-1]] = {draw(st.sampled_from(POISON_TEXT)): "key"}
    mutated.poisoned = True


# --- the parser alone ---------------------------------------------------------------------


def _within_limits(answer: DxaAnswer) -> bool:
    texts = [
        (answer.report_system, limits.IDENTIFIER_SYSTEM_MAX),
        (answer.report_value, limits.IDENTIFIER_VALUE_MAX),
        (answer.referral_id, limits.IDENTIFIER_VALUE_MAX),
        (answer.fracture_code, limits.CODE_MAX),
        (answer.fracture_text, limits.TEXT_MAX),
        (answer.patient.name, limits.NAME_MAX),
        (answer.conclusion, limits.CONCLUSION_MAX),
        *((m.body_site_text, limits.TEXT_MAX) for m in answer.measurements),
    ]
    return all(text is None or len(text) <= limit for text, limit in texts)


@settings(max_examples=EXAMPLES_PARSER, deadline=None, database=None)
@given(mutated=mutated_samples(), ascii_only=st.booleans())
def test_the_parser_refuses_or_answers_within_the_limits(
    mutated: Mutated, ascii_only: bool
) -> None:
    try:
        document = decode(mutated.body(ascii_only=ascii_only))
        answer = parse_bundle(document, today=TODAY)
    except (NotJson, BundleInvalid) as refused:
        problems = [refused.problem] if isinstance(refused, NotJson) else refused.problems
        event(f"refused ({type(refused).__name__})")
        assert problems and all(p.path.startswith("$") and p.message for p in problems)
        return
    event("answered")
    assert not mutated.poisoned
    assert _within_limits(answer)


# --- the app over HTTP, on both databases -------------------------------------------------


@dataclass
class LiveApp:
    """The real app on a free port, driven from a synchronous Hypothesis test."""

    runner: asyncio.Runner
    teams: Teams
    factory: async_sessionmaker[AsyncSession]

    def post(self, body: bytes) -> tuple[int, Any]:
        return self.runner.run(self.teams.intake(body))

    def counts(self) -> tuple[int, int]:
        async def count() -> tuple[int, int]:
            async with self.factory() as session:
                cases = await session.scalar(select(func.count()).select_from(Case))
                rejected = await session.scalar(select(func.count()).select_from(RejectedMessage))
                return int(cases or 0), int(rejected or 0)

        return self.runner.run(count())


@pytest.fixture
def live_app(db_url: str) -> Iterator[LiveApp]:
    with asyncio.Runner() as runner:
        engine: AsyncEngine = create_engine(db_url)
        factory = session_factory(engine)
        runner.run(_load_directory(factory))
        bot = running_bot(db_url)
        teams, _connector = runner.run(bot.__aenter__())
        try:
            yield LiveApp(runner, teams, factory)
        finally:
            runner.run(bot.__aexit__(None, None, None))
            runner.run(engine.dispose())


async def _load_directory(factory: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(factory) as session:
        await load_directory(
            session, (FIXTURES / "directory.yaml").read_text(encoding="utf-8"), actor="test"
        )


@settings(
    max_examples=EXAMPLES_HTTP,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutated=mutated_samples(), ascii_only=st.booleans())
def test_mutated_bundles_never_get_a_5xx_nor_make_a_case_when_refused(
    live_app: LiveApp, mutated: Mutated, ascii_only: bool
) -> None:
    cases, rejected = live_app.counts()
    status, answer = live_app.post(mutated.body(ascii_only=ascii_only))
    event(f"status {status}")
    assert status in (200, 201, 202, 400, 413, 422), (status, answer)
    if mutated.poisoned:
        assert status in (400, 422), answer
    after = live_app.counts()
    if status >= 400:
        assert answer["problems"] and all(p["path"].startswith("$") for p in answer["problems"])
        assert after == (cases, rejected + 1)
    else:
        assert after == (cases + (status != 200), rejected)


def test_the_mutations_reach_every_path_of_every_sample() -> None:
    """Guards the generator: paths() lists every node (so every JSON path can be drawn)."""
    document = {"a": [1, {"b": None}], "c": "x"}
    assert paths(document) == [("a",), ("a", 0), ("a", 1), ("a", 1, "b"), ("c",)]
    assert all(len(paths(json.loads(text))) > 100 for text in SAMPLES.values())

"""The verb table (bot/flows/registry.py): the contract of SPEC section 4, bound once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from bot.flows import registry
from bot.flows.verbs import Verb

TEMPLATES = Path(__file__).resolve().parents[2] / "cards" / "templates"
VERB_IN_TEMPLATE = re.compile(r'"verb"\s*:\s*"([^"]*)"')


def template_verbs() -> dict[str, set[str]]:
    """Template file name -> the verbs its buttons send."""
    found = {}
    for path in sorted(TEMPLATES.glob("*.j2")):
        verbs = set(VERB_IN_TEMPLATE.findall(path.read_text(encoding="utf-8")))
        if verbs:
            found[path.name] = verbs
    return found


def test_the_verbs_are_the_contract() -> None:
    assert [verb.value for verb in Verb] == [
        "case.decide",
        "case.undo",
        "case.assign",
        "task.complete",
        "task.reopen",
        "visit.record",
        "followup.record",
        "card.refresh",
    ]


def test_every_verb_has_one_route_and_the_start_up_check_passes() -> None:
    assert list(registry.ROUTES) == list(Verb)
    registry.check_routes()


def test_every_verb_in_the_card_templates_is_a_registered_verb() -> None:
    used = template_verbs()
    assert set().union(*used.values()) == set(Verb)  # every verb is on some card
    for name, verbs in used.items():
        assert verbs <= set(registry.ROUTES), (name, sorted(verbs - set(registry.ROUTES)))


def test_each_route_takes_the_data_its_flow_is_typed_for() -> None:
    for verb, route in registry.ROUTES.items():
        assert get_type_hints(route.handler)["data"] is route.model, verb


@pytest.mark.parametrize(
    "raw", [None, 17, 1.5, True, ["case.decide"], {"verb": "case.decide"}, "", "case.Decide"]
)
def test_only_a_verb_of_the_contract_has_a_route(raw: Any) -> None:
    assert registry.route_of(raw) is None


def test_a_verb_finds_its_route() -> None:
    found = registry.route_of("task.reopen")
    assert found is not None
    assert found[0] is Verb.REOPEN_TASK
    assert found[1] is registry.ROUTES[Verb.REOPEN_TASK]


def test_a_verb_without_a_route_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = dict(registry.ROUTES)
    del routes[Verb.RECORD_VISIT]
    monkeypatch.setattr(registry, "ROUTES", routes)
    with pytest.raises(RuntimeError, match=r"visit\.record"):
        registry.check_routes()


def test_a_route_to_something_else_than_a_data_model_stops_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    routes = dict(registry.ROUTES)
    routes[Verb.ASSIGN] = registry.Route(dict, routes[Verb.ASSIGN].handler)
    monkeypatch.setattr(registry, "ROUTES", routes)
    with pytest.raises(RuntimeError, match=r"case\.assign"):
        registry.check_routes()

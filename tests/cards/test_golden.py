"""Rendered cards equal the reviewed golden files in `golden/`.

Rewrite them with `UPDATE_GOLDEN=1 pytest tests/cards/test_golden.py`, then read the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cards.render import TEMPLATES_DIR, render
from tests.cards.contexts import VARIANTS
from tests.jobs.test_cards import VARIANTS as JOB_VARIANTS

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_card_matches_golden(variant: str) -> None:
    template, make = VARIANTS[variant]
    card = render(template, **make())
    path = GOLDEN / f"{variant}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert card == json.loads(path.read_text(encoding="utf-8"))


def test_every_template_has_a_golden_variant() -> None:
    templates = {
        path.name.removesuffix(".json.j2")
        for path in TEMPLATES_DIR.glob("*.json.j2")
        if not path.name.startswith("_")
    }
    covered = {template for template, _ in VARIANTS.values()}
    covered |= {template for template, _ in JOB_VARIANTS.values()}  # tests/jobs/golden
    assert templates == covered


def test_no_stale_golden_files() -> None:
    assert {path.stem for path in GOLDEN.glob("*.json")} == set(VARIANTS)

"""The physiotherapy referral draft (`bot.letters.render.physio_referral`): literal texts."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.cases.clinical import suggest
from bot.core.measurements import Measurement
from bot.letters.render import physio_referral

SPINE = Measurement("lumbar_spine", "Ländrygg L1–L4", None, 0.781, -2.9, -2.3)
NECK = Measurement("femoral_neck", "Lårbenshals", None, 0.652, -2.1, -0.8)


def _draft(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "patient_name": "Margareta Lindqvist",
        "patient_number": "195203142384",
        "protected": False,
        "fracture_label": "Handledsfraktur",
        "fracture_code": "S52.5",
        "fracture_text": "Distal radiusfraktur vänster",
        "scan_date": date(2026, 11, 10),
        "suggestion": suggest(
            measurements=[SPINE, NECK],
            birth_date=date(1952, 3, 14),
            scan_date=date(2026, 11, 10),
            fracture_code="S52.5",
        ),
        "treatment": "Alendronat",
        "decision_note": "Tolk behövs (finska).",
        "investigation": "Kontroll av D-vitamin.",
        "physician": "Erik Lund",
        "unit": "Tingvalla vårdcentral",
        "today": date(2027, 1, 14),
    }
    return physio_referral(**{**args, **overrides})


def test_the_whole_draft() -> None:
    assert _draft() == (
        "Remiss till fysioterapeut\n"
        "\n"
        "Från: Erik Lund, läkare, Tingvalla vårdcentral\n"
        "Datum: 2027-01-14\n"
        "\n"
        "Patient: Margareta Lindqvist\n"
        "Personnummer: 19520314-2384\n"
        "\n"
        "Frågeställning\n"
        "Bedömning av fallrisk samt träning av styrka och balans.\n"
        "\n"
        "Bakgrund\n"
        "Patienten har haft en fragilitetsfraktur (benbrott efter ett lindrigt fall eller "
        "annat lågt våld).\n"
        "Fraktur: Handledsfraktur (S52.5) – Distal radiusfraktur vänster\n"
        "\n"
        "Bentäthetsmätning 2026-11-10: lägsta T-score −2,9 (Ländrygg L1–L4), osteoporos "
        "enligt WHO.\n"
        "Behandling mot benskörhet har satts in: Alendronat.\n"
        "Patienten följs i frakturkedjan på Tingvalla vårdcentral för att förebygga nya "
        "frakturer.\n"
        "\n"
        "Vi ber er\n"
        "- bedöma patientens risk att falla\n"
        "- ge träning av styrka och balans, gärna med ett program som patienten kan "
        "fortsätta med hemma.\n"
        "\n"
        "Läkarens anteckningar\n"
        "Vid beslutet: Tolk behövs (finska).\n"
        "Kompletterande utredning: Kontroll av D-vitamin.\n"
        "\n"
        "Med vänliga hälsningar\n"
        "Erik Lund\n"
        "Läkare, Tingvalla vårdcentral\n"
    )


def test_protected_identity_has_placeholders() -> None:
    draft = _draft(protected=True)
    assert "Patient: [Patientens namn]\nPersonnummer: [Personnummer]\n" in draft
    assert "Margareta" not in draft and "Lindqvist" not in draft and "19520314" not in draft
    assert "2384" not in draft


def test_missing_name_or_number_is_a_placeholder() -> None:
    draft = _draft(patient_name=None, patient_number=None)
    assert "Patient: [Patientens namn]\nPersonnummer: [Personnummer]\n" in draft


def test_without_notes_treatment_or_fracture_details() -> None:
    draft = _draft(
        fracture_label=None,
        fracture_code=None,
        fracture_text=None,
        treatment=None,
        decision_note=None,
        investigation=None,
    )
    assert "Fraktur: uppgift saknas i svaret\n\nBentäthetsmätning" in draft
    assert "Behandling" not in draft and "Läkarens anteckningar" not in draft
    assert "frakturer.\n\nVi ber er\n" in draft
    assert "hemma.\n\nMed vänliga hälsningar\n" in draft


def test_only_one_of_the_notes() -> None:
    draft = _draft(decision_note=None)
    assert "Läkarens anteckningar\nKompletterande utredning: Kontroll av D-vitamin.\n\n" in draft
    draft = _draft(investigation=None)
    assert "Läkarens anteckningar\nVid beslutet: Tolk behövs (finska).\n\nMed" in draft


def test_fracture_text_or_code_alone() -> None:
    assert "Fraktur: Föll på isen\n" in _draft(
        fracture_label=None, fracture_code=None, fracture_text="Föll på isen"
    )
    assert "Fraktur: Annan fraktur (T14.2)\n" in _draft(
        fracture_label="Annan fraktur", fracture_code="T14.2", fracture_text=None
    )


def test_under_50_the_z_score_as_the_card_shows_it() -> None:
    young = suggest(
        measurements=[SPINE, NECK],
        birth_date=date(1985, 6, 2),
        scan_date=date(2026, 11, 10),
        fracture_code="S52.5",
    )
    draft = _draft(suggestion=young)
    assert (
        "Bentäthetsmätning 2026-11-10: lägsta Z-score −2,3 (Ländrygg L1–L4), under förväntat "
        "för åldern.\n"
    ) in draft
    assert "T-score" not in draft and "WHO" not in draft


def test_osteopenia_and_no_scores() -> None:
    osteopenia = suggest(
        measurements=[NECK], birth_date=None, scan_date=None, fracture_code="S72.0"
    )
    draft = _draft(suggestion=osteopenia, scan_date=None)
    assert "Bentäthetsmätning: lägsta T-score −2,1 (Lårbenshals), osteopeni enligt WHO.\n" in draft
    empty = suggest(measurements=[], birth_date=None, scan_date=None, fracture_code=None)
    draft = _draft(suggestion=empty)
    assert "Bentäthetsmätning 2026-11-10: svaret innehåller inget T- eller Z-score.\n" in draft

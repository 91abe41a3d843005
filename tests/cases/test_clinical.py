import json
from datetime import date
from pathlib import Path

import pytest

from bot.cases.clinical import (
    CATEGORY_LABELS,
    FRACTURE_LABELS,
    Suggestion,
    against_no_osteoporosis,
    age_on,
    format_score,
    fracture_group,
    round_score,
    suggest,
    who_category,
)
from bot.core.measurements import Measurement
from bot.intake.fhir import parse_bundle

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCAN = date(2026, 11, 10)


def M(site: str, label: str, t: float | None, z: float | None) -> Measurement:
    return Measurement(site, label, None, None, t, z)


def spine(t: float | None, z: float | None) -> Measurement:
    return M("lumbar_spine", "Ländrygg", t, z)


def neck(t: float | None, z: float | None) -> Measurement:
    return M("femoral_neck", "Lårbenshals", t, z)


def hip(t: float | None, z: float | None) -> Measurement:
    return M("total_hip", "Höft total", t, z)


# -- labels -----------------------------------------------------------------------


def test_labels():
    assert CATEGORY_LABELS == {
        "normal": "Normal bentäthet",
        "osteopenia": "Osteopeni",
        "osteoporosis": "Osteoporos",
    }
    assert FRACTURE_LABELS == {
        "hip": "Höftfraktur",
        "vertebra": "Kotfraktur",
        "wrist": "Handledsfraktur",
        "humerus": "Proximal humerusfraktur",
        "pelvis": "Bäckenfraktur",
        "other": "Annan fraktur",
    }


# -- WHO category -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "category"),
    [
        (2.0, "normal"),
        (0.0, "normal"),
        (-0.9, "normal"),
        (-1.0, "normal"),
        (-0.9999999999999999, "normal"),
        (-1.0000000000000002, "normal"),
        (-1.04, "normal"),
        (-1.05, "osteopenia"),
        (-1.1, "osteopenia"),
        (-1.9, "osteopenia"),
        (-2.4, "osteopenia"),
        (-2.44, "osteopenia"),
        (-2.45, "osteoporosis"),
        (-2.4999999999999996, "osteoporosis"),
        (-2.5, "osteoporosis"),
        (-2.5000000000000004, "osteoporosis"),
        (-1.5 - 1.0, "osteoporosis"),
        (-0.1 - 0.9, "normal"),
        (-2.6, "osteoporosis"),
        (-4.0, "osteoporosis"),
        (-10.0, "osteoporosis"),
        (-1, "normal"),
        (-3, "osteoporosis"),
    ],
)
def test_who_category(t, category):
    assert who_category(t) == category


def test_who_category_float_sums():
    # Float arithmetic must not move a score across a limit.
    assert -2.7 + 1.7 == -1.0000000000000002
    assert who_category(-2.7 + 1.7) == "normal"
    assert -1.9 + 0.9 == -0.9999999999999999
    assert who_category(-1.9 + 0.9) == "normal"


def test_who_category_rejects_nan():
    with pytest.raises(ValueError, match="finite"):
        who_category(float("nan"))


# -- formatting -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (-2.9, "−2,9"),
        (0.3, "0,3"),
        (0.0, "0,0"),
        (-0.0, "0,0"),
        (-0.04, "0,0"),
        (-0.05, "−0,1"),
        (0.05, "0,1"),
        (1.25, "1,3"),
        (-2.45, "−2,5"),
        (-2.449, "−2,4"),
        (-1, "−1,0"),
        (10.0, "10,0"),
        (-10.0, "−10,0"),
        (2.0, "2,0"),
    ],
)
def test_format_score(x, text):
    assert format_score(x) == text


def test_format_score_uses_the_real_minus_sign():
    assert format_score(-2.9)[0] == "\u2212"
    assert "-" not in format_score(-2.9)


@pytest.mark.parametrize(("x", "rounded"), [(-2.45, -2.5), (2.45, 2.5), (-2.44, -2.4), (0.05, 0.1)])
def test_round_score(x, rounded):
    assert round_score(x) == rounded


@pytest.mark.parametrize("x", [float("nan"), float("inf"), float("-inf")])
def test_round_score_rejects_non_finite(x):
    with pytest.raises(ValueError, match="finite"):
        round_score(x)


# -- fracture groups --------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "group"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("S72", "hip"),
        ("S72.0", "hip"),
        ("S72.1", "hip"),
        ("S72.2", "hip"),
        ("S72.00", "hip"),
        ("S720", "hip"),
        ("s72.0", "hip"),
        (" s721 ", "hip"),
        ("S72.9", "hip"),
        ("S22.0", "vertebra"),
        ("S22.00", "vertebra"),
        ("S22.01", "vertebra"),
        ("s2200", "vertebra"),
        ("S32.0", "vertebra"),
        ("S32.00", "vertebra"),
        ("S320", "vertebra"),
        ("S22.1", "other"),
        ("S22.3", "other"),
        ("S22", "other"),
        ("S52.5", "wrist"),
        ("S52.50", "wrist"),
        ("S526", "wrist"),
        ("S52.6", "wrist"),
        ("S52.4", "other"),
        ("S52.7", "other"),
        ("S42.2", "humerus"),
        ("S42.20", "humerus"),
        ("s422", "humerus"),
        ("S42.3", "other"),
        ("S32.1", "pelvis"),
        ("S32.2", "pelvis"),
        ("S32.3", "pelvis"),
        ("S32.4", "pelvis"),
        ("S32.5", "pelvis"),
        ("S32.7", "pelvis"),
        ("S32.8", "pelvis"),
        ("S32.81", "pelvis"),
        ("S32.9", "other"),
        ("S32", "other"),
        ("S82.6", "other"),
        ("M80.0", "other"),
        ("T12", "other"),
        ("fraktur", "other"),
    ],
)
def test_fracture_group(code, group):
    assert fracture_group(code) == group


# -- age ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(1976, 11, 10), date(2026, 11, 10), 50),
        (date(1976, 11, 11), date(2026, 11, 10), 49),
        (date(1952, 3, 14), date(2026, 11, 10), 74),
        (date(2000, 2, 29), date(2026, 2, 28), 25),
        (date(2000, 2, 29), date(2026, 3, 1), 26),
        (date(2000, 2, 29), date(2028, 2, 29), 28),
        (date(2026, 11, 10), date(2026, 11, 10), 0),
    ],
)
def test_age_on(birth, on, age):
    assert age_on(birth, on) == age


# -- the suggestion -------------------------------------------------------------------


def test_suggest_osteoporosis_sample_01():
    assert suggest(
        measurements=[spine(-2.9, -1.4), neck(-2.6, -1.0), hip(-2.1, -0.7)],
        birth_date=date(1952, 3, 14),
        scan_date=SCAN,
        fracture_code="S52.5",
    ) == Suggestion(
        age=74,
        use_z=False,
        lowest_t=-2.9,
        lowest_t_site_label="Ländrygg",
        category="osteoporosis",
        category_label="Osteoporos",
        lowest_z=-1.4,
        lowest_z_site_label="Ländrygg",
        z_below_expected=False,
        fracture_group="wrist",
        fracture_label="Handledsfraktur",
        treat_regardless=False,
        text="Lägsta T-score −2,9 (Ländrygg): osteoporos.",
    )


def test_suggest_normal_sample_02():
    assert suggest(
        measurements=[spine(-0.4, 0.1), neck(-0.8, -0.2), hip(-0.3, 0.2)],
        birth_date=date(1959, 11, 2),
        scan_date=SCAN,
        fracture_code="S42.2",
    ) == Suggestion(
        age=67,
        use_z=False,
        lowest_t=-0.8,
        lowest_t_site_label="Lårbenshals",
        category="normal",
        category_label="Normal bentäthet",
        lowest_z=-0.2,
        lowest_z_site_label="Lårbenshals",
        z_below_expected=False,
        fracture_group="humerus",
        fracture_label="Proximal humerusfraktur",
        treat_regardless=False,
        text="Lägsta T-score −0,8 (Lårbenshals): normal bentäthet.",
    )


def test_suggest_hip_fracture_with_osteopenia_sample_04():
    assert suggest(
        measurements=[spine(-1.2, 0.4), neck(-1.8, -0.1)],
        birth_date=date(1941, 1, 22),
        scan_date=SCAN,
        fracture_code="S72.0",
    ) == Suggestion(
        age=85,
        use_z=False,
        lowest_t=-1.8,
        lowest_t_site_label="Lårbenshals",
        category="osteopenia",
        category_label="Osteopeni",
        lowest_z=-0.1,
        lowest_z_site_label="Lårbenshals",
        z_below_expected=False,
        fracture_group="hip",
        fracture_label="Höftfraktur",
        treat_regardless=True,
        text="Lägsta T-score −1,8 (Lårbenshals): osteopeni.",
    )


def test_suggest_vertebral_fracture_sample_05():
    suggestion = suggest(
        measurements=[spine(-3.4, -1.9), hip(-2.5, -1.1)],
        birth_date=date(1955, 6, 30),
        scan_date=SCAN,
        fracture_code="S22.0",
    )
    assert (suggestion.category, suggestion.fracture_group, suggestion.treat_regardless) == (
        "osteoporosis",
        "vertebra",
        True,
    )
    assert (suggestion.lowest_z, suggestion.z_below_expected) == (-1.9, False)
    assert suggestion.text == "Lägsta T-score −3,4 (Ländrygg): osteoporos."


def test_suggest_without_fracture_code_sample_06():
    suggestion = suggest(
        measurements=[spine(-2.0, -1.1), neck(-2.2, -1.2)],
        birth_date=date(1958, 3, 15),
        scan_date=SCAN,
        fracture_code=None,
    )
    assert (suggestion.fracture_group, suggestion.fracture_label) == (None, None)
    assert suggestion.treat_regardless is False
    assert suggestion.text == "Lägsta T-score −2,2 (Lårbenshals): osteopeni."


def test_suggest_young_patient_uses_z_sample_09():
    assert suggest(
        measurements=[spine(-2.3, -2.1), neck(-1.6, -1.4)],
        birth_date=date(1981, 4, 19),
        scan_date=SCAN,
        fracture_code="S82.6",
    ) == Suggestion(
        age=45,
        use_z=True,
        lowest_t=-2.3,
        lowest_t_site_label="Ländrygg",
        category=None,
        category_label=None,
        lowest_z=-2.1,
        lowest_z_site_label="Ländrygg",
        z_below_expected=True,
        fracture_group="other",
        fracture_label="Annan fraktur",
        treat_regardless=False,
        text="Lägsta Z-score −2,1 (Ländrygg): under förväntat för åldern.",
    )


def test_suggest_young_patient_within_expected_range():
    suggestion = suggest(
        measurements=[spine(-1.5, -1.9), neck(-1.0, -0.5)],
        birth_date=date(1990, 1, 1),
        scan_date=SCAN,
        fracture_code=None,
    )
    assert (suggestion.use_z, suggestion.z_below_expected) == (True, False)
    assert suggestion.text == "Lägsta Z-score −1,9 (Ländrygg): inom förväntat för åldern."


def test_suggest_z_limit_is_inclusive():
    suggestion = suggest(
        measurements=[neck(-1.0, -2.0)],
        birth_date=date(1990, 1, 1),
        scan_date=SCAN,
        fracture_code=None,
    )
    assert suggestion.z_below_expected is True
    assert suggestion.text == "Lägsta Z-score −2,0 (Lårbenshals): under förväntat för åldern."


def test_suggest_z_limit_after_rounding():
    suggestion = suggest(
        measurements=[neck(-1.0, -1.96)],
        birth_date=date(1990, 1, 1),
        scan_date=SCAN,
        fracture_code=None,
    )
    assert suggestion.z_below_expected is True


def test_suggest_exactly_50_uses_t():
    suggestion = suggest(
        measurements=[spine(-2.5, -2.2)],
        birth_date=date(1976, 11, 10),
        scan_date=SCAN,
        fracture_code=None,
    )
    assert (suggestion.age, suggestion.use_z, suggestion.category) == (50, False, "osteoporosis")
    assert suggestion.z_below_expected is True
    assert suggestion.text == "Lägsta T-score −2,5 (Ländrygg): osteoporos."


def test_suggest_day_before_50th_birthday_uses_z():
    suggestion = suggest(
        measurements=[spine(-2.5, -2.2)],
        birth_date=date(1976, 11, 11),
        scan_date=SCAN,
        fracture_code=None,
    )
    assert (suggestion.age, suggestion.use_z, suggestion.category) == (49, True, None)


@pytest.mark.parametrize(
    ("birth_date", "scan_date"), [(None, SCAN), (date(1990, 1, 1), None), (None, None)]
)
def test_suggest_unknown_age_uses_t(birth_date, scan_date):
    suggestion = suggest(
        measurements=[spine(-1.2, -2.4)],
        birth_date=birth_date,
        scan_date=scan_date,
        fracture_code=None,
    )
    assert (suggestion.age, suggestion.use_z) == (None, False)
    assert suggestion.text == "Lägsta T-score −1,2 (Ländrygg): osteopeni."


def test_suggest_without_measurements():
    assert suggest(
        measurements=[], birth_date=date(1950, 1, 1), scan_date=SCAN, fracture_code="S32.0"
    ) == Suggestion(
        age=76,
        use_z=False,
        lowest_t=None,
        lowest_t_site_label=None,
        category=None,
        category_label=None,
        lowest_z=None,
        lowest_z_site_label=None,
        z_below_expected=False,
        fracture_group="vertebra",
        fracture_label="Kotfraktur",
        treat_regardless=True,
        text="Inga T-score i svaret.",
    )


def test_suggest_young_without_z_scores():
    suggestion = suggest(
        measurements=[spine(-2.0, None)],
        birth_date=date(1990, 1, 1),
        scan_date=SCAN,
        fracture_code=None,
    )
    assert suggestion.text == "Inga Z-score i svaret."
    assert (suggestion.lowest_t, suggestion.category) == (-2.0, None)


def test_suggest_skips_missing_scores():
    suggestion = suggest(
        measurements=[spine(None, -0.5), neck(-1.3, None)],
        birth_date=date(1950, 1, 1),
        scan_date=SCAN,
        fracture_code=None,
    )
    assert (suggestion.lowest_t, suggestion.lowest_t_site_label) == (-1.3, "Lårbenshals")
    assert (suggestion.lowest_z, suggestion.lowest_z_site_label) == (-0.5, "Ländrygg")


def test_suggest_tie_takes_the_first_site():
    suggestion = suggest(
        measurements=[neck(-2.1, -1.0), spine(-2.1, -1.0)],
        birth_date=date(1950, 1, 1),
        scan_date=SCAN,
        fracture_code=None,
    )
    assert suggestion.lowest_t_site_label == "Lårbenshals"
    assert suggestion.lowest_z_site_label == "Lårbenshals"


def test_suggest_pelvis_is_not_treat_regardless():
    suggestion = suggest(
        measurements=[spine(-1.0, 0.0)],
        birth_date=date(1950, 1, 1),
        scan_date=SCAN,
        fracture_code="s325",
    )
    assert (suggestion.fracture_group, suggestion.fracture_label) == ("pelvis", "Bäckenfraktur")
    assert suggestion.treat_regardless is False


def test_suggest_from_parsed_sample_03():
    raw = json.loads((FIXTURES / "03_osteopenia_jour_vc.json").read_text(encoding="utf-8"))
    answer = parse_bundle(raw, today=date(2026, 11, 12))
    suggestion = suggest(
        measurements=answer.measurements,
        birth_date=answer.patient.birth_date,
        scan_date=answer.scan_date,
        fracture_code=answer.fracture_code,
    )
    assert suggestion == Suggestion(
        age=78,
        use_z=False,
        lowest_t=-1.9,
        lowest_t_site_label="Lårbenshals",
        category="osteopenia",
        category_label="Osteopeni",
        lowest_z=-0.3,
        lowest_z_site_label="Lårbenshals",
        z_below_expected=False,
        fracture_group="wrist",
        fracture_label="Handledsfraktur",
        treat_regardless=False,
        text="Lägsta T-score −1,9 (Lårbenshals): osteopeni.",
    )


# -- a decision of no osteoporosis against the answer (issue 11) --------------------

OLD = date(1950, 1, 1)
YOUNG = date(1990, 1, 1)


@pytest.mark.parametrize(
    ("measurements", "birth_date", "fracture_code", "reasons"),
    [
        ([spine(-2.9, -1.4), neck(-2.6, -1.0)], OLD, "S52.5",
         ["Lägsta T-score −2,9 (Ländrygg): osteoporos"]),
        ([neck(-2.45, -1.0)], OLD, None, ["Lägsta T-score −2,5 (Lårbenshals): osteoporos"]),
        ([neck(-2.44, -1.0)], OLD, None, []),  # shown as −2,4: osteopenia
        ([spine(-2.5, -2.2)], None, None, ["Lägsta T-score −2,5 (Ländrygg): osteoporos"]),
        ([spine(-1.0, -2.5)], OLD, None, []),  # Z counts under 50 only
        ([spine(-3.0, -2.0)], YOUNG, None,
         ["Lägsta Z-score −2,0 (Ländrygg): under förväntat för åldern"]),
        ([spine(-3.0, -1.9)], YOUNG, None, []),  # under 50 the card does not judge by T
        ([spine(-0.5, 0.2)], OLD, "S72.0",
         ["Höftfraktur: behandling bör övervägas oavsett T-score"]),
        ([spine(-0.5, 0.2)], YOUNG, "s220",
         ["Kotfraktur: behandling bör övervägas oavsett T-score"]),
        ([spine(-3.4, -1.9)], OLD, "S32.0", [
            "Lägsta T-score −3,4 (Ländrygg): osteoporos",
            "Kotfraktur: behandling bör övervägas oavsett T-score",
        ]),
        ([spine(-0.5, 0.2)], OLD, "S52.5", []),
        ([], OLD, None, []),
    ],
)
def test_what_a_decision_of_no_osteoporosis_goes_against(
    measurements, birth_date, fracture_code, reasons
):
    suggestion = suggest(
        measurements=measurements,
        birth_date=birth_date,
        scan_date=SCAN,
        fracture_code=fracture_code,
    )
    assert against_no_osteoporosis(suggestion) == reasons

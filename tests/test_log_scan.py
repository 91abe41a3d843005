"""The log scan itself must be able to fail: it finds numbers in the forms they come in."""

from __future__ import annotations

from tests.helpers import personal_numbers_in


def test_scan_finds_personal_numbers_in_every_form() -> None:
    lines = [
        '{"message": "x", "patient": "195203142384"}',
        '{"message": "patient 19520314-2384 seen"}',
        '{"message": "520314-2384"}',
        '{"message": "a samordningsnummer 195803751204"}',
        '{"message": "not a sample: 197001011233"}',
        '{"message": "nor this samordningsnummer: 700161-4564"}',
    ]
    assert personal_numbers_in(lines) == lines


def test_scan_ignores_other_numbers() -> None:
    lines = [
        '{"time": "2026-11-21T10:00:00.123+00:00", "ms": 12.5, "case_id": 123456}',
        '{"outbox_id": 1795303611, "status": 429}',
        '{"message": "20261121-0000"}',
    ]
    assert personal_numbers_in(lines) == []

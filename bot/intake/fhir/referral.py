"""The referral (ServiceRequest): its identifier and the index fracture, by ICD-10 code
and text."""

from __future__ import annotations

import re

from bot.intake.fhir.access import Reader
from bot.intake.fhir.bundle import Resource
from bot.intake.fhir.codes import ICD10_SYSTEM
from bot.intake.limits import CODE_MAX, IDENTIFIER_VALUE_MAX, TEXT_MAX

__all__ = ["read_fracture", "read_referral_id"]

_ICD10_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])((?:S[0-9]{2}|M80)(?:\.?[0-9]{1,2})?)(?![A-Za-z0-9])")


def read_referral_id(reader: Reader, referral: Resource | None) -> str | None:
    """The value of the referral's first identifier that has one."""
    if referral is None:
        return None
    for identifier_path, identifier in reader.objects(referral.body, "identifier", referral.path):
        value = reader.string(identifier, "value", identifier_path, max_length=IDENTIFIER_VALUE_MAX)
        if value is not None:
            return value
    return None


def read_fracture(reader: Reader, referral: Resource | None) -> tuple[str | None, str | None]:
    """(ICD-10 code, text) of the index fracture; the code is kept to ``CODE_MAX``
    characters and the text (with its path, as it is stored) to ``TEXT_MAX``.

    The first ICD-10 coding of ``reasonCode`` wins, else the first S-code (or M80) found
    in the reasonCode texts or notes.
    """
    if referral is None:
        return None, None
    texts: list[tuple[str, str]] = []
    for concept_path, concept in reader.objects(referral.body, "reasonCode", referral.path):
        concept_text = reader.string(concept, "text", concept_path)
        for coding_path, coding, system, code in reader.codings(concept, concept_path):
            if system == ICD10_SYSTEM and code is not None:
                reader.bounded(code.strip(), f"{coding_path}.code", CODE_MAX)
                if concept_text is not None:
                    return code.strip(), _stored_text(reader, concept_text, f"{concept_path}.text")
                display = reader.string(coding, "display", coding_path, max_length=TEXT_MAX)
                return code.strip(), display
        if concept_text is not None:
            texts.append((concept_text, f"{concept_path}.text"))
    for note_path, note in reader.objects(referral.body, "note", referral.path):
        note_text = reader.string(note, "text", note_path)
        if note_text is not None:
            texts.append((note_text, f"{note_path}.text"))
    for text, text_path in texts:
        match = _ICD10_IN_TEXT.search(text.upper())
        if match is not None:
            return _normalise_icd10(match[1]), _stored_text(reader, text, text_path)
    return None, (_stored_text(reader, *texts[0]) if texts else None)


def _stored_text(reader: Reader, text: str, path: str) -> str:
    """``text``, which is stored: a problem when it is over ``TEXT_MAX``."""
    reader.bounded(text, path, TEXT_MAX)
    return text


def _normalise_icd10(code: str) -> str:
    code = code.upper()
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code

"""The code systems and codes the parser reads: LOINC for the DXA panel and its
measurements, ICD-10 for the fracture, HSA for units and practitioners, and the security
label of a protected identity."""

from __future__ import annotations

from typing import Literal

__all__ = [
    "DXA_PANEL_CODE",
    "HSA_SYSTEM",
    "ICD10_SYSTEM",
    "LOINC_MEASURES",
    "LOINC_SYSTEMS",
    "PROTECTED_IDENTITY_CODE",
    "MeasureKind",
]

MeasureKind = Literal["bmd", "t", "z"]

LOINC_SYSTEMS: frozenset[str] = frozenset({"http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"})
DXA_PANEL_CODE = "83311-1"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"
PROTECTED_IDENTITY_CODE = "skyddadFolkbokforing"

_MEASURE_KINDS: tuple[MeasureKind, ...] = ("bmd", "t", "z")
_SITE_CODES: dict[str, tuple[str, str, str]] = {
    # site: (BMD, T-score, Z-score)
    "lumbar_spine": ("24966-4", "38267-1", "85394-5"),
    "femoral_neck": ("24701-5", "38263-0", "80934-3"),
    "femur_left": ("80954-1", "80948-3", "80940-0"),
    "femur_right": ("80953-3", "80947-5", "80939-2"),
    "total_hip": ("38261-4", "38264-8", "80933-5"),
    "hip_left": ("46278-8", "80946-7", "80938-4"),
    "hip_right": ("46279-6", "80945-9", "80937-6"),
    "forearm": ("24890-6", "38265-5", "80932-7"),
    "forearm_left": ("80952-5", "80944-2", "80936-8"),
    "forearm_right": ("80951-7", "80943-4", "80935-0"),
}

LOINC_MEASURES: dict[str, tuple[str, MeasureKind]] = {
    code: (site, kind)
    for site, codes in _SITE_CODES.items()
    for code, kind in zip(codes, _MEASURE_KINDS, strict=True)
}
"""LOINC code -> (site key, measure kind) for the DXA observations we read."""

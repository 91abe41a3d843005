"""The measurement of one DXA site and the Swedish names of the sites (SPEC section 8)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SITE_LABELS", "Measurement"]

SITE_LABELS: dict[str, str] = {
    "lumbar_spine": "Ländrygg",
    "femoral_neck": "Lårbenshals",
    "femur_left": "Lårben vänster",
    "femur_right": "Lårben höger",
    "total_hip": "Höft total",
    "hip_left": "Höft vänster",
    "hip_right": "Höft höger",
    "forearm": "Underarm",
    "forearm_left": "Underarm vänster",
    "forearm_right": "Underarm höger",
}
"""Measurement site key -> Swedish label, in table order (SPEC section 8)."""


@dataclass(frozen=True)
class Measurement:
    """The BMD, T- and Z-score of one site (any of them may be missing)."""

    site: str
    site_label: str
    body_site_text: str | None
    bmd: float | None
    t_score: float | None
    z_score: float | None

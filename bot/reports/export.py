"""A quality report as text lines, JSON and CSV: the forms the command and the page share.

Values are shown as: counts as whole numbers ("2 av 4" when the figure has a
denominator), shares as "75.0 % (3/4)", medians in days as "3.5 (n=6)" or "61 (n=4)",
and a figure with no value as "–". CSV holds the raw numbers (share in percent, median
in days) with empty cells for no value.

The KPIs (``kpis``) follow the figures everywhere: in the text as their own block, in
JSON as the list ``kpis``, in CSV as one row each after the figures' rows, with the
percent in ``value`` and the IOF level in the last column, ``band`` (empty for figures).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.reports.kpis import Kpi
from bot.reports.service import Figure, QualityReport

__all__ = [
    "CSV_HEADER",
    "NO_DATA",
    "display_kpi",
    "display_value",
    "heading",
    "kpi_json",
    "to_csv",
    "to_json",
    "to_text",
]

NO_DATA = "–"
CSV_HEADER = ("key", "label", "value", "numerator", "denominator", "band")


def _days(value: int | float) -> str:
    """Whole days without decimals ("61"), half days with one ("3.5")."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def display_value(figure: Figure) -> str:
    """The figure's value as a person reads it ("–" when it has none)."""
    if figure.value is None:
        return NO_DATA
    if figure.kind == "share":
        return f"{figure.value:.1f} % ({figure.numerator}/{figure.denominator})"
    if figure.kind == "median_days":
        return f"{_days(figure.value)} (n={figure.denominator})"
    if figure.denominator is not None:
        return f"{figure.value} av {figure.denominator}"
    return str(figure.value)


def display_kpi(kpi: Kpi) -> str:
    """A KPI as a person reads it: "55.6 % (5/9)", or "–" with no denominator."""
    if kpi.percent is None:
        return NO_DATA
    return f"{kpi.percent:.1f} % ({kpi.numerator}/{kpi.denominator})"


def heading(report: QualityReport) -> list[str]:
    """The lines naming the unit, the period and the snapshot date."""
    return [
        f"Kvalitetsmått för {report.unit_name} ({report.unit_hsa})",
        f"Period {report.start} – {report.end} (båda dagarna ingår, datum i Europe/Stockholm)",
        f"Ögonblicksbild (försenade uppgifter, väntar på fördelning) per {report.today}",
    ]


def to_text(report: QualityReport) -> str:
    """Heading, one aligned line per figure (`key  label  value`), one per KPI
    (`key  label  value  band`), then the definitions of both."""
    figures = report.figures()
    key_width = max(len(f.key) for f in figures)
    label_width = max(len(f.label) for f in figures)
    lines = heading(report)
    lines.append("")
    for figure in figures:
        lines.append(
            f"{figure.key:<{key_width}}  {figure.label:<{label_width}}  {display_value(figure)}"
        )
    lines.append("")
    lines.append("Frakturkedjans indikatorer (IOF-nivå <50, 50-80 eller >80 %):")
    key_width = max(len(k.key) for k in report.kpis)
    label_width = max(len(k.label) for k in report.kpis)
    value_width = max(len(display_kpi(k)) for k in report.kpis)
    for kpi in report.kpis:
        lines.append(
            f"{kpi.key:<{key_width}}  {kpi.label:<{label_width}}  "
            f"{display_kpi(kpi):<{value_width}}  {kpi.band or NO_DATA}"
        )
    lines.append("")
    lines.append("Definitioner:")
    for figure in figures:
        lines.append(f"  {figure.key}: {figure.definition}")
    for kpi in report.kpis:
        lines.append(f"  {kpi.key}: {kpi.definition}")
    return "\n".join(lines) + "\n"


def kpi_json(kpi: Kpi) -> dict[str, Any]:
    """A KPI as JSON: ``percent`` and ``band`` are null when the denominator is 0."""
    return {
        "key": kpi.key,
        "label": kpi.label,
        "numerator": kpi.numerator,
        "denominator": kpi.denominator,
        "percent": kpi.percent,
        "band": kpi.band,
        "definition": kpi.definition,
    }


def to_json(report: QualityReport) -> dict[str, Any]:
    """The report as a JSON-ready dict: the period, then every figure with its definition."""
    return {
        "unit": {"hsa_id": report.unit_hsa, "name": report.unit_name},
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "today": report.today.isoformat(),
        "overdue_reference": report.overdue_reference.isoformat(),
        "call_in_months": report.call_in_months,
        "figures": [
            {
                "key": f.key,
                "label": f.label,
                "kind": f.kind,
                "value": f.value,
                "numerator": f.numerator,
                "denominator": f.denominator,
                "display": display_value(f),
                "definition": f.definition,
            }
            for f in report.figures()
        ],
        "kpis": [kpi_json(k) for k in report.kpis],
    }


def _cell(value: int | float | None) -> str:
    return "" if value is None else str(value)


def to_csv(report: QualityReport) -> str:
    """One row per figure, then one per KPI, under the header
    `key,label,value,numerator,denominator,band` (a KPI's value is its percent)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for f in report.figures():
        writer.writerow(
            [f.key, f.label, _cell(f.value), _cell(f.numerator), _cell(f.denominator), ""]
        )
    for k in report.kpis:
        writer.writerow(
            [k.key, k.label, _cell(k.percent), k.numerator, k.denominator, k.band or ""]
        )
    return out.getvalue()

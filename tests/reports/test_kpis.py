"""The fracture-liaison KPIs and their run charts on the known data set of
`tests/reports/kpi_data.py`, on SQLite and PostgreSQL, with literal expectations."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.api.openapi import DOCUMENT_PATH
from bot.app import create_app
from bot.config import Settings
from bot.db import transaction
from bot.reports import export
from bot.reports.kpis import KPI_KEYS, band, chart_months, percent
from bot.reports.page import render_html
from bot.reports.run_chart import layout
from bot.reports.service import KEYS, QualityReport, quality_figures
from tests.reports.kpi_data import OTHER, UNIT, seed_kpis
from tests.reports.test_quality import utc

MARCH = (date(2026, 3, 1), date(2026, 3, 31))
TODAY = date(2026, 6, 15)
TOKEN = "kpi-test-token"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
async def seeded(factory: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    async with transaction(factory) as session:
        await seed_kpis(session)
    return factory


async def report_for(
    factory: async_sessionmaker[AsyncSession], start: date, end: date, unit: str = UNIT
) -> QualityReport:
    async with factory() as session:
        return await quality_figures(session, unit_hsa=unit, start=start, end=end, today=TODAY)


def kpi_rows(report: QualityReport) -> list[tuple[str, int, int, float | None, str | None]]:
    return [(k.key, k.numerator, k.denominator, k.percent, k.band) for k in report.kpis]


def chart_values(report: QualityReport) -> dict[str, list[float | None]]:
    return {c.key: [m.percent for m in c.months] for c in report.run_charts}


NONE_9 = [None] * 9  # April to December 2025: nothing happened


async def test_march(seeded: async_sessionmaker[AsyncSession]) -> None:
    report = await report_for(seeded, *MARCH)
    assert kpi_rows(report) == [
        # K1 14 d, K3, K4, N3 1 d, K6 11 d from its first version; not K2 15 d, K5, N1, N2
        ("decided_within_14_days", 5, 9, 55.6, "50-80"),
        # K8 K1 K2 K3 of K8 K9 K1 K2 K3 K4 N3 (K6's first version is superseded)
        ("treatment_recommended", 4, 7, 57.1, "50-80"),
        ("treatment_started_16w", 2, 4, 50.0, "50-80"),  # K1 (visit 35 d), K3 (visit 112 d)
        ("monitored_16w", 1, 4, 25.0, "<50"),  # K1 (55 d); K2 114 d, K3 113 d
        ("on_treatment_52w", 1, 3, 33.3, "<50"),  # K2 (280 d); K1 stopped at its latest
        ("physio_referred", 1, 4, 25.0, "<50"),  # P1 of P1 P2 P3 P5 (P4 is on 04-01)
        ("refractures", 2, 6, 33.3, "<50"),  # patient-P1 (FU and N1), patient-K4 (N3)
    ]
    assert [k.key for k in report.kpis] == list(KPI_KEYS)
    assert [k.label for k in report.kpis] == [
        "Beslut inom 14 dagar från svar",
        "Behandling rekommenderad (kallelse)",
        "Behandling påbörjad inom 16 veckor",
        "Uppföljning inom 16 veckor",
        "Kvar på behandling efter 52 veckor",
        "Remiss till fysioterapeut skickad",
        "Ny fraktur (refraktur)",
    ]
    assert all(k.definition for k in report.kpis)
    # the figures keep their own cohorts beside the KPIs
    assert report.answers_received.value == 9
    assert report.median_days_answer_to_decision.denominator == 7


async def test_april_and_a_year(seeded: async_sessionmaker[AsyncSession]) -> None:
    april = await report_for(seeded, date(2026, 4, 1), date(2026, 4, 30))
    assert kpi_rows(april) == [
        ("decided_within_14_days", 0, 0, None, None),  # K6's correction is not a new answer
        ("treatment_recommended", 0, 1, 0.0, "<50"),  # K6's correction, normal_letter
        ("treatment_started_16w", 0, 0, None, None),
        ("monitored_16w", 0, 0, None, None),
        ("on_treatment_52w", 0, 0, None, None),
        ("physio_referred", 1, 2, 50.0, "50-80"),  # P4 (04-01 local), K1 without
        ("refractures", 0, 1, 0.0, "<50"),  # K6's correction is no re-fracture
    ]
    year = await report_for(seeded, date(2025, 3, 1), date(2026, 3, 31))
    assert kpi_rows(year) == [
        ("decided_within_14_days", 13, 17, 76.5, "50-80"),  # OLD, P1-P5, K8, K9 and March
        ("treatment_recommended", 9, 13, 69.2, "50-80"),
        ("treatment_started_16w", 3, 9, 33.3, "<50"),  # P1 (57 d), K1, K3
        ("monitored_16w", 2, 9, 22.2, "<50"),  # P1 (67 d), K1
        ("on_treatment_52w", 1, 4, 25.0, "<50"),  # P1 K1 K2 K3 treated; K2 kept
        ("physio_referred", 1, 4, 25.0, "<50"),
        ("refractures", 2, 12, 16.7, "<50"),  # K1's new fracture (05-10) is after it
    ]


async def test_other_unit(seeded: async_sessionmaker[AsyncSession]) -> None:
    """O1 is a re-fracture of K2's patient (decided at Tingvalla on 03-18): the earlier case
    may be at any unit. Nothing was decided at Other in March: no percent, no band."""
    report = await report_for(seeded, *MARCH, unit=OTHER)
    assert kpi_rows(report) == [
        ("decided_within_14_days", 0, 1, 0.0, "<50"),
        ("treatment_recommended", 0, 0, None, None),
        ("treatment_started_16w", 0, 0, None, None),
        ("monitored_16w", 0, 0, None, None),
        ("on_treatment_52w", 0, 0, None, None),
        ("physio_referred", 0, 0, None, None),
        ("refractures", 2, 0, None, None),  # O1, and O2's follow-up on 03-15
    ]


async def test_run_charts(seeded: async_sessionmaker[AsyncSession]) -> None:
    report = await report_for(seeded, *MARCH)
    months = report.run_charts[0].months
    assert len(months) == 12
    assert (months[0].start, months[0].end) == (date(2025, 4, 1), date(2025, 4, 30))
    assert [(m.start, m.end) for m in months][-3:] == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 31)),
    ]
    assert chart_values(report) == {
        "decided_within_14_days": [*NONE_9, 100.0, 100.0, 55.6],  # OLD is 2025-03: left out
        "treatment_recommended": [*NONE_9, 100.0, None, 57.1],
        "treatment_started_16w": [*NONE_9, 20.0, None, 50.0],
        "monitored_16w": [*NONE_9, 20.0, None, 25.0],
        "on_treatment_52w": [*NONE_9, 0.0, None, 33.3],
        "physio_referred": [*NONE_9, None, None, 25.0],
        "refractures": [*NONE_9, 0.0, None, 33.3],
    }
    assert [c.median for c in report.run_charts] == [100.0, 78.6, 35.0, 22.5, 16.7, 25.0, 16.7]
    assert report.run_charts[-1].months[-1].numerator == 2
    # the chart ends with the period, whatever its start
    short = await report_for(seeded, date(2026, 3, 10), date(2026, 3, 15))
    last = short.run_charts[0].months[-1]
    assert (last.start, last.end) == (date(2026, 3, 1), date(2026, 3, 15))
    assert (last.numerator, last.denominator) == (3, 4)  # K1 K3 K4 of K1-K4 (K7 cancelled)
    assert chart_values(short)["treatment_recommended"][-1] == 50.0  # K8 K3 of K8 K9 K3 K4


def test_chart_months_cross_the_year_and_stop_at_the_end() -> None:
    months = chart_months(date(2026, 2, 14))
    assert len(months) == 12
    assert months[0] == (date(2025, 3, 1), date(2025, 3, 31))
    assert months[-2] == (date(2026, 1, 1), date(2026, 1, 31))
    assert months[-1] == (date(2026, 2, 1), date(2026, 2, 14))


def test_bands_and_rounding() -> None:
    assert [band(v) for v in (None, 0.0, 49.9, 50.0, 65.0, 80.0, 80.1, 100.0)] == [
        None, "<50", "<50", "50-80", "50-80", "50-80", ">80", ">80",
    ]  # fmt: skip
    assert percent(1, 0) is None
    assert percent(0, 3) == 0.0
    assert percent(1, 3) == 33.3
    assert percent(2, 3) == 66.7
    assert percent(1, 8) == 12.5
    assert percent(1, 16) == 6.3  # 6.25 half up
    assert percent(999, 1000) == 99.9
    assert band(percent(4999, 10000)) == "50-80"  # 49.99 shows as 50.0: the band follows


async def test_queries_do_not_grow_with_the_cases(seeded: async_sessionmaker[AsyncSession]) -> None:
    """The report reads in a fixed number of statements: none per case, month or KPI."""
    async with seeded() as session:
        statements: list[str] = []
        engine = session.sync_session.get_bind()

        def count(*args: Any) -> None:
            if args[2].lstrip().upper().startswith("SELECT"):  # not SQLite's BEGIN IMMEDIATE
                statements.append(args[2])

        event.listen(engine, "before_cursor_execute", count)
        try:
            await quality_figures(session, unit_hsa=UNIT, start=MARCH[0], end=MARCH[1], today=TODAY)
            first = len(statements)
            statements.clear()
            await quality_figures(
                session, unit_hsa=UNIT, start=date(2020, 1, 1), end=date(2027, 12, 31), today=TODAY
            )
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert first == len(statements) == 11


# --- the exports --------------------------------------------------------------------------


async def test_json_csv_text(seeded: async_sessionmaker[AsyncSession]) -> None:
    report = await report_for(seeded, *MARCH)
    body = export.to_json(report)
    assert [f["key"] for f in body["figures"]] == list(KEYS)
    assert body["kpis"][0] == {
        "key": "decided_within_14_days",
        "label": "Beslut inom 14 dagar från svar",
        "numerator": 5,
        "denominator": 9,
        "percent": 55.6,
        "band": "50-80",
        "definition": body["kpis"][0]["definition"],
    }
    other = export.to_json(await report_for(seeded, *MARCH, unit=OTHER))
    assert other["kpis"][6] == {
        "key": "refractures",
        "label": "Ny fraktur (refraktur)",
        "numerator": 2,
        "denominator": 0,
        "percent": None,
        "band": None,
        "definition": other["kpis"][6]["definition"],
    }
    document = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    schema = {
        **document["components"]["schemas"]["QualityReport"],
        "components": document["components"],
    }
    validator = Draft202012Validator(schema)
    for checked in (body, other, json.loads(json.dumps(body))):
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(checked)]
        assert problems == []
    assert list(validator.iter_errors({**body, "kpis": [{**body["kpis"][0], "band": "80+"}]}))
    assert list(validator.iter_errors({k: v for k, v in body.items() if k != "kpis"}))
    kpi_schema = document["components"]["schemas"]["Kpi"]
    assert kpi_schema["properties"]["key"]["enum"] == list(KPI_KEYS)
    assert document["components"]["schemas"]["Figure"]["properties"]["key"]["enum"] == list(KEYS)

    assert export.to_csv(report).splitlines()[-8:] == [
        "awaiting_assignment,Väntar på fördelning (nu),0,,,",
        "decided_within_14_days,Beslut inom 14 dagar från svar,55.6,5,9,50-80",
        "treatment_recommended,Behandling rekommenderad (kallelse),57.1,4,7,50-80",
        "treatment_started_16w,Behandling påbörjad inom 16 veckor,50.0,2,4,50-80",
        "monitored_16w,Uppföljning inom 16 veckor,25.0,1,4,<50",
        "on_treatment_52w,Kvar på behandling efter 52 veckor,33.3,1,3,<50",
        "physio_referred,Remiss till fysioterapeut skickad,25.0,1,4,<50",
        "refractures,Ny fraktur (refraktur),33.3,2,6,<50",
    ]
    assert export.to_csv(await report_for(seeded, *MARCH, unit=OTHER)).splitlines()[-1] == (
        "refractures,Ny fraktur (refraktur),,2,0,"
    )

    text = export.to_text(report)
    assert text.splitlines()[15:23] == [
        "Frakturkedjans indikatorer (IOF-nivå <50, 50-80 eller >80 %):",
        "decided_within_14_days  Beslut inom 14 dagar från svar       55.6 % (5/9)  50-80",
        "treatment_recommended   Behandling rekommenderad (kallelse)  57.1 % (4/7)  50-80",
        "treatment_started_16w   Behandling påbörjad inom 16 veckor   50.0 % (2/4)  50-80",
        "monitored_16w           Uppföljning inom 16 veckor           25.0 % (1/4)  <50",
        "on_treatment_52w        Kvar på behandling efter 52 veckor   33.3 % (1/3)  <50",
        "physio_referred         Remiss till fysioterapeut skickad    25.0 % (1/4)  <50",
        "refractures             Ny fraktur (refraktur)               33.3 % (2/6)  <50",
    ]
    assert "  refractures: Patienter med ny fraktur" in text


# --- the page and its run charts ----------------------------------------------------------

EXPECTED_POINTS = {
    "decided_within_14_days": "252,10 276,10 300,54.4",
    "treatment_recommended": "252,10 300,52.9",
    "treatment_started_16w": "252,90 300,60",
    "monitored_16w": "252,90 300,85",
    "on_treatment_52w": "252,110 300,76.7",
    "physio_referred": "300,85",
    "refractures": "252,110 300,76.7",
}
EXPECTED_MEDIAN_Y = {
    "decided_within_14_days": "10",
    "treatment_recommended": "31.4",
    "treatment_started_16w": "75",
    "monitored_16w": "87.5",
    "on_treatment_52w": "93.3",
    "physio_referred": "85",
    "refractures": "93.3",
}


def svgs(html: str) -> list[ET.Element]:
    """Each inline <svg> of the page, parsed as XML (a parse error fails the test)."""
    found = re.findall(r"<svg\b.*?</svg>", html, flags=re.DOTALL)
    return [ET.fromstring(svg) for svg in found]


async def test_page_draws_one_run_chart_per_kpi(
    db_url: str, seeded: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(database_url=db_url, report_tokens_raw=TOKEN)
    app = create_app(settings, local=True, run_worker=False, clock=lambda: utc("2026-06-15 10:00"))
    march = {"unit": UNIT, "from": "2026-03-01", "to": "2026-03-31"}
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/reports/quality", params=march)
        assert response.status == 401
        response = await client.get(
            "/reports/quality", params=march, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert response.status == 200
        html = await response.text()
        response = await client.get(
            "/reports/quality",
            params={**march, "format": "json"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert [k["percent"] for k in (await response.json())["kpis"]] == [
            55.6, 57.1, 50.0, 25.0, 33.3, 25.0, 33.3,
        ]  # fmt: skip

    charts = svgs(html)
    assert [svg.get("id") for svg in charts] == [f"chart-{key}" for key in KPI_KEYS]
    points = {}
    medians = {}
    for svg in charts:
        key = (svg.get("id") or "").removeprefix("chart-")
        [polyline] = svg.iter(f"{SVG}polyline")
        points[key] = polyline.get("points")
        [median] = [line for line in svg.iter(f"{SVG}line") if line.get("class") == "median"]
        assert median.get("y1") == median.get("y2")
        medians[key] = median.get("y1")
        circles = [(c.get("cx"), c.get("cy")) for c in svg.iter(f"{SVG}circle")]
        assert " ".join(f"{x},{y}" for x, y in circles) == points[key]
    assert points == EXPECTED_POINTS
    assert medians == EXPECTED_MEDIAN_Y
    first = charts[0]
    assert first.findtext(f"{SVG}title") == "Beslut inom 14 dagar från svar: andel per månad"
    assert [c.findtext(f"{SVG}title") for c in first.iter(f"{SVG}circle")] == [
        "2026-01: 100.0 % (5/5)",
        "2026-02: 100.0 % (2/2)",
        "2026-03: 55.6 % (5/9)",
    ]
    ticks = [t.text for t in first.iter(f"{SVG}text") if t.get("class") == "axis"]
    assert ticks == ["0", "50", "80", "100", "A", "2025", "M", "J", "J", "A", "S", "O", "N",
                     "D", "J", "2026", "F", "M"]  # fmt: skip
    # the table beside the charts
    assert '<tr id="kpi-refractures">' in html
    assert '<td class="value">33.3 % (2/6)</td>' in html
    assert (
        "<script" not in html
        and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
        and "https://" not in html
    )


async def test_page_without_data_and_escaped(seeded: async_sessionmaker[AsyncSession]) -> None:
    report = await report_for(seeded, date(2024, 1, 1), date(2024, 1, 31))
    html = render_html(report, csv_link="/reports/quality?a=1&b=<2>")
    charts = svgs(html)
    assert len(charts) == 7
    for svg in charts:
        assert [p.get("points") for p in svg.iter(f"{SVG}polyline")] == [""]
        assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "empty"] == [
            "Inga data"
        ]
        assert not [line for line in svg.iter(f"{SVG}line") if line.get("class") == "median"]
    assert 'href="/reports/quality?a=1&amp;b=&lt;2&gt;"' in html

    hostile = report.run_charts[0]
    chart = layout(replace(hostile, label='<b>"x" & y</b>'))
    page = replace(
        report, run_charts=(replace(hostile, label='<b>"x" & y</b>'), *report.run_charts[1:])
    )
    html = render_html(page, csv_link="/")
    assert chart.title == '<b>"x" & y</b>: andel per månad'
    assert svgs(html)[0].findtext(f"{SVG}title") == '<b>"x" & y</b>: andel per månad'
    assert "<b>" not in html


def test_scale_grows_above_100() -> None:
    from bot.reports.kpis import KpiMonth, RunChart

    months = tuple(
        KpiMonth(date(2026, m, 1), date(2026, m, 28), n, d, percent(n, d))
        for m, n, d in ((1, 3, 2), (2, 1, 2))
    ) + tuple(KpiMonth(date(2026, m, 1), date(2026, m, 28), 0, 0, None) for m in range(3, 13))
    chart = layout(RunChart("refractures", "Ny fraktur", months, 100.0))
    assert chart.polyline == "36,10 60,76.7"  # scale 150: y = 10 + 100 (150 - p) / 150
    assert [g.label for g in chart.grid] == ["0", "50", "80", "150"]
    assert chart.median is not None and chart.median.y == "43.3"

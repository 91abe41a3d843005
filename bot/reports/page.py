"""`GET /reports/quality?unit=HSA&from=DATE&to=DATE[&format=html|csv|json]`: read-only.

Bearer tokens from `REPORT_TOKENS` (401 otherwise). `from` and `to` are YYYY-MM-DD
(1900-01-01 to 2999-12-31), both included; a missing or bad parameter is a 400 naming it,
an unknown unit a 404. Every read of a known or unknown unit is audited as `report.read`.
The snapshot figures are taken on the Stockholm date of the app clock.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2
from aiohttp import web

from bot.api.auth import bearer_sender, unauthorized
from bot.audit import service as audit
from bot.core.calendar import local_date
from bot.db import transaction
from bot.reports import export
from bot.reports.run_chart import layout
from bot.reports.service import (
    FIRST_DAY,
    LAST_DAY,
    QualityReport,
    UnknownUnit,
    quality_figures,
    report_day,
)
from bot.state import STATE

__all__ = ["FORMATS", "render_html", "report_page"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
FORMATS = ("html", "csv", "json")
_DATE_WANTED = f"a date of the form YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY} is required"
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def render_html(report: QualityReport, *, csv_link: str) -> str:
    """The report as an HTML page (every value escaped): the figures' table, then the KPIs'
    table with each KPI's monthly run chart beside it, as inline SVG (no script, nothing
    loaded from elsewhere)."""
    rows = export.to_json(report)["figures"]
    kpis = [{**export.kpi_json(k), "display": export.display_kpi(k)} for k in report.kpis]
    charts = [layout(chart) for chart in report.run_charts]
    template = _environment().get_template("report.html.j2")
    return template.render(report=report, rows=rows, kpis=kpis, charts=charts, csv_link=csv_link)


def _bad(path: str, message: str) -> web.Response:
    return web.json_response(
        {"error": "bad request", "problems": [{"path": path, "message": message}]}, status=400
    )


async def report_page(request: web.Request) -> web.Response:
    """The quality figures of one unit and period as HTML (default), CSV or JSON."""
    state = request.app[STATE]
    sender = bearer_sender(request, state.settings.report_tokens)
    if sender is None:
        return unauthorized()
    unit_hsa = request.query.get("unit", "").strip()
    if not unit_hsa:
        return _bad("unit", "the unit's HSA-id is required")
    if "\x00" in unit_hsa:
        return _bad("unit", "an HSA-id has no NUL character")
    start = report_day(request.query.get("from"))
    if start is None:
        return _bad("from", _DATE_WANTED)
    end = report_day(request.query.get("to"))
    if end is None:
        return _bad("to", _DATE_WANTED)
    if start > end:
        return _bad("from", "the period starts after it ends")
    fmt = request.query.get("format", "html")
    if fmt not in FORMATS:
        return _bad("format", f"one of {', '.join(FORMATS)}")

    report: QualityReport | None
    async with transaction(state.factory) as session:
        try:
            report = await quality_figures(
                session, unit_hsa=unit_hsa, start=start, end=end, today=local_date(state.clock())
            )
        except UnknownUnit:
            report = None
        audit.record(
            session,
            actor=f"api:{sender}",
            action="report.read",
            outcome="ok" if report else "not_found",
            unit_id=report.unit_id if report else None,
            detail={
                "unit": unit_hsa[:64],
                "from": start.isoformat(),
                "to": end.isoformat(),
                "format": fmt,
            },
        )
    if report is None:
        return web.json_response(
            {"error": "not found", "problems": [{"path": "unit", "message": "unknown unit"}]},
            status=404,
        )
    if fmt == "csv":
        unit_part = re.sub(r"[^A-Za-z0-9-]", "_", report.unit_hsa)
        filename = f"kvalitet-{unit_part}-{start}-{end}.csv"
        return web.Response(
            text=export.to_csv(report),
            content_type="text/csv",
            charset="utf-8",
            headers={**_NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'},
        )
    if fmt == "json":
        return web.json_response(export.to_json(report), headers=_NO_STORE)
    csv_link = str(request.rel_url.update_query(format="csv"))
    return web.Response(
        text=render_html(report, csv_link=csv_link),
        content_type="text/html",
        charset="utf-8",
        headers=_NO_STORE,
    )

"""The report page's run charts in Debian's headless Chromium, launched as
tests/e2e/test_playground.py launches it (its executable and flags; Playwright never
downloads a browser): the page of the known KPI data set (tests/reports/kpi_data.py) is
served by the app on 127.0.0.1, every chart renders with a size, and no request leaves
127.0.0.1. SQLite only: the charts' numbers are tested on both databases in
tests/reports/test_kpis.py.

The KPI table with its charts is saved as test-artifacts/e2e/report-run-chart.png;
FK_E2E_DOCS=1 also refreshes docs/report-run-chart.png (the README shows it).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.config import Settings
from bot.db import create_engine, session_factory, transaction
from bot.directory.service import load_directory
from tests.e2e.test_playground import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, ROOT
from tests.helpers import FIXTURES
from tests.reports.kpi_data import UNIT, seed_kpis
from tests.reports.test_quality import utc

async_api = pytest.importorskip("playwright.async_api")

TOKEN = "e2e-report-chart-token"
BUDGET_SECONDS = 10  # browser start to screenshot; about 2 s on the development machine


@pytest.fixture
async def database(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "report.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    try:
        async with transaction(session_factory(engine)) as session:
            await load_directory(
                session, (FIXTURES / "directory.yaml").read_text(encoding="utf-8"), actor="test"
            )
            await seed_kpis(session)
    finally:
        await engine.dispose()
    return url


async def test_run_charts_render_offline(database: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} (Debian's chromium) is missing")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report-run-chart.png"
    settings = Settings(database_url=database, report_tokens_raw=TOKEN)
    app = create_app(settings, local=True, run_worker=False, clock=lambda: utc("2026-06-15 10:00"))
    requested: list[str] = []
    started = time.monotonic()
    async with TestServer(app, host="127.0.0.1") as server, async_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True, timeout=30_000
        )
        try:
            context = await browser.new_context(
                viewport={"width": 1400, "height": 900},
                extra_http_headers={"Authorization": f"Bearer {TOKEN}"},
            )
            page = await context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            url = server.make_url("/reports/quality").with_query(
                unit=UNIT, **{"from": "2026-03-01", "to": "2026-03-31"}
            )
            response = await page.goto(str(url))
            assert response is not None and response.status == 200
            await page.wait_for_load_state("networkidle")

            charts = page.locator("svg.run-chart")
            assert await charts.count() == 7
            for index in range(7):
                box = await charts.nth(index).bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 100, index
            line = await page.locator("#chart-decided_within_14_days polyline.kpi").bounding_box()
            assert line is not None and line["width"] > 40 and line["height"] > 40
            points = page.locator("#chart-treatment_recommended circle.point")
            assert await points.count() == 2
            dot = await points.nth(1).bounding_box()
            assert dot is not None and dot["width"] > 0 and dot["height"] > 0
            await page.locator("table.kpis").screenshot(path=str(shot))
        finally:
            await browser.close()

    elapsed = time.monotonic() - started
    assert elapsed < BUDGET_SECONDS, f"the browser test took {elapsed:.1f} s"
    assert requested, "the page was never requested"
    assert {urlsplit(u).hostname for u in requested} == {"127.0.0.1"}, requested
    assert shot.stat().st_size > 10_000
    if os.environ.get("FK_E2E_DOCS") == "1":
        shutil.copy(shot, ROOT / "docs" / "report-run-chart.png")

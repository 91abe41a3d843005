"""`GET /privacy` and `GET /terms` (SPEC section 6): public, Swedish, filled from settings
and the units' retention, every value escaped, no patient data; and they are the pages the
Teams app package links to."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.config import Settings
from bot.db import transaction
from bot.directory.service import load_directory
from bot.legal.pages import render_page
from bot.manifest import render_manifest
from bot.retention.service import UnitRetention
from tests.harness import running_bot
from tests.helpers import FIXTURES, fixture_bytes

LEGAL = {
    "data_controller": "Region Värmland",
    "privacy_contact": "Regionens dataskyddsombud Eva Ek",
    "privacy_email": "dataskydd@regionvarmland.se",
}
HOSTILE = '<script>alert("x")</script> & <a href="https://evil.example">Klicka</a>'


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    async with http.get(url) as response:  # no Authorization header: public pages
        return response.status, response.headers["Content-Type"], await response.text()


def _text(html: str) -> str:
    """The page's text, tags dropped and white space made single."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def _set_retention(factory: Any, days: int) -> None:
    text = (FIXTURES / "directory.yaml").read_text(encoding="utf-8")
    text = text.replace("call_in_months: 2", f"call_in_months: 2\n      retention_days: {days}")
    async with transaction(factory) as session:
        await load_directory(session, text, actor="test")


async def test_both_pages_are_swedish_and_filled_from_settings(db_url: str, factory: Any) -> None:
    await _set_retention(factory, 365)
    async with running_bot(db_url, **LEGAL) as (teams, _connector):
        status, content_type, html = await _get(teams.http, f"{teams.bot_url}/privacy")
        assert status == 200
        assert content_type == "text/html; charset=utf-8"
        text = _text(html)
        assert html.startswith("<!DOCTYPE html>") and '<html lang="sv">' in html
        assert "Integritetsmeddelande" in text
        assert "Personuppgiftsansvarig: Region Värmland." in text
        assert "Regionens dataskyddsombud Eva Ek" in text
        assert '<a href="mailto:dataskydd@regionvarmland.se">' in html
        assert "Tingvalla vårdcentral: 365 dagar" in text
        assert "minst 5 år" in text and "efter 90 dagar" in text and "efter 30 dagar" in text
        assert "sparas i 24 timmar" in text  # the answered clicks (bot.clicks)
        assert "bentäthetsmätningen" in text and "pseudonym" in text

        status, content_type, html = await _get(teams.http, f"{teams.bot_url}/terms")
        assert status == 200
        assert content_type == "text/html; charset=utf-8"
        text = _text(html)
        assert "Användarvillkor" in text
        assert "tillhandahålls av Region Värmland" in text
        assert "Regionens dataskyddsombud Eva Ek" in text
        assert "dataskydd@regionvarmland.se" in text
        assert "180 dagar" in text  # the product default; /privacy lists each unit's own
        assert '<a href="/privacy">' in html


async def test_the_pages_show_no_patient_data(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, _connector):
        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 201, body
        for path in ("/privacy", "/terms"):
            status, _, html = await _get(teams.http, f"{teams.bot_url}{path}")
            assert status == 200
            for leak in ("Margareta", "Lindqvist", "19520314", "2384", "Ärende 1"):
                assert leak not in html, (path, leak)
            assert "<script" not in html and "http" not in html  # nothing from another host


def test_settings_and_unit_names_are_escaped() -> None:
    settings = Settings(
        data_controller=HOSTILE, privacy_contact=HOSTILE, patient_key_secret="test-secret"
    )
    units = [UnitRetention(unit="<b>Enhet</b> & co", days=200)]
    for name in ("privacy", "terms"):
        html = render_page(name, settings, units=units)
        assert "<script" not in html and 'evil.example">' not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;a href=" in html
    html = render_page("privacy", settings, units=units)
    assert "&lt;b&gt;Enhet&lt;/b&gt; &amp; co: 200 dagar" in html


def test_without_the_directory_the_default_retention_is_stated() -> None:
    html = render_page("privacy", Settings(), units=None)
    assert "180 dagar (om enheten inte har bestämt något annat)" in _text(html)


async def test_the_manifest_links_to_pages_the_app_serves() -> None:
    manifest = render_manifest(
        app_id="11111111-2222-3333-4444-555555555555", host="bot.region.se", version="1.0.0"
    )
    links = [manifest["developer"]["privacyUrl"], manifest["developer"]["termsOfUseUrl"]]
    assert [urlsplit(link)[:2] for link in links] == [("https", "bot.region.se")] * 2
    # an app whose database has no tables: the pages still answer, with the default
    app = create_app(
        Settings(database_url="sqlite+aiosqlite:///:memory:"), local=True, run_worker=False
    )
    async with TestClient(TestServer(app)) as client:
        for link in links:
            response = await client.get(urlsplit(link).path)
            assert response.status == 200, link
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert "180 dagar" in await response.text()

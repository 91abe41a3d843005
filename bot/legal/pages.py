"""`GET /privacy` and `GET /terms`: the privacy notice and the terms of use (SPEC section 6),
in Swedish, filled from settings (`DATA_CONTROLLER`, `PRIVACY_CONTACT`, `PRIVACY_EMAIL`)
and the retention rules (each unit's `retention_days`, `bot.retention`).

Public, as the Teams app package links to them: no authentication, and nothing about any
patient or person is shown. Plain HTML from `templates/`, every value escaped, no script,
nothing from another host.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2
from aiohttp import web
from sqlalchemy.exc import DBAPIError

from bot.clicks.service import KEEP as CLICK_KEEP
from bot.config import Settings
from bot.directory.models import DEFAULT_UNIT_SETTINGS
from bot.retention.service import (
    AUDIT_KEEP_YEARS,
    DIALOG_STATE_KEEP,
    REJECTED_KEEP,
    UnitRetention,
    retention_by_unit,
)
from bot.state import STATE

__all__ = ["HEADERS", "privacy_page", "render_page", "terms_page"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
PAGES = ("privacy", "terms")
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


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


def render_page(name: str, settings: Settings, *, units: list[UnitRetention] | None) -> str:
    """The page `name` (``privacy`` or ``terms``) as HTML; `units` is each unit's retention,
    None when the directory could not be read (the default is stated instead)."""
    if name not in PAGES:
        raise ValueError(f"no legal page {name!r}")
    return (
        _environment()
        .get_template(f"{name}.html.j2")
        .render(
            controller=settings.data_controller,
            contact=settings.privacy_contact,
            email=settings.privacy_email,
            default_days=int(DEFAULT_UNIT_SETTINGS["retention_days"]),
            units=units,
            rejected_days=REJECTED_KEEP.days,
            dialog_days=DIALOG_STATE_KEEP.days,
            click_hours=int(CLICK_KEEP.total_seconds() // 3600),
            audit_years=AUDIT_KEEP_YEARS,
        )
    )


async def _page(request: web.Request, name: str) -> web.Response:
    state = request.app[STATE]
    units: list[UnitRetention] | None
    try:
        async with state.factory() as session:
            units = await retention_by_unit(session)
    except (DBAPIError, OSError, TimeoutError):  # the page still answers, with the default
        units = None
    body = render_page(name, state.settings, units=units)
    return web.Response(body=body.encode("utf-8"), headers=HEADERS)


async def privacy_page(request: web.Request) -> web.Response:
    """The privacy notice: what is stored, for how long, who is responsible, whom to ask."""
    return await _page(request, "privacy")


async def terms_page(request: web.Request) -> web.Response:
    """The terms of use."""
    return await _page(request, "terms")

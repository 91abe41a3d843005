"""`GET /api/cases` and `GET /api/cases/{id}`: read-only, bearer tokens, every read audited."""

from __future__ import annotations

from aiohttp import web

from bot.api import case_json as case_api
from bot.api.auth import bearer_sender, unauthorized
from bot.audit import service as audit
from bot.cases import queries as case_queries
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState
from bot.db import transaction
from bot.directory.actor import Actor
from bot.state import STATE
from bot.tasks import queries as task_queries
from bot.visits import followups

MAX_LIMIT = 1000
MAX_CASE_ID = 2**31 - 1
"""The largest id the case table holds (PostgreSQL `integer`); a larger one is a 400."""


def _bad(path: str, message: str) -> web.Response:
    return web.json_response(
        {"error": "bad request", "problems": [{"path": path, "message": message}]}, status=400
    )


async def get_case(request: web.Request) -> web.Response:
    state = request.app[STATE]
    sender = bearer_sender(request, state.settings.report_tokens)
    if sender is None:
        return unauthorized()
    try:
        case_id = int(request.match_info["case_id"])
    except ValueError:
        return _bad("id", "case id must be a whole number")
    if not 1 <= case_id <= MAX_CASE_ID:
        return _bad("id", f"case id must be a whole number from 1 to {MAX_CASE_ID}")
    async with transaction(state.factory) as session:
        found = await case_api.read_case(session, case_id)
        audit.record(
            session,
            actor=Actor.reader(sender).audit_id,
            action="api.case.read",
            outcome="ok" if found else "not_found",
            case_id=case_id,
            unit_id=found[0].unit_id if found else None,
            patient=found[0].patient_key if found else None,
        )
    body = found[1] if found else None
    if body is None:
        return web.json_response({"error": "not found"}, status=404)
    return web.json_response(body)


async def list_cases(request: web.Request) -> web.Response:
    state = request.app[STATE]
    sender = bearer_sender(request, state.settings.report_tokens)
    if sender is None:
        return unauthorized()
    unit_hsa = request.query.get("unit") or None
    if unit_hsa is not None and "\x00" in unit_hsa:
        return _bad("unit", "an HSA-id has no NUL character")
    wanted_state = request.query.get("state") or None
    if wanted_state is not None and wanted_state not in tuple(CaseState):
        return _bad("state", f"one of {', '.join(tuple(CaseState))}")
    try:
        limit = int(request.query.get("limit", "200"))
    except ValueError:
        return _bad("limit", "a whole number")
    if not 1 <= limit <= MAX_LIMIT:
        return _bad("limit", f"between 1 and {MAX_LIMIT}")
    reader = Actor.reader(sender)
    async with transaction(state.factory) as session:
        found = await case_api.list_cases(
            session, unit_hsa=unit_hsa, state=wanted_state, limit=limit
        )
        body = []
        for case in found:
            tasks = await task_queries.of_case(session, case_id=case.id)
            history = await case_queries.history(session, case_id=case.id)
            follow_ups = await followups.of_case(session, case_id=case.id)
            body.append(case_api.case_json(case, tasks, history, follow_ups))
            audit_case(session, actor=reader, action="api.case.read", case=case)
    return web.json_response({"cases": body, "count": len(body)})

"""Query and path parameters the database cannot take are a 400 naming them, never a 5xx.

Found by Schemathesis: a case id beyond the integer column (500 on SQLite past 2**63, 503
on PostgreSQL past 2**31), a NUL in `unit` (503 on PostgreSQL), and a report period at
the ends of the calendar (500: the Stockholm day of 0001-01-01 starts in year 0 UTC).
"""

from __future__ import annotations

from typing import Any

from tests.harness import REPORT_TOKEN, running_bot

AUTH = {"Authorization": f"Bearer {REPORT_TOKEN}"}
UNIT = "SE2321000156-7TNG"


async def _problem(teams: Any, path: str, params: dict[str, str] | None = None) -> Any:
    async with teams.http.get(teams.bot_url + path, params=params, headers=AUTH) as response:
        return response.status, (await response.json())["problems"][0]["path"]


async def test_a_case_id_outside_the_integer_column_is_a_400(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, _connector):
        for case_id in ("2147483648", "9223372036854775808", "-9223372036854775809", "0"):
            assert await _problem(teams, f"/api/cases/{case_id}") == (400, "id"), case_id
        status, _ = await teams.case(2147483647)
        assert status == 404  # the largest id the column holds is an ordinary miss


async def test_a_nul_in_the_unit_of_the_case_list_is_a_400(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, _connector):
        assert await _problem(teams, "/api/cases", {"unit": "SE2321000156-7TNG\x00"}) == (
            400,
            "unit",
        )


async def test_a_report_period_outside_the_supported_dates_is_a_400(
    db_url: str, factory: Any
) -> None:
    async with running_bot(db_url) as (teams, _connector):
        for start, end, path in (
            ("0001-01-01", "0001-01-01", "from"),
            ("1899-12-31", "2026-01-01", "from"),
            ("2026-01-01", "9999-12-31", "to"),
            ("2026-01-01", "3000-01-01", "to"),
        ):
            params = {"unit": UNIT, "from": start, "to": end, "format": "json"}
            assert await _problem(teams, "/reports/quality", params) == (400, path), params
        params = {"unit": UNIT, "from": "1900-01-01", "to": "2999-12-31", "format": "json"}
        async with teams.http.get(
            teams.bot_url + "/reports/quality", params=params, headers=AUTH
        ) as response:
            assert response.status == 200
            assert (await response.json())["from"] == "1900-01-01"


async def test_a_nul_in_the_unit_of_the_report_is_a_400(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, _connector):
        params = {"unit": "SE1\x00", "from": "2026-01-01", "to": "2026-01-31"}
        assert await _problem(teams, "/reports/quality", params) == (400, "unit")

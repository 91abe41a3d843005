"""`frakturkedjan report --unit HSA --from DATE --to DATE [--csv FILE] [--json]`.

Prints the quality figures of one unit for one period (both days included): one line
per figure (`key  label  value`), one per fracture-liaison KPI (`key  label  value  band`)
and the definition of each, or the same as JSON with `--json`. `--csv FILE` also writes
them as CSV (UTF-8). Exit status 0; 1 for an unknown
unit or an unwritable CSV file; 2 (argparse) for a bad date or a reversed period, and 2
for a database that does not answer or lacks the current schema. The read is audited
(`report.read`, actor `cli:report`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from pathlib import Path

from bot.config import Settings
from bot.db import create_engine, session_factory, transaction, utcnow
from bot.preflight import check_schema
from bot.reports.service import FIRST_DAY, LAST_DAY, report_day

__all__ = ["add_report_parser", "iso_date", "run_report"]

def iso_date(text: str) -> date:
    """A YYYY-MM-DD day from 1900-01-01 to 2999-12-31 (argparse type); anything else is an
    argparse error."""
    day = report_day(text)
    if day is None:
        raise argparse.ArgumentTypeError(
            f"not a date of the form YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}: {text!r}"
        )
    return day


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `report` subcommand to the `frakturkedjan` parser."""
    report = sub.add_parser(
        "report",
        help="quality figures of a unit for a period (SPEC section 5)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("--unit", required=True, metavar="HSA", help="the unit's HSA-id")
    report.add_argument(
        "--from", dest="start", required=True, type=iso_date, metavar="DATE",
        help="first day of the period, YYYY-MM-DD (included)",
    )  # fmt: skip
    report.add_argument(
        "--to", dest="end", required=True, type=iso_date, metavar="DATE",
        help="last day of the period, YYYY-MM-DD (included)",
    )  # fmt: skip
    report.add_argument("--csv", type=Path, metavar="FILE", help="also write the figures as CSV")
    report.add_argument("--json", action="store_true", help="print JSON instead of text")
    report.set_defaults(report_parser=report)


def _today() -> date:
    """Today's date in Stockholm (a seam for tests)."""
    from bot.core.calendar import local_date  # the holiday tables: only when reporting

    return local_date(utcnow())


def run_report(settings: Settings, args: argparse.Namespace) -> int:
    """Run the `report` subcommand parsed by `add_report_parser`; returns the exit status."""
    if args.start > args.end:
        parser: argparse.ArgumentParser = args.report_parser
        parser.error(f"--from {args.start} is after --to {args.end}")  # exits with status 2
    return asyncio.run(
        _report(
            settings,
            unit_hsa=args.unit,
            start=args.start,
            end=args.end,
            csv_path=args.csv,
            as_json=args.json,
        )
    )


async def _report(
    settings: Settings,
    *,
    unit_hsa: str,
    start: date,
    end: date,
    csv_path: Path | None,
    as_json: bool,
) -> int:
    from bot.audit import service as audit
    from bot.reports import export
    from bot.reports.service import UnknownUnit, quality_figures

    engine = create_engine(settings.database_url)
    try:
        await check_schema(engine)  # PreflightError: `frakturkedjan` says why, exit 2
        async with transaction(session_factory(engine)) as session:
            report = await quality_figures(
                session, unit_hsa=unit_hsa, start=start, end=end, today=_today()
            )
            audit.record(
                session,
                actor="cli:report",
                action="report.read",
                unit_id=report.unit_id,
                detail={"from": start.isoformat(), "to": end.isoformat()},
            )
    except UnknownUnit as exc:
        print(f"frakturkedjan report: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    if csv_path is not None:
        try:
            with csv_path.open("w", encoding="utf-8", newline="") as handle:
                handle.write(export.to_csv(report))
        except OSError as exc:
            print(f"{csv_path}: cannot write: {exc.strerror}", file=sys.stderr)
            return 1
    if as_json:
        print(json.dumps(export.to_json(report), ensure_ascii=False, indent=2))
    else:
        print(export.to_text(report), end="")
    return 0

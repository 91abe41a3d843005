"""The command ``python -m bench.run``: options, the run within its budget, the printed
table and the JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.run.harness import run_bench, say
from bench.run.legs import RUNTIMES
from bench.run.plan import FULL, QUICK, TARGETS, Plan
from bench.run.report import heading, machine, source_revision, table
from bot.config import parse_cpu

MEASUREMENTS = {"delivery", "intake", "click"}


def serve_cpu_option(text: str) -> str:
    """`--serve-cpu`: a core number or `any`, as `serve --cpu` takes it."""
    try:
        value = parse_cpu(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value is None:
        raise argparse.ArgumentTypeError("give a CPU core number or 'any'")
    return str(value)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every target of every leg passes, else 1."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="The benchmark harness (issue 5): decision clicks, intake, delivery and"
        " memory.",
    )
    parser.add_argument("--quick", action="store_true", help="1 run, smaller counts (< 3 min)")
    parser.add_argument("--runs", type=int, default=None, help="runs per measurement")
    parser.add_argument("--json", default=None, help="write the figures here as JSON")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--serial", action="store_true", help="delivery legs one database after the other"
    )
    parser.add_argument("--profile", default=None, help="py-spy raw profiles into this folder")
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        default=set(MEASUREMENTS),
        help="comma-separated subset of delivery,intake,click (memory is always measured)",
    )
    parser.add_argument(
        "--runtimes",
        type=lambda text: [name for name in text.split(",") if name],
        default=list(RUNTIMES),
        help="comma-separated Teams runtimes (TEAMS_SDK) to measure, one after the other:"
        f" {','.join(RUNTIMES)} (the default: both)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    parser.add_argument(
        "--serve-wrapper",
        default=None,
        help="run `python FILE serve --local ...` instead of `frakturkedjan serve` (to try a "
        "change before making it: FILE patches, then calls bot.cli.main)",
    )
    parser.add_argument(
        "--serve-cpu",
        type=serve_cpu_option,
        default=None,
        metavar="N|any",
        help="run each `serve` with `--cpu N` (CPU core N only) or `--cpu any` (any core);"
        " without it `serve` chooses: one core on SQLite, any on PostgreSQL (README: On"
        " SQLite, one core). The cores each leg ran on follow the command in the heading",
    )
    args = parser.parse_args(argv)
    unknown = args.only - MEASUREMENTS
    if unknown:
        parser.error(f"--only: unknown measurement(s) {', '.join(sorted(unknown))}")
    strange = sorted(set(args.runtimes) - set(RUNTIMES)) or ([] if args.runtimes else ["(none)"])
    if strange:
        parser.error(f"--runtimes: not a Teams runtime: {', '.join(strange)}")
    plan = QUICK if args.quick else FULL
    if args.runs:
        plan = Plan(**{**plan.__dict__, "runs": args.runs})
    # each runtime is a bench of its own, one after the other
    plan = Plan(**{**plan.__dict__, "budget_s": plan.budget_s * len(args.runtimes)})
    report: dict[str, Any] = {
        "date": date.today().isoformat(),
        "serve": " ".join(
            [args.serve_wrapper or "frakturkedjan serve --local"]
            + ([] if args.serve_cpu is None else [f"--cpu {args.serve_cpu}"])
        ),
        "revision": source_revision(),
        "runtimes": args.runtimes,
        "mode": "quick" if args.quick else "full",
        "plan": plan.__dict__,
        "targets": TARGETS.__dict__,
        "machine": machine(),
        "baseline": "stock botbuilder 4.17.1 CloudAdapter + ConfigurationBotFrameworkAuthentication"
        " (bench/echo_bot.py): on_invoke_activity returns InvokeResponse(200,"
        " AdaptiveCardInvokeResponse(...)) as an msrest model",
    }
    started = time.monotonic()
    say(f"mode {report['mode']}: {plan}")
    try:
        asyncio.run(asyncio.wait_for(run_bench(args, plan, report), plan.budget_s))
    except TimeoutError:
        say(f"stopped: over the budget of {plan.budget_s:.0f} s; figures so far follow")
        report["aborted"] = "over budget"
    except KeyboardInterrupt:
        report["aborted"] = "interrupted"
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    summary = report.get("summary", {})
    print()
    print(heading(report, plan))
    print(table(summary, report.get("kinds", [])))
    if "postgresql_skipped" in report:
        print(f"PostgreSQL leg skipped: {report['postgresql_skipped']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"JSON written to {args.json}")
    verdicts = [
        v.get("pass")
        for kind in report.get("kinds", [])
        for v in summary.get(kind, {}).values()
        if isinstance(v, dict)
    ]
    return 0 if verdicts and all(v is not False for v in verdicts) else 1

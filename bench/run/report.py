"""The figures: medians per leg, pass/fail per target, the printed table, the machine."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.run.delivery import minimum_seconds
from bench.run.legs import Leg
from bench.run.plan import TARGETS, Plan
from bench.run.processes import Process


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def cpu_figures(runs: list[dict[str, Any]], prefix: str) -> dict[str, float]:
    """Median CPU of the bot (cores), CPU ms per request, and machine-wide busy cores; and
    the same of `serve`'s outbox worker process, when it had one (`{prefix}worker_cpu`)."""
    figures = {
        "bot_cpu_cores": median([r[f"{prefix}cpu"] for r in runs]),
        "cpu_ms_per_request": median(
            [
                1000 * r[f"{prefix}cpu"] / r["throughput_per_s"]
                for r in runs
                if r["throughput_per_s"]
            ]
        ),
        "machine_busy_cores": median([r.get(f"{prefix}machine_busy", float("nan")) for r in runs]),
    }
    worker = [r for r in runs if f"{prefix}worker_cpu" in r]
    if worker:
        figures["worker_cpu_cores"] = median([r[f"{prefix}worker_cpu"] for r in worker])
        figures["worker_cpu_ms_per_request"] = median(
            [
                1000 * r[f"{prefix}worker_cpu"] / r["throughput_per_s"]
                for r in worker
                if r["throughput_per_s"]
            ]
        )
    return figures


def worker_cpu(figures: dict[str, Any]) -> str:
    """` + worker 1.1` after a CPU/req figure, when serve had an outbox worker process."""
    if "worker_cpu_ms_per_request" not in figures:
        return ""
    return f" + worker {figures['worker_cpu_ms_per_request']:.1f}"


def summarise(legs: list[Leg], echo: Process | None) -> dict[str, Any]:
    """Medians per leg and pass/fail per target."""
    out: dict[str, Any] = {}
    for leg in legs:
        r = leg.results
        entry: dict[str, Any] = {"notes": leg.notes}
        clicks = r.get("click", [])
        if clicks:
            entry["click"] = {
                "throughput_per_s": median([c["throughput_per_s"] for c in clicks]),
                "p50_ms": median([c["p50_ms"] for c in clicks]),
                "p99_ms": median([c["p99_ms"] for c in clicks]),
                "baseline_throughput_per_s": median(
                    [c["baseline"]["throughput_per_s"] for c in clicks]
                ),
                "baseline_p99_ms": median([c["baseline"]["p99_ms"] for c in clicks]),
                "ratio": median([c["ratio"] or 0.0 for c in clicks]),
                "failures": sum(int(c["failures"]) for c in clicks),
                "runs": len(clicks),
                **cpu_figures(clicks, "bot_"),
                "baseline_cpu_ms_per_request": median(
                    [
                        1000 * c["baseline_cpu"] / c["baseline"]["throughput_per_s"]
                        for c in clicks
                        if c["baseline"]["throughput_per_s"]
                    ]
                ),
            }
            c = entry["click"]
            c["pass"] = (
                c["ratio"] >= TARGETS.click_ratio(leg.name)
                and c["p99_ms"] <= TARGETS.click_p99_ms
                and c["failures"] == 0
            )
        intakes = r.get("intake", [])
        if intakes:
            entry["intake"] = {
                "throughput_per_s": median([i["throughput_per_s"] for i in intakes]),
                "p50_ms": median([i["p50_ms"] for i in intakes]),
                "p99_ms": median([i["p99_ms"] for i in intakes]),
                "failures": sum(int(i["failures"]) for i in intakes),
                "runs": len(intakes),
                **cpu_figures(intakes, "bot_"),
            }
            i = entry["intake"]
            i["pass"] = (
                i["throughput_per_s"] >= TARGETS.intake_rate
                and i["p99_ms"] <= TARGETS.intake_p99_ms
                and i["failures"] == 0
            )
        for key in ("delivery_clean", "delivery_faulty"):
            runs = r.get(key, [])
            if not runs:
                continue
            d = {
                "total_s": median([x["total_s"] for x in runs]),
                "minimum_s": median([x["minimum_s"] for x in runs]),
                "factor": median([x["factor"] or 99.0 for x in runs]),
                "share_429": median([x["share_429"] for x in runs]),
                "throttled_429": median([x["throttled_429"] for x in runs]),
                "faults_5xx": median([x["faults_5xx"] for x in runs]),
                "throttled_429_app_window": median([x["throttled_429_app_window"] for x in runs]),
                "max_requests_in_1s": median([x["max_requests_in_1s"] for x in runs]),
                "span_s": median([x["span_s"] for x in runs]),
                "lost": sum(x["lost"] for x in runs),
                "duplicates": sum(x["duplicates"] for x in runs),
                "rows_not_sent": sum(x["rows_not_sent"] for x in runs),
                "timed_out_runs": sum(1 for x in runs if x["timed_out"]),
                "runs": len(runs),
            }
            d["pass"] = (
                d["factor"] <= TARGETS.delivery_factor
                and d["share_429"] <= TARGETS.delivery_429_share
                and d["lost"] == 0
                and d["duplicates"] == 0
                and d["rows_not_sent"] == 0
                and d["timed_out_runs"] == 0
            )
            entry[key] = d
        if leg.cpus:
            entry["serve_cpus"] = leg.cpus
        if leg.bot is not None and leg.bot.worker_cpus:
            entry["worker_cpus"] = leg.bot.worker_cpus
        if leg.bot is not None:
            memory = leg.bot.memory()  # judged on serve's own peak; the worker's beside it
            entry["memory"] = {**memory, "pass": memory["peak_rss_mb"] <= TARGETS.rss_mb}
        out[leg.name] = entry
    if echo is not None:
        out["echo_bot_memory"] = echo.memory()
    return out


def source_revision() -> str:
    """The product's git commit (read-only), with `+dirty` when product files (outside
    bench/) differ from it."""
    try:
        head = subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = ["status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"]
        dirty = subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), *status],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """Cores, CPU model, RAM, Python and the versions of the packages on the hot path."""
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    versions = {}
    for package in (
        "botbuilder-core",
        "microsoft-agents-hosting-core",
        "aiohttp",
        "SQLAlchemy",
        "aiosqlite",
        "asyncpg",
        "Jinja2",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "packages": versions,
    }


def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def serve_cpus(report: dict[str, Any]) -> str:
    """The cores each leg's `serve` ran on, and its outbox worker process when it had one:
    ` (CPUs: sqlite-botbuilder 1 + worker 0,2-3, ...)`."""
    summary = report.get("summary", {})
    legs = []
    for kind in report.get("kinds", []):
        entry = summary.get(kind, {})
        if "serve_cpus" in entry:
            worker = f" + worker {entry['worker_cpus']}" if entry.get("worker_cpus") else ""
            legs.append(f"{kind} {entry['serve_cpus']}{worker}")
    return f" (CPUs: {', '.join(legs)})" if legs else ""


def heading(report: dict[str, Any], plan: Plan) -> str:
    """The two lines above the table: the run, and how the delivery minimum is reckoned."""
    clean_min = minimum_seconds(plan.cards, [plan.cards // plan.conversations] * 40)
    return (
        f"Frakturkedjan benchmark, {report['date']}, {report['machine']['nproc']} cores "
        f"({report['machine']['cpu']}), {report['machine']['ram_gib']} GiB, "
        f"{report['mode']} mode, {plan.runs} run(s), {report['elapsed_s']} s,"
        f" revision {report['revision']}, {report['serve']}{serve_cpus(report)}\n"
        f"delivery minimum: {plan.cards} cards / {plan.conversations} conversations: app 50/s"
        f" -> floor(({plan.cards}-1)/50) = {clean_min:.0f} s from first send to last"
        f" ({plan.cards / 50:.0f} s at 50/s throughput); per conversation"
        f" {plan.cards // plan.conversations} sends -> floor(({plan.cards // plan.conversations}"
        f"-1)/7) = {((plan.cards // plan.conversations) - 1) // 7} s; 5% faults add the"
        " faulted requests to the app window"
    )


def memory_figure(m: dict[str, Any]) -> str:
    """`serve`'s peak RSS (the one judged), and when it had an outbox worker process that
    one's peak and the two added: `peak RSS 131.6 MB serve + 70.2 MB worker = 201.8 MB`."""
    if not m.get("worker_processes"):
        return f"peak RSS {m['peak_rss_mb']:.1f} MB"
    return (
        f"peak RSS {m['peak_rss_mb']:.1f} MB serve + {m['worker_peak_rss_mb']:.1f} MB worker"
        f" = {m['total_peak_rss_mb']:.1f} MB"
    )


def table(summary: dict[str, Any], kinds: list[str]) -> str:
    """The medians of each leg against the targets, one row per figure."""
    rows: list[tuple[str, str, str, str, str]] = []
    for kind in kinds:
        entry = summary.get(kind)
        if not entry:
            continue
        c = entry.get("click")
        if c:
            rows.append(
                (
                    kind,
                    "1 click: throughput",
                    f"{c['throughput_per_s']:.0f}/s vs stock {c['baseline_throughput_per_s']:.0f}/s"
                    f" = {c['ratio']:.2f}x (CPU/req {c['cpu_ms_per_request']:.1f}{worker_cpu(c)}"
                    f" vs {c['baseline_cpu_ms_per_request']:.1f} ms)",
                    f">= {TARGETS.click_ratio(kind):.1f}x",
                    mark(c["ratio"] >= TARGETS.click_ratio(kind)),
                )
            )
            rows.append(
                (
                    kind,
                    "1 click: latency",
                    f"p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms"
                    f" (stock p99 {c['baseline_p99_ms']:.1f})",
                    f"p99 <= {TARGETS.click_p99_ms:.0f} ms",
                    mark(c["p99_ms"] <= TARGETS.click_p99_ms and c["failures"] == 0),
                )
            )
        i = entry.get("intake")
        if i:
            rows.append(
                (
                    kind,
                    "2 intake",
                    f"{i['throughput_per_s']:.0f}/s, p50 {i['p50_ms']:.1f} ms,"
                    f" p99 {i['p99_ms']:.1f} ms (CPU/req {i['cpu_ms_per_request']:.1f}"
                    f"{worker_cpu(i)} ms)",
                    f">= {TARGETS.intake_rate:.0f}/s, p99 <= {TARGETS.intake_p99_ms:.0f} ms",
                    mark(i["pass"]),
                )
            )
        for key, label in (("delivery_clean", "3 delivery"), ("delivery_faulty", "3 delivery 5%")):
            d = entry.get(key)
            if d:
                rows.append(
                    (
                        kind,
                        label,
                        f"{d['total_s']:.1f} s (min {d['minimum_s']:.0f} s, {d['factor']:.3f}x),"
                        f" 429 {100 * d['share_429']:.2f}%, lost {d['lost']},"
                        f" dup {d['duplicates']}",
                        "<= 1.1x, 429 <= 1%, 0 lost/dup",
                        mark(d["pass"]),
                    )
                )
        m = entry.get("memory")
        if m:
            rows.append(
                (
                    kind,
                    "4 memory",
                    memory_figure(m),
                    f"{'serve ' if m.get('worker_processes') else ''}<= {TARGETS.rss_mb:.0f} MB",
                    mark(m["pass"]),
                )
            )
    headers = ("leg", "measurement", "figure (median of runs)", "target", "")
    widths = [max(len(str(r[n])) for r in [headers, *rows]) for n in range(5)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(lines)

"""Time ``parse_bundle`` on sample 01, and fhir.resources' R4B Bundle when installed.

Usage, from the repository root: ``python -m bench.parse_bench [RUNS]`` (default 2000).
Prints the mean time per parse in microseconds. Works without ``fhir.resources``; it is
not a dependency.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from datetime import date

from bench import ROOT
from bot.intake.fhir import parse_bundle

SAMPLE = ROOT / "tests" / "fixtures" / "01_osteoporosis_named.json"
TODAY = date(2026, 11, 12)


def mean_microseconds(parse: Callable[[object], object], data: object, runs: int) -> float:
    """Mean wall time of ``parse(data)`` over ``runs`` calls, after a short warm-up."""
    for _ in range(min(50, runs)):
        parse(data)
    start = time.perf_counter()
    for _ in range(runs):
        parse(data)
    return (time.perf_counter() - start) / runs * 1e6


def fhir_resources_parser() -> Callable[[object], object] | None:
    """``Bundle.model_validate`` (or ``parse_obj``) of fhir.resources R4B, if importable."""
    try:
        module = importlib.import_module("fhir.resources.R4B.bundle")
    except ImportError:
        return None
    bundle_class = module.Bundle
    validate = getattr(bundle_class, "model_validate", None) or bundle_class.parse_obj
    return validate  # type: ignore[no-any-return]


def main(argv: list[str]) -> int:
    runs = int(argv[1]) if len(argv) > 1 else 2000
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))

    def ours(bundle: object) -> object:
        return parse_bundle(bundle, today=TODAY)

    print(f"sample: {SAMPLE.name}, {runs} runs")
    print(f"bot.intake.fhir.parse_bundle: {mean_microseconds(ours, data, runs):10.1f} µs/parse")
    other = fhir_resources_parser()
    if other is None:
        print("fhir.resources: not installed (pip install fhir.resources to compare)")
        return 0
    version = getattr(importlib.import_module("fhir.resources"), "__version__", "?")
    try:
        other(data)
    except Exception as error:  # report any validation failure and go on
        print(f"fhir.resources {version} R4B Bundle: cannot validate the sample: {error}")
        return 0
    micro = mean_microseconds(other, data, runs)
    print(f"fhir.resources {version} R4B Bundle: {micro:10.1f} µs/parse")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

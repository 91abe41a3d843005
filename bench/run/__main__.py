"""``python -m bench.run``: the benchmark harness (bench/run/__init__.py says what it does)."""

from bench.run.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""The benchmarks of Frakturkedjan, run as modules from the repository root.

``python -m bench.run`` (the harness of issue 5), ``python -m bench.floor``,
``python -m bench.paths``, ``python -m bench.parse_bench`` and
``python -m bench.profile_report``; bench/README.md says what each measures.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository root: the working directory of the ``python -m bench.…`` processes
that the benchmarks start (the echo bot, the floor server)."""

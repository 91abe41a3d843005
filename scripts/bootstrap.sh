#!/usr/bin/env bash
# Creates .venv inside the project and installs the project with its dev tools and both
# Teams runtimes (the extras botbuilder and agents) into it.
# Re-installs only when pyproject.toml changed. Sourced by run-local.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  echo "Python 3.11 or newer is needed" >&2; return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$(find_python)" -m venv "$VENV"
fi
STAMP="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  echo "== installing the project and its dev tools into .venv"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[dev,botbuilder,agents]"
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi

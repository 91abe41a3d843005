#!/usr/bin/env bash
# The whole test suite: lint, types, and every test on SQLite and PostgreSQL.
# Installs what it needs (.venv) and starts a local PostgreSQL cluster that is installed
# but stopped. Without any PostgreSQL the PostgreSQL leg is skipped, saying why.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/bootstrap.sh"

ensure_postgres() {
  if [ -n "${FK_TEST_POSTGRES:-}" ]; then return 0; fi
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    echo "== PostgreSQL is not installed here: the PostgreSQL leg of the tests will be skipped"
    return 0
  fi
  pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _port status _rest; do
    if [ "$status" != "online" ]; then
      echo "== starting PostgreSQL $version/$cluster"
      pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start ||
        echo "== could not start PostgreSQL $version/$cluster"
    fi
  done
  for _ in $(seq 1 30); do
    if "$VENV/bin/python" - <<'PY' 2>/dev/null; then return 0; fi
import asyncio, asyncpg
async def main():
    c = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=2)
    await c.close()
asyncio.run(main())
PY
    sleep 1
  done
  echo "== PostgreSQL does not answer on 127.0.0.1:5432; its leg will be skipped"
}

ensure_postgres
echo "== ruff"
"$VENV/bin/ruff" check bot dialogs cards tests bench
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
exec "$VENV/bin/pytest" -q -ra "$@"

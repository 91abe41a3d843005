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

# --- browser-test prerequisites (tests/e2e) -----------------------------------------------
# The browser test drives Debian's Chromium (/usr/bin/chromium) with Playwright for Python
# and the Microsoft 365 Agents Playground from tools/playground/node_modules. Installs what
# is missing where it can (chromium with apt as root; npm ci); otherwise says so, and the
# test skips with the reason. Playwright never downloads a browser of its own.
ensure_browser_test_prerequisites() {
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "== installing Debian's chromium for the browser test"
      if ! { apt-get update -qq &&
             DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
        echo "== could not install chromium: the browser test will be skipped"
      fi
    else
      echo "== /usr/bin/chromium is missing and this is not root: the browser test will be skipped"
    fi
  fi
  local playground="$ROOT/tools/playground"
  if [ ! -f "$playground/node_modules/@microsoft/m365agentsplayground/cli.js" ]; then
    if command -v npm >/dev/null 2>&1; then
      echo "== installing the Microsoft 365 Agents Playground into tools/playground (npm ci)"
      npm ci --prefix "$playground" --no-audit --no-fund --loglevel=error ||
        echo "== npm ci failed: the browser test will be skipped"
    else
      echo "== npm is missing: the browser test will be skipped"
    fi
  fi
}
# --- end of browser-test prerequisites -----------------------------------------------------

ensure_postgres
ensure_browser_test_prerequisites
echo "== ruff"
"$VENV/bin/ruff" check bot dialogs cards tests bench
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
exec "$VENV/bin/pytest" -q -ra "$@"

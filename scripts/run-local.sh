#!/usr/bin/env bash
# Runs the bot locally on its embedded defaults: SQLite, no Bot Framework authentication,
# bound to 127.0.0.1, with the sample directory (one care centre, two physicians, one
# medical secretary) loaded. Installs what it needs (.venv) first. Ctrl-C stops it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/bootstrap.sh"
export DATABASE_URL="${DATABASE_URL:-sqlite+aiosqlite:///$ROOT/frakturkedjan.db}"
export INTAKE_TOKENS="${INTAKE_TOKENS:-local-intake-token}"
export REPORT_TOKENS="${REPORT_TOKENS:-local-report-token}"
PORT="${PORT:-3978}"
"$VENV/bin/frakturkedjan" db upgrade
"$VENV/bin/frakturkedjan" directory load "$ROOT/demo/directory.yaml"
cat <<INFO
== Frakturkedjan runs on http://127.0.0.1:$PORT  (Ctrl-C stops it)
   Bot endpoint:   POST http://127.0.0.1:$PORT/api/messages
   Post a sample:  curl -X POST -H 'Authorization: Bearer $INTAKE_TOKENS' \\
                     -H 'Content-Type: application/fhir+json' \\
                     --data-binary @tests/fixtures/01_osteoporosis_named.json \\
                     http://127.0.0.1:$PORT/api/dxa-answers
   Read cases:     curl -H 'Authorization: Bearer $REPORT_TOKENS' http://127.0.0.1:$PORT/api/cases
INFO
exec "$VENV/bin/frakturkedjan" serve --local --port "$PORT"

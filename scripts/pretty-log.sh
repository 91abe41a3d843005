#!/usr/bin/env bash
# Reads the bot's JSON log lines (one object per line, bot/logs.py) on stdin and prints
# them for a person (scripts/pretty_log.py): a domain event as one Swedish line ("10:42:01
# beslut registrerat: ärende 3 (call_in), 4 uppgifter"), any other line as local time,
# level, logger, message, then the extras as key=value. Lines that are not JSON pass
# through unchanged. Alembic's plugin chatter on every start is left out (FK_LOG_ALL=1
# keeps it). Used by scripts/run-local.sh; the raw lines are kept in a file beside it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3)"
exec "$PY" -u "$ROOT/scripts/pretty_log.py"

#!/usr/bin/env bash
# Reads the bot's JSON log lines (one object per line, bot/logs.py) on stdin and prints
# them for a person: local time, level, logger, message, then the extras as key=value.
# Lines that are not JSON pass through unchanged. Alembic's plugin chatter on every start
# is left out (FK_LOG_ALL=1 keeps it). Used by scripts/run-local.sh; the raw lines are
# kept in a file beside it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3)"
exec "$PY" -u -c '
import json, os, sys
from datetime import datetime

keep_all = os.environ.get("FK_LOG_ALL") == "1"
quiet = ("alembic.runtime.plugins",)
colour = sys.stdout.isatty()
shade = {"WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[31m"}
for line in sys.stdin:
    try:
        entry = json.loads(line)
        if not isinstance(entry, dict):
            raise ValueError
    except ValueError:
        sys.stdout.write(line)
        continue
    logger = str(entry.pop("logger", ""))
    if logger in quiet and not keep_all:
        continue
    try:
        when = datetime.fromisoformat(str(entry.pop("time"))).astimezone().strftime("%H:%M:%S")
    except (KeyError, ValueError):
        when = "--:--:--"
    level = str(entry.pop("level", ""))
    message = str(entry.pop("message", ""))
    trace = entry.pop("exception", None)
    if logger == "frakturkedjan.http" and message == "request":
        message = "{} {} -> {} ({} ms)".format(
            entry.pop("method", "?"), entry.pop("path", "?"), entry.pop("status", "?"),
            entry.pop("ms", "?"))
    extras = " ".join(f"{k}={v}" for k, v in entry.items())
    text = f"{when} {level:<7} {logger}: {message}" + (f"  {extras}" if extras else "")
    if colour and level in shade:
        text = shade[level] + text + "\033[0m"
    print(text, flush=True)
    if trace:
        print(trace, flush=True)
'

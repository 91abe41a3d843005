#!/usr/bin/env bash
# The local demo, one command on a fresh clone: the bot in local mode (SQLite, no Bot
# Framework authentication, 127.0.0.1 only) with the demo directory loaded and the sample
# DXA answers waiting, plus the Microsoft 365 Agents Playground (Teams in a browser) twice:
# as the physician Anna Berg and as the medical secretary (MVA) Maria Svensson.
# Installs what it needs first: .venv (scripts/bootstrap.sh), Node.js where missing (as
# root, Debian packages) and the Playground into tools/playground/node_modules (npm ci,
# pinned by tools/playground/package-lock.json). Ctrl-C stops everything it started.
#
# Settings: PORT (bot, 3978), PLAYGROUND_PORT (56150), MVA_PLAYGROUND_PORT (56151),
# DATABASE_URL (default: a fresh SQLite file demo/frakturkedjan-demo.db, made anew on every
# run; a DATABASE_URL of your own is used as it is), INTAKE_TOKENS, REPORT_TOKENS,
# JOBS_POLL_SECONDS (10 here: how soon the checklist of a visit booked for today goes out).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/bootstrap.sh"

PORT="${PORT:-3978}"
PLAYGROUND_PORT="${PLAYGROUND_PORT:-56150}"
MVA_PLAYGROUND_PORT="${MVA_PLAYGROUND_PORT:-56151}"
PLAYGROUND="$ROOT/tools/playground"
CLI="$PLAYGROUND/node_modules/@microsoft/m365agentsplayground/cli.js"
FK="$VENV/bin/frakturkedjan"
PRETTY="$ROOT/scripts/pretty-log.sh"
export INTAKE_TOKENS="${INTAKE_TOKENS:-local-intake-token}"
export REPORT_TOKENS="${REPORT_TOKENS:-local-report-token}"
export JOBS_POLL_SECONDS="${JOBS_POLL_SECONDS:-10}"  # a visit booked for today: checklist soon
FRESH_DB=""
if [ -z "${DATABASE_URL:-}" ]; then
  FRESH_DB="$ROOT/demo/frakturkedjan-demo.db"
  export DATABASE_URL="sqlite+aiosqlite:///$FRESH_DB"
fi
RUN="$(mktemp -d "${TMPDIR:-/tmp}/frakturkedjan-demo.XXXXXX")"  # this run's logs

ensure_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Node.js and npm (Debian packages) for the Playground"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "The Playground needs Node.js and npm: install them (apt-get install nodejs npm)" \
      "and run this again." >&2
    exit 1
  fi
}

ensure_playground() {
  local stamp
  stamp="$PLAYGROUND/node_modules/.installed-$(sha256sum "$PLAYGROUND/package-lock.json" | cut -c1-16)"
  if [ -f "$stamp" ] && [ -f "$CLI" ]; then return 0; fi
  echo "== installing the Microsoft 365 Agents Playground into tools/playground (npm ci)"
  npm ci --prefix "$PLAYGROUND" --no-audit --no-fund --loglevel=error
  touch "$stamp"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

quietly() {  # quietly LOG CMD...: run CMD with its output in LOG; show LOG if it fails
  local log="$1"; shift
  if ! "$@" >>"$log" 2>&1; then
    echo "!! failed: $*" >&2
    bash "$PRETTY" <"$log" | tail -n 30 >&2
    exit 1
  fi
}

wait_ready() {  # wait_ready WHAT URL EXPECTED PID: poll URL until its body contains EXPECTED
  "$VENV/bin/python" - "$@" <<'PY'
import os, sys, time, urllib.request
what, url, expected, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if expected in response.read().decode("utf-8", "replace"):
                sys.exit(0)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"!! {what} stopped while starting (see above)")
    time.sleep(0.2)
sys.exit(f"!! {what} did not answer on {url} within 60 s")
PY
}

PIDS=()
cleanup() {
  trap - EXIT INT TERM
  local pid alive
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  if [ "${#PIDS[@]}" -gt 0 ]; then echo "== stopped; this run's logs are in $RUN"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The Playground opens its page with `xdg-open` at start and exits where that fails: a
# no-op xdg-open (tools/playground/bin) comes first on its PATH, and TEAMSAPPTESTER_BROWSER=none
# (read by its 0.2.28 CLI) says the same. Its working folder gets its devTools/ log folder.
start_playground() {  # start_playground NAME PORT FOLDER: its own process group, like the bot
  setsid bash -c 'cd "$1" && PATH="$2:$PATH" TEAMSAPPTESTER_BROWSER=none node "$3" start \
      -e "http://127.0.0.1:$4/api/messages" -c msteams --dt -p "$5" 2>&1 \
      | tee -a "$6" | sed -u "s/^/[$7] /"' \
    playground "$3" "$PLAYGROUND/bin" "$CLI" "$PORT" "$2" "$RUN/$1.log" "$1" &
  PIDS+=("$!")
}

for port in "$PORT" "$PLAYGROUND_PORT" "$MVA_PLAYGROUND_PORT"; do
  if port_in_use "$port"; then
    echo "Port $port on 127.0.0.1 is taken (an earlier run still going?). Stop that or set" \
      "PORT / PLAYGROUND_PORT / MVA_PLAYGROUND_PORT." >&2
    exit 1
  fi
done

ensure_node
ensure_playground

echo "== preparing the demo database ($DATABASE_URL)"
if [ -n "$FRESH_DB" ]; then rm -f "$FRESH_DB" "$FRESH_DB-wal" "$FRESH_DB-shm"; fi
quietly "$RUN/setup.jsonl" "$FK" db upgrade
quietly "$RUN/setup.jsonl" "$FK" directory load "$ROOT/demo/directory.yaml"
# The sample answers (08 is invalid on purpose) wait in the outbox until the Playground
# installs the bot: an install retries the deliveries that had nowhere to go.
quietly "$RUN/setup.jsonl" "$FK" ingest "$ROOT"/tests/fixtures/0[1-79]_*.json
grep -h -e '^units:' -e '^/.*: [0-9]\{3\} ' "$RUN/setup.jsonl" | sed "s|^$ROOT/|   |; s|^units|   units|"

echo "== starting the bot on http://127.0.0.1:$PORT (its JSON log: $RUN/bot.jsonl)"
echo "   (it says each card waits for a conversation until you open the Playground's page)"
setsid bash -c '"$1" serve --local --port "$2" 2>&1 | tee -a "$3" | bash "$4"' \
  bot "$FK" "$PORT" "$RUN/bot.jsonl" "$PRETTY" &
PIDS+=("$!")
wait_ready "the bot" "http://127.0.0.1:$PORT/readyz" ready "${PIDS[0]}"

echo "== starting the Playground (Anna Berg) on $PLAYGROUND_PORT and (Maria Svensson) on $MVA_PLAYGROUND_PORT"
start_playground playground "$PLAYGROUND_PORT" "$PLAYGROUND"
start_playground playground-mva "$MVA_PLAYGROUND_PORT" "$PLAYGROUND/mva"
wait_ready "the Playground" "http://127.0.0.1:$PLAYGROUND_PORT/_debug/ping" pong "${PIDS[1]}"
wait_ready "the MVA's Playground" "http://127.0.0.1:$MVA_PLAYGROUND_PORT/_debug/ping" pong "${PIDS[2]}"

# What to do next (demo/banner.txt, which the README quotes).
echo
PORT="$PORT" PLAYGROUND_PORT="$PLAYGROUND_PORT" MVA_PLAYGROUND_PORT="$MVA_PLAYGROUND_PORT" \
  bash "$ROOT/scripts/demo-banner.sh"
printf '   Logs of this run:  %s\n\n' "$RUN"

set +e
wait -n "${PIDS[@]}"
echo "!! a process of the demo stopped by itself (see its log above); stopping the rest" >&2
exit 1

#!/usr/bin/env bash
# Prints what to do in the local demo: demo/banner.txt with its {PLACEHOLDERS} filled in
# from PORT, PLAYGROUND_PORT, MVA_PLAYGROUND_PORT and the first of INTAKE_TOKENS and of
# REPORT_TOKENS (unset: the defaults of scripts/run-local.sh). scripts/run-local.sh prints
# it once everything answers; the README quotes it with the defaults, and
# tests/app/test_demo.py checks that the two say the same.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
intake="${INTAKE_TOKENS:-local-intake-token}"
report="${REPORT_TOKENS:-local-report-token}"
banner="$(<"$ROOT/demo/banner.txt")"
banner="${banner//"{PORT}"/"${PORT:-3978}"}"
banner="${banner//"{PLAYGROUND_PORT}"/"${PLAYGROUND_PORT:-56150}"}"
banner="${banner//"{MVA_PLAYGROUND_PORT}"/"${MVA_PLAYGROUND_PORT:-56151}"}"
banner="${banner//"{INTAKE_TOKEN}"/"${intake%%,*}"}"
banner="${banner//"{REPORT_TOKEN}"/"${report%%,*}"}"
printf '%s\n' "$banner"

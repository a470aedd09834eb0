#!/usr/bin/env bash
# Runs two third-party SCIM conformance checkers against a running server: python-scim's
# scim2-tester and scim-sanity's `probe`, both from PyPI.
#
#   scripts/conformance.sh --install-only   create or update the checkers' virtualenv (network)
#   SCIM_URL=http://127.0.0.1:8080/scim/v2 SCIM_TOKEN=<token> scripts/conformance.sh
#
# The virtualenv lives in ${SCIM_CONFORMANCE_VENV:-~/.cache/scim-provisioning/venv} and holds
# the versions pinned in scripts/conformance-requirements.txt. A run does no network work but
# against SCIM_URL: it fails if the virtualenv is missing or out of date (scripts/test.sh runs
# --install-only first). It builds and starts nothing: start the server yourself (the e2e test
# tests/tests/e2e/conformance.rs starts standalone and runs this script).
#
# Both checkers create, change and delete Users and Groups on the server.
#
# Exit status: 0 when scim2-tester has no failing check (status ERROR or CRITICAL) and every
# failing scim-sanity check (status fail or error) is listed in scripts/scim-sanity-allowed.txt
# (one check id per line, with a comment naming the RFC section that allows our behaviour);
# 1 otherwise; 2 for a usage or set-up error. Both checkers always run, and each prints its
# report, with the HTTP exchanges of every failing check.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SCIM_CONFORMANCE_VENV:-$HOME/.cache/scim-provisioning/venv}"
requirements="$here/conformance-requirements.txt"
allow_list="${SCIM_SANITY_ALLOWED:-$here/scim-sanity-allowed.txt}"
stamp="$venv/.scim-provisioning-requirements"

log() { printf '[conformance.sh] %s\n' "$*" >&2; }

venv_ready() { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; }

install() {
  if venv_ready; then
    log "virtualenv $venv is up to date"
    return 0
  fi
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    log "$python is missing or older than 3.11 (scim2-tester needs 3.11)"; return 2
  fi
  if [ ! -x "$venv/bin/python" ]; then
    log "creating virtualenv $venv"
    mkdir -p "$(dirname "$venv")"
    if ! "$python" -m venv "$venv"; then
      # Debian's python3 ships venv/ensurepip separately.
      rm -rf "$venv"
      if command -v apt-get >/dev/null && [ "$(id -u)" = "0" ]; then
        log "installing Debian's python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        "$python" -m venv "$venv"
      else
        log "cannot create a virtualenv with $python"; return 2
      fi
    fi
  fi
  log "installing $(grep -cv '^#' "$requirements") pinned packages into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
  cp "$requirements" "$stamp"
}

case "${1:-}" in
  --install-only) install; exit $? ;;
  "") ;;
  *) log "unknown argument $1 (see the head of $0)"; exit 2 ;;
esac

if [ -z "${SCIM_URL:-}" ] || [ -z "${SCIM_TOKEN:-}" ]; then
  log "set SCIM_URL (the server's SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2) and SCIM_TOKEN"
  exit 2
fi
if ! venv_ready; then
  log "the checkers' virtualenv $venv is missing or not at the versions of $requirements:"
  log "run 'scripts/conformance.sh --install-only' first (scripts/test.sh does)"
  exit 2
fi
[ -f "$allow_list" ] || { log "allow-list $allow_list is missing"; exit 2; }
export SCIM_URL SCIM_TOKEN

status=0
echo "==================== scim2-tester ===================="
"$venv/bin/python" "$here/conformance.py" scim2-tester || status=1
echo
echo "==================== scim-sanity probe ===================="
"$venv/bin/python" "$here/conformance.py" scim-sanity "$allow_list" || status=1
echo
if [ $status -eq 0 ]; then echo "conformance: passed"; else echo "conformance: FAILED"; fi
exit $status

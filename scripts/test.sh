#!/usr/bin/env bash
# The whole test suite, from a bare machine: starts a throwaway PostgreSQL and a tansu Kafka
# broker (in-memory storage) on free ports, runs every test of the workspace with cargo
# nextest, and stops what it started, even when tests fail.
#
#   scripts/test.sh [extra cargo-nextest arguments]
#
# Installs what is missing: Debian's postgresql when its binaries are absent, Debian's chromium
# and chromium-driver (the portal's browser test), tansu (built once
# with cargo, cached in ${TANSU_ROOT:-~/.cache/scim-provisioning/tansu-0.6.0-libsql}), cargo-nextest, and the
# SCIM conformance checkers from PyPI (a virtualenv in ~/.cache/scim-provisioning/venv, see
# scripts/conformance.sh), and the deployment linters (scripts/check-deploy.sh).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$(date +%s)

work="$(mktemp -d /tmp/scim-test.XXXXXX)"
chmod 755 "$work"
pg_data="$work/pg"
pg_ctl_bin=""
tansu_pid=""

log() { printf '[test.sh] %s\n' "$*" >&2; }

as_postgres() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  status=$?
  if [ -n "$tansu_pid" ]; then kill "$tansu_pid" 2>/dev/null || true; wait "$tansu_pid" 2>/dev/null || true; fi
  for data in "$pg_data" "$work/pg-faults"; do
    if [ -n "$pg_ctl_bin" ] && [ -f "$data/postmaster.pid" ]; then
      as_postgres "$pg_ctl_bin" -D "$data" -m immediate stop >/dev/null 2>&1 || true
    fi
  done
  if [ $status -ne 0 ]; then
    for f in "$pg_data"/server.log "$work"/tansu.log; do
      [ -f "$f" ] && { log "--- tail of $f"; tail -n 30 "$f" >&2; }
    done
  fi
  rm -rf "$work"
  log "finished in $(( $(date +%s) - started ))s with status $status"
  exit $status
}
trap cleanup EXIT INT TERM

pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# --- what this script cannot install itself: said at once, not midway -------------------------
preflight() {
  local missing=() apt=()
  command -v cargo >/dev/null || missing+=("the Rust toolchain (rustup; rust-toolchain.toml names the channel)")
  command -v cc >/dev/null || missing+=("a C compiler (Debian: build-essential): librdkafka, libpq and SQLite build from source")
  { command -v pkg-config >/dev/null && pkg-config --exists openssl; } ||
    missing+=("pkg-config and OpenSSL's headers (Debian: pkg-config libssl-dev), for librdkafka's TLS")
  command -v npm >/dev/null || missing+=("Node.js with npm: buf (the contracts' lint) comes from the npm registry")
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    missing+=("Python 3.11 or newer as $python (or set PYTHON): the conformance checkers and the Python consumer need it")
  fi
  if [ "$(id -u)" != "0" ]; then
    # As root this script installs Debian's packages itself; otherwise they must be there.
    [ -n "$(pg_bin_dir)" ] || apt+=(postgresql)
    { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || apt+=(chromium chromium-driver)
    "$python" -c 'import ensurepip, venv' 2>/dev/null || apt+=(python3-venv)
    command -v promtool >/dev/null || apt+=(prometheus)
    if [ ${#apt[@]} -gt 0 ]; then
      missing+=("Debian packages installed only as root: sudo apt-get install ${apt[*]} (or run this script as root)")
    fi
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "this machine lacks what scripts/test.sh cannot install itself:"
    for item in "${missing[@]}"; do log "  - $item"; done
    exit 2
  fi
}
preflight

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for_port() {
  local port=$1 what=$2
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$what did not open port $port"; return 1
}

# --- PostgreSQL -------------------------------------------------------------------------------
if [ -z "$(pg_bin_dir)" ]; then
  log "installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
pg_bin="$(pg_bin_dir)"
pg_ctl_bin="$pg_bin/pg_ctl"
# As root, the servers run as the user postgres (initdb refuses root); otherwise as this user.
if [ "$(id -u)" = "0" ]; then id postgres >/dev/null 2>&1 || useradd --system --home "$work" postgres; fi
mkdir -p "$pg_data"
if [ "$(id -u)" = "0" ]; then chown postgres "$pg_data"; fi
pg_port="$(free_port)"
# C.UTF-8: Unicode-aware lower() (case-insensitive filters) wherever the suite runs.
as_postgres "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$work/initdb.log" 2>&1
as_postgres "$pg_ctl_bin" -D "$pg_data" -l "$pg_data/server.log" -w -o \
  "-p $pg_port -k $pg_data -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
log "PostgreSQL on 127.0.0.1:$pg_port"

# A second server for the fault-injection suite (tests/tests/e2e/faults.rs), which restarts it
# in the middle of a sync: durable settings, and a script the test calls to crash-restart it.
faults_pg_data="$work/pg-faults"
mkdir -p "$faults_pg_data"
if [ "$(id -u)" = "0" ]; then chown postgres "$faults_pg_data"; fi
faults_pg_port="$(free_port)"
as_postgres "$pg_bin/initdb" -D "$faults_pg_data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >>"$work/initdb.log" 2>&1
faults_pg_options="-p $faults_pg_port -k $faults_pg_data -c listen_addresses=127.0.0.1 -c max_connections=100"
as_postgres "$pg_ctl_bin" -D "$faults_pg_data" -l "$faults_pg_data/server.log" -w -o "$faults_pg_options" start >/dev/null
cat >"$work/faults-postgres-restart" <<EOF
#!/usr/bin/env bash
# Stops the fault suite's PostgreSQL as a crash would (immediate: no checkpoint, connections cut)
# and starts it again; recovery replays the WAL.
set -euo pipefail
$(declare -f as_postgres)
as_postgres "$pg_ctl_bin" -D "$faults_pg_data" -m immediate -w stop >/dev/null
sleep "\${1:-1}"
as_postgres "$pg_ctl_bin" -D "$faults_pg_data" -l "$faults_pg_data/server.log" -w -o "$faults_pg_options" start >/dev/null
EOF
chmod +x "$work/faults-postgres-restart"
export FAULTS_DATABASE_URL="postgres://postgres@127.0.0.1:$faults_pg_port/postgres"
export FAULTS_POSTGRES_RESTART="$work/faults-postgres-restart"

# --- tansu (Kafka API) ------------------------------------------------------------------------
# libsql: the fault-injection suite (tests/tests/faults) kills the broker and needs it durable
# (sqlite:// storage); the shared broker below stays in memory.
tansu_root="${TANSU_ROOT:-$HOME/.cache/scim-provisioning/tansu-0.6.0-libsql}"
export TANSU_BIN="${TANSU_BIN:-$tansu_root/bin/tansu}"
if [ ! -x "$TANSU_BIN" ]; then
  log "building tansu once (about 10 minutes); cached in $tansu_root"
  cargo install --locked tansu --version 0.6.0 --features dynostore,postgres,libsql --root "$tansu_root"
fi
kafka_port="$(free_port)"
"$TANSU_BIN" broker \
  --listener-url "tcp://127.0.0.1:$kafka_port" \
  --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
  --storage-engine "memory://tansu/" >"$work/tansu.log" 2>&1 &
tansu_pid=$!
wait_for_port "$kafka_port" tansu
export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$kafka_port"
log "tansu on 127.0.0.1:$kafka_port"

# --- a browser for the portal's page (tests/tests/e2e/browser.rs) ------------------------------
# Debian's Chromium and its ChromeDriver; the test starts chromedriver itself. Nothing is
# downloaded at run time by the test.
if [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/chromium ]; then
  log "installing Debian's chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# --- conformance checkers (scim2-tester, scim-sanity) ------------------------------------------
# tests/tests/e2e/conformance.rs runs scripts/conformance.sh, which needs their virtualenv and
# does no network work itself: create or update it here.
bash scripts/conformance.sh --install-only

# --- deploy/ and the Dockerfile ---------------------------------------------------------------
# hadolint, every overlay rendered and validated, checkov, and the manifests against the code
# (scripts/check-deploy.sh). Skipped when the run is filtered (arguments given).
if [ $# -eq 0 ]; then
  bash scripts/check-deploy.sh
  # The contracts: buf lint, and buf breaking against the last released ones.
  bash scripts/check-proto.sh
  # Licences, bans, sources of the dependencies (cargo-deny, deny.toml).
  bash scripts/check-deps.sh
fi

# --- the suite --------------------------------------------------------------------------------
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
# The end-to-end tests start the real binaries: build them first.
cargo build --workspace --bins
cargo nextest run --workspace --no-fail-fast "$@"

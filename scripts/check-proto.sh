#!/usr/bin/env bash
# The gRPC and event contracts (proto/proto): `buf lint` (proto/proto/buf.yaml says which rules
# are left out and why) and `buf breaking` against proto/baseline.binpb, the contracts as last
# released (FILE rules: no field renumbered, renamed or retyped, no message or RPC removed).
# A deliberate break is a new package version (scimsvc.v2), not an edit of v1; after a release,
# `scripts/check-proto.sh --update-baseline` records the new baseline.
# buf comes from the npm registry (@bufbuild/buf, pinned), cached in ~/.cache/scim-provisioning/buf.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUF_VERSION=1.75.0
PREFIX="${XDG_CACHE_HOME:-$HOME/.cache}/scim-provisioning/buf-$BUF_VERSION"
BUF="$PREFIX/node_modules/.bin/buf"
log() { echo "[check-proto] $*"; }

if [ ! -x "$BUF" ]; then
  command -v npm >/dev/null || { log "npm is missing (Node.js): it installs buf"; exit 1; }
  log "installing @bufbuild/buf@$BUF_VERSION into $PREFIX"
  mkdir -p "$PREFIX"
  npm install --silent --no-audit --no-fund --prefix "$PREFIX" "@bufbuild/buf@$BUF_VERSION" >/dev/null
fi
cd "$ROOT/proto/proto"
if [ "${1:-}" = "--update-baseline" ]; then
  "$BUF" build -o ../baseline.binpb
  log "baseline updated: proto/baseline.binpb"
  exit 0
fi
"$BUF" lint
"$BUF" breaking --against ../baseline.binpb
log "buf lint and buf breaking (against proto/baseline.binpb) pass"

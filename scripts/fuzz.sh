#!/usr/bin/env bash
# Every cargo-fuzz target in turn, each for a bounded time: the parsers' targets in scim/fuzz
# (filter, patch_path, patch_body) and the whole request path in gateway/fuzz (request: the
# real gateway app in-process against a fake provisioning-core). One job and one worker at a
# time: the machine is shared. Not part of CI (too long).
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default 600 s, every target)
#
# Corpora grow in <crate>/corpus/<target> (not in git) from the seeds in <crate>/seeds/<target>;
# a crash is saved in <crate>/artifacts/<target>/ and stops the script. Each run's libFuzzer
# log (with `-jobs=1` libFuzzer writes it to fuzz-0.log) is kept as target/fuzz-logs/<target>.log,
# and its last status line and final stats are printed. Needs cargo-fuzz
# (`cargo install --locked cargo-fuzz`) and a nightly toolchain (else RUSTC_BOOTSTRAP=1).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-600}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(filter patch_path patch_body request)

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  cargo=(cargo +nightly)
else
  export RUSTC_BOOTSTRAP=1
  cargo=(cargo)
fi

logs="$root/target/fuzz-logs"
mkdir -p "$logs"

for target in "${targets[@]}"; do
  case "$target" in
    filter) crate=scim/fuzz flags=(-dict=dict/filter.dict) ;;
    patch_path) crate=scim/fuzz flags=(-dict=dict/filter.dict) ;;
    patch_body) crate=scim/fuzz flags=(-dict=dict/patch_body.dict) ;;
    # A request is larger than a parser's input; a hang is a bug (a request waits at most for
    # the core, which answers at once). The harness keeps its app and runtime across inputs, so
    # libFuzzer's per-input leak check (a full heap scan whenever the heap grew) is off; what
    # actix-router leaks on purpose when the app is built is suppressed at exit.
    request)
      crate=gateway/fuzz
      flags=(-dict=dict/request.dict -max_len=8192 -timeout=30 -detect_leaks=0)
      export LSAN_OPTIONS="suppressions=$root/gateway/fuzz/lsan.supp"
      ;;
    *) echo "unknown fuzz target '$target' (filter, patch_path, patch_body, request)" >&2; exit 2 ;;
  esac
  cd "$root/$crate"
  mkdir -p "corpus/$target"
  rm -f fuzz-0.log
  echo "== $target: ${seconds}s in $crate" >&2
  started=$(date +%s)
  status=0
  "${cargo[@]}" fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" "${flags[@]}" -print_final_stats=1 -jobs=1 -workers=1 || status=$?
  finished=$(date +%s)
  mv fuzz-0.log "$logs/$target.log"
  grep -E '^#[0-9]+' "$logs/$target.log" | tail -n 1 >&2 || true
  grep -E '^(Done [0-9]+ runs|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb))' "$logs/$target.log" >&2 || true
  echo "== $target: $((finished - started))s wall, exit $status, log $logs/$target.log" >&2
  [ "$status" -eq 0 ] || exit "$status"
done

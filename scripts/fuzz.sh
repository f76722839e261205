#!/usr/bin/env bash
# scripts/fuzz.sh: runs every cargo-fuzz target (fuzz/fuzz_targets: ids, Range headers,
# event cursors and part numbers, X-Kloudless-Metadata, OAuth scopes and origins, the File
# Picker's upload chunk queries) for FUZZ_SECONDS each (default 60) with libFuzzer, then
# prints each one's executions. A crash
# stops the script, with the input in fuzz/artifacts/<target>/ (replay it with
# `cargo fuzz run <target> <file>`). Corpora grow in fuzz/corpus/ between runs.
# Installs cargo-fuzz when missing. The first build instruments every dependency and takes
# a while (about 15 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --version 0.13.2 --locked
# cargo fuzz passes -Z flags (sanitizers); the machine's toolchain is stable.
export RUSTC_BOOTSTRAP=1
cd fuzz
cargo fuzz build
summary=()
for target in $(cargo fuzz list); do
  log=$(mktemp)
  cargo fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tee "$log" | tail -n 3
  runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -n 1)
  summary+=("$target: ${runs:-?} executions in ${seconds}s, no crash")
  rm -f "$log"
done
printf '%s\n' "${summary[@]}"

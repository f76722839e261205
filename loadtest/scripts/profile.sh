#!/usr/bin/env bash
# loadtest/scripts/profile.sh: where the CPU goes under load. Runs SCENARIO closed loop
# (CONCURRENCY clients) against its own deployment (release build with line tables; the
# accounts on the fake upstream, as in upstream-bench.sh), samples the API and the worker
# with `perf record` (cpu-clock, DWARF call graphs) for PERF_SECONDS in the middle of the
# run, and writes for each process
#   OUT/<process>.svg      a flamegraph (inferno)
#   OUT/<process>.folded   the folded stacks it was drawn from
#   OUT/<process>.top.txt  the functions with the most samples of their own
# Installs perf (linux-perf) and inferno (cargo install) when missing.
#
#   loadtest/scripts/profile.sh                       # metadata, 64 clients
#   SCENARIO=mixed PERF_SECONDS=20 loadtest/scripts/profile.sh
#
# SCENARIO (metadata), CONCURRENCY (64), PERF_SECONDS (10), FREQ (499 Hz), OUT
# (loadtest-report/profile-<scenario>).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
# shellcheck source=scripts/lib/deployment.sh
source scripts/lib/deployment.sh
scenario=${SCENARIO:-metadata}; concurrency=${CONCURRENCY:-64}; seconds=${PERF_SECONDS:-10}
freq=${FREQ:-499}; out=${OUT:-loadtest-report/profile-$scenario}
command -v perf >/dev/null 2>&1 || apt_install linux-perf
command -v inferno-flamegraph >/dev/null 2>&1 || cargo install --locked inferno
mkdir -p "$out"

deployment_start profile 18760
deployment_spawn upstream.log "$bin/cloudbridge-fake-upstream" --bind 127.0.0.1:18759
"$bin/cloudbridge-loadtest" --base-url "$api_url" --developer-key="$key" \
  --upstream http://127.0.0.1:18759 --scenarios "$scenario" --concurrency "$concurrency" \
  --duration "$((seconds + 10))s" --no-baseline --out "$out" >"$work/loadtest.log" 2>&1 &
load=$!
sleep 8   # set-up and warm-up
perf_pids=()
for proc in api jobs; do
  pid=$api_pid; [ "$proc" = jobs ] && pid=${worker_pids[0]}
  perf record -q -e cpu-clock -F "$freq" --call-graph dwarf,32768 -p "$pid" \
    -o "$work/$proc.data" -- sleep "$seconds" 2>"$work/perf-$proc.log" &
  perf_pids+=($!)
done
wait "${perf_pids[@]}"
wait "$load" || { cat "$work/loadtest.log"; exit 1; }
for proc in api jobs; do
  perf script -i "$work/$proc.data" 2>/dev/null | inferno-collapse-perf >"$out/$proc.folded"
  inferno-flamegraph --title "cloudbridge-$proc, $scenario, $concurrency clients" \
    <"$out/$proc.folded" >"$out/$proc.svg"
  perf report -i "$work/$proc.data" --no-children --sort symbol --stdio >"$work/$proc.report" \
    2>/dev/null
  awk 'n < 40 && /^ +[0-9.]+%/ {sub(/ +- +- *$/, ""); print; n++}' "$work/$proc.report" \
    >"$out/$proc.top.txt"
done
grep -E '^[a-z]+:' "$work/loadtest.log" || true
echo "flamegraphs: $out/api.svg $out/jobs.svg"

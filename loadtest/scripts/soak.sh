#!/usr/bin/env bash
# loadtest/scripts/soak.sh: a long run at a fixed rate that shows whether Redis memory stays
# flat. Starts its own API, worker and scheduler (release build, housekeeping every 10 s as
# by default; scripts/lib/deployment.sh) with its own database and Redis prefix, runs
# SCENARIO at RATE req/s for DURATION over local accounts, and samples every SAMPLE seconds:
# Redis used_memory, the number of this deployment's keys, the queue depths and the
# processes' resident memory.
#
#   loadtest/scripts/soak.sh                          # mixed, 500 req/s, 30 minutes
#   DURATION=5m RATE=1000 loadtest/scripts/soak.sh
#
# SCENARIO (mixed), RATE (500), DURATION (30m), SAMPLE (60), OUT (loadtest-report/soak).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/deployment.sh
source scripts/lib/deployment.sh
scenario=${SCENARIO:-mixed}; rate=${RATE:-500}; duration=${DURATION:-30m}
sample=${SAMPLE:-60}; out=${OUT:-loadtest-report/soak}
deployment_start soak 18740
prefix=$CLOUDBRIDGE_REDIS__PREFIX

mkdir -p "$out"
used() { redis-cli info memory | awk -F: '/^used_memory:/ {printf "%.1f", $2/1048576}'; }
keys() { redis-cli --scan --pattern "$prefix:*" | wc -l; }
depth() { curl -s http://127.0.0.1:18741/metrics | awk '/^cloudbridge_queue_depth/ {s = s $0 " "} END {print s}'; }
samples="$out/samples.md"
{
  echo "| t (s) | Redis used_memory (MiB) | deployment keys | resident memory |"
  echo "|---:|---:|---:|---|"
  echo "| 0 | $(used) | $(keys) | $(deployment_memory VmRSS) |"
} >"$samples"
"$bin/cloudbridge-loadtest" --base-url "$api_url" --developer-key="$key" \
  --scenarios "$scenario" --rate "$rate" --duration "$duration" --no-baseline \
  --out "$out" >"$work/loadtest.log" 2>&1 &
load=$!
start=$(date +%s)
while kill -0 "$load" 2>/dev/null; do
  sleep "$sample"
  kill -0 "$load" 2>/dev/null || break
  echo "| $(( $(date +%s) - start )) | $(used) | $(keys) | $(deployment_memory VmRSS) |" >>"$samples"
done
wait "$load" || { cat "$work/loadtest.log"; exit 1; }
sleep 30
echo "| $(( $(date +%s) - start )) (30 s after) | $(used) | $(keys) | $(deployment_memory VmRSS) |" >>"$samples"
tail -n 8 "$work/loadtest.log"
cat "$samples"
echo "queues at the end: $(depth)"

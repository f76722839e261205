#!/usr/bin/env bash
# loadtest/scripts/soak.sh: a long run at a fixed rate that shows whether Redis memory stays
# flat. Starts its own API, worker and scheduler (release build, housekeeping every 10 s as
# by default) with its own database and Redis prefix, runs SCENARIO at RATE req/s for
# DURATION over local accounts, and samples every SAMPLE seconds: Redis used_memory, the
# number of this deployment's keys, the queue depths and the processes' resident memory.
#
#   loadtest/scripts/soak.sh                          # mixed, 500 req/s, 30 minutes
#   DURATION=5m RATE=1000 loadtest/scripts/soak.sh
#
# SCENARIO (mixed), RATE (500), DURATION (30m), SAMPLE (60), OUT (loadtest-report/soak).
set -euo pipefail
cd "$(dirname "$0")/../.."
scenario=${SCENARIO:-mixed}; rate=${RATE:-500}; duration=${DURATION:-30m}
sample=${SAMPLE:-60}; out=${OUT:-loadtest-report/soak}
bin=${CARGO_TARGET_DIR:-target}/release
cargo build --release --bins -q

work=$(mktemp -d)
pids=()
db=cb_soak
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
prefix="soak-$$"
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export REDIS_URL=redis://127.0.0.1:6379
export CLOUDBRIDGE_REDIS__PREFIX=$prefix
export CLOUDBRIDGE_LOCAL__DATA_ROOT="$work/data"
export CLOUDBRIDGE_SECRETS__KEYS="k1:$(head -c 32 /dev/urandom | base64 -w0)"
export CLOUDBRIDGE_LOG__FILTER=warn
export CLOUDBRIDGE_API__BIND=127.0.0.1:18740
export CLOUDBRIDGE_JOBS__METRICS_BIND=127.0.0.1:18741
export CLOUDBRIDGE_SCHEDULER__METRICS_BIND=127.0.0.1:18742

"$bin/cloudbridge-api" >"$work/api.log" 2>&1 & pids+=($!); api_pid=$!
"$bin/cloudbridge-jobs" >"$work/jobs.log" 2>&1 & pids+=($!); jobs_pid=$!
"$bin/cloudbridge-scheduler" >"$work/scheduler.log" 2>&1 & pids+=($!); scheduler_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null http://127.0.0.1:18740/ready 2>/dev/null && break
  sleep 0.2
done
key=$("$bin/cloudbridge-api" admin create-developer --email soak@localhost | tail -n 1)

mkdir -p "$out"
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }
used() { redis-cli info memory | awk -F: '/^used_memory:/ {printf "%.1f", $2/1048576}'; }
keys() { redis-cli --scan --pattern "$prefix:*" | wc -l; }
depth() { curl -s http://127.0.0.1:18742/metrics | awk '/^cloudbridge_queue_depth/ {s = s $0 " "} END {print s}'; }
samples="$out/samples.md"
{
  echo "| t (s) | Redis used_memory (MiB) | deployment keys | RSS api / jobs / scheduler (MB) |"
  echo "|---:|---:|---:|---|"
  echo "| 0 | $(used) | $(keys) | $(rss $api_pid) / $(rss $jobs_pid) / $(rss $scheduler_pid) |"
} >"$samples"
"$bin/cloudbridge-loadtest" --base-url http://127.0.0.1:18740 --developer-key="$key" \
  --scenarios "$scenario" --rate "$rate" --duration "$duration" --no-baseline \
  --out "$out" >"$work/loadtest.log" 2>&1 &
load=$!
start=$(date +%s)
while kill -0 "$load" 2>/dev/null; do
  sleep "$sample"
  kill -0 "$load" 2>/dev/null || break
  echo "| $(( $(date +%s) - start )) | $(used) | $(keys) | $(rss $api_pid) / $(rss $jobs_pid) / $(rss $scheduler_pid) |" >>"$samples"
done
wait "$load" || { cat "$work/loadtest.log"; exit 1; }
sleep 30
echo "| $(( $(date +%s) - start )) (30 s after) | $(used) | $(keys) | $(rss $api_pid) / $(rss $jobs_pid) / $(rss $scheduler_pid) |" >>"$samples"
cat "$work/loadtest.log" | tail -n 8
cat "$samples"
echo "queues at the end: $(depth)"

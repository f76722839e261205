#!/usr/bin/env bash
# loadtest/scripts/collect-bench.sh: event collection at scale. Connects ACCOUNTS
# s3_compatible accounts on the fake upstream (LATENCY_MS ± JITTER_MS per call; a file
# appears and one goes in every account each CHURN_SECS) to an application that collects
# events every INTERVAL seconds, waits for every account's first collection, then samples
# coverage (accounts collected within the interval), lag and events/s for DURATION.
# Starts its own API, scheduler and WORKERS worker processes (release build) on spare
# ports, with its own database and Redis prefix; prints each process' memory after.
#
#   loadtest/scripts/collect-bench.sh                       # 50,000 accounts, 60 s
#   ACCOUNTS=5000 DURATION=90s loadtest/scripts/collect-bench.sh
#
# ACCOUNTS (50000), INTERVAL (60), LATENCY_MS (50), JITTER_MS (20), CHURN_SECS (300),
# WORKERS (1), DURATION (180s), OUT (loadtest-report/collect-<accounts>).
set -euo pipefail
cd "$(dirname "$0")/../.."
accounts=${ACCOUNTS:-50000}; interval=${INTERVAL:-60}; latency=${LATENCY_MS:-50}
jitter=${JITTER_MS:-20}; churn=${CHURN_SECS:-300}; workers=${WORKERS:-1}
duration=${DURATION:-180s}; out=${OUT:-loadtest-report/collect-$accounts}
bin=${CARGO_TARGET_DIR:-target}/release
cargo build --release --bins -q

work=$(mktemp -d)
pids=()
db=cb_collect_bench
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export REDIS_URL=redis://127.0.0.1:6379
export CLOUDBRIDGE_REDIS__PREFIX="collect-$$"
export CLOUDBRIDGE_LOCAL__DATA_ROOT="$work/data"
export CLOUDBRIDGE_SECRETS__KEYS="k1:$(head -c 32 /dev/urandom | base64 -w0)"
export CLOUDBRIDGE_LOG__FILTER=warn
export CLOUDBRIDGE_EVENTS__INTERVAL_SECS=$interval
export CLOUDBRIDGE_DATABASE__MAX_CONNECTIONS=${DB_CONNECTIONS:-24}
export CLOUDBRIDGE_API__BIND=127.0.0.1:18720
export CLOUDBRIDGE_SCHEDULER__METRICS_BIND=127.0.0.1:18721

"$bin/cloudbridge-fake-upstream" --bind 127.0.0.1:18719 --latency-ms "$latency" \
  --jitter-ms "$jitter" --churn-secs "$churn" 2>"$work/upstream.log" & pids+=($!)
upstream_pid=$!
"$bin/cloudbridge-api" >"$work/api.log" 2>&1 & pids+=($!); api_pid=$!
jobs_pids=()
for n in $(seq 1 "$workers"); do
  CLOUDBRIDGE_JOBS__METRICS_BIND=127.0.0.1:$((18730 + n)) "$bin/cloudbridge-jobs" \
    >"$work/jobs$n.log" 2>&1 & pids+=($!); jobs_pids+=($!)
done
"$bin/cloudbridge-scheduler" >"$work/scheduler.log" 2>&1 & pids+=($!); scheduler_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null http://127.0.0.1:18720/ready 2>/dev/null && break
  sleep 0.2
done
key=$("$bin/cloudbridge-api" admin create-developer --email bench@localhost | tail -n 1)

"$bin/cloudbridge-collect-bench" --base-url http://127.0.0.1:18720 --developer-key="$key" \
  --upstream http://127.0.0.1:18719 --accounts "$accounts" --interval "${interval}s" \
  --duration "$duration" --out "$out"
mem() { awk '/VmHWM/ {peak=int($2/1024)} /VmRSS/ {now=int($2/1024)} END {print "peak " peak " MB, now " now " MB"}' "/proc/$1/status"; }
{
  echo
  echo "| process | memory |"
  echo "|---|---|"
  echo "| api | $(mem "$api_pid") |"
  for p in "${jobs_pids[@]}"; do echo "| jobs | $(mem "$p") |"; done
  echo "| scheduler | $(mem "$scheduler_pid") |"
  echo "| fake upstream (not ours) | $(mem "$upstream_pid") |"
  echo
  echo "Redis used_memory: $(redis-cli info memory | awk -F: '/^used_memory:/ {print int($2/1048576) " MB"}') (whole instance)"
  echo "PostgreSQL database size: $(psql -tA -h 127.0.0.1 -U postgres -c "SELECT pg_size_pretty(pg_database_size('$db'))")"
} | tee -a "$out/report.md"
grep -h '"level":"ERROR"\|"level":"WARN"' "$work"/jobs*.log "$work/scheduler.log" 2>/dev/null | sort | uniq -c | sort -rn | head -5 || true

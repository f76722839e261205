#!/usr/bin/env bash
# loadtest/scripts/collect-bench.sh: event collection at scale. Connects ACCOUNTS
# s3_compatible accounts on the fake upstream (LATENCY_MS ± JITTER_MS per call; a file
# appears and one goes in every account each CHURN_SECS) to an application that collects
# events every INTERVAL seconds, waits for every account's first collection, then samples
# coverage (accounts collected within the interval), lag and events/s for DURATION.
# Starts its own API, scheduler and WORKERS worker processes (release build,
# scripts/lib/deployment.sh) with its own database and Redis prefix; prints each process'
# memory after.
#
#   loadtest/scripts/collect-bench.sh                       # 50,000 accounts, 60 s
#   ACCOUNTS=5000 DURATION=90s loadtest/scripts/collect-bench.sh
#
# ACCOUNTS (50000), INTERVAL (60), LATENCY_MS (50), JITTER_MS (20), CHURN_SECS (300),
# WORKERS (1), DURATION (180s), DB_CONNECTIONS (24), OUT (loadtest-report/collect-<accounts>).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/deployment.sh
source scripts/lib/deployment.sh
accounts=${ACCOUNTS:-50000}; interval=${INTERVAL:-60}; latency=${LATENCY_MS:-50}
jitter=${JITTER_MS:-20}; churn=${CHURN_SECS:-300}; workers=${WORKERS:-1}
duration=${DURATION:-180s}; out=${OUT:-loadtest-report/collect-$accounts}

export CLOUDBRIDGE_EVENTS__INTERVAL_SECS=$interval
export CLOUDBRIDGE_DATABASE__MAX_CONNECTIONS=${DB_CONNECTIONS:-24}
deployment_start collect_bench 18720 "$workers"
deployment_spawn upstream.log "$bin/cloudbridge-fake-upstream" --bind 127.0.0.1:18719 \
  --latency-ms "$latency" --jitter-ms "$jitter" --churn-secs "$churn"
upstream_pid=$spawned_pid

"$bin/cloudbridge-collect-bench" --base-url "$api_url" --developer-key="$key" \
  --upstream http://127.0.0.1:18719 --accounts "$accounts" --interval "${interval}s" \
  --duration "$duration" --out "$out"
mem() { awk '/VmHWM/ {peak=int($2/1024)} /VmRSS/ {now=int($2/1024)} END {print "peak " peak " MB, now " now " MB"}' "/proc/$1/status"; }
{
  echo
  echo "| process | memory |"
  echo "|---|---|"
  echo "| api | $(mem "$api_pid") |"
  for p in "${worker_pids[@]}"; do echo "| jobs | $(mem "$p") |"; done
  echo "| scheduler | $(mem "$scheduler_pid") |"
  echo "| fake upstream (not ours) | $(mem "$upstream_pid") |"
  echo
  echo "Redis used_memory: $(redis-cli info memory | awk -F: '/^used_memory:/ {print int($2/1048576) " MB"}') (whole instance)"
  echo "PostgreSQL database size: $(psql -tA -h 127.0.0.1 -U postgres -c "SELECT pg_size_pretty(pg_database_size('$deployment_db'))")"
} | tee -a "$out/report.md"
grep -h '"level":"ERROR"\|"level":"WARN"' "$work"/jobs*.log "$work/scheduler.log" 2>/dev/null | sort | uniq -c | sort -rn | head -5 || true

#!/usr/bin/env bash
# loadtest/scripts/upstream-bench.sh: metadata through the full pipeline against the fake
# upstream (cloudbridge-fake-upstream, an S3-compatible service with injected latency),
# beside the same HEAD calls made straight at the upstream and the no-op queue round trip,
# all in one run. Starts its own API, scheduler and WORKERS worker processes (release
# build) on spare ports, with its own database and Redis prefix, and stops them after.
#
#   loadtest/scripts/upstream-bench.sh                         # defaults below
#   LATENCY_MS=200 CONCURRENCY=1000 loadtest/scripts/upstream-bench.sh
#   for w in 1 2 4; do WORKERS=$w LATENCY_MS=50 loadtest/scripts/upstream-bench.sh; done
#   SCENARIOS=passthrough LATENCY_MS=5 loadtest/scripts/upstream-bench.sh   # /raw vs direct
#
# LATENCY_MS (0), JITTER_MS (0), WORKERS (1), CONCURRENCY (64), RATE (open loop, req/s;
# overrides CONCURRENCY), DURATION (15s), OUT (loadtest-report/upstream-...).
set -euo pipefail
cd "$(dirname "$0")/../.."
latency=${LATENCY_MS:-0}; jitter=${JITTER_MS:-0}; workers=${WORKERS:-1}
concurrency=${CONCURRENCY:-64}; duration=${DURATION:-15s}; rate=${RATE:-}
shape=c$concurrency; [ -n "$rate" ] && shape=r$rate
out=${OUT:-loadtest-report/upstream-l${latency}-w${workers}-$shape}
bin=${CARGO_TARGET_DIR:-target}/release
cargo build --release --bins -q

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS cb_upstream_bench" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS cb_upstream_bench" >/dev/null
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE cb_upstream_bench" >/dev/null
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/cb_upstream_bench
export REDIS_URL=redis://127.0.0.1:6379
export CLOUDBRIDGE_REDIS__PREFIX="bench-$$"
export CLOUDBRIDGE_LOCAL__DATA_ROOT="$work/data"
export CLOUDBRIDGE_SECRETS__KEYS="k1:$(head -c 32 /dev/urandom | base64 -w0)"
export CLOUDBRIDGE_LOG__FILTER=warn
# Room for every waiting client: the async tiers hold no thread per waiting request.
export CLOUDBRIDGE_API__MAX_IN_FLIGHT=$((concurrency * 2 + 1000))
export CLOUDBRIDGE_API__BACKLOG_LIMIT=$((concurrency * 2 + 4000))
export CLOUDBRIDGE_API__BIND=127.0.0.1:18700
export CLOUDBRIDGE_SCHEDULER__METRICS_BIND=127.0.0.1:18701
# Box accounts of the pass-through scenario have their API on the fake upstream.
export CLOUDBRIDGE_PROVIDERS__BOX__API_URL=http://127.0.0.1:18699
export CLOUDBRIDGE_PROVIDERS__BOX__CONTENT_URL=http://127.0.0.1:18699

"$bin/cloudbridge-fake-upstream" --bind 127.0.0.1:18699 --latency-ms "$latency" --jitter-ms "$jitter" \
  2>"$work/upstream.log" & pids+=($!)
"$bin/cloudbridge-api" >"$work/api.log" 2>&1 & pids+=($!); api_pid=$!
worker_pids=()
for n in $(seq 1 "$workers"); do
  CLOUDBRIDGE_JOBS__METRICS_BIND=127.0.0.1:$((18710 + n)) "$bin/cloudbridge-jobs" \
    >"$work/jobs$n.log" 2>&1 & pids+=($!); worker_pids+=($!)
done
"$bin/cloudbridge-scheduler" >"$work/scheduler.log" 2>&1 & pids+=($!); scheduler_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null http://127.0.0.1:18700/ready 2>/dev/null && break
  sleep 0.2
done
key=$("$bin/cloudbridge-api" admin create-developer --email bench@localhost | tail -n 1)
# Resident memory now (idle, ready) and at its peak (VmHWM) after the load.
mem() { awk -v f="$2" '$1 == f":" {printf "%d MB", $2 / 1024}' "/proc/$1/status"; }
memory() {
  local line="api $(mem "$api_pid" "$1")" p
  for p in "${worker_pids[@]}"; do line+=", jobs $(mem "$p" "$1")"; done
  echo "$line, scheduler $(mem "$scheduler_pid" "$1")"
}
sleep 2
idle=$(memory VmRSS)

load=(--concurrency "$concurrency")
[ -n "$rate" ] && load=(--rate "$rate")
"$bin/cloudbridge-loadtest" --base-url http://127.0.0.1:18700 --developer-key="$key" \
  --upstream http://127.0.0.1:18699 --scenarios "${SCENARIOS:-metadata}" "${load[@]}" \
  --duration "$duration" --out "$out"
echo "latency ${latency} ms ±${jitter}, workers $workers; report in $out"
echo "resident memory idle: $idle; peak: $(memory VmHWM)" | tee "$out/memory.txt"

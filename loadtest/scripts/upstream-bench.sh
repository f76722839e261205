#!/usr/bin/env bash
# loadtest/scripts/upstream-bench.sh: metadata through the full pipeline against the fake
# upstream (cloudbridge-fake-upstream, an S3-compatible service with injected latency),
# beside the same HEAD calls made straight at the upstream and the no-op queue round trip,
# all in one run. Starts its own API, scheduler and WORKERS worker processes (release
# build, scripts/lib/deployment.sh) and stops them after; prints every process's resident
# memory when idle and at its peak.
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
# shellcheck source=scripts/lib/deployment.sh
source scripts/lib/deployment.sh
latency=${LATENCY_MS:-0}; jitter=${JITTER_MS:-0}; workers=${WORKERS:-1}
concurrency=${CONCURRENCY:-64}; duration=${DURATION:-15s}; rate=${RATE:-}
shape=c$concurrency; [ -n "$rate" ] && shape=r$rate
out=${OUT:-loadtest-report/upstream-l${latency}-w${workers}-$shape}

# Room for every waiting client: the async tiers hold no thread per waiting request.
export CLOUDBRIDGE_API__MAX_IN_FLIGHT=$((concurrency * 2 + 1000))
export CLOUDBRIDGE_API__BACKLOG_LIMIT=$((concurrency * 2 + 4000))
# Box accounts of the pass-through scenario have their API on the fake upstream.
export CLOUDBRIDGE_PROVIDERS__BOX__API_URL=http://127.0.0.1:18699
export CLOUDBRIDGE_PROVIDERS__BOX__CONTENT_URL=http://127.0.0.1:18699
# The accounts' endpoint is the fake upstream on this machine: the address policy lets it.
export CLOUDBRIDGE_NETWORK__ACCOUNT_ALLOW=127.0.0.1/32
deployment_start upstream_bench 18700 "$workers"
deployment_spawn upstream.log "$bin/cloudbridge-fake-upstream" --bind 127.0.0.1:18699 \
  --latency-ms "$latency" --jitter-ms "$jitter"
sleep 2
idle=$(deployment_memory VmRSS)

load=(--concurrency "$concurrency")
[ -n "$rate" ] && load=(--rate "$rate")
"$bin/cloudbridge-loadtest" --base-url "$api_url" --developer-key="$key" \
  --upstream http://127.0.0.1:18699 --scenarios "${SCENARIOS:-metadata}" "${load[@]}" \
  --duration "$duration" --out "$out"
echo "latency ${latency} ms ±${jitter}, workers $workers; report in $out"
echo "resident memory idle: $idle; peak: $(deployment_memory VmHWM)" | tee "$out/memory.txt"

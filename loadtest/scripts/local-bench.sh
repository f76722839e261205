#!/usr/bin/env bash
# loadtest/scripts/local-bench.sh: every scenario on `local` accounts (the embedded
# default service) through the full pipeline, closed loop with CONCURRENCY clients, then
# metadata open loop at RATE req/s; each report starts with the no-op queue round trip
# (`ping`) measured in the same run. Starts its own API, worker and scheduler (release
# build, scripts/lib/deployment.sh) and prints every process's memory idle and at peak.
#
#   loadtest/scripts/local-bench.sh
#   CONCURRENCY=256 DURATION=20s loadtest/scripts/local-bench.sh
#
# SCENARIOS (health,metadata,list,download,upload,mixed), CONCURRENCY (64), RATE (1000),
# DURATION (10s; the open-loop run lasts three times as long), OUT (loadtest-report/local).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/deployment.sh
source scripts/lib/deployment.sh
scenarios=${SCENARIOS:-health,metadata,list,download,upload,mixed}
concurrency=${CONCURRENCY:-64}; rate=${RATE:-1000}; duration=${DURATION:-10s}
out=${OUT:-loadtest-report/local}

export CLOUDBRIDGE_API__MAX_IN_FLIGHT=$((concurrency * 2 + 1000))
deployment_start local_bench 18780
sleep 2
idle=$(deployment_memory VmRSS)
"$bin/cloudbridge-loadtest" --base-url "$api_url" --developer-key="$key" \
  --scenarios "$scenarios" --concurrency "$concurrency" --duration "$duration" --out "$out/closed"
[[ $duration =~ ^[0-9]+s$ ]] || { echo "DURATION is in seconds, like 10s" >&2; exit 2; }
seconds=${duration%s}
"$bin/cloudbridge-loadtest" --base-url "$api_url" --developer-key="$key" \
  --scenarios metadata --rate "$rate" --duration "$((seconds * 3))s" --out "$out/open"
echo "resident memory idle: $idle; peak: $(deployment_memory VmHWM)" | tee "$out/memory.txt"

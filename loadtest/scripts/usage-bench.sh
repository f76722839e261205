#!/usr/bin/env bash
# loadtest/scripts/usage-bench.sh: what the per-application usage rollup costs on the
# metadata benchmark, in one run. Starts its own deployment (scripts/lib/deployment.sh:
# release build, API, worker, scheduler) with the rollup on, and beside it a second API
# process on the same database, Redis and worker with `usage.enabled = false`; then runs
# the metadata scenario closed loop against one API and the other, alternating (off, on,
# off, on, ...) against drift, and reports each run and the medians. The API not under load
# idles meanwhile. Each run's load generator sets up its own application and accounts.
#
#   loadtest/scripts/usage-bench.sh
#   ROUNDS=5 CONCURRENCY=64 DURATION=15s loadtest/scripts/usage-bench.sh
#
# ROUNDS (3 pairs), CONCURRENCY (64), DURATION (10s), FLUSH_MS (the rollup's
# usage.flush_ms, default 5000), OUT (loadtest-report/usage).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/deployment.sh
source scripts/lib/deployment.sh
rounds=${ROUNDS:-3}
concurrency=${CONCURRENCY:-64}; duration=${DURATION:-10s}
out=${OUT:-loadtest-report/usage}
base=18890

export CLOUDBRIDGE_API__MAX_IN_FLIGHT=$((concurrency * 2 + 1000))
export CLOUDBRIDGE_LIMITS__KEY__PER_SEC=0
export CLOUDBRIDGE_USAGE__ENABLED=true
export CLOUDBRIDGE_USAGE__FLUSH_MS=${FLUSH_MS:-5000}
deployment_start usage_bench "$base"
# The same API without the rollup, on the same database, Redis and worker.
deployment_spawn api-off.log env CLOUDBRIDGE_USAGE__ENABLED=false \
  CLOUDBRIDGE_API__BIND=127.0.0.1:$((base + 3)) CLOUDBRIDGE_PORTAL__BIND=127.0.0.1:$((base + 4)) \
  "$bin/cloudbridge-api"
off_url=http://127.0.0.1:$((base + 3))
for n in $(seq 1 150); do
  curl -fsS -o /dev/null "$off_url/ready" 2>/dev/null && break
  [ "$n" = 150 ] && { echo "error: the second API is not ready; see $work/api-off.log" >&2; exit 1; }
  sleep 0.2
done
on_url=$api_url
sleep 2

mkdir -p "$out"
results=$out/runs.tsv
printf 'run\trollup\treq/s\tp50 ms\tp99 ms\n' >"$results"
for round in $(seq 1 "$rounds"); do
  for mode in off on; do
    url=$off_url
    [ "$mode" = on ] && url=$on_url
    dir=$out/$round-$mode
    "$bin/cloudbridge-loadtest" --base-url "$url" --developer-key="$key" --no-baseline \
      --scenarios metadata --concurrency "$concurrency" --duration "$duration" --out "$dir" \
      >/dev/null
    python3 - "$dir/report.json" "$round" "$mode" >>"$results" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))[0]
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{run['throughput']:.0f}\t{run['p50_ms']:.2f}\t{run['p99_ms']:.2f}")
EOF
    tail -n 1 "$results"
  done
done

# What the rollup wrote: the last flush happens at the latest FLUSH_MS after the last run.
sleep $(((${FLUSH_MS:-5000} + 1999) / 1000))
counted=$(psql -qtA -h 127.0.0.1 -U postgres -d "$deployment_db" \
  -c "SELECT coalesce(sum(count), 0) FROM usage_daily WHERE metric = 'requests'")
python3 - "$results" "$counted" <<'EOF' | tee "$out/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {m: [float(r["req/s"]) for r in rows if r["rollup"] == m] for m in ("off", "on")}
off, on = statistics.median(by["off"]), statistics.median(by["on"])
print("rollup off: " + ", ".join(f"{v:.0f}" for v in by["off"]) + f" req/s (median {off:.0f})")
print("rollup on:  " + ", ".join(f"{v:.0f}" for v in by["on"]) + f" req/s (median {on:.0f})")
print(f"on / off (medians): {on / off * 100:.1f}% ({(on - off) / off * 100:+.1f}%)")
print(f"requests in usage_daily: {sys.argv[2]} (the 'on' runs, setup included)")
EOF
echo "resident memory peak: $(deployment_memory VmHWM)" | tee "$out/memory.txt"

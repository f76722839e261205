# shellcheck shell=bash
# scripts/lib/deployment.sh: a throwaway Cloudbridge deployment on this machine for the
# benchmarks and checks: release binaries, its own database and Redis prefix, spare ports,
# everything stopped and dropped (database and Redis keys) when the calling script exits. Source it, then:
#
#   deployment_start NAME BASE_PORT [WORKERS]
#       Builds (or takes the binaries in $BENCH_BIN, to compare two builds: copy one
#       build's target/release/cloudbridge-* there), creates database cb_NAME, starts the API on BASE_PORT, WORKERS worker
#       processes (default 1; metrics on BASE_PORT+11, +12, ...) and the scheduler (metrics
#       on BASE_PORT+1), waits until the API is ready and creates a DeveloperKey. CLOUDBRIDGE_*
#       variables exported before the call reach the processes. Sets:
#         bin            the release binaries' directory
#         work           a temporary directory (logs: $work/<process>.log), removed on exit
#         api_url        http://127.0.0.1:BASE_PORT
#         api_pid, worker_pids (array), scheduler_pid
#         key            the DeveloperKey
#   deployment_spawn LOG CMD...   runs CMD in the background (output to $work/LOG), stopped
#                                 with the deployment; sets spawned_pid
#   deployment_memory FIELD       "api N MB, jobs N MB, ..., scheduler N MB" from
#                                 /proc/<pid>/status: FIELD VmRSS (now) or VmHWM (peak)

deployment_pids=()
deployment_db=""

deployment_stop() {
  local p
  for p in "${deployment_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$deployment_db" ]; then
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $deployment_db" \
      >/dev/null 2>&1 || true
    # Finished-job records and idempotency keys would otherwise stay in the shared Redis.
    redis-cli --scan --pattern "$CLOUDBRIDGE_REDIS__PREFIX:*" |
      xargs -r -n 1000 redis-cli del >/dev/null 2>&1 || true
  fi
  [ -n "${work:-}" ] && rm -rf "$work"
}

deployment_spawn() {
  local log=$1
  shift
  "$@" >"$work/$log" 2>&1 &
  spawned_pid=$!
  deployment_pids+=("$spawned_pid")
}

deployment_start() {
  local name=$1 base=$2 workers=${3:-1} n
  if [ -n "${BENCH_BIN:-}" ]; then
    bin=$BENCH_BIN
  else
    bin=${CARGO_TARGET_DIR:-target}/release
    cargo build --release --bins -q
  fi
  work=$(mktemp -d)
  trap deployment_stop EXIT
  deployment_db=cb_$name
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $deployment_db" 2>/dev/null
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $deployment_db"

  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$deployment_db
  export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
  export CLOUDBRIDGE_REDIS__PREFIX="$name-$$"
  export CLOUDBRIDGE_LOCAL__DATA_ROOT="$work/data"
  export CLOUDBRIDGE_SECRETS__KEYS="k1:$(head -c 32 /dev/urandom | base64 -w0)"
  export CLOUDBRIDGE_LOG__FILTER=${CLOUDBRIDGE_LOG__FILTER:-warn}
  export CLOUDBRIDGE_API__BIND=127.0.0.1:$base
  export CLOUDBRIDGE_PORTAL__BIND=127.0.0.1:$((base + 2))
  export CLOUDBRIDGE_SCHEDULER__METRICS_BIND=127.0.0.1:$((base + 1))
  api_url=http://127.0.0.1:$base

  deployment_spawn api.log "$bin/cloudbridge-api"
  api_pid=$spawned_pid
  worker_pids=()
  for n in $(seq 1 "$workers"); do
    deployment_spawn "jobs$n.log" env CLOUDBRIDGE_JOBS__METRICS_BIND=127.0.0.1:$((base + 10 + n)) \
      "$bin/cloudbridge-jobs"
    worker_pids+=("$spawned_pid")
  done
  deployment_spawn scheduler.log "$bin/cloudbridge-scheduler"
  scheduler_pid=$spawned_pid
  for n in $(seq 1 150); do
    curl -fsS -o /dev/null "$api_url/ready" 2>/dev/null && break
    [ "$n" = 150 ] && { echo "error: the API is not ready; see $work/api.log" >&2; return 1; }
    sleep 0.2
  done
  key=$("$bin/cloudbridge-api" admin create-developer --email "$name@localhost" | tail -n 1)
}

deployment_memory() {
  local field=$1 p
  mb() { awk -v f="$field:" '$1 == f {printf "%d MB", $2 / 1024}' "/proc/$1/status"; }
  local line
  line="api $(mb "$api_pid")"
  for p in "${worker_pids[@]}"; do line+=", jobs $(mb "$p")"; done
  echo "$line, scheduler $(mb "$scheduler_pid")"
}

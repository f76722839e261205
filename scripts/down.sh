#!/usr/bin/env bash
# scripts/down.sh: stops the Cloudbridge processes that scripts/up.sh started, found through
# their pid files in run/: SIGTERM, up to 15 s to finish, then SIGKILL; removes the pid files.
# PostgreSQL and Redis are left running. Safe to run when nothing is up.
set -euo pipefail
cd "$(dirname "$0")/.."

NAMES=(cloudbridge-api cloudbridge-jobs cloudbridge-scheduler)

# alive PID NAME: PID is a live (not zombie) process running binary NAME; guards against pid reuse.
alive() {
  local info
  info=$(ps -o stat=,args= -p "$1" 2>/dev/null) || return 1
  [[ $info != Z* && $info == *"$2"* ]]
}

pids=()
for name in "${NAMES[@]}"; do
  pidfile=run/$name.pid
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" "$name"; then
    echo "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid:$name")
  fi
  rm -f "$pidfile"
done

for ((i = 0; i < 30; i++)); do
  left=()
  for entry in ${pids[@]+"${pids[@]}"}; do
    if alive "${entry%%:*}" "${entry#*:}"; then left+=("$entry"); fi
  done
  pids=(${left[@]+"${left[@]}"})
  [ ${#pids[@]} -eq 0 ] && break
  sleep 0.5
done

for entry in ${pids[@]+"${pids[@]}"}; do
  echo "killing ${entry#*:} (pid ${entry%%:*}): still running after 15 s"
  kill -KILL "${entry%%:*}" 2>/dev/null || true
done
echo "Cloudbridge stopped."

#!/usr/bin/env bash
# scripts/up.sh: brings up the whole Cloudbridge system on this machine in one command
# (fresh Debian 12 with a Rust toolchain): PostgreSQL and Redis (installed and started when
# missing), the database, a build of the binaries, then cloudbridge-api, cloudbridge-jobs and
# cloudbridge-scheduler in the background (logs and pid files in run/, local data in data/).
# Its last line is a new DeveloperKey for admin@localhost. Stop with scripts/down.sh.
#
# Environment (values already set are respected):
#   CLOUDBRIDGE_PROFILE=debug    build and run target/debug (default: release)
#   CLOUDBRIDGE_SKIP_BUILD=1     run the binaries already built
#   CLOUDBRIDGE_TLS=self-signed  HTTPS for a first try: a self-signed certificate for localhost,
#                                127.0.0.1 and this host's name, made once in run/tls/ (key 0600;
#                                delete the folder for a new one); the API serves HTTPS on
#                                CLOUDBRIDGE_API__TLS_BIND (0.0.0.0:443) and its plain port
#                                redirects. For a real certificate set CLOUDBRIDGE_TLS__CERT_PATH
#                                and CLOUDBRIDGE_TLS__KEY_PATH instead (see the README).
#   DATABASE_URL, REDIS_URL, CLOUDBRIDGE_<SECTION>__<KEY>: passed to the processes, e.g.
#   CLOUDBRIDGE_API__BIND=0.0.0.0:8000 (the port waited on is taken from it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

profile=${CLOUDBRIDGE_PROFILE:-release}
skip_build=${CLOUDBRIDGE_SKIP_BUILD:-}
tls=${CLOUDBRIDGE_TLS:-}
# The binaries read every CLOUDBRIDGE_* variable as configuration and reject unknown ones.
unset CLOUDBRIDGE_PROFILE CLOUDBRIDGE_SKIP_BUILD CLOUDBRIDGE_TLS

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cloudbridge}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export CLOUDBRIDGE_LOCAL__DATA_ROOT=${CLOUDBRIDGE_LOCAL__DATA_ROOT:-$PWD/data}
# The key that seals service credentials at rest: generated once, kept in secrets.keys
# (back it up: without it stored credentials cannot be opened).
if [ -z "${CLOUDBRIDGE_SECRETS__KEYS:-}" ]; then
  if [ ! -s secrets.keys ]; then
    (umask 077 && printf 'k1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" > secrets.keys)
    echo "==> generated secrets.keys (keep it safe)"
  fi
  CLOUDBRIDGE_SECRETS__KEYS=$(cat secrets.keys)
  export CLOUDBRIDGE_SECRETS__KEYS
fi
api_bind=${CLOUDBRIDGE_API__BIND:-0.0.0.0:8000}
ready_url="http://127.0.0.1:${api_bind##*:}/ready"
ports=("${api_bind##*:}")

# self_signed DIR: a self-signed certificate (ECDSA P-256, 825 days) and its key in DIR,
# made once.
self_signed() {
  local dir=$1 host
  [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ] && return 0
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  host=$(hostname -f 2>/dev/null || hostname)
  mkdir -p "$dir"
  (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days 825 -subj "/CN=$host" -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    -addext "subjectAltName=DNS:localhost,DNS:$host,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" 2>/dev/null)
  chmod 600 "$dir/key.pem"
  chmod 644 "$dir/cert.pem"
  echo "==> made a self-signed certificate for $host in $dir (clients must trust $dir/cert.pem)"
}
case $tls in
  "") ;;
  self-signed)
    self_signed "$PWD/run/tls"
    export CLOUDBRIDGE_TLS__CERT_PATH=$PWD/run/tls/cert.pem
    export CLOUDBRIDGE_TLS__KEY_PATH=$PWD/run/tls/key.pem
    ;;
  *)
    echo "error: CLOUDBRIDGE_TLS=$tls: the only value is self-signed" >&2
    exit 1
    ;;
esac
if [ -n "${CLOUDBRIDGE_TLS__CERT_PATH:-}" ]; then
  tls_bind=${CLOUDBRIDGE_API__TLS_BIND:-0.0.0.0:443}
  ports+=("${tls_bind##*:}")
  api_url="https://localhost:${tls_bind##*:}"
  api_url=${api_url%:443}
else
  api_url=${ready_url%/ready}
fi

ensure_tools
ensure_widgets
export CLOUDBRIDGE_WIDGETS__BUNDLES_DIR=${CLOUDBRIDGE_WIDGETS__BUNDLES_DIR:-$PWD/widgets/node_modules}

# Local services only when the URLs point at this machine.
case $DATABASE_URL in
  *@127.0.0.1[:/]* | *@localhost[:/]* | *//127.0.0.1[:/]* | *//localhost[:/]*)
    ensure_postgres
    db=${DATABASE_URL##*/}
    ensure_database "${db%%\?*}"
    ;;
esac
case $REDIS_URL in
  *127.0.0.1* | *localhost*) ensure_redis ;;
esac

case $profile in
  release) build=(cargo build --release --bins) ;;
  debug) build=(cargo build --bins) ;;
  *) build=(cargo build --profile "$profile" --bins) ;;
esac
if [ -z "$skip_build" ]; then
  echo "==> ${build[*]}"
  "${build[@]}"
fi
bin=${CARGO_TARGET_DIR:-target}/$profile

bash scripts/down.sh >/dev/null # whatever a previous up.sh left running
mkdir -p run "$CLOUDBRIDGE_LOCAL__DATA_ROOT"

jobs_bind=${CLOUDBRIDGE_JOBS__METRICS_BIND:-0.0.0.0:9101}
scheduler_bind=${CLOUDBRIDGE_SCHEDULER__METRICS_BIND:-0.0.0.0:9102}
# Another process on our ports would answer the readiness checks in our place.
for port in "${ports[@]}" "${jobs_bind##*:}" "${scheduler_bind##*:}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "error: port $port is already in use (see: ss -ltnp 'sport = :$port');" \
      "stop that process or set CLOUDBRIDGE_API__BIND / CLOUDBRIDGE_*__METRICS_BIND" >&2
    exit 1
  fi
done

# start NAME: runs binary NAME in the background, log in run/NAME.log, pid in run/NAME.pid.
start() {
  echo "==> starting $1"
  nohup "$bin/$1" >>"run/$1.log" 2>&1 </dev/null &
  echo $! >"run/$1.pid"
}

# wait_ready NAME URL: waits up to 60 s for URL, failing early when NAME exits.
wait_ready() {
  local pid i
  pid=$(cat "run/$1.pid")
  for ((i = 0; i < 60; i++)); do
    curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: $1 exited; last lines of run/$1.log:" >&2
      tail -n 20 "run/$1.log" >&2
      return 1
    fi
    sleep 1
  done
  echo "error: $2 not ready after 60 s; see run/$1.log" >&2
  return 1
}

# The API applies the database migrations at start-up, so it goes first.
start cloudbridge-api
wait_ready cloudbridge-api "$ready_url"
start cloudbridge-jobs
start cloudbridge-scheduler
wait_ready cloudbridge-jobs "http://127.0.0.1:${jobs_bind##*:}/health"
wait_ready cloudbridge-scheduler "http://127.0.0.1:${scheduler_bind##*:}/health"

key=$("$bin/cloudbridge-api" admin create-developer --email admin@localhost | tail -n 1)
# The portal password of admin@localhost: made once, kept in run/ (0600) for later runs.
if [ ! -s run/portal-password ]; then
  (umask 077 && "$bin/cloudbridge-api" admin reset-password --email admin@localhost --admin \
    | tail -n 1 > run/portal-password)
fi
portal_bind=${CLOUDBRIDGE_PORTAL__BIND:-0.0.0.0:8080}
echo
echo "Cloudbridge is up: API $api_url, data in $CLOUDBRIDGE_LOCAL__DATA_ROOT"
echo "Portal: http://127.0.0.1:${portal_bind##*:}  (admin@localhost, password in run/portal-password)"
echo "Logs: $PWD/run/*.log    Stop: scripts/down.sh"
echo "DeveloperKey: $key"

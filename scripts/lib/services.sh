# shellcheck shell=bash
# scripts/lib/services.sh: makes sure the local services Cloudbridge needs are installed,
# running and reachable on 127.0.0.1 (Debian: installs them with apt-get when missing).
# Source it; it sets no shell options and is safe under `set -euo pipefail`.
#   ensure_postgres        PostgreSQL on 127.0.0.1:5432, user postgres without a password (trust)
#   ensure_redis           Redis on 127.0.0.1:6379, keeping nothing on disk
#   ensure_database NAME   creates database NAME when it does not exist
#   ensure_sshd            OpenSSH's sshd and ssh-keygen installed (the SFTP tests start their own)
# Needs root for installs, pg_ctlcluster and pg_hba.conf; uses sudo when not root.

# as_root CMD...: runs CMD as root, through sudo when we are not root.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "error: root (or sudo) is needed to run: $*" >&2
    return 1
  fi
}

# apt_install PACKAGE...: installs Debian packages without questions.
apt_install() {
  echo "==> installing $* with apt-get" >&2
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# wait_until SECONDS WHAT CMD...: retries CMD every second; fails after SECONDS.
wait_until() {
  local seconds=$1 what=$2
  shift 2
  local i
  for ((i = 0; i < seconds; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "error: $what not ready after ${seconds}s" >&2
  return 1
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
# pg_query ARGS...: psql on 127.0.0.1:5432 as postgres, unaligned, stopping on errors.
pg_query() { psql -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres "$@"; }
# pg_version: the first installed PostgreSQL version (15 on Debian 12), or nothing.
pg_version() {
  local dir
  for dir in /etc/postgresql/*/; do
    [ -d "$dir" ] && basename "$dir" && break
  done
  return 0
}

ensure_postgres() {
  if ! pg_ready; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(pg_version)" ]; then
      apt_install postgresql
    fi
    echo "==> starting PostgreSQL $(pg_version)" >&2
    # Tolerate "already running": the wait below is the real check.
    as_root pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start || true
    wait_until 30 "PostgreSQL on 127.0.0.1:5432" pg_ready
  fi
  if ! pg_query -c 'select 1' >/dev/null 2>&1; then
    # Fresh Debian clusters ask for a password over TCP: trust local TCP connections instead.
    local hba
    hba="/etc/postgresql/$(pg_version)/main/pg_hba.conf"
    echo "==> setting local TCP connections to trust in $hba" >&2
    as_root sed -E -i.orig \
      's#^(host[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+(127\.0\.0\.1/32|::1/128)[[:space:]]+)[^[:space:]]+.*$#\1trust#' \
      "$hba"
    if ! as_root grep -Eq '^host[[:space:]].*127\.0\.0\.1/32' "$hba"; then
      printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' | as_root tee -a "$hba" >/dev/null
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main reload
    wait_until 30 "PostgreSQL login as postgres" pg_query -c 'select 1'
  fi
}

redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
  redis_ping && return 0
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
    redis_ping && return 0 # the package may have started one already
  fi
  echo "==> starting Redis" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_until 30 "Redis on 127.0.0.1:6379" redis_ping
}

ensure_database() {
  local name=$1 exists
  exists=$(pg_query -v name="$name" <<<"select 1 from pg_database where datname = :'name'")
  if [ "$exists" != 1 ]; then
    echo "==> creating database $name" >&2
    createdb -h 127.0.0.1 -p 5432 -U postgres "$name"
  fi
}

# ensure_tools: the build toolchain and the small tools the scripts use.
ensure_tools() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found: Cloudbridge needs a Rust toolchain >= 1.94 (rustup)" >&2
    return 1
  fi
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
}

# ensure_sshd: OpenSSH's server and client tools, for the SFTP tests (each test starts its own
# sshd on a free loopback port with a temporary host key; nothing is started here).
# ensure_widgets: the Kloudless widgets' bundles the API serves, installed from npm into
# widgets/node_modules as widgets/package-lock.json pins them.
ensure_widgets() {
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  if [ ! -f widgets/node_modules/@kloudless/file-picker/dist/picker/picker.js ] \
    || [ ! -f widgets/node_modules/@kloudless/authenticator/build/kloudless-authenticator.js ] \
    || [ widgets/package-lock.json -nt widgets/node_modules/.package-lock.json ]; then
    (cd widgets && npm ci --no-audit --no-fund)
  fi
}

ensure_sshd() {
  if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null 2>&1; then
    apt_install --no-install-recommends openssh-server openssh-client
  fi
}

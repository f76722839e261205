#!/usr/bin/env bash
# loadtest/scripts/transfer-bench.sh: uploads and downloads one large file (default 1 GiB)
# through a running Cloudbridge to `local`, S3 (moto), WebDAV (rclone) and SFTP (OpenSSH sshd),
# beside the same transfer made directly against that server in the same run, and reports
# throughput and the peak resident memory (VmHWM) of the API and worker processes.
#
#   scripts/up.sh                     # prints a DeveloperKey
#   loadtest/scripts/transfer-bench.sh <DeveloperKey> [size, e.g. 1G] [api base URL]
#
# BENCH_SERVICES picks services (default "local s3 webdav sftp"). Needs curl, python3,
# .venv/bin/moto_server (scripts/test.sh installs it), rclone, and for sftp root with
# openssh-server and openssh-client (it starts its own sshd and logs in as the local user
# `cbsftp` of the tests, created when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
dev=${1:?usage: transfer-bench.sh DEVELOPER_KEY [SIZE] [BASE_URL]}
size=${2:-1G}
base=${3:-http://127.0.0.1:8000}
services=${BENCH_SERVICES:-local s3 webdav sftp}
wants() { [[ " $services " == *" $1 "* ]]; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
peak() { awk '/VmHWM/ {print int($2/1024) " MB"}' "/proc/$1/status"; }
rate() { python3 -c "print(f'{$1/$2/1048576:.0f} MiB/s')"; }
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); python3 -c "print($t1-$t0)"; }

head -c "$size" /dev/urandom > "$work/file"
bytes=$(stat -c %s "$work/file")
api_pid=$(pgrep -f 'cloudbridge-api$' | head -1 || pgrep -f cloudbridge-api | head -1)
jobs_pid=$(pgrep -f cloudbridge-jobs | head -1)

moto_port=18601; dav_port=18602; sftp_port=18603
wants s3 && { .venv/bin/moto_server -H 127.0.0.1 -p $moto_port >/dev/null 2>&1 & }
if wants webdav; then
  mkdir -p "$work/dav"
  rclone serve webdav --addr 127.0.0.1:$dav_port --user dav --pass pw "$work/dav" >/dev/null 2>&1 &
fi
if wants sftp; then
  # A throwaway sshd with a fresh host key; the account logs in with a fresh ed25519 key.
  id cbsftp >/dev/null 2>&1 || useradd --no-create-home --shell /bin/sh cbsftp
  mkdir -p "$work/sshd" "$work/sftp" /run/sshd
  chmod 755 "$work" "$work/sshd"
  chown cbsftp "$work/sftp"
  ssh-keygen -q -t ed25519 -N '' -f "$work/sshd/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$work/sshd/client_key"
  cp "$work/sshd/client_key.pub" "$work/sshd/authorized_keys"
  printf '%s\n' "Port $sftp_port" "ListenAddress 127.0.0.1" "HostKey $work/sshd/host_key" \
    "PidFile none" "UsePAM no" "StrictModes no" "AuthorizedKeysFile $work/sshd/authorized_keys" \
    "AllowUsers cbsftp" "Subsystem sftp internal-sftp" >"$work/sshd/config"
  /usr/sbin/sshd -D -e -f "$work/sshd/config" >/dev/null 2>&1 &
  sftp_direct() {
    sftp -q -b - -i "$work/sshd/client_key" -P $sftp_port -o StrictHostKeyChecking=no \
      -o UserKnownHostsFile=/dev/null cbsftp@127.0.0.1 <<<"$1"
  }
fi
sleep 3
wants s3 && curl -fsS -X PUT "http://127.0.0.1:$moto_port/bench" >/dev/null

key=$(curl -fsS -X POST "$base/v1/applications" -H "Authorization: DeveloperKey $dev" -d '{"name":"transfer-bench"}' | json "['api_key']")
import() { curl -fsS -X POST "$base/v1/accounts" -H "Authorization: APIKey $key" -d "$1" | json "['bearer_token']['key']"; }
declare -A token
wants local && token[local]=$(import '{"service":"local","account":"bench"}')
wants s3 && token[s3]=$(import "{\"service\":\"s3_compatible\",\"account\":\"bench\",\"token\":\"AK\",\"token_secret\":\"SK\",\"bucket\":\"bench\",\"endpoint\":\"http://127.0.0.1:$moto_port\"}")
wants webdav && token[webdav]=$(import "{\"service\":\"webdav\",\"account\":\"bench\",\"url\":\"http://127.0.0.1:$dav_port\",\"token\":\"dav\",\"token_secret\":\"pw\"}")
wants sftp && token[sftp]=$(import "$(python3 -c 'import json, sys; print(json.dumps({
  "service": "sftp", "account": "bench", "host": "127.0.0.1", "port": int(sys.argv[1]),
  "username": "cbsftp", "private_key": open(sys.argv[2]).read(), "root": sys.argv[3]}))' \
  $sftp_port "$work/sshd/client_key" "$work/sftp")")

echo "| service | upload via API | upload direct | download via API | download direct |"
echo "|---|---:|---:|---:|---:|"
for svc in $services; do
  auth="Authorization: Bearer ${token[$svc]}"
  up=$(timed curl -fsS -X POST -T "$work/file" "$base/v1/accounts/me/storage/files?overwrite=true" -H "$auth" \
        -H 'X-Kloudless-Metadata: {"name":"big.bin","parent_id":"root"}')
  down=$(timed curl -fsS -o /dev/null "$base/v1/accounts/me/storage/files/YmlnLmJpbg/contents" -H "$auth")
  case $svc in
    local) dup=$(timed cp "$work/file" "$work/direct-copy"); ddown=$(timed cat "$work/direct-copy") ;;
    s3) dup=$(timed curl -fsS -H "x-amz-acl: public-read" -T "$work/file" "http://127.0.0.1:$moto_port/bench/direct.bin")
        ddown=$(timed curl -fsS -o /dev/null "http://127.0.0.1:$moto_port/bench/direct.bin") ;;
    webdav) dup=$(timed curl -fsS -u dav:pw -T "$work/file" "http://127.0.0.1:$dav_port/direct.bin")
        ddown=$(timed curl -fsS -u dav:pw -o /dev/null "http://127.0.0.1:$dav_port/direct.bin") ;;
    sftp) dup=$(timed sftp_direct "put $work/file $work/sftp/direct.bin")
        ddown=$(timed sftp_direct "get $work/sftp/direct.bin /dev/null") ;;
  esac
  echo "| $svc | $(rate "$bytes" "$up") | $(rate "$bytes" "$dup") | $(rate "$bytes" "$down") | $(rate "$bytes" "$ddown") |"
done
echo
echo "file: $bytes bytes; peak resident memory since start: api $(peak "$api_pid"), jobs $(peak "$jobs_pid")"

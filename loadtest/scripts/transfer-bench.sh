#!/usr/bin/env bash
# loadtest/scripts/transfer-bench.sh: uploads and downloads one large file (default 1 GiB)
# through a running Cloudbridge to `local`, S3 (moto) and WebDAV (rclone), beside the same
# transfer made directly against that server in the same run, and reports throughput and the
# peak resident memory (VmHWM) of the API and worker processes.
#
#   scripts/up.sh                     # prints a DeveloperKey
#   loadtest/scripts/transfer-bench.sh <DeveloperKey> [size, e.g. 1G] [api base URL]
#
# Needs curl, python3, .venv/bin/moto_server (scripts/test.sh installs it) and rclone.
set -euo pipefail
cd "$(dirname "$0")/../.."
dev=${1:?usage: transfer-bench.sh DEVELOPER_KEY [SIZE] [BASE_URL]}
size=${2:-1G}
base=${3:-http://127.0.0.1:8000}
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

moto_port=18601; dav_port=18602
.venv/bin/moto_server -H 127.0.0.1 -p $moto_port >/dev/null 2>&1 &
mkdir -p "$work/dav"
rclone serve webdav --addr 127.0.0.1:$dav_port --user dav --pass pw "$work/dav" >/dev/null 2>&1 &
sleep 3
curl -fsS -X PUT "http://127.0.0.1:$moto_port/bench" >/dev/null

key=$(curl -fsS -X POST "$base/v1/applications" -H "Authorization: DeveloperKey $dev" -d '{"name":"transfer-bench"}' | json "['api_key']")
import() { curl -fsS -X POST "$base/v1/accounts" -H "Authorization: APIKey $key" -d "$1" | json "['bearer_token']['key']"; }
declare -A token
token[local]=$(import '{"service":"local","account":"bench"}')
token[s3]=$(import "{\"service\":\"s3_compatible\",\"account\":\"bench\",\"token\":\"AK\",\"token_secret\":\"SK\",\"bucket\":\"bench\",\"endpoint\":\"http://127.0.0.1:$moto_port\"}")
token[webdav]=$(import "{\"service\":\"webdav\",\"account\":\"bench\",\"url\":\"http://127.0.0.1:$dav_port\",\"token\":\"dav\",\"token_secret\":\"pw\"}")

echo "| service | upload via API | upload direct | download via API | download direct |"
echo "|---|---:|---:|---:|---:|"
for svc in local s3 webdav; do
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
  esac
  echo "| $svc | $(rate "$bytes" "$up") | $(rate "$bytes" "$dup") | $(rate "$bytes" "$down") | $(rate "$bytes" "$ddown") |"
done
echo
echo "file: $bytes bytes; peak resident memory since start: api $(peak "$api_pid"), jobs $(peak "$jobs_pid")"

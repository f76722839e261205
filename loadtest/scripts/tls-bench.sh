#!/usr/bin/env bash
# loadtest/scripts/tls-bench.sh: metadata throughput over HTTPS beside plain HTTP, in one run
# against one API process, closed loop with CONCURRENCY keep-alive clients (each client keeps
# its connection, so the handshake is paid once and the run measures record encryption).
# Starts its own deployment (scripts/lib/deployment.sh: release build, API, worker,
# scheduler) with TLS on: a test CA and an ECDSA P-256 leaf made with openssl for this run.
# With TLS configured the plain port only redirects, so the load generator is made a trusted
# proxy (api.trusted_proxies = 127.0.0.1/32) and says `X-Forwarded-Proto: https` there: the
# path a request takes when nginx terminates TLS in front.
#
#   loadtest/scripts/tls-bench.sh
#   CONCURRENCY=256 DURATION=20s loadtest/scripts/tls-bench.sh
#
# SCENARIOS (metadata,metadata-https,metadata,metadata-https: alternated, against drift),
# CONCURRENCY (64), DURATION (10s), OUT (loadtest-report/tls).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/deployment.sh
source scripts/lib/deployment.sh
scenarios=${SCENARIOS:-metadata,metadata-https,metadata,metadata-https}
concurrency=${CONCURRENCY:-64}; duration=${DURATION:-10s}
out=${OUT:-loadtest-report/tls}
base=18790

pki=$(mktemp -d)
trap 'rm -rf "$pki"' EXIT
(
  cd "$pki"
  umask 077
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=Cloudbridge bench CA" \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req "${ec[@]}" -subj "/CN=127.0.0.1" -keyout key.pem -out leaf.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >leaf.ext
  openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile leaf.ext -out cert.pem 2>/dev/null
)

export CLOUDBRIDGE_API__MAX_IN_FLIGHT=$((concurrency * 2 + 1000))
export CLOUDBRIDGE_TLS__CERT_PATH=$pki/cert.pem
export CLOUDBRIDGE_TLS__KEY_PATH=$pki/key.pem
export CLOUDBRIDGE_API__TLS_BIND=127.0.0.1:$((base + 2))
export CLOUDBRIDGE_API__TRUSTED_PROXIES=127.0.0.1/32
# The ping baseline runs on one DeveloperKey: faster than its default per-key rate limit.
export CLOUDBRIDGE_LIMITS__KEY__PER_SEC=0
deployment_start tls_bench "$base"
# Both traps: the deployment's and the PKI folder's.
trap 'deployment_stop; rm -rf "$pki"' EXIT
sleep 2
"$bin/cloudbridge-loadtest" --base-url "$api_url" --developer-key="$key" \
  --https-url "https://127.0.0.1:$((base + 2))" --ca-cert "$pki/ca.pem" \
  --scenarios "$scenarios" --concurrency "$concurrency" --duration "$duration" --out "$out"
echo "resident memory peak: $(deployment_memory VmHWM)" | tee "$out/memory.txt"

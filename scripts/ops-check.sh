#!/usr/bin/env bash
# scripts/ops-check.sh: the operator's view, checked with the real tools on this machine.
#   1. Static checks: `promtool check config` and `check rules`, `amtool check-config`,
#      `docker-compose config` (installs prometheus, prometheus-alertmanager and
#      docker-compose from Debian when missing).
#   2. A live run: one API, two workers and the scheduler (release build, own database and
#      Redis prefix, spare ports) under a little load, scraped by a real Prometheus that
#      evaluates ops/prometheus/alerts.yml and sends to a real Alertmanager running
#      ops/alertmanager/alertmanager.yml. It fails unless
#        - every target is up and every alert rule evaluates without error;
#        - every expression of the Grafana dashboards runs without error (most return data);
#        - nothing is pending or firing while the system is healthy;
#        - stopping one worker makes CloudbridgeProcessDown fire and reach Alertmanager.
#   The compose file discovers replicas through Docker's DNS; here the same scrape jobs
#   have static targets. Takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v jq >/dev/null 2>&1 || missing+=(jq)
[ ${#missing[@]} -gt 0 ] && apt_install "${missing[@]}"
ensure_tools
ensure_postgres
ensure_redis

echo "==> static checks"
promtool check config ops/prometheus/prometheus.yml
promtool check rules ops/prometheus/alerts.yml
amtool check-config ops/alertmanager/alertmanager.yml
docker-compose config -q && echo "docker-compose.yml: valid"

# shellcheck source=scripts/lib/deployment.sh
source scripts/lib/deployment.sh
deployment_start ops_check 18800 2
second_worker=${worker_pids[1]}
prom=127.0.0.1:18890
am=127.0.0.1:18893

# The repository's scrape jobs with static targets, evaluated every 2 s.
jobs_in_repo=$(grep -o 'job_name: [a-z-]*' ops/prometheus/prometheus.yml | sort)
cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 2s}
rule_files: [$PWD/ops/prometheus/alerts.yml]
alerting:
  alertmanagers: [{static_configs: [{targets: ["$am"]}]}]
scrape_configs:
  - {job_name: cloudbridge-api, static_configs: [{targets: ["$CLOUDBRIDGE_API__BIND"]}]}
  - job_name: cloudbridge-jobs
    static_configs: [{targets: ["127.0.0.1:18811", "127.0.0.1:18812"]}]
  - {job_name: cloudbridge-scheduler, static_configs: [{targets: ["$CLOUDBRIDGE_SCHEDULER__METRICS_BIND"]}]}
  - {job_name: prometheus, static_configs: [{targets: ["$prom"]}]}
EOF
if [ "$(grep -o 'job_name: [a-z-]*' "$work/prometheus.yml" | sort)" != "$jobs_in_repo" ]; then
  echo "error: the scrape jobs here differ from ops/prometheus/prometheus.yml" >&2
  exit 1
fi
deployment_spawn alertmanager.log prometheus-alertmanager \
  --config.file=ops/alertmanager/alertmanager.yml --storage.path="$work/am" \
  --web.listen-address="$am" --cluster.listen-address=
deployment_spawn prometheus.log prometheus --config.file="$work/prometheus.yml" \
  --storage.tsdb.path="$work/prom" --web.listen-address="$prom"
wait_until 30 "Prometheus" curl -fsS -o /dev/null "http://$prom/-/ready"
wait_until 30 "Alertmanager" curl -fsS -o /dev/null "http://$am/-/ready"

echo "==> load: metadata, list, upload, download for 40 s"
"$bin/cloudbridge-loadtest" --base-url "$api_url" --developer-key="$key" \
  --scenarios mixed --rate 200 --duration 40s --no-baseline --out "$work/load" >/dev/null 2>&1

query() { curl -fsS -G "http://$prom/api/v1/$1" "${@:2}"; }
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

echo "==> targets"
query targets | jq -r '.data.activeTargets[] | "\(.labels.job) \(.labels.instance) \(.health) \(.lastError)"'
down=$(query targets | jq '[.data.activeTargets[] | select(.health != "up")] | length')
[ "$down" = 0 ] || fail "$down targets are not up"

echo "==> alert rules"
rules=$(query rules)
echo "$rules" | jq -r '.data.groups[].rules[] | "\(.name): \(.health) \(.state)"'
bad=$(echo "$rules" | jq -r '.data.groups[].rules[] | select(.health != "ok") | "\(.name): \(.lastError)"')
[ -z "$bad" ] || fail "rules not evaluating: $bad"
active=$(echo "$rules" | jq -r '.data.groups[].rules[] | select(.state != "inactive") | .name')
[ -z "$active" ] || fail "alerts pending or firing on a healthy system: $active"

echo "==> dashboard expressions"
with_data=0 total=0
while IFS= read -r expr; do
  total=$((total + 1))
  answer=$(query query --data-urlencode "query=${expr//\$__rate_interval/1m}" 2>&1) || {
    fail "dashboard expression refused: $expr: $answer"
    continue
  }
  [ "$(echo "$answer" | jq '.data.result | length')" -gt 0 ] && with_data=$((with_data + 1))
done < <(jq -r '.. | objects | select(has("expr")) | .expr' ops/grafana/dashboards/*.json)
echo "$total expressions run; $with_data returned data (the rest count events that did not happen here)"

echo "==> one worker stops: CloudbridgeProcessDown must reach Alertmanager"
kill "$second_worker"
fired=""
for _ in $(seq 1 150); do
  fired=$(curl -fsS "http://$am/api/v2/alerts?filter=alertname%3D%22CloudbridgeProcessDown%22" |
    jq -r '.[] | "\(.labels.alertname) \(.labels.instance) \(.status.state) since \(.startsAt)"')
  [ -n "$fired" ] && break
  sleep 1
done
if [ -n "$fired" ]; then echo "Alertmanager has: $fired"; else fail "no alert reached Alertmanager"; fi

if [ "$failed" = 0 ]; then echo "ops check: passed"; else echo "ops check: FAILED" >&2; exit 1; fi

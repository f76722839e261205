#!/usr/bin/env bash
# loadtest/scripts/paging-bench.sh: what reading every page of a large folder costs. The
# fake upstream (cloudbridge-fake-upstream) lists LISTED objects in its S3 bucket and in a
# Box root folder; the load generator walks the folder 1,000 entries a page, following
# `next_page` tokens (`walk` on S3, `walk_box` on Box) and asking for the pages by number
# (`walk_numbered`, S3), beside the no-op queue round trip (`ping`) in the same run. The
# report says, per walk, how many listing calls the upstream answered. Starts its own API,
# scheduler and one worker (release build, scripts/lib/deployment.sh) and stops them after.
#
#   loadtest/scripts/paging-bench.sh                      # 10,000 entries, 4 clients, 10 s
#   LISTED=50000 CONCURRENCY=1 loadtest/scripts/paging-bench.sh
#
# LISTED (10000), CONCURRENCY (4), DURATION (10s), OUT (loadtest-report/paging-<LISTED>).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/deployment.sh
source scripts/lib/deployment.sh
listed=${LISTED:-10000}; concurrency=${CONCURRENCY:-4}; duration=${DURATION:-10s}
out=${OUT:-loadtest-report/paging-$listed}

# The Box accounts have their API on the fake upstream.
export CLOUDBRIDGE_PROVIDERS__BOX__API_URL=http://127.0.0.1:18799
export CLOUDBRIDGE_PROVIDERS__BOX__CONTENT_URL=http://127.0.0.1:18799
# The accounts' endpoint is the fake upstream on this machine: the address policy lets it.
export CLOUDBRIDGE_NETWORK__ACCOUNT_ALLOW=127.0.0.1/32
deployment_start paging_bench 18800 1
deployment_spawn upstream.log "$bin/cloudbridge-fake-upstream" --bind 127.0.0.1:18799 \
  --listed "$listed"
sleep 2

"$bin/cloudbridge-loadtest" --base-url "$api_url" --developer-key="$key" \
  --upstream http://127.0.0.1:18799 --walk-entries "$listed" --accounts 4 \
  --scenarios walk,walk-numbered,walk-box --concurrency "$concurrency" \
  --duration "$duration" --out "$out"
echo "$listed entries; report in $out"
echo "resident memory peak: $(deployment_memory VmHWM)" | tee "$out/memory.txt"

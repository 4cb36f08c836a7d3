#!/usr/bin/env bash
# Repair throughput: a store of two gateways keeping two copies (`gateway serve --gateways 2
# --blob-copies 2`) gets 1 GiB of 1 MiB objects; the process is stopped, gateway 1's volume
# replaced by an empty one, and the store started again: gateway 1 refills its volume from
# gateway 0's copies and logs the bytes, the time and the rate. The disk's own rate (dd with
# fdatasync, 1 GiB, same filesystem) is printed beside it.
#
#   cargo build --release -p stowage-gateway -p stowage-e2e
#   e2e/bench/repair.sh [target/release]
set -euo pipefail
bin=${1:-target/release}
mib=${REPAIR_MIB:-1024}
dir=$(mktemp -d /tmp/stowage-repair.XXXXXX)
log=$dir/gateway.log
port=${PORT:-9300}
cleanup() { [[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

serve() {
  "$bin/gateway" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" --gateways 2 \
    --blob-copies 2 --heartbeat-interval 1 >>"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$((port + 1))/_stowage/health" >/dev/null && return
    sleep 0.1
  done
  echo "the store did not start: $(tail -5 "$log")" >&2
  exit 1
}

serve
eval "$(python3 -c "import json; c=json.load(open('$dir/data/root-credentials.json')); print(f\"export AWS_ACCESS_KEY_ID={c['accessKeyId']} AWS_SECRET_ACCESS_KEY={c['secretAccessKey']}\")")"
"$bin/s3bench" --endpoint "http://127.0.0.1:$port" --scenario large --large-count "$mib" \
  --large-size 1 >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -rf "$dir/data/gateway-1"
sleep 5 # gateway 1's last heartbeat goes stale
serve
for _ in $(seq 600); do
  grep -q "replaced volume repaired" "$log" && break
  sleep 0.5
done
echo "repair: $(grep "replaced volume repaired" "$log" | sed 's/\x1b\[[0-9;]*m//g' | sed 's/.*replaced volume repaired *//')"
dd if=/dev/zero of="$dir/dd" bs=1M count=1024 conv=fdatasync 2>&1 | tail -1 | sed 's/^/disk (dd, fdatasync): /'

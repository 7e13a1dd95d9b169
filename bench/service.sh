#!/usr/bin/env bash
# Release build figures for issue 17: binary sizes (as built, stripped, the .deb) and the time
# from starting `tokendesk serve` to its first 200 on /healthz, on a fresh data folder (first
# start creates the vault) and on an existing vault. Median of RUNS (default 10).
#
#   bench/service.sh            # after scripts/package (uses target/release and target/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-10}
bin=target/release/tokendesk
[ -x "$bin" ] || { echo "bench/service.sh: run scripts/package first" >&2; exit 3; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

stripped="$work/tokendesk.stripped"
strip -o "$stripped" "$bin"
echo "binary as built (release: thin LTO, codegen-units 4): $(stat -c %s "$bin") bytes"
echo "binary stripped (as packaged): $(stat -c %s "$stripped") bytes"
deb=$(ls target/debian/tokendesk_*.deb 2>/dev/null | head -n 1 || true)
[ -n "$deb" ] && echo "package $(basename "$deb"): $(stat -c %s "$deb") bytes"

# ms from exec to the first 200 on /healthz
start_ms() { # start_ms DATA_DIR
  local port=$((20000 + RANDOM % 20000)) t0 pid ms
  t0=$(date +%s%N)
  "$stripped" --data "$1" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do sleep 0.002; done
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$ms"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

fresh=$(for i in $(seq "$runs"); do start_ms "$work/fresh-$i"; done | median)
"$stripped" --data "$work/existing" init >/dev/null
existing=$(for _ in $(seq "$runs"); do start_ms "$work/existing"; done | median)
echo "start to first /healthz 200, fresh data folder (creates the vault), median of $runs: $fresh ms"
echo "start to first /healthz 200, existing vault, median of $runs: $existing ms"

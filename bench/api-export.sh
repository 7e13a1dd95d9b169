#!/usr/bin/env bash
# The API's export of 100,000 records (issue 18): for each `tokendesk` binary given, twice, a
# `serve` on a copy of one SQLite vault, one `POST /api/v1/export` (Entra CSV) with curl, and
# the server's peak RSS (VmHWM) before and after it, with the time and the load average.
# The first binary creates the vault (import, an admin, an API key).
#
#   bench/api-export.sh OLD_BINARY NEW_BINARY
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench/api-export.sh BINARY..." >&2; exit 2; }
W=$(mktemp -d /tmp/tokendesk-api-export.XXXXXX)
trap 'rm -rf "$W"' EXIT
python3 - 100000 $W/rows.csv <<'PY'
import base64, os, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("username,secret\n")
    for i in range(n):
        f.write(f"user{i}@contoso.com,{base64.b32encode(os.urandom(20)).decode()}\n")
PY
B0=$1
export TOKENDESK_ACTOR=bench
$B0 --data $W/d init >/dev/null
$B0 --data $W/d import $W/rows.csv --format spreadsheet >/dev/null
$B0 --data $W/d staff add admin --role admin >/dev/null
KEY=$($B0 --data $W/d apikey create --name b --role admin | tail -n 1)
for B in "$@"; do
  for run in 1 2; do
    cp -r $W/d $W/run
    $B --data $W/run serve --listen 127.0.0.1:18999 --log warn >$W/serve.log 2>&1 &
    pid=$!
    for _ in $(seq 200); do curl -fsS http://127.0.0.1:18999/readyz >/dev/null 2>&1 && break; sleep 0.05; done
    before=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
    t0=$(date +%s%N)
    code=$(curl -s -o $W/out.csv -w '%{http_code}' -X POST -H "Authorization: Bearer $KEY" \
      -H 'content-type: application/json' -d '{"format":"entra"}' http://127.0.0.1:18999/api/v1/export)
    t1=$(date +%s%N)
    after=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
    echo "$B run $run: HTTP $code, $(( $(wc -l <$W/out.csv) - 1 )) records, $(( (t1 - t0) / 1000000 )) ms, serve peak RSS $((before / 1024)) MB before, $((after / 1024)) MB after; load $(cut -d' ' -f1 /proc/loadavg)"
    kill $pid; wait $pid 2>/dev/null || true
    rm -rf $W/run
  done
done

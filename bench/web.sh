#!/usr/bin/env bash
# Web benchmark (issue 5): authenticated reveals over HTTP on loopback against a release build of
# `tokendesk serve`, on SQLite and on PostgreSQL, driven by wrk (Debian package, installed here;
# not part of scripts/test). Side by side on the same server, same connections and duration:
#   healthz   GET /healthz                       no auth, no database: the HTTP stack's ceiling
#   get       GET /api/v1/records/{id}           bearer key + one read: the cost without a write
#   reveal    POST /api/v1/records/{id}/reveal   bearer key, reads, quota count, audited write
# plus resident memory (VmRSS from /proc/PID/status) idle after start and after the runs.
#
#   bench/web.sh                                  # both backends, 20 s per run, 16 connections
#   DURATION=10s CONNECTIONS=32 bench/web.sh
#   BACKENDS=sqlite bench/web.sh
#   BIN=/path/to/tokendesk bench/web.sh           # use that binary instead of building release
#   TOKENDESK_BENCH_PG_URL=postgres://postgres@127.0.0.1:55433/postgres bench/web.sh
#
# Without TOKENDESK_BENCH_PG_URL a private PostgreSQL cluster (server defaults, fsync on) is
# started on a free port from 55436 and stopped on exit. RECORDS (default 500) users are imported
# and the reveals cycle through them, as a helpdesk reveals for many callers; the daily quota is
# raised to 100,000,000 (TOKENDESK_REVEAL_QUOTA) so the benchmark is never refused.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=${DURATION:-20s}
connections=${CONNECTIONS:-16}
threads=${THREADS:-2}
records=${RECORDS:-500}
backends=${BACKENDS:-"sqlite postgres"}
work=$(mktemp -d /tmp/tokendesk-webbench.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local port=$1
  while ss -Htln "sport = :$port" | grep -q .; do port=$((port + 1)); done
  echo "$port"
}

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench/web.sh: wrk is missing; install it with apt-get install wrk (or run as root)" >&2
    exit 3
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

target=${CARGO_TARGET_DIR:-$root/target}
if [ -n "${BIN:-}" ]; then
  bin=$BIN   # a tokendesk binary built elsewhere; the results header names it
else
  cargo build --release --bin tokendesk >/dev/null
  bin="$target/release/tokendesk"
fi

pg_url=${TOKENDESK_BENCH_PG_URL:-}
pg_note="server given in TOKENDESK_BENCH_PG_URL"
[[ " $backends " == *" postgres "* ]] || pg_note="not run"
if [[ " $backends " == *" postgres "* ]] && [ -z "$pg_url" ]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  pg_port=$(free_port 55436)
  mkdir -p "$work/pg" && chown postgres "$work" "$work/pg" 2>/dev/null || true
  as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
  as_pg "$pg_bin/initdb -D $work/pg/data -A trust -U postgres >/dev/null"
  as_pg "$pg_bin/pg_ctl -D $work/pg/data -l $work/pg/log -w -o '-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1' start >/dev/null"
  pids+=("$(head -n 1 "$work/pg/data/postmaster.pid")")
  pg_url="postgres://postgres@127.0.0.1:$pg_port/postgres"
  pg_note="private cluster, PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'), server defaults (fsync on, synchronous_commit on)"
fi

rss_kb() { # kB of VmRSS; refuses a PID that is not the tokendesk server
  [ "$(readlink "/proc/$1/exe")" = "$(readlink -f "$bin")" ] || { echo "PID $1 is not $bin" >&2; exit 1; }
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# wrk_run MODE URL -> prints the RESULT line of bench/web.lua
wrk_run() {
  BENCH_MODE=$1 wrk -t"$threads" -c"$connections" -d"$duration" -s bench/web.lua "$2" |
    grep '^RESULT' || { echo "wrk failed" >&2; return 1; }
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

python3 - "$records" "$work/rows.csv" <<'PY'
import base64, os, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("username,secret\n")
    for i in range(n):
        f.write(f"user{i}@contoso.com,{base64.b32encode(os.urandom(20)).decode()}\n")
PY

results="$work/results.md"
{
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg);"
  echo "Binary: \`$bin\` ($(stat -c %s "$bin") bytes, built $(date -u -r "$bin" +%Y-%m-%dT%H:%MZ))."
  echo "wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}') -t$threads -c$connections -d$duration, $records records, SQLite synchronous=FULL; PostgreSQL: $pg_note."
  echo
  echo "| backend | request | requests/s | p50 | p90 | p99 | max | non-2xx |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
} >"$results"
rss_lines=()

for backend in $backends; do
  data="$work/data-$backend"
  env_db=()
  if [ "$backend" = postgres ]; then
    db="td_webbench"
    psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $db" >/dev/null
    psql -q "$pg_url" -c "CREATE DATABASE $db" >/dev/null
    env_db=(TOKENDESK_DATABASE_URL="${pg_url%/*}/$db")
  fi
  run() { env "${env_db[@]}" TOKENDESK_ACTOR=bench TOKENDESK_REVEAL_QUOTA=100000000 "$bin" --data "$data" "$@"; }
  run init >/dev/null
  run import "$work/rows.csv" --format spreadsheet >/dev/null
  run staff add admin --role admin >/dev/null          # set up: no first-admin link needed
  token=$(run apikey create --name bench --role helpdesk | tail -n 1)
  run list --json | python3 -c 'import json, sys; [print(r["id"]) for r in json.load(sys.stdin)]' >"$work/ids"
  [ "$(wc -l <"$work/ids")" -eq "$records" ] || { echo "expected $records record ids" >&2; exit 1; }

  port=$(free_port 18080)
  url="http://127.0.0.1:$port"
  # Started directly (not through the `run` function) so that $! is the server's own PID.
  env "${env_db[@]}" TOKENDESK_REVEAL_QUOTA=100000000 "$bin" --data "$data" serve \
    --listen "127.0.0.1:$port" --log warn >"$work/serve-$backend.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do curl -fsS "$url/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "$url/readyz" >/dev/null || { cat "$work/serve-$backend.log" >&2; exit 1; }
  sleep 1
  rss_idle=$(rss_kb "$pid")

  # One checked reveal first: the request works and returns codes.
  id1=$(head -n 1 "$work/ids")
  curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"verification":"call-back","outcome":"passed","ticket":"BENCH","purpose":"read-out"}' \
    "$url/api/v1/records/$id1/reveal" | grep -q '"codes"' || { echo "reveal failed" >&2; exit 1; }

  for mode in healthz get reveal; do
    line=$(BENCH_TOKEN="$token" BENCH_IDS="$work/ids" wrk_run "$mode" "$url")
    echo "$backend $mode: $line" >&2
    case $mode in
      healthz) what='`GET /healthz` (peer: HTTP ceiling)' ;;
      get) what='`GET /api/v1/records/{id}` (peer: auth + read)' ;;
      reveal) what='**`POST …/reveal`**' ;;
    esac
    printf '| %s | %s | %s | %s ms | %s ms | %s ms | %s ms | %s |\n' "$backend" "$what" \
      "$(field rps "$line")" "$(ms "$(field p50_us "$line")")" "$(ms "$(field p90_us "$line")")" \
      "$(ms "$(field p99_us "$line")")" "$(ms "$(field max_us "$line")")" "$(field non2xx "$line")" >>"$results"
  done
  rss_after=$(rss_kb "$pid")
  reveals=$(run audit verify 2>&1 | tail -n 1 || true)
  rss_lines+=("| $backend | $((rss_idle / 1024)) MB ($rss_idle kB) | $((rss_after / 1024)) MB ($rss_after kB) | $reveals |")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done

{
  echo
  echo "| backend | RSS idle after start | RSS after the runs | \`tokendesk audit verify\` afterwards |"
  echo "|---|---:|---:|---|"
  printf '%s\n' "${rss_lines[@]}"
} >>"$results"
cat "$results"

#!/usr/bin/env bash
# Vault benchmark: spreadsheet import (encryption + audit chain, one transaction) of 10,000 and
# 100,000 rows on SQLite and PostgreSQL, then `list`, `show`, `audit verify`, `backup`, a
# `restore` of that backup into an empty vault with the same master key, and an Entra `export`
# over the imported records (time and peak RSS).
# Results go to bench/RESULTS-vault.md (appended as a dated section).
#
#   bench/vault.sh                      # 10000 and 100000 rows, both backends
#   BIN=/path/to/tokendesk bench/vault.sh   # that binary instead of a release build
#   ROWS="10000" bench/vault.sh          # fewer sizes
#   TOKENDESK_BENCH_PG_URL=postgres://postgres@127.0.0.1:55433/postgres bench/vault.sh
#
# Without TOKENDESK_BENCH_PG_URL a private PostgreSQL cluster is started on 127.0.0.1:55434
# (fsync on, the server defaults) and stopped on exit, as scripts/test does.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rows_list=${ROWS:-"10000 100000"}
work=$(mktemp -d /tmp/tokendesk-bench.XXXXXX)
pg_pid=""
cleanup() {
  if [ -n "$pg_pid" ]; then kill "$pg_pid" 2>/dev/null || true; sleep 1; fi
  rm -rf "$work"
}
trap cleanup EXIT

target=${CARGO_TARGET_DIR:-$root/target}
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  cargo build --release -p tokendesk-cli --bin tokendesk >/dev/null
  bin="$target/release/tokendesk"
fi

pg_url=${TOKENDESK_BENCH_PG_URL:-}
pg_note="server given in TOKENDESK_BENCH_PG_URL"
if [ -z "$pg_url" ]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  mkdir -p "$work/pg" && chown postgres "$work" "$work/pg" 2>/dev/null || true
  as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
  as_pg "$pg_bin/initdb -D $work/pg/data -A trust -U postgres >/dev/null"
  as_pg "$pg_bin/pg_ctl -D $work/pg/data -l $work/pg/log -w -o '-p 55434 -k $work/pg -c listen_addresses=127.0.0.1' start >/dev/null"
  pg_pid=$(head -n 1 "$work/pg/data/postmaster.pid")
  pg_url="postgres://postgres@127.0.0.1:55434/postgres"
  pg_note="private cluster, default settings (fsync on)"
fi

ms() { echo $(( ($2 - $1) / 1000000 )); }
now() { date +%s%N; }

gen_csv() { # rows file
  python3 - "$1" "$2" <<'PY'
import base64, os, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("username,secret\n")
    for i in range(n):
        f.write(f"user{i}@contoso.com,{base64.b32encode(os.urandom(20)).decode()}\n")
PY
}

results="$work/results.md"
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(uname -r)"
  echo
  echo "PostgreSQL: $pg_note. Times are wall-clock for the whole \`tokendesk\` process (start-up,"
  echo "key file, connection, work); \`show\` is the median of 21 runs."
  echo
  echo "| backend | rows | import | import peak RSS | rows/s | list (all) | show (one user, median) | audit verify | backup | backup peak RSS | restore | restore peak RSS | export (entra) | export peak RSS |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$results"

for backend in sqlite postgres; do
  for rows in $rows_list; do
    data="$work/data-$backend-$rows"
    csv="$work/rows-$rows.csv"
    [ -f "$csv" ] || gen_csv "$rows" "$csv"
    env_db=()
    if [ "$backend" = postgres ]; then
      db="td_bench_$rows"
      base=${pg_url%/*}
      PGOPTIONS="-c client_min_messages=warning" psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $db" >/dev/null
      psql -q "$pg_url" -c "CREATE DATABASE $db" >/dev/null
      env_db=(TOKENDESK_DATABASE_URL="$base/$db")
    fi
    run() { env "${env_db[@]}" TOKENDESK_ACTOR=bench "$bin" --data "$data" "$@"; }
    # Peak resident memory of the whole process, from GNU time (Debian `time`).
    run_timed() { /usr/bin/time -f %M -o "$work/rss" env "${env_db[@]}" TOKENDESK_ACTOR=bench "$bin" --data "$data" "$@"; }
    run init >/dev/null
    t0=$(now); run_timed import "$csv" --format spreadsheet >/dev/null; t1=$(now)
    import_ms=$(ms "$t0" "$t1")
    rss_mb=$(( $(cat "$work/rss") / 1024 ))
    t0=$(now); run list >/dev/null; t1=$(now)
    list_ms=$(ms "$t0" "$t1")
    shows=()
    for i in $(seq 21); do
      t0=$(now); run show "user$(( (i * 7919) % rows ))@contoso.com" >/dev/null; t1=$(now)
      shows+=("$(( (t1 - t0) / 100000 ))")
    done
    median=$(printf '%s\n' "${shows[@]}" | sort -n | sed -n 11p)
    t0=$(now); run audit verify >/dev/null; t1=$(now)
    verify_ms=$(ms "$t0" "$t1")
    t0=$(now); run_timed backup "$work/backup-$backend-$rows" >/dev/null; t1=$(now)
    backup_ms=$(ms "$t0" "$t1"); backup_mb=$(( $(cat "$work/rss") / 1024 ))
    # Restore into an empty vault (same master key; on PostgreSQL an empty database).
    restored="$work/restored-$backend-$rows"
    mkdir -m 700 "$restored" && cp -p "$data/master.key" "$restored/"
    env_restore=()
    if [ "$backend" = postgres ]; then
      PGOPTIONS="-c client_min_messages=warning" psql -q "$pg_url" -c "DROP DATABASE IF EXISTS ${db}_restored" >/dev/null
      psql -q "$pg_url" -c "CREATE DATABASE ${db}_restored" >/dev/null
      env_restore=(TOKENDESK_DATABASE_URL="$base/${db}_restored")
    fi
    t0=$(now)
    /usr/bin/time -f %M -o "$work/rss" env "${env_restore[@]}" TOKENDESK_ACTOR=bench "$bin" --data "$restored" restore "$work/backup-$backend-$rows" >/dev/null
    t1=$(now)
    restore_ms=$(ms "$t0" "$t1"); restore_mb=$(( $(cat "$work/rss") / 1024 ))
    rm -rf "$restored" "$work/backup-$backend-$rows"
    t0=$(now); run_timed export --format entra --out "$work/export-$backend-$rows.csv" >/dev/null; t1=$(now)
    export_ms=$(ms "$t0" "$t1"); export_mb=$(( $(cat "$work/rss") / 1024 ))
    rm -f "$work/export-$backend-$rows.csv"
    rate=$(( rows * 1000 / (import_ms > 0 ? import_ms : 1) ))
    printf '| %s | %d | %d ms | %d MB | %d | %d ms | %d.%d ms | %d ms | %d ms | %d MB | %d ms | %d MB | %d ms | %d MB |\n' "$backend" "$rows" "$import_ms" "$rss_mb" "$rate" \
      "$list_ms" "$(( median / 10 ))" "$(( median % 10 ))" "$verify_ms" "$backup_ms" "$backup_mb" "$restore_ms" "$restore_mb" "$export_ms" "$export_mb" >>"$results"
    echo "$backend $rows: import ${import_ms} ms, list ${list_ms} ms, show median $(( median / 10 )).$(( median % 10 )) ms, verify ${verify_ms} ms" >&2
  done
done

# The floor: the plain sqlite3 program loading the same CSV into a bare table (no encryption,
# no audit, no checks), side by side.
for rows in $rows_list; do
  csv="$work/rows-$rows.csv"
  rm -f "$work/floor.db"
  t0=$(now)
  sqlite3 "$work/floor.db" "CREATE TABLE t (username TEXT, secret TEXT);" ".import --csv --skip 1 $csv t"
  t1=$(now)
  printf '| peer: `sqlite3 .import` into a bare table | %d | %d ms | | | | | | | | | | | |\n' "$rows" "$(ms "$t0" "$t1")" >>"$results"
done

[ -f bench/RESULTS-vault.md ] || printf '# Vault benchmark results\n\nProduced by `bench/vault.sh`; goals from issue 3: 10,000 rows in under 2 s on SQLite, `show` under 5 ms.\n' >bench/RESULTS-vault.md
cat "$results" >>bench/RESULTS-vault.md
cat "$results"

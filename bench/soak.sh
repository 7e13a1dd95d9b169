#!/usr/bin/env bash
# Soak with faults (issue 18). A benchmark, not part of scripts/test.
#
# postgres (default): two `tokendesk serve` instances on one private PostgreSQL cluster (fsync
# on), a mixed load over both (bench/soak_load.py: reveals ~70 %, record reads ~17 %, sign-ins
# ~3 % (a staff member's password through the sign-in page), creations moved to burned and
# shipped ~10 %) for DURATION seconds; at 1/3 PostgreSQL restarts
# (`pg_ctl restart -m fast`), at 2/3 instance B is killed with SIGKILL and started again 5 s later.
# sqlite: one instance; at 1/3 it is restarted (SIGTERM, start), at 2/3 killed with SIGKILL and
# started again 5 s later.
#
# Afterwards: every reveal answered 2xx has its audit entry (by its unique ticket), `tokendesk
# audit verify`, and no record in a state its audit history does not explain. Per-phase figures
# and a PNG of p99 and throughput per second (docs/soak-BACKEND.png) are appended, dated, to
# bench/RESULTS-soak.md.
#
#   bench/soak.sh                          # postgres, 600 s
#   BACKEND=sqlite DURATION=600 bench/soak.sh
#   DURATION=60 THREADS=8 BIN=target/release/tokendesk bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
backend=${BACKEND:-postgres}
duration=${DURATION:-600}
threads=${THREADS:-8}
records=${RECORDS:-300}
work=$(mktemp -d /tmp/tokendesk-soak.XXXXXX)
pids=()
pg_pid=
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$pg_pid" ]; then as_pg "$pg_bin/pg_ctl -D $work/pg/data -m fast stop" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in python3-matplotlib sqlite3 postgresql curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  [ "$(id -u)" -eq 0 ] || { echo "bench/soak.sh: install $p (apt-get) or run as root" >&2; exit 3; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done

target=${CARGO_TARGET_DIR:-$root/target}
bin=${BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -p tokendesk-cli --bin tokendesk >/dev/null
  bin="$target/release/tokendesk"
fi

free_port() {
  local port=$1
  while ss -Htln "sport = :$port" | grep -q .; do port=$((port + 1)); done
  echo "$port"
}
as_pg() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

env_db=()
if [ "$backend" = postgres ]; then
  pg_port=$(free_port 55460)
  mkdir -p "$work/pg" && chown postgres "$work" "$work/pg" 2>/dev/null || true
  chmod a+x "$work"
  as_pg "$pg_bin/initdb -D $work/pg/data -A trust -U postgres >/dev/null"
  as_pg "$pg_bin/pg_ctl -D $work/pg/data -l $work/pg/log -w -o '-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1' start >/dev/null"
  pg_pid=$(head -n 1 "$work/pg/data/postmaster.pid")
  db_url="postgres://postgres@127.0.0.1:$pg_port/postgres"
  env_db=(TOKENDESK_DATABASE_URL="$db_url")
fi
data="$work/data"
run() { env "${env_db[@]}" TOKENDESK_ACTOR=soak TOKENDESK_REVEAL_QUOTA=100000000 "$bin" --data "$data" "$@"; }
run init >/dev/null
python3 - "$records" "$work/rows.csv" <<'PY'
import base64, os, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("username,secret\n")
    for i in range(n):
        f.write(f"user{i}@contoso.com,{base64.b32encode(os.urandom(20)).decode()}\n")
PY
run import "$work/rows.csv" --format spreadsheet >/dev/null
run staff add admin --role admin >/dev/null
# Staff for the sign-ins: "name one-time-password" lines (the password is the output's last line).
for n in 1 2 3 4; do
  printf 'desk%s %s\n' "$n" "$(run staff add "desk$n" --role helpdesk | tail -n 1)"
done >"$work/staff"
token=$(run apikey create --name soak --role admin | tail -n 1)
run list --json | python3 -c 'import json, sys; [print(r["id"]) for r in json.load(sys.stdin)]' >"$work/ids"

# start_instance NAME PORT: starts `serve`, records its PID in $work/NAME.pid, waits for /readyz.
start_instance() {
  # All load comes from 127.0.0.1, so the per-address sign-in budget is lifted (behind a load
  # balancer the budget applies per client through --trusted-proxy).
  env "${env_db[@]}" TOKENDESK_REVEAL_QUOTA=100000000 "$bin" --data "$data" serve \
    --listen "127.0.0.1:$2" --log warn --signin-burst 1000000 --signin-per-minute 1000000 >>"$work/serve-$1.log" 2>&1 &
  echo $! >"$work/$1.pid"
  pids+=("$!")
  for _ in $(seq 200); do curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "bench/soak.sh: instance $1 did not become ready" >&2; cat "$work/serve-$1.log" >&2; exit 1
}
port_a=$(free_port 18280)
start_instance a "$port_a"
urls=("http://127.0.0.1:$port_a")
if [ "$backend" = postgres ]; then
  port_b=$(free_port $((port_a + 1)))
  start_instance b "$port_b"
  urls+=("http://127.0.0.1:$port_b")
fi

python3 bench/soak_load.py "$duration" "$threads" "$work/load.csv" "$token" "$work/ids" "$work/staff" "${urls[@]}" &
load_pid=$!
for _ in $(seq 100); do [ -s "$work/load.csv.start" ] && break; sleep 0.05; done
t0=$(cat "$work/load.csv.start")   # the load's own t = 0, so faults and requests share one axis
since() { python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.3f}')" "$(date +%s.%N)" "$t0"; }
sleep "$(python3 -c "print($duration / 3)")"
if [ "$backend" = postgres ]; then
  echo "$(since) postgres restart" >>"$work/events"
  as_pg "$pg_bin/pg_ctl -D $work/pg/data -m fast -w restart -l $work/pg/log -o '-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1'" >/dev/null
  pg_pid=$(head -n 1 "$work/pg/data/postmaster.pid")
  victim=b
  victim_port=$port_b
else
  echo "$(since) restart" >>"$work/events"
  kill "$(cat "$work/a.pid")"
  wait "$(cat "$work/a.pid")" 2>/dev/null || true
  start_instance a "$port_a"
  victim=a
  victim_port=$port_a
fi
sleep "$(python3 -c "print($duration / 3)")"
echo "$(since) kill -9 $victim" >>"$work/events"
kill -9 "$(cat "$work/$victim.pid")"
sleep 5
start_instance "$victim" "$victim_port"
wait "$load_pid"

# --- checks ------------------------------------------------------------------------------------
sql() {
  if [ "$backend" = postgres ]; then psql -qAt "$db_url" -c "$1"; else sqlite3 "$data/vault.db" "$1"; fi
}
for pid_file in "$work"/*.pid; do kill "$(cat "$pid_file")" 2>/dev/null || true; done
sleep 1
answered=$(awk -F, '$3 == "reveal" && $4 >= 200 && $4 < 300 { print $6 }' "$work/load.csv" | sort -u)
n_answered=$(printf '%s\n' "$answered" | grep -c . || true)
sql "SELECT detail FROM audit WHERE action = 'reveal'" \
  | python3 -c 'import json, sys; [print(json.loads(l)["ticket"]) for l in sys.stdin if l.strip()]' | sort -u >"$work/audited"
missing=$(comm -23 <(printf '%s\n' "$answered" | grep .) "$work/audited" | wc -l)
verify=$(run audit verify 2>&1 | tail -n 1)
# One pass over the audit trail (grouped), not a correlated subquery per record.
unexplained=$(sql "SELECT COUNT(*) FROM records r LEFT JOIN (SELECT record_id, SUM(CASE WHEN action = 'capture' THEN 1 ELSE 0 END) AS captures, SUM(CASE WHEN action <> 'capture' THEN 1 ELSE 0 END) AS others FROM audit WHERE record_id IS NOT NULL GROUP BY record_id) a ON a.record_id = r.id WHERE COALESCE(a.captures, 0) = 0 OR (r.state <> 'captured' AND COALESCE(a.others, 0) = 0) OR ((r.sealed_seed IS NULL) <> (r.state IN ('purged', 'cancelled', 'lost')))")

mkdir -p docs
png="docs/soak-$backend.png"
report=$(/usr/bin/python3 bench/soak_report.py "$work/load.csv" "$work/events" "$png" \
  "tokendesk soak, $backend, $(( ${#urls[@]} )) instance(s), $threads threads, ${duration} s")
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) · $backend · ${#urls[@]} instance(s) · ${duration} s · $threads threads · $(nproc) cores"
  echo
  echo "Command: \`BACKEND=$backend DURATION=$duration THREADS=$threads bench/soak.sh\`. Faults (s since the load began): $(tr '\n' ';' <"$work/events")"
  echo
  echo "$report"
  echo
  echo "Latencies are of requests answered as expected (2xx; a sign-in 303 to its next step). \"Last failure after the fault\" is the time from the fault to the last request that failed within 30 s of it."
  echo
  echo "- reveals answered 2xx: $n_answered; without their audit entry: **$missing**"
  echo "- \`tokendesk audit verify\`: $verify"
  echo "- records in a state their history does not explain: **$unexplained**"
  echo "- plot: \`$png\`"
} >>bench/RESULTS-soak.md
tail -n 20 bench/RESULTS-soak.md
[ "$missing" -eq 0 ] && [ "$unexplained" -eq 0 ] && echo "$verify" | grep -q intact

#!/usr/bin/env bash
# Crash loop (issue 18): `kill -9` at random moments during imports, key rotations, purges,
# backups and reveals on a SQLite vault, checking after every kill (crates/cli/tests/it/crash.rs).
# scripts/test runs 20 iterations; this runs ITERATIONS (default 200) and appends the tally,
# dated, to bench/RESULTS-crash.md.
#
#   bench/crash.sh                          # 200 iterations, a fresh seed
#   ITERATIONS=500 SEED=123 bench/crash.sh  # replay or extend
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=${ITERATIONS:-200}
log=$(mktemp /tmp/tokendesk-crash.XXXXXX)
trap 'rm -f "$log"' EXIT
env_args=(TOKENDESK_CRASH_ITERATIONS="$iterations")
[ -n "${SEED:-}" ] && env_args+=(TOKENDESK_CRASH_SEED="$SEED")
start=$(date +%s)
env "${env_args[@]}" cargo test -q -p tokendesk-cli --test it -- \
  crash::issue_18_kill_9_at_random_moments_leaves_a_consistent_vault --exact --nocapture 2>&1 | tee "$log"
elapsed=$(( $(date +%s) - start ))
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(uname -r): passed in ${elapsed} s"
  echo
  echo "Command: \`ITERATIONS=$iterations bench/crash.sh\`. Every kill was followed by all the checks and all passed."
  echo
  echo '```'
  grep '^crash loop:' "$log"
  echo '```'
} >>bench/RESULTS-crash.md
tail -n 12 bench/RESULTS-crash.md

#!/usr/bin/env bash
# Fuzz campaign (issue 18): every cargo-fuzz target in fuzz/ for SECS seconds each (default 600),
# one after another, seeded from the test fixtures, then a table of runs, coverage and findings
# appended to docs/fuzzing.md. A finding (a crash, a leak, a timeout, an out-of-memory) stays in
# fuzz/artifacts/TARGET/ and is listed; make it a regression test in the crate's own tests.
#
#   bench/fuzz.sh                          # every target, 10 minutes each
#   SECS=60 bench/fuzz.sh import_csv       # one target, one minute
#   SANITIZER=none bench/fuzz.sh qr_image  # without AddressSanitizer (several times the runs)
#
# Needs the nightly toolchain (rustup) and cargo-fuzz; installs both when missing. Not part of
# scripts/test: a campaign takes its time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${SECS:-600}
sanitizer=${SANITIZER:-address}
cargo_fuzz_version=0.13.1

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
  cargo install --locked cargo-fuzz --version "$cargo_fuzz_version"
fi

all=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^tokendesk-fuzz$')
targets=("$@")
[ ${#targets[@]} -eq 0 ] && mapfile -t targets <<<"$all"

# Seeds: the files the tests read, by the target that parses them.
seed() { # seed TARGET PREFIX FILE...: copies each FILE, prefixed with PREFIX's bytes
  local target=$1 prefix=$2; shift 2
  mkdir -p "fuzz/corpus/$target"
  for f in "$@"; do
    { printf '%b' "$prefix"; cat "$f"; } >"fuzz/corpus/$target/seed-$(basename "$f")"
  done
}
fx=crates/formats/tests/fixtures
seed import_csv '\x00' <(printf 'username,secret\nalice@contoso.com,JBSWY3DPEHPK3PXP\n')
seed import_csv '\x01' <(printf 'upn,serial number,secret key,time interval,manufacturer,model\nalice@contoso.com,60123456,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP,30,Token2,C302-i\n')
seed import_csv '\x02' "$fx/token2_totpvault.csv"
seed import_csv '\x03' "$fx/bitwarden.csv"
seed import_csv '\x04' "$fx/keepassxc.csv"
seed import_json '\x00' "$fx/aegis_plain.json" "$fx/aegis_encrypted.json"
seed import_json '\x01' "$fx/backup.2fas" "$fx/backup_encrypted.2fas"
seed import_pskc '' "$fx"/rfc6030_*.xml
seed import_google '' "$fx/google_export.txt"
# Small images of a QR code in each format the decoder reads (made with `tokendesk seed qr --png`
# and resized): full screenshots take seconds per run under AddressSanitizer.
seed qr_image '' fuzz/seeds/qr_image/*
seed seed_input '' <(printf 'JBSWY3DPEHPK3PXP') <(printf 'otpauth://totp/Contoso:alice?secret=JBSWY3DPEHPK3PXP&issuer=Contoso&algorithm=SHA256&digits=8&period=60') <(printf 'hex:3132333435363738393031323334353637383930')
mkdir -p fuzz/corpus/apdu_replies
# One request per route: its first line names the route, the rest is a body (or a query string).
seed web_bodies '' fuzz/seeds/web_bodies/*

results=$(mktemp /tmp/tokendesk-fuzz.XXXXXX)
trap 'rm -f "$results"' EXIT
started=$(date -u +%Y-%m-%dT%H:%MZ)
for target in "${targets[@]}"; do
  echo "== $target: building" >&2
  # web_bodies needs the web stack, which the fuzz crate builds only with its `web` feature.
  features=()
  [ "$target" = web_bodies ] && features=(--features web)
  (cd fuzz && cargo +nightly fuzz build -O -s "$sanitizer" "${features[@]}" "$target") >&2
  log="fuzz/corpus/$target.log"
  echo "== $target: fuzzing for $secs s" >&2
  mkdir -p "fuzz/artifacts/$target"
  before=$(find "fuzz/artifacts/$target" -type f | wc -l)
  set +e
  # -rss_limit_mb: qr_image decodes up to 320 MiB of pixels by design (see its header).
  extra=()
  [ "$target" = qr_image ] && extra=(-max_len=65536)
  (cd fuzz && cargo +nightly fuzz run -O -s "$sanitizer" "${features[@]}" "$target" -- -max_total_time="$secs" -print_final_stats=1 \
      -rss_limit_mb=2048 -timeout=25 "${extra[@]}") >"$log" 2>&1
  status=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  after=$(find "fuzz/artifacts/$target" -type f | wc -l)
  if [ "$status" -eq 0 ] && [ "$after" -eq "$before" ]; then
    finding="none"
  else
    finding="**exit $status, $((after - before)) new artifact(s)**: $(find "fuzz/artifacts/$target" -type f -newer "$results" -printf '%f ')"
    grep -m 3 -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY)' "$log" | sed 's/^/    /' >&2 || true
  fi
  printf '| `%s` | %s | %s | %s | %s | %s | %s | %s |\n' "$target" "$secs" "${runs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$corpus" "$finding" >>"$results"
  tail -n 1 "$results" >&2
done

{
  echo
  echo "## $started, $(nproc) cores, $(uname -r), $(rustc +nightly --version)"
  echo
  san="AddressSanitizer"; cmd="SECS=$secs"
  [ "$sanitizer" = address ] || { san="sanitizer: $sanitizer"; cmd="$cmd SANITIZER=$sanitizer"; }
  echo "Command: \`$cmd bench/fuzz.sh ${*:-}\` (each target one process, \`-O\`, $san; \`cov\` = edges"
  echo "covered, \`ft\` = libFuzzer features, both at the end of the run)."
  echo
  echo '| target | seconds | runs | runs/s | cov | ft | corpus | findings |'
  echo '|---|---|---|---|---|---|---|---|'
  cat "$results"
} >>"$root/docs/fuzzing.md"
tail -n "$(( ${#targets[@]} + 8 ))" docs/fuzzing.md

#!/usr/bin/env bash
# OTP throughput, side by side with oathtool on this machine, plus the criterion micro-benchmarks.
#   bench/otp.sh            # writes nothing; copy the figures into bench/RESULTS.md
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need oathtool oathtool
need hyperfine hyperfine

cargo build --release --quiet --bin tokendesk
td=target/release/tokendesk
hex=3132333435363738393031323334353637383930   # RFC 4226 key "12345678901234567890"
b32=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ            # the same key in base32
n=1000000
at=1764000000

echo "== same output for $n future codes (oathtool vs tokendesk)"
cmp <(oathtool --totp -w "$n" -N "@$at" "$hex") <("$td" otp --codes --future "$n" --at "$at" "$b32")
echo "identical"

echo "== 1,000,001 codes, SHA-1, one process each"
hyperfine --style basic --warmup 1 --runs 5 \
  "oathtool --totp -w $n $hex > /dev/null" \
  "$td otp --codes --future $n $b32 > /dev/null"

for alg in sha256 sha512; do
  echo "== $alg"
  hyperfine --style basic --warmup 1 --runs 5 \
    "oathtool --totp=$alg -w $n $hex > /dev/null" \
    "$td otp --codes --algorithm $alg --future $n hex:$hex > /dev/null"
done

echo "== drift over ±1 day, whole process"
code1=$("$td" otp --at $((at + 1234 * 30)) "$b32")
code2=$("$td" otp --at $((at + 1235 * 30)) "$b32")
hyperfine --style basic --warmup 3 --runs 20 -N "$td drift --at $at $b32 $code1 $code2"

echo "== criterion (in-process): codes/s per core and drift search"
cargo bench --quiet -p tokendesk-otp --bench otp -- --noplot 2>/dev/null \
  | grep -E '^(codes|key_setup|drift)|time:|thrpt:'

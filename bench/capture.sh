#!/usr/bin/env bash
# Browser capture benchmark (issue 15): from the moment a sample screenshot is on the shared
# screen to its seed submitted in the wizard, in real Chromium (tab capture of a second tab, the
# real server in-process on a SQLite vault), one capture per sample screenshot; prints each time
# and the median. The same run checks that the capture path finds exactly the seeds the upload
# form finds (`it::browser_capture::issue_15_capture_finds_every_sample_seed_that_upload_finds`,
# which in the suite runs without timing). Each image appears 2.5 s after its tab loads, after
# the share went live, so the time includes waiting for the next sampled frame (the page samples
# twice a second), encoding it (PNG), sending, decoding and submitting.
#
#   bench/capture.sh        # needs chromium and chromium-driver (scripts/test installs them)
#
# Test build (dev profile; dependencies and tokendesk-qr optimised, see Cargo.toml), as the
# browser tests run; not a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp /tmp/tokendesk-capture-bench.XXXXXX)
trap 'rm -f "$out"' EXIT
TOKENDESK_CAPTURE_BENCH="$out" cargo test -q -p tokendesk-web --test it -- --exact \
  browser_capture::issue_15_capture_finds_every_sample_seed_that_upload_finds >&2
sort -t$'\t' -k2,2n "$out" | awk -F'\t' '
  { t[NR] = $2; printf "%s\t%d ms\n", $1, $2 }
  END {
    if (NR == 0) { print "no timings"; exit 1 }
    m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
    printf "captures: %d  median: %d ms  min: %d ms  max: %d ms\n", NR, m, t[1], t[NR]
  }'

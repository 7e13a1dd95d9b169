#!/usr/bin/env bash
# QR capture benchmark (issue 4): seeds found and total time on the 40 sample screenshots,
# side by side in one run: `tokendesk scan` (release), zbarimg (Debian zbar-tools) and
# zxing-cpp (PyPI, in-process, in a venv under /tmp).
#
#   bench/qr.sh            # prints a Markdown table
#
# Times: "per-file processes" sums whole-process wall time over 40 runs (how zbarimg is used);
# "one process" runs all 40 files in one invocation; zxing-cpp is timed in-process (image load
# + decode), as the reference figures in the sample set's README were.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
samples="$root/crates/qr/tests/fixtures/screens"
venv=/tmp/tokendesk-bench-venv

if ! command -v zbarimg >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends zbar-tools >/dev/null
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import zxingcpp, PIL' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q zxing-cpp pillow numpy
fi
cargo build -q --release -p tokendesk-cli --bin tokendesk
tokendesk="$root/target/release/tokendesk"

"$venv/bin/python" - "$samples" "$tokendesk" <<'PY'
import json, subprocess, sys, time
from PIL import Image
import zxingcpp

samples, tokendesk = sys.argv[1], sys.argv[2]
manifest = json.load(open(f"{samples}/manifest.json"))
files = [f"{samples}/{e['file']}" for e in manifest]
seeds = {f"{samples}/{e['file']}": e["secret"] for e in manifest if e["kind"] == "otpauth"}

def score(found):  # found: {file: [payload, ...]} -> (seeds found, wrong seeds)
    ok = wrong = 0
    for f, payloads in found.items():
        secrets = [p.split("secret=")[1].split("&")[0].upper() for p in payloads if "secret=" in p.lower() and p.lower().startswith("otpauth")]
        if f in seeds and seeds[f] in secrets:
            ok += 1
        wrong += sum(1 for s in secrets if s != seeds.get(f))
    return ok, wrong

def per_file(cmd, parse):
    found, total = {}, 0.0
    for f in files:
        t = time.perf_counter()
        p = subprocess.run(cmd + [f], capture_output=True, text=True)
        total += time.perf_counter() - t
        found[f] = parse(p.stdout)
    return found, total

def tokendesk_parse(out):
    res = []
    for line in out.splitlines():
        for item in json.loads(line)["found"]:
            if item.get("kind") == "otpauth":
                res.append("otpauth://x?secret=" + item["secret"])
    return res

rows = []
found, t = per_file([tokendesk, "scan", "--json"], tokendesk_parse)
rows.append(("tokendesk scan (release), per-file processes", *score(found), t))
import resource
cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
t0 = time.perf_counter()
p = subprocess.run([tokendesk, "scan", "--json"] + files, capture_output=True, text=True)
t1 = time.perf_counter() - t0
cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - cpu0
found = {json.loads(l)["file"]: tokendesk_parse(l) for l in p.stdout.splitlines()}
rows.append(("tokendesk scan (release), one process", *score(found), t1))
found, t = per_file(["zbarimg", "-q", "--raw"], lambda out: out.splitlines())
rows.append(("zbarimg " + subprocess.run(["zbarimg", "--version"], capture_output=True, text=True).stdout.strip() + ", per-file processes", *score(found), t))
found, total = {}, 0.0
for f in files:
    t = time.perf_counter()
    results = zxingcpp.read_barcodes(Image.open(f))
    total += time.perf_counter() - t
    found[f] = [r.text for r in results]
from importlib.metadata import version
rows.append((f"zxing-cpp {version('zxing-cpp')} (Python binding, in-process)", *score(found), total))

import os
print(f"load average before: {os.getloadavg()[0]:.1f}")
print()
print(f"| decoder | seeds found (of {len(seeds)}) | wrong seeds | total time |")
print("|---|---|---|---|")
for name, ok, wrong, t in rows:
    print(f"| {name} | {ok} | {wrong} | {t:.2f} s |")
print()
print(f"tokendesk one process: {cpu1:.2f} s user CPU for {len(files)} screenshots "
      f"(mostly 1920x1080), {1000 * cpu1 / len(files):.0f} ms per screenshot; "
      f"{1000 * t1 / len(files):.0f} ms wall")
PY

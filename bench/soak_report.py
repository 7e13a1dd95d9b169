#!/usr/bin/env python3
"""Report of a bench/soak.sh run: per phase (between the faults) requests, errors, p50/p99 and
the time from each fault to the first answered request after it; a PNG of p99 latency and
throughput per second with the faults marked (matplotlib, Debian python3-matplotlib).

    soak_report.py LOAD.csv EVENTS.txt OUT.png TITLE
EVENTS.txt: lines "SECONDS LABEL" (time since the load began).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

load_path, events_path, png_path, title = sys.argv[1:5]
rows = []
with open(load_path) as f:
    for r in csv.DictReader(f):
        rows.append((float(r["t"]), int(r["status"]), float(r["ms"]), r["kind"]))
events = []
for line in open(events_path):
    if line.strip():
        t, label = line.split(" ", 1)
        events.append((float(t), label.strip()))
end = max(t for t, *_ in rows) if rows else 0.0


def good(s, kind):
    """Answered as it should be: 2xx, or for a sign-in 303 to its next step."""
    return 200 <= s < 300 or (kind == "signin" and s == 303)


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


bounds = [0.0] + [t for t, _ in events] + [end + 1]
names = ["start"] + [label for _, label in events]
print("| phase | from (s) | requests | errors (non-2xx, a sign-in not 303, or no answer) | errors by status | p50 | p99 | last failure after the fault |")
print("|---|---:|---:|---:|---|---:|---:|---:|")
for i in range(len(bounds) - 1):
    lo, hi = bounds[i], bounds[i + 1]
    phase = [r for r in rows if lo <= r[0] < hi]
    ok = [ms for t, s, ms, k in phase if good(s, k)]
    errors = sum(1 for _, s, _, k in phase if not good(s, k))
    recovered = "—"
    if i > 0:
        # Recovery: the last failure within 30 s of the fault, counted from the fault.
        failures = [t for t, s, _, k in phase if not good(s, k) and t < lo + 30]
        recovered = f"{max(failures) - lo:.1f} s" if failures else "no failure"
    by_status = {}
    for t, s, _, kind in phase:
        if not good(s, kind):
            key = f"{s or 'no answer'} {kind}"
            by_status[key] = by_status.get(key, 0) + 1
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items())) or "—"
    print(f"| {names[i]} | {lo:.0f} | {len(phase)} | {errors} | {statuses} | {pct(ok, 50):.1f} ms | "
          f"{pct(ok, 99):.1f} ms | {recovered} |")

print()
print("| kind | requests | answered as expected | p50 | p99 |")
print("|---|---:|---:|---:|---:|")
for kind in sorted({k for *_, k in rows}):
    mine = [(s, ms) for _, s, ms, k in rows if k == kind]
    ok = [ms for s, ms in mine if good(s, kind)]
    print(f"| {kind} | {len(mine)} | {len(ok)} | {pct(ok, 50):.1f} ms | {pct(ok, 99):.1f} ms |")

seconds = int(end) + 1
thr = [0] * seconds
lat = [[] for _ in range(seconds)]
errs = [0] * seconds
for t, s, ms, kind in rows:
    sec = int(t)
    if good(s, kind):
        thr[sec] += 1
        lat[sec].append(ms)
    else:
        errs[sec] += 1
p99 = [pct(v, 99) for v in lat]
fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
a1.plot(range(seconds), p99, lw=0.8)
a1.set_ylabel("p99 latency (ms)")
a1.set_yscale("log")
a2.plot(range(seconds), thr, lw=0.8, label="answered 2xx")
a2.plot(range(seconds), errs, lw=0.8, color="red", label="errors")
a2.set_ylabel("requests / s")
a2.set_xlabel("seconds since the load began")
a2.legend(loc="lower left")
for ax in (a1, a2):
    for t, label in events:
        ax.axvline(t, color="gray", ls="--", lw=0.8)
        if ax is a1:
            ax.text(t, ax.get_ylim()[1], " " + label, va="top", fontsize=8)
fig.suptitle(title)
fig.tight_layout()
fig.savefig(png_path, dpi=100)

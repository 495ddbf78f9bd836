#!/usr/bin/env python3
"""Aggregates scripts/bench.sh results (medians over repetitions) into a table with our/C ratios
and a PNG chart. Usage: bench_report.py results.tsv OUTDIR"""
import csv
import statistics
import sys
from collections import defaultdict

res_path, out_dir = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(res_path), delimiter="\t"))


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


by = defaultdict(list)  # (impl, kind, n) -> rows
for r in rows:
    by[(r["impl"], r["kind"], int(r["n"]))].append(r)


def med(impl, kind, n, f):
    vals = [f(r) for r in by.get((impl, kind, n), [])]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def base_cpu(impl, rep):
    for r in by.get((impl, "publish", 1), []):
        if r["rep"] == rep:
            return num(r["cpu_pct"])
    return None


pubs = sorted({n for (_, k, n) in by if k == "publish"})
plays = sorted({n for (_, k, n) in by if k == "play"})

lines = []  # (metric, setting, ours, c, better-is, target)


def add(metric, setting, f, kind, n, target="", ours="rs"):
    o, c = med(ours, kind, n, f), med("c", kind, n, f)
    lines.append((metric, setting, o, c, target))


for n in pubs:
    add("CPU per stream, % of a core", f"N={n}",
        lambda r, n=n: num(r["cpu_pct"]) / n if num(r["cpu_pct"]) is not None else None,
        "publish", n, "ratio <= 0.3")
for n in pubs:
    add("RSS per stream, MB", f"N={n}",
        lambda r, n=n: num(r["rss_delta_kb"]) / n / 1024 if num(r["rss_delta_kb"]) is not None else None,
        "publish", n, "ratio <= 1")
for n in pubs:
    add("RSS anon (heap) per stream, MB", f"N={n}",
        lambda r, n=n: num(r["anon_delta_kb"]) / n / 1024 if num(r["anon_delta_kb"]) is not None else None,
        "publish", n, "")
if any(k[0] == "rsng" for k in by):
    for n in pubs:
        add("RSS per stream, MB, ours gop_cache off", f"N={n}",
            lambda r, n=n: num(r["rss_delta_kb"]) / n / 1024 if num(r["rss_delta_kb"]) is not None else None,
            "publish", n, "ratio <= 1", ours="rsng")
    for n in pubs:
        add("CPU per stream, %, ours gop_cache off", f"N={n}",
            lambda r, n=n: num(r["cpu_pct"]) / n if num(r["cpu_pct"]) is not None else None,
            "publish", n, "", ours="rsng")
# Memory per added stream: the slope of RSS between the smallest and largest N (fixed
# costs such as code paged in once and shared-zone pages first read are not per stream).
if len(pubs) >= 2:
    lo, hi = pubs[0], pubs[-1]

    def slope(impl, field="rss_delta_kb"):
        a = med(impl, "publish", lo, lambda r: num(r[field]))
        b = med(impl, "publish", hi, lambda r: num(r[field]))
        return None if a is None or b is None else (b - a) / (hi - lo) / 1024

    for ours, label in [("rs", ""), ("rsng", ", gop_cache off")]:
        if any(k[0] == ours for k in by):
            lines.append((f"RSS per added stream, MB{label}", f"N={lo}->{hi}", slope(ours), slope("c"),
                          "ratio <= 1"))
for n in pubs:
    add("publish->segment listed, ms (median)", f"N={n}", lambda r: num(r["seg_lat_ms"]), "publish", n, "<= 10 ms")
for n in pubs:
    add("publish->segment listed, ms (p95)", f"N={n}", lambda r: num(r["seg_lat_p95_ms"]), "publish", n, "")


def per_player(r):
    cpu, b = num(r["cpu_pct"]), base_cpu(r["impl"], r["rep"])
    if cpu is None or b is None:
        return None
    return max(cpu - b, 0.001) / int(r["n"])


for m in plays:
    add("CPU per player, % of a core", f"M={m}", per_player, "play", m, "")
for m in plays:
    add("players per core", f"M={m}", lambda r: (100.0 / per_player(r)) if per_player(r) else None,
        "play", m, "ratio >= 4")
for m in plays:
    add("worker CPU total, % (1 pub + M players)", f"M={m}", lambda r: num(r["cpu_pct"]), "play", m, "")
for m in plays:
    add("join->first frame, ms (median)", f"M={m}", lambda r: num(r["first_frame_ms"]), "play", m, "< 100 ms (M=200)")
for m in plays:
    add("join->first keyframe, ms (median)", f"M={m}", lambda r: num(r["first_key_ms"]), "play", m, "")
for m in plays:
    add("video frames per player (8+ s)", f"M={m}", lambda r: num(r["video_per_player"]), "play", m, "")


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}"


reps = len({r["rep"] for r in rows})
loads = [num(r["load1"]) for r in rows if num(r["load1"]) is not None]
print(f"Medians of {reps} run(s). loadavg(1 min) during runs: min {min(loads):.2f}, "
      f"max {max(loads):.2f} (2 cores: above ~2 the box is saturated)." if loads else "")
hdr = f"| {'metric':<42} | {'setting':<7} | {'ours':>9} | {'C module':>9} | {'ours/C':>7} | {'target':<13} |"
print(hdr)
print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
for metric, setting, o, c, target in lines:
    ratio = (o / c) if (o is not None and c not in (None, 0)) else None
    print(f"| {metric:<42} | {setting:<7} | {fmt(o):>9} | {fmt(c):>9} | {fmt(ratio):>7} | {target:<13} |")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("(matplotlib missing: no chart)")
    sys.exit(0)

groups = []
for metric in dict.fromkeys(m for m, *_ in lines):
    if metric.startswith("worker CPU total") or metric.startswith("video frames") or "p95" in metric \
            or "gop_cache off" in metric:
        continue
    groups.append(metric)
cols = 3
rws = (len(groups) + cols - 1) // cols
fig, axes = plt.subplots(rws, cols, figsize=(5 * cols, 3.6 * rws))
for ax, metric in zip(axes.flat, groups):
    sel = [(s, o, c) for m, s, o, c, _ in lines if m == metric]
    xs = range(len(sel))
    ax.bar([x - 0.2 for x in xs], [o or 0 for _, o, _ in sel], 0.4, label="ours (Rust)", color="#d9534f")
    ax.bar([x + 0.2 for x in xs], [c or 0 for _, _, c in sel], 0.4, label="C nginx-rtmp", color="#5b8dd9")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([s for s, _, _ in sel])
    ax.set_title(metric, fontsize=9)
    ax.legend(fontsize=7)
for ax in list(axes.flat)[len(groups):]:
    ax.axis("off")
fig.suptitle(f"ngx-rtmp vs nginx-rtmp-module (medians of {reps} runs, HLS on, 720p30 2.5 Mbit/s)")
fig.tight_layout()
fig.savefig(f"{out_dir}/bench.png", dpi=90)
print(f"chart: {out_dir}/bench.png")

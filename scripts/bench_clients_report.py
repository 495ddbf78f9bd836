#!/usr/bin/env python3
"""Tables of scripts/bench_clients.sh: medians over rounds, ours against the C module, per
client kind. Usage: bench_clients_report.py results.tsv"""
import csv
import statistics
import sys
from collections import defaultdict

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = defaultdict(list)  # (impl, role, client, n) -> rows
for r in rows:
    by[(r["impl"], r["role"], r["client"], int(r["n"]))].append(r)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def base(impl, rep):
    for r in by.get((impl, "base", "-", 0), []):
        if r["rep"] == rep:
            return float(r["cpu_pct"])
    return None


def per_player(r):
    b = base(r["impl"], r["rep"])
    return None if b is None else max(float(r["cpu_pct"]) - b, 0.001) / int(r["n"])


def f(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}"


def ratio(a, b):
    return None if a is None or not b else a / b


def span(key):
    got = [int(r["ok"] or 0) for r in by.get(key, [])]
    return f"{min(got)}" if got and min(got) == max(got) else (f"{min(got)}-{max(got)}" if got else "-")


def loads(role):
    ls = [float(r["load1"]) for r in rows if r["role"] == role]
    return f"{min(ls):.2f}-{max(ls):.2f}" if ls else "-"


reps = len({r["rep"] for r in rows})
pubs = sorted({(c, n) for (_, role, c, n) in by if role == "publish"}, key=lambda x: (x[0], x[1]))
if pubs:
    print(f"\nIngest: worker CPU per stream, % of a core (medians of {reps} rounds, load {loads('publish')})")
    print("| publisher | N | ours | C | ours/C | clients' CPU % (ours / C runs) | streams up (ours / C) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c, n in pubs:
        o = med([float(r["cpu_pct"]) / n for r in by.get(("rs", "publish", c, n), [])])
        k = med([float(r["cpu_pct"]) / n for r in by.get(("c", "publish", c, n), [])])
        co = med([float(r["client_cpu_pct"]) for r in by.get(("rs", "publish", c, n), [])])
        ck = med([float(r["client_cpu_pct"]) for r in by.get(("c", "publish", c, n), [])])
        print(f"| {c} | {n} | {f(o)} | {f(k)} | {f(ratio(o, k), 2)} | {f(co, 1)} / {f(ck, 1)} | "
              f"{span(('rs', 'publish', c, n))} / {span(('c', 'publish', c, n))} |")
plays = sorted({(c, n) for (_, role, c, n) in by if role == "play"}, key=lambda x: (x[0], x[1]))
if plays:
    bo = med([float(r["cpu_pct"]) for r in by.get(("rs", "base", "-", 0), [])])
    bk = med([float(r["cpu_pct"]) for r in by.get(("c", "base", "-", 0), [])])
    print(f"\nPlayers per core (medians of {reps} rounds, load {loads('play')}; publisher alone: "
          f"ours {f(bo)} %, C {f(bk)} %)")
    print("| player | M | ours | C | ours/C | worker CPU % (ours / C) | clients' CPU % (ours / C runs) "
          "| players up (ours / C) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c, m in plays:
        o = med([per_player(r) for r in by.get(("rs", "play", c, m), [])])
        k = med([per_player(r) for r in by.get(("c", "play", c, m), [])])
        po = None if not o else 100 / o
        pk = None if not k else 100 / k
        wo = med([float(r["cpu_pct"]) for r in by.get(("rs", "play", c, m), [])])
        wk = med([float(r["cpu_pct"]) for r in by.get(("c", "play", c, m), [])])
        co = med([float(r["client_cpu_pct"]) for r in by.get(("rs", "play", c, m), [])])
        ck = med([float(r["client_cpu_pct"]) for r in by.get(("c", "play", c, m), [])])
        print(f"| {c} | {m} | {f(po, 0)} | {f(pk, 0)} | {f(ratio(po, pk), 2)} | {f(wo, 2)} / {f(wk, 2)} | "
              f"{f(co, 1)} / {f(ck, 1)} | {span(('rs', 'play', c, m))} / {span(('c', 'play', c, m))} |")

wake = defaultdict(list)
for r in rows:
    if r.get("wakeups_s") not in (None, ""):
        wake[(r["impl"], r["role"], r["client"], int(r["n"]))].append(float(r["wakeups_s"]))
if len(sys.argv) > 2:
    prof = list(csv.DictReader(open(sys.argv[2]), delimiter="\t"))
    if prof:
        print("\nProfile of the worker (first round; syscalls per second from strace -c over 4 s, bytes per "
              "call from the input's rate; shares of the worker's time from perf record, with "
              "callees; wakeups per second untraced, median of the rounds)")
        print("| module | clients | N/M | wakeups/s | epoll_wait/s | recv/s | bytes/recv | writev/s | bytes/writev "
              "| write/s (files) | recv path | file writes | player sends | epoll | module's code |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for p in sorted(prof, key=lambda p: (p["role"], p["client"], int(p["n"]), p["impl"] != "rs")):
            w = med(wake.get((p["impl"], p["role"], p["client"], int(p["n"])), []))
            pc = lambda k: "-" if p[k] in ("", None) else p[k] + " %"
            print(f"| {'ours' if p['impl'] == 'rs' else 'C'} | {p['role']} {p['client']} | {p['n']} | {f(w, 0)} "
                  f"| {p['epoll_wait_s']} | {p['recv_s']} | {p['bytes_per_recv']} | {p['writev_s']} "
                  f"| {p['bytes_per_writev']} | {p['write_s']} | {pc('pct_recv')} | {pc('pct_file_write')} "
                  f"| {pc('pct_writev')} | {pc('pct_epoll')} | {p['pct_module']} % |")

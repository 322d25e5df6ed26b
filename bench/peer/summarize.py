#!/usr/bin/env python3
"""One table from interleaved peer / omnitune runs of bench/peer (run.sh writes their JSON).

Usage: summarize.py --peer P1.json [P2.json ...] --omnitune C1.json [C2.json ...] [--unfused U1.json ...]
For each workload: the median over runs of each program's rate and of its fraction of its own
same-run peak, the ratio omnitune / peer of the medians, and the goal of issue 18. With --unfused
(omnitune with its fused CPU kernels off, run in the same rounds) also that rate and fused /
unfused: what the kernels bring, not a comparison with the peer. Runs whose
peak moved by more than 15% between the start and the end of the process are flagged DRIFT
(re-run them: the machine was disturbed).
"""
import argparse
import json
import statistics
import sys

# (label, workload, dtype, field path, goal ratio, what the fraction is of)
ROWS = [
    ("prefill fp32 [4,512]", "prefill", "fp32", ("tokens_per_s",), 1.3, "matmul"),
    ("prefill bf16 [4,512]", "prefill", "bf16", ("tokens_per_s",), 1.3, "matmul"),
    ("train fp32 [2,512]", "train", "fp32", ("tokens_per_s",), 1.25, "matmul"),
    ("train bf16 [2,512]", "train", "bf16", ("tokens_per_s",), 1.25, "matmul"),
    ("generate fp32 64+128", "generate", "fp32", ("tokens_per_s",), None, None),
    ("  decode steps fp32", "generate", "fp32", ("decode", "tokens_per_s"), 3.0, "bandwidth"),
    ("generate bf16 64+128", "generate", "bf16", ("tokens_per_s",), None, None),
    ("  decode steps bf16", "generate", "bf16", ("decode", "tokens_per_s"), 1.8, "bandwidth"),
]


def get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def fraction(run, work, dtype, path, kind):
    if kind == "matmul":
        return get(run, work, dtype, "fraction_of_matmul_peak")
    if kind == "bandwidth":
        return get(run, work, dtype, *path[:-1], "fraction_of_read_bandwidth")
    return None


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def drift(run):
    flags = []
    for k in ("matmul_fp32", "matmul_bf16", "read_bandwidth"):
        if get(run, "peak", k, "disturbed"):
            flags.append(k)
    return flags


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", nargs="+", required=True)
    ap.add_argument("--omnitune", nargs="+", required=True)
    ap.add_argument("--unfused", nargs="+", default=[])
    a = ap.parse_args()
    peer = [json.load(open(p)) for p in a.peer]
    ours = [json.load(open(p)) for p in a.omnitune]
    unf = [json.load(open(p)) for p in a.unfused]

    def fmt(x, f="{:.1f}"):
        return "-" if x is None else f.format(x)

    print(f"{len(peer)} peer run(s) (gemma_pytorch, PyTorch eager) and {len(ours)} omnitune run(s), interleaved; "
          "medians over runs")
    for name, runs in (("peer", peer), ("omnitune", ours), ("unfused", unf)):
        if not runs:
            continue
        pk = {k: median([get(r, "peak", k, f) for r in runs])
              for k, f in (("matmul_fp32", "gflops"), ("matmul_bf16", "gflops"), ("read_bandwidth", "gbytes_per_s"))}
        print(f"  {name:9s} peak: matmul fp32 {fmt(pk['matmul_fp32'])} GFLOP/s, bf16 {fmt(pk['matmul_bf16'])} GFLOP/s, "
              f"read {fmt(pk['read_bandwidth'])} GB/s")
        for i, r in enumerate(runs):
            if drift(r):
                print(f"  DRIFT: {name} run {i + 1}: its peak moved by > 15% during the run ({', '.join(drift(r))})")
    print()
    head = f"{'work':24s} {'peer tok/s':>11s} {'of peak':>8s} {'omnitune':>11s} {'of peak':>8s} {'ratio':>7s} {'goal':>6s}"
    width = len(head) + 8  # room for " NOT met"
    if unf:
        head = f"{head:<{width}s} {'unfused':>9s} {'fused/unf':>9s}"
    print(head)
    print("-" * len(head))
    out = []
    for label, work, dtype, path, goal, kind in ROWS:
        p = median([get(r, work, dtype, *path) for r in peer])
        c = median([get(r, work, dtype, *path) for r in ours])
        pf = median([fraction(r, work, dtype, path, kind) for r in peer])
        cf = median([fraction(r, work, dtype, path, kind) for r in ours])
        ratio = c / p if p and c else None
        met = "" if goal is None or ratio is None else (" met" if ratio >= goal else " NOT met")
        line = (f"{label:24s} {fmt(p):>11s} {fmt(pf, '{:.2f}'):>8s} {fmt(c):>11s} {fmt(cf, '{:.2f}'):>8s} "
                f"{fmt(ratio, '{:.2f}x'):>7s} {fmt(goal, '{:.2f}x'):>6s}{met}")
        if unf:
            u = median([get(r, work, dtype, *path) for r in unf])
            line = f"{line:<{width}s} {fmt(u):>9s} {fmt(c / u if c and u else None, '{:.2f}x'):>9s}"
        print(line)
        out.append({"work": label, "peer": p, "peer_fraction": pf, "omnitune": c, "omnitune_fraction": cf,
                    "ratio": ratio, "goal": goal})
    print("\n(fractions: of the same process's matmul peak in that dtype; decode rows: weight bytes streamed per "
          "token x tok/s over the process's read bandwidth)")
    return out


if __name__ == "__main__":
    main()
    sys.exit(0)

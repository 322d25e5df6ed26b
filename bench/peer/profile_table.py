#!/usr/bin/env python3
"""Sums a LibTorch profiler trace (peer_bench --profile) by operator: self time (an event's
duration minus the events nested in it on the same thread), total time and calls, largest self
time first. Usage: profile_table.py TRACE.json [--top N]"""
import argparse
import collections
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    with open(a.trace) as f:
        text = f.read().rstrip().rstrip(",")
    if not text.endswith("]"):
        text += "]"  # the legacy profiler may leave the array open
    events = [e for e in json.loads(text) if e.get("ph") == "X"]
    by_tid = collections.defaultdict(list)
    for e in events:
        by_tid[e.get("tid")].append(e)
    self_t, total_t, calls = collections.Counter(), collections.Counter(), collections.Counter()
    for evs in by_tid.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [event, children's duration]
        def close(entry):
            e, child = entry
            self_t[e["name"]] += e["dur"] - child
            if stack:
                stack[-1][1] += e["dur"]
        for e in evs:
            while stack and stack[-1][0]["ts"] + stack[-1][0]["dur"] <= e["ts"]:
                close(stack.pop())
            total_t[e["name"]] += e["dur"]
            calls[e["name"]] += 1
            stack.append([e, 0.0])
        while stack:
            close(stack.pop())
    whole = sum(self_t.values())
    print(f"{'operator':40s} {'self ms':>10s} {'self %':>7s} {'total ms':>10s} {'calls':>7s}")
    for name, t in self_t.most_common(a.top):
        print(f"{name[:40]:40s} {t / 1e3:10.1f} {100 * t / whole:6.1f}% {total_t[name] / 1e3:10.1f} {calls[name]:7d}")
    print(f"{'(all)':40s} {whole / 1e3:10.1f}")


if __name__ == "__main__":
    main()

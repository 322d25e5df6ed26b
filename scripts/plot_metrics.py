#!/usr/bin/python3
"""Plots a training run's metrics.jsonl: training loss (and validation loss when present) per step,
learning rate on a second axis. Usage: plot_metrics.py RUN_DIR [-o OUT.png]  (default RUN_DIR/loss.png)
Needs Debian's python3-matplotlib (scripts/install-deps.sh installs it); no display is used."""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("-o", "--out")
    args = ap.parse_args()
    path = os.path.join(args.run_dir, "metrics.jsonl")
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a line cut by a crash
    if not rows:
        sys.exit(f"{path}: no metrics")
    steps = [r["step"] for r in rows if r.get("loss") is not None]
    loss = [r["loss"] for r in rows if r.get("loss") is not None]
    val = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    lr = [(r["step"], r["lr"]) for r in rows if r.get("lr") is not None]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(steps, loss, label="train loss", color="tab:blue")
    if val:
        ax.plot([s for s, _ in val], [v for _, v in val], "o-", label="validation loss", color="tab:orange")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if lr:
        ax2 = ax.twinx()
        ax2.plot([s for s, _ in lr], [v for _, v in lr], "--", color="tab:gray", label="learning rate")
        ax2.set_ylabel("learning rate")
        ax2.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax.legend(loc="upper right")
    ax.set_title(os.path.basename(os.path.abspath(args.run_dir)))
    fig.tight_layout()
    out = args.out or os.path.join(args.run_dir, "loss.png")
    fig.savefig(out)
    print(out)


if __name__ == "__main__":
    main()

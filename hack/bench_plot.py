"""The picture of `hack/benchmark.py --only scale`: CPU seconds and wall seconds against N for the
install, the no-op re-run and verify, the collection against the kubernetes.core baseline.

    .venv/bin/python hack/bench_plot.py .tmp/scale.json docs/benchmarks-scale.png

Reads only the benchmark's JSON, so the plot is made again from saved numbers (docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

RUNS = ("install", "no-op re-run", "verify")
# (variant in the JSON, label, line style): the collection solid, the baseline dashed.
VARIANTS = (("manual", "collection, manual linking", "-"), ("automatic", "collection, automatic linking", ":"),
            ("k8s_core", "kubernetes.core baseline", "--"))
COLORS = {"install": "tab:blue", "no-op re-run": "tab:orange", "verify": "tab:green"}
METRICS = (("cpu", "CPU seconds (ansible process tree)"), ("wall", "wall seconds"))


def series(sizes, variant, run, metric):
    """[(N, value)] of one line, in order of N, for the sizes that measured it."""
    points = [(int(n), size[variant][run][metric]) for n, size in sizes.items()
              if run in size.get(variant, {})]
    return sorted(points)


def plot(report, out):
    sizes = report["scale"]["sizes"]
    figure, axes = plt.subplots(1, len(METRICS), figsize=(12, 4.8))
    for ax, (metric, label) in zip(axes, METRICS):
        for variant, variant_label, style in VARIANTS:
            for run in RUNS:
                points = series(sizes, variant, run, metric)
                if points:
                    ax.plot(*zip(*points), style, marker="o", color=COLORS[run],
                            label="%s: %s" % (variant_label, run))
        ax.set_xlabel("clusters (N)")
        ax.set_ylabel(label)
        ax.set_xticks(sorted({int(n) for n in sizes}))
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.suptitle("gloomesh.multicluster at scale: one sample per point (hack/benchmark.py --only scale)")
    figure.tight_layout()
    figure.savefig(out, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("json", help="the JSON file of hack/benchmark.py --only scale --json PATH")
    parser.add_argument("png", help="where to write the plot")
    args = parser.parse_args(argv)
    with open(args.json, encoding="utf-8") as fh:
        plot(json.load(fh), args.png)


if __name__ == "__main__":
    main()

"""The picture of `hack/benchmark.py --only scale`: CPU seconds and wall seconds against N for the
install, the no-op re-run and verify, the collection against the kubernetes.core baseline; prints
the numbers as a Markdown table.

    .venv/bin/python hack/bench_plot.py .tmp/scale.json [more.json ...] docs/benchmarks-scale.png

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
# (metric, per cluster, axis label): the middle panel shows whether the cost per cluster stays flat.
METRICS = (("cpu", False, "CPU seconds (ansible process tree)"), ("cpu", True, "CPU seconds per cluster"),
           ("wall", False, "wall seconds"))


def series(sizes, variant, run, metric, per_cluster):
    """[(N, value)] of one line, in order of N, for the sizes that measured it."""
    points = [(int(n), size[variant][run][metric] / (int(n) if per_cluster else 1)) for n, size in sizes.items()
              if run in size.get(variant, {})]
    return sorted(points)


def plot(report, out):
    sizes = report["scale"]["sizes"]
    figure, axes = plt.subplots(1, len(METRICS), figsize=(16, 5))
    for ax, (metric, per_cluster, label) in zip(axes, METRICS):
        for variant, variant_label, style in VARIANTS:
            for run in RUNS:
                points = series(sizes, variant, run, metric, per_cluster)
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


def table(report):
    """The numbers of the plot as a Markdown table (docs/benchmarks.md shows it under the picture)."""
    lines = ["| N | variant | run | CPU s | CPU s / cluster | wall s | writes | reads | peak MB (tree) | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n, size in sorted(report["scale"]["sizes"].items(), key=lambda item: int(item[0])):
        for variant, _label, _style in VARIANTS:
            for run, m in size.get(variant, {}).items():
                if run != "clusters":
                    lines.append("| %s | %s | %s | %.1f | %.2f | %.0f | %d | %d | %.0f | %.1f |" % (
                        n, variant, run, m["cpu"], m["cpu"] / int(n), m["wall"], m["writes"], m["reads"],
                        m["peak_tree_rss_mb"], m["loadavg"][0]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("json", nargs="+", help="JSON files of hack/benchmark.py --only scale --json PATH; "
                        "their sizes are merged (a later file's N replaces an earlier one's)")
    parser.add_argument("png", help="where to write the plot")
    args = parser.parse_args(argv)
    report = {"scale": {"sizes": {}}}
    for path in args.json:
        with open(path, encoding="utf-8") as fh:
            for n, size in json.load(fh)["scale"].get("sizes", {}).items():
                report["scale"]["sizes"].setdefault(n, {}).update(size)
    plot(report, args.png)
    print(table(report))


if __name__ == "__main__":
    main()

"""Runs of six or more identical YAML lines in two places (roles, playbooks, molecule).

The `duplicates` tool reads code, not YAML; this does the same for the YAML that is our code.
Blank lines and comments are skipped and indentation is folded, so a block pasted at another
depth still counts. Exits 1 when it finds a run, listing each once.

    .venv/bin/python hack/yaml_duplicates.py [--min-lines N]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ("roles", "playbooks", "extensions", ".config")
# Lines every YAML file of a kind repeats by convention, never worth sharing.
TRIVIAL = {"---", "dependencies: []", "platforms:", "- name: GenericLinux", "versions:", "- all",
           "galaxy_tags:", "- kubernetes", "- istio", "galaxy_info:", "license: Apache-2.0",
           'min_ansible_version: "2.16"', "author: gloomesh.multicluster maintainers"}


def yaml_files():
    """The YAML that is code (tasks, playbooks, specs, scenarios); inventories are data, and an example
    inventory and a test inventory of the same clusters are alike on purpose."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *FOLDERS],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return sorted(p for p in listed if p.endswith((".yml", ".yaml")) and "/inventory/" not in p)


def significant_lines(path):
    """(line number, folded text) of the lines that carry content."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            text = " ".join(line.split())
            if text and not text.startswith("#") and text not in TRIVIAL:
                yield number, text


def find_runs(min_lines):
    """[(place, place)] of the longest runs two places share, each run once."""
    windows = {}
    for path in yaml_files():
        lines = list(significant_lines(path))
        for start in range(len(lines) - min_lines + 1):
            key = tuple(text for _number, text in lines[start:start + min_lines])
            windows.setdefault(key, []).append((path, lines[start][0], lines[start + min_lines - 1][0]))
    pairs = {}
    for places in windows.values():
        for i, first in enumerate(places):
            for second in places[i + 1:]:
                if first[0] == second[0] and second[1] <= first[2]:
                    continue  # a window overlapping itself
                pairs.setdefault((first[0], second[0]), []).append((first[1:], second[1:]))
    runs = []
    for (path_a, path_b), matches in sorted(pairs.items()):
        merged = []
        for (a_start, a_end), (b_start, b_end) in sorted(matches):
            last = merged[-1] if merged else None
            if last and a_start <= last[1] + 1 and b_start <= last[3] + 1 and b_start >= last[2]:
                last[1], last[3] = max(last[1], a_end), max(last[3], b_end)
            else:
                merged.append([a_start, a_end, b_start, b_end])
        runs += [((path_a, a0, a1), (path_b, b0, b1)) for a0, a1, b0, b1 in merged]
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--min-lines", type=int, default=6)
    args = parser.parse_args(argv)
    runs = find_runs(args.min_lines)
    for places in runs:
        print(" ~ ".join("%s:%d-%d" % place for place in places))
    print("yaml duplicates: %d run(s) of %d+ identical lines" % (len(runs), args.min_lines))
    return 1 if runs else 0


if __name__ == "__main__":
    sys.exit(main())

"""The structure of plugins/ in three tables (for an issue's closing note, before and after a change):
imports between layers (file pairs; a file-level cycle fails the run), the largest files and the
longest functions (from the ast, so a docstring counts and a comment line inside a function does).

    .venv/bin/python hack/structure_report.py [--top 10]
"""
from __future__ import annotations

import argparse
import ast
import collections
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGINS = os.path.join(ROOT, "plugins")
PACKAGE = "ansible_collections.gloomesh.multicluster.plugins"
# Top to bottom, the order CONTRIBUTING's import direction gives.
LAYERS = ("action", "plugin_utils", "modules", "module_utils", "operations", "builders", "k8s")


def _source(path):
    """The text of a plugins/ file (``path`` relative to plugins/)."""
    with open(os.path.join(PLUGINS, path), encoding="utf-8") as handle:
        return handle.read()


def _files():
    for folder, _dirs, names in os.walk(PLUGINS):
        for name in sorted(names):
            if name.endswith(".py") and name != "__init__.py":
                yield os.path.relpath(os.path.join(folder, name), PLUGINS)


def _layer(path):
    parts = path.split(os.sep)
    if parts[0] == "module_utils" and len(parts) > 2:
        return parts[1]
    return parts[0] if parts[0] in LAYERS else None


def _imports(path, known):
    """The plugins/ files that ``path`` imports (``from pkg import module`` names the module)."""
    tree = ast.parse(_source(path))
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(PACKAGE):
            continue
        base = node.module[len(PACKAGE) + 1:].replace(".", os.sep)
        for alias in node.names:
            for candidate in (os.path.join(base, alias.name) + ".py", base + ".py"):
                if candidate in known:
                    found.add(candidate)
                    break
    return found


def _cycle(graph):
    """One file-level import cycle as a list of files, or None (depth-first search)."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def _functions(path):
    tree = ast.parse(_source(path))

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    yield child.end_lineno - child.lineno + 1, "%s:%s" % (path, name)
                yield from walk(child, name + ".")

    return list(walk(tree, ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=10)
    top = parser.parse_args().top
    files = sorted(_files())
    graph = {path: _imports(path, set(files)) for path in files}
    edges = collections.Counter(
        (_layer(src), _layer(dst)) for src, dsts in graph.items() for dst in dsts
        if _layer(src) and _layer(dst))
    print("imports between layers (importing file, imported file) pairs; rows import columns")
    print("%-14s" % "" + "".join("%14s" % layer for layer in LAYERS))
    for src in LAYERS:
        print("%-14s" % src + "".join("%14s" % (edges[(src, dst)] or ".") for dst in LAYERS))
    cycle = _cycle(graph)
    print("file-level cycle: %s" % (" -> ".join(cycle) if cycle else "none"))
    sizes = sorted(((len(_source(p).splitlines()), p) for p in files),
                   reverse=True)
    print("\n%d largest files (lines)" % top)
    for lines, path in sizes[:top]:
        print("%6d  %s" % (lines, path))
    functions = sorted((f for path in files for f in _functions(path)), reverse=True)
    print("\n%d longest functions (lines)" % top)
    for lines, name in functions[:top]:
        print("%6d  %s" % (lines, name))
    return 1 if cycle else 0


if __name__ == "__main__":
    sys.exit(main())

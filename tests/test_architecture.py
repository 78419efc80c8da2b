"""The package's shape, as docs/architecture.md draws it: no import cycle anywhere (a module
that imports its caller is one a reader has to hold in mind), and stage packages whose files
do not repeat the package's name. The layer contracts are import-linter's (`make lint`)."""

from __future__ import annotations

from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[1] / "scripts" / "mmeops"
STAGES = ("extract", "tune", "register", "deploy", "monitor", "config", "stack", "demo", "cli")


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_its_caller_type_checking_imports_included():
    graph = grimp.build_graph("mmeops", exclude_type_checking_imports=False)
    assert _cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle():
    # The test above must be able to fail: a graph with a two-module cycle is reported.
    graph = grimp.ImportGraph()
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.b", imported="p.c")
    assert _cycles(graph) == [["p.a", "p.b"]]


def test_no_file_in_a_stage_package_repeats_the_package_name():
    offenders = [
        f"{stage}/{f.name}"
        for stage in STAGES
        for f in (PACKAGE / stage).glob("*.py")
        if f.name.startswith(f"{stage}_")
    ]
    assert offenders == []

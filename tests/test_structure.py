"""The package structure: the import graph of ``schedules``, ``relay_passes`` and ``tvm_sepnet`` has no
loops, and every import goes down the layers (docs/design.md): the search (``tvm_sepnet.autotune``)
sits above the builder and nothing below it imports it; ``schedules`` imports nothing of the project.

Every import statement counts, at module level or inside a function (only ``if TYPE_CHECKING:`` blocks,
which never run, are skipped), and importing ``a.b.c`` counts as importing the packages ``a.b`` too
(their ``__init__`` runs first).
"""
from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("schedules", "relay_passes", "tvm_sepnet")

#: low -> high: a module imports from its own layer or a lower one (longest prefix decides the layer)
LAYERS = [
    ["schedules"],
    ["tvm_sepnet.errors", "tvm_sepnet.system_tools", "tvm_sepnet.optional_deps", "tvm_sepnet.artifact_files",
     "tvm_sepnet.progress", "tvm_sepnet.figures"],
    ["tvm_sepnet.targets"],
    ["tvm_sepnet.ops", "tvm_sepnet.batching", "tvm_sepnet.models", "tvm_sepnet.fpga.isa", "tvm_sepnet.fpga.simulator",
     "tvm_sepnet.fpga.compiler", "tvm_sepnet.fpga.runtime", "tvm_sepnet.fpga.rtl", "tvm_sepnet.fpga.cosim"],
    ["tvm_sepnet.reference", "tvm_sepnet.reference_ops", "tvm_sepnet.graph_export", "tvm_sepnet.calibrate",
     "tvm_sepnet.layer_precision",
     "tvm_sepnet.frontend", "tvm_sepnet.verify"],
    ["relay_passes"],
    ["tvm_sepnet.tuning"],
    ["tvm_sepnet.report", "tvm_sepnet.artifact", "tvm_sepnet.fpga.report", "tvm_sepnet.fpga"],
    ["tvm_sepnet.builder"],
    ["tvm_sepnet.device", "tvm_sepnet.profiling", "tvm_sepnet.fpga.rpc_server"],
    ["tvm_sepnet.autotune"],
    ["tvm_sepnet.bench", "tvm_sepnet.train", "tvm_sepnet.cli", "tvm_sepnet.__main__"],
]
#: package __init__ modules that import nothing of the project (the root's API is lazy): layer 0, since
#: importing any module of theirs runs them first
IMPORT_FREE_INITS = ("tvm_sepnet", "tvm_sepnet.fpga")


def _modules() -> dict[str, str]:
    out = {}
    for pkg in PACKAGES:
        for dirpath, _, files in os.walk(os.path.join(ROOT, pkg)):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].replace(os.sep, ".")
                    out[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(dirpath, f)
    return out


def _imports(tree) -> list:
    """Import nodes of a module, except those under ``if TYPE_CHECKING:``."""
    found = []

    def visit(node):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (with their parent packages)."""
    mods = _modules()
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.endswith("__init__.py")
        base = mod if is_pkg else mod.rsplit(".", 1)[0]
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                origin = node.module or ""
                if node.level:
                    parts = base.split(".")
                    origin = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in mods else origin for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rsplit(".", 1)[0] if "." in t else ""
                parts = t.split(".") if t else []
                for i in range(1, len(parts) + 1):  # the target and the packages whose __init__ runs first
                    dep = ".".join(parts[:i])
                    if dep in mods and dep != mod and not mod.startswith(dep + "."):
                        graph[mod].add(dep)
    return graph


def import_loops(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, loops, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                loops.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return loops


def layer_of(module: str) -> int:
    if module in IMPORT_FREE_INITS:
        return 0
    best, layer = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, layer = len(p), i
    assert layer is not None, f"{module} is in no layer of tests/test_structure.py LAYERS"
    return layer


def test_no_import_loops():
    loops = import_loops(import_graph())
    assert loops == [], f"{len(loops)} import loop(s): {loops}"


def test_imports_go_down_the_layers():
    upward = sorted(f"{m} -> {d}" for m, deps in import_graph().items() for d in deps if layer_of(d) > layer_of(m))
    assert upward == [], "imports from a lower layer up to a higher one:\n" + "\n".join(upward)


@pytest.mark.parametrize("below", ["schedules", "relay_passes", "tvm_sepnet.tuning", "tvm_sepnet.builder",
                                   "tvm_sepnet.artifact", "tvm_sepnet.device"])
def test_nothing_below_the_search_imports_it(below):
    graph = import_graph()
    bad = [f"{m} -> {d}" for m, deps in graph.items() if m == below or m.startswith(below + ".")
           for d in deps if d == "tvm_sepnet.autotune" or d.startswith("tvm_sepnet.autotune.")]
    assert bad == []


def test_import_free_inits_import_nothing_of_the_project():
    graph = import_graph()
    assert {m: sorted(graph[m]) for m in IMPORT_FREE_INITS if graph[m]} == {}


def test_schedules_import_nothing_of_the_project():
    graph = import_graph()
    bad = [f"{m} -> {d}" for m, deps in graph.items() if m.startswith("schedules") for d in deps
           if not d.startswith("schedules")]
    assert bad == []


def test_the_checker_sees_loops_and_upward_imports():
    """The test's own machinery on a made-up graph: a loop and an upward edge are found."""
    graph = {"schedules.a": {"tvm_sepnet.builder"}, "tvm_sepnet.builder": {"schedules.a"}, "tvm_sepnet.cli": set()}
    assert import_loops(graph) == [["schedules.a", "tvm_sepnet.builder"]]
    assert layer_of("tvm_sepnet.builder") > layer_of("schedules.a")
    assert layer_of("tvm_sepnet.autotune.tuner") > layer_of("tvm_sepnet.builder") > layer_of("tvm_sepnet.tuning.records")


def test_no_module_shadows_the_standard_library():
    """Scripts run by path (``tvm_sepnet/bench/torch_export.py`` under another interpreter) put their own
    directory first on ``sys.path``: a sibling named like a standard module (``profile.py``) then replaces
    it for everything the script imports (torch imports ``cProfile``, which imports ``profile``)."""
    import sys

    shadowing = []
    for package in PACKAGES:
        for dirpath, _, files in os.walk(os.path.join(ROOT, package)):
            shadowing += [os.path.join(dirpath, f) for f in files
                          if f.endswith(".py") and f[:-3] in sys.stdlib_module_names]
    assert shadowing == []

"""No import cycles between latentlab's modules (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import latentlab

PACKAGE = Path(latentlab.__file__).parent

#: Known cycles (lazy imports inside functions), each to be removed by its owner; the test fails on any other.
#: - regions: BaseRegion.name looks its name up in the registry that lists every region, and FragmentRegion
#:   builds its base region through that registry.
KNOWN = [
    ["latentlab.regions._base", "latentlab.regions._clusters", "latentlab.regions._density",
     "latentlab.regions._ellipsoid", "latentlab.regions._flow", "latentlab.regions._flow_matching",
     "latentlab.regions._fragment",
     "latentlab.regions._registry", "latentlab.regions._simple"],
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                # the deepest latentlab module the import names (a name imported from a module is not one)
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_real_imports():
    graph = _import_graph()
    assert "latentlab.store._reader" in graph["latentlab.store"]
    assert "latentlab.analysis._streaming" in graph["latentlab.analysis._pca"]


def test_no_import_cycles():
    assert [c for c in _cycles(_import_graph()) if c not in KNOWN] == []

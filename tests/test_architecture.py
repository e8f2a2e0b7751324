"""The architecture, checked over the source (issue 18): the library never imports the CLI,
and nothing imports in a circle, neither module to module nor part to part.

Every module under siem_pack/ is parsed with `ast`; every import counts, wherever it is
written (at module level, inside functions and methods), relative ones resolved. Two graphs:

- modules: `import a.b.c` also runs the packages `a` and `a.b`, so it depends on them too,
  except on the importer's own packages. Those are initialised before the importer runs, and
  a submodule that reads names from its package says so with its own explicit import
  (`from . import NAME`), which counts. So a package `__init__` that re-exports its own
  submodules is no cycle; a submodule importing its package's names back is one.
- parts: the package's top-level modules and subpackages (`siem_pack.ingest`,
  `siem_pack.doctor`, ...), one node each. A cycle here is a layering fault even when no
  single module closes the circle (a.x → b → a.y).

Imports that never run do not count toward cycles: those under `if TYPE_CHECKING:` (they
only name types) and under `if __name__ == "__main__":` (they run when the file is a
script, as module `__main__`). They do count for the CLI rule: no library module names the
CLI at all. A dynamic import (`importlib.import_module`) would hide an edge from both graphs,
so the library has none; the CLI, which nothing imports, may load its command modules so.

A failure names each module, line and import. Cycles through files another change owns
right now are listed in KNOWN_CYCLES, edge by edge, with the reason: a new edge inside any
cycle fails, and so does a listed edge that no longer closes one (delete it from the list).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, NamedTuple

import pytest

SOURCE_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "siem_pack"
CLI = "siem_pack.cli"

# Modules outside the CLI that may import it, and why.
CLI_IMPORTERS = {"siem_pack.__main__": "the entry point: `python -m siem_pack` runs the CLI"}
# Packages that may load modules by name at run time (nothing imports them, so their hidden
# edges cannot close a cycle).
DYNAMIC_IMPORTERS = {CLI: "loads its command modules (COMMAND_MODULES) by name"}

Graph = Literal["modules", "parts"]
Edge = tuple[str, str]


class KnownCycle(NamedTuple):
    graph: Graph
    edges: tuple[Edge, ...]  # every edge of the graph inside this strongly connected component
    reason: str


# Cycles that run through files other changes own right now (issue 18 could not edit them).
# Fix them there, then delete the entry: the test fails on a listed edge that closes no cycle.
# Empty: the last one (siem_pack.ingest spanning layers on both sides of doctor and templates)
# closed when the ingest job moved out of the package, to siem_pack.ingest_job.
KNOWN_CYCLES: tuple[KnownCycle, ...] = ()


# -- reading the source ------------------------------------------------------------------------
@dataclass(frozen=True)
class Import:
    importer: str  # the module the import is written in
    file: str  # its file, relative to the source root
    target: str  # the module it names (the longest prefix that is a module of the package)
    line: int
    text: str  # the statement as written, for messages
    runs: bool  # False under `if TYPE_CHECKING:` or `if __name__ == "__main__":`

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """Module name → file, for every .py file of `package` under `root`."""
    out: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


@cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _never_runs(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` / `if typing.TYPE_CHECKING:` / `if __name__ == "__main__":`."""
    if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
        return True
    if isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING":
        return True
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def _import_nodes(nodes: Iterable[ast.AST], runs: bool = True) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, runs
        elif isinstance(node, ast.If) and _never_runs(node.test):
            yield from _import_nodes(node.body, False)
            yield from _import_nodes(node.orelse, runs)
        else:
            yield from _import_nodes(ast.iter_child_nodes(node), runs)


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def read_imports(root: Path, modules: Mapping[str, Path], package: str) -> list[Import]:
    """Every import of a module of `package`, in every module, resolved to a module name."""
    out: list[Import] = []
    for module, path in modules.items():
        file = path.relative_to(root).as_posix()
        for node, runs in _import_nodes([parse(path)]):
            text = ast.unparse(node)
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                if node.level:
                    base = module.split(".") if is_package(path) else module.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    prefix = ".".join([*base, node.module] if node.module else base)
                else:
                    prefix = node.module or ""
                for alias in node.names:  # `from a import b`: module a.b when there is one, else a
                    sub = f"{prefix}.{alias.name}"
                    names.append(sub if alias.name != "*" and sub in modules else prefix)
            for name in names:
                if name != package and not name.startswith(package + "."):
                    continue
                target = _known(name, modules)
                if target is not None and target != module:
                    out.append(Import(module, file, target, node.lineno, text, runs))
    return out


def ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def module_graph(imports: Iterable[Import]) -> dict[Edge, list[Import]]:
    """(importer, module) → the imports that make the edge; the packages of an imported module
    are edges too, except the importer's own packages (see the module docstring)."""
    edges: dict[Edge, list[Import]] = {}
    for imp in imports:
        if not imp.runs:
            continue
        own = set(ancestors(imp.importer))
        for target in [imp.target, *(a for a in ancestors(imp.target) if a not in own)]:
            if target != imp.importer and imp not in edges.setdefault((imp.importer, target), []):
                edges[(imp.importer, target)].append(imp)
    return edges


def part_of(module: str) -> str:
    """siem_pack.ingest.reader → siem_pack.ingest; siem_pack.doctor → siem_pack.doctor."""
    return ".".join(module.split(".")[:2])


def part_graph(modules: Mapping[Edge, list[Import]]) -> dict[Edge, list[Import]]:
    edges: dict[Edge, list[Import]] = {}
    for (a, b), imps in modules.items():
        if part_of(a) != part_of(b):
            seen = edges.setdefault((part_of(a), part_of(b)), [])
            seen += [imp for imp in imps if imp not in seen]
    return edges


def strongly_connected(edges: Iterable[Edge]) -> list[list[str]]:
    """Components of more than one node (Tarjan's algorithm, iterative), each sorted."""
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(succ):
        if root in index:
            continue
        work = [(root, iter(sorted(succ[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(succ[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found)


def cycle_problems(graph: Graph, edges: Mapping[Edge, list[Import]],
                   known: Iterable[KnownCycle] = KNOWN_CYCLES) -> list[str]:
    """Each cycle with an edge KNOWN_CYCLES does not list, and each listed edge no longer in a cycle."""
    allowed = {e for k in known if k.graph == graph for e in k.edges}
    problems: list[str] = []
    in_cycles: set[Edge] = set()
    for comp in strongly_connected(edges):
        members = set(comp)
        inside = sorted(e for e in edges if e[0] in members and e[1] in members)
        in_cycles.update(inside)
        new = [e for e in inside if e not in allowed]
        if new:
            lines = [f"import cycle among {graph} {', '.join(comp)}:"]
            for a, b in inside:
                lines.append(f"  {a} -> {b}{'' if (a, b) in new else '  (known)'}")
                lines += [f"      {imp.where}" for imp in edges[(a, b)]]
            problems.append("\n".join(lines))
    for a, b in sorted(allowed - in_cycles):
        problems.append(f"{graph} edge {a} -> {b} is in KNOWN_CYCLES but closes no cycle any more: delete it")
    return problems


MODULES = find_modules(SOURCE_ROOT, PACKAGE)
IMPORTS = read_imports(SOURCE_ROOT, MODULES, PACKAGE)
MODULE_EDGES = module_graph(IMPORTS)
PART_EDGES = part_graph(MODULE_EDGES)


# -- the rules ---------------------------------------------------------------------------------
def test_no_library_module_imports_the_cli() -> None:
    offenders = [imp.where for imp in IMPORTS
                 if part_of(imp.target) == CLI and part_of(imp.importer) != CLI and imp.importer not in CLI_IMPORTERS]
    assert not offenders, "the library must not import the CLI (siem_pack.cli):\n" + "\n".join(offenders)


def test_the_allowed_cli_importers_exist() -> None:
    for module in CLI_IMPORTERS:
        assert module in MODULES, f"{module} is in CLI_IMPORTERS but is no module: delete it"


def test_no_dynamic_imports_in_the_library() -> None:
    offenders = []
    for module, path in MODULES.items():
        if part_of(module) in DYNAMIC_IMPORTERS:
            continue
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
                if name in ("import_module", "__import__"):
                    offenders.append(f"{path.relative_to(SOURCE_ROOT).as_posix()}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, ("a dynamic import hides a dependency from the import graph; import the module "
                           "(and list plugins in a registry dict):\n" + "\n".join(offenders))


@pytest.mark.parametrize("graph", ["modules", "parts"])
def test_no_import_cycles(graph: Graph) -> None:
    problems = cycle_problems(graph, MODULE_EDGES if graph == "modules" else PART_EDGES)
    assert not problems, "\n\n".join(problems)


def test_every_known_cycle_says_why() -> None:
    for known in KNOWN_CYCLES:
        assert known.reason.strip() and known.edges, known


# -- the checker itself, on a package written for the test ----------------------------------
def _package(root: Path, files: dict[str, str]) -> dict[Edge, list[Import]]:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    modules = find_modules(root, "pkg")
    return module_graph(read_imports(root, modules, "pkg"))


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    edges = _package(tmp_path, {
        "pkg/__init__.py": "from .a import x\n",
        "pkg/a.py": "def f():\n    from .sub import b\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def g():\n    from ..a import f\n",
        "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import d\n",
        "pkg/d.py": "import pkg.c\nif __name__ == '__main__':\n    from pkg import a\n",
    })
    assert ("pkg.a", "pkg.sub.b") in edges and ("pkg.a", "pkg.sub") in edges  # the package runs too
    assert ("pkg.sub.b", "pkg.a") in edges
    assert ("pkg.sub.b", "pkg.sub") not in edges  # its own package: initialised first
    assert ("pkg.a", "pkg") not in edges and ("pkg", "pkg.a") in edges  # __init__ re-exporting: no cycle
    assert ("pkg.c", "pkg.d") not in edges and ("pkg.d", "pkg.a") not in edges  # never run
    assert strongly_connected(edges) == [["pkg.a", "pkg.sub.b"]]
    (problem,) = cycle_problems("modules", edges, known=())
    assert "pkg/sub/b.py:2: from ..a import f" in problem and "pkg/a.py:2: from .sub import b" in problem


def test_a_submodule_importing_its_package_names_is_a_cycle(tmp_path: Path) -> None:
    edges = _package(tmp_path, {"pkg/__init__.py": "from .a import x\nY = 1\n", "pkg/a.py": "from . import Y\n"})
    assert strongly_connected(edges) == [["pkg", "pkg.a"]]


def test_known_cycles_allow_their_edges_only(tmp_path: Path) -> None:
    edges = _package(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "from . import b\n", "pkg/b.py": "from . import a\n",
                                "pkg/c.py": "from . import a\n"})
    known = (KnownCycle("modules", (("pkg.a", "pkg.b"), ("pkg.b", "pkg.a")), "test"),)
    assert cycle_problems("modules", edges, known) == []
    edges[("pkg.a", "pkg.c")] = []
    (problem,) = cycle_problems("modules", edges, known)
    assert "pkg.a -> pkg.c" in problem and "pkg.a -> pkg.b  (known)" in problem
    stale = (*known, KnownCycle("modules", (("pkg.c", "pkg.a"),), "test"))
    assert any("closes no cycle any more" in p for p in cycle_problems("modules", {}, stale))

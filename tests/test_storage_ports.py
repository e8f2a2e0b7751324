"""Every stage reads and writes its store through siem_pack.backends (issue 18.2): no module
outside that package searches, pages, bulk-writes, counts on a cluster or opens a DuckDB file
itself, and no index name is spelled out outside siem_pack.backends.indices.

The check parses each module with `ast`. A cluster call is an attribute call named like an
Elasticsearch search, bulk or paging API that passes one of that API's keyword arguments
(so `re.search(p, s)` and `text.count("x")` are not), any use of `elasticsearch.helpers`,
or `duckdb.connect`. A failure names the module, line and call.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import siem_pack
from siem_pack.backends.indices import EVENTS_PATTERN, EVENTS_TARGET, declared

PACKAGE = Path(siem_pack.__file__).parent
PORTS = PACKAGE / "backends"

CLUSTER_CALLS = {"search", "msearch", "bulk", "count", "scroll", "clear_scroll", "open_point_in_time",
                 "close_point_in_time", "streaming_bulk", "parallel_bulk", "scan", "reindex"}
CLUSTER_KEYWORDS = {"index", "query", "aggs", "operations", "searches", "body", "scroll_id", "size", "sort",
                    "keep_alive", "pit", "id", "actions", "chunk_size"}
INDEX_NAMES = declared() | {EVENTS_PATTERN, EVENTS_TARGET}


def _modules(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if PORTS not in path.parents:
            yield path


def direct_store_calls(path: Path) -> list[str]:
    """`file:line: what` for each direct cluster or DuckDB call in the module at `path`."""
    tree = ast.parse(path.read_text(), str(path))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("elasticsearch"):
            if node.module == "elasticsearch.helpers" or any(a.name == "helpers" for a in node.names):
                out.append(f"{path.name}:{node.lineno}: imports elasticsearch.helpers")
        elif isinstance(node, ast.Import) and any(a.name == "elasticsearch.helpers" for a in node.names):
            out.append(f"{path.name}:{node.lineno}: imports elasticsearch.helpers")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            receiver = ast.unparse(node.func.value)
            if attr == "connect" and receiver == "duckdb":
                out.append(f"{path.name}:{node.lineno}: duckdb.connect")
            elif attr in CLUSTER_CALLS and any(k.arg in CLUSTER_KEYWORDS for k in node.keywords):
                out.append(f"{path.name}:{node.lineno}: {receiver}.{attr}(...)")
    return out


def spelled_index_names(path: Path) -> list[str]:
    """`file:line: name` for each string constant (not a docstring) that is one of our index
    names (schema/indices) or the events' pattern or target."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [f"{path.name}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
            and n.value in INDEX_NAMES]


def test_no_stage_calls_a_store_directly() -> None:
    found = [f"{p.relative_to(PACKAGE)}: {c}" for p in _modules(PACKAGE) for c in direct_store_calls(p)]
    assert not found, "read and write through siem_pack.backends instead:\n" + "\n".join(found)


def test_index_names_live_in_one_module() -> None:
    found = [f"{p.relative_to(PACKAGE)}: {c}" for p in _modules(PACKAGE) for c in spelled_index_names(p)]
    assert not found, "name indices through siem_pack.backends.indices:\n" + "\n".join(found)


def test_the_checks_see_what_they_forbid(tmp_path: Path) -> None:
    bad = tmp_path / "stage.py"
    bad.write_text(
        '"""logs-siem_pack.* in a docstring is fine."""\n'
        "import re\nimport duckdb\nfrom elasticsearch import helpers\n"
        "def f(client, text):\n"
        "    re.search('x', text)\n"
        "    text.count('x')\n"
        "    client.options(ignore_status=[404]).search(index='i', query={})\n"
        "    client.bulk(operations=[])\n"
        "    duckdb.connect('x.duckdb')\n"
        "    return 'siem-pack-alerts'\n")
    calls = direct_store_calls(bad)
    assert calls == ["stage.py:4: imports elasticsearch.helpers",
                     "stage.py:8: client.options(ignore_status=[404]).search(...)",
                     "stage.py:9: client.bulk(...)", "stage.py:10: duckdb.connect"]
    assert spelled_index_names(bad) == ["stage.py:11: 'siem-pack-alerts'"]


def test_every_declared_index_has_its_constant() -> None:
    from siem_pack.backends import indices

    constants = {v for k, v in vars(indices).items() if k.endswith("_INDEX")}
    assert constants == set(declared()), "schema/indices and siem_pack.backends.indices disagree"

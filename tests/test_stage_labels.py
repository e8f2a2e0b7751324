"""Stage labels agree with docs/architecture.md (issue 18.7): the table there names each
stage's label (`Stage 3`, `Cross-cutting (integrity)`, ...) and the packages and modules that
belong to it; every module of a listed package, and every listed module, names one of its
row's labels in its docstring, and none names another row's. A module moved to another
stage, or a row that lists a module that no longer exists, fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import siem_pack

PACKAGE = Path(siem_pack.__file__).parent
DOC = PACKAGE.parent / "docs" / "architecture.md"
LABEL = re.compile(r"Stage \d(?: → \d)?|Cross-cutting \([a-z]+\)")


def rows(text: str) -> list[tuple[frozenset[str], list[str]]]:
    """(labels, library names) of each row of the stage table."""
    out = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        labels = frozenset(x for x in re.findall(r"`([^`]+)`", cells[0]) if LABEL.fullmatch(x))
        if labels:
            out.append((labels, re.findall(r"`([^`]+)`", cells[2])))
    return out


def modules_of(name: str, root: Path = PACKAGE) -> list[Path]:
    """The modules a table name stands for: a package (`detect/`) or a module (`run.py`)
    directly under siem_pack/; other names (classes, functions, inner files) stand for none."""
    path = root / name.rstrip("/")
    if name.endswith("/") and (path / "__init__.py").is_file():
        return sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    return [path] if name.endswith(".py") and path.is_file() else []


def label_of(path: Path) -> str | None:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    m = LABEL.search(doc)
    return m.group(0) if m else None


def problems(text: str, root: Path = PACKAGE) -> list[str]:
    out: list[str] = []
    for labels, names in rows(text):
        listed = [n for n in names if n.endswith(("/", ".py"))]
        for name in listed:
            found = modules_of(name, root)
            if not found and not any(root.rglob(name.rstrip("/"))):  # inner names: anywhere below
                out.append(f"the table lists {name}, which siem_pack/ does not have")
            for path in found:
                got = label_of(path)
                if got not in labels:
                    out.append(f"{path.relative_to(root)}: labelled {got or 'nothing'}, its row says "
                               f"{' or '.join(sorted(labels))}")
    return out


def test_module_labels_match_the_architecture_table() -> None:
    text = DOC.read_text()
    assert len(rows(text)) >= 10, "the stage table of docs/architecture.md was not found"
    found = problems(text)
    assert not found, "docs/architecture.md and the docstrings disagree:\n" + "\n".join(found)


def test_every_library_package_has_a_row() -> None:
    listed = {n.rstrip("/") for _, names in rows(DOC.read_text()) for n in names}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} - {"cli"}
    modules = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert packages | modules <= listed, f"not in the table: {sorted((packages | modules) - listed)}"


def test_the_check_sees_a_wrong_label(tmp_path: Path) -> None:
    (tmp_path / "detect").mkdir()
    (tmp_path / "detect" / "__init__.py").write_text('"""Stage 3: detections."""\n')
    (tmp_path / "detect" / "x.py").write_text('"""Stage 5: wrongly labelled."""\n')
    (tmp_path / "run.py").write_text('"""No label at all."""\n')
    table = ("| label | data | library | commands |\n| --- | --- | --- | --- |\n"
             "| `Stage 3` detections | | `detect/`, `gone.py` | |\n| `Cross-cutting (drills)` | | `run.py` | |\n")
    assert problems(table, tmp_path) == [
        "detect/x.py: labelled Stage 5, its row says Stage 3",
        "the table lists gone.py, which siem_pack/ does not have",
        "run.py: labelled nothing, its row says Cross-cutting (drills)"]

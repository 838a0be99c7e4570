"""The module map stays true: imports run one way (no circles, the layer rules of pyproject's
``[tool.importlinter]``), and every module and function ``docs/architecture.md`` names exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
#: a table row naming a module and what in it does the step: | ... | `src/code2asin/x.py` | `name` ... |
MODULE_CELL = re.compile(r"`((?:src/code2asin|benchmarks|tests)/[\w/]+\.py)`\s*\|\s*([^|]*)\|")
NAME = re.compile(r"`([A-Za-z_][\w.]*)`")


def import_circles() -> list[list[str]]:
    """Every pair of modules that reach each other through imports (function-level ones included)."""
    graph = grimp.build_graph("code2asin")
    circles: set[tuple[str, ...]] = set()
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                circles.add(tuple(sorted({module, *back})))
    return [list(c) for c in sorted(circles)]


def test_no_module_imports_itself_back_through_another() -> None:
    assert import_circles() == []


def test_the_layer_rules_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def named_in_doc() -> list[tuple[str, list[str]]]:
    found = [
        (path, NAME.findall(cell)) for path, cell in MODULE_CELL.findall(DOC.read_text(encoding="utf-8"))
    ]
    assert len(found) >= 15, "docs/architecture.md names fewer modules than its tables should"
    return found


def test_every_module_and_function_the_architecture_document_names_exists() -> None:
    missing = []
    for path, names in named_in_doc():
        source = ROOT / path
        if not source.is_file():
            missing.append(path)
            continue
        text = source.read_text(encoding="utf-8")
        for name in names:
            for part in name.split("."):
                if not re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(part)}\b", text, re.M):
                    missing.append(f"{path}: {name}")
                    break
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"

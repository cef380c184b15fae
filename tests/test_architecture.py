"""The layering, checked on the source: engine imports no Qt, training, export or app; export imports engine only
(never app or training); training never imports app or export. An import inside a function counts too: a lazy
import is still a dependency, and a circle through one still fails at some call."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package folder → import prefixes its modules must never use
FORBIDDEN = {
    "engine": ("reenact.export", "reenact.app", "reenact.training", "PyQt6", "PyQt5"),
    "export": ("reenact.app", "reenact.training", "PyQt6"),
    "training": ("reenact.app", "reenact.export", "PyQt6"),
}


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _violations(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, name in imports(path):
            if any(name == p or name.startswith(p + ".") for p in FORBIDDEN[package]):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_downwards(package: str) -> None:
    assert _violations(package) == []


def test_the_check_sees_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from reenact.export.cache import cached_onnx\n    return cached_onnx\n")
    assert imports(module) == [(2, "reenact.export.cache")]


def test_no_training_state_inside_the_packages() -> None:
    """Resumable state (weights, optimizer, history) lives in the git-ignored runs/ folder of a run in progress;
    the packages hold only the shipped weights (assets/weights)."""
    packages = ("app", "engine", "export", "training", "assets", "config")
    found = [str(p.relative_to(ROOT)) for pkg in packages for p in (ROOT / pkg).rglob("*")
             if p.suffix in (".pt", ".pth", ".ckpt", ".jsonl") and p.parent != ROOT / "assets" / "weights"]
    assert found == []
    assert "runs/" in (ROOT / ".gitignore").read_text().split()

"""The shape of the code is part of the contract: the engine stays framework-free."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = {"faust", "kafka", "aiokafka", "redis", "prometheus_client", "mode"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_engine_and_schemas_import_no_framework():
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & FRAMEWORKS)
        for folder in ("stream", "schemas")
        for path in (ROOT / folder).rglob("*.py")
        if imported_modules(path) & FRAMEWORKS
    }
    assert offenders == {}


def test_engine_does_not_reach_into_the_edges():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "stream").rglob("*.py")
        if imported_modules(path) & {"agents"}
    ]
    assert offenders == []

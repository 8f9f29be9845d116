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


def faust_privates(path: Path) -> set[str]:
    """Names with a leading underscore taken from Faust or mode modules, and `_`-attributes read
    or set on the app, its consumer, producer, monitor or flow control."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names
                      if alias.name.split(".")[0] in {"faust", "mode"} and "._" in alias.name}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"faust", "mode"}:
            found |= {f"{node.module}.{alias.name}" for alias in node.names if alias.name.startswith("_")}
            if any(part.startswith("_") for part in node.module.split(".")):
                found.add(node.module)
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Attribute) and owner.attr in {"consumer", "producer", "monitor", "flow_control"}:
                found.add(f"{owner.attr}.{node.attr}")
    return found


def test_faust_privates_are_touched_only_in_the_compat_folder():
    compat = ROOT / "agents" / "faust_compat"
    offenders = {
        str(path.relative_to(ROOT)): sorted(faust_privates(path))
        for path in (ROOT / "agents").rglob("*.py")
        if compat not in path.parents and faust_privates(path)
    }
    assert offenders == {}


def test_the_live_serving_path_does_not_import_the_offline_backtest():
    offenders = [
        str(path.relative_to(ROOT))
        for path in [ROOT / "agents" / "app.py", *(ROOT / "agents" / "serving").rglob("*.py")]
        if "stream.backtest" in path.read_text()
    ]
    assert offenders == []

"""Imports run one way (DESIGN.md, Layers): wiring -> classes_app -> registry_app ->
containers_app -> rules and models in dashboard -> plain specs and records. Walks every
module's imports with ast."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("dashboard", "containers_app", "registry_app", "classes_app")

# The top: the project's wiring and the pages that are not an app's own.
WIRING = {
    "dashboard.settings",
    "dashboard.urls",
    "dashboard.asgi",
    "dashboard.routing",
    "dashboard.views",
    "dashboard.user_views",
    "dashboard.audit_views",
    "dashboard.oidc_views",
    "dashboard.api",
    "dashboard.middleware",
    "dashboard.context_processors",
    "dashboard.admin",
    "dashboard.management",
}
# The bottom: plain data and settings helpers, importing nothing of the project.
PLAIN = {"dashboard.specs", "dashboard.records", "dashboard.refusals", "dashboard.envconf"}
RANK = {
    "wiring": 5,
    "classes_app": 4,
    "registry_app": 3,
    "containers_app": 2,
    "rules": 1,
    "plain": 0,
}


def layer_of(module: str) -> str:
    if any(module == w or module.startswith(w + ".") for w in WIRING):
        return "wiring"
    if module in PLAIN:
        return "plain"
    package = module.split(".")[0]
    return "rules" if package == "dashboard" else package


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(p for p in parts if p != "__init__")
            found[name] = path
    return found


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every project module `path` imports (at any depth in the file), with its line."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] in PACKAGES:
                found.append((node.lineno, name))
    return found


def wrong_way_arrows() -> list[str]:
    modules = project_modules()
    wrong = []
    for name, path in sorted(modules.items()):
        src = layer_of(name)
        for line, imported in imports_of(path):
            target = imported
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target not in modules or target == name:
                continue
            dst = layer_of(target)
            if RANK[dst] > RANK[src]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({src}) imports {target} ({dst})")
    return sorted(set(wrong))


def test_imports_only_go_down_the_layers() -> None:
    assert wrong_way_arrows() == []


def test_the_walk_sees_a_wrong_arrow(tmp_path: Path) -> None:
    # The walk itself must be able to fail: a rule importing the engine is caught.
    path = tmp_path / "rule.py"
    path.write_text("from containers_app import engine\n")
    assert (1, "containers_app") in imports_of(path)
    assert RANK[layer_of("containers_app.engine")] > RANK[layer_of("dashboard.policy")]


def test_rules_import_no_engine_and_no_docker() -> None:
    for name in ("dashboard.policy", "dashboard.quotas", "dashboard.access"):
        path = project_modules()[name]
        imported = {n for _, n in imports_of(path)}
        assert not any(n.startswith("containers_app") for n in imported), name
        assert "import docker" not in path.read_text(), name

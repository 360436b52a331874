"""Docker's JSON is read in one place (DESIGN.md, How data flows): containers_app/translate.py,
and the engine package that receives it. Walks every module with ast for a read of an inspect
section (`x["HostConfig"]`, `x.get("State")`, ...)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.unit.test_import_direction import ROOT, project_modules

SECTIONS = {"HostConfig", "Config", "NetworkSettings", "State"}
READERS = {"containers_app.translate"}  # and containers_app.engine.*, the engine's client side
# /proc/<pid>/status has a "State:" line too: kernel.py reads that, not Docker's.
NOT_DOCKER_JSON = {"containers_app.kernel"}


def section_reads(path: Path) -> list[tuple[int, str]]:
    """Each line of `path` that subscripts or `.get()`s one of Docker's inspect sections."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            key = node.args[0].value
        if key in SECTIONS:
            found.append((node.lineno, str(key)))
    return found


def modules_reading_sections() -> dict[str, list[str]]:
    reading = {}
    for name, path in sorted(project_modules().items()):
        if name in READERS | NOT_DOCKER_JSON or name.startswith("containers_app.engine"):
            continue
        reads = section_reads(path)
        if reads:
            where = path.relative_to(ROOT)
            reading[name] = [f"{where}:{line} reads {key}" for line, key in reads]
    return reading


def test_only_translate_and_the_engine_read_dockers_json() -> None:
    assert modules_reading_sections() == {}


def test_the_walk_sees_a_read(tmp_path: Path) -> None:
    path = tmp_path / "page.py"
    path.write_text(
        'limits = attrs["HostConfig"]\n'
        'pid = (attrs.get("State") or {}).get("Pid")\n'
        'hostname = attrs.get("Hostname")\n'
    )
    assert section_reads(path) == [(1, "HostConfig"), (2, "State")]

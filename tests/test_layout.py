"""The library's layout: a lecture's code is found by its name, ruff lays it out, the
imports run one way (topic modules never import checks or course), and the README's module
table lists every module."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "dgm"
MODULES = sorted(p for p in LIB.rglob("*.py") if p.name != "__main__.py")
LECTURES = ["em", "wake_sleep", "vae", "gan", "unified", "energy", "mcmc", "pixelcnn", "diffusion"]


def dotted(path: Path) -> str:
    parts = path.relative_to(LIB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The ``dgm`` modules that ``path`` imports (relative or absolute, at any depth)."""
    here = dotted(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if module else alias.name)
                found.add(module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    known = {dotted(p) for p in MODULES}
    return {m for m in found if m in known and m != dotted(path)}


GRAPH = {dotted(p): imports(p) for p in MODULES}


def test_each_lecture_has_its_module_and_its_checks():
    for name in LECTURES:
        assert (LIB / f"{name}.py").is_file() and (LIB / "checks" / f"{name}.py").is_file()
    assert (LIB / "checks" / "harness.py").is_file() and (LIB / "course").is_dir()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIB)))
def test_no_module_is_hand_packed(path):
    """``ruff format`` lays the code out: no line opts out of it to save space. (A module is
    split when it has two topics, not when it reaches a line count.)"""
    assert not re.search(r"#\s*fmt:\s*(skip|off)", path.read_text())


def test_there_is_no_import_cycle():
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", " -> ".join([*trail, module])
        state[module] = "open"
        for other in GRAPH.get(module, ()):
            if not module.startswith(other + "."):  # a submodule importing its package's name
                visit(other, [*trail, module])
        state[module] = "done"

    for module in GRAPH:
        visit(module, [])


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.count(".") == 1))
def test_topic_and_shared_modules_never_import_checks_or_course(module):
    if module in ("dgm.checks", "dgm.course", "dgm.grade"):
        return
    assert not {m for m in GRAPH[module] if m.startswith(("dgm.checks", "dgm.course"))}


def test_the_readme_module_table_lists_every_module():
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `(dgm\.[a-z_]+)` \|", readme, flags=re.M))
    top = {m for m in GRAPH if m.count(".") == 1} - {"dgm.grade"}  # the grader's command
    assert listed == top, (sorted(top - listed), sorted(listed - top))

"""The import rules of docs/architecture.md, checked against the module map written there (the one
list of modules): each module belongs to one stage and imports only its own stage or those below
it (imports inside functions and under ``TYPE_CHECKING`` included), no import loop, only the
runtime stage loads llama.cpp, and an import made below a module's top says why on its line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "formatlock"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
RUNTIME = 3


def module_map() -> dict[str, int]:
    """Module (dotted, "" for the package) -> stage, read from the map in docs/architecture.md."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = text.split("<!-- module map", 1)[1].split("```", 2)[1]
    stages: dict[str, int] = {}
    stage, folder = -1, ""
    for line in block.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        if re.fullmatch(r"\d", tokens[0]):
            stage, folder, tokens = int(tokens[0]), "", tokens[2:]
        for token in tokens:
            if token.endswith("/"):
                folder = token.rstrip("/").replace("/", ".")
                continue
            name = f"{folder}.{token}" if folder else token
            name = name.removesuffix("__init__").rstrip(".")
            assert name not in stages, f"{name or 'formatlock'} is listed twice in the module map"
            stages[name] = stage
    return stages


STAGES = module_map()


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(p for p in parts if p != "__init__")] = path
    return found


def stage_of(module: str) -> int:
    return STAGES[module]


def imports(module: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, formatlock module) of every import in ``module`` (lazy and ``TYPE_CHECKING`` ones included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom | ast.Import):
            continue
        if isinstance(node, ast.Import):
            targets = [a.name.removeprefix("formatlock").lstrip(".") for a in node.names
                       if a.name == "formatlock" or a.name.startswith("formatlock.")]
        elif node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join([*base, *([node.module] if node.module else [])])
            subs = [f"{target}.{a.name}".lstrip(".") for a in node.names if f"{target}.{a.name}".lstrip(".") in known]
            targets = subs or [target]
        elif node.module and (node.module == "formatlock" or node.module.startswith("formatlock.")):
            targets = [node.module.removeprefix("formatlock").lstrip(".")]
        else:
            continue
        found += [(node.lineno, t) for t in targets if t != module]
    return found


def test_the_module_map_lists_every_module_and_only_those() -> None:
    assert sorted(set(modules()) - set(STAGES)) == [], "place these in the module map of docs/architecture.md"
    assert sorted(set(STAGES) - set(modules())) == [], "the module map of docs/architecture.md lists modules that do not exist"


@pytest.mark.parametrize("module", sorted(modules()))
def test_an_import_below_the_top_says_why(module: str) -> None:
    """Imports go at the top; one made in a function or under ``TYPE_CHECKING`` names its start-up cost."""
    text = modules()[module].read_text(encoding="utf-8")
    tree, lines = ast.parse(text), text.splitlines()
    top = {id(node) for node in tree.body}
    unexplained = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top |= {id(child) for child in node.body}
            if "# start-up:" not in lines[node.lineno - 1]:
                unexplained.append(f"{node.lineno}: if TYPE_CHECKING")
        elif isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top and "# start-up:" not in lines[node.lineno - 1]:
            unexplained.append(f"{node.lineno}: {ast.unparse(node)}")
    assert unexplained == [], "move these to the top, or say `# start-up: why` on the line"


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_point_down(module: str) -> None:
    known = set(modules())
    path = modules()[module]
    upward = [f"{path.name}:{line} imports {target or 'formatlock'} (stage {stage_of(target)} > {stage_of(module)})"
              for line, target in imports(module, path, known) if stage_of(target) > stage_of(module)]
    assert upward == []


@pytest.mark.parametrize("module", sorted(modules()))
def test_only_the_runtime_loads_llama_cpp(module: str) -> None:
    text = modules()[module].read_text(encoding="utf-8")
    loads = "import llama_cpp" in text or "from llama_cpp" in text
    assert not loads or stage_of(module) in (RUNTIME, 6), f"{module} loads llama.cpp outside the runtime stage"


def import_loops(lazy: bool) -> list[list[str]]:
    """Cycles in the graph of imports (module level only, or every import); the public package
    ``formatlock`` itself is left out: every module is below it."""
    known = set(modules())
    graph = {}
    for module, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = {node.lineno for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)}
        graph[module] = {t for line, t in imports(module, path, known) if t and (lazy or line in lines)} - {module}
    loops, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                loops.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for module in sorted(graph):
        if module and module not in state:
            visit(module, [])
    return loops


def test_no_import_loop() -> None:
    assert import_loops(lazy=False) == []
    assert import_loops(lazy=True) == []  # not even through imports made inside functions or for type checking

"""The import rules of docs/architecture.md: each module belongs to one stage and imports only its
own stage or those below it (lazy imports inside functions included; ``TYPE_CHECKING`` imports,
which only name types, excluded), and only the runtime stage loads llama.cpp."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "formatlock"

# Stage of each folder or top-level module, low to high; a module in a folder has the folder's stage.
# A new top-level module or folder must be placed here (and in docs/architecture.md).
STAGES: dict[str, int] = {}
for stage, names in enumerate([
    ["errors", "settings", "cache", "fanout", "arguments"],  # 0 foundations
    ["schema"],  # 1 schemas: loading, validation, formats, readers
    ["compile", "automata"],  # 2 schema -> regex -> byte automata (pure: no model)
    ["runtime"],  # 3 where a model runs: the only stage that loads llama.cpp
    ["constraints", "generation", "calllog", "enforce"],  # 4 the guarantee
    ["finetune"],  # 5 the fallback path: probe, datasets, training
    ["", "__main__", "cli", "benchmark"],  # 6 the outside: public API, CLI, benchmarks
]):
    STAGES.update(dict.fromkeys(names, stage))
RUNTIME = 3


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(p for p in parts if p != "__init__")] = path
    return found


def stage_of(module: str) -> int:
    while module not in STAGES:
        module = module.rpartition(".")[0]  # cli.generate_cmd -> cli
    return STAGES[module]


def _type_checking_only(tree: ast.Module) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    return skipped


def imports(module: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, formatlock module) of every import in ``module`` that runs (lazy ones included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom | ast.Import):
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


def test_every_module_has_a_stage() -> None:
    unplaced = [m for m in modules() if not any(m == s or m.startswith(f"{s}.") for s in STAGES if s) and m != ""]
    assert unplaced == [], "place these in STAGES and docs/architecture.md"


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
    """Cycles in the graph of imports (module level only, or with lazy ones too); the public
    package ``formatlock`` itself is left out: every module is below it."""
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
    assert import_loops(lazy=True) == []  # not even through imports made inside functions


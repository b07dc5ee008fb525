"""The import rule of docs/architecture.md, checked on the source: every import of a project module,
at module level or inside a function, points down the layers

    orchestration -> jobs -> assets -> resources -> recipe_schema -> workloads

and no module reaches itself again through its imports (an import placed inside a function counts:
moving an import into a function hides a circle, it does not remove it)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("orchestration", "jobs", "assets", "resources", "recipe_schema", "workloads")
# What the workloads image does not carry: the orchestrator and its integrations.
ORCHESTRATOR_ONLY = ("dagster", "dagster_aws", "dagster_k8s", "dagster_postgres", "dagster_webserver")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules a file imports: ``from a.b import c`` is a.b.c where c is a module, else a.b."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each a circle of imports."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_the_project_has_no_import_circles():
    assert cycles(graph()) == []


def test_every_import_points_down_the_layers():
    upward = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if layer(target) < layer(module)
    ]
    assert upward == []


def test_the_workloads_import_dagster_pipes_never_dagster():
    offenders = []
    for path in (ROOT / "workloads").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ORCHESTRATOR_ONLY]
    assert offenders == []


def test_no_module_imports_dagster_internals():
    offenders = [
        str(path.relative_to(ROOT))
        for layer_name in LAYERS
        for path in (ROOT / layer_name).rglob("*.py")
        if "dagster._" in path.read_text()
    ]
    assert offenders == []


def test_no_module_is_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for layer_name in LAYERS
        for path in (ROOT / layer_name).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
    ids=["two", "three-with-a-tail", "none"],
)
def test_the_circle_finder_finds_circles(edges, expected):
    assert cycles(edges) == expected


def test_the_import_reader_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from workloads.core import naming\n")
    modules = project_modules()
    assert "workloads.core.naming" in imports_of(source, modules)

"""The package's shape: layers that point one way, no import cycles, small modules, and a decode
path that does not pay for the encoder or the benchmark harness."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lnic"
MAX_MODULE_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The lnic module that an import of ``name`` loads last (``a.b.c`` or its package)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every lnic module that ``module`` imports, at its top or inside functions."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            if name == "lnic" or name.startswith("lnic."):
                target = _resolve(name, modules)
                if target and target != module:
                    found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """lnic's own import graph: module -> the lnic modules it imports.

    A module's own parent packages are not edges: importing ``lnic.a.b`` runs ``lnic/__init__``
    and ``lnic/a/__init__`` first, but those are Python's package mechanics, not a dependency
    that the module's code chose."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        parents = {name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)}
        graph[name] = _imports(name, path, modules) - parents
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = import_graph()
    graph["lnic.format"] = graph["lnic.format"] | {"lnic.cli"}  # format -> cli -> ... -> format?
    graph["lnic.errors"] = graph.get("lnic.errors", set()) | {"lnic.commands"}
    graph["lnic.commands"] = graph["lnic.commands"] | {"lnic.errors"}
    assert find_cycle(graph) is not None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_format_constants_import_nothing_of_lnic():
    assert import_graph()["lnic.format"] == set()


@pytest.mark.parametrize(
    "lower,upper",
    [
        ("lnic.model", "lnic.bitstream"),
        ("lnic.model", "lnic.decoder"),
        ("lnic.model", "lnic.encoder"),
        ("lnic.bitstream", "lnic.decoder"),
        ("lnic.bitstream", "lnic.encoder"),
        ("lnic.decoder", "lnic.encoder"),
        ("lnic.decoder", "lnic.bench"),
        ("lnic.encoder", "lnic.bench"),
        ("lnic.encoder", "lnic.cli"),
        ("lnic.decoder", "lnic.cli"),
        ("lnic.model", "lnic.batch"),
        ("lnic.bitstream", "lnic.batch"),
        ("lnic.decoder", "lnic.batch"),
        ("lnic.encoder", "lnic.batch"),
        ("lnic.batch", "lnic.bench"),
        ("lnic.batch", "lnic.cli"),
        ("lnic.batch", "lnic.commands"),
        ("lnic.batch", "lnic.commands_batch"),
    ],
)
def test_layers_point_down(lower, upper):
    """No module of a lower layer reaches a higher layer, directly or through others."""
    graph = import_graph()
    for module in graph:
        if module == lower or module.startswith(lower + "."):
            bad = {m for m in _reachable(graph, module) if m == upper or m.startswith(upper + ".")}
            assert not bad, f"{module} reaches {sorted(bad)}"


def test_the_graph_sees_imports_inside_functions():
    """The commands import the decoder lazily; the graph must still see that edge."""
    assert "lnic.decoder" in _reachable(import_graph(), "lnic.commands")


def test_modules_are_small():
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _loaded_after(code: str) -> set[str]:
    env = dict(os.environ, PYTHONPATH=str(PACKAGE.parent))
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return set(out.stdout.split())


HEAVY = ("torch", "scipy", "matplotlib", "ray")


def test_importing_the_decoder_loads_no_heavy_packages():
    loaded = _loaded_after("import lnic.decoder")
    assert "lnic.decoder" in loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_the_batch_driver_loads_neither_torch_nor_ray():
    """A batch run's driver only hands out jobs: the workers load the encoder, and ray is
    loaded only for --ray."""
    loaded = _loaded_after("import lnic.batch, lnic.batch.local, lnic.commands_batch")
    assert "lnic.batch.run" in loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_decode_help_does_not_load_the_bench_harness():
    code = (
        "import sys\nfrom lnic import cli\n"
        "try:\n    cli.main(['decode', '--help'])\nexcept SystemExit:\n    pass"
    )
    loaded = _loaded_after(code)
    assert "lnic.cli" in loaded
    assert not {m for m in loaded if m.startswith("lnic.bench") or m.split(".")[0] in HEAVY}

"""The tree keeps the rules of docs/architecture.md: imports run one way (no cycles between modules, nothing
imports the command line), and no module of the package grows past about 500 lines without saying why."""
from __future__ import annotations

import ast
from pathlib import Path

import geofacility

PACKAGE = Path(geofacility.__file__).resolve().parent
#: modules allowed over about 500 lines: each says why in its module docstring ("over the house's ~500")
LONG = {"study.py", "review.py", "outputs.py", "network.py"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The geofacility modules ``path`` imports (resolved relative imports; ``from . import x`` as module x)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("geofacility"):
                continue
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # from . import read
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("geofacility"))
    return found


def _graph(*, top_level_only: bool) -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        graph[name] = {t for t in _imports(path, top_level_only=top_level_only) if t in paths and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_module_level_imports_have_no_cycle():
    graph = _graph(top_level_only=True)
    # a package's __init__ re-exports its own modules: those edges are the package, not a cycle between stages
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    assert _cycle(graph) is None, " → ".join(_cycle(graph))


def test_nothing_below_the_command_line_imports_it():
    graph = _graph(top_level_only=False)
    offenders = sorted(n for n, targets in graph.items() if not n.startswith("geofacility.cli")
                       and any(t.startswith("geofacility.cli") for t in targets))
    assert offenders == []


def test_a_cycle_is_found_where_there_is_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_modules_stay_small_or_say_why():
    long = {p.relative_to(PACKAGE).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
            for p in PACKAGE.rglob("*.py")}
    over = {p: n for p, n in long.items() if n > 520 and p not in LONG}
    assert over == {}, f"modules over about 500 lines: {over} (split them, or list them in LONG with the reason)"
    silent = [p for p in LONG if "over the house's ~500" not in (PACKAGE / p).read_text(encoding="utf-8").lower()]
    assert silent == [], f"long modules that do not say why: {silent}"


def test_public_api_takes_its_options_by_keyword():
    """Every function of the public API (geofacility.__all__): the data it works on may be passed by position
    (``load_standards(path)``, whose file is optional, too), every option (a parameter with a default) only by
    keyword — ``write_map(analysis, path, sites=…)``, never a bare third argument the reader must look up."""
    import inspect

    positional_options = []
    for name in geofacility.__all__:
        obj = getattr(geofacility, name)
        if name.startswith("__") or inspect.isclass(obj) or not callable(obj):
            continue
        for p in inspect.signature(obj).parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty and \
                    p.name != "path":
                positional_options.append(f"{name}({p.name}=…)")
    assert positional_options == []

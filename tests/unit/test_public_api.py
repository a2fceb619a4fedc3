"""The public API is one documented surface: every exported name exists and says what it does,
the README lists it, the library never imports the CLI (nor quotes its flags), and the import
graph of the package has no cycle."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import lzt
from support import REPO

PACKAGE = REPO / "lzt"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(path): ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """Modules of lzt that `name` imports anywhere (top level or inside functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else ".".join([*name.split(".")[: -node.level], node.module])
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in known and target != name}
    return found


def written_doc(obj: object) -> str:
    """A docstring someone wrote: not inherited, not the signature dataclasses put there, not
    Enum's "An enumeration."."""
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
    if not doc or doc.strip() == "An enumeration." or (inspect.isclass(obj) and doc.startswith(f"{obj.__name__}(")):
        return ""
    return doc


def test_every_exported_name_exists_and_is_documented():
    assert len(lzt.__all__) == len(set(lzt.__all__))
    for name in lzt.__all__:
        obj = getattr(lzt, name)
        if name == "__version__":
            assert re.fullmatch(r"\d+\.\d+\.\d+", obj)
            continue
        assert written_doc(obj), f"lzt.{name} has no docstring of its own"
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for member, value in vars(obj).items():
                if not member.startswith("_") and (inspect.isfunction(value) or isinstance(value, (classmethod, property))):
                    assert inspect.getdoc(getattr(obj, member)) or member in {"name", "value"}, f"lzt.{name}.{member} has no docstring"


def test_the_readme_lists_every_public_name():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python API"):]
    missing = [name for name in lzt.__all__ if f"`{name}`" not in section and f"lzt.{name}" not in section]
    assert not missing, f"README's Python API section does not list: {missing}"


def test_the_import_graph_has_no_cycle_and_the_library_never_imports_the_cli():
    trees = modules()
    known = set(trees)
    graph = {name: imported(name, tree, known) for name, tree in trees.items()}
    for name, targets in graph.items():
        if not name.startswith("lzt.cli"):
            assert not {t for t in targets if t.startswith("lzt.cli")}, f"{name} imports the CLI"
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(target):], node, target]) if target in path else f"{node} -> {target}")
            if target not in state:
                visit(target, [*path, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def test_library_messages_name_parameters_not_flags():
    """The CLI translates `parameter` into --flag; the library itself never speaks in flags."""
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    offenders = []
    for name, tree in modules().items():
        if name.startswith("lzt.cli"):
            continue
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in skip:
                continue
            if re.fullmatch(r"--[\w-]+", node.value):  # a command line lzt runs (llama-cpp's server), not a message
                continue
            if flag.search(node.value):
                offenders.append(f"{name}:{node.lineno}: {node.value[:80]!r}")
    assert not offenders, "\n".join(offenders)


def test_a_wheel_carries_every_package_and_data_folder():
    """pyproject.toml lists packages one by one: a new subpackage left out works in an editable
    install (as the tests run) and is missing from a wheel."""
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(path.parent.relative_to(REPO).parts) for path in (REPO / "lzt").rglob("__init__.py")}
    assert on_disk <= set(setuptools["packages"])
    patterns = setuptools["package-data"]["lzt.label_sets"]
    shipped = [path for path in (REPO / "label_sets").rglob("*") if path.is_file()]
    assert shipped and all(any(path.relative_to(REPO / "label_sets").match(p) for p in patterns) for path in shipped)

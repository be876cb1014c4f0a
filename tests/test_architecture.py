"""The README's "may import" table, enforced: imports only run downward and no module imports itself back."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("domain", "workflows", "activities", "workers")
STDLIB_IO = {"socket", "subprocess", "sqlite3", "urllib", "http", "asyncio", "shutil", "tempfile"}

# package -> what it may import besides the standard library and itself (README, "Architecture").
ALLOWED = {
    "domain": {"pydantic", "holidays"},
    "workflows": {"temporalio", "pydantic", "domain"},
    "activities": {"temporalio", "pydantic", "domain", "asyncpg", "httpx", "lxml", "openpyxl"},
}


def _imports(path: Path, *, top_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif top_level_only and isinstance(node, (ast.If, ast.Try, ast.With)):
            names += _imports_of(node)
    return names


def _imports_of(node: ast.AST) -> list[str]:
    """Imports guarded by if/try/with at module level still run at import time."""
    found = []
    for child in ast.walk(node):
        if isinstance(child, ast.Import):
            found += [alias.name for alias in child.names]
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            found.append(child.module)
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _allowed(package: str, name: str) -> bool:
    top = name.split(".")[0]
    if top == package or (top in sys.stdlib_module_names and not (package == "domain" and top in STDLIB_IO)):
        return True
    return any(name == a or name.startswith(a + ".") for a in ALLOWED[package])


def test_each_package_imports_only_what_the_readme_allows():
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in ALLOWED
        for path in _modules(package)
        for name in _imports(path, top_level_only=False)
        if not _allowed(package, name)
    ]
    assert not wrong, "imports against the README's architecture table:\n" + "\n".join(wrong)


# workers/ room -> the other rooms of workers/ it may import (README, "Architecture"); the command line imports all.
ROOMS = {
    "workers.runtime": set(),
    "workers.api": {"workers.runtime"},
    "workers.codec_server": {"workers.runtime"},
    "workers.dev": {"workers.runtime", "workers.codec_server", "workers.cli.common"},
    "workers.cli": {"workers.runtime", "workers.api", "workers.codec_server", "workers.dev"},
}
#: What a command group of ``workers/cli/`` may import of the others: the shared helpers and support modules.
CLI_SHARED = {"workers.cli.common", "workers.cli.production_env", "workers.cli.report_caf"}
#: The root app and entry points, which register the groups.
CLI_ENTRY = {"workers.cli", "workers.cli.app", "workers.cli.__main__"}


def _room(module: str) -> str:
    return next(room for room in ROOMS if module == room or module.startswith(room + "."))


def test_each_room_of_workers_imports_only_the_rooms_below_it():
    wrong = []
    for path in _modules("workers"):
        module = _module_name(path)
        if module == "workers":
            continue
        room = _room(module)
        for name in _imports(path, top_level_only=False):
            if not name.startswith("workers.") or name == room or name.startswith(room + "."):
                if room == "workers.cli" and name.startswith("workers.cli.") and name not in CLI_SHARED \
                        and module not in CLI_ENTRY | CLI_SHARED:
                    wrong.append(f"{path.relative_to(ROOT)} imports the command group {name}")
            elif not any(name == r or name.startswith(r + ".") for r in ROOMS[room]):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "imports against the rooms of workers/ (README, Architecture):\n" + "\n".join(wrong)


def test_no_import_cycle_between_project_modules():
    graph: dict[str, set[str]] = {}
    known = {_module_name(p) for package in PROJECT for p in _modules(package)}
    for package in PROJECT:
        for path in _modules(package):
            targets = set()
            for name in _imports(path, top_level_only=True):
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name and name != _module_name(path):
                    targets.add(name)
            graph[_module_name(path)] = targets

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_every_module_of_workers_is_in_a_room():
    """A new module at the top of workers/ must be given a room (and a row of the README's table)."""
    assert not [p for p in _modules("workers") if _module_name(p) != "workers" and
                not any(_module_name(p) == r or _module_name(p).startswith(r + ".") for r in ROOMS)]


def test_the_checker_sees_a_forbidden_import(tmp_path):
    """The rule itself can fail: a domain module importing temporalio is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom temporalio import workflow\n")
    names = _imports(bad, top_level_only=False)
    assert [n for n in names if not _allowed("domain", n)] == ["temporalio"]

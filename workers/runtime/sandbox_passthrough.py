"""Workflow modules passed through the sandbox, and the check that keeps them safe to pass through.

The sandbox re-imports a workflow's modules for each cached run, which costs memory per run (module body,
functions, ``@workflow.signal``/``update``/``query`` definitions and their type hints: ≈ 50 KiB for
``workflows.pathway_handlers`` alone, ≈ 10 KiB for the pathway's main loop, ``workflows.pathway_loop``). A module can be shared by every run instead when it cannot give a run
anything the sandbox would have refused or isolated:

* it imports only from modules that are passed through anyway (``typing``, ``temporalio.workflow``, the pure
  ``domain``), so the sandbox hands its code exactly the objects it would get when passed through, and never a
  restricted one (``datetime``, ``random``, ``time``, ``os``... are not importable from it);
* it keeps no state at module or class level (only classes, methods and annotations), so runs cannot see
  each other;
* the restricted builtins (``open``, ``input``...) stay restricted: the sandbox patches them for the running
  workflow's thread, whoever's code calls them.

``check`` enforces the first two at every worker start (and in the tests): a module edited to import
``datetime`` or to hold a module-level list stops the worker from starting instead of slipping out of the
sandbox's checks.
"""

from __future__ import annotations

import ast
import importlib.util

#: Workflow modules that route messages to pure domain code, wrap it, or run the pathway's main loop on it with
#: ``temporalio.workflow`` alone (the workflows' definitions, and every other workflow, stay sandboxed).
PURE_WORKFLOW_MODULES = ("workflows.pathway_handlers", "workflows.holiday_calendar", "workflows.pathway_loop")
#: What such a module may import: modules the sandbox passes through anyway, none of them restricted (the
#: workflows' constants, and the other pure modules).
ALLOWED_IMPORTS = ("typing", "temporalio.workflow", "temporalio.exceptions", "domain",
                   "workflows.search_attributes", "workflows.pathway_settings", *PURE_WORKFLOW_MODULES)


class ImpureWorkflowModule(RuntimeError):
    """A module listed as pure imports or holds something that would let runs escape the sandbox's checks."""


def _allowed(name: str) -> bool:
    return any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED_IMPORTS)


def problems(source: str) -> list[str]:
    """What in ``source`` forbids passing its module through (empty: nothing)."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if not _allowed(a.name)]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found += [f"line {node.lineno}: from {base} import {a.name}" for a in node.names
                      if not (_allowed(base) or _allowed(f"{base}.{a.name}"))]
    for node in tree.body:  # module level: imports (checked above), classes, functions, docstring only
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.With) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in node.body):
            continue  # ``with workflow.unsafe.imports_passed_through():`` around imports
        found.append(f"line {node.lineno}: module-level {type(node).__name__}")
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        for node in cls.body:  # methods, annotations without value, docstring: no class-level state
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or (
                    isinstance(node, ast.AnnAssign) and node.value is None) or (
                    isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
                continue
            found.append(f"line {node.lineno}: class-level {type(node).__name__} in {cls.name}")
    return found


def check(modules: tuple[str, ...] = PURE_WORKFLOW_MODULES) -> tuple[str, ...]:
    """The modules, once each is checked (raises ``ImpureWorkflowModule``)."""
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ImpureWorkflowModule(f"{name}: not found")
        with open(spec.origin, encoding="utf-8") as source:
            found = problems(source.read())
        if found:
            raise ImpureWorkflowModule(f"{name} cannot be passed through the workflow sandbox: " + "; ".join(found))
    return modules

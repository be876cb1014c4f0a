"""Issue 18: every rule takes the case's rule set explicitly; a default would silently apply one rule set to all."""

from __future__ import annotations

import ast
import inspect
import pathlib

import pytest

import domain
from domain import rules

ROOT = pathlib.Path(domain.__file__).parent
#: Outside domain/, the places the issue lists where a default rule set used to hide.
OTHER_MODULES = ("activities/kpi.py", "activities/flux_import.py", "workers/dev/monjob_sim.py", "workers/cli/cer.py",
                 "workers/cli/label.py")
RULE_SET_NAMES = {name for name, value in vars(rules).items() if isinstance(value, rules.RuleSet)}


def _defaults(tree: ast.AST) -> list[tuple[str, int, str]]:
    """(function, line, default) for every parameter default naming a module-level RuleSet constant."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
                for name in ast.walk(default):
                    ident = name.id if isinstance(name, ast.Name) else name.attr if isinstance(name, ast.Attribute) else None
                    if ident in RULE_SET_NAMES:
                        found.append((getattr(node, "name", "lambda"), node.lineno, ident))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            # ``context.get("rules", RULESET_2023)``: a default by another name
            for arg in node.args[1:]:
                if isinstance(arg, ast.Name) and arg.id in RULE_SET_NAMES:
                    found.append(("get", node.lineno, arg.id))
    return found


def test_the_registry_has_the_two_rule_sets():
    assert {"RULESET_2023", "RULESET_2025"} <= RULE_SET_NAMES


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT.parent).as_posix() for p in ROOT.glob("*.py")) + list(OTHER_MODULES))
def test_no_function_defaults_to_a_specific_rule_set(path):
    source = (ROOT.parent / path).read_text()
    assert _defaults(ast.parse(source)) == [], f"{path}: a rule takes the case's rule set explicitly"


def test_the_check_catches_a_default():
    source = "def f(x, rules=RULESET_2023):\n    pass\ndef g(*, r=rules.RULESET_2025):\n    pass\n"
    assert [(name, ident) for name, _, ident in _defaults(ast.parse(source))] == [("f", "RULESET_2023"),
                                                                                   ("g", "RULESET_2025")]


def test_no_domain_signature_defaults_to_a_rule_set_object():
    """The same, by inspection of the imported functions (a default built another way is caught too)."""
    import importlib
    for path in ROOT.glob("*.py"):
        module = importlib.import_module(f"domain.{path.stem}")
        for _, fn in inspect.getmembers(module, inspect.isfunction):
            for param in inspect.signature(fn).parameters.values():
                assert not isinstance(param.default, rules.RuleSet), f"{module.__name__}.{fn.__name__}({param.name})"

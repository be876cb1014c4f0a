"""requirements.lock decides the versions: it must satisfy pyproject.toml and be what the suite runs on."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", line)
        assert match, f"requirements.lock: not an exact pin: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"requirements.lock pins {name} twice"
        pins[name] = match.group(2)
    return pins


def _direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    return reqs


def test_every_direct_dependency_is_locked_within_its_range():
    pins = _lock()
    for req in _direct_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in requirements.lock (run `make lock`)"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside pyproject's {req.specifier} (run `make lock`)"
        )


def test_lock_holds_the_whole_tree_of_the_direct_dependencies():
    """Every dependency of a locked package is locked too, so no version is left to the resolver."""
    pins = _lock()
    missing = set()
    for name in pins:
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for raw in requires:
            req = Requirement(raw)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            if canonicalize_name(req.name) not in pins:
                missing.add(f"{req.name} (needed by {name})")
    assert not missing, f"not in requirements.lock: {sorted(missing)}"


def test_the_suite_runs_on_the_locked_versions():
    mismatched = []
    for name, version in _lock().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            mismatched.append(f"{name}: not installed")
            continue
        if installed != version:
            mismatched.append(f"{name}: installed {installed}, locked {version}")
    assert not mismatched, f"the environment is not the lock (make install): {mismatched}"

"""The layout holds (issue 15): the installed distribution ships one top-level package,
``mlplan``, and the pure layers import no I/O from the standard library.

import-linter (``lint-imports`` in tests/run, contracts in pyproject.toml) checks the imports
between mlplan's layers and of pulumi; it does not see the standard library, so this file
reads every import of the pure modules (function-level ones too) with ``ast``.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "components" / "mlplan"
PURE = ["domain", "planning", "rules", "router", "render", "check.py",
        "targets/docker/plan.py", "targets/kubernetes/plan.py", "targets/kubernetes/manifests.py",
        "targets/docker/settings.py", "targets/kubernetes/settings.py",
        "targets/base.py", "targets/registry.py", "targets/docker/target.py",
        "targets/kubernetes/target.py"]
IO = frozenset({"os", "sys", "io", "pathlib", "shutil", "tempfile", "subprocess", "socket",
                "http", "urllib", "time", "glob", "fcntl", "signal", "select", "threading",
                "multiprocessing", "asyncio", "logging"})


def pure_files() -> list[Path]:
    files: list[Path] = []
    for entry in PURE:
        path = PACKAGE / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def imported(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports: ``from os.path import x`` -> os."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_import_no_io(path: Path) -> None:
    assert imported(path) & IO == set()


def test_every_pure_entry_exists() -> None:
    assert [e for e in PURE if not (PACKAGE / e).exists()] == []


def test_the_distribution_ships_only_mlplan() -> None:
    """What ``[tool.setuptools.packages.find]`` selects from the source root: every package
    is ``mlplan`` or below it (a top-level ``components`` would clash with any other
    distribution that ships one)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    find = config["packages"]["find"]
    (where,) = find["where"]
    assert config["package-dir"] == {"": where}
    packages = setuptools.find_packages(where=str(ROOT / where), include=find["include"])
    assert "mlplan" in packages and "mlplan.targets.kubernetes" in packages
    assert {p.split(".")[0] for p in packages} == {"mlplan"}


def test_the_front_contract_covers_every_renderer() -> None:
    """import-linter's "front" contract lists modules one by one (``as_packages = false``:
    the package front is ``mlplan`` itself, not its subpackages), so a new renderer must be
    added to it; this keeps the list whole."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (front,) = [c for c in config["tool"]["importlinter"]["contracts"]
                if c["name"].startswith("front:")]
    renderers = {f"mlplan.render.{p.stem}" for p in (PACKAGE / "render").glob("*.py")
                 if p.stem != "__init__"}
    assert renderers - set(front["source_modules"]) == set()

"""Load a Python file that is not in any package (a benchmark script, a generated scoring
script, an older revision of a module) as a module of its own."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_file(path: Path, name: str) -> ModuleType:
    """The module at ``path`` as ``name``, without adding its folder to ``sys.path``. It is
    registered in ``sys.modules`` before it runs: dataclasses look their module up there while
    they are created. Example: ``load_file(REPO / "benchmarks" / "docker_up.py",
    "docker_up_benchmark").lead_and_tail``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

"""Command-line value types shared by ``mlplan plan/review`` and ``promote/rollback``."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

import yaml

STACK_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


def _project_name(start: Path) -> str | None:
    """The ``name`` of the nearest ``Pulumi.yaml`` at or above ``start``; None when there is
    none or it cannot be read (the command's own project check reports that)."""
    from mlplan.edge import io

    root = io.find_project_root(start)
    if root is None:
        return None
    try:
        project = yaml.safe_load(io.read_text(root / "Pulumi.yaml"))
    except (OSError, io.PathProblem, yaml.YAMLError):
        return None
    name = project.get("name") if isinstance(project, dict) else None
    return name if isinstance(name, str) else None


def stack_flag(text: str) -> str:
    """``--stack NAME``, ``ORG/NAME`` or ``ORG/PROJECT/NAME``, as ``pulumi --stack`` takes it;
    gives NAME, which names the config file (``acme/mlplan/dev`` -> ``dev``:
    ``stacks/Pulumi.dev.yaml``). Each part: letters, digits, ``-``, ``_``, ``.``; 1-100
    characters, not starting with ``.``, so it cannot be empty or name a path. A PROJECT other
    than the ``name`` in the nearest ``Pulumi.yaml`` is refused (it is another project's stack).
    """
    parts = text.split("/")
    if len(parts) > 3 or not all(STACK_NAME.fullmatch(part) for part in parts):
        raise argparse.ArgumentTypeError(
            f"{text[:80]!r} is not a stack name; use letters, digits, '-', '_' and '.', "
            "as NAME, ORG/NAME or ORG/PROJECT/NAME, e.g. --stack dev")
    if len(parts) == 3:
        project = _project_name(Path.cwd())
        if project is not None and project != parts[1]:
            raise argparse.ArgumentTypeError(
                f"{text[:80]!r} names project {parts[1]!r}, but this is project {project!r} "
                f"(Pulumi.yaml); use --stack {parts[-1]} or "
                f"{parts[0]}/{project}/{parts[-1]}")
    return parts[-1]


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type for a whole number from ``low`` to ``high`` inclusive:
    ``whole_number(1, 100)("7")`` -> 7; ``"0"`` and ``"1.5"`` are refused with the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} must be {low} to {high}")
        return value

    return parse

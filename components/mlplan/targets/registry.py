"""Every target, registered once: ``of(name)`` is the ``planning.port.Target`` the edges hand
the planner (``desired(..., target=of(settings.target))``); nothing else looks a target up by
its name. Adding a target = its folder ``targets/<name>/`` + one line in ``TARGETS``.

A target's edge parts are imported only when used: ``resources(target)`` (its Pulumi
adapter) and ``project_reader(target, root)`` (what its ``stack_checks`` read the project's
files with).
Example: ``of("kubernetes").surges(True)`` -> False (an exempt SKU rolls delete-first);
``delete_first_types()`` -> ``{"docker:index/container:Container"}``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

from mlplan.domain.diagnostics import Diagnostic
from mlplan.domain.facts import EndpointFacts
from mlplan.domain.yamlsource import FieldPath
from mlplan.planning.port import PlainResource, Target
from mlplan.targets.docker.target import DOCKER
from mlplan.targets.kubernetes.target import KUBERNETES

TARGETS: dict[str, Target] = {t.name: t for t in (DOCKER, KUBERNETES)}


def of(name: str) -> Target:
    """The target called ``name`` (``Settings.target``: docker or kubernetes)."""
    return TARGETS[name]


def resources(target: Target) -> ModuleType:
    """The target's Pulumi adapter (``deploy_endpoint``, ``stack_diagnostics``,
    ``shared_stack``), imported now."""
    return importlib.import_module(target.resources)


def project_reader(target: Target, root: object) -> Any:
    """What ``target.stack_checks`` reads the files of the project at ``root`` with (a
    ``pathlib.Path``); None when the target reads none."""
    if not target.reader:
        return None
    module, _, function = target.reader.partition(":")
    return getattr(importlib.import_module(module), function)(root)


def parse_settings(name: str, raw: Mapping[str, Any], file: str,
                   line_of: Callable[[FieldPath], int]) -> tuple[Any, list[Diagnostic]]:
    """``mlplan:<name>`` by target ``name``'s own parser (``domain.settings.ParseTarget``)."""
    return of(name).parse_settings(raw, file, line_of)


def delete_first_types() -> frozenset[str]:
    """Pulumi types some target's provider replaces delete-first."""
    return frozenset().union(*(t.delete_first_types for t in TARGETS.values()))


def facts_from_resources(resources: Iterable[PlainResource]) -> list[EndpointFacts]:
    """Facts of every endpoint found on any target, sorted by name."""
    found = list(resources)
    return sorted((f for t in TARGETS.values() for f in t.facts_from_resources(found)),
                  key=lambda f: f.name)

"""Every target, registered once: ``of(name)`` is the ``targets.base.Target`` the planner,
the rules and the renderers ask instead of testing the target's name.

Example: ``of("kubernetes").surges(True)`` -> False (an exempt SKU rolls delete-first);
``delete_first_types()`` -> ``{"docker:index/container:Container"}``.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlplan.domain.facts import EndpointFacts
from mlplan.targets.base import PlainResource, Target
from mlplan.targets.docker.target import DOCKER
from mlplan.targets.kubernetes.target import KUBERNETES

TARGETS: dict[str, Target] = {t.name: t for t in (DOCKER, KUBERNETES)}


def of(name: str) -> Target:
    """The target called ``name`` (``Settings.target``: docker or kubernetes)."""
    return TARGETS[name]


def delete_first_types() -> frozenset[str]:
    """Pulumi types some target's provider replaces delete-first."""
    return frozenset().union(*(t.delete_first_types for t in TARGETS.values()))


def facts_from_resources(resources: Iterable[PlainResource]) -> list[EndpointFacts]:
    """Facts of every endpoint found on any target, sorted by name."""
    found = list(resources)
    return sorted((f for t in TARGETS.values() for f in t.facts_from_resources(found)),
                  key=lambda f: f.name)

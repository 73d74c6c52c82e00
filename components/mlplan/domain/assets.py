"""Registered assets (``azureml:<name>:<version>``) -> what runs off Azure.

Off Azure there is no registry to resolve ``azureml:`` references, so a stack maps them:

    mlplan:assets:
      models:        {"azureml:sample-model:1": stacks/model/sample-model}   # local path
      environments:  {"azureml:sklearn-env:3": "registry.example.com/sklearn:1.4"}  # image
      code:          {"azureml:score-code:1": stacks/score}                  # local folder

Paths are relative to the project root. An unmapped reference is an MLP117 error in stack mode
(plain-file plans accept references, as Azure resolves them). Example: ``azureml:m:1`` mapped to
``stacks/model/m`` resolves to ``("m", "1", "stacks/model/m")``.

``parse_assets`` reads ``mlplan:assets`` once into ``Assets`` (one table of text per kind); an
unknown kind, a kind that is not a mapping or a value that is not text is an MLP120 error naming
the key (``mlplan:assets.models.azureml:m:1: expected text ..., got int``), left out.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, Location, error
from mlplan.domain.model import Deployment, Endpoint

KINDS = ("models", "environments", "code")


@dataclass(frozen=True)
class ResolvedModel:
    """Name and version Azure would mount the model under, and its project-relative path."""

    name: str
    version: str
    path: str


@dataclass(frozen=True)
class Assets:
    """``mlplan:assets`` parsed: reference -> local path or image, per kind."""

    models: Mapping[str, str] = field(default_factory=dict, hash=False)
    environments: Mapping[str, str] = field(default_factory=dict, hash=False)
    code: Mapping[str, str] = field(default_factory=dict, hash=False)

    def table(self, kind: str) -> Mapping[str, str]:
        """The table of one kind (``KINDS``); ``{}`` for any other name."""
        return getattr(self, kind) if kind in KINDS else {}


def parse_assets(raw: Mapping[str, Any],
                 at: Callable[[tuple[str, ...]], Location]) -> tuple[Assets, list[Diagnostic]]:
    """``mlplan:assets`` -> ``Assets`` and the problems (module docstring); ``at`` locates a
    path under ``mlplan:assets``."""
    found: list[Diagnostic] = []
    tables: dict[str, dict[str, str]] = {}
    for kind, table in raw.items():
        key = f"mlplan:assets.{kind}"
        if kind not in KINDS:
            found.append(error(codes.SETTINGS, at((str(kind),)),
                               f"{key}: unknown kind; use {', '.join(KINDS)}."))
        elif not isinstance(table, Mapping):
            found.append(error(codes.SETTINGS, at((kind,)),
                               f"{key}: expected a mapping of azureml: references, got "
                               f"{type(table).__name__}."))
        else:
            tables[kind] = {}
            for ref, value in table.items():
                if isinstance(value, str):
                    tables[kind][str(ref)] = value
                else:
                    found.append(error(codes.SETTINGS, at((kind, str(ref))),
                                       f"{key}.{ref}: expected text (a path or an image), got "
                                       f"{type(value).__name__}."))
    return Assets(**tables), found


def resolve_model(deployment: Deployment, assets: Assets) -> ResolvedModel | None:
    """Inline ``path`` models keep their name (or the folder name) and version (or ``1``)."""
    model = deployment.model
    if model is None:
        return None
    if model.reference:
        path = assets.models.get(model.reference)
        if path is None:
            return None
        return ResolvedModel(model.name or posixpath.basename(path), model.version or "1",
                             posixpath.normpath(path))
    name = model.name or posixpath.basename(model.path.rstrip("/")) or "model"
    return ResolvedModel(name, model.version or "1", model.path)


def resolve_code(deployment: Deployment, assets: Assets) -> str:
    """The code folder, project-relative: ``code_configuration.code`` as written, or for a
    registered ``azureml:`` code asset the folder ``mlplan:assets.code`` maps it to ("" when
    unmapped: MLP117, never a folder named ``azureml:score-code:1``)."""
    code = deployment.code_configuration
    if code is None:
        return ""
    if code.code.startswith("azureml:"):
        mapped = assets.code.get(code.code)
        return posixpath.normpath(mapped) if mapped else ""
    return code.code


def resolve_image(deployment: Deployment, assets: Assets) -> str:
    """The container image: inline ``image``, or a mapped environment reference; "" if none."""
    env = deployment.environment
    if env is None:
        return ""
    if env.reference:
        return assets.environments.get(env.reference, "")
    return env.image


def check(endpoints: Iterable[Endpoint], assets: Assets,
          served_models: Container[str] = frozenset()) -> list[Diagnostic]:
    """MLP117 for every ``azureml:`` reference that ``mlplan:assets`` does not map
    (``served_models``: references a target serves itself, e.g. from a Kubernetes volume)."""
    found: list[Diagnostic] = []
    for endpoint in endpoints:
        for dep in endpoint.deployments:
            model = dep.model
            if (model and model.reference and model.reference not in served_models
                    and resolve_model(dep, assets) is None):
                found.append(_unmapped(dep, "model", "models", model.reference,
                                       "stacks/model/<name>"))
            code = dep.code_configuration
            if code and code.code.startswith("azureml:") and not resolve_code(dep, assets):
                found.append(_unmapped(dep, "code_configuration.code", "code", code.code,
                                       "stacks/score"))
            env = dep.environment
            if env and env.reference and not resolve_image(dep, assets):
                found.append(_unmapped(dep, "environment", "environments", env.reference,
                                       "registry.example.com/<image>:<tag>"))
            if dep.environment is None:
                found.append(error(codes.MISSING_FIELD, dep.source.at("environment"),
                                   "no environment: off Azure a deployment needs an image; add "
                                   "'environment: {image: <registry>/<name>:<tag>}'."))
    return found


def _unmapped(dep: Deployment, field: str, kind: str, reference: str, example: str) -> Diagnostic:
    return error(codes.UNRESOLVED_ASSET, dep.source.at(field),
                 f"{field} '{reference}' is a registered Azure ML asset, which is not reachable "
                 f"here; map it in the stack config: mlplan:assets: {{{kind}: "
                 f"{{\"{reference}\": {example}}}}}.")

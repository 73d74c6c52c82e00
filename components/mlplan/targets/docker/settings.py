"""``mlplan:docker`` parsed once, with the stack's settings (``Target.parse_settings``, called by
``domain.settings.from_stack_document``), into ``DockerSettings``, which the planner (instance
names in review), the Docker plan and its resources read through ``of(settings)``.

Example: ``mlplan:docker: {namePrefix: pr-}`` -> containers ``pr-my-endpoint-blue-0`` ...; an
unknown key or a port out of 1-65535 is an MLP120 diagnostic naming ``mlplan:docker.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, Location, error
from mlplan.domain.names import DEFAULT_ROUTER_IMAGE
from mlplan.domain.settings import Settings
from mlplan.domain.validation import Strict, describe

ResourceLimits = Literal["enforce", "memory-only", "off"]


class DockerSettingsSpec(Strict):

    routerImage: str = DEFAULT_ROUTER_IMAGE  # stack config keys are camelCase
    ports: dict[str, Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=dict)
    publishAddress: str = "127.0.0.1"
    host: str = "localhost"
    namePrefix: str = ""
    resourceLimits: ResourceLimits = "enforce"


@dataclass(frozen=True)
class DockerSettings:
    """``mlplan:docker``: router image, fixed host ports per endpoint, publish address (only
    loopback by default), the host name used in scoring URIs, a container name prefix (to run
    two stacks on one host) and whether instance types' limits apply (``enforce``)."""

    router_image: str = DEFAULT_ROUTER_IMAGE
    ports: tuple[tuple[str, int], ...] = ()
    publish_address: str = "127.0.0.1"
    host: str = "localhost"
    name_prefix: str = ""
    resource_limits: ResourceLimits = "enforce"


def parse_settings(raw: Mapping[str, Any], where: Location) -> tuple[DockerSettings,
                                                                     list[Diagnostic]]:
    try:
        spec = DockerSettingsSpec.model_validate(dict(raw))
    except ValidationError as exc:
        known = list(DockerSettingsSpec.model_fields)
        found = []
        for e in exc.errors():
            key = "mlplan:docker." + ".".join(map(str, e["loc"]))
            found.append(error(codes.SETTINGS, Location(where.file, where.line, key),
                               describe(e, key, known if len(e["loc"]) == 1 else [],
                                        noun="setting")))
        return DockerSettings(), found
    return DockerSettings(spec.routerImage, tuple(sorted(spec.ports.items())),
                          spec.publishAddress, spec.host, spec.namePrefix,
                          spec.resourceLimits), []


def of(settings: Settings) -> DockerSettings:
    """``mlplan:docker`` as parsed with the stack's settings (``Settings.target_settings``), or
    its defaults when the stack is on another target or was read without its parser."""
    found = settings.target_settings
    return found if isinstance(found, DockerSettings) else DockerSettings()

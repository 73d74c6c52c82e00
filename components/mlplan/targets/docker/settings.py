"""``mlplan:docker`` parsed once, with the stack's settings (``Target.parse_settings``, called by
``domain.settings.from_stack_document``), into ``DockerSettings``, which the planner (instance
names in review), the Docker plan and its resources read through ``of(settings)``.

Example: ``mlplan:docker: {namePrefix: pr-}`` -> containers ``pr-my-endpoint-blue-0`` ...; an
unknown key or a port out of 1-65535 is an MLP120 diagnostic naming ``mlplan:docker.<key>``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_core import PydanticCustomError

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, Location, error
from mlplan.domain.names import DEFAULT_ROUTER_IMAGE
from mlplan.domain.settings import Settings
from mlplan.domain.validation import Strict, describe, echo

ResourceLimits = Literal["enforce", "memory-only", "off"]


def _name_prefix(value: Any) -> Any:
    """Container, network and host names start with it (the router reaches instances by
    name): letters, digits and ``-``, starting with a letter or digit, at most 20. ``pr-``
    passes; ``pr_`` planned cleanly and failed inside ``pulumi up``."""
    if isinstance(value, str) and value and not re.fullmatch(r"[a-zA-Z0-9][-a-zA-Z0-9]{0,19}",
                                                             value):
        raise PydanticCustomError("mlplan_value", "{message}", {"message": (
            f"{echo(value)} cannot start a container's host name; use letters, digits and '-' "
            "(a letter or digit first, at most 20), e.g. 'pr-'")})
    return value


def _limits_word(value: Any) -> Any:
    """YAML 1.1 reads an unquoted ``off``/``no`` as false and ``on``/``yes`` as true: say so,
    rather than asking for the word that was written."""
    if isinstance(value, bool):
        raise PydanticCustomError("mlplan_value", "{message}", {"message": (
            f"YAML read this as {str(value).lower()} (an unquoted off/no/on/yes is a boolean); "
            "quote the word: resourceLimits: \"off\" (or \"enforce\", \"memory-only\")")})
    return value


def _address(value: Any) -> Any:
    """``publishAddress`` is an IP address Docker can bind (``127.0.0.1``, ``0.0.0.0``,
    ``::1``); a host name or a typo planned cleanly and failed inside ``pulumi up``."""
    if isinstance(value, str):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise PydanticCustomError("mlplan_value", "{message}", {"message": (
                f"{echo(value)} is not an IP address; publish on 127.0.0.1 (this host only), "
                "0.0.0.0 (every interface) or one address of the host")}) from None
    return value


def _distinct_ports(ports: dict[str, int]) -> dict[str, int]:
    """Two endpoints cannot publish the same host port (the second container would fail)."""
    seen: dict[int, str] = {}
    for endpoint, port in sorted(ports.items()):
        if port in seen:
            raise PydanticCustomError("mlplan_value", "{message}", {"message": (
                f"endpoints '{seen[port]}' and '{endpoint}' both publish host port {port}; "
                "give each endpoint its own port")})
        seen[port] = endpoint
    return ports


class DockerSettingsSpec(Strict):

    routerImage: str = DEFAULT_ROUTER_IMAGE  # stack config keys are camelCase
    ports: Annotated[dict[str, Annotated[int, Field(ge=1, le=65535)]],
                     AfterValidator(_distinct_ports)] = Field(default_factory=dict)
    publishAddress: Annotated[str, BeforeValidator(_address)] = "127.0.0.1"
    host: str = "localhost"
    namePrefix: Annotated[str, BeforeValidator(_name_prefix)] = ""
    resourceLimits: Annotated[ResourceLimits, BeforeValidator(_limits_word)] = "enforce"


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


def parse_settings(raw: Mapping[str, Any], where: Location,
                   line_of: Callable[[tuple[Any, ...]], int] | None = None,
                   ) -> tuple[DockerSettings, list[Diagnostic]]:
    """``mlplan:docker`` -> settings and problems, each at its key's line (``line_of`` a path
    below ``mlplan:docker``; else at ``where``)."""
    try:
        spec = DockerSettingsSpec.model_validate(dict(raw))
    except ValidationError as exc:
        known = list(DockerSettingsSpec.model_fields)
        found = []
        for e in exc.errors():
            key = "mlplan:docker." + ".".join(map(str, e["loc"]))
            line = (line_of(tuple(e["loc"][:1])) if line_of else 0) or where.line
            found.append(error(codes.SETTINGS, Location(where.file, line, key),
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

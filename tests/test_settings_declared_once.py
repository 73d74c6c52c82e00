"""The component API's argument types say the same settings as the stack file's schema.

A setting is declared by its schema model (``domain.settings``, each target's ``settings``);
the API's ``*Args`` TypedDicts (``edge.api``) carry the same keys in Python's snake_case, which
``api._settings_value`` renames to the schema's camelCase. A key added to one side and not the
other would be refused (schema) or unreachable (API) without this table.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from mlplan.domain.settings import InstanceTypeSpec, LimitsSpec, SettingsSpec, TolerationSpec
from mlplan.edge import api
from mlplan.targets.docker.settings import DockerSettingsSpec
from mlplan.targets.kubernetes import settings as kubernetes_settings

PAIRS: list[tuple[str, Any, type[BaseModel], set[str]]] = [
    # name, API argument type, schema model, schema keys the API does not take (why in id)
    ("toleration", api.TolerationArgs, TolerationSpec, set()),
    ("instance type", api.InstanceTypeArgs, InstanceTypeSpec, set()),
    ("limits", api.LimitsArgs, LimitsSpec, set()),
    ("docker settings", api.DockerSettingsArgs, DockerSettingsSpec, set()),
    ("kubernetes settings", api.KubernetesSettingsArgs,
     kubernetes_settings.KubernetesSettingsSpec, set()),
    ("gateway ref", api.GatewayRefArgs, kubernetes_settings._GatewayRefSpec, set()),
    ("network policy", api.NetworkPolicyArgs, kubernetes_settings._NetworkPolicySpec, set()),
]


@pytest.mark.parametrize(("name", "args", "spec", "schema_only"), PAIRS,
                         ids=[p[0] for p in PAIRS])
def test_the_api_takes_every_setting_of_the_schema(
        name: str, args: Any, spec: type[BaseModel], schema_only: set[str]) -> None:
    given = {api._camel(k) for k in args.__annotations__}
    assert given == set(spec.model_fields) - schema_only


def test_every_stack_setting_is_an_argument() -> None:
    """Each ``mlplan:<key>`` of the schema but the files (``endpoints``: the component's own
    ``endpoint_file`` / ``paths``) and ``keys`` (its own argument) is an ``OnlineEndpoint``
    argument, under the name ``SETTINGS_ARGS`` gives it."""
    settings = set(SettingsSpec.model_fields) - {"endpoints", "keys"}
    assert set(api.SETTINGS_ARGS.values()) == settings
    assert set(api.SETTINGS_ARGS) <= set(api.OnlineEndpointArgs.__annotations__)
    assert "keys" in api.OnlineEndpointArgs.__annotations__

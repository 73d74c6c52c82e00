"""The Pulumi program of ``stacks/``: a plain user of mlplan's public API (``mlplan.edge.api``).

Settings come from the engine (``pulumi.Config("mlplan")``: the stack file, ``-c``,
``pulumi config set``, ESC environments, the Automation API), read by the same parser as
``mlplan plan`` reads the stack file offline (``io.settings_from_config``), and the same
endpoint files with the same code, so a preview and a plan cannot disagree. The whole stack is
checked first (what spans endpoints: duplicates, stack limits, Kubernetes name conflicts, the
Docker host's size); any error diagnostic stops the program before a single resource is
registered. Then one ``QuotaCheck`` for the stack and one ``OnlineEndpoint`` per endpoint, each
given the endpoint's own files and the stack's settings; on Kubernetes the namespace, its
ResourceQuota and an explicit provider are the stack's, made once and handed to every endpoint.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pulumi

from mlplan.domain.diagnostics import has_errors
from mlplan.edge import io, pipeline
from mlplan.edge.api import (
    OnlineEndpoint,
    OnlineEndpointArgs,
    QuotaCheck,
    QuotaCheckArgs,
    report,
)
from mlplan.planning.state import DesiredState, EndpointState
from mlplan.targets import registry

#: settings handed to every component as they are (same keys as the stack's)
SHARED = {"target": "target", "environment": "environment", "quota": "quota",
          "instanceTypes": "instance_types", "limits": "limits", "assets": "assets"}


def load(cwd: Path | None = None, stack: str | None = None) -> tuple[DesiredState, Path]:
    """The desired state of the stack, read offline from its stack file (as ``mlplan plan``
    does), and the project root it was read from."""
    root = _root(cwd)
    loaded = io.load_stack(root, stack or pulumi.get_stack())
    return pipeline.planned(loaded.endpoints, loaded.settings, loaded.diagnostics), root


def engine_config() -> dict[str, Any]:
    """The ``mlplan:*`` config the engine handed this program (key without the namespace ->
    value); objects arrive as JSON text and are decoded (``io.config_values``)."""
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return io.config_values(raw)


def run(cwd: Path | None = None, stack: str | None = None) -> None:
    root = _root(cwd)
    config = engine_config()
    loaded = io.load_stack(root, stack or pulumi.get_stack(), config=config)
    # the target's checks, once for the whole stack; the policy rules are the pack's
    state = pipeline.program_state(
        pipeline.planned(loaded.endpoints, loaded.settings, loaded.diagnostics), root)
    if has_errors(state.diagnostics) or not state.endpoints:
        report(state.diagnostics,  # raises on an error: nothing registered
               f"Run `mlplan plan --stack {loaded.stack}` for the full plan.")
    settings = {arg: config[key] for key, arg in SHARED.items() if key in config}
    QuotaCheck("quota", typing.cast(QuotaCheckArgs, {
        "paths": list(state.settings.endpoint_paths), "project_dir": str(root),
        **{k: v for k, v in settings.items() if k in QuotaCheckArgs.__annotations__}}))
    opts, kubernetes = registry.resources(state.target).shared_stack(state, root, config)
    keys: dict[str, Any] = config["keys"] if isinstance(config.get("keys"), dict) else {}
    for endpoint in state.endpoints:
        args = _endpoint_args(endpoint, settings, root, config, kubernetes, keys)
        component = OnlineEndpoint(endpoint.name, args, opts)
        pulumi.export(f"{endpoint.name}-scoring-uri", component.scoring_uri)
        pulumi.export(f"{endpoint.name}-swagger-uri", component.swagger_uri)
        pulumi.export(f"{endpoint.name}-primary-key", component.primary_key)
        pulumi.export(f"{endpoint.name}-secondary-key", component.secondary_key)
        pulumi.export(f"{endpoint.name}-deployments", component.deployments)
        if kubernetes and kubernetes.get("withholdSecrets"):  # renderYamlTo, or chosen
            pulumi.export(f"{endpoint.name}-secrets", component.kubernetes_secrets)
    pulumi.export("quota", {"totalRequiredCores": state.quota.total_reserved_millis / 1000,
                            "totalLimitCores": state.quota.total_limit_millis / 1000,
                            "families": {f.family: f.reserved_millis / 1000
                                         for f in state.quota.families}})


def _root(cwd: Path | None) -> Path:
    start = cwd or Path.cwd()
    root = io.find_project_root(start)
    if root is None:
        raise pulumi.RunError(f"mlplan: no Pulumi.yaml in {start} or above")
    return root


def _endpoint_args(endpoint: EndpointState, settings: dict[str, Any], root: Path,
                   config: dict[str, Any], kubernetes: dict[str, Any] | None,
                   keys: dict[str, Any]) -> OnlineEndpointArgs:
    """The endpoint's own files (its documents' files) and the stack's settings."""
    own = endpoint.endpoint.source.file
    files = sorted({d.source.file for d in endpoint.endpoint.deployments} - {own})
    args: dict[str, Any] = {"endpoint_name": endpoint.name, "endpoint_file": own,
                            "deployment_files": files, "project_dir": str(root), **settings}
    if kubernetes is not None:
        args["kubernetes"] = kubernetes
    elif isinstance(config.get("docker"), dict):
        args["docker"] = config["docker"]
    if isinstance(keys.get(endpoint.name), dict):
        args["keys"] = keys[endpoint.name]
    return typing.cast(OnlineEndpointArgs, args)

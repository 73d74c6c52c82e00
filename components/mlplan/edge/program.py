"""The Pulumi program: stack config -> specs -> desired state -> components -> exports.

Reads the same files with the same code as ``mlplan plan``, so a preview and a plan cannot
disagree; any error diagnostic stops the program before a single resource is registered.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from mlplan.domain.diagnostics import Diagnostic, has_errors, sort_diagnostics
from mlplan.edge import io
from mlplan.planning.state import DesiredState, desired
from mlplan.targets.resources import QuotaCheck, report


def load(cwd: Path | None = None, stack: str | None = None) -> tuple[DesiredState, Path]:
    """The desired state of the stack and the project root it was read from."""
    start = cwd or Path.cwd()
    root = io.find_project_root(start)
    if root is None:
        raise pulumi.RunError(f"mlplan: no Pulumi.yaml in {start} or above")
    loaded = io.load_stack(root, stack or pulumi.get_stack())
    return desired(loaded.endpoints, loaded.settings, loaded.diagnostics), root


def run(cwd: Path | None = None, stack: str | None = None) -> None:
    state, root = load(cwd, stack)
    host_problems: list[Diagnostic] = []
    if state.settings.target == "docker" and not has_errors(state.diagnostics):
        import mlplan.targets.docker.resources as docker_target

        host_problems = docker_target.host_diagnostics(state)
    report(tuple(sort_diagnostics([*state.diagnostics, *host_problems])))
    QuotaCheck("quota", state)
    config = pulumi.Config("mlplan")
    # Read plainly only to know which endpoints have configured keys; every value is wrapped
    # in Output.secret before use, so it stays a secret in state and output.
    keys = config.get_object("keys") or {}
    if state.settings.target == "kubernetes":
        import mlplan.targets.kubernetes.resources as kubernetes_target

        outputs = kubernetes_target.deploy(state, keys, root)
    else:
        import mlplan.targets.docker.resources as docker_target

        outputs = docker_target.deploy(state, keys, root)
    pulumi.export("quota", {"totalRequiredCores": state.quota.total_required_millis / 1000,
                            "totalLimitCores": state.quota.total_limit_millis / 1000,
                            "families": {f.family: f.required_millis / 1000
                                         for f in state.quota.families}})
    for name, value in sorted(outputs.items()):
        pulumi.export(name, value)

"""Pieces both targets share: endpoint keys, the quota check component, error reporting.

Keys: ``mlplan:keys: {<endpoint>: {primary: <secret>, secondary: <secret>}}`` (set with
``pulumi config set --secret``) or, when absent, two generated ``random.RandomPassword``s per
endpoint (48 URL-safe characters), kept in the stack state so they do not change between runs.
Either way they are Pulumi secrets and never printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_random as random

from mlplan.domain.diagnostics import Diagnostic, Severity
from mlplan.domain.quantity import format_millis
from mlplan.planning.state import DesiredState
from mlplan.render import safe

KEY_LENGTH = 48
TOKEN_PREFIX = "mlplan:index:"


@dataclass(frozen=True)
class EndpointKeys:
    primary: pulumi.Output[str]
    secondary: pulumi.Output[str]


def endpoint_keys(
    endpoint: str, configured: Any, parent: pulumi.Resource
) -> EndpointKeys:
    """Keys from ``mlplan:keys`` when given, else generated (children of ``parent``)."""
    if isinstance(configured, dict) and configured.get("primary") and configured.get("secondary"):
        return EndpointKeys(pulumi.Output.secret(str(configured["primary"])),
                            pulumi.Output.secret(str(configured["secondary"])))
    generated = [
        random.RandomPassword(
            f"{endpoint}-{which}-key", length=KEY_LENGTH, special=False,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for which in ("primary", "secondary")
    ]
    return EndpointKeys(pulumi.Output.secret(generated[0].result),
                        pulumi.Output.secret(generated[1].result))


def report(diagnostics: tuple[Diagnostic, ...]) -> None:
    """Log every diagnostic with its code; raise once if any is an error (nothing registered)."""
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    for d in diagnostics:
        (pulumi.log.error if d.severity is Severity.ERROR else pulumi.log.warn)(safe.text(str(d)))
    if errors:
        codes = ", ".join(sorted({d.code for d in errors}))
        raise pulumi.RunError(
            f"mlplan: {len(errors)} error(s) ({codes}); nothing was changed. "
            "Run `mlplan plan` for the full plan.")


class QuotaCheck(pulumi.ComponentResource):
    """The stack's quota report as a component: required and limit per family and in total.

    Registered only for a state without errors, so its presence in a preview means the check
    passed; its outputs are what ``mlplan plan`` prints.
    """

    def __init__(self, name: str, state: DesiredState,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        report = state.quota
        props: dict[str, Any] = {
            "families": [
                {"family": f.family, "requiredCores": format_millis(f.required_millis),
                 "limitCores": format_millis(f.limit_millis) if f.limit_millis is not None
                 else None, "users": list(f.users)}
                for f in report.families
            ],
            "totalRequiredCores": format_millis(report.total_required_millis),
            "totalLimitCores": format_millis(report.total_limit_millis),
        }
        super().__init__(TOKEN_PREFIX + "QuotaCheck", name, props, opts)
        self.families = props["families"]
        self.total_required_cores = props["totalRequiredCores"]
        self.total_limit_cores = props["totalLimitCores"]
        self.register_outputs(props)

"""Pieces both targets' Pulumi adapters share: the component type prefix and endpoint keys
(errors are reported by the entry points: ``mlplan.edge.api.report``).

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
        # plain text (stack config) or outputs (a program's secrets), secret either way
        return EndpointKeys(
            pulumi.Output.secret(pulumi.Output.from_input(configured["primary"]).apply(str)),
            pulumi.Output.secret(pulumi.Output.from_input(configured["secondary"]).apply(str)))
    generated = [
        random.RandomPassword(
            f"{endpoint}-{which}-key", length=KEY_LENGTH, special=False,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for which in ("primary", "secondary")
    ]
    return EndpointKeys(pulumi.Output.secret(generated[0].result),
                        pulumi.Output.secret(generated[1].result))

"""Names, the routing header and the caps from Azure's reference that several layers check or
build: one definition each, imported by the spec parser, the planner, the router generator and
the targets (``shared/reference/azureml-online-endpoints.md``).

- Endpoint and deployment names: a letter first, then letters, digits and ``-``, not ending in
  ``-`` (``NAME_PATTERN``; at most 32 characters for endpoints, checked by the spec).
- Instance ``i`` of deployment ``D`` of endpoint ``E`` is ``E-D-i``: ``my-endpoint-blue-0``;
  a Docker stack's ``namePrefix`` goes in front of it (``pr-my-endpoint-blue-0``).
- ``azureml-model-deployment: D`` routes a request to ``D`` whatever its weight.
- A mirror takes at most 50% of the live requests.
- Endpoint keys: 16-1024 characters of an RFC 6750 b64token.
"""

from __future__ import annotations

import re

NAME_PATTERN = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?\Z")
ROUTING_HEADER = "azureml-model-deployment"
#: Variables mlplan sets in every instance on both targets; they win over a deployment's
#: ``environment_variables`` of the same name (which gets a warning).
MLPLAN_VARIABLES = {"MLPLAN_ENDPOINT": "the endpoint's name",
                    "MLPLAN_DEPLOYMENT": "the deployment's name"}
MAX_MIRROR_PERCENT = 50
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._~+/-]+=*\Z")  # RFC 6750 b64token
MIN_KEY_LENGTH = 16
MAX_KEY_LENGTH = 1024
# The router image both targets default to: nginx >= 1.27.3 (upstream `resolve` re-resolves names).
DEFAULT_ROUTER_IMAGE = "nginx:1.28.0-alpine"


def instance_name(endpoint: str, deployment: str, index: int, prefix: str = "") -> str:
    """``instance_name("my-endpoint", "blue", 0, "pr-")`` -> ``pr-my-endpoint-blue-0``."""
    return f"{prefix}{endpoint}-{deployment}-{index}"

"""mlplan's component provider: the engine runs this folder (``python -u components/provider
ENGINE_ADDRESS``) and talks gRPC to the port it prints.

Hosts the public components of :mod:`mlplan` under the package name ``mlplan`` (type tokens
``mlplan:index:OnlineEndpoint``, ``mlplan:index:QuotaCheck``); the schema
(``pulumi package get-schema components/provider``) is inferred from their ``...Args`` types and
docstrings, at mlplan's version. Runs in the repository's virtualenv (PulumiPlugin.yaml).
"""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from pulumi.provider.experimental import component_provider_host

        import mlplan
        from mlplan import OnlineEndpoint, QuotaCheck
    except ImportError as exc:
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in (
                "mlplan", "pulumi"):
            hint = (f": {sys.prefix} is not a virtualenv with mlplan installed; in the "
                    "repository run `python3 -m venv .venv && .venv/bin/pip install -e .`")
        print(f"mlplan provider: {exc}{hint}", file=sys.stderr)
        return 1
    component_provider_host(components=[OnlineEndpoint, QuotaCheck], name="mlplan",
                            version=mlplan.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""mlplan's component provider: the engine runs this folder (``python -u components/provider
ENGINE_ADDRESS``) and talks gRPC to the port it prints.

Serves the public components of :mod:`mlplan` under the package name ``mlplan`` (type tokens
``mlplan:index:OnlineEndpoint``, ``mlplan:index:QuotaCheck``) with Pulumi's component provider
host: the schema (``pulumi package get-schema components/provider``) is inferred from their
``...Args`` types and docstrings, at mlplan's version. Runs in the repository's virtualenv
(PulumiPlugin.yaml).

Bad input: the component has already logged every MLP diagnostic (file, line, field, fix) when
it raises ``pulumi.RunError``. The SDK's host would report that as "Unexpected <class
'Exception'>" with a Python traceback; here it becomes ``InputPropertiesError``, which the engine
shows as the one line "mlplan: 2 error(s) (MLP104, MLP202); nothing was changed. ..." under the
diagnostics. Any other exception keeps the SDK's report (a bug: the traceback helps).
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> int:
    try:
        import pulumi
        from pulumi.errors import InputPropertiesError
        from pulumi.provider import main as serve
        from pulumi.provider.experimental.component import ComponentProvider
        from pulumi.provider.server import ComponentInitError

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

    class Provider(ComponentProvider):
        """The SDK's component provider; a component's RunError (bad input, already logged)
        is reported as invalid input, without a traceback."""

        def construct(self, name: str, resource_type: str, inputs: Any,
                      options: Any = None) -> Any:
            try:
                return super().construct(name, resource_type, inputs, options)
            except ComponentInitError as exc:
                if isinstance(exc.inner, pulumi.RunError):
                    # No property errors (the diagnostics name the files and fields); the
                    # empty list, not None, is what makes the SDK send the status (3.272).
                    raise InputPropertiesError(str(exc.inner), []) from None
                raise

    # What component_provider_host(components=[...], name="mlplan", version=...) does, with the
    # provider above.
    serve(Provider([OnlineEndpoint, QuotaCheck], "mlplan", None, mlplan.__version__),
          sys.argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())

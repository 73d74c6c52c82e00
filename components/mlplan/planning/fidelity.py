"""Azure's YAML read faithfully: every field whose effect only Azure provides is reported with
what happens to it off Azure, so nothing a user declared is dropped without a word.

Severity follows one rule: an **error** where the deployment cannot work as declared (a token
auth mode the router does not serve, a deployment with no image to run), a **warning** where
it still runs but the field has no effect (no managed identity, no Application Insights, no
data collection, network access not enforced, a conda file not installed). Pure: the edge
fills ``EnvironmentRef.conda_packages`` from a conda file on disk.

Examples: ``auth_mode: aml_token`` -> MLP130 error "use auth_mode: key"; an MLflow model with
no ``environment`` -> MLP131 error naming ``mlflow models build-docker``; ``identity:
{type: system_assigned}`` -> MLP132 warning; ``conda_file`` beside ``image`` -> MLP133 warning
naming the packages the image must already hold.
"""

from __future__ import annotations

from mlplan.domain import codes
from mlplan.domain.diagnostics import Diagnostic, error, warning
from mlplan.domain.model import Deployment, Endpoint, skips
from mlplan.domain.names import MAX_ROUTE_PATH_LENGTH, ROUTE_PATH_PATTERN
from mlplan.domain.validation import echo

KEY_INSTEAD = ("use 'auth_mode: key' (the router checks 'Authorization: Bearer <key>' with the "
               "stack's primary and secondary key outputs), or keep this endpoint on Azure")
SHOWN_PACKAGES = 8


def check(endpoint: Endpoint, target: str) -> list[Diagnostic]:
    """Every finding of one endpoint and its deployments, in field order."""
    found = _endpoint_fields(endpoint, target)
    for dep in endpoint.deployments:
        found.extend(_deployment_fields(dep))
    return found


def _endpoint_fields(endpoint: Endpoint, target: str) -> list[Diagnostic]:
    src = endpoint.source
    found: list[Diagnostic] = []
    if endpoint.auth_mode == "aml_token" and not skips(endpoint.skipped, "auth_mode"):
        found.append(error(codes.AUTH_MODE, src.at("auth_mode"),
                           "auth_mode 'aml_token' asks for Azure ML's short-lived tokens (az ml "
                           "online-endpoint get-credentials), which expire; mlplan's router "
                           "issues no tokens and would have to accept keys, which never "
                           f"expire. It serves no other auth than declared: {KEY_INSTEAD}."))
    elif endpoint.auth_mode == "aad_token" and not skips(endpoint.skipped, "auth_mode"):
        found.append(error(codes.AUTH_MODE, src.at("auth_mode"),
                           "auth_mode 'aad_token' asks for Microsoft Entra ID tokens, which "
                           "Azure's front end verifies; off Azure there is no Entra ID to "
                           f"verify them: {KEY_INSTEAD}."))
    if endpoint.identity and endpoint.identity != "none":
        found.append(warning(codes.AZURE_ONLY_FIELD, src.at("identity"),
                             f"identity '{endpoint.identity}': off Azure there is no managed "
                             "identity, so scoring code that asks for one (DefaultAzureCredential, "
                             "ManagedIdentityCredential) gets no token and fails when it calls "
                             "Azure (storage, Key Vault). Pass credentials in "
                             "environment_variables instead, or remove 'identity'."))
    if endpoint.compute:
        found.append(warning(codes.AZURE_ONLY_FIELD, src.at("compute"),
                             f"compute '{endpoint.compute}' names an Azure ML attached "
                             "Kubernetes compute; off Azure it is ignored: the stack's target "
                             f"({target}) decides where the deployments run."))
    if endpoint.public_network_access == "disabled":
        found.append(warning(codes.AZURE_ONLY_FIELD, src.at("public_network_access"),
                             "public_network_access 'disabled' is not enforced off Azure (no "
                             "private endpoint): the endpoint answers wherever its router "
                             "listens. Restrict that address yourself (Docker: publish on "
                             "127.0.0.1 or firewall the port; Kubernetes: an internal Service "
                             "or Gateway)."))
    return found


def _deployment_fields(dep: Deployment) -> list[Diagnostic]:
    src = dep.source
    found: list[Diagnostic] = []
    if dep.environment is None and not skips(dep.skipped, "environment"):
        found.append(error(codes.NO_CODE_DEPLOYMENT, src.at("environment"), _no_code(dep)))
    env = dep.environment
    if env is not None and not env.reference and (env.conda_file or env.conda_inline):
        found.append(warning(codes.CONDA_NOT_INSTALLED, src.at("environment.conda_file"),
                             _conda(env.image, env.build_path, env.conda_packages)))
    scoring = env.scoring_route if env is not None else None
    path = scoring.path if scoring is not None else ""
    # the spec checks every route path; the router carries a narrower set (no query, no nginx
    # syntax: $ ; ' ( )) where it rewrites /score to this one
    if path and not (ROUTE_PATH_PATTERN.match(path) and len(path) <= MAX_ROUTE_PATH_LENGTH) \
            and not skips(dep.skipped, "environment"):
        found.append(error(codes.INVALID_VALUE,
                           src.at("environment.inference_config.scoring_route.path"),
                           f"{echo(path)} is not a scoring path the router can map /score to; "
                           "write an absolute URL path of letters, digits and . _ ~ : @ ! & * + "
                           ", = % / - without a query (percent-encode the rest), e.g. "
                           "/predictions/densenet161."))
    if dep.app_insights_enabled:
        found.append(warning(codes.AZURE_ONLY_FIELD, src.at("app_insights_enabled"),
                             "app_insights_enabled: off Azure nothing is sent to Application "
                             "Insights; each request is in the router's JSON access log and the "
                             "instances' output in their container logs."))
    if dep.data_collector:
        found.append(warning(codes.AZURE_ONLY_FIELD, src.at("data_collector"),
                             "data_collector: Azure's model data collection (inputs and outputs "
                             "to blob storage) does not run off Azure, so nothing is collected; "
                             "log what you need in the scoring script, or remove it."))
    if dep.egress_public_network_access == "disabled":
        found.append(warning(codes.AZURE_ONLY_FIELD, src.at("egress_public_network_access"),
                             "egress_public_network_access 'disabled' is not enforced off "
                             "Azure: instances keep the outbound network access of their host "
                             "or cluster. Block it there (Docker: an internal network or "
                             "firewall; Kubernetes: an egress NetworkPolicy)."))
    return found


def _no_code(dep: Deployment) -> str:
    """What off-Azure needs for a deployment without an environment, by model type."""
    kind = dep.model.type if dep.model is not None else ""
    start = ("no environment: Azure serves a no-code deployment with an image it picks for the "
             "model; off Azure nothing picks one, so name the image that serves the model in "
             "'environment: {image: ...}'")
    if kind == "triton_model":
        return (f"{start}: e.g. an image FROM nvcr.io/nvidia/tritonserver:<version>-py3 whose "
                "command runs 'tritonserver --model-repository <model_mount_path>', with "
                "inference_config routes {port: 8000}: liveness /v2/health/live, readiness "
                "/v2/health/ready, scoring /.")
    if kind == "mlflow_model":
        return (f"{start}: e.g. build one with 'mlflow models build-docker -m <model path> -n "
                "<name>' and set inference_config routes {port: 8080}: scoring /invocations, "
                "liveness and readiness /ping.")
    return (f"{start}, or an image with Azure's inference server plus 'code_configuration' "
            "(e.g. for MLflow: 'mlflow models build-docker -m <model path> -n <name>', routes "
            "on port 8080: scoring /invocations, liveness and readiness /ping).")


def _conda(image: str, build_path: str, packages: tuple[str, ...]) -> str:
    shown = ", ".join(packages[:SHOWN_PACKAGES])
    if len(packages) > SHOWN_PACKAGES:
        shown += f" and {len(packages) - SHOWN_PACKAGES} more"
    holds = f" ({shown})" if shown else ""
    base = f"image '{image}'" if image else f"the image built from '{build_path}'"
    return (f"conda_file is not installed off Azure: Azure builds it into a layer over the "
            f"image, mlplan runs {base} as it is, so it must already hold the file's "
            f"packages{holds}, else the scoring script fails to import them at start. Install "
            "them in your image (e.g. 'environment.build' with a Dockerfile FROM it that runs "
            "conda env update or pip install), then drop conda_file.")

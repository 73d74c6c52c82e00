"""Azure's own example files (tests/fixtures/azure, each with its source path in its first line)
either plan and are served as Azure would serve them, or get a diagnostic that says what is not
supported off Azure and what to do: custom routes, auth modes, no-code deployments, and every
field whose effect only Azure provides.

Template files are substituted the way Azure's scripts do (``sed s/{{acr_name}}/$ACR_NAME/``)
before planning.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mlplan.domain import codes
from mlplan.domain.assets import Assets
from mlplan.domain.diagnostics import Diagnostic, Severity
from mlplan.domain.settings import Settings
from mlplan.domain.spec import SourceText, conda_packages, parse
from mlplan.domain.yamlsource import parse_yaml
from mlplan.edge.pipeline import planned as state_of
from mlplan.planning.routing import router_config
from mlplan.planning.state import DesiredState
from mlplan.targets.docker.containers import plan_endpoint
from mlplan.targets.docker.settings import DockerSettings
from mlplan.targets.kubernetes.choices import probe_route, route_limits, serving_port
from mlplan.targets.kubernetes.settings import KubernetesSettings

AZURE = Path(__file__).parents[1] / "fixtures" / "azure"
# what Azure's deploy-*.sh scripts substitute before `az ml online-deployment create`
SUBSTITUTIONS = {"{{acr_name}}": "myregistry", "{{ACR_NAME}}": "myregistry",
                 "{{MODEL_VERSION}}": "1", "{{ENDPOINT_NAME}}": "my-endpoint",
                 "placeholder-name": "my-endpoint"}


def azure(*paths: str, **replaced: str) -> list[SourceText]:
    found = []
    for path in paths:
        text = (AZURE / path).read_text()
        assert text.startswith("# source: Azure/azureml-examples@"), path
        for old, new in {**SUBSTITUTIONS, **replaced}.items():
            text = text.replace(old, new)
        found.append(SourceText(path, text))
    return found


def planned(*paths: str, settings: Settings | None = None, **replaced: str) -> DesiredState:
    result = parse(azure(*paths, **replaced))
    return state_of(result.endpoints, settings or Settings(), result.diagnostics)


def findings(state: DesiredState) -> list[tuple[str, str, str]]:
    return sorted((d.code, d.severity.name.lower(), d.location.field) for d in state.diagnostics)


# --- 1. custom containers' routes -------------------------------------------------------------

TORCHSERVE = ("custom-container/torchserve/densenet/torchserve-endpoint.yml",
              "custom-container/torchserve/densenet/torchserve-deployment.yml")
TFSERVING = ("custom-container/tfserving/half-plus-two/tfserving-endpoint.yml",
             "custom-container/tfserving/half-plus-two/tfserving-deployment.yml")
TRITON_CC = ("custom-container/triton/single-model/triton-cc-endpoint.yml",
             "custom-container/triton/single-model/triton-cc-deployment.yml")
R_PLUMBER = ("custom-container/r/multimodel-plumber/r-endpoint.yml",
             "custom-container/r/multimodel-plumber/r-deployment.yml")
VNET = ("managed/vnet/sample/endpoint.yml", "managed/vnet/sample/blue-deployment-vnet.yml")

ROUTES = [
    # name, files, (scoring path, port), liveness (path, port), readiness (path, port)
    ("torchserve densenet", TORCHSERVE, ("/predictions/densenet161", 8080), ("/ping", 8080),
     ("/ping", 8080)),
    ("tf serving half-plus-two", TFSERVING, ("/v1/models/half_plus_two:predict", 8501),
     ("/v1/models/half_plus_two", 8501), ("/v1/models/half_plus_two", 8501)),
    ("triton custom container", TRITON_CC, ("/", 8000), ("/v2/health/live", 8000),
     ("/v2/health/ready", 8000)),
    ("r plumber", R_PLUMBER, ("/score", 8000), ("/live", 8000), ("/ready", 8000)),
    ("azure's own server declared", VNET, ("/score", 5001), ("/", 5001), ("/", 5001)),
]


@pytest.mark.parametrize(("name", "files", "scoring", "liveness", "readiness"), ROUTES,
                         ids=[r[0] for r in ROUTES])
def test_routes_reach_router_docker_and_kubernetes(
        name: str, files: tuple[str, str], scoring: tuple[str, int], liveness: tuple[str, int],
        readiness: tuple[str, int]) -> None:
    state = planned(*files)
    (endpoint,) = state.endpoints
    (dep,) = endpoint.deployments

    config = router_config(endpoint, lambda d: (f"{d.name}-0:{serving_port(d)}",), (), 8080)
    (backend,) = config.backends
    assert (backend.scoring_path, backend.instances) == (
        scoring[0], (f"{dep.name}-0:{scoring[1]}",))

    containers = plan_endpoint(endpoint, "development", DockerSettings(), Assets(),
                               lambda p: "/project/" + p, lambda _p: False)
    (instance,) = containers.deployments[0].containers
    assert instance.port == scoring[1]  # the router's upstream port
    assert f"http://127.0.0.1:{readiness[1]}{readiness[0]}" in instance.healthcheck.test

    assert (probe_route(dep, "liveness").path, probe_route(dep, "liveness").port) == liveness
    assert (probe_route(dep, "readiness").path, probe_route(dep, "readiness").port) == readiness


def test_gateway_api_mode_refuses_a_custom_scoring_path() -> None:
    """An HTTPRoute cannot map /score per backend: said at the deployment, nginx mode named."""
    gateway = KubernetesSettings(router_mode="gateway-api")
    custom = route_limits(planned(*TORCHSERVE), gateway)
    assert [(d.code, d.location.field) for d in custom] == [
        (codes.INVALID_VALUE, "environment.inference_config.scoring_route.path")]
    assert "use routerMode nginx" in custom[0].message
    assert route_limits(planned(*R_PLUMBER), gateway) == []  # /score: nothing to map


@pytest.mark.parametrize("path", ["/predict me", "/a;b", "score", "/$uri", "/score?x=1"])
def test_a_route_path_the_router_cannot_carry_is_an_error(path: str) -> None:
    """Said once, by the spec (any route) or by the router's narrower rule (scoring only)."""
    state = planned(*R_PLUMBER, **{"path: /score": f"path: '{path}'"})
    at = [f for f in findings(state) if f[2] == "environment.inference_config.scoring_route.path"]
    assert at == [(codes.INVALID_VALUE, "error", "environment.inference_config.scoring_route"
                                                 ".path")]


def test_a_probe_path_with_a_query_is_fine() -> None:
    """Probes are asked by the healthcheck / kubelet, not rewritten by the router."""
    state = planned(*R_PLUMBER, **{"path: /ready": "path: '/ready?deep=1'"})
    assert [f for f in findings(state) if "route" in f[2]] == []


# --- 2. auth modes ----------------------------------------------------------------------------

AUTH = [
    # name, files, replaced, the message's words (none: no auth finding)
    ("torchserve's aml_token", TORCHSERVE, {}, ["'aml_token'", "use 'auth_mode: key'"]),
    ("triton no-code's aml_token", ("triton/single-model/create-managed-endpoint.yaml",), {},
     ["expire", "use 'auth_mode: key'"]),
    ("aad_token (Azure's sample endpoint, mode changed)", ("managed/sample/endpoint.yml",),
     {"auth_mode: key": "auth_mode: aad_token"}, ["Entra ID", "use 'auth_mode: key'"]),
    ("key as written by Azure's Kubernetes example", ("kubernetes/kubernetes-endpoint.yml",), {},
     []),
]


@pytest.mark.parametrize(("name", "files", "replaced", "words"), AUTH, ids=[a[0] for a in AUTH])
def test_token_auth_modes_are_refused_never_served_as_keys(
        name: str, files: tuple[str, ...], replaced: dict[str, str], words: list[str]) -> None:
    state = planned(*files, **replaced)
    auth = [d for d in state.diagnostics if d.code == codes.AUTH_MODE]
    if not words:
        assert auth == []
        return
    (found,) = auth
    assert (found.severity, found.location.field) == (Severity.ERROR, "auth_mode")
    for word in words:
        assert word in found.message


# --- 3. no-code deployments -------------------------------------------------------------------

NO_CODE = [
    ("mlflow (ncd sklearn + lightgbm)", ("ncd/create-endpoint.yaml", "ncd/sklearn-deployment.yaml",
                                         "ncd/lightgbm-deployment.yaml"),
     {"sklearn-deployment", "lightgbm-deployment"}, "mlflow models build-docker"),
    ("triton no-code", ("triton/single-model/create-managed-endpoint.yaml",
                        "triton/single-model/create-managed-deployment.yaml"),
     {"blue"}, "tritonserver --model-repository"),
]


@pytest.mark.parametrize(("name", "files", "deployments", "how"), NO_CODE,
                         ids=[n[0] for n in NO_CODE])
def test_no_code_deployments_get_one_error_naming_a_way_to_an_image(
        name: str, files: tuple[str, ...], deployments: set[str], how: str) -> None:
    for settings in (Settings(), Settings(target="kubernetes", environment="production")):
        state = planned(*files, settings=settings)
        no_code = [d for d in state.diagnostics if d.code == codes.NO_CODE_DEPLOYMENT]
        assert {d.location.file for d in no_code} == set(files[1:])
        assert all(d.severity is Severity.ERROR and d.location.field == "environment"
                   for d in no_code)
        assert all(how in d.message and "no environment" in d.message for d in no_code)
        assert len(no_code) == len(deployments)
        assert not {d.code for d in state.diagnostics} & {codes.MISSING_FIELD,
                                                          codes.KUBERNETES_DELIVERY,
                                                          codes.IMAGE_PINNED}


# --- 4. fields with Azure-only effects --------------------------------------------------------

FIELDS = [
    ("managed sample: conda file over a base image",
     ("managed/sample/endpoint.yml", "managed/sample/blue-deployment.yml",
      "managed/sample/green-deployment.yml"),
     [(codes.CONDA_NOT_INSTALLED, "warning", "environment.conda_file")] * 2),
    ("kubernetes: compute and conda",
     ("kubernetes/kubernetes-endpoint.yml", "kubernetes/kubernetes-blue-deployment.yml",
      "kubernetes/kubernetes-green-deployment.yml"),
     [(codes.AZURE_ONLY_FIELD, "warning", "app_insights_enabled"),
      (codes.AZURE_ONLY_FIELD, "warning", "compute"),
      (codes.CONDA_NOT_INSTALLED, "warning", "environment.conda_file"),
      (codes.CONDA_NOT_INSTALLED, "warning", "environment.conda_file")]),
    ("vnet: no public access in or out", VNET,
     [(codes.AZURE_ONLY_FIELD, "warning", "egress_public_network_access"),
      (codes.AZURE_ONLY_FIELD, "warning", "public_network_access")]),
    ("vnet mlflow", ("managed/vnet/mlflow/endpoint.yml",
                     "managed/vnet/mlflow/blue-deployment-vnet.yml"),
     [(codes.AZURE_ONLY_FIELD, "warning", "egress_public_network_access"),
      (codes.AZURE_ONLY_FIELD, "warning", "public_network_access")]),
    ("user-assigned identity", ("managed/managed-identities/1-uai-create-endpoint.yml",),
     [(codes.AZURE_ONLY_FIELD, "warning", "identity")]),
    ("data collector", ("managed/sample/endpoint.yml",
                        "data-collector/workspace-blob-storage/"
                        "workspace-blob-storage-custom1.YAML"),
     [(codes.AZURE_ONLY_FIELD, "warning", "data_collector"),
      (codes.CONDA_NOT_INSTALLED, "warning", "environment.conda_file")]),
]


@pytest.mark.parametrize(("name", "files", "expected"), FIELDS, ids=[f[0] for f in FIELDS])
def test_azure_only_fields_say_what_happens_off_azure(
        name: str, files: tuple[str, ...], expected: list[tuple[str, str, str]]) -> None:
    # the data collector example names its endpoint my_endpoint (not a valid name in Azure
    # either) and a registered model: read as Azure's docs say to adapt it
    state = planned(*files, my_endpoint="my-endpoint")
    assert findings(state) == sorted(expected)
    for found in state.diagnostics:
        assert "off Azure" in found.message


def test_conda_warning_names_the_packages_the_image_must_hold() -> None:
    conda = parse_yaml((AZURE / "ncd/sklearn-diabetes/environment/conda.yaml").read_text())
    packages = conda_packages(conda.documents[0].value)
    # Azure's file, in its order
    assert packages[:4] == ("python=3.12", "pip", "mlflow", "scikit-learn==1.7.0")
    (endpoint,) = planned("managed/sample/endpoint.yml",
                          "managed/sample/blue-deployment.yml").endpoints
    dep = endpoint.deployments[0].deployment
    assert dep.environment is not None
    env = replace(dep.environment, conda_packages=packages)
    with_packages = replace(endpoint.endpoint, deployments=(replace(dep, environment=env),))
    (found,) = [d for d in state_of((with_packages,), Settings()).diagnostics
                if d.code == codes.CONDA_NOT_INSTALLED]
    assert "(python=3.12, pip, mlflow, scikit-learn==1.7.0" in found.message
    assert "openmpi4.1.0-ubuntu22.04:latest" in found.message


def test_every_finding_has_a_known_code() -> None:
    everything: list[Diagnostic] = []
    for _name, files, _expected in FIELDS:
        everything += planned(*files, my_endpoint="my-endpoint").diagnostics
    assert {d.code for d in everything} <= {codes.AZURE_ONLY_FIELD, codes.CONDA_NOT_INSTALLED}


@pytest.mark.parametrize(("path", "accepted"), [
    ("/score", True), ("/", True), ("/v1/models/half_plus_two:predict", True),
    ("/predictions/densenet161", True), ("/a%20b", True),
    ("score", False), ("/a b", False), ("/a;b", False), ("/$request_uri", False),
    ('/a"b', False), ("/a{b}", False), ("/" + "x" * 1024, False),
])
def test_router_carries_only_plain_url_paths(path: str, accepted: bool) -> None:
    """The router's own guard (the spec reports the same paths as MLP104 first)."""
    from mlplan.router.nginx import NginxRuntime, RouterBackend, RouterConfig, render_routing

    def make() -> RouterBackend:
        return RouterBackend(name="blue", instances=("blue-0:8080",), scoring_path=path)

    if not accepted:
        with pytest.raises(ValueError, match="scoring_path"):
            make()
        return
    config = RouterConfig(endpoint="ep", listen_port=8080, backends=(make(),),
                          traffic=(("blue", 100),))
    routing = render_routing(config, NginxRuntime())
    if path == "/score":
        # the default path: the request goes to the instance as sent (no rewrite map)
        assert "map $request_uri" not in routing
        assert "proxy_pass http://mlplan_blue;" in routing
    else:
        assert f'"~^/score(\\?.*)?$" "{path}$1";' in routing
        assert "proxy_pass http://mlplan_blue$mlplan_uri_blue;" in routing

"""Kubernetes target under Pulumi mocks: the resource graph for named scenarios.

Each test copies ``tests/targets/fixtures/kubernetes`` (stack ``k8s``: my-endpoint with blue
3 x Standard_DS3_v2 at 90% and green 2 x Standard_DS3_v2 at 10%, namespace ``ml``) into a
temporary project, patches its YAML and runs the real program (``program.run``) under mocks.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.sync_await import _sync_await

from mlplan.domain import codes, labels
from mlplan.edge import program
from mlplan.targets.kubernetes import choices as ko
from mlplan.targets.kubernetes import files as local_files
from mlplan.targets.kubernetes import resources as target
from tests.targets import harness
from tests.targets.harness import Recorded, by_type, one, run_program

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "kubernetes"
REPO = Path(__file__).resolve().parents[2]
STACK = "k8s"

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
NAMESPACE = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
PROVIDER = "pulumi:providers:kubernetes"
ENDPOINT_T = "mlplan:index:KubernetesEndpoint"  # child of the public OnlineEndpoint
PUBLIC_T = "mlplan:index:OnlineEndpoint"
DEPLOYMENT_T = "mlplan:index:OnlineDeployment"

GATEWAY = {"routerMode": "gateway-api", "hostname": "{endpoint}.ml.example.com",
           "gatewayRef": {"name": "shared", "namespace": "gateways"}}
KEYS = {"my-endpoint": {"primary": "primary-key-" + "p" * 32,
                        "secondary": "secondary-key-" + "s" * 32}}


# --- project and program ------------------------------------------------------------------------


def _merge(base: Any, patch: Any) -> Any:
    """Deep merge; a ``None`` in ``patch`` deletes the key."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return patch
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


class Project:
    """A copy of the fixture project; ``patch`` edits one of its YAML files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(FIXTURE, root)
        shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO / "stacks" / "model", root / "stacks" / "model", ignore=ignore)
        shutil.copytree(REPO / "stacks" / "score", root / "stacks" / "score", ignore=ignore)

    def file(self, name: str) -> Path:
        if name == "stack":
            return self.root / "stacks" / f"Pulumi.{STACK}.yaml"
        return self.root / "stacks" / "endpoints" / f"{name}.yml"

    def patch(self, name: str, patch: dict[str, Any] | None) -> Project:
        """``patch("blue", {...})``; ``patch("blue", None)`` deletes the file; a new name adds
        a deployment file."""
        path = self.file(name)
        if patch is None:
            path.unlink()
            return self
        current = yaml.safe_load(path.read_text()) if path.exists() else {}
        path.write_text(yaml.safe_dump(_merge(current, patch), sort_keys=False))
        return self

    def kubernetes(self, **settings: Any) -> Project:
        return self.patch("stack", {"config": {"mlplan:kubernetes": settings}})

    def run(self, config: dict[str, Any] | None = None) -> list[Recorded]:
        return run_program(lambda: program.run(cwd=self.root, stack=STACK), stack=STACK,
                           config=config, project=self.root)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    made = Project(tmp_path / "project")
    monkeypatch.chdir(made.root)  # deploy() finds the project root from the working directory
    return made


def deployment_file(name: str, **extra: Any) -> dict[str, Any]:
    base = yaml.safe_load((FIXTURE / "stacks" / "endpoints" / "blue.yml").read_text())
    return _merge(base, {"name": name, **extra})


def by_name(recorded: list[Recorded], type_: str) -> dict[str, Recorded]:
    return {r.name: r for r in by_type(recorded, type_)}


def urn(recorded: list[Recorded], type_: str, name: str) -> str:
    return one(recorded, type_, name).urn


def pod(recorded: list[Recorded], name: str = "my-endpoint-blue-deployment") -> dict[str, Any]:
    spec: dict[str, Any] = one(recorded, DEPLOYMENT, name).inputs["spec"]["template"]["spec"]
    return spec


def container(recorded: list[Recorded], name: str = "my-endpoint-blue-deployment"
              ) -> dict[str, Any]:
    found: dict[str, Any] = pod(recorded, name)["containers"][0]
    return found


# --- one deployment ---------------------------------------------------------------------------


PLACEMENT = [
    # scenario, blue patch, resources, tolerations, node selector, gpus label
    ("CPU SKU: no GPU, anywhere", {"instance_type": "Standard_DS3_v2"},
     {"requests": {"cpu": "4", "memory": "14Gi"}, "limits": {"cpu": "4", "memory": "14Gi"}},
     None, None, "0"),
    ("GPU SKU Standard_NC6s_v3: one GPU, GPU nodes", {"instance_type": "Standard_NC6s_v3"},
     {"requests": {"cpu": "6", "memory": "112Gi"},
      "limits": {"cpu": "6", "memory": "112Gi", "nvidia.com/gpu": "1"}},
     [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
     {"nvidia.com/gpu.present": "true"}, "1"),
    ("GPU SKU Standard_NC24s_v3: four GPUs", {"instance_type": "Standard_NC24s_v3"},
     {"requests": {"cpu": "24", "memory": "448Gi"},
      "limits": {"cpu": "24", "memory": "448Gi", "nvidia.com/gpu": "4"}},
     [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
     {"nvidia.com/gpu.present": "true"}, "4"),
    ("Kubernetes resources with a GPU limit", {
        "$schema": "https://azuremlschemas.azureedge.net/latest/"
                   "kubernetesOnlineDeployment.schema.json",
        "type": "kubernetes", "instance_type": None, "scale_settings": {"type": "default"},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                      "limits": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": 1}}},
     {"requests": {"cpu": "500m", "memory": "1Gi"},
      "limits": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"}},
     [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
     {"nvidia.com/gpu.present": "true"}, "1"),
]


@pytest.mark.parametrize(("name", "patch", "resources", "tolerations", "selector", "gpus"),
                         PLACEMENT, ids=[p[0] for p in PLACEMENT])
def test_resources_and_gpu_placement(name: str, patch: dict[str, Any],
                                     resources: dict[str, Any], tolerations: Any, selector: Any,
                                     gpus: str, project: Project) -> None:
    recorded = project.patch("blue", patch).run()
    assert container(recorded)["resources"] == resources
    assert pod(recorded).get("tolerations") == tolerations
    assert pod(recorded).get("nodeSelector") == selector
    deployment = one(recorded, DEPLOYMENT, "my-endpoint-blue-deployment")
    assert deployment.inputs["metadata"]["labels"][labels.GPUS] == gpus
    assert "nvidia.com/gpu" not in container(recorded)["resources"]["requests"]


def test_instance_type_placement_from_stack_config(project: Project) -> None:
    project.patch("stack", {"config": {"mlplan:instanceTypes": {"a100-pool": {
        "cpu": "8", "memory": "64Gi", "gpu": 1, "nodeSelector": {"pool": "a100"},
        "tolerations": [{"key": "pool", "operator": "Equal", "value": "a100",
                         "effect": "NoSchedule"}]}}}})
    project.kubernetes(gpuNodeSelector={}, gpuTolerations=[])
    recorded = project.patch("blue", {"instance_type": "a100-pool"}).run()
    assert pod(recorded)["nodeSelector"] == {"pool": "a100"}
    assert pod(recorded)["tolerations"] == [{"key": "pool", "operator": "Equal", "value": "a100",
                                             "effect": "NoSchedule"}]
    assert container(recorded)["resources"]["limits"]["nvidia.com/gpu"] == "1"


KUBERNETES = {"$schema": "https://azuremlschemas.azureedge.net/latest/"
                         "kubernetesOnlineDeployment.schema.json", "type": "kubernetes"}

SCALING = [
    # scenario, blue patch, replicas, HPA (min, max, cpu %), strategy (surge, unavailable)
    ("manual: replicas = instance_count, no HPA", {"instance_count": 3}, 3, None, ("20%", 0)),
    ("target_utilization: HPA, replicas omitted", {
        **KUBERNETES, "instance_count": None,
        "scale_settings": {"type": "target_utilization", "min_instances": 2,
                           "max_instances": 8, "target_utilization_percentage": 60}},
     None, (2, 8, 60), ("20%", 0)),
    ("Kubernetes default scale settings: HPA pinned to the count", {
        **KUBERNETES, "instance_count": 4}, None, (4, 4, 70), ("20%", 0)),
    ("exempt SKU: no surge, one batch down", {
        "instance_type": "Standard_NC24ads_A100_v4", "instance_count": 6}, 6, None, (0, 2)),
]


@pytest.mark.parametrize(("name", "patch", "replicas", "hpa", "strategy"), SCALING,
                         ids=[s[0] for s in SCALING])
def test_replicas_hpa_and_strategy(name: str, patch: dict[str, Any], replicas: int | None,
                                   hpa: tuple[int, int, int] | None,
                                   strategy: tuple[Any, Any], project: Project) -> None:
    recorded = project.patch("blue", patch).run()
    blue = one(recorded, DEPLOYMENT, "my-endpoint-blue-deployment").inputs
    spec = blue["spec"]
    assert spec.get("replicas") == replicas
    # pulumi up waits for the complete rollout (every old pod gone), not the first batch, or
    # for the controller's ProgressDeadlineExceeded one batch budget after the last progress
    (wait_for,) = json.loads(blue["metadata"]["annotations"]["pulumi.com/waitFor"])
    complete = ([f"@.{field}=={replicas}" for field in
                 ("updatedReplicas", "replicas", "availableReplicas")]
                if replicas is not None else ['@.reason=="NewReplicaSetAvailable"'])
    assert all(part in wait_for for part in complete), wait_for
    assert '@.reason=="ProgressDeadlineExceeded"' in wait_for, wait_for
    assert spec["progressDeadlineSeconds"] == 10 + 10 * 30 + 2 + 50  # Azure's probe defaults
    assert ("replicas" in spec) == (hpa is None)
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": strategy[0], "maxUnavailable": strategy[1]}}
    hpas = by_name(recorded, HPA)
    if hpa is None:
        assert "my-endpoint-blue-hpa" not in hpas
        return
    scaler = hpas["my-endpoint-blue-hpa"].inputs
    assert scaler["metadata"]["name"] == "my-endpoint-blue"
    assert (scaler["spec"]["minReplicas"], scaler["spec"]["maxReplicas"]) == hpa[:2]
    assert scaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                "name": "my-endpoint-blue"}
    assert scaler["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": hpa[2]}}}]
    assert scaler.get("metadata", {}).get("namespace") == "ml"


def test_deployment_objects(project: Project) -> None:
    project.patch("blue", {
        "request_settings": {"request_timeout_ms": 90_000,
                             "max_concurrent_requests_per_instance": 4},
        "liveness_probe": {"initial_delay": 30, "period": 5, "timeout": 3,
                           "success_threshold": 2, "failure_threshold": 6},
    }).kubernetes(imagePullSecrets=["regcred"])
    recorded = project.run()
    blue = one(recorded, DEPLOYMENT, "my-endpoint-blue-deployment")
    meta, spec = blue.inputs["metadata"], blue.inputs["spec"]
    assert (meta["name"], meta["namespace"]) == ("my-endpoint-blue", "ml")
    selector = {labels.ENDPOINT: "my-endpoint", labels.DEPLOYMENT: "blue",
                labels.ROLE: "instance"}
    assert spec["selector"] == {"matchLabels": selector}
    assert meta["labels"] | {} == {
        labels.ENDPOINT: "my-endpoint", labels.DEPLOYMENT: "blue",
        labels.INSTANCE_TYPE: "Standard_DS3_v2", labels.WEIGHT: "90", labels.MIRROR: "0",
        labels.ROLE: "instance", labels.GPUS: "0", labels.CPU_MILLIS: "4000",
        labels.MANAGED_BY: "mlplan",
        "app.kubernetes.io/name": "my-endpoint", "app.kubernetes.io/component": "instance",
        "app.kubernetes.io/instance": "my-endpoint-blue"}
    template_labels = spec["template"]["metadata"]["labels"]
    assert selector.items() <= template_labels.items()
    assert labels.WEIGHT not in template_labels
    assert meta["annotations"][labels.IMAGE] == "example.io/inference:1.0"
    inference = container(recorded)
    assert inference["image"] == "example.io/inference:1.0"
    assert inference["ports"] == [{"name": "http", "containerPort": 5001, "protocol": "TCP"}]
    assert inference["livenessProbe"] == {
        "httpGet": {"path": "/", "port": 5001}, "initialDelaySeconds": 30, "periodSeconds": 5,
        "timeoutSeconds": 3, "successThreshold": 1, "failureThreshold": 6}
    assert inference["readinessProbe"] == {  # Azure's defaults
        "httpGet": {"path": "/", "port": 5001}, "initialDelaySeconds": 10, "periodSeconds": 10,
        "timeoutSeconds": 2, "successThreshold": 1, "failureThreshold": 30}
    assert {e["name"]: e["value"] for e in inference["env"]} == {
        "AML_APP_ROOT": "/var/azureml-app/score",
        "AZUREML_ENTRY_SCRIPT": "score.py",
        "AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models/sample-model/1",
        "MLPLAN_DEPLOYMENT": "blue", "MLPLAN_ENDPOINT": "my-endpoint", "WORKER_COUNT": "4"}
    template = pod(recorded)
    assert template["terminationGracePeriodSeconds"] >= 90 + ko.PRESTOP_SLEEP_S
    assert template["imagePullSecrets"] == [{"name": "regcred"}]
    assert template["automountServiceAccountToken"] is False
    # model and code: immutable ConfigMaps named by content, mounted where Azure mounts them
    model_cm = one(recorded, CONFIG_MAP, "my-endpoint-blue-model").inputs
    code_cm = one(recorded, CONFIG_MAP, "my-endpoint-blue-code").inputs
    assert model_cm["immutable"] is True and code_cm["immutable"] is True
    assert json.loads(model_cm["data"]["model.json"])["kind"] == "linear-regression"
    assert "def init()" in code_cm["data"]["score.py"]
    volumes = {v["name"]: v for v in template["volumes"]}
    assert volumes["model"]["configMap"]["name"] == model_cm["metadata"]["name"]
    assert model_cm["metadata"]["name"].startswith("my-endpoint-blue-model-")
    assert {m["name"]: m["mountPath"] for m in inference["volumeMounts"]} == {
        "model": "/var/azureml-app/azureml-models/sample-model/1",
        "code": "/var/azureml-app/score"}
    service = one(recorded, SERVICE, "my-endpoint-blue-service").inputs
    assert service["metadata"]["name"] == "my-endpoint-blue"
    assert service["spec"] == {"type": "ClusterIP", "selector": selector, "ports": [
        {"name": "http", "port": 5001, "targetPort": 5001, "protocol": "TCP"}]}
    pdb = one(recorded, PDB, "my-endpoint-blue-pdb").inputs
    assert pdb["spec"] == {"maxUnavailable": "20%", "selector": {"matchLabels": selector},
                           "unhealthyPodEvictionPolicy": "AlwaysAllow"}


def test_children_are_parented_to_their_components(project: Project) -> None:
    recorded = project.run()
    endpoint = urn(recorded, ENDPOINT_T, "my-endpoint")
    assert one(recorded, ENDPOINT_T, "my-endpoint").parent == urn(recorded, PUBLIC_T,
                                                                  "my-endpoint")
    for dep in ("blue", "green"):
        component = one(recorded, DEPLOYMENT_T, f"my-endpoint-{dep}")
        assert component.parent == endpoint
        assert component.inputs["deployment"] == dep and component.inputs["weight"] in (90, 10)
        children = [r for r in recorded if r.parent == component.urn]
        env = {(SECRET, f"my-endpoint-{dep}-env")} if dep == "green" else set()  # has vars
        assert {(r.type, r.name) for r in children} == {
            (DEPLOYMENT, f"my-endpoint-{dep}-deployment"),
            (SERVICE, f"my-endpoint-{dep}-service"), (PDB, f"my-endpoint-{dep}-pdb"),
            (CONFIG_MAP, f"my-endpoint-{dep}-model"), (CONFIG_MAP, f"my-endpoint-{dep}-code"),
            *env}
    endpoint_children = {(r.type, r.name) for r in recorded if r.parent == endpoint}
    assert {(SECRET, "my-endpoint-keys"), (CONFIG_MAP, "my-endpoint-router-config"),
            (DEPLOYMENT, "my-endpoint-router"), (SERVICE, "my-endpoint-router-service"),
            (PDB, "my-endpoint-router-pdb")} <= endpoint_children
    assert one(recorded, ENDPOINT_T, "my-endpoint").inputs["traffic"] == {"blue": 90,
                                                                          "green": 10}
    namespace = urn(recorded, NAMESPACE, "namespace")
    for r in recorded:
        if r.type.startswith("kubernetes:") and r.type != NAMESPACE:
            assert r.parent in {endpoint} | {c.urn for c in by_type(recorded, DEPLOYMENT_T)}
            assert r.inputs["metadata"]["namespace"] == "ml", r.name
            assert r.inputs["metadata"]["labels"][labels.MANAGED_BY] == "mlplan", r.name
            assert namespace in r.dependencies, r.name


# --- a stalled rollout -------------------------------------------------------------------------

STALLED = {"observedGeneration": 2, "conditions": [
    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
     "message": 'ReplicaSet "x-5d9" has timed out progressing.'}]}
VERDICTS = [
    # scenario, resource whose status the engine returns stalled, preview, message or "",
    # whether the router Deployment is registered
    ("blue stalls: up fails before the router moves", "my-endpoint-blue-deployment", False,
     "Deployment my-endpoint-blue: the rollout stalled (ProgressDeadlineExceeded", False),
    ("the router stalls: up fails naming it", "my-endpoint-router", False,
     "Deployment my-endpoint: the rollout stalled (ProgressDeadlineExceeded", True),
    ("a preview plans, it does not judge the live status", "my-endpoint-blue-deployment", True,
     "", True),
]


@pytest.mark.parametrize(("name", "stalled", "preview", "said", "router_registered"), VERDICTS,
                         ids=[v[0] for v in VERDICTS])
def test_a_stalled_rollout_fails_pulumi_up(name: str, stalled: str, preview: bool, said: str,
                                           router_registered: bool, project: Project,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The await ends on ``ProgressDeadlineExceeded`` (``ko.rollout_complete``); the adapter
    then fails the update with the controller's message, no traceback, and registers nothing
    that waits for the deployments (the router keeps its old split)."""
    original = harness.Mocks.new_resource
    registered: list[str] = []

    def engine(self: harness.Mocks, args: pulumi.runtime.MockResourceArgs
               ) -> tuple[str, dict[str, Any]]:
        registered.append(args.name)
        found, state = original(self, args)
        return found, {**state, "status": STALLED} if args.name == stalled else state

    monkeypatch.setattr(harness.Mocks, "new_resource", engine)
    run = lambda: run_program(lambda: program.run(cwd=project.root, stack=STACK),  # noqa: E731
                              stack=STACK, preview=preview, project=project.root)
    if said:
        with pytest.raises(pulumi.RunError) as failed:
            run()
        assert str(failed.value).startswith("mlplan: " + said), failed.value
        assert "The old pods keep serving" in str(failed.value)
    else:
        run()
    assert ("my-endpoint-router" in registered) == router_registered, registered


# --- router -------------------------------------------------------------------------------------


def _nginx(recorded: list[Recorded]) -> None:
    config = one(recorded, CONFIG_MAP, "my-endpoint-router-config").inputs
    routing = config["data"]["routing.conf"]
    assert "90% live/blue;" in routing and "* live/green;  # 10%" in routing
    assert "server my-endpoint-blue.ml.svc.cluster.local:5001" in routing
    assert "mirror /-/mirror;" in routing and "20% mirrored/;" in routing  # red is mirrored
    assert "keys.conf" not in config["data"]
    assert config["immutable"] is True
    # the endpoint's facts for policies, in the Docker target's format
    assert config["metadata"]["annotations"] == {labels.TRAFFIC: "blue=90,green=10,red=0",
                                                 labels.MIRROR: "red=20"}
    assert config["metadata"]["labels"][labels.AUTH_MODE] == "key"
    assert config["metadata"]["labels"][labels.ENVIRONMENT] == "development"
    secret = one(recorded, SECRET, "my-endpoint-keys")
    assert "stringData" in secret.secret_inputs
    assert set(secret.inputs["stringData"]) == {"primary-key", "secondary-key", "keys.conf"}
    assert secret.inputs["stringData"]["primary-key"] in secret.inputs["stringData"]["keys.conf"]
    router = one(recorded, DEPLOYMENT, "my-endpoint-router")
    spec = router.inputs["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    replicas = int(spec["replicas"])  # the mocks hand numbers back as floats
    (wait_for,) = json.loads(router.inputs["metadata"]["annotations"]["pulumi.com/waitFor"])
    assert all(f"@.{field}=={replicas}" in wait_for
               for field in ("updatedReplicas", "replicas", "availableReplicas")), wait_for
    assert '@.reason=="ProgressDeadlineExceeded"' in wait_for, wait_for
    assert spec["progressDeadlineSeconds"] == ko.ROUTER_PROGRESS_DEADLINE_S
    nginx = spec["template"]["spec"]["containers"][0]
    assert nginx["image"] == "nginx:1.28.0-alpine"
    assert nginx["readinessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert "sleep" in nginx["lifecycle"]["preStop"]["exec"]["command"][-1]
    sources = spec["template"]["spec"]["volumes"][0]["projected"]["sources"]
    assert sources[0]["configMap"]["name"] == config["metadata"]["name"]
    assert sources[1]["secret"] == {"name": "my-endpoint-keys", "items": [
        {"key": "keys.conf", "path": "keys.conf"}]}
    assert "spec" in router.secret_inputs  # the keys checksum annotation is a secret
    for dep in ("blue", "green", "red"):  # traffic moves only once every deployment is ready
        assert urn(recorded, DEPLOYMENT, f"my-endpoint-{dep}-deployment") in router.dependencies
    service = one(recorded, SERVICE, "my-endpoint-router-service").inputs
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http",
                                         "protocol": "TCP"}]
    assert by_type(recorded, ROUTE) == []


def _gateway(recorded: list[Recorded]) -> None:
    route = one(recorded, ROUTE, "my-endpoint-route").inputs
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"]["annotations"] == {labels.TRAFFIC: "blue=90,green=10,red=0",
                                                labels.MIRROR: "red=20"}
    assert route["metadata"]["name"] == "my-endpoint"
    spec = route["spec"]
    assert spec["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                   "name": "shared", "namespace": "gateways"}]
    assert spec["hostnames"] == ["my-endpoint.ml.example.com"]
    *headers, split = spec["rules"]
    assert split["backendRefs"] == [
        {"name": "my-endpoint-blue", "port": 5001, "weight": 90},
        {"name": "my-endpoint-green", "port": 5001, "weight": 10}]
    assert split["filters"] == [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"name": "my-endpoint-red", "port": 5001}, "percent": 20}}]
    assert split["timeouts"] == {"request": "5s"}
    assert [(r["matches"][0]["headers"], r["backendRefs"]) for r in headers] == [
        ([{"type": "Exact", "name": "azureml-model-deployment", "value": d}],
         [{"name": f"my-endpoint-{d}", "port": 5001}]) for d in ("blue", "green", "red")]
    assert all("filters" not in r for r in headers)  # the header route is never mirrored
    secret = one(recorded, SECRET, "my-endpoint-keys")
    assert set(secret.inputs["stringData"]) == {"primary-key", "secondary-key"}
    assert "my-endpoint-router" not in by_name(recorded, DEPLOYMENT)
    assert by_name(recorded, CONFIG_MAP).keys() == {
        f"my-endpoint-{d}-{role}" for d in ("blue", "green", "red") for role in ("model", "code")}


ROUTERS = [("nginx: the router Deployment", {}, _nginx),
           ("gateway-api: an HTTPRoute", GATEWAY, _gateway)]


@pytest.mark.parametrize(("name", "settings", "check"), ROUTERS, ids=[r[0] for r in ROUTERS])
def test_router_modes(name: str, settings: dict[str, Any],
                      check: Callable[[list[Recorded]], None], project: Project) -> None:
    project.patch("red", deployment_file("red", instance_count=1))
    project.patch("endpoint", {"traffic": {"red": 0}, "mirror_traffic": {"red": 20}})
    check(project.kubernetes(**settings).run())


SCORING = [
    ("ClusterIP: the cluster DNS name", {}, "http://my-endpoint.ml.svc.cluster.local/score"),
    ("hostname", {"hostname": "{endpoint}.ml.example.com", "uriScheme": "https"},
     "https://my-endpoint.ml.example.com/score"),
    ("LoadBalancer before it has an address", {"serviceType": "LoadBalancer"},
     "http://my-endpoint.ml.svc.cluster.local/score"),
    ("gateway-api", GATEWAY, "http://my-endpoint.ml.example.com/score"),
]


@pytest.mark.parametrize(("name", "settings", "uri"), SCORING, ids=[s[0] for s in SCORING])
def test_exports(name: str, settings: dict[str, Any], uri: str, project: Project) -> None:
    project.kubernetes(**settings)
    exports: dict[str, Any] = {}

    def run() -> None:
        state, root = program.load(project.root, STACK)
        exports.update(target.deploy(state, KEYS, root))

    run_program(run, stack=STACK)
    assert _sync_await(exports["my-endpoint-scoring-uri"].future()) == uri
    for key in ("my-endpoint-primary-key", "my-endpoint-secondary-key"):
        assert _sync_await(exports[key].is_secret()), key
    assert _sync_await(exports["my-endpoint-primary-key"].future()) == KEYS["my-endpoint"][
        "primary"]
    assert exports["my-endpoint-deployments"] == {"blue": 3, "green": 2}


# --- changes --------------------------------------------------------------------------------------


def _inputs(recorded: list[Recorded]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.type, r.name): r.inputs for r in recorded}


def _changed(before: list[Recorded], after: list[Recorded]) -> set[str]:
    old, new = _inputs(before), _inputs(after)
    return {name for (type_, name), inputs in new.items()
            if (type_, name) in old and old[type_, name] != inputs}


def _change_image(p: Project) -> None:
    p.patch("blue", {"environment": {"image": "example.io/inference:2.0"}})


def _image_changed(before: list[Recorded], after: list[Recorded]) -> None:
    old = one(before, DEPLOYMENT, "my-endpoint-blue-deployment").inputs
    new = one(after, DEPLOYMENT, "my-endpoint-blue-deployment").inputs
    assert new["metadata"]["name"] == old["metadata"]["name"]  # same object: in-place update
    assert new["spec"]["selector"] == old["spec"]["selector"]  # selectors never change
    assert container(after)["image"] == "example.io/inference:2.0"
    assert _changed(before, after) == {"my-endpoint-blue-deployment", "my-endpoint-blue"}


def _change_split(p: Project) -> None:
    p.patch("endpoint", {"traffic": {"blue": 50, "green": 50}})


def _split_changed(before: list[Recorded], after: list[Recorded]) -> None:
    changed = _changed(before, after)
    # the deployments' specs are untouched (no pod restarts); only their weight labels move
    for dep in ("blue", "green"):
        for kind, child in ((DEPLOYMENT, "deployment"), (SERVICE, "service"), (PDB, "pdb")):
            old = one(before, kind, f"my-endpoint-{dep}-{child}").inputs
            new = one(after, kind, f"my-endpoint-{dep}-{child}").inputs
            assert old.get("spec") == new.get("spec"), (dep, child)
            assert new["metadata"]["labels"][labels.WEIGHT] == "50"
        assert one(after, CONFIG_MAP, f"my-endpoint-{dep}-model").inputs == one(
            before, CONFIG_MAP, f"my-endpoint-{dep}-model").inputs
    router_changes = changed - {f"my-endpoint-{d}{c}" for d in ("blue", "green")
                                for c in ("", "-deployment", "-service", "-pdb")}
    assert router_changes == {"my-endpoint", "my-endpoint-router-config", "my-endpoint-router"}
    routing = one(after, CONFIG_MAP, "my-endpoint-router-config").inputs["data"]["routing.conf"]
    assert "50% live/blue;" in routing
    old_cm = one(before, CONFIG_MAP, "my-endpoint-router-config").inputs["metadata"]["name"]
    new_cm = one(after, CONFIG_MAP, "my-endpoint-router-config").inputs["metadata"]["name"]
    assert old_cm != new_cm  # a new immutable ConfigMap: the router rolls onto it


def _remove_green(p: Project) -> None:
    p.patch("green", None).patch("endpoint", {"traffic": {"blue": 100, "green": None}})


def _green_removed(before: list[Recorded], after: list[Recorded]) -> None:
    assert {r.name for r in after if "green" in r.name} == set()
    assert {r.name for r in before if "green" in r.name} >= {
        "my-endpoint-green", "my-endpoint-green-deployment", "my-endpoint-green-service",
        "my-endpoint-green-pdb"}
    routing = one(after, CONFIG_MAP, "my-endpoint-router-config").inputs["data"]["routing.conf"]
    assert "green" not in routing and "live/blue" in routing
    router = one(after, DEPLOYMENT, "my-endpoint-router")
    assert all("green" not in d for d in router.dependencies)


def _change_code(p: Project) -> None:
    script = p.root / "stacks" / "score" / "score.py"
    script.write_text(script.read_text() + "\n# v2\n")


def _code_changed(before: list[Recorded], after: list[Recorded]) -> None:
    old = one(before, CONFIG_MAP, "my-endpoint-blue-code").inputs["metadata"]["name"]
    new = one(after, CONFIG_MAP, "my-endpoint-blue-code").inputs["metadata"]["name"]
    assert old != new
    volumes = {v["name"]: v for v in pod(after)["volumes"]}
    assert volumes["code"]["configMap"]["name"] == new  # the pods roll onto the new code
    assert one(after, DEPLOYMENT, "my-endpoint-router").inputs == one(
        before, DEPLOYMENT, "my-endpoint-router").inputs


CHANGES = [
    ("change image: in-place roll of blue only", _change_image, _image_changed),
    ("change split: router config only", _change_split, _split_changed),
    ("remove green: its objects go, the router forgets it", _remove_green, _green_removed),
    ("change code: new ConfigMap, blue and green roll", _change_code, _code_changed),
]


@pytest.mark.parametrize(("name", "change", "check"), CHANGES, ids=[c[0] for c in CHANGES])
def test_changes(name: str, change: Callable[[Project], None],
                 check: Callable[[list[Recorded], list[Recorded]], None],
                 project: Project) -> None:
    before = project.run(config={"mlplan:keys": KEYS})
    change(project)
    after = project.run(config={"mlplan:keys": KEYS})
    check(before, after)


# --- secrets ------------------------------------------------------------------------------------

SECRET_CASES = [
    ("nginx, generated keys", {}, None),
    ("nginx, configured keys", {}, KEYS),
    ("gateway-api, configured keys", GATEWAY, KEYS),
]


@pytest.mark.parametrize(("name", "settings", "keys"), SECRET_CASES,
                         ids=[s[0] for s in SECRET_CASES])
def test_keys_never_appear_outside_secrets(name: str, settings: dict[str, Any],
                                           keys: dict[str, Any] | None,
                                           project: Project) -> None:
    recorded = project.kubernetes(**settings).run(
        config={"mlplan:keys": keys} if keys else None)
    secret = one(recorded, SECRET, "my-endpoint-keys")
    values = [secret.inputs["stringData"]["primary-key"],
              secret.inputs["stringData"]["secondary-key"]]
    assert all(len(v) >= 16 for v in values)
    assert secret.secret_inputs == {"stringData"}
    for r in recorded:
        if r is secret:
            continue
        text = json.dumps(r.inputs)
        for value in values:
            assert value not in text, f"a key appears in {r.type} {r.name}"


# --- renderYamlTo: rendered manifests hold no secret value (issue 27 item 3) --------------------

ENV = {"DB_PASSWORD": "hunter2-" + "d" * 12, "PLAIN_SETTING": "plain-" + "v" * 12}
RENDER_CASES = [
    # scenario, renderYamlTo, router settings, configured keys, green's extra environment
    ("rendered, nginx, generated keys", True, {}, None, {}),
    ("rendered, nginx, configured keys, environment Secrets", True, {}, KEYS, ENV),
    ("rendered, gateway-api, configured keys, environment Secrets", True, GATEWAY, KEYS, ENV),
    ("rendered, gateway-api, generated keys", True, GATEWAY, None, {}),
    ("applied, nginx, configured keys, environment Secrets", False, {}, KEYS, ENV),
]


def _encodings(value: str) -> list[str]:
    """A value and the forms a manifest could carry it in (base64 of ``data``)."""
    import base64

    return [value, base64.b64encode(value.encode()).decode()]


@pytest.mark.parametrize(("name", "render", "settings", "keys", "env"), RENDER_CASES,
                         ids=[c[0] for c in RENDER_CASES])
def test_render_yaml_to_withholds_every_secret(
    name: str, render: bool, settings: dict[str, Any], keys: dict[str, Any] | None,
    env: dict[str, str], project: Project,
) -> None:
    """With ``renderYamlTo`` no Secret is registered with the (rendering) provider and no
    registered object holds a key or an environment value in any encoding; the Deployments
    reference the Secrets by name, and the stack output ``my-endpoint-secrets`` (a Pulumi
    secret) holds them whole, ready for ``kubectl apply -f -``. Applied, the Secrets are
    registered as before and there is no such output."""
    import kubernetes_validate  # type: ignore[import-untyped]

    project.kubernetes(**settings, **({"renderYamlTo": "out/manifests"} if render else {}))
    if env:
        project.patch("green", {"environment_variables": {"SCORE_SCALE": "1.1", **env}})
    exports: dict[str, Any] = {}

    def run() -> None:
        state, root = program.load(project.root, STACK)
        exports.update(target.deploy(state, keys or {}, root))

    recorded = run_program(run, stack=STACK)
    primary = _sync_await(exports["my-endpoint-primary-key"].future())
    secondary = _sync_await(exports["my-endpoint-secondary-key"].future())
    secrets = by_name(recorded, SECRET)
    env_ref = next(e for e in container(recorded, "my-endpoint-green-deployment")["env"]
                   if e["name"] == "SCORE_SCALE")["valueFrom"]["secretKeyRef"]
    if not render:
        assert "my-endpoint-secrets" not in exports
        assert set(secrets) == {"my-endpoint-keys", "my-endpoint-green-env"}
        return
    assert secrets == {}, sorted(secrets)
    values = [primary, secondary, *env.values()]
    for r in recorded:
        text = json.dumps(r.inputs)
        for value in values:
            for form in _encodings(value):
                assert form not in text, f"{value!r} appears in {r.type} {r.name}"
    output = exports["my-endpoint-secrets"]
    assert _sync_await(output.is_secret())
    documents = list(yaml.safe_load_all(_sync_await(output.future())))
    by_secret = {d["metadata"]["name"]: d for d in documents}
    assert list(by_secret) == ["my-endpoint-keys", env_ref["name"]]
    for document in documents:
        kubernetes_validate.validate(document, "1.31", strict=True)
        assert (document["kind"], document["metadata"]["namespace"]) == ("Secret", "ml")
    stored = by_secret["my-endpoint-keys"]["stringData"]
    assert (stored["primary-key"], stored["secondary-key"]) == (primary, secondary)
    if not settings:  # nginx: the router's keys.conf comes with them, its pods mount it
        assert primary in stored["keys.conf"] and secondary in stored["keys.conf"]
        sources = pod(recorded, "my-endpoint-router")["volumes"][0]["projected"]["sources"]
        assert sources[1]["secret"]["name"] == "my-endpoint-keys"
    environment = by_secret[env_ref["name"]]
    assert environment["immutable"] is True
    assert set(environment["stringData"].values()) == {"1.1", *env.values()}
    assert environment["stringData"][env_ref["key"]] == "1.1"
    deployment = one(recorded, DEPLOYMENT, "my-endpoint-green-deployment")
    assert all("env" not in dep for dep in deployment.dependencies)


@pytest.mark.parametrize("settings", [{}, GATEWAY], ids=["nginx", "gateway-api"])
def test_the_stack_program_withholds_secrets_from_its_rendering_provider(
    settings: dict[str, Any], project: Project,
) -> None:
    """The stack program makes one (rendering) provider and strips ``renderYamlTo`` from the
    endpoints' settings: ``withholdSecrets`` tells them to keep their Secrets from it."""
    project.kubernetes(renderYamlTo="out/manifests", **settings)
    project.patch("green", {"environment_variables": {"SCORE_SCALE": "1.1", **ENV}})
    recorded = project.run(config={"mlplan:keys": KEYS})
    assert by_type(recorded, SECRET) == []
    values = [*KEYS["my-endpoint"].values(), *ENV.values()]
    for r in recorded:
        if r.type.startswith("kubernetes:"):
            text = json.dumps(r.inputs)
            assert not [v for v in values for form in _encodings(v) if form in text], r.name


def test_render_yaml_to_cannot_be_told_to_write_secrets(project: Project) -> None:
    from mlplan.targets.kubernetes.settings import parse_kubernetes_settings

    settings, found = parse_kubernetes_settings({"renderYamlTo": "out", "withholdSecrets": False})
    assert [(d.code, d.location.field) for d in found] == [
        (codes.SETTINGS, "mlplan:kubernetes.withholdSecrets")]
    assert settings.withhold_secrets


SECRET_OBJECTS = [
    ("stringData renamed, None left out, keys sorted",
     {"metadata": {"name": "e-keys"}, "type": "Opaque", "string_data": {"k": "v"},
      "binary_data": None},
     {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "e-keys"},
      "stringData": {"k": "v"}, "type": "Opaque"}),
    ("immutable kept",
     {"metadata": {"name": "e-d-env-0123456789"}, "immutable": True, "string_data": {"A": "1"}},
     {"apiVersion": "v1", "immutable": True, "kind": "Secret",
      "metadata": {"name": "e-d-env-0123456789"}, "stringData": {"A": "1"}}),
]


@pytest.mark.parametrize(("name", "fields", "expected"), SECRET_OBJECTS,
                         ids=[c[0] for c in SECRET_OBJECTS])
def test_secret_object(name: str, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    from mlplan.targets.kubernetes.manifests import Manifest, secret_object, secrets_document

    manifest = Manifest("e-keys", "v1", "Secret", fields, withheld=True)
    assert secret_object(manifest, fields) == expected
    assert list(yaml.safe_load_all(secrets_document([expected, expected]))) == [expected] * 2
    assert secrets_document([]) == ""


# --- stack-level objects and the provider -------------------------------------------------------


def test_no_namespace_when_not_ours(project: Project) -> None:
    recorded = project.kubernetes(createNamespace=False).run()
    assert by_type(recorded, NAMESPACE) == []
    assert all(not r.dependencies for r in by_type(recorded, SERVICE))


def test_resource_quota_sized_by_the_quota_check(project: Project) -> None:
    recorded = project.kubernetes(resourceQuota=True).run()
    quota = one(recorded, QUOTA, "namespace-quota").inputs
    # blue 3 -> 4 pods, green 2 -> 3 pods of 4 cores (28 = the quota check), 3 router pods
    assert quota["spec"]["hard"] == {
        "pods": "10", "requests.cpu": "28300m", "limits.cpu": "31",
        "requests.memory": "100544Mi", "limits.memory": "101120Mi",
        "requests.nvidia.com/gpu": "0"}
    assert quota["metadata"]["namespace"] == "ml"
    quota_urn = urn(recorded, QUOTA, "namespace-quota")
    assert quota_urn in one(recorded, DEPLOYMENT, "my-endpoint-blue-deployment").dependencies
    assert one(recorded, "mlplan:index:QuotaCheck", "quota").inputs["totalReservedCores"] == 28


def test_explicit_provider(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    providers: dict[str, str] = {}
    original = harness.RecordingMonitor.RegisterResource

    def register(self: harness.RecordingMonitor, request: Any) -> Any:
        response = original(self, request)
        providers[request.name] = request.provider
        return response

    monkeypatch.setattr(harness.RecordingMonitor, "RegisterResource", register)
    recorded = project.kubernetes(kubeconfig="~/.kube/config", context="prod",
                                  renderYamlTo="out/manifests").run()
    provider = one(recorded, PROVIDER, "kubernetes")
    assert provider.inputs["context"] == "prod"
    assert provider.inputs["kubeconfig"] == "~/.kube/config"
    assert provider.inputs["renderYamlToDirectory"] == str(project.root / "out" / "manifests")
    for r in recorded:
        if r.type.startswith("kubernetes:"):
            assert providers[r.name].startswith(provider.urn), r.name


def test_ambient_provider_by_default(project: Project) -> None:
    assert by_type(project.run(), PROVIDER) == []


def test_registered_model_from_a_pvc(project: Project) -> None:
    project.patch("stack", {"config": {"mlplan:assets": {
        "models": {"azureml:llm:3": "stacks/model/sample-model"}}}})
    project.kubernetes(models={"azureml:llm:3": {"pvc": "models", "subPath": "llm/3"}})
    recorded = project.patch("blue", {"model": "azureml:llm:3"}).run()
    volumes = {v["name"]: v for v in pod(recorded)["volumes"]}
    assert volumes["model"] == {"name": "model", "persistentVolumeClaim": {
        "claimName": "models", "readOnly": True}}
    mounts = {m["name"]: m for m in container(recorded)["volumeMounts"]}
    assert mounts["model"] == {"name": "model", "readOnly": True, "subPath": "llm/3",
                               "mountPath": "/var/azureml-app/azureml-models/llm/3"}
    assert "my-endpoint-blue-model" not in by_name(recorded, CONFIG_MAP)


def test_model_copied_from_an_image(project: Project) -> None:
    project.kubernetes(models={"stacks/model/sample-model": {
        "image": "registry.example.com/models/sample:1", "path": "/model"}})
    recorded = project.run()
    (init,) = pod(recorded)["initContainers"]
    assert init["image"] == "registry.example.com/models/sample:1"
    assert init["command"][-1] == "/model"
    assert init["resources"] == container(recorded)["resources"]
    volumes = {v["name"]: v for v in pod(recorded)["volumes"]}
    assert volumes["model"] == {"name": "model", "emptyDir": {}}


ERRORS = [
    # scenario, change, code
    ("bad mlplan:kubernetes setting", lambda p: p.kubernetes(routerMode="istio"),
     codes.SETTINGS),
    ("name conflict between endpoints", lambda p: (
        p.patch("other-endpoint", {"name": "my-endpoint-blue", "traffic": {"red": 100}}),
        p.patch("red", deployment_file("red", endpoint_name="my-endpoint-blue"))),
     codes.KUBERNETES_NAME_CONFLICT),
    ("model too big for a ConfigMap", lambda p: (
        p.root / "stacks" / "model" / "sample-model" / "weights.bin").write_bytes(
        bytes(range(256)) * 4000), codes.KUBERNETES_DELIVERY),
    ("environment built locally", lambda p: p.patch("blue", {"environment": {
        "image": None, "build": {"path": "../score"}}}), codes.KUBERNETES_DELIVERY),
]


@pytest.mark.parametrize(("name", "change", "code"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_stop_the_program_before_any_resource(name: str, change: Callable[[Project], Any],
                                                     code: str, project: Project) -> None:
    change(project)
    recorded: list[Recorded] = []
    with pytest.raises(pulumi.RunError, match=code):
        recorded = project.run()
    assert recorded == []


@pytest.mark.parametrize(("name", "change", "code"), ERRORS, ids=[e[0] for e in ERRORS])
def test_mlplan_plan_reports_what_the_program_refuses(
        name: str, change: Callable[[Project], Any], code: str, project: Project,
        capsys: pytest.CaptureFixture[str]) -> None:
    """One check pipeline (``mlplan.check``): every error that stops the program stops
    ``mlplan plan --stack`` too, with the same code (a model over a ConfigMap's 1 MiB: MLP119
    before any ``pulumi preview``)."""
    from mlplan.edge.cli import main

    change(project)
    assert main(["plan", "--stack", STACK]) == 1
    assert code in capsys.readouterr().err


@pytest.mark.parametrize(("name", "change", "code"), ERRORS, ids=[e[0] for e in ERRORS])
def test_mlplan_review_reports_what_the_program_refuses(
        name: str, change: Callable[[Project], Any], code: str, project: Project,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``mlplan review`` runs the same pipeline on the head, file packer included (MLP119)."""
    from mlplan.edge.cli import main

    base = tmp_path / "base"
    shutil.copytree(project.root, base)
    change(project)
    assert main(["review", "--base-dir", str(base), "--stack", STACK]) == 1
    assert code in capsys.readouterr().err


DELIVERY = [e for e in ERRORS if e[2] == codes.KUBERNETES_DELIVERY]


@pytest.mark.parametrize(("name", "change", "code"), DELIVERY, ids=[e[0] for e in DELIVERY])
def test_mlplan_promote_reports_what_the_program_refuses(
        name: str, change: Callable[[Project], Any], code: str, project: Project,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``mlplan promote`` checks each step with the same pipeline: a step the program would
    refuse (MLP117/MLP119) is not written."""
    from mlplan.edge.cli import main

    change(project)
    assert main(["promote", "my-endpoint", "--to", "green", "--stack", STACK]) == 1
    assert code in capsys.readouterr().err


def test_pack_folders_into_configmap_data(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub dir").mkdir(parents=True)
    (folder / "__pycache__").mkdir()
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "sub dir" / "weights.bin").write_bytes(b"\x00\xff" * 4)
    (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"cache")
    (folder / "score.pyc").write_bytes(b"cache")
    packed = local_files.pack(tmp_path, "model")
    assert dict(packed.data) == {"config.json": '{"a": 1}'}
    assert dict(packed.binary) == {"sub_dir_weights.bin": "AP8A/wD/AP8="}
    assert dict(packed.items) == {"config.json": "config.json",
                                  "sub_dir_weights.bin": "sub dir/weights.bin"}
    (folder / "__pycache__" / "y.pyc").write_bytes(b"other")  # caches never change the name
    assert local_files.pack(tmp_path, "model").digest == packed.digest
    (folder / "config.json").write_text('{"a": 2}')
    assert local_files.pack(tmp_path, "model").digest != packed.digest
    single = local_files.pack(tmp_path, "model/config.json")
    assert dict(single.items) == {"config.json": "config.json"}


def test_sample_stack_on_kubernetes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The repository's own dev stack, switched to Kubernetes, registers cleanly."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(REPO / "stacks", root / "stacks",
                    ignore=shutil.ignore_patterns("__pycache__", "__main__.py"))
    stack = root / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("mlplan:target: docker",
                                               "mlplan:target: kubernetes"))
    monkeypatch.chdir(root)
    recorded = run_program(lambda: program.run(cwd=root, stack="dev"), stack="dev",
                           project=root)
    assert {r.inputs["metadata"]["name"] for r in by_type(recorded, DEPLOYMENT)} == {
        "my-endpoint", "my-endpoint-blue", "my-endpoint-green"}
    assert all(r.inputs["metadata"]["namespace"] == "mlplan" for r in by_type(recorded, SERVICE))

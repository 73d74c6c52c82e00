"""The Kubernetes target's objects as values (``targets.kubernetes.manifests``), no Pulumi.

The fixture project of ``test_kubernetes`` (my-endpoint: blue 3 x Standard_DS3_v2 at 90%,
green 2 at 10%, namespace ``ml``) is read offline as ``mlplan plan`` reads it; each scenario
patches it and plans the endpoint. What the adapter registers from these values is covered by
``test_kubernetes`` (under mocks) and ``test_kubernetes_schema``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlplan.domain.diagnostics import has_errors
from mlplan.edge import io, pipeline
from mlplan.planning.state import DesiredState
from mlplan.targets.kubernetes import files as local_files
from mlplan.targets.kubernetes import manifests
from mlplan.targets.kubernetes import plan as ko
from mlplan.targets.kubernetes import settings as kubernetes_settings
from mlplan.targets.kubernetes.manifests import EndpointManifests, Manifest
from tests.targets.test_kubernetes import GATEWAY, KUBERNETES, STACK, Project

AUTOSCALED = {**KUBERNETES, "instance_count": None, "instance_type": None,
              "scale_settings": {"type": "target_utilization", "min_instances": 2,
                                 "max_instances": 6, "target_utilization_percentage": 60},
              "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}


def planned(project: Project) -> tuple[DesiredState, EndpointManifests]:
    loaded = io.load_stack(project.root, STACK)
    state = pipeline.planned(loaded.endpoints, loaded.settings, loaded.diagnostics)
    settings = kubernetes_settings.of(state.settings)
    inputs, problems = ko.stack_problems(state, settings, local_files.packer(project.root))
    assert not has_errors((*state.diagnostics, *problems))
    (endpoint,) = state.endpoints
    return state, manifests.plan_endpoint(endpoint.name, endpoint, inputs[endpoint.name],
                                          settings, state.settings.environment)


def every_object(plan: EndpointManifests) -> dict[str, Manifest]:
    return {m.resource: m for m in (*(o for d in plan.deployments for o in d.objects),
                                    *plan.objects)}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


BLUE = ["my-endpoint-blue-model", "my-endpoint-blue-code", "my-endpoint-blue-deployment",
        "my-endpoint-blue-service", "my-endpoint-blue-pdb"]
NGINX_ROUTER = ["my-endpoint-keys", "my-endpoint-instances", "my-endpoint-router-config",
                "my-endpoint-router", "my-endpoint-router-service", "my-endpoint-router-pdb"]

OBJECTS = [
    # scenario, change, blue's objects, the endpoint's objects
    ("nginx router: ConfigMap, Deployment, Service, PDB after the keys", lambda p: p,
     BLUE, NGINX_ROUTER),
    ("gateway-api: one HTTPRoute", lambda p: p.kubernetes(**GATEWAY),
     BLUE, ["my-endpoint-keys", "my-endpoint-instances", "my-endpoint-route"]),
    ("autoscaled: an HPA, no model or code ConfigMap without local files",
     lambda p: p.patch("blue", {**AUTOSCALED, "model": None, "code_configuration": None}),
     ["my-endpoint-blue-deployment", "my-endpoint-blue-service", "my-endpoint-blue-pdb",
      "my-endpoint-blue-hpa"], NGINX_ROUTER),
    ("model from a volume: no model ConfigMap",
     lambda p: p.kubernetes(models={"stacks/model/sample-model": {
         "image": "registry.example.com/models/sample:1", "path": "/model"}}),
     BLUE[1:], NGINX_ROUTER),
]


@pytest.mark.parametrize(("name", "change", "blue", "endpoint"), OBJECTS,
                         ids=[o[0] for o in OBJECTS])
def test_objects_in_registration_order(name: str, change: Callable[[Project], Any],
                                       blue: list[str], endpoint: list[str],
                                       project: Project) -> None:
    change(project)
    _state, plan = planned(project)
    deployments = {d.resource: [o.resource for o in d.objects] for d in plan.deployments}
    assert deployments["my-endpoint-blue"] == blue
    assert [o.resource for o in plan.objects] == endpoint


ORDER = [
    # scenario, change, object, waits for every deployment, waits for (names)
    ("router config after the deployments: new ones serve before traffic moves", lambda p: p,
     "my-endpoint-router-config", True, ()),
    ("router pods after their files and keys", lambda p: p,
     "my-endpoint-router", True, ("my-endpoint-router-config", "my-endpoint-keys")),
    ("router Service and PDB: the namespace only", lambda p: p,
     "my-endpoint-router-service", False, ()),
    ("keys Secret: the namespace only", lambda p: p, "my-endpoint-keys", False, ()),
    ("HTTPRoute after the deployments", lambda p: p.kubernetes(**GATEWAY),
     "my-endpoint-route", True, ()),
    ("a deployment's objects: the namespace only", lambda p: p,
     "my-endpoint-blue-deployment", False, ()),
]


@pytest.mark.parametrize(("name", "change", "resource", "after_deployments", "after"), ORDER,
                         ids=[o[0] for o in ORDER])
def test_what_each_object_waits_for(name: str, change: Callable[[Project], Any], resource: str,
                                    after_deployments: bool, after: tuple[str, ...],
                                    project: Project) -> None:
    change(project)
    manifest = every_object(planned(project)[1])[resource]
    assert (manifest.after_deployments, manifest.after) == (after_deployments, after)


def test_only_the_keys_secret_and_the_router_wait_for_the_engine(project: Project) -> None:
    """Keys are the engine's: they appear as ``Pending`` in the Secret (one secret field) and
    as the router pods' checksum, nowhere else."""
    found = {r: manifests.pending_values(m) for r, m in every_object(planned(project)[1]).items()
             if manifests.pending_values(m)}
    assert found == {"my-endpoint-keys": {"primary-key", "secondary-key", "keys.conf"},
                     "my-endpoint-router": {"keys-checksum"}}
    assert every_object(planned(project)[1])["my-endpoint-keys"].secret == ("string_data",)


def test_keys_conf_holds_both_keys_and_its_checksum_rolls_the_router(project: Project) -> None:
    plan = planned(project)[1]
    conf = plan.keys_conf("k" * 32, "s" * 32)
    assert "k" * 32 in conf and "s" * 32 in conf
    assert manifests.keys_checksum(conf) != manifests.keys_checksum(
        plan.keys_conf("k" * 32, "t" * 32))


def test_deployment_manifest(project: Project) -> None:
    state, plan = planned(project)
    deployment = every_object(plan)["my-endpoint-blue-deployment"]
    blue = state.endpoints[0].deployments[0]
    assert (deployment.api_version, deployment.kind) == ("apps/v1", "Deployment")
    assert deployment.timeout_s == ko.await_seconds(blue)
    spec = deployment.fields["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "20%", "maxUnavailable": 0}
    assert spec["selector"]["matchLabels"] == ko.selector("my-endpoint", "blue")
    (blue_plan,) = (d for d in plan.deployments if d.resource == "my-endpoint-blue")
    assert blue_plan.props["rollingUpdate"] == {"maxSurge": "20%", "maxUnavailable": 0,
                                                "peakPods": 4}


def test_autoscaled_deployment_leaves_replicas_to_the_hpa(project: Project) -> None:
    plan = planned(project.patch("blue", AUTOSCALED))[1]
    objects = every_object(plan)
    assert "replicas" not in objects["my-endpoint-blue-deployment"].fields["spec"]
    hpa = objects["my-endpoint-blue-hpa"].fields["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)


SCORING = [
    # scenario, mlplan:kubernetes, scoring URI, Service whose address replaces it
    ("ClusterIP: the cluster DNS name", {}, "http://my-endpoint.ml.svc.cluster.local/score", ""),
    ("LoadBalancer: its address once it has one", {"serviceType": "LoadBalancer"},
     "http://my-endpoint.ml.svc.cluster.local/score", "my-endpoint-router-service"),
    ("hostname", {"hostname": "{endpoint}.ml.example.com", "uriScheme": "https"},
     "https://my-endpoint.ml.example.com/score", ""),
    ("gateway-api", GATEWAY, "http://my-endpoint.ml.example.com/score", ""),
]


@pytest.mark.parametrize(("name", "settings", "uri", "balancer"), SCORING,
                         ids=[s[0] for s in SCORING])
def test_scoring_uri(name: str, settings: dict[str, Any], uri: str, balancer: str,
                     project: Project) -> None:
    plan = planned(project.kubernetes(**settings))[1]
    assert (plan.scoring_uri, plan.balancer_service) == (uri, balancer)


NAMESPACE = [
    # scenario, mlplan:kubernetes, objects (resource, kind, after, retained)
    ("neither", {"createNamespace": False}, []),
    ("namespace, retained on delete", {"createNamespace": True},
     [("namespace", "Namespace", (), True)]),
    ("quota alone", {"createNamespace": False, "resourceQuota": True},
     [("namespace-quota", "ResourceQuota", (), False)]),
    ("quota after the namespace", {"createNamespace": True, "resourceQuota": True},
     [("namespace", "Namespace", (), True),
      ("namespace-quota", "ResourceQuota", ("namespace",), False)]),
]


@pytest.mark.parametrize(("name", "settings", "objects"), NAMESPACE,
                         ids=[n[0] for n in NAMESPACE])
def test_namespace_objects(name: str, settings: dict[str, Any],
                           objects: list[tuple[str, str, tuple[str, ...], bool]],
                           project: Project) -> None:
    state = planned(project.kubernetes(**settings))[0]
    found = manifests.namespace_manifests(state, kubernetes_settings.of(state.settings))
    assert [(m.resource, m.kind, m.after, m.retain_on_delete) for m in found] == objects


def test_quota_sized_by_the_quota_check(project: Project) -> None:
    state = planned(project.kubernetes(createNamespace=False, resourceQuota=True))[0]
    (quota,) = manifests.namespace_manifests(state, kubernetes_settings.of(state.settings),
                                             "s-")
    assert quota.resource == "s-namespace-quota"
    # blue 3 + green 2 x DS3_v2 reserve 4 + 3 pods of 4 cores; 3 router pods of 100m
    assert quota.fields["spec"]["hard"]["requests.cpu"] == "28300m"
    assert quota.fields["spec"]["hard"]["pods"] == "10"

"""Every Kubernetes object the target registers, validated offline as the API server would.

For named scenarios the real program (``program.run``) runs under Pulumi mocks; the inputs of
each ``kubernetes:<group>/<version>:<Kind>`` registration are the manifest (``apiVersion``,
``kind``, ``metadata``, ``spec``/``data``/...; integers arrive as floats and are turned back).

- Built-in kinds: the OpenAPI JSON schemas shipped by ``kubernetes-validate`` in strict mode
  (``additionalProperties: false`` everywhere: a misspelt or misplaced field fails), for the
  pinned Kubernetes versions ``KUBERNETES_VERSIONS``: 1.31, the first release in which every
  field the target writes is GA (``PodDisruptionBudget.spec.unhealthyPodEvictionPolicy``), and
  1.37, the newest the package ships.
- HTTPRoute is a CRD, absent from those schemas, and no PyPI package ships the Gateway API
  CRD schemas. ``HTTPROUTE_SCHEMA`` is an explicit transcription of the Gateway API v1
  HTTPRoute (standard channel, v1.3: ``RequestMirror.percent``) limited to the fields mlplan
  writes, with the CRD's bounds, patterns and the CEL rules that apply to them (a Service
  backendRef needs a port; Exact/PathPrefix paths start with ``/``); unknown fields fail, so a
  new field has to be added here on purpose. Its ``metadata`` is checked against the
  Kubernetes ObjectMeta schema.
- ``api_server_problems``: checks the API server makes that no OpenAPI schema encodes (object
  names, label syntax, selector vs template labels, mounts of declared volumes, port names,
  liveness ``successThreshold`` 1, a rolling update that can make progress).

The validators are built once per (version, kind) from the package's files, exactly as
``kubernetes_validate.validate`` builds them (a test checks both agree), because the package
re-reads its 1.4 MB definitions on every call.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pulumi
import pytest
import yaml
from referencing import Registry, Resource

from mlplan.domain import codes, labels
from mlplan.edge import program
from tests.targets.harness import Recorded, run_program
from tests.targets.test_kubernetes import GATEWAY, KUBERNETES, Project, deployment_file

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_VERSIONS = ("1.31", "1.37")
DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = f"{DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
ROUTE_API = "gateway.networking.k8s.io/v1"


# --- manifests ---------------------------------------------------------------------------------


def _ints(value: Any) -> Any:
    """Mock inputs carry every number as a float; the provider sends integers as integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def type_token(api_version: str, kind: str) -> str:
    """``apps/v1``, ``Deployment`` -> ``kubernetes:apps/v1:Deployment``; core ``v1`` ->
    ``kubernetes:core/v1:...``."""
    return f"kubernetes:{api_version if '/' in api_version else 'core/' + api_version}:{kind}"


def manifests(recorded: list[Recorded]) -> list[dict[str, Any]]:
    """The Kubernetes objects of a run, as manifests; each one's apiVersion/kind match its
    registration type."""
    found = []
    for r in recorded:
        if not r.type.startswith("kubernetes:"):
            continue
        manifest = _ints(r.inputs)
        assert type_token(manifest["apiVersion"], manifest["kind"]) == r.type, r.name
        found.append(manifest)
    return found


# --- built-in kinds: kubernetes-validate's strict schemas ---------------------------------------


def _schema_file(version: str, name: str) -> Any:
    folder = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return json.loads((folder / f"v{version}.0-local-strict" / name).read_text())


@functools.cache
def _definitions(version: str) -> Resource[Any]:
    return Resource.from_contents(_schema_file(version, "_definitions.json"))


@functools.cache
def builtin_validator(version: str, api_version: str, kind: str) -> jsonschema.Validator:
    """The strict schema of one kind, with the same registry ``kubernetes_validate`` uses."""
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = _schema_file(version, f"{kind.lower()}-{group}.json")
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = _definitions(version) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


# --- HTTPRoute: Gateway API v1, the fields mlplan writes ---------------------------------------

_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_GROUP = {"type": "string", "maxLength": 253, "pattern": r"^$|" + _DNS_SUBDOMAIN}
_KIND = {"type": "string", "minLength": 1, "maxLength": 63,
         "pattern": r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"}
_NAME = {"type": "string", "minLength": 1, "maxLength": 253}
_NAMESPACE = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": _DNS_LABEL}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_DURATION = {"type": "string", "pattern": r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"}


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "additionalProperties": False,
                           "properties": properties}
    if required:
        out["required"] = list(required)
    return out


#: BackendObjectReference; kind defaults to Service, for which the CRD's CEL rule requires a port
_BACKEND = {"group": _GROUP, "kind": _KIND, "name": _NAME, "namespace": _NAMESPACE,
            "port": _PORT}
_BACKEND_REF = _closed(_BACKEND, ("name", "port"))
_HTTP_BACKEND_REF = _closed({**_BACKEND, "weight": {"type": "integer", "minimum": 0,
                                                    "maximum": 1_000_000}}, ("name", "port"))
_PATH = {**_closed({"type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]},
                    "value": {"type": "string", "maxLength": 1024}}),
         "if": {"properties": {"type": {"enum": ["Exact", "PathPrefix"]}}},
         "then": {"properties": {"value": {"pattern": "^/"}}}}
_HEADER_MATCH = _closed({
    "type": {"enum": ["Exact", "RegularExpression"]},
    "name": {"type": "string", "minLength": 1, "maxLength": 256,
             "pattern": r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$"},
    "value": {"type": "string", "minLength": 1, "maxLength": 4096},
}, ("name", "value"))
_MATCH = _closed({"path": _PATH,
                  "headers": {"type": "array", "maxItems": 16, "items": _HEADER_MATCH}})
_MIRROR = {**_closed({"backendRef": _BACKEND_REF,
                      "percent": {"type": "integer", "minimum": 0, "maximum": 100}},
                     ("backendRef",))}
_FILTER = {**_closed({"type": {"enum": ["RequestHeaderModifier", "ResponseHeaderModifier",
                                        "RequestMirror", "RequestRedirect", "URLRewrite",
                                        "ExtensionRef"]},
                      "requestMirror": _MIRROR}, ("type",)),
           "if": {"properties": {"type": {"const": "RequestMirror"}}},
           "then": {"required": ["requestMirror"]}}
_RULE = _closed({
    "matches": {"type": "array", "maxItems": 64, "items": _MATCH},
    "filters": {"type": "array", "maxItems": 16, "items": _FILTER},
    "backendRefs": {"type": "array", "maxItems": 16, "items": _HTTP_BACKEND_REF},
    "timeouts": _closed({"request": _DURATION, "backendRequest": _DURATION}),
})
_PARENT_REF = _closed({
    "group": _GROUP, "kind": _KIND, "name": _NAME, "namespace": _NAMESPACE,
    "sectionName": {"type": "string", "minLength": 1, "maxLength": 253,
                    "pattern": _DNS_SUBDOMAIN},
    "port": _PORT,
}, ("name",))
HTTPROUTE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://gateway.networking.k8s.io/mlplan/httproute-v1.json",
    **_closed({
        "apiVersion": {"const": ROUTE_API},
        "kind": {"const": "HTTPRoute"},
        "metadata": {"$ref": OBJECT_META},
        "spec": _closed({
            "parentRefs": {"type": "array", "maxItems": 32, "items": _PARENT_REF},
            "hostnames": {"type": "array", "maxItems": 16, "items": {
                "type": "string", "minLength": 1, "maxLength": 253,
                "pattern": r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?"
                           r"(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}},
            "rules": {"type": "array", "maxItems": 16, "items": _RULE},
        }),
    }, ("apiVersion", "kind", "metadata", "spec")),
}


@functools.cache
def route_validator(version: str) -> jsonschema.Validator:
    registry: Registry[Any] = _definitions(version) @ Registry()
    return jsonschema.Draft202012Validator(HTTPROUTE_SCHEMA, registry=registry)


def schema_errors(manifest: dict[str, Any], version: str) -> list[str]:
    """``<kind>/<name> <path>: <message>`` for every schema violation."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    validator = (route_validator(version) if (api_version, kind) == (ROUTE_API, "HTTPRoute")
                 else builtin_validator(version, api_version, kind))
    name = manifest.get("metadata", {}).get("name")
    return [f"{kind}/{name} {'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(manifest)]


# --- what the API server checks beyond the schema ----------------------------------------------

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def _label_problems(where: str, found: dict[str, str] | None) -> Iterator[str]:
    for key, value in (found or {}).items():
        prefix, _, name = key.rpartition("/")
        if (prefix and not (len(prefix) <= 253 and re.match(_DNS_SUBDOMAIN, prefix))) or not (
                len(name) <= 63 and _LABEL_NAME.match(name)):
            yield f"{where}: label key {key!r}"
        if not (len(value) <= 63 and (value == "" or _LABEL_NAME.match(value))):
            yield f"{where}: label {key}={value!r}"


def _pod_problems(where: str, pod: dict[str, Any]) -> Iterator[str]:
    volumes = {v["name"] for v in pod.get("volumes", [])}
    for name in volumes:
        if not (len(name) <= 63 and re.match(_DNS_LABEL, name)):
            yield f"{where}: volume name {name!r}"
    for c in pod.get("initContainers", []) + pod["containers"]:
        if not (len(c["name"]) <= 63 and re.match(_DNS_LABEL, c["name"])):
            yield f"{where}: container name {c['name']!r}"
        for mount in c.get("volumeMounts", []):
            if mount["name"] not in volumes:
                yield f"{where}: {c['name']} mounts undeclared volume {mount['name']!r}"
        for port in c.get("ports", []):
            name = port.get("name", "p")
            if not (len(name) <= 15 and _PORT_NAME.match(name) and "--" not in name
                    and re.search("[a-z]", name)):
                yield f"{where}: port name {name!r}"
        if c.get("livenessProbe", {}).get("successThreshold", 1) != 1:
            yield f"{where}: {c['name']} liveness successThreshold must be 1"


def api_server_problems(manifest: dict[str, Any]) -> list[str]:
    kind, meta = manifest["kind"], manifest["metadata"]
    name = meta["name"]
    where = f"{kind}/{name}"
    found: list[str] = []
    pattern, most = {"Service": (_DNS_1035.pattern, 63), "Namespace": (_DNS_LABEL, 63)}.get(
        kind, (_DNS_SUBDOMAIN, 253))
    if not (len(name) <= most and re.match(pattern, name)):
        found.append(f"{where}: name")
    if kind != "Namespace" and not re.match(_DNS_LABEL, meta.get("namespace", "")):
        found.append(f"{where}: namespace")
    found.extend(_label_problems(where, meta.get("labels")))
    spec = manifest.get("spec", {})
    if kind == "Deployment":
        template = spec["template"]
        found.extend(_label_problems(f"{where} template", template["metadata"]["labels"]))
        if not spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items():
            found.append(f"{where}: selector does not match the template labels")
        rolling = spec["strategy"]["rollingUpdate"]
        if rolling["maxSurge"] in (0, "0%") and rolling["maxUnavailable"] in (0, "0%"):
            found.append(f"{where}: maxSurge and maxUnavailable are both 0")
        found.extend(_pod_problems(where, template["spec"]))
    return found


# --- scenarios ---------------------------------------------------------------------------------


def _mirror_red(p: Project) -> None:
    p.patch("red", deployment_file("red", instance_count=1))
    p.patch("endpoint", {"traffic": {"red": 0}, "mirror_traffic": {"red": 20}})


def _hpa(p: Project) -> None:
    p.patch("blue", {**KUBERNETES, "instance_count": None, "scale_settings": {
        "type": "target_utilization", "min_instances": 2, "max_instances": 8,
        "target_utilization_percentage": 60}})


def _pvc(p: Project) -> None:
    p.patch("stack", {"config": {"mlplan:assets": {
        "models": {"azureml:llm:3": "stacks/model/sample-model"}}}})
    p.kubernetes(models={"azureml:llm:3": {"pvc": "models", "subPath": "llm/3"}})
    p.patch("blue", {"model": "azureml:llm:3"})


def _custom_type(p: Project) -> None:
    p.patch("stack", {"config": {"mlplan:instanceTypes": {"a100-pool": {
        "cpu": "8", "memory": "64Gi", "gpu": 1, "nodeSelector": {"pool": "a100"},
        "tolerations": [{"key": "pool", "operator": "Equal", "value": "a100",
                         "effect": "NoSchedule"}]}}}})
    p.patch("blue", {"instance_type": "a100-pool"})


SCENARIOS: list[tuple[str, Callable[[Project], Any] | None, set[str]]] = [
    # scenario, change of the fixture project (None: the repository's prod stack), kinds that
    # must be among the objects
    ("nginx router mode", lambda p: None,
     {"Namespace", "Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Secret"}),
    ("nginx router with a mirror, LoadBalancer, hostname, pull secrets", lambda p: (
        _mirror_red(p), p.kubernetes(serviceType="LoadBalancer", imagePullSecrets=["regcred"],
                                     hostname="{endpoint}.ml.example.com", uriScheme="https",
                                     routerReplicas=3)), {"Deployment", "Service"}),
    ("gateway-api mode with a mirror", lambda p: (_mirror_red(p), p.kubernetes(**GATEWAY)),
     {"HTTPRoute", "Deployment", "Secret"}),
    ("gateway-api mode with a section, port and long timeouts", lambda p: (
        p.kubernetes(**{**GATEWAY, "gatewayRef": {"name": "shared", "namespace": "gateways",
                                                  "sectionName": "https", "port": 443}}),
        p.patch("blue", {"request_settings": {"request_timeout_ms": 1500}}),
        p.patch("green", {"request_settings": {"request_timeout_ms": 180_000}})),
     {"HTTPRoute"}),
    ("GPU deployment", lambda p: p.patch("blue", {"instance_type": "Standard_NC6s_v3"}),
     {"Deployment"}),
    ("Kubernetes resources with a GPU limit", lambda p: p.patch("blue", {
        **KUBERNETES, "instance_type": None, "scale_settings": {"type": "default"},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                      "limits": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": 1}}}),
     {"Deployment"}),
    ("custom instance type with node selector and tolerations", _custom_type, {"Deployment"}),
    ("target_utilization with HPA", _hpa, {"HorizontalPodAutoscaler"}),
    ("exempt SKU autoscaled: no surge", lambda p: p.patch("blue", {
        **KUBERNETES, "instance_type": "Standard_NC24ads_A100_v4", "instance_count": None,
        "scale_settings": {"type": "target_utilization", "min_instances": 2,
                           "max_instances": 6}}), {"HorizontalPodAutoscaler"}),
    ("resourceQuota on, namespace not ours", lambda p: p.kubernetes(
        resourceQuota=True, createNamespace=False), {"ResourceQuota"}),
    ("model from a PVC", _pvc, {"Deployment"}),
    ("model copied from an image", lambda p: p.kubernetes(models={
        "stacks/model/sample-model": {"image": "registry.example.com/models/sample:1",
                                      "path": "/model"}}), {"Deployment"}),
    ("the prod sample stack", None, {"ResourceQuota", "Deployment", "ConfigMap"}),
]


def run_scenario(setup: Callable[[Project], Any] | None, root: Path,
                 monkeypatch: pytest.MonkeyPatch) -> list[Recorded]:
    if setup is None:
        monkeypatch.chdir(REPO)
        return run_program(lambda: program.run(cwd=REPO, stack="prod"), stack="prod",
                           project=REPO)
    project = Project(root)
    monkeypatch.chdir(project.root)
    setup(project)
    return project.run()


@pytest.mark.parametrize(("name", "setup", "kinds"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_every_object_validates(name: str, setup: Callable[[Project], Any] | None,
                                kinds: set[str], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    objects = manifests(run_scenario(setup, tmp_path / "project", monkeypatch))
    assert kinds <= {m["kind"] for m in objects}
    problems = [p for version in KUBERNETES_VERSIONS for m in objects
                for p in schema_errors(m, version)]
    problems += [p for m in objects for p in api_server_problems(m)]
    assert problems == []


# --- the validators can fail -------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One valid manifest per kind, from the nginx and the gateway-api scenarios."""
    found: dict[str, dict[str, Any]] = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for index, setup in enumerate((_mirror_red, lambda p: (_mirror_red(p),
                                                              p.kubernetes(**GATEWAY)))):
            root = tmp_path_factory.mktemp("samples") / f"p{index}"
            for m in manifests(run_scenario(setup, root, monkeypatch)):
                router = m["metadata"]["labels"].get(labels.ROLE) == "router"
                key = "RouterDeployment" if m["kind"] == "Deployment" and router else m["kind"]
                found.setdefault(key, m)
    return found


def _container(m: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = m["spec"]["template"]["spec"]["containers"][0]
    return found


def _split_rule(m: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = m["spec"]["rules"][-1]
    return found


BROKEN: list[tuple[str, str, Callable[[dict[str, Any]], Any], str]] = [
    # scenario, kind, change, expected in the error
    ("misspelt container field", "Deployment",
     lambda m: _container(m).update(imagePullPolicyy="Always"), "imagePullPolicyy"),
    ("probe field one level too high", "Deployment",
     lambda m: _container(m).update(path="/"), "'path' was unexpected"),
    ("replicas as text", "Deployment", lambda m: m["spec"].update(replicas="three"),
     "spec.replicas"),
    ("unknown top-level field", "Service", lambda m: m.update(status2={}), "status2"),
    ("wrong apiVersion for the kind", "PodDisruptionBudget",
     lambda m: m.update(apiVersion="policy/v1beta1"), "Couldn't find"),
    ("HTTPRoute with 17 rules", "HTTPRoute",
     lambda m: m["spec"].update(rules=m["spec"]["rules"] * 6), "is too long"),
    ("HTTPRoute mirror of 150%", "HTTPRoute", lambda m: _split_rule(m)["filters"][0][
        "requestMirror"].update(percent=150), "150 is greater than the maximum of 100"),
    ("HTTPRoute backend without a port", "HTTPRoute",
     lambda m: _split_rule(m)["backendRefs"][0].pop("port"), "'port' is a required property"),
    ("HTTPRoute misspelt field", "HTTPRoute",
     lambda m: m["spec"].update(hostname=["x.example.com"]), "'hostname' was unexpected"),
    ("HTTPRoute bad timeout", "HTTPRoute",
     lambda m: _split_rule(m).update(timeouts={"request": "5 seconds"}), "does not match"),
    ("HTTPRoute bad label type", "HTTPRoute",
     lambda m: m["metadata"]["labels"].update(weight=90), "90 is not of type"),
]


def _errors(manifest: dict[str, Any]) -> list[str]:
    try:
        return schema_errors(manifest, KUBERNETES_VERSIONS[0])
    except FileNotFoundError as exc:  # no schema for this apiVersion/kind
        return [f"Couldn't find a schema: {exc}"]


@pytest.mark.parametrize(("name", "kind", "change", "expected"), BROKEN,
                         ids=[b[0] for b in BROKEN])
def test_a_broken_manifest_fails(name: str, kind: str, change: Callable[[dict[str, Any]], Any],
                                 expected: str, samples: dict[str, dict[str, Any]]) -> None:
    manifest = copy.deepcopy(samples[kind])
    assert _errors(manifest) == []
    change(manifest)
    assert any(expected in e for e in _errors(manifest)), _errors(manifest)


def test_the_fast_validator_agrees_with_kubernetes_validate(
        samples: dict[str, dict[str, Any]]) -> None:
    for kind, manifest in samples.items():
        if kind == "HTTPRoute":
            continue
        for version in KUBERNETES_VERSIONS:
            assert kubernetes_validate.validate(manifest, version, strict=True) == version
    broken = copy.deepcopy(samples["Deployment"])
    _container(broken)["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolicyy"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)
    assert schema_errors(broken, KUBERNETES_VERSIONS[0]) != []


API_SERVER = [
    ("label value with a slash", "Deployment",
     lambda m: m["metadata"]["labels"].update(image="a/b:1"), "label image='a/b:1'"),
    ("selector no longer matches the template", "Deployment",
     lambda m: m["spec"]["selector"]["matchLabels"].update(extra="x"), "selector"),
    ("mount of an undeclared volume", "Deployment",
     lambda m: _container(m)["volumeMounts"].append({"name": "cache", "mountPath": "/c"}),
     "undeclared volume 'cache'"),
    ("Service name starting with a digit", "Service",
     lambda m: m["metadata"].update(name="1-endpoint"), "Service/1-endpoint: name"),
    ("no way to roll", "Deployment", lambda m: m["spec"]["strategy"]["rollingUpdate"].update(
        maxSurge=0, maxUnavailable=0), "both 0"),
]


@pytest.mark.parametrize(("name", "kind", "change", "expected"), API_SERVER,
                         ids=[a[0] for a in API_SERVER])
def test_api_server_checks_can_fail(name: str, kind: str,
                                    change: Callable[[dict[str, Any]], Any], expected: str,
                                    samples: dict[str, dict[str, Any]]) -> None:
    manifest = copy.deepcopy(samples[kind])
    assert api_server_problems(manifest) == []
    change(manifest)
    assert any(expected in p for p in api_server_problems(manifest)), api_server_problems(
        manifest)


# --- a finding the HTTPRoute schema made: at most 16 rules -------------------------------------


def _deployments(p: Project, count: int) -> None:
    names = [f"d{index:02d}" for index in range(count)]
    for name in ("blue", "green"):
        p.patch(name, None)
    for name in names:
        p.patch(name, deployment_file(name, instance_count=1))
    p.patch("endpoint", {"traffic": None})
    text = yaml.safe_load(p.file("endpoint").read_text())
    text["traffic"] = {names[0]: 100}
    p.file("endpoint").write_text(yaml.safe_dump(text, sort_keys=False))
    p.patch("stack", {"config": {"mlplan:quota": {"standardDSv2Family": 1000, "total": 1000}}})


ROUTE_SIZES = [
    # scenario, router settings, deployments, error code or None
    ("gateway-api, 15 deployments: 16 rules", GATEWAY, 15, None),
    ("gateway-api, 16 deployments: refused (17 rules)", GATEWAY, 16,
     codes.TOO_MANY_DEPLOYMENTS),
    ("nginx, 16 deployments: no route, no limit", {}, 16, None),
]


@pytest.mark.parametrize(("name", "settings", "count", "code"), ROUTE_SIZES,
                         ids=[r[0] for r in ROUTE_SIZES])
def test_an_httproute_never_exceeds_16_rules(name: str, settings: dict[str, Any], count: int,
                                             code: str | None, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    project = Project(tmp_path / "project")
    monkeypatch.chdir(project.root)
    _deployments(project, count)
    project.kubernetes(**settings)
    if code is not None:
        with pytest.raises(pulumi.RunError, match=code):
            project.run()
        return
    objects = manifests(project.run())
    assert [p for m in objects for p in schema_errors(m, KUBERNETES_VERSIONS[-1])] == []
    routes = [m for m in objects if m["kind"] == "HTTPRoute"]
    assert [len(r["spec"]["rules"]) for r in routes] == ([count + 1] if settings else [])


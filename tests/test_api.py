"""The public Pulumi API (``from mlplan import OnlineEndpoint, QuotaCheck``) under mocks: good
input -> the component, its children and its outputs; every bad input -> mlplan's diagnostics
(code, where, the fix) and not one resource registered; the program's settings from
``pulumi.Config``; the schema the component provider host infers from the classes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.sync_await import _sync_await

from mlplan import OnlineEndpoint, OnlineEndpointArgs, QuotaCheck, QuotaCheckArgs
from tests.targets.harness import Recorded, by_type, one, run_program
from tests.targets.test_docker import REVISION

REPO = Path(__file__).resolve().parents[1]
SAMPLE = "stacks/endpoints/my-endpoint"
PUBLIC_T = "mlplan:index:OnlineEndpoint"
DOCKER_T = "mlplan:index:DockerEndpoint"
KUBERNETES_T = "mlplan:index:KubernetesEndpoint"
QUOTA_T = "mlplan:index:QuotaCheck"
CONTAINER = "docker:index/container:Container"
PASSWORD = "random:index/randomPassword:RandomPassword"
KEYS = {"primary": "p" * 32, "secondary": "s" * 32}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A user's project: Pulumi.yaml, the bundled endpoint files, model and scoring script."""
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for part in ("endpoints", "model", "score"):
        shutil.copytree(REPO / "stacks" / part, tmp_path / "stacks" / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def files(**more: Any) -> dict[str, Any]:
    """The bundled sample as files (blue 3 + green 3 of Standard_DS3_v2, 90/10)."""
    return {"endpoint_file": f"{SAMPLE}/endpoint.yml",
            "deployment_files": [f"{SAMPLE}/blue.yml", f"{SAMPLE}/green.yml"], **more}


def deployment(name: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "endpoint_name": "my-endpoint",
            "model": {"path": "stacks/model/sample-model"},
            "code_configuration": {"code": "stacks/score", "scoring_script": "score.py"},
            "environment": {"image": "example.io/infer:1.0"},
            "instance_type": "Standard_DS2_v2", "instance_count": 2, **more}


def values(**more: Any) -> dict[str, Any]:
    """The same shape as values: what ``yaml.safe_load`` of the files gives."""
    return {"endpoint": {"name": "my-endpoint", "auth_mode": "key", "traffic": {"blue": 100}},
            "deployments": [deployment("blue")], **more}


def build(root: Path, args: dict[str, Any], *, component: type = OnlineEndpoint,
          preview: bool = False) -> tuple[list[Recorded], dict[str, Any]]:
    """Run a one-component program in ``root``; its registrations and outputs (resolved)."""
    outputs: dict[str, Any] = {}

    def program() -> None:
        made = component("my-endpoint" if component is OnlineEndpoint else "quota",
                         {"project_dir": str(root), **args})
        outputs["component"] = made

    recorded = run_program(program, stack="dev", preview=preview)
    return recorded, outputs


def resolved(output: Any) -> Any:
    return _sync_await(output.future())


def is_secret(output: Any) -> bool:
    return bool(_sync_await(output.is_secret()))


GOOD: list[tuple[str, Callable[[], dict[str, Any]], dict[str, int], int]] = [
    # name, arguments, instances per deployment, reserved cores
    ("the bundled files", files, {"blue": 3, "green": 3}, 32),
    ("values of the same shape", values, {"blue": 2}, 6),
    ("files and values together",
     lambda: {"endpoint_file": f"{SAMPLE}/endpoint.yml",
              "deployment_files": [f"{SAMPLE}/blue.yml"],
              "deployments": [deployment("green", instance_count=1)]},
     {"blue": 3, "green": 1}, 20),  # blue ceil(3.6) x 4 = 16, green ceil(1.2) x 2 = 4
    ("schema names (camelCase) as the YAML language would send them",
     lambda: {"endpointFile": f"{SAMPLE}/endpoint.yml",
              "deploymentFiles": [f"{SAMPLE}/blue.yml", f"{SAMPLE}/green.yml"],
              "instanceTypes": {"tiny": {"cpu": "500m", "memory": "1Gi"}}},
     {"blue": 3, "green": 3}, 32),
    ("one endpoint of files that share a folder (endpoint_name)",
     lambda: files(endpoint_name="my-endpoint"), {"blue": 3, "green": 3}, 32),
]


@pytest.mark.parametrize(("name", "args", "instances", "cores"), GOOD, ids=[g[0] for g in GOOD])
def test_good_input_builds_children_and_outputs(
        name: str, args: Callable[[], dict[str, Any]], instances: dict[str, int], cores: int,
        root: Path) -> None:
    recorded, out = build(root, {**args(), "quota": {"total": 100}})
    public = one(recorded, PUBLIC_T, "my-endpoint")
    target = one(recorded, DOCKER_T, "my-endpoint")
    assert target.parent == public.urn
    assert public.inputs["deployments"] == instances
    containers = {REVISION.sub("", r.inputs["name"]) for r in by_type(recorded, CONTAINER)}
    # a drain container per batch replaced in place (issue 25): at most 5 instances the batches
    # hold 1 each and batch 1 is the surge batch, so batches 2..n are drained
    drains = {c for c in containers if c.endswith("-drain")}
    assert drains == {f"my-endpoint-{d}-batch-{k}-drain"
                      for d, n in instances.items() for k in range(2, n + 1)}
    assert containers - drains == {"my-endpoint-router", "my-endpoint-router-config"} | {
        f"my-endpoint-{d}-{i}" for d, n in instances.items() for i in range(n)}
    endpoint = out["component"]
    assert resolved(endpoint.deployments) == instances
    assert resolved(endpoint.endpoint_name) == "my-endpoint"
    assert resolved(endpoint.scoring_uri).startswith("http://localhost:")
    assert resolved(endpoint.swagger_uri).endswith("/swagger.json")
    quota = resolved(endpoint.quota_reserved)
    assert (quota["total_reserved_cores"], quota["total_limit_cores"]) == (cores, 100)
    assert is_secret(endpoint.primary_key) and is_secret(endpoint.secondary_key)
    assert len(by_type(recorded, PASSWORD)) == 2  # keys generated once, kept in the state


LEFT_TO_THE_PACK = [
    # scenario, arguments, the policy rule mlplan plan fails on and the program leaves to the pack
    ("2 live instances in production: ha-minimum is mandatory there",
     lambda: values(environment="production"), "MLP501"),
    ("an image tagged latest in production: image-pinned is mandatory there",
     lambda: values(environment="production", deployments=[
         deployment("blue", instance_count=3, environment={"image": "example.io/infer:latest"})]),
     "MLP502"),
]


@pytest.mark.parametrize(("name", "args", "code"), LEFT_TO_THE_PACK,
                         ids=[c[0] for c in LEFT_TO_THE_PACK])
def test_a_program_leaves_the_policy_rules_to_the_pack(
        name: str, args: Callable[[], dict[str, Any]], code: str, root: Path) -> None:
    """The offline pipeline refuses the stack (``checked_state``: MLP5xx errors); the component
    registers it (``program_state``: no policy rule), so the policy pack reports the rule on the
    resources with its own configuration (``edge.pipeline``'s docstring says why)."""
    from mlplan.domain.settings import Settings
    from mlplan.domain.spec import SourceValue, parse
    from mlplan.edge import pipeline

    given = args()
    parsed = parse([SourceValue("e", given["endpoint"], "endpoint"),
                    *(SourceValue(f"d{i}", d, "deployment")
                      for i, d in enumerate(given["deployments"]))])
    offline = pipeline.checked_state(parsed.endpoints, Settings(environment="production"),
                                     parsed.diagnostics)
    assert code in {d.code for d in offline.diagnostics if str(d.severity) == "error"}
    recorded, _out = build(root, given)
    assert by_type(recorded, CONTAINER)  # registered: the pack, not the program, gates it


def test_keys_traffic_and_docker_settings(root: Path) -> None:
    """Given keys are used (no generated ones) and stay secrets; ``traffic`` replaces the
    file's split; ``docker`` takes the Python names of ``mlplan:docker`` (name_prefix, ports)."""
    recorded, out = build(root, files(
        keys=KEYS, traffic={"blue": 50, "green": 50},
        docker={"name_prefix": "pr-", "ports": {"my-endpoint": 8123}}))
    assert not by_type(recorded, PASSWORD)
    endpoint = out["component"]
    assert resolved(endpoint.primary_key) == KEYS["primary"] and is_secret(endpoint.primary_key)
    assert resolved(endpoint.traffic) == {"blue": 50, "green": 50}
    assert resolved(endpoint.scoring_uri) == "http://localhost:8123/score"
    config = one(recorded, CONTAINER, "my-endpoint-router-config")
    assert "keys.conf" in json.dumps(config.inputs) and "uploads" in config.secret_inputs
    assert {REVISION.sub("", r.inputs["name"]) for r in by_type(recorded, CONTAINER)} >= {
        "pr-my-endpoint-router", "pr-my-endpoint-blue-0"}
    labels = {item["label"]: item["value"] for item in config.inputs["labels"]}
    assert labels["mlplan.dev/traffic"] == "blue=50,green=50"


KEY_OUTPUTS = [
    ("each key an output", lambda: {k: pulumi.Output.secret(v) for k, v in KEYS.items()}),
    ("the mapping one output (a secret input through the provider host)",
     lambda: pulumi.Output.secret(KEYS)),
]


@pytest.mark.parametrize(("name", "keys"), KEY_OUTPUTS, ids=[k[0] for k in KEY_OUTPUTS])
def test_keys_may_be_outputs(name: str, keys: Callable[[], Any], root: Path) -> None:
    outputs: dict[str, Any] = {}

    def program() -> None:
        outputs["e"] = OnlineEndpoint("my-endpoint", {**files(), "keys": keys(),
                                                      "project_dir": str(root)})

    recorded = run_program(program, stack="dev")
    assert not by_type(recorded, PASSWORD)
    endpoint = outputs["e"]
    assert resolved(endpoint.secondary_key) == KEYS["secondary"]
    assert is_secret(endpoint.primary_key)


def test_kubernetes_target(root: Path) -> None:
    recorded, out = build(root, files(target="kubernetes",
                                      kubernetes={"namespace": "ml", "create_namespace": True}))
    public = one(recorded, PUBLIC_T, "my-endpoint")
    target = one(recorded, KUBERNETES_T, "my-endpoint")
    assert target.parent == public.urn
    namespace = one(recorded, "kubernetes:core/v1:Namespace", "my-endpoint-namespace")
    assert namespace.parent == public.urn and namespace.inputs["metadata"]["name"] == "ml"
    deployments = {r.name for r in by_type(recorded, "kubernetes:apps/v1:Deployment")}
    assert {"my-endpoint-blue-deployment", "my-endpoint-green-deployment"} <= deployments
    assert resolved(out["component"].scoring_uri) == "http://my-endpoint.ml.svc.cluster.local/score"
    assert resolved(out["component"].kubernetes_secrets) == ""  # applied: the Secrets are in


WITHHELD = [
    ("render_yaml_to", {"render_yaml_to": "out/manifests"}),
    ("withhold_secrets: a rendering provider of the caller's own",
     {"withhold_secrets": True}),
]


@pytest.mark.parametrize("withheld", [w[1] for w in WITHHELD], ids=[w[0] for w in WITHHELD])
def test_kubernetes_secrets_handed_over_not_registered(root: Path,
                                                      withheld: dict[str, Any]) -> None:
    """``render_yaml_to`` (or ``withhold_secrets``): no Secret is registered; the output
    ``kubernetes_secrets`` (a secret) holds the keys' Secret with the endpoint's keys."""
    recorded, out = build(root, files(target="kubernetes", keys=KEYS, kubernetes={
        "namespace": "ml", **withheld}))
    assert by_type(recorded, "kubernetes:core/v1:Secret") == []
    endpoint = out["component"]
    assert is_secret(endpoint.kubernetes_secrets)
    (keys,) = [d for d in yaml.safe_load_all(resolved(endpoint.kubernetes_secrets))
               if d["metadata"]["name"] == "my-endpoint-keys"]
    assert keys["stringData"]["primary-key"] == KEYS["primary"]
    assert resolved(endpoint.primary_key) == KEYS["primary"]


def test_quota_check_outputs(root: Path) -> None:
    recorded, out = build(root, {"paths": ["stacks/endpoints"],
                                 "quota": {"standardDSv2Family": 48, "total": 100}},
                          component=QuotaCheck)
    check = one(recorded, QUOTA_T, "quota")
    assert check.inputs["totalReservedCores"] == 32  # what planning.preview reads
    assert resolved(out["component"].total_reserved_cores) == 32
    assert resolved(out["component"].quota_reserved)["families"] == [
        {"family": "standardDSv2Family", "reserved": 32, "limit": 48,
         "users": ["my-endpoint/blue", "my-endpoint/green"]}]


class Failed(Exception):
    pass


def failing(root: Path, args: dict[str, Any], caplog: pytest.LogCaptureFixture,
            component: type = OnlineEndpoint) -> tuple[str, str, list[Recorded]]:
    """(the RunError's text, every diagnostic logged, the registrations) of a failing program."""
    raised: list[Exception] = []

    def program() -> None:
        try:
            component("my-endpoint", {"project_dir": str(root), **args})
        except pulumi.RunError as exc:  # caught to look at the registrations afterwards
            raised.append(exc)

    caplog.clear()
    recorded = run_program(program, stack="dev")
    assert raised, "the component did not fail"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    return str(raised[0]), logged, recorded


BAD: list[tuple[str, Callable[[], dict[str, Any]], list[str]]] = [
    # name, arguments, what the diagnostics must say (every piece)
    ("a misspelled argument", lambda: {**files(), "endpoint_fil": "x.yml"},
     ["OnlineEndpoint my-endpoint endpoint_fil: error MLP120", "did you mean 'endpoint_file'"]),
    ("a missing file", lambda: files(endpoint_file="stacks/nope.yml"),
     ["OnlineEndpoint my-endpoint endpoint_file: error MLP121", "'stacks/nope.yml' does not "
      "exist"]),
    ("a path out of the project", lambda: files(endpoint_file="../elsewhere.yml"),
     ["MLP121", "outside the project root"]),
    ("deployment_files as one text", lambda: files(deployment_files=f"{SAMPLE}/blue.yml"),
     ["deployment_files: error MLP120: must be a list of paths"]),
    ("a typo in a deployment value",
     lambda: values(deployments=[{**deployment("blue"), "instnce_count": 2}]),
     ["OnlineEndpoint my-endpoint deployments[0] instnce_count: error MLP101",
      "did you mean 'instance_count'?"]),
    ("a wrong type in a value",
     lambda: values(deployments=[deployment("blue", instance_count="three")]),
     ["deployments[0] instance_count: error MLP102"]),
    ("an unknown instance type",
     lambda: values(deployments=[deployment("blue", instance_type="Standard_DS3")]),
     ["deployments[0] instance_type: error MLP110"]),
    ("a model path that is not there",
     lambda: values(deployments=[deployment("blue", model={"path": "stacks/model/nope"})]),
     ["deployments[0] model.path: error MLP115"]),
    ("over the family quota", lambda: files(quota={"standardDSv2Family": 20}),
     ["error MLP401", "standardDSv2Family", "32", "20"]),
    ("over the total quota", lambda: files(quota={"total": 10}), ["error MLP402"]),
    ("a traffic split that does not add up", lambda: files(traffic={"blue": 70, "green": 10}),
     ["OnlineEndpoint my-endpoint traffic: error MLP201"]),
    ("traffic above 100", lambda: files(traffic={"blue": 150}),
     ["OnlineEndpoint my-endpoint traffic.blue: error MLP10"]),
    ("a mirror over 50%", lambda: files(traffic={"blue": 100, "green": 0},
                                        mirror_traffic={"green": 60}), ["error MLP204"]),
    ("no endpoint at all", lambda: {"deployments": [deployment("blue")]},
     ["MLP108"]),
    ("no document at all", lambda: {},
     ["OnlineEndpoint my-endpoint endpoint_file: error MLP103", "declares no online endpoint"]),
    ("two endpoints in one component",
     lambda: {"deployment_files": ["stacks/endpoints"],
              "endpoint": {"name": "other-endpoint", "auth_mode": "key"}},
     ["endpoint_file: error MLP103: declares 2 endpoints (my-endpoint, other-endpoint)"]),
    ("an endpoint_name the files do not declare", lambda: files(endpoint_name="elsewhere"),
     ["error MLP103: declares no online endpoint named 'elsewhere'"]),
    ("an output where the plan needs a value",
     lambda: files(quota={"total": pulumi.Output.from_input(100)}),
     ["OnlineEndpoint my-endpoint quota.total: error MLP120", "must be a plain value"]),
    ("bad docker settings", lambda: files(docker={"resource_limits": "sometimes"}),
     ["OnlineEndpoint my-endpoint docker.resourceLimits: error MLP120"]),
    ("an unknown docker setting", lambda: files(docker={"router_imag": "nginx"}),
     ["OnlineEndpoint my-endpoint docker.router_imag: error MLP120"]),
    ("an unknown target", lambda: files(target="swarm"),
     ["OnlineEndpoint my-endpoint target: error MLP120"]),
    ("a key too short (never shown)", lambda: files(keys={"primary": "short-secret-1",
                                                          "secondary": "s" * 32}),
     ["OnlineEndpoint my-endpoint keys.primary: error MLP120", "the value is not shown"]),
    ("a key missing", lambda: files(keys={"primary": "p" * 32}),
     ["OnlineEndpoint my-endpoint keys: error MLP120", "'secondary' is missing"]),
]


@pytest.mark.parametrize(("name", "args", "said"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_fails_before_anything_is_registered(
        name: str, args: Callable[[], dict[str, Any]], said: list[str], root: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    message, logged, recorded = failing(root, args(), caplog)
    assert recorded == [], [f"{r.type} {r.name}" for r in recorded]
    assert message.startswith("mlplan: ") and "nothing was changed" in message
    for piece in said:
        assert piece in logged, logged
    assert "short-secret-1" not in logged + message
    assert "Traceback" not in logged


HINTS = [
    # scenario, who fails, what ends the error
    ("a component in a user's program: no command that cannot see its arguments", "component",
     "nothing was changed."),
    ("the stack's program: mlplan plan with its stack", "program",
     "nothing was changed. Run `mlplan plan --stack dev` for the full plan."),
]


@pytest.mark.parametrize(("name", "who", "ending"), HINTS, ids=[h[0] for h in HINTS])
def test_an_error_says_where_to_see_more_in_its_callers_terms(
        name: str, who: str, ending: str, root: Path, caplog: pytest.LogCaptureFixture) -> None:
    if who == "component":
        message = failing(root, files(quota={"total": 10}), caplog)[0]
    else:
        stack_file(root, {**DEV, "mlplan:quota": {"total": 10}})
        config = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in DEV.items()}
        config["mlplan:quota"] = json.dumps({"total": 10})
        message = program_run(root, config, caplog)[0]
    assert message.endswith(ending), message


def test_every_problem_in_one_pass(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, logged, _ = failing(root, values(
        deployments=[deployment("blue", instance_type="Standard_DS3"),
                     {**deployment("green"), "instnce_count": 1}],
        quota={"total": "lots"}), caplog)
    for piece in ("deployments[0] instance_type: error MLP110",
                  "deployments[1] instnce_count: error MLP101",
                  "OnlineEndpoint my-endpoint quota.total"):
        assert piece in logged, logged


def test_quota_check_over_quota(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    message, logged, recorded = failing(root, {"paths": ["stacks/endpoints"],
                                               "quota": {"total": 20}}, caplog, QuotaCheck)
    assert recorded == [] and "MLP402" in message
    assert "error MLP402" in logged and "32" in logged


def test_a_small_docker_host_is_mlp123(root: Path, caplog: pytest.LogCaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests.test_docker_host import http_ok, serve_once

    sock = tmp_path / "docker.sock"
    serve_once(sock, http_ok({"NCPU": 2, "MemTotal": 8 << 30}))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    _, logged, recorded = failing(root, files(), caplog)
    assert recorded == [] and "instance_type: error MLP123" in logged
    assert f"{SAMPLE}/blue.yml:" in logged  # the file and line of the deployment


# --- the program: settings from pulumi.Config ----------------------------------------------


def stack_file(root: Path, config: dict[str, Any]) -> None:
    (root / "stacks" / "Pulumi.dev.yaml").write_text(
        yaml.safe_dump({"config": config}, sort_keys=False))


DEV = {"mlplan:target": "docker", "mlplan:endpoints": ["stacks/endpoints"],
       "mlplan:quota": {"standardDSv2Family": 48, "total": 100}}


def program_run(root: Path, engine_config: dict[str, Any],
                caplog: pytest.LogCaptureFixture) -> tuple[str, str, list[Recorded]]:
    """The stack program with ``engine_config`` as the engine's config (a file's, ``-c``...)."""
    from mlplan.edge.program import run

    raised: list[Exception] = []

    def program() -> None:
        try:
            run(cwd=root, stack="dev")
        except pulumi.RunError as exc:
            raised.append(exc)

    caplog.clear()
    recorded = run_program(program, stack="dev", config=engine_config)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    return (str(raised[0]) if raised else ""), logged, recorded


CONFIG: list[tuple[str, dict[str, Any], str, list[str]]] = [
    # name, engine config over the file's, error code ("" = it runs), what is said
    ("the file's config", {}, "", []),
    ("-c mlplan:quota within", {"mlplan:quota": {"total": 40}}, "", []),
    ("-c mlplan:quota over (no file line: it is not the file's)",
     {"mlplan:quota": {"standardDSv2Family": 20, "total": 100}}, "MLP401",
     ["error MLP401", "standardDSv2Family"]),
    ("a bad key set only in config is named alone",
     {"mlplan:docker": {"resourceLimits": "sometimes"}}, "MLP120",
     ["\nmlplan:docker.resourceLimits: error MLP120"]),
    ("an unknown key set only in config", {"mlplan:quotas": {"total": 1}}, "MLP120",
     ["\nmlplan:quotas: error MLP120", "did you mean 'mlplan:quota'"]),
    ("the target from config", {"mlplan:target": "kubernetes"}, "", []),
]


@pytest.mark.parametrize(("name", "override", "code", "said"), CONFIG,
                         ids=[c[0] for c in CONFIG])
def test_the_program_takes_its_settings_from_the_engine(
        name: str, override: dict[str, Any], code: str, said: list[str], root: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    stack_file(root, DEV)
    config = {**{k: json.dumps(v) if not isinstance(v, str) else v for k, v in DEV.items()},
              **{k: json.dumps(v) if not isinstance(v, str) else v for k, v in override.items()}}
    message, logged, recorded = program_run(root, config, caplog)
    if code:
        assert code in message and recorded == [], message
    else:
        assert not message, logged
        quota = one(recorded, QUOTA_T, "quota").inputs
        limit = override.get("mlplan:quota", DEV["mlplan:quota"])["total"]
        assert quota["totalLimitCores"] == limit
        public = one(recorded, PUBLIC_T, "my-endpoint")
        target = override.get("mlplan:target", "docker")
        assert public.inputs["target"] == target
    for piece in said:
        assert piece in "\n" + logged, logged


def test_a_file_value_keeps_its_line(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The engine's value is the stack file's: the error points at the file's line."""
    stack_file(root, {**DEV, "mlplan:docker": {"resourceLimits": "sometimes"}})
    config = {"mlplan:target": "docker", "mlplan:endpoints": json.dumps(["stacks/endpoints"]),
              "mlplan:quota": json.dumps(DEV["mlplan:quota"]),
              "mlplan:docker": json.dumps({"resourceLimits": "sometimes"})}
    message, logged, _ = program_run(root, config, caplog)
    assert "MLP120" in message
    # the key's own line (issue 27), not its mapping's
    assert "stacks/Pulumi.dev.yaml:9 mlplan:docker.resourceLimits: error MLP120" in logged, logged


def test_no_config_at_all_says_what_is_missing(root: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    message, logged, recorded = program_run(root, {}, caplog)
    assert "MLP120" in message and recorded == []
    assert "mlplan:endpoints: error MLP120: missing; add 'mlplan:endpoints:'" in logged


# --- the README's example -------------------------------------------------------------------


def readme_example() -> str:
    """The Python block of README.md's "Use mlplan from your own Pulumi program"."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Use mlplan from your own Pulumi program", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def user_project(root: Path) -> Path:
    """A user's project for the README example: the bundled YAML under ``endpoints/``, with
    the model and scoring script beside it as in the sample (``../../model``)."""
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(REPO / "stacks" / "endpoints", root / "endpoints")
    for part in ("model", "score"):
        shutil.copytree(REPO / "stacks" / part, root / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(user_project(tmp_path))
    recorded = run_program(lambda: exec(compile(readme_example(), "README.md", "exec"), {}),
                           stack="dev")
    assert one(recorded, "random:index/randomPet:RandomPet", "shop-name")
    public = one(recorded, PUBLIC_T, "my-endpoint")
    assert public.inputs["deployments"] == {"blue": 3, "green": 3}
    assert one(recorded, DOCKER_T, "my-endpoint").parent == public.urn


# --- the schema the component provider host infers ------------------------------------------


def test_the_provider_host_can_serve_the_classes() -> None:
    """``component_provider_host``'s analyzer reads the classes: tokens in module ``index``,
    a description on every input and output (of the nested types too)."""
    from pulumi.provider.experimental.analyzer import Analyzer

    result = Analyzer("mlplan").analyze([OnlineEndpoint, QuotaCheck])
    components = result["component_definitions"]
    assert set(components) == {"OnlineEndpoint", "QuotaCheck"}
    endpoint = components["OnlineEndpoint"]
    assert {"endpointFile", "deploymentFiles", "endpoint", "deployments", "traffic",
            "mirrorTraffic", "keys", "target", "docker", "kubernetes", "quota"} <= set(
        endpoint.inputs)
    assert {"scoringUri", "swaggerUri", "primaryKey", "secondaryKey", "deployments",
            "quotaReserved"} <= set(endpoint.outputs)
    undescribed = [f"{c.name}.{k}" for c in components.values()
                   for k, p in (*c.inputs.items(), *c.outputs.items()) if not p.description]
    undescribed += [f"{t.name}.{k}" for t in result["type_definitions"].values()
                    for k, p in t.properties.items() if not p.description]
    assert undescribed == []
    keys = result["type_definitions"]["EndpointKeysArgs"].properties
    assert {k: p.optional for k, p in keys.items()} == {"primary": False, "secondary": False}


def test_the_docstrings_name_the_azure_key_and_default() -> None:
    """Each input's description says its default and, where Azure ML has one, its YAML key."""
    from pulumi.provider.experimental.analyzer import Analyzer

    inputs = Analyzer("mlplan").analyze([OnlineEndpoint])["component_definitions"][
        "OnlineEndpoint"].inputs
    for name, prop in inputs.items():
        assert "Default" in (prop.description or ""), name
    for name, azure in [("endpointFile", "az ml online-endpoint"),
                        ("deploymentFiles", "az ml online-deployment"),
                        ("traffic", "traffic"), ("mirrorTraffic", "mirror_traffic"),
                        ("endpointName", "--endpoint-name")]:
        assert azure in (inputs[name].description or ""), name


def test_import_mlplan_loads_no_pulumi() -> None:
    """The CLI's ``import mlplan`` stays light: the API is imported on first use."""
    code = ("import sys, mlplan; assert 'pulumi' not in sys.modules; "
            "from mlplan import OnlineEndpoint; assert 'pulumi' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


STRICT_READER = """\
import pulumi
from mlplan import OnlineEndpoint


def total(endpoint: OnlineEndpoint) -> pulumi.Output[float]:
    return endpoint.quota_reserved.apply(lambda q: q["total_reserved_cores"] + 1.0)


def first_family(endpoint: OnlineEndpoint) -> pulumi.Output[str]:
    return endpoint.quota_reserved.apply(lambda q: q["families"][0]["family"].upper())
"""


def test_the_output_types_say_what_arrives_at_run_time(tmp_path: Path) -> None:
    """A user's program reading ``quota_reserved`` passes ``mypy --strict``: inside the output
    the fields are plain numbers and texts, as at run time."""
    from mypy import api as mypy_api

    program = tmp_path / "reader.py"
    program.write_text(STRICT_READER)
    out, err, status = mypy_api.run(["--strict", "--cache-dir", str(tmp_path / "cache"),
                                     str(program)])
    assert status == 0, out + err


def test_the_typed_args_are_plain_dicts() -> None:
    """``OnlineEndpointArgs(...)`` is a dict (TypedDict): the classes take any mapping."""
    assert OnlineEndpointArgs(endpoint_file="e.yml") == {"endpoint_file": "e.yml"}
    assert QuotaCheckArgs(paths=["stacks/endpoints"]) == {"paths": ["stacks/endpoints"]}


JSON_TEXT = [
    # name, config value, read as
    ("an object as JSON text", '{"total": 10}', {"total": 10}),
    ("a list as JSON text", '["stacks/endpoints"]', ["stacks/endpoints"]),
    ("plain text stays text", "docker", "docker"),
    ("broken JSON stays text (the parser says it is no mapping)", "{oops", "{oops"),
    ("a JSON scalar stays text", "[1", "[1"),
    ("a value already decoded", {"total": 10}, {"total": 10}),
]


@pytest.mark.parametrize(("name", "value", "read"), JSON_TEXT, ids=[j[0] for j in JSON_TEXT])
def test_config_text_holding_json(name: str, value: Any, read: Any) -> None:
    from mlplan.edge import io

    assert io.json_text(value) == read


def test_mlplan_plan_reads_json_text_as_the_program_does(root: Path) -> None:
    """``pulumi config set mlplan:quota '{"total": 10}'`` writes text; ``mlplan plan`` reads
    the object, as the program does (MLP402 over the total, not "must be a mapping")."""
    stack_file(root, {**DEV, "mlplan:quota": '{"total": 10}'})
    proc = subprocess.run([str(Path(sys.executable).parent / "mlplan"), "plan"], cwd=root,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "error MLP402" in proc.stderr, proc.stderr

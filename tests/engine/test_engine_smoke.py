"""The real Pulumi engine on mlplan: previews (and an update that only writes files) on a fresh
``file://`` backend per test, with the binaries tests/engine/build.sh builds from Go modules."""

from __future__ import annotations

import ast
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml

from mlplan.edge.program import load
from tests.engine.conftest import VENV, Engine
from tests.engine.docker_host import instance_of, sample_instances

ENDPOINT = "my-endpoint"
GREEN_PASSWORD = "render-check-" + "g" * 16
MLPLAN = "mlplan:index:"
DOCKER_CONTAINER = "docker:index/container:Container"


def resources(preview: dict[str, Any]) -> Counter[tuple[str, str]]:
    """(type, name) of every resource a ``pulumi preview --json`` would touch."""
    found: Counter[tuple[str, str]] = Counter()
    for step in preview.get("steps", []):
        urn = step["urn"]
        qualified_type, name = urn.split("::")[2:4]
        found[(qualified_type.split("$")[-1], name)] += 1
    return found


def errors(preview: dict[str, Any]) -> list[str]:
    return [d.get("message", "") for d in preview.get("diagnostics", [])
            if d.get("severity") == "error"]


def assert_ok(preview: dict[str, Any]) -> None:
    assert preview["_exitCode"] == 0 and not errors(preview), (
        f"preview failed (exit {preview['_exitCode']}): {errors(preview)}\n"
        f"{preview['_stderr'][-3000:]}")


def instance_names(project: Path, stack: str) -> set[str]:
    """``my-endpoint-blue-0`` ...: the instances mlplan's own desired state declares."""
    state, _ = load(project, stack)
    return {n for e in state.endpoints if e.name == ENDPOINT
            for d in e.deployments for n in d.instance_names}


def test_preview_dev_stack_docker(engine: Engine, project_copy: Path, pulumi_in: Any) -> None:
    """The sample ``dev`` stack (Docker target) previews: endpoint, network, router, config
    container, one container per instance, a drain container per batch replaced in place,
    quota check."""
    engine.require("docker", "random")
    pulumi = pulumi_in(project_copy)
    pulumi.run("stack", "init", "dev")
    preview = pulumi.preview_json()
    assert_ok(preview)
    found = resources(preview)
    assert found[(f"{MLPLAN}OnlineEndpoint", ENDPOINT)] == 1
    assert found[(f"{MLPLAN}QuotaCheck", "quota")] == 1
    assert found[("docker:index/network:Network", f"{ENDPOINT}-network")] == 1
    assert found[(DOCKER_CONTAINER, f"{ENDPOINT}-router")] == 1
    assert found[(DOCKER_CONTAINER, f"{ENDPOINT}-router-config")] == 1
    instances = sample_instances(  # drains checked apart
        ENDPOINT, {name for (typ, name) in found if typ == DOCKER_CONTAINER})
    # blue 3 + green 3 in stacks/endpoints/my-endpoint
    # by instance: the surge batch's containers are named by their revision (issue 25)
    assert ({instance_of(name) for name in instances} == instance_names(project_copy, "dev")
            and len(instances) == 6), instances
    assert {s["op"] for s in preview["steps"]} == {"create"}


def sdk_wire_names() -> tuple[set[str], dict[str, set[str]]]:
    """The installed pulumi_docker SDK: the tokens it sends, and per class (``ContainerArgs``,
    ``ContainerHealthcheckArgs``, ``Container``, ...) the property names it puts on the wire
    (``@pulumi.getter(name="startPeriod")``, or the method's own name)."""
    import pulumi_docker

    tokens: set[str] = set()
    classes: dict[str, set[str]] = {}
    for source in sorted(Path(pulumi_docker.__file__).parent.rglob("*.py")):
        text = source.read_text(encoding="utf-8")
        tokens |= set(re.findall(r"'(docker:index/[^']+)'", text))
        for cls in ast.parse(text).body:
            if not isinstance(cls, ast.ClassDef):
                continue
            names = classes.setdefault(cls.name, set())
            for fn in cls.body:
                if not isinstance(fn, ast.FunctionDef):
                    continue
                for d in fn.decorator_list:
                    call = d if isinstance(d, ast.Call) else None
                    target = call.func if call else d
                    if isinstance(target, ast.Attribute) and target.attr == "getter":
                        named = {k.arg: k.value for k in call.keywords} if call else {}
                        name = named.get("name")
                        names.add(str(name.value) if isinstance(name, ast.Constant)
                                  else fn.name)
    return tokens, classes


def test_docker_provider_has_the_python_sdk_names(
    engine: Engine, pulumi_in: Any, tmp_path: Path,
) -> None:
    """Our bridged Docker provider's schema has the tokens and property names pulumi_docker 5.2.0
    sends: every resource's inputs and outputs, every nested type, the provider config. Only the
    SDK's native ``docker:index/image:Image`` (buildkit, not Terraform) is not there."""
    engine.require("docker")
    pulumi = pulumi_in(tmp_path)
    schema = json.loads(pulumi.run(
        "package", "get-schema", str(engine.bin / "pulumi-resource-docker")).stdout)
    tokens, classes = sdk_wire_names()
    assert tokens - set(schema["resources"]) - set(schema["functions"]) == {
        "docker:index/image:Image"}
    wanted: list[tuple[str, str, set[str]]] = [
        ("provider", "ProviderArgs", set(schema["provider"]["inputProperties"]))]
    for tok, res in schema["resources"].items():
        name = tok.rsplit(":", 1)[1]
        wanted.append((tok, f"{name}Args", set(res.get("inputProperties", {}))))
        wanted.append((tok, name, set(res["properties"])))
    for tok, typ in schema["types"].items():
        name = tok.rsplit(":", 1)[1]
        name = name[0].upper() + name[1:]
        cls = next(c for c in (f"{name}Args", name, f"{name}Result") if c in classes)
        wanted.append((tok, cls, set(typ.get("properties", {}))))
    mismatches = [(tok, cls, sorted(classes[cls] ^ names))
                  for tok, cls, names in wanted if classes[cls] != names]
    assert not mismatches, mismatches


def test_random_password_preview_and_up(engine: Engine, tmp_path: Path, pulumi_in: Any) -> None:
    """The smoke test: a one-resource Python program on the project's venv, preview then up;
    the password stays a secret in the stack outputs."""
    engine.require("random")
    program = tmp_path / "smoke"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": "smoke",
        "runtime": {"name": "python", "options": {"virtualenv": str(VENV)}},
    }), encoding="utf-8")
    (program / "__main__.py").write_text(dedent("""\
        import pulumi
        import pulumi_random as random

        password = random.RandomPassword("password", length=24, special=False)
        pulumi.export("password", password.result)
        """), encoding="utf-8")
    pulumi = pulumi_in(program)
    pulumi.run("stack", "init", "dev")
    preview = pulumi.preview_json()
    assert_ok(preview)
    assert resources(preview)[("random:index/randomPassword:RandomPassword", "password")] == 1
    pulumi.run("up", "--yes", "--skip-preview")
    shown = json.loads(pulumi.run("stack", "output", "--json").stdout)
    assert shown["password"] == "[secret]"
    secret = json.loads(pulumi.run("stack", "output", "--json", "--show-secrets").stdout)
    assert len(secret["password"]) == 24 and secret["password"].isalnum()
    # A second preview of the same program changes nothing.
    again = pulumi.preview_json()
    assert_ok(again)
    assert again["changeSummary"] == {"same": 2}


def test_kubernetes_target_renders_manifests(
    engine: Engine, project_copy: Path, pulumi_in: Any, tmp_path: Path,
) -> None:
    """The sample endpoints on the Kubernetes target with ``renderYamlTo``: preview, then an
    update that writes the manifests (no cluster needed) and is stable on a second preview."""
    engine.require("kubernetes", "random")
    rendered = project_copy / "rendered"
    kubernetes_stack(project_copy, rendered)
    green = project_copy / "stacks" / "endpoints" / ENDPOINT / "green.yml"
    green.write_text(green.read_text("utf-8").replace(
        'SCORE_SCALE: "1.1"', f'SCORE_SCALE: "1.1"\n  DB_PASSWORD: "{GREEN_PASSWORD}"'), "utf-8")
    pulumi = pulumi_in(project_copy)
    pulumi.run("stack", "init", "k8s")
    preview = pulumi.preview_json()
    assert_ok(preview)
    found = resources(preview)
    assert found[(f"{MLPLAN}OnlineEndpoint", ENDPOINT)] == 1
    assert found[(f"{MLPLAN}QuotaCheck", "quota")] == 1
    kinds = Counter(typ for typ, _ in found.elements() if typ.startswith("kubernetes:"))
    assert kinds["kubernetes:apps/v1:Deployment"] >= 3, kinds  # blue, green, router
    assert kinds["kubernetes:core/v1:Service"] >= 3, kinds
    pulumi.run("up", "--yes", "--skip-preview")
    manifests = sorted(p.name for p in rendered.rglob("*.yaml"))
    assert any("deployment" in name for name in manifests), manifests
    again = pulumi.preview_json()
    assert_ok(again)
    assert set(again["changeSummary"]) == {"same"}, again["changeSummary"]
    _rendered_files_hold_no_secret(pulumi, rendered)


def _rendered_files_hold_no_secret(pulumi: Any, rendered: Path) -> None:
    """Issue 27 item 3 with the real pulumi-kubernetes writing the files: no file holds a key
    or green's environment value (plain or base64) and no file is a Secret; the stack output
    ``my-endpoint-secrets`` (shown only with ``--show-secrets``) holds exactly the Secrets the
    rendered Deployments reference."""
    import base64

    def output(name: str) -> str:
        return str(pulumi.run("stack", "output", "--show-secrets", name).stdout).strip()

    keys = [output(f"{ENDPOINT}-primary-key"), output(f"{ENDPOINT}-secondary-key")]
    assert "[secret]" in str(pulumi.run("stack", "output", f"{ENDPOINT}-secrets").stdout)
    documents = {d["metadata"]["name"]: d for d in yaml.safe_load_all(
        output(f"{ENDPOINT}-secrets"))}
    stored = documents[f"{ENDPOINT}-keys"]["stringData"]
    assert [stored["primary-key"], stored["secondary-key"]] == keys
    referenced: set[str] = set()
    for path in sorted(rendered.rglob("*.yaml")):
        text = path.read_text("utf-8")
        for value in (*keys, GREEN_PASSWORD):
            for form in (value, base64.b64encode(value.encode()).decode()):
                assert form not in text, f"a secret value is in {path.name}"
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            assert doc["kind"] != "Secret", path.name
            if doc["kind"] == "Deployment":
                pod = doc["spec"]["template"]["spec"]
                referenced |= {e["valueFrom"]["secretKeyRef"]["name"]
                               for c in pod["containers"] for e in c.get("env", [])
                               if "valueFrom" in e}
                referenced |= {s["secret"]["name"] for v in pod.get("volumes", [])
                               for s in v.get("projected", {}).get("sources", [])
                               if "secret" in s}
    assert referenced == set(documents), (referenced, sorted(documents))
    (environment,) = [d for name, d in documents.items() if name != f"{ENDPOINT}-keys"]
    assert set(environment["stringData"].values()) == {"1.1", GREEN_PASSWORD}


def kubernetes_stack(project: Path, rendered: Path) -> None:
    """Stack ``k8s``: the sample endpoints on the Kubernetes target, manifests to ``rendered``."""
    dev = yaml.safe_load((project / "stacks" / "Pulumi.dev.yaml").read_text("utf-8"))
    config = dict(dev["config"])
    config["mlplan:target"] = "kubernetes"
    # inside the project: mlplan refuses to write outside it (issue 27, MLP121)
    config["mlplan:kubernetes"] = {"renderYamlTo": str(rendered.relative_to(project))}
    (project / "stacks" / "Pulumi.k8s.yaml").write_text(
        yaml.safe_dump({"config": config}, sort_keys=False), encoding="utf-8")


def policy_pack_copy(tmp_path: Path) -> Path:
    """policies/ whose virtualenv is the repo's .venv (it has pulumi-policy and this project),
    so the CLI does not create and pip-install a new one."""
    from tests.engine.conftest import REPO

    pack = tmp_path / "policies"
    shutil.copytree(REPO / "policies", pack, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    spec = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text("utf-8"))
    spec["runtime"]["options"]["virtualenv"] = str(VENV)
    (pack / "PulumiPolicy.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return pack


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
def test_policy_pack_gates_the_preview(
    target: str, engine: Engine, project_copy: Path, pulumi_in: Any, tmp_path: Path,
) -> None:
    """``pulumi preview --policy-pack policies/`` passes the sample on either target and fails,
    non-zero with the rule code, when the pack's own quota config is smaller than the need
    (the program itself accepts the stack: its quota is the stack's, 32 of 48 cores)."""
    engine.require(target, "random")
    if target == "kubernetes":
        kubernetes_stack(project_copy, project_copy / "rendered")
    stack = "k8s" if target == "kubernetes" else "dev"
    pack = policy_pack_copy(tmp_path)
    pulumi = pulumi_in(project_copy)
    pulumi.run("stack", "init", stack)
    passing = pulumi.run("preview", "--policy-pack", str(pack), check=False)
    assert passing.returncode == 0, passing.stdout[-3000:] + passing.stderr[-3000:]
    config = tmp_path / "pack-config.json"
    config.write_text(json.dumps({"mlplan-quota": {"quota": {"total": 10}}}), encoding="utf-8")
    failing = pulumi.run("preview", "--policy-pack", str(pack),
                         "--policy-pack-config", str(config), check=False)
    output = failing.stdout + failing.stderr
    assert failing.returncode != 0, output[-3000:]
    assert "mlplan-quota" in output and "MLP402" in output, output[-3000:]


def test_kubernetes_image_change_is_an_in_place_rolling_update(
    engine: Engine, project_copy: Path, pulumi_in: Any, tmp_path: Path,
) -> None:
    """After ``up`` wrote the manifests (they validate against the Kubernetes schema), an image
    change previews as an in-place update of blue's Deployment, rolling at maxSurge 20%."""
    import kubernetes_validate  # type: ignore[import-untyped]

    engine.require("kubernetes", "random")
    rendered = project_copy / "rendered"
    kubernetes_stack(project_copy, rendered)
    pulumi = pulumi_in(project_copy)
    pulumi.run("stack", "init", "k8s")
    pulumi.run("up", "--yes", "--skip-preview")
    manifests = [doc for path in sorted(rendered.rglob("*.yaml"))
                 for doc in yaml.safe_load_all(path.read_text("utf-8")) if doc]
    assert manifests
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.31", strict=True)
    blue = project_copy / "stacks" / "endpoints" / "my-endpoint" / "blue.yml"
    text = blue.read_text("utf-8")
    blue.write_text(text.replace("inference:20250101.v1", "inference:20250301.v1"), "utf-8")
    preview = pulumi.preview_json()
    assert_ok(preview)
    steps = {s["urn"].split("::")[-1]: s for s in preview["steps"]}
    deployment = steps[f"{ENDPOINT}-blue-deployment"]
    assert deployment["op"] == "update", deployment["op"]
    spec = deployment["newState"]["inputs"]["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "20%", "maxUnavailable": 0}}
    assert spec["template"]["spec"]["containers"][0]["image"].endswith("20250301.v1")
    replaced = [name for name, s in steps.items() if s["op"] in ("replace", "create-replacement")]
    assert not replaced, replaced

"""mlplan in a user's own Pulumi program, and config from the engine, on the real engine.

(a) A program of a user's shape (``shop``: its own ``random.RandomPet`` and one
``mlplan.OnlineEndpoint`` from the bundled example's YAML) previews, and on the private Docker
Engine ``pulumi up`` brings it up: the endpoint answers with its key. (c) The stack program's
quota check follows the engine's config: ``pulumi preview -c mlplan:quota=...`` and the
Automation API's config (no stack file) decide between MLP401/MLP402 and a passing preview.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml

from tests.engine.conftest import REPO, VENV, DockerEnv, Engine, Pulumi, engine_env
from tests.engine.docker_host import FAST_PROBE, INSTANCE_TYPE, instance_of, sample_instances
from tests.engine.test_engine_smoke import assert_ok, errors, resources

ENDPOINT = "my-endpoint"
CONTAINER = "docker:index/container:Container"

#: The user's program: its own resource, one OnlineEndpoint from the bundled example's files.
#: Off this repository's sample image (a registry it cannot reach here), MLPLAN_E2E_IMAGE names
#: a local one: the deployments are then the same YAML read as values, with that image.
USER_PROGRAM = dedent("""\
    import json
    import os

    import pulumi
    import pulumi_random as random
    import yaml

    from mlplan import OnlineEndpoint, OnlineEndpointArgs

    pet = random.RandomPet("shop-name", length=2)

    deployments = []
    for name in ("blue", "green"):
        with open(f"endpoints/my-endpoint/{name}.yml") as f:
            doc = yaml.safe_load(f)
        if os.environ.get("MLPLAN_E2E_IMAGE"):
            doc["environment"]["image"] = os.environ["MLPLAN_E2E_IMAGE"]
            doc.update(json.loads(os.environ["MLPLAN_E2E_DEPLOYMENT"]))
        # paths in a value are relative to the project, not to the file it came from
        doc["model"]["path"] = "model/sample-model"
        doc["code_configuration"]["code"] = "score"
        deployments.append(doc)

    endpoint = OnlineEndpoint("my-endpoint", OnlineEndpointArgs(
        endpoint_file="endpoints/my-endpoint/endpoint.yml",
        deployments=deployments,
        quota={"standardDSv2Family": 48, "total": 100},
        docker=json.loads(os.environ.get("MLPLAN_E2E_DOCKER", "{}")),
    ))

    pulumi.export("shop", pet.id)
    pulumi.export("scoring_uri", endpoint.scoring_uri)
    pulumi.export("primary_key", endpoint.primary_key)
    pulumi.export("deployments", endpoint.deployments)
    pulumi.export("quota", endpoint.quota_reserved)
    """)


def user_project(root: Path) -> Path:
    """``shop``: Pulumi.yaml (the repo's virtualenv), __main__.py, the bundled YAML, model and
    scoring script, laid out as in the sample (endpoints/my-endpoint/*.yml -> ../../model)."""
    root.mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": "shop", "runtime": {"name": "python", "options": {"virtualenv": str(VENV)}},
    }), encoding="utf-8")
    (root / "__main__.py").write_text(USER_PROGRAM, encoding="utf-8")
    shutil.copytree(REPO / "stacks" / "endpoints", root / "endpoints")
    for part in ("model", "score"):
        shutil.copytree(REPO / "stacks" / part, root / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.parametrize("program", ["README example", "YAML read as values"])
def test_user_program_previews(program: str, engine: Engine, pulumi_in: Any,
                               tmp_path: Path) -> None:
    """(a) The user's program previews: its pet, the endpoint and everything under it; both
    README.md's example (files) and the program below (the files' documents as values)."""
    from tests.test_api import readme_example

    engine.require("docker", "random")
    root = user_project(tmp_path / "shop")
    if program == "README example":
        (root / "__main__.py").write_text(readme_example(), encoding="utf-8")
    pulumi = pulumi_in(root)
    pulumi.run("stack", "init", "dev")
    preview = pulumi.preview_json()
    assert_ok(preview)
    found = resources(preview)
    print("\n" + "\n".join(f"{n:3} {typ} {name}" for (typ, name), n in sorted(found.items())))
    assert found[("random:index/randomPet:RandomPet", "shop-name")] == 1
    assert found[("mlplan:index:OnlineEndpoint", ENDPOINT)] == 1
    assert found[("mlplan:index:DockerEndpoint", ENDPOINT)] == 1
    assert found[("random:index/randomPassword:RandomPassword", f"{ENDPOINT}-primary-key")] == 1
    instances = sample_instances(  # drains checked apart
        ENDPOINT, {name for (typ, name) in found if typ == CONTAINER})
    # by instance: the surge batch's containers are named by their revision (issue 25)
    assert {instance_of(name) for name in instances} == {
        f"{ENDPOINT}-{d}-{i}" for d in ("blue", "green") for i in range(3)}
    assert len(instances) == 6
    assert {s["op"] for s in preview["steps"]} == {"create"}


def test_user_program_bad_yaml_fails_the_preview(engine: Engine, pulumi_in: Any,
                                                 tmp_path: Path) -> None:
    """A typo in the user's endpoint file: MLP101 with file, line and field, nothing planned."""
    engine.require("docker", "random")
    root = user_project(tmp_path / "shop")
    endpoint = root / "endpoints" / ENDPOINT / "endpoint.yml"
    endpoint.write_text(endpoint.read_text("utf-8").replace("auth_mode:", "auth_mod:"), "utf-8")
    pulumi = pulumi_in(root)
    pulumi.run("stack", "init", "dev")
    preview = pulumi.preview_json()
    assert preview["_exitCode"] != 0
    said = "\n".join(errors(preview))
    assert "endpoints/my-endpoint/endpoint.yml:4 auth_mod: error MLP101" in said, said
    assert "Traceback" not in said + preview["_stderr"]
    assert ("mlplan:index:OnlineEndpoint", ENDPOINT) not in resources(preview)


def test_user_program_comes_up_and_answers(engine: Engine, docker_env: DockerEnv,
                                           tmp_path: Path) -> None:
    """(a) ``pulumi up`` of the user's program on the private Docker Engine: the pet and the
    endpoint come up, the scoring URI answers with the primary key and refuses without it."""
    from tests.dataplane.harness import Client

    engine.require("docker", "random")
    root = user_project(tmp_path / "shop")
    env = engine_env(engine, tmp_path / "engine")
    env.update({
        "DOCKER_HOST": docker_env.daemon.host,
        "MLPLAN_E2E_IMAGE": docker_env.images["inference"],
        "MLPLAN_E2E_DEPLOYMENT": json.dumps({
            "instance_type": INSTANCE_TYPE, "instance_count": 1,
            "readiness_probe": FAST_PROBE, "liveness_probe": FAST_PROBE}),
        "MLPLAN_E2E_DOCKER": json.dumps({"router_image": docker_env.images["router"]}),
    })
    pulumi = Pulumi(root, env)
    pulumi.run("stack", "init", "dev")
    try:
        pulumi.run("up", "--yes", "--skip-preview")
        outputs = json.loads(pulumi.run("stack", "output", "--json", "--show-secrets").stdout)
        print(f"\nstack outputs: { {k: v for k, v in outputs.items() if k != 'primary_key'} }")
        assert outputs["deployments"] == {"blue": 1, "green": 1}
        assert len(outputs["shop"].split("-")) == 2
        assert outputs["quota"]["total_reserved_cores"] == 4  # 2 x ceil(1.2) x 1 core
        shown = json.loads(pulumi.run("stack", "output", "--json").stdout)
        assert shown["primary_key"] == "[secret]"
        port = int(outputs["scoring_uri"].split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        client = Client(port)
        key = outputs["primary_key"]
        answer = client.request(headers={"Authorization": f"Bearer {key}"})
        assert answer.status == 200, answer
        assert answer.json()["predictions"] and answer.deployment in ("blue", "green")
        assert client.request().status == 401
        pulumi.run("preview", "--expect-no-changes")
    finally:
        pulumi.run("destroy", "--yes", check=False)


# --- (c) the quota check follows the engine's config ----------------------------------------


QUOTA_CASES = [
    # name, -c arguments, error code expected ("" = the preview passes)
    ("-c mlplan:quota as JSON, within", ["-c", 'mlplan:quota={"standardDSv2Family": 32}'], ""),
    ("-c mlplan:quota as JSON, over the family", [
        "-c", 'mlplan:quota={"standardDSv2Family": 20, "total": 100}'], "MLP401"),
    ("--config-path -c mlplan:quota.total, over", [
        "--config-path", "-c", "mlplan:quota.total=30"], "MLP402"),
]


@pytest.mark.parametrize(("name", "flags", "code"), QUOTA_CASES, ids=[c[0] for c in QUOTA_CASES])
def test_preview_config_flag_decides_the_quota_check(
        name: str, flags: list[str], code: str, engine: Engine, project_copy: Path,
        pulumi_in: Any) -> None:
    """(c) The sample needs 32 cores of standardDSv2Family (48 in the stack file): the quota
    given with ``-c`` is what the program checks."""
    engine.require("docker", "random")
    pulumi = pulumi_in(project_copy)
    pulumi.run("stack", "init", "dev")
    preview = pulumi.preview_json(*flags)
    said = "\n".join(errors(preview))
    print(f"\npulumi preview {' '.join(flags)}: exit {preview['_exitCode']}\n{said}")
    if code:
        assert preview["_exitCode"] != 0 and f"error {code}" in said, said
        assert "32" in said and ("mlplan:index:QuotaCheck", "quota") not in resources(preview)
    else:
        assert_ok(preview)
        quota = next(s for s in preview["steps"] if s["urn"].endswith("::quota"))
        inputs = quota["newState"]["inputs"]
        assert inputs["totalReservedCores"] == 32
        assert inputs["families"][0]["limitCores"] == 32


def test_automation_api_config_decides_the_quota_check(engine: Engine, project_copy: Path,
                                                        tmp_path: Path) -> None:
    """(c) The Automation API: an inline program (the stack program itself) on a stack with no
    stack file; its config is set through the API. Over quota -> MLP402, within -> ok."""
    from pulumi import automation as auto

    from mlplan.edge.program import run

    engine.require("docker", "random")
    env = engine_env(engine, tmp_path / "engine")
    work = tmp_path / "workspace"
    work.mkdir()
    workspace = auto.LocalWorkspaceOptions(
        work_dir=str(work), env_vars=env, pulumi_home=env["PULUMI_HOME"],
        secrets_provider="passphrase",
        project_settings=auto.ProjectSettings(
            name="mlplan", runtime="python",
            backend=auto.ProjectBackend(url=env["PULUMI_BACKEND_URL"])),
        pulumi_command=auto.PulumiCommand(root=str(engine.bin.parent), skip_version_check=True))
    stack = auto.create_stack("automation", project_name="mlplan",
                              program=lambda: run(cwd=project_copy, stack="automation"),
                              opts=workspace)
    dev = yaml.safe_load((project_copy / "stacks" / "Pulumi.dev.yaml").read_text("utf-8"))
    base = {k: auto.ConfigValue(v if isinstance(v, str) else json.dumps(v))
            for k, v in dev["config"].items()}
    results: dict[str, str] = {}
    for total, expect in ((10, "MLP402"), (40, "")):
        stack.set_all_config({**base, "mlplan:quota": auto.ConfigValue(json.dumps(
            {"total": total}))})
        try:
            result = stack.preview()
            results[str(total)] = f"ok: {result.change_summary}"
            assert not expect, f"total {total}: the preview passed"
            assert result.change_summary.get(auto.OpType.CREATE, 0) > 0
        except auto.CommandError as exc:
            results[str(total)] = "failed: " + " ".join(
                line.strip() for line in str(exc).splitlines() if "MLP" in line)[:600]
            assert expect and f"error {expect}" in str(exc), str(exc)[-3000:]
    print(f"\nAutomation API previews by mlplan:quota.total: {json.dumps(results, indent=1)}")

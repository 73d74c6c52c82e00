"""A custom container on the Docker target, end to end: ``pulumi up`` of a deployment whose
server (tests/docker/images/custom/custom-server) listens on its own port and paths, declared
the way Azure's TorchServe example declares them (``inference_config`` routes on port 8080),
next to an azmlinfsrv deployment on 5001. The endpoint's scoring URI reaches the custom
server's scoring path through the real router; its readiness route makes it healthy.

Run under the Docker lock (HELPERS.md): ``flock /tmp/mlplan-docker-e2e.lock pytest ...``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlplan.domain import labels
from tests.dataplane.harness import Client
from tests.engine.conftest import DockerEnv, Engine
from tests.engine.docker_host import ENDPOINT, FAST_PROBE, DockerProject, instance_of
from tests.engine.test_docker_up import auth, inference, make_project

HEADER = "azureml-model-deployment"
SCORING, LIVENESS, READINESS = "/predictions/densenet161", "/ping", "/ready"


def custom_deployment(image: str) -> str:
    """Azure's torchserve-deployment.yml shape (routes on 8080), with the test server's image."""
    doc: dict[str, Any] = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/"
                   "managedOnlineDeployment.schema.json",
        "name": "torch", "endpoint_name": ENDPOINT,
        "environment_variables": {"CUSTOM_PORT": "8080", "CUSTOM_SCORING_PATH": SCORING,
                                  "CUSTOM_LIVENESS_PATH": LIVENESS,
                                  "CUSTOM_READINESS_PATH": READINESS},
        "environment": {"image": image, "inference_config": {
            "liveness_route": {"port": 8080, "path": LIVENESS},
            "readiness_route": {"port": 8080, "path": READINESS},
            "scoring_route": {"port": 8080, "path": SCORING}}},
        "instance_type": "Standard_DS1_v2", "instance_count": 2,
        "readiness_probe": FAST_PROBE, "liveness_probe": FAST_PROBE,
    }
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture(scope="module")
def project(engine: Engine, docker_env: DockerEnv,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerProject]:
    made = make_project(engine, docker_env, tmp_path_factory.mktemp("custom") / "project")
    yield made
    made.pulumi.run("destroy", "--yes", check=False)


def test_custom_container_answers_through_the_scoring_uri(project: DockerProject,
                                                          docker_env: DockerEnv) -> None:
    project.declare({"blue": inference(docker_env, count=1)}, {"blue": 0, "torch": 100})
    folder: Path = project.endpoints_dir
    (folder / "torch.yml").write_text(custom_deployment(docker_env.images["custom"]), "utf-8")
    project.up()
    project.expect_no_changes()

    instances = {n: c for n, c in project.containers().items()
                 if c["labels"].get(labels.ROLE) == "instance"}
    # by instance: each deployment's surge batch (here instance 0) is named by its revision
    assert {instance_of(n): c["health"] for n, c in instances.items()} == {
        f"{ENDPOINT}-torch-0": "healthy", f"{ENDPOINT}-torch-1": "healthy",
        f"{ENDPOINT}-blue-0": "healthy"}  # healthy = its readiness route answered on 8080
    uri = project.outputs()[f"{ENDPOINT}-scoring-uri"]
    assert uri.endswith("/score")
    client, key = Client(project.port()), project.key()

    scored = client.request("POST", "/score?top_k=1", headers=auth(key))
    assert scored.status == 200, scored.body
    answer = scored.json()
    assert (answer["deployment"], answer["route"], answer["path"], answer["query"]) == (
        "torch", "scoring", SCORING, "top_k=1")
    assert answer["authorization"] is False  # the key never reaches the instance

    live = client.request("GET", LIVENESS, body=None, headers=auth(key))
    assert (live.status, live.json()["route"]) == (200, "liveness")
    assert client.request("POST", "/score").status == 401  # key auth as declared

    # azmlinfsrv beside it keeps its own /score on 5001
    blue = client.request(headers={**auth(key), HEADER: "blue"})
    assert (blue.status, blue.deployment) == (200, "blue")
    assert blue.json()["predictions"]

"""Project copies for the cluster suite: endpoint folders, stack files, ``mlplan`` and ``pulumi``
bound to the test cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.engine.conftest import VENV
from tests.engine.kube.cluster import Cluster

#: The prod example's blue deployment: model, code, probes; tests override fields.
PROD_BLUE = Path("stacks/prod/endpoints/my-endpoint/blue.yml")
IMAGE_V1 = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250101.v1"
IMAGE_V2 = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250301.v1"


def write_endpoint(project: Path, folder: str, endpoint: str,
                   deployments: dict[str, dict[str, Any]], traffic: dict[str, int],
                   mirror: dict[str, int] | None = None) -> Path:
    """``stacks/<folder>/endpoints/<endpoint>/`` with endpoint.yml and one file per deployment:
    the prod blue deployment with the given fields replaced (same folder depth, so its model
    and code paths still resolve). Returns the endpoint folder."""
    base = yaml.safe_load((project / PROD_BLUE).read_text("utf-8"))
    where = project / "stacks" / folder / "endpoints" / endpoint
    where.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json",
        "name": endpoint, "auth_mode": "key", "traffic": traffic}
    if mirror:
        doc["mirror_traffic"] = mirror
    (where / "endpoint.yml").write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    for name, fields in deployments.items():
        dep = {**base, "name": name, "endpoint_name": endpoint, **fields}
        (where / f"{name}.yml").write_text(yaml.safe_dump(dep, sort_keys=False), "utf-8")
    return where


def edit_deployment(folder: Path, name: str, **fields: Any) -> None:
    path = folder / f"{name}.yml"
    doc = yaml.safe_load(path.read_text("utf-8"))
    for key, value in fields.items():
        if key == "image":
            doc["environment"] = {**doc["environment"], "image": value}
        else:
            doc[key] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")


def edit_endpoint(folder: Path, **fields: Any) -> None:
    path = folder / "endpoint.yml"
    doc = yaml.safe_load(path.read_text("utf-8"))
    doc.update(fields)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")


def write_stack(project: Path, stack: str, namespace: str, *, endpoints: list[str] | None = None,
                quota: dict[str, int] | None = None, base: str = "prod",
                **settings: Any) -> dict[str, Any]:
    """``stacks/Pulumi.<stack>.yaml``: ``Pulumi.<base>.yaml`` with namespace ``namespace``
    (created by the test, so ``createNamespace: false``), ``settings`` merged into
    ``mlplan:kubernetes``, and optionally other endpoint folders and quota."""
    src = yaml.safe_load((project / "stacks" / f"Pulumi.{base}.yaml").read_text("utf-8"))
    config = dict(src["config"])
    config["mlplan:target"] = "kubernetes"
    if endpoints is not None:
        config["mlplan:endpoints"] = endpoints
    if quota is not None:
        config["mlplan:quota"] = quota
    k8s = dict(config.get("mlplan:kubernetes") or {})
    k8s.update({"namespace": namespace, "createNamespace": False, **settings})
    config["mlplan:kubernetes"] = k8s
    (project / "stacks" / f"Pulumi.{stack}.yaml").write_text(
        yaml.safe_dump({"config": config}, sort_keys=False), encoding="utf-8")
    return config


def snapshot(project: Path, dest: Path) -> Path:
    """A copy of the project as the base of ``mlplan review --base-dir``."""
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def mlplan(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([str(VENV / "bin" / "mlplan"), *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def review(project: Path, base: Path, stack: str) -> dict[str, Any]:
    """``mlplan review --base-dir BASE --stack STACK --format json`` (exit 0 or 2)."""
    proc = mlplan(project, "review", "--base-dir", str(base), "--stack", stack,
                  "--format", "json")
    assert proc.returncode in (0, 2), proc.stdout[-3000:] + proc.stderr[-3000:]
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def reviewed_deployment(doc: dict[str, Any], endpoint: str, deployment: str) -> dict[str, Any]:
    for stack in doc["stacks"]:
        for ep in stack["endpoints"]:
            if ep["name"] == endpoint:
                for dep in ep["deployments"]:
                    if dep["name"] == deployment:
                        found: dict[str, Any] = dep
                        return found
    raise AssertionError(f"no {endpoint}/{deployment} in the review: {json.dumps(doc)[:2000]}")


def bind(pulumi: Any, cluster: Cluster) -> Any:
    """The ambient kubeconfig of the provider is the test cluster's (as CI would select it)."""
    pulumi.env["KUBECONFIG"] = str(cluster.kubeconfig)
    return pulumi

"""Temporary mlplan projects for target tests: a Pulumi.yaml, a stack file, endpoint YAML."""

from __future__ import annotations

import shutil
from pathlib import Path
from textwrap import dedent

REPO = Path(__file__).resolve().parents[2]

ENDPOINT = dedent("""\
    $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
    name: {endpoint}
    auth_mode: key
    traffic: {traffic}
    mirror_traffic: {mirror}
    """)

DEPLOYMENT = dedent("""\
    $schema: https://azuremlschemas.azureedge.net/latest/{schema}.schema.json
    name: {name}
    endpoint_name: {endpoint}
    {type_line}
    model:
      path: ../model/sample-model
    code_configuration:
      code: ../score
      scoring_script: score.py
    environment:
      image: {image}
    instance_type: {sku}
    instance_count: {count}
    """)


def make_project(
    root: Path,
    deployments: dict[str, dict[str, object]],
    *,
    endpoint: str = "my-endpoint",
    traffic: dict[str, int] | None = None,
    mirror: dict[str, int] | None = None,
    target: str = "docker",
    stack: str = "test",
    extra_config: str = "",
) -> Path:
    """A project whose stack ``stack`` declares one endpoint with ``deployments``
    (name -> {sku, count, image, kind, extra}); returns ``root``."""
    (root / "stacks" / "endpoints").mkdir(parents=True)
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(REPO / "stacks" / "model", root / "stacks" / "model")
    shutil.copytree(REPO / "stacks" / "score", root / "stacks" / "score")
    (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(
        "config:\n"
        f"  mlplan:target: {target}\n"
        "  mlplan:endpoints: [stacks/endpoints]\n"
        "  mlplan:quota: {total: 2000}\n" + extra_config)
    live = traffic if traffic is not None else {next(iter(deployments)): 100}
    folder = root / "stacks" / "endpoints"
    (folder / "endpoint.yml").write_text(ENDPOINT.format(
        endpoint=endpoint, traffic=_flow(live), mirror=_flow(mirror or {})))
    for name, spec in deployments.items():
        kind = str(spec.get("kind", "managed"))
        text = DEPLOYMENT.format(
            name=name, endpoint=endpoint,
            schema="kubernetesOnlineDeployment" if kind == "kubernetes"
            else "managedOnlineDeployment",
            type_line=f"type: {kind}",
            image=spec.get("image", "example.io/infer:1.0"),
            sku=spec.get("sku", "Standard_DS3_v2"), count=spec.get("count", 3))
        (folder / f"{name}.yml").write_text(text + str(spec.get("extra", "")))
    return root


def _flow(mapping: dict[str, int]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"


def copy_example_project(parent: Path) -> Path:
    """``parent/repo``: the repository's own ``Pulumi.yaml`` and ``stacks/`` (the example
    project, Docker dev stack), without bytecode."""
    project = parent / "repo"
    project.mkdir()
    shutil.copy(REPO / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(REPO / "stacks", project / "stacks",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return project

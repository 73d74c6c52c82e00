"""Docker target under Pulumi mocks: the resource graph for named scenarios."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from mlplan.domain import labels
from mlplan.edge.program import run
from mlplan.planning.rollout import batches
from tests.targets.harness import Recorded, by_type, one, run_program
from tests.targets.projects import REPO, make_project

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
ENDPOINT_T = "mlplan:index:OnlineEndpoint"  # the public component (mlplan.edge.api)
TARGET_T = "mlplan:index:DockerEndpoint"  # its child: the Docker target's endpoint
DEPLOYMENT_T = "mlplan:index:OnlineDeployment"


REVISION = re.compile(r"-[0-9a-f]{8}$")


def program(root: Path, stack: str = "test") -> list[Recorded]:
    """The recorded resources, a surge-batch container under its instance's name (its Pulumi
    name and container name end in ``-<revision>``; ``test_surge_batch_is_named_by_revision``
    checks those)."""
    recorded = run_program(lambda: run(cwd=root, stack=stack), stack=stack, project=root)
    return [dataclasses.replace(r, name=REVISION.sub("", r.name)) if r.type == CONTAINER else r
            for r in recorded]


def labels_of(resource: Recorded) -> dict[str, str]:
    return {item["label"]: item["value"] for item in resource.inputs.get("labels", [])}


def instances(recorded: list[Recorded], deployment: str) -> list[Recorded]:
    found = [r for r in by_type(recorded, CONTAINER)
             if labels_of(r).get(labels.DEPLOYMENT) == deployment
             and labels_of(r).get(labels.ROLE) == "instance"]
    return sorted(found, key=lambda r: int(labels_of(r)[labels.INSTANCE]))


def drains(recorded: list[Recorded], deployment: str) -> dict[int, Recorded]:
    """batch -> the deployment's drain container (``mlplan.router.drain``)."""
    return {int(labels_of(r)[labels.BATCH]): r for r in by_type(recorded, CONTAINER)
            if labels_of(r).get(labels.DEPLOYMENT) == deployment
            and labels_of(r).get(labels.ROLE) == "drain"}


def urn_of(recorded: list[Recorded], name: str) -> str:
    return next(r.urn for r in recorded if r.name == name)


SIZES = [
    # name, instances, batch sizes
    ("one instance", 1, [1]),
    ("three instances", 3, [1, 1, 1]),
    ("five instances", 5, [1, 1, 1, 1, 1]),
    ("ten instances in fives of two", 10, [2, 2, 2, 2, 2]),
    ("eleven instances, short last batch", 11, [3, 3, 3, 2]),
]


@pytest.mark.parametrize(("name", "count", "batch_sizes"), SIZES, ids=[s[0] for s in SIZES])
def test_instances_and_batch_chain(name: str, count: int, batch_sizes: list[int],
                                   tmp_path: Path) -> None:
    recorded = program(make_project(tmp_path, {"blue": {"count": count}}))
    blue = instances(recorded, "blue")
    aliases = [f"my-endpoint-blue-{i}" for i in range(count)]
    first = set(batches(count)[0])  # the surge batch: a container per revision
    # the router resolves an instance by its alias: a surge container's network alias, the
    # name of the others (adding an alias to them would replace every running container)
    assert [r.inputs["networksAdvanced"][0].get("aliases") for r in blue] == [
        [a] if i in first else None for i, a in enumerate(aliases)]
    assert [REVISION.sub("", r.inputs["name"]) if i in first else r.inputs["name"]
            for i, r in enumerate(blue)] == aliases
    assert not any(labels.BATCH in labels_of(r) for r in blue)  # see the scaling scenario
    batch_of = {r.name: b for b, members in enumerate(batches(count), start=1)
                for r in blue if int(labels_of(r)[labels.INSTANCE]) in members}
    assert [list(batch_of.values()).count(b) for b in range(1, len(batch_sizes) + 1)] == \
        batch_sizes
    drained = drains(recorded, "blue")  # every in-place batch: all but the surge batch
    assert sorted(drained) == list(range(2, len(batch_sizes) + 1))
    for r in blue:
        batch = batch_of[r.name]
        previous = {urn_of(recorded, n) for n, b in batch_of.items() if b == batch - 1}
        same_or_later = {urn_of(recorded, n) for n, b in batch_of.items() if b >= batch}
        if batch > 1:  # batch k waits for its drain, which waits for batch k - 1
            assert drained[batch].urn in set(r.dependencies), r.name
            assert not previous & set(r.dependencies), r.name
            assert previous <= set(drained[batch].dependencies), f"drain {batch}"
            assert not same_or_later & set(drained[batch].dependencies)
        assert not same_or_later & set(r.dependencies)
        assert r.inputs["wait"] is True
        assert r.inputs["restart"] == "unless-stopped"
        assert "ports" not in r.inputs  # instances publish nothing
        assert r.parent == urn_of(recorded, "my-endpoint-blue")
    deployment = one(recorded, DEPLOYMENT_T, "my-endpoint-blue")
    target = one(recorded, TARGET_T, "my-endpoint")
    assert deployment.parent == target.urn
    assert target.parent == one(recorded, ENDPOINT_T, "my-endpoint").urn


def test_instance_container_inputs(tmp_path: Path) -> None:
    recorded = program(make_project(tmp_path, {"blue": {"count": 2}}))
    blue0 = one(recorded, CONTAINER, "my-endpoint-blue-0")
    env = dict(e.split("=", 1) for e in blue0.inputs["envs"])
    assert env == {
        "AML_APP_ROOT": "/var/azureml-app/score",
        "AZUREML_ENTRY_SCRIPT": "score.py",
        "AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models/sample-model/1",
        "MLPLAN_DEPLOYMENT": "blue", "MLPLAN_ENDPOINT": "my-endpoint", "WORKER_COUNT": "1",
        "WORKER_PRELOAD": "true"}
    mounts = {m["target"]: m for m in blue0.inputs["mounts"]}
    assert mounts["/var/azureml-app/score"]["source"] == str(tmp_path / "stacks" / "score")
    assert mounts["/var/azureml-app/azureml-models/sample-model/1"]["readOnly"] is True
    # Standard_DS3_v2, written as the provider reads them back (else every preview replaces)
    assert (blue0.inputs["cpus"], blue0.inputs["memory"], blue0.inputs["memorySwap"]) == (
        "4.0", 14336, 14336)
    assert "deviceRequests" not in blue0.inputs
    # request_timeout_ms (5 s) for what it has in flight + 30 s for the server's own stop
    assert blue0.inputs["destroyGraceSeconds"] == 35
    health = blue0.inputs["healthcheck"]
    assert (health["interval"], health["timeout"], health["startPeriod"], health["retries"]) == (
        "10s", "2s", "10s", 30)
    # exec form: the URL is an argument of a fixed script, never shell text (issue 27)
    assert health["tests"][:2] == ["CMD", "/bin/sh"]
    assert health["tests"][-2:] == ["http://127.0.0.1:5001/", "2"]
    # reached by its instance name on the endpoint's network: blue-0, in the surge batch, carries
    # it as an alias (old and new container answer it together); no hostname
    assert blue0.inputs["networksAdvanced"] == [{"name": "my-endpoint",
                                                 "aliases": ["my-endpoint-blue-0"]}]
    assert "hostname" not in blue0.inputs
    assert labels_of(blue0) | {} == {
        labels.ENDPOINT: "my-endpoint", labels.DEPLOYMENT: "blue",
        labels.INSTANCE_TYPE: "Standard_DS3_v2", labels.INSTANCE: "0",
        labels.GPUS: "0", labels.CPU_MILLIS: "4000", labels.IMAGE: "example.io/infer:1.0",
        labels.ROLE: "instance", labels.MANAGED_BY: "mlplan"}
    assert labels.WEIGHT not in labels_of(blue0)  # a label change would replace the container


GPU = [
    ("T4: one device", "Standard_NC4as_T4_v3", 1),
    ("V100 x4", "Standard_NC24s_v3", 4),
    ("partial A10 still takes a device", "Standard_NV6ads_A10_v5", 1),
]


@pytest.mark.parametrize(("name", "sku", "devices"), GPU, ids=[g[0] for g in GPU])
def test_gpu_instance_types_request_devices(name: str, sku: str, devices: int,
                                            tmp_path: Path) -> None:
    recorded = program(make_project(tmp_path, {"blue": {"count": 1, "sku": sku}}))
    (request,) = one(recorded, CONTAINER, "my-endpoint-blue-0").inputs["deviceRequests"]
    assert request == {"driver": "nvidia", "count": devices, "capabilities": ["gpu"]}


def test_router_and_config(tmp_path: Path) -> None:
    recorded = program(make_project(tmp_path, {"blue": {"count": 2}, "green": {"count": 1}},
                                    traffic={"blue": 90, "green": 10}))
    router = one(recorded, CONTAINER, "my-endpoint-router")
    assert router.inputs["ports"] == [{"internal": 8080, "ip": "127.0.0.1"}]
    assert router.inputs["image"] == "sha256:nginx:1.28.0-alpine"
    # The router's labels are those it was first created with (a label change replaces a
    # Docker container, and a router replacement stops the endpoint): keep them as they are.
    assert labels_of(router) == {
        labels.ENDPOINT: "my-endpoint", labels.ROLE: "router", labels.MANAGED_BY: "mlplan",
        "app.kubernetes.io/name": "my-endpoint", "app.kubernetes.io/component": "router"}
    assert not router.secret_inputs
    config = one(recorded, CONTAINER, "my-endpoint-router-config")
    assert config.inputs["mustRun"] is False and "networkMode" not in config.inputs
    # on the endpoint's network: it asks the router which routing it serves
    assert config.inputs["networksAdvanced"] == [{"name": "my-endpoint"}]
    assert "uploads" in config.secret_inputs
    files = {u["file"]: u["content"] for u in config.inputs["uploads"]}
    routing = files["/staging/routing.conf"]
    assert "90% live/blue" in routing and "my-endpoint-blue-1:5001" in routing
    # the surge batch by its revision's container: the old one leaves the routing first
    assert re.search(r"server my-endpoint-blue-0-[0-9a-f]{8}:5001 resolve", routing)
    assert "generated-my-endpoint-primary-key" in files["/staging/keys.conf"]
    assert labels_of(config)[labels.TRAFFIC] == "blue=90,green=10"
    deps = set(config.dependencies)
    assert urn_of(recorded, "my-endpoint-blue-batch-2-drain") in deps  # it restores them
    for name in ("my-endpoint-blue-0", "my-endpoint-blue-1", "my-endpoint-green-0"):
        assert urn_of(recorded, name) in deps  # traffic moves only to healthy instances
    router_deps = set(router.dependencies)
    # The router's script waits for the first routing files: it comes up after the config
    # container, which must not wait for the router (that cycle timed out on a real host).
    assert urn_of(recorded, "my-endpoint-router-config") in router_deps
    assert urn_of(recorded, "my-endpoint-router") not in deps
    assert not {urn_of(recorded, n) for n in ("my-endpoint-blue-0", "my-endpoint-green-0")} \
        & router_deps  # an instance replacement never touches the router
    network = one(recorded, NETWORK, "my-endpoint-network")
    assert network.inputs["name"] == "my-endpoint"
    for type_ in (ENDPOINT_T, TARGET_T):
        component = one(recorded, type_, "my-endpoint")  # real props, not {}
        assert component.inputs["traffic"] == {"blue": 90, "green": 10}
        assert component.inputs["deployments"] == {"blue": 2, "green": 1}


def test_keys_never_appear_outside_secrets(tmp_path: Path) -> None:
    recorded = program(make_project(tmp_path, {"blue": {"count": 1}}))
    for r in recorded:
        if r.name == "my-endpoint-router-config":
            continue
        assert "generated-my-endpoint" not in repr(r.inputs), r.name


def comparable(recorded: list[Recorded]) -> dict[str, Any]:
    """Inputs of the concrete resources (component props describe, they are not deployed)."""
    return {f"{r.type} {r.name}": r.inputs for r in recorded if r.custom}


CHANGES = [
    # name, base deployments/traffic, head deployments/traffic, resources whose inputs change,
    # resources added, resources removed
    ("change the split: only the config container changes",
     ({"blue": {}, "green": {}}, {"blue": 90, "green": 10}),
     ({"blue": {}, "green": {}}, {"blue": 50, "green": 50}),
     {"my-endpoint-router-config"}, set(), set()),
    # (the drains change with the revision, which the two project roots hide here:
    # tests/targets/test_docker_drain.py compares one root's runs)
    ("change the image: blue's instances change, the config (the surge batch's new names) too,"
     " the router does not",
     ({"blue": {}}, {"blue": 100}),
     ({"blue": {"image": "example.io/infer:2.0"}}, {"blue": 100}),
     {"my-endpoint-blue-image", "my-endpoint-blue-0", "my-endpoint-blue-1",
      "my-endpoint-blue-2", "my-endpoint-router-config"}, set(), set()),
    ("add a deployment at 0%: its containers appear, routing learns it",
     ({"blue": {}}, {"blue": 100}),
     ({"blue": {}, "green": {"count": 2}}, {"blue": 100, "green": 0}),
     {"my-endpoint-router-config"},
     {"my-endpoint-green-image", "my-endpoint-green-0", "my-endpoint-green-1",
      "my-endpoint-green-batch-2-drain"}, set()),
    ("scale 3 -> 10: instances 0 and 2 untouched although their batches change",
     ({"blue": {"count": 3}}, {"blue": 100}),
     ({"blue": {"count": 10}}, {"blue": 100}),
     # instance 1 joins the surge batch (batches of 1 -> 2): a container named by revision
     # (created, the old one removed at the end of the update)
     # the drains of batches 2, 3 change with their members, those of 4, 5 are new
     {"my-endpoint-router-config", "my-endpoint-blue-1", "my-endpoint-blue-batch-2-drain",
      "my-endpoint-blue-batch-3-drain"},
     {*(f"my-endpoint-blue-{i}" for i in range(3, 10)), "my-endpoint-blue-batch-4-drain",
      "my-endpoint-blue-batch-5-drain"}, set()),
    ("scale 5 -> 4: the others untouched",
     ({"blue": {"count": 5}}, {"blue": 100}),
     ({"blue": {"count": 4}}, {"blue": 100}),
     # batches of 1 either way: drains 2-4 keep their members (their upstream blocks lose
     # blue-4), drain 5 goes
     {"my-endpoint-router-config", "my-endpoint-blue-batch-2-drain",
      "my-endpoint-blue-batch-3-drain", "my-endpoint-blue-batch-4-drain"}, set(),
     {"my-endpoint-blue-4", "my-endpoint-blue-batch-5-drain"}),
    ("remove a deployment: its containers go, routing forgets it",
     ({"blue": {}, "green": {"count": 1}}, {"blue": 100}),
     ({"blue": {}}, {"blue": 100}),
     {"my-endpoint-router-config"}, set(),
     {"my-endpoint-green-image", "my-endpoint-green-0"}),
]


@pytest.mark.parametrize(("name", "base", "head", "changed", "added", "removed"), CHANGES,
                         ids=[c[0] for c in CHANGES])
def test_changes(name: str, base: Any, head: Any, changed: set[str], added: set[str],
                 removed: set[str], tmp_path: Path) -> None:
    before = comparable(program(make_project(tmp_path / "a", base[0], traffic=base[1])))
    after = comparable(program(make_project(tmp_path / "b", head[0], traffic=head[1])))
    names = lambda keys: {k.split(" ", 1)[1] for k in keys}  # noqa: E731
    assert names(after.keys() - before.keys()) == added
    assert names(before.keys() - after.keys()) == removed
    differing = {k for k in before.keys() & after.keys()
                 if _without_tmp(before[k], tmp_path / "a") != _without_tmp(after[k],
                                                                            tmp_path / "b")}
    assert names(differing) == changed
    assert "my-endpoint-router" not in names(differing)


def _without_tmp(inputs: Any, root: Path) -> str:
    """The inputs with the project root as ``<root>`` and a surge container's revision as
    ``<rev>`` (the revision covers the mount sources, so it differs between the two roots)."""
    return re.sub(r"([-=])[0-9a-f]{8}'", r"\1<rev>'",
                  repr(inputs).replace(str(root), "<root>"))


def test_the_sample_dev_stack_runs_from_the_real_program() -> None:
    recorded = program(REPO, stack="dev")
    containers = {r.name for r in by_type(recorded, CONTAINER)}
    assert containers == {"my-endpoint-router", "my-endpoint-router-config",
                          *(f"my-endpoint-blue-{i}" for i in range(3)),
                          *(f"my-endpoint-green-{i}" for i in range(3)),
                          *(f"my-endpoint-{d}-batch-{b}-drain" for d in ("blue", "green")
                            for b in (2, 3))}
    assert one(recorded, "mlplan:index:QuotaCheck", "quota")


def test_errors_stop_the_program_before_any_resource(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"blue": {"count": 3}}, traffic={"blue": 90})
    with pytest.raises(Exception, match="MLP201"):
        program(root)


def test_mirror_and_configured_keys(tmp_path: Path) -> None:
    keys = {"my-endpoint": {"primary": "p" * 32, "secondary": "s" * 32}}
    root = make_project(tmp_path, {"blue": {"count": 1}, "green": {"count": 1}},
                        traffic={"blue": 100, "green": 0}, mirror={"green": 10})
    recorded = run_program(lambda: run(cwd=root, stack="test"), stack="test",
                           config={"mlplan:keys": keys}, project=root)
    assert not by_type(recorded, "random:index/randomPassword:RandomPassword")
    config = one(recorded, CONTAINER, "my-endpoint-router-config")
    files = {u["file"]: u["content"] for u in config.inputs["uploads"]}
    assert "p" * 32 in files["/staging/keys.conf"] and "s" * 32 in files["/staging/keys.conf"]
    assert "mirror" in files["/staging/routing.conf"]
    assert labels_of(config)[labels.MIRROR] == "green=10"


def test_registered_model_resolves_through_assets(tmp_path: Path) -> None:
    root = make_project(
        tmp_path, {"blue": {"count": 1}},
        extra_config="  mlplan:assets:\n    models:\n"
                     "      azureml:sample-model:3: stacks/model/sample-model\n")
    blue = root / "stacks" / "endpoints" / "blue.yml"
    blue.write_text(blue.read_text().replace("model:\n  path: ../model/sample-model",
                                             "model: azureml:sample-model:3"))
    recorded = program(root)
    env = dict(e.split("=", 1) for e in one(recorded, CONTAINER,
                                             "my-endpoint-blue-0").inputs["envs"])
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/sample-model/3"


def test_unmapped_registered_model_is_a_clear_error(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"blue": {"count": 1}})
    blue = root / "stacks" / "endpoints" / "blue.yml"
    blue.write_text(blue.read_text().replace("model:\n  path: ../model/sample-model",
                                             "model: azureml:sample-model:3"))
    with pytest.raises(Exception, match="MLP117"):
        program(root)


SURGE = [
    # name, instance type, instances, surge batch (named by revision)
    ("one instance: it is the surge batch", "Standard_DS3_v2", 1, [0]),
    ("ten instances: batch 1 of 2", "Standard_DS3_v2", 10, [0, 1]),
    ("eleven: batch 1 of 3", "Standard_DS3_v2", 11, [0, 1, 2]),
    ("exempt instance type (A100): no surge batch", "Standard_NC24ads_A100_v4", 10, []),
]


@pytest.mark.parametrize(("name", "sku", "count", "surge"), SURGE, ids=[s[0] for s in SURGE])
def test_surge_batch_is_named_by_revision(name: str, sku: str, count: int, surge: list[int],
                                          tmp_path: Path) -> None:
    """The surge batch's containers (Pulumi name and container name) end in the revision, the
    same for every member and for the same inputs, another for another image: a new revision is
    a new container beside the old one, which the engine removes at the end of the update; the
    other batches keep their names (replaced in place, delete first)."""
    def surge_names(root: Path) -> dict[int, tuple[str, str]]:
        recorded = run_program(lambda: run(cwd=root, stack="test"), stack="test", project=root)
        return {int(labels_of(r)[labels.INSTANCE]): (r.name, r.inputs["name"])
                for r in instances(recorded, "blue")}

    root = make_project(tmp_path / "p", {"blue": {"count": count, "sku": sku}})
    first, again = surge_names(root), surge_names(root)
    assert first == again  # deterministic
    revisions = {REVISION.search(n).group(0) for i, (n, _c) in first.items() if i in surge}
    assert len(revisions) == (1 if surge else 0)
    for index, (pulumi_name, container) in first.items():
        base = f"my-endpoint-blue-{index}"
        if index in surge:
            assert (pulumi_name, container) == (base + min(revisions), base + min(revisions))
        else:
            assert (pulumi_name, container) == (base, base)
    shutil.rmtree(root)  # the same root: the revision covers the mount sources
    changed = surge_names(make_project(root, {"blue": {
        "count": count, "sku": sku, "image": "example.io/infer:2.0"}}))
    assert all((changed[i] != first[i]) == (i in surge) for i in first)


def test_name_prefix_reaches_the_routing_file(tmp_path: Path) -> None:
    """Two stacks on one host: with ``namePrefix: pr-`` the router must route to the prefixed
    containers it runs beside, never to the unprefixed ones of the other stack."""
    root = make_project(tmp_path, {"blue": {"count": 2}},
                        extra_config="  mlplan:docker: {namePrefix: pr-}\n")
    recorded = program(root)
    names = {REVISION.sub("", r.inputs["name"]) for r in by_type(recorded, CONTAINER)}
    assert names == {"pr-my-endpoint-router", "pr-my-endpoint-router-config",
                     "pr-my-endpoint-blue-0", "pr-my-endpoint-blue-1",
                     "pr-my-endpoint-blue-batch-2-drain"}
    config = one(recorded, CONTAINER, "my-endpoint-router-config")
    routing = {u["file"]: u["content"] for u in config.inputs["uploads"]}["/staging/routing.conf"]
    servers = sorted(line.split()[1] for line in routing.splitlines()
                     if line.strip().startswith("server ") and ":5001" in line)
    assert [re.sub(r"-[0-9a-f]{8}:", ":", s) for s in servers] == ["pr-my-endpoint-blue-0:5001",
                                                      "pr-my-endpoint-blue-1:5001"]
    drain = one(recorded, CONTAINER, "my-endpoint-blue-batch-2-drain")
    assert "http://pr-my-endpoint-router:8081/-/generation" in drain.inputs["command"][2]


def test_a_host_with_too_few_cpus_stops_the_program_before_any_resource(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_docker_host import http_ok, serve_once

    sock = tmp_path / "docker.sock"
    thread = serve_once(sock, http_ok({"NCPU": 2, "MemTotal": 8 << 30}))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    root = make_project(tmp_path / "p", {"blue": {"count": 1}})  # Standard_DS3_v2: 4 cores
    raised: list[Exception] = []

    def guarded() -> None:
        try:
            run(cwd=root, stack="test")
        except Exception as exc:  # the program's RunError, caught to look at the registrations
            raised.append(exc)

    recorded = run_program(guarded, stack="test", project=root)
    assert raised and "MLP123" in str(raised[0])
    assert recorded == []  # not even the quota check: nothing was registered
    thread.join(5)

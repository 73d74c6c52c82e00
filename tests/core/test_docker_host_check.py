"""MLP123: instance limits against what the Docker host says of itself (pure check)."""

from __future__ import annotations

import pytest

from mlplan.domain import codes
from mlplan.domain.diagnostics import Severity
from mlplan.planning.rollout import batches
from mlplan.targets.docker.containers import (
    DeploymentContainers,
    DockerHost,
    DockerSettings,
    Healthcheck,
    InstanceContainer,
    Mount,
    ResourceLimits,
    check_host,
    provider_cpus,
    revision,
    roll_note,
    stop_grace_seconds,
)
from tests.core.test_state import state

HOST_2_CPUS = DockerHost(cpus=2, memory_mib=24 * 1024)
HOST_SMALL_MEMORY = DockerHost(cpus=64, memory_mib=8 * 1024)

SCENARIOS = [
    # name, sku, limits, host, expected (severity, words in the message)
    ("4-core type on a 2-CPU host, enforce: error naming the fix", "Standard_DS3_v2",
     "enforce", HOST_2_CPUS,
     [(Severity.ERROR, ["my-endpoint/blue", "Standard_DS3_v2", "4 CPUs",
                        "Docker host has 2", "resourceLimits: memory-only",
                        "such as Standard_DS2_v2"])]),
    ("2-core type fits a 2-CPU host", "Standard_DS2_v2", "enforce", HOST_2_CPUS, []),
    ("memory-only ignores CPUs", "Standard_DS3_v2", "memory-only", HOST_2_CPUS, []),
    ("off ignores everything", "Standard_E64s_v3", "off", HOST_SMALL_MEMORY, []),
    ("memory above the host's is a warning", "Standard_DS3_v2", "enforce", HOST_SMALL_MEMORY,
     [(Severity.WARNING, ["14336 MiB", "8192 MiB", "protects nothing"])]),
    ("no smaller type in the family: no example named", "Standard_F2s_v2", "enforce",
     DockerHost(cpus=1, memory_mib=4096),
     [(Severity.ERROR, ["at most 1 cores."])]),
]


@pytest.mark.parametrize(("name", "sku", "limits", "host", "expected"), SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_check_host(name: str, sku: str, limits: ResourceLimits, host: DockerHost,
                    expected: list[tuple[Severity, list[str]]]) -> None:
    desired = state(sku=sku)
    found = check_host(desired.endpoints, DockerSettings(resource_limits=limits), host)
    assert [d.code for d in found] == [codes.DOCKER_HOST_CAPACITY] * len(expected)
    for diagnostic, (severity, words) in zip(found, expected, strict=True):
        assert diagnostic.severity is severity
        assert str(diagnostic.location).startswith("d.yml:4 instance_type"), diagnostic
        for word in words:
            assert word in diagnostic.message, (word, diagnostic.message)


def _deployment(count: int, wait: int = 23, revision: str = "") -> DeploymentContainers:
    check = Healthcheck(("CMD", "true"), "1s", "2s", "1s", 20)
    containers = tuple(
        InstanceContainer(name=f"my-endpoint-blue-{i}", index=i, batch=b, image="i", env=(),
                          mounts=(), labels=(), cpus="", memory_mib=0, gpus=0, port=5001,
                          healthcheck=check, wait_timeout_s=wait,
                          revision=revision if b == 1 else "")
        for b, members in enumerate(batches(count), start=1) for i in members)
    return DeploymentContainers("blue", "i", "", "", containers)


NOTES = [
    # name, instances, surge batch revision, note
    ("ten with a surge batch", 10, "1a2b3c4d", "my-endpoint/blue rolls in 5 batches of 2 "
     "(batch 1: instances 0, 1; batch 2: 2, 3; batch 3: 4, 5; batch 4: 6, 7; batch 5: 8, 9); "
     "each batch must be healthy within 23 s before the next starts, and a batch that is not "
     "stops the update with the later batches untouched; batch 1 is the surge batch: a new "
     "revision (1a2b3c4d) starts its containers beside the old ones, which serve until the "
     "end of the update"),
    ("one instance", 1, "", "my-endpoint/blue rolls in 1 batch of 1 (batch 1: instance 0); each "
     "batch must be healthy within 23 s before the next starts, and a batch that is not stops "
     "the update with the later batches untouched"),
    ("ten in fives of two, exempt (no surge batch)", 10, "",
     "my-endpoint/blue rolls in 5 batches of 2 (batch 1: instances 0, 1; batch 2: 2, 3; "
     "batch 3: 4, 5; batch 4: 6, 7; batch 5: 8, 9); each batch must be "
     "healthy within 23 s before the next starts, and a batch that is not stops the update "
     "with the later batches untouched"),
    ("no instances", 0, "", "my-endpoint/blue has no instances"),
]


@pytest.mark.parametrize(("name", "count", "revision", "expected"), NOTES,
                         ids=[n[0] for n in NOTES])
def test_roll_note(name: str, count: int, revision: str, expected: str) -> None:
    assert roll_note("my-endpoint", _deployment(count, revision=revision)) == expected


CPUS = [
    # name, millicores, what the Docker provider reads back (so an unchanged limit is no diff)
    ("one core keeps one decimal", 1000, "1.0"),
    ("four cores", 4000, "4.0"),
    ("sixteen cores", 16000, "16.0"),
    ("half a core", 500, "0.5"),
    ("fraction kept", 1250, "1.25"),
    ("ten cores: ten zeros leave the point", 10000, "10."),
    ("hundred cores", 100000, "100."),
    ("nine zeros with a fraction: one decimal, half away from zero", 50, "0.1"),
]


@pytest.mark.parametrize(("name", "millis", "expected"), CPUS, ids=[c[0] for c in CPUS])
def test_provider_cpus(name: str, millis: int, expected: str) -> None:
    assert provider_cpus(millis) == expected


GRACE = [
    ("azure default 5 s, plus the server's own shutdown", 5000, 35),
    ("rounded up", 90500, 121),
    ("tiny", 1, 31),
]


@pytest.mark.parametrize(("name", "timeout_ms", "expected"), GRACE, ids=[g[0] for g in GRACE])
def test_stop_grace_seconds(name: str, timeout_ms: int, expected: int) -> None:
    assert stop_grace_seconds(timeout_ms) == expected


BASE_REVISION = dict(image="example.io/infer:1", env=(("A", "1"),),
                     mounts=(Mount("/p/score", "/var/azureml-app/score"),),
                     instance_labels=(("mlplan.dev/image", "example.io/infer:1"),
                                      ("mlplan.dev/instance", "0")),
                     cpus="4.0", gpus=0)
REVISIONS = [
    # name, changed inputs, new revision?
    ("same inputs: same revision (every run)", {}, False),
    ("another instance index: same revision (one per deployment)",
     {"instance_labels": (("mlplan.dev/image", "example.io/infer:1"),
                          ("mlplan.dev/instance", "7"))}, False),
    ("image", {"image": "example.io/infer:2"}, True),
    ("environment", {"env": (("A", "2"),)}, True),
    ("mount source", {"mounts": (Mount("/q/score", "/var/azureml-app/score"),)}, True),
    ("label", {"instance_labels": (("mlplan.dev/image", "example.io/infer:2"),
                                   ("mlplan.dev/instance", "0"))}, True),
    ("CPU limit", {"cpus": "2.0"}, True),
    ("GPUs", {"gpus": 1}, True),
]


@pytest.mark.parametrize(("name", "changed", "new"), REVISIONS, ids=[r[0] for r in REVISIONS])
def test_revision_changes_exactly_with_what_replaces_a_container(
        name: str, changed: dict[str, object], new: bool) -> None:
    """The surge batch's containers are named by revision: it must change with every input
    that replaces a container (else the surge batch would be replaced delete-first under the
    same name) and with nothing else (memory, health check and stop grace change in place and
    are not its inputs at all)."""
    before = revision(**BASE_REVISION)  # type: ignore[arg-type]
    after = revision(**{**BASE_REVISION, **changed})  # type: ignore[arg-type]
    assert len(before) == 8 and int(before, 16) >= 0
    assert (after != before) is new

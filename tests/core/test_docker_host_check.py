"""MLP123: instance limits against what the Docker host says of itself (pure check)."""

from __future__ import annotations

import pytest

from components.core import codes
from components.core.diagnostics import Severity
from components.core.docker_plan import (
    DockerHost,
    DockerSettings,
    Healthcheck,
    InstanceContainer,
    ResourceLimits,
    batch_note,
    check_host,
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


def _container(batch: int, wait: int = 23) -> InstanceContainer:
    check = Healthcheck(("CMD", "true"), "1s", "2s", "1s", 20)
    return InstanceContainer(name="my-endpoint-blue-0", index=0, batch=batch, image="i",
                             env=(), mounts=(), labels=(), cpus="", memory_mib=0, gpus=0,
                             port=5001, healthcheck=check, wait_timeout_s=wait)


NOTES = [
    ("first of five", 1, 5, "my-endpoint/blue batch 1 of 5: replaced or created first; "
     "must be healthy within 23 s before batch 2 starts"),
    ("middle", 3, 5, "my-endpoint/blue batch 3 of 5: replaced or created after batch 2 is "
     "healthy; must be healthy within 23 s before batch 4 starts"),
    ("last", 5, 5, "my-endpoint/blue batch 5 of 5: replaced or created after batch 4 is "
     "healthy; must be healthy within 23 s before traffic moves"),
]


@pytest.mark.parametrize(("name", "batch", "count", "expected"), NOTES, ids=[n[0] for n in NOTES])
def test_batch_note(name: str, batch: int, count: int, expected: str) -> None:
    assert batch_note("my-endpoint", "blue", _container(batch), count) == expected

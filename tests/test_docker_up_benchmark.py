"""What ``benchmarks/docker_up.py`` computes from a roll's container events: the time outside
the batches (``lead_and_tail``) and the per-batch phases (``phases``), and the slow-loading
scoring script it writes for ``--model-load-s``."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from tests.engine.docker_host import ENDPOINT, Event
from tests.lib.modules import load_file

REPO = Path(__file__).resolve().parents[1]


docker_up = load_file(REPO / "benchmarks" / "docker_up.py", "docker_up_benchmark")

NEW, OLD = "inference:r2", "inference:r1"


def _instance(at: float, action: str, name: str, image: str) -> Event:
    return Event(at, action, f"{ENDPOINT}-{name}", "blue", image, role="instance")


@pytest.mark.parametrize(
    ("events", "window", "expected"),
    [
        ([_instance(11.2, "create", "blue-0-1a2b3c4d", NEW),
          _instance(12.0, "create", "blue-1-1a2b3c4d", NEW),
          _instance(140.0, "health_status: healthy", "blue-9", NEW),
          _instance(143.0, "health_status: healthy", "blue-8", NEW)],
         (5.0, 155.1), (6.2, 12.1)),
        # the old containers' events and a drain container's do not count
        ([_instance(1.0, "create", "blue-2", OLD),
          Event(2.0, "create", f"{ENDPOINT}-blue-batch-2-drain", "blue", NEW, role="drain"),
          _instance(3.0, "create", "blue-0-1a2b3c4d", NEW),
          _instance(9.0, "health_status: healthy", "blue-0-1a2b3c4d", NEW),
          _instance(30.0, "health_status: healthy", "blue-2", OLD)],
         (0.5, 10.0), (2.5, 1.0)),
        # nothing new became healthy: no figure rather than a wrong one
        ([_instance(3.0, "create", "blue-0-1a2b3c4d", NEW)], (0.0, 10.0), (math.nan, math.nan)),
    ],
    ids=["roll", "old-and-drain-ignored", "never-healthy"],
)
def test_lead_and_tail(events: list[Event], window: tuple[float, float],
                       expected: tuple[float, float]) -> None:
    lead, tail = docker_up.lead_and_tail(events, NEW, window)
    for got, want in ((lead, expected[0]), (tail, expected[1])):
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


def test_phases_of_a_batch_replaced_in_place() -> None:
    """Batch 2 of blue 10 (instances 2, 3): its drain ran 1.5 s, the old containers stopped
    (SIGTERM -> exited 2.0 s, exited -> removed 0.25 s), the new ones booted 3.0 s after their
    create; the engine's share is what remains since batch 1 was healthy."""
    drain = f"{ENDPOINT}-blue-batch-2-drain"
    events = [
        _instance(0.0, "create", "blue-0-1a2b3c4d", NEW), _instance(0.0, "create",
                                                                     "blue-1-1a2b3c4d", NEW),
        _instance(4.0, "health_status: healthy", "blue-0-1a2b3c4d", NEW),
        _instance(4.0, "health_status: healthy", "blue-1-1a2b3c4d", NEW),
        Event(5.0, "start", drain, "blue", "", role="drain"),
        Event(6.5, "die", drain, "blue", "", role="drain"),
        *[_instance(7.0, "kill", f"blue-{i}", OLD) for i in (2, 3)],
        *[_instance(9.0, "die", f"blue-{i}", OLD) for i in (2, 3)],
        *[_instance(9.25, "destroy", f"blue-{i}", OLD) for i in (2, 3)],
        *[_instance(9.5, "create", f"blue-{i}", NEW) for i in (2, 3)],
        *[_instance(10.0, "start", f"blue-{i}", NEW) for i in (2, 3)],
        *[_instance(12.5, "health_status: healthy", f"blue-{i}", NEW) for i in (2, 3)],
    ]
    batch = docker_up.phases(events, 10, NEW)[1]
    assert (batch["drain"], batch["exit"], batch["teardown"], batch["stop"]) == (1.5, 2.0, 0.25,
                                                                                 2.25)
    assert batch["create_to_healthy"] == 3.0
    assert batch["engine"] == pytest.approx(12.5 - 4.0 - 1.5 - 2.25 - 3.0)


def test_the_loading_score_waits_then_loads_the_sample(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stacks").mkdir()
    assert docker_up.write_loading_score(tmp_path, 0.2) == "../../score-load"
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(REPO / "stacks" / "model" / "sample-model"))
    waited: list[float] = []
    module = load_file(tmp_path / "stacks" / "score-load" / "score.py", "score_load")
    monkeypatch.setattr(time, "sleep", waited.append)
    module.init()
    assert waited == [0.2]
    answer = module.run(json.dumps({"data": [[5.1, 3.5, 1.4, 0.2]]}))
    assert answer["predictions"] == [2.049]

"""One vocabulary (issue 17, item 5): plan, review, promotion and their JSON give the same fact
the same words and the same number.

- The rolling schedule: the plan's "Rolling update" column and the review's roll read
  ``3 batches of 1, peak 4, at least 3 serving`` on both targets (one batch surges: Docker's
  surge batch since issue 25, Kubernetes' maxSurge); JSON carries the same
  numbers under the same names (``peak_instances``, ``min_serving_instances``).
- Reserved cores: ``reserved_cores`` is ``reserved_instances x cores_per_instance`` in the plan,
  the review's ``reserved_cores.after`` and the promotion's ``reserved_cores`` agree.
- An endpoint is "update" only when it changes itself (settings, split, what its router holds);
  when only a deployment rolls it is "unchanged itself; 1 deployment changes".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlplan.edge.cli import main
from tests.targets.projects import make_project

IMAGE_2 = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250601.v1"

TARGETS = [
    # target, rollout words, peak, serving
    ("docker", "3 batches of 1, peak 4, at least 3 serving", 4, 3),
    ("kubernetes", "3 batches of 1, peak 4, at least 3 serving", 4, 3),
]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    main(args)
    out, _err = capsys.readouterr()
    return out


@pytest.mark.parametrize(("target", "words", "peak", "serving"), TARGETS,
                         ids=[t[0] for t in TARGETS])
def test_the_same_rollout_and_cores_in_plan_review_and_promotion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    target: str, words: str, peak: int, serving: int,
) -> None:
    traffic = {"blue": 100, "green": 0}
    make_project(tmp_path / "base", {"blue": {}, "green": {}}, traffic=traffic, target=target,
                 stack="dev")
    head = make_project(tmp_path / "head", {"blue": {"image": IMAGE_2}, "green": {}},
                        traffic=traffic, target=target, stack="dev")
    monkeypatch.chdir(head)

    plan_text = run(["plan"], capsys)
    plan = json.loads(run(["plan", "--format", "json"], capsys))
    review_text = run(["review", "--base-dir", "../base", "--stack", "dev"], capsys)
    review = json.loads(run(["review", "--base-dir", "../base", "--stack", "dev",
                             "--format", "json"], capsys))
    promotion = json.loads(run(["promote", "my-endpoint", "--to", "green", "--stack", "dev",
                                "--format", "json"], capsys))

    blue = plan["endpoints"][0]["deployments"][0]
    assert blue["rollout"]["summary"] == words
    assert (blue["rollout"]["peak_instances"], blue["rollout"]["min_serving_instances"]) == (
        peak, serving)
    assert next(line for line in plan_text.splitlines() if line.lstrip().startswith("blue ")
                ).endswith(words)
    (endpoint,) = review["stacks"][0]["endpoints"]
    (roll,) = [s for d in endpoint["deployments"] if d["name"] == "blue" for s in d["steps"]]
    assert roll["summary"] == f"3 instances: {words}"
    assert (roll["peak_instances"], roll["min_serving_instances"], roll["batch_count"]) == (
        peak, serving, 3)
    assert f"roll 3 instances: {words}" in review_text

    # reserved cores: 3 DS3_v2 instances reserve ceil(1.2 x 3) = 4 instances x 4 cores = 16
    assert (blue["reserved_instances"], blue["cores_per_instance"], blue["reserved_cores"]) == (
        4, 4, 16)
    review_blue = next(d for d in endpoint["deployments"] if d["name"] == "blue")
    assert review_blue["reserved_cores"] == {"before": 16, "after": 16}
    assert plan["quota"]["total_reserved_cores"] == 32
    assert promotion["steps"][0]["reserved_cores"] == plan["quota"]["total_reserved_cores"]
    assert promotion["format_version"] == plan["format_version"] == review["format_version"] == 2

    # only blue's instances roll: the endpoint itself is unchanged
    assert endpoint["actions"] == ["no-op"] and endpoint["changed"] is True
    assert "endpoint my-endpoint: unchanged itself; 1 deployment changes" in review_text
    assert "endpoint my-endpoint: update" not in review_text
    assert review["summary"]["changes"] is True


def test_a_review_from_a_pulumi_preview_uses_the_same_words() -> None:
    """The recorded Docker preview replaces blue's 3 containers batch by batch: the review of
    the engine's preview reads like the plan's (peak 3, at least 2 serving)."""
    from mlplan.edge.review_io import preview_review

    fixture = Path(__file__).parent / "fixtures" / "preview" / "docker-image-change.json"
    doc = preview_review(fixture.read_text(), base="pulumi state", head="pulumi preview",
                         stack="dev")
    (endpoint,) = doc["stacks"][0]["endpoints"]
    blue = next(d for d in endpoint["deployments"] if d["name"] == "blue")
    (roll,) = blue["steps"]
    assert roll["summary"] == "3 instances: 3 batches of 1, peak 3, at least 2 serving"
    assert (roll["peak_instances"], roll["min_serving_instances"]) == (3, 2)
    assert endpoint["actions"] == ["no-op"] and endpoint["changed"] is True

"""Hostile inputs of the second security pass (issue 27), each run as ``mlplan`` in a child
process under the suite's limits (1 GiB address space, 20 s): the work is bounded before it
is done, the answer is a diagnostic, no outside file reaches the output.

``CASES`` is shared with ``benchmarks/hostile_input.py``, which prints each one's time and
peak memory."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile.harness import check_output, project, run_cli

REVIEW = ["review", "--base", "HEAD", "--stack", "test"]
PLAN = ["plan", "--stack", "test"]


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.email=ci@example.com", "-c",
                    "user.name=CI", *args], check=True, capture_output=True)


def commit(root: Path) -> None:
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")


def _set(root: Path, name: str, old: str, new: str) -> None:
    path = root / "stacks" / "endpoints" / f"{name}.yml"
    text = path.read_text()
    assert old in text, (old, text)
    path.write_text(text.replace(old, new))


def _image(root: Path) -> None:
    _set(root, "blue", "example.io/infer:1.0", "example.io/infer:1.1")


def head_million(root: Path) -> None:
    """Base 3 instances, head 1,000,000 with a new image (was 10.5 s, 810 MB)."""
    commit(root)
    _set(root, "blue", "instance_count: 3", "instance_count: 1000000")
    _image(root)


def both_twenty_million(root: Path) -> None:
    """20,000,000 instances on both sides, a new image (was killed at 13.4 GB)."""
    _set(root, "blue", "instance_count: 3", "instance_count: 20000000")
    commit(root)
    _image(root)


def base_file_30mb(root: Path) -> None:
    """A 30 MB file in the base commit (the working tree refuses over 4 MiB)."""
    (root / "stacks" / "endpoints" / "big.yml").write_text("# " + "x" * 30_000_000 + "\n")
    commit(root)
    (root / "stacks" / "endpoints" / "big.yml").unlink()


def model_300mb_kubernetes(root: Path) -> None:
    """A 300 MB (sparse) model on Kubernetes: sized with stat, never read (was 959 MB RSS)."""
    with (root / "stacks" / "model" / "sample-model" / "weights.bin").open("wb") as handle:
        handle.truncate(300_000_000)


def linked_secret(root: Path) -> None:
    """A model file and a scoring helper linking to a file outside the project."""
    outside = root.parent / "outside-secret.txt"
    outside.write_text("OUTSIDE-SECRET-CONTENT\n")
    (root / "stacks" / "model" / "sample-model" / "extra.bin").symlink_to(outside)
    (root / "stacks" / "score" / "helper.py").symlink_to(outside)


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], None]
    args: list[str]
    target: str
    code: int
    says: str  # in stderr
    max_out: int = 20_000  # bytes of stdout: a summary, never a listing


CASES = [
    Case("review_head_1m_instances", head_million, REVIEW, "docker", 1,
         "MLP113: 1000000 instances; the limit is 50"),
    Case("review_both_20m_instances", both_twenty_million, REVIEW, "docker", 1,
         "MLP113: 20000000 instances"),
    Case("review_base_file_30mb", base_file_30mb, REVIEW, "docker", 0, "is over 4 MiB"),
    Case("plan_model_300mb_kubernetes", model_300mb_kubernetes, PLAN, "kubernetes", 1,
         "has 300000"),
    Case("plan_links_out_of_the_project", linked_secret, PLAN, "kubernetes", 1,
         "links to"),
]


def prepare(case: Case, root: Path) -> Path:
    project(root, target=case.target)
    case.make(root)
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_work_is_bounded(case: Case, tmp_path: Path) -> None:
    root = prepare(case, tmp_path / "p")
    run = run_cli(case.args, root)
    check_output(run, secrets=("OUTSIDE-SECRET-CONTENT",))
    assert case.says in run.err, run.err[-3000:]
    assert run.code == case.code, run.err[-3000:]
    assert len(run.out) <= case.max_out, run.out[:3000]

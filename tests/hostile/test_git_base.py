"""``review --base`` reads a commit as a checkout would (issue 14, item 8): a committed symlink
reads its target's text, and a file name holding a newline keeps ``git cat-file --batch`` in
step, so an unchanged tree shows no change."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.hostile.harness import check_output, project, run_cli

REVIEW = ["review", "--base", "HEAD", "--stack", "test", "--detailed-exitcode"]


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def commit_all(root: Path) -> None:
    git(root, "init", "-q")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")


def symlinked_deployment(root: Path) -> None:
    folder = root / "stacks/endpoints"
    (root / "stacks/shared").mkdir()
    (folder / "green.yml").rename(root / "stacks/shared/green.yml")
    (folder / "green.yml").symlink_to("../shared/green.yml")


def newline_names(root: Path) -> None:
    folder = root / "stacks/endpoints"
    (folder / "a\nb.yml").write_text("# a file whose name holds a newline\n")
    (folder / "green.yml").rename(folder / "green\n.yml")


@pytest.mark.parametrize("change", [symlinked_deployment, newline_names],
                         ids=["symlinked-deployment-file", "file-name-with-newline"])
def test_08_unchanged_tree_has_no_changes(tmp_path: Path, change: object) -> None:
    root = project(tmp_path / "p")
    change(root)  # type: ignore[operator]
    commit_all(root)
    run = run_cli(REVIEW, root)
    check_output(run)
    assert run.code == 0, run.both
    # Nothing made up: no change, the one endpoint counted as unchanged (not listed one by one).
    assert "No changes." in run.out and "unchanged: 1 endpoint" in run.out, run.out

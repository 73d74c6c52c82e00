"""``promote --write`` and ``rollback`` on hostile ground (issue 14, items 2, 3, 10, 11): a kill
during the write, a user editing the file meanwhile, several steps then a rollback, a retire cut
short, files that ``plan`` accepts but promote cannot edit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlplan.edge import promote_io
from mlplan.edge.program import load as load_state
from mlplan.planning import promote
from tests.hostile.harness import REPO, check_output, project, run_cli

ENDPOINT = "stacks/endpoints/endpoint.yml"
BLUE = "stacks/endpoints/blue.yml"
PROMOTE = ["promote", "my-endpoint", "--stack", "test", "--to", "green", "--write"]


def _padded(root: Path, megabytes: int) -> bytes:
    """The endpoint file with a long comment, so that writing it takes a while."""
    path = root / ENDPOINT
    text = path.read_text() + "".join(f"# padding line {i:07d} {'x' * 60}\n"
                                      for i in range(megabytes * 13_000))
    path.write_text(text)
    return text.encode()


def test_02_kill_during_write_leaves_the_old_or_the_new_file(tmp_path: Path) -> None:
    """The child is killed (SIGKILL) the moment the file starts to change: with an in-place
    write that is a truncated file; with the atomic rename, the complete new one."""
    root = project(tmp_path / "p")
    before = _padded(root, 4)
    path = root / ENDPOINT
    stamp = path.stat()
    child = subprocess.Popen([sys.executable, "-m", "mlplan.edge.cli", *PROMOTE], cwd=root,
                             env={**os.environ, "PYTHONPATH": str(REPO)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and child.poll() is None:
            now = path.stat()
            if (now.st_size, now.st_mtime_ns, now.st_ino) != (
                    stamp.st_size, stamp.st_mtime_ns, stamp.st_ino):
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    after = path.read_bytes()
    assert after == before or (after.startswith(b"$schema") and b"green: 10" in after and
                               after.rstrip().endswith(before.rstrip()[-80:])), \
        f"a partial file was left: {len(after)} of about {len(before)} bytes"
    assert oct(path.stat().st_mode & 0o777) == oct(stamp.st_mode & 0o777)


def test_02_mode_is_kept(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    (root / ENDPOINT).chmod(0o640)
    check_output(run := run_cli(PROMOTE, root))
    assert run.code == 0, run.err
    assert (root / ENDPOINT).stat().st_mode & 0o777 == 0o640
    assert not [p for p in (root / "stacks/endpoints").iterdir() if "mlplan-tmp" in p.name]


@pytest.mark.parametrize("changed", [ENDPOINT, BLUE], ids=["endpoint-file", "retired-file"])
def test_02_a_file_changed_since_read_is_refused(tmp_path: Path, changed: str) -> None:
    root = project(tmp_path / "p")
    state, _ = load_state(root, "test")
    plan = promote.promotion(state, "my-endpoint", "green", steps=(100,))
    retire = plan.steps[-1]
    expected = {f: (root / f).read_bytes() for f in (ENDPOINT, BLUE)}
    with (root / changed).open("a") as handle:  # the user's edit while promote runs
        handle.write("# added by the user\n")
    edited = {f: (root / f).read_bytes() for f in (ENDPOINT, BLUE)}
    with pytest.raises(promote_io.PromoteError,
                       match="changed since mlplan read it; nothing was written"):
        promote_io.apply_step(root, ENDPOINT, retire, "blue=100", "green", [BLUE], expected)
    assert {f: (root / f).read_bytes() for f in (ENDPOINT, BLUE)} == edited


def test_03_rollback_after_two_steps_restores_the_starting_split(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    for _ in range(2):
        run = run_cli([*PROMOTE, "--steps", "10,50,100"], root)
        check_output(run)
        assert run.code == 0, run.err
    assert "green: 50" in (root / ENDPOINT).read_text()
    run = run_cli(["rollback", "my-endpoint", "--stack", "test"], root)
    check_output(run)
    assert run.code == 0, run.err
    assert "all live traffic back to blue 100%" in run.out
    plan = run_cli(["plan", "--stack", "test"], root)
    assert plan.code == 0, plan.err
    assert "traffic: blue 100%, green 0%" in plan.out


def test_03_a_retire_cut_short_is_finished_by_promote_and_refused_by_rollback(
        tmp_path: Path) -> None:
    """After the retire step deleted blue's file but before it removed the tags (a kill
    between (2) and (3)), promote finishes it and rollback says why it cannot roll back."""
    root = project(tmp_path / "p")
    run = run_cli([*PROMOTE, "--steps", "100"], root)
    assert run.code == 0, run.err
    text = (root / ENDPOINT).read_text()
    assert "mlplan-promotion-from: blue=100" in text
    assert "traffic: {blue: 0, green: 100}" in text
    (root / ENDPOINT).write_text(
        text.replace("traffic: {blue: 0, green: 100}", "traffic: {green: 100}"))
    (root / BLUE).unlink()
    rollback = run_cli(["rollback", "my-endpoint", "--stack", "test"], root)
    check_output(rollback)
    assert rollback.code == 1
    assert "was retired already (blue deleted)" in rollback.err
    again = run_cli([*PROMOTE, "--steps", "100"], root)
    check_output(again)
    assert again.code == 0, again.err
    assert "mlplan-promotion" not in (root / ENDPOINT).read_text()
    assert run_cli(["plan", "--stack", "test"], root).code == 0


def test_10_promote_on_a_file_with_several_documents(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    blue = (root / BLUE).read_text()
    (root / BLUE).unlink()
    with (root / ENDPOINT).open("a") as handle:
        handle.write("---\n" + blue)
    assert run_cli(["plan", "--stack", "test"], root).code == 0
    run = run_cli(PROMOTE, root)
    check_output(run)
    assert run.code == 1
    assert "endpoint.yml holds 2 YAML documents; promote edits a file with just the endpoint" \
        in run.err


def test_11_promote_on_a_syntax_error_shows_it(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    (root / ENDPOINT).write_text((root / ENDPOINT).read_text() + "traffic: [\n")
    for args in (PROMOTE, ["rollback", "my-endpoint", "--stack", "test"]):
        run = run_cli(args, root)
        check_output(run)
        assert run.code == 1
        assert "endpoint.yml:" in run.err and "error MLP100: YAML syntax error" in run.err, \
            run.err

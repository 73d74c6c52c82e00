"""Containment (issue 27 items 1-4): every path mlplan reads from or writes for the project
goes through ``targets.containment``: ``resolve`` for a named path, ``files_below`` for every
entry of a model or code folder (``lstat``, links out of the project refused, sizes from
``stat`` before reading). Tested at the mechanism and through ``mlplan plan`` on a copy of the
example stack, on both targets."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mlplan.edge.cli import main
from mlplan.targets import containment
from mlplan.targets.kubernetes import files as local_files
from mlplan.targets.kubernetes.choices import CONFIGMAP_BUDGET_BYTES
from tests.targets.projects import copy_example_project


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("host secret\n")
    return secret


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's example project (Docker dev stack)."""
    monkeypatch.delenv(containment.OUTSIDE_ROOT_ENV, raising=False)
    project = copy_example_project(tmp_path)
    monkeypatch.chdir(project)
    return project


def _link(path: Path, target: Path | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


# name, entries to make below the folder (name -> "file" | "link-out" | "link-in" | "fifo"),
# relative paths expected back, problems expected (substrings, in order)
WALKS: list[tuple[str, dict[str, str], list[str], list[str]]] = [
    ("plain files, sorted", {"b.txt": "file", "a/x.bin": "file"}, ["a/x.bin", "b.txt"], []),
    ("a link to a file outside is refused and not read", {"extra.bin": "link-out",
                                                          "ok.txt": "file"},
     ["ok.txt"], ["'f/extra.bin' links to"]),
    ("a link inside the project stands for its target", {"alias.txt": "link-in"},
     ["alias.txt"], []),
    ("a link to a folder outside is refused", {"sub": "link-out-dir"}, [],
     ["'f/sub' links to"]),
    ("a FIFO is refused, never opened", {"pipe": "fifo"}, [], ["'f/pipe' is not a regular"]),
    ("a broken link is said", {"gone": "link-broken"}, [], ["'f/gone' is a broken link"]),
]


@pytest.mark.parametrize(("entries", "files", "problems"), [w[1:] for w in WALKS],
                         ids=[w[0] for w in WALKS])
def test_files_below(tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch,
                     entries: dict[str, str], files: list[str], problems: list[str]) -> None:
    monkeypatch.delenv(containment.OUTSIDE_ROOT_ENV, raising=False)
    project = tmp_path / "p"
    (project / "f").mkdir(parents=True)
    (project / "inside.txt").write_text("inside")
    makers: dict[str, Callable[[Path], None]] = {
        "file": lambda p: (p.parent.mkdir(parents=True, exist_ok=True), p.write_text("x")),
        "link-out": lambda p: _link(p, outside),
        "link-out-dir": lambda p: _link(p, outside.parent),
        "link-in": lambda p: _link(p, project / "inside.txt"),
        "link-broken": lambda p: _link(p, project / "nothing"),
        "fifo": lambda p: os.mkfifo(p),
    }
    for name, kind in entries.items():
        makers[kind](project / "f" / name)
    found, refused = containment.files_below(project, "f")
    assert [f.relative for f in found] == files
    assert len(refused) == len(problems)
    for text, problem in zip(problems, refused, strict=True):
        assert text in problem
    monkeypatch.setenv(containment.OUTSIDE_ROOT_ENV, "1")  # a trusted checkout: links followed
    if "link-out" in entries.values():
        assert "extra.bin" in [f.relative for f in containment.files_below(project, "f")[0]]


def test_pack_reads_no_link_out_of_the_project(tmp_path: Path, outside: Path) -> None:
    project = tmp_path / "p"
    (project / "model").mkdir(parents=True)
    (project / "model" / "w.txt").write_text("weights")
    _link(project / "model" / "extra.bin", outside)
    packed = local_files.pack(project, "model")
    assert dict(packed.data) == {"w.txt": "weights"}
    assert "host secret" not in repr(packed)


def test_pack_states_sizes_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """A folder over the ConfigMap budget is sized with ``stat`` and never opened."""
    big = tmp_path / "model" / "big.bin"
    big.parent.mkdir()
    with big.open("wb") as handle:  # sparse: no disk used
        handle.truncate(CONFIGMAP_BUDGET_BYTES * 300)
    opened: list[str] = []
    real_open = open

    def spy(file: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        opened.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", spy)
    packed = local_files.pack(tmp_path, "model")
    assert packed.size == CONFIGMAP_BUDGET_BYTES * 300
    assert packed.data == packed.binary == () and opened == []


def _stack(root: Path, target: str) -> None:
    stack = root / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("mlplan:target: docker",
                                               f"mlplan:target: {target}"))


# name, change to the project, expected text in stderr (file:line field + message)
PLANS: list[tuple[str, Callable[[Path, Path], None], list[str]]] = [
    ("a model file linking outside",
     lambda r, o: _link(r / "stacks/model/sample-model/extra.bin", o),
     ["stacks/endpoints/my-endpoint/blue.yml:5 model.path",
      "'stacks/model/sample-model/extra.bin' links to"]),
    ("a scoring helper linking outside",
     lambda r, o: _link(r / "stacks/score/helper.py", o),
     ["blue.yml:7 code_configuration.code", "'stacks/score/helper.py' links to"]),
    ("build context at the host's root",
     lambda r, o: _replace(r, "  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-"
                              "inference:20250101.v1",
                           "  build: {path: /, dockerfile_path: Dockerfile}"),
     ["blue.yml:10 environment.build.path", "'/' is outside the project root"]),
    ("a Dockerfile outside the project",
     lambda r, o: _replace(r, "  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-"
                              "inference:20250101.v1",
                           "  build: {path: ../../score, dockerfile_path: "
                           "../../../../tmp/evil.Dockerfile}"),
     ["environment.build.dockerfile_path", "is outside the project root"]),
]


def _replace(root: Path, old: str, new: str) -> None:
    blue = root / "stacks" / "endpoints" / "my-endpoint" / "blue.yml"
    text = blue.read_text()
    assert old in text
    blue.write_text(text.replace(old, new))


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
@pytest.mark.parametrize(("change", "expected"), [p[1:] for p in PLANS], ids=[p[0] for p in PLANS])
def test_plan_refuses_what_leaves_the_project(root: Path, outside: Path, target: str,
                                              change: Callable[[Path, Path], None],
                                              expected: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _stack(root, target)
    change(root, outside)
    assert main(["plan", "--stack", "dev"]) == 1
    err = capsys.readouterr().err
    for text in expected:
        assert text in err
    assert "host secret" not in err


def test_links_inside_the_project_plan_cleanly(root: Path, capsys: pytest.CaptureFixture[str]
                                               ) -> None:
    _stack(root, "kubernetes")
    _link(root / "stacks/score/alias.py", root / "stacks/score/score.py")
    assert main(["plan", "--stack", "dev"]) == 0, capsys.readouterr().err


def test_review_base_sizes_files_before_reading(root: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A base file over 4 MiB is refused by its size in the commit's listing, as one on disk
    is: never handed to ``git cat-file`` or the YAML parser."""
    import subprocess

    big = root / "stacks" / "endpoints" / "my-endpoint" / "big.yml"
    big.write_text("# " + "x" * (5 * 1024 * 1024) + "\n")
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.email=ci@example.com", "-c", "user.name=CI", "commit", "-qm", "b"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    big.unlink()
    from mlplan.edge import review_io

    tree = review_io.GitTree.open(root, "HEAD")
    assert tree.size("stacks/endpoints/my-endpoint/big.yml") > 5 * 1024 * 1024
    tree.prefetch(["stacks/endpoints/my-endpoint/big.yml"])
    assert "stacks/endpoints/my-endpoint/big.yml" not in tree._texts
    main(["review", "--base", "HEAD", "--stack", "dev"])  # the base's problems are reported
    err = capsys.readouterr().err
    assert "big.yml" in err and "is over 4 MiB" in err, err


@pytest.mark.parametrize(("value", "expected"), [
    ("../../../../tmp/x", "is outside the project root"),
    ("/tmp/x", "is outside the project root"),
    ("build/manifests", "pulumi stack output --show-secrets <endpoint>-secrets | kubectl apply"),
], ids=["parent escape", "absolute", "inside: told how to create the withheld Secrets"])
def test_render_yaml_to_is_contained(root: Path, value: str, expected: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _stack(root, "kubernetes")
    stack = root / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text() + f"  mlplan:kubernetes:\n    renderYamlTo: {value}\n")
    code = main(["plan", "--stack", "dev"])
    err = capsys.readouterr().err
    assert "stacks/Pulumi.dev.yaml:18 mlplan:kubernetes.renderYamlTo" in err
    assert expected in err
    assert code == (0 if value == "build/manifests" else 1)


def test_withhold_secrets_is_mlplan_s_own(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Set by hand while applying, no Secret would be registered and every Deployment would
    wait for them: an error at the line (the program sets it only with renderYamlTo)."""
    _stack(root, "kubernetes")
    stack = root / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text() + "  mlplan:kubernetes:\n    withholdSecrets: true\n")
    assert main(["plan", "--stack", "dev"]) == 1
    err = capsys.readouterr().err
    assert "stacks/Pulumi.dev.yaml:18 mlplan:kubernetes.withholdSecrets" in err, err
    assert "mlplan's own" in err

"""``mlplan review`` end to end: golden reviews of named scenarios (two project folders, base and
head), a real two-commit git repository, the Pulumi preview fixtures, exit codes.

Each scenario writes a small self-contained project (Pulumi.yaml, stacks/Pulumi.dev.yaml, one
endpoint with blue/green deployments, a model and score.py) for base and head into tmp_path and
runs ``mlplan review --base-dir ../base`` from the head. Goldens live in
tests/render/golden/review/ and are rewritten only by ``pytest --update-goldens``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlplan.edge import io, review_io
from mlplan.edge.cli import main

REPO = Path(__file__).resolve().parents[1]
PREVIEW = REPO / "tests" / "fixtures" / "preview"
IMAGE_1 = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250101.v1"
IMAGE_2 = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:20250601.v1"
DEPLOYMENT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json"
ENDPOINT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json"
EP = "stacks/endpoints/my-endpoint"

Files = dict[str, str]


def stack_file(target: str = "docker", family: int = 64, total: int = 100) -> str:
    return (f"config:\n  mlplan:target: {target}\n  mlplan:environment: development\n"
            f"  mlplan:endpoints:\n    - stacks/endpoints\n"
            f"  mlplan:quota:\n    standardDSv2Family: {family}\n    total: {total}\n")


def endpoint(traffic: dict[str, int], mirror: dict[str, int] | None = None) -> str:
    text = f"$schema: {ENDPOINT_SCHEMA}\nname: my-endpoint\nauth_mode: key\ntraffic:\n"
    text += "".join(f"  {name}: {pct}\n" for name, pct in traffic.items())
    if mirror:
        text += "mirror_traffic:\n" + "".join(f"  {n}: {p}\n" for n, p in mirror.items())
    return text


def deployment(name: str, count: int = 3, image: str = IMAGE_1,
               sku: str = "Standard_DS3_v2", extra: str = "") -> str:
    return (f"$schema: {DEPLOYMENT_SCHEMA}\nname: {name}\nendpoint_name: my-endpoint\n"
            "model:\n  path: ../../model/sample-model\n"
            "code_configuration:\n  code: ../../score\n  scoring_script: score.py\n"
            f"environment:\n  image: {image}\ninstance_type: {sku}\ninstance_count: {count}\n"
            + extra)


def project(traffic: dict[str, int], deployments: dict[str, str],
            mirror: dict[str, int] | None = None, stack: str | None = None) -> Files:
    files = {
        "Pulumi.yaml": "name: t\nruntime: python\nmain: stacks/\nstackConfigDir: stacks\n",
        "stacks/Pulumi.dev.yaml": stack or stack_file(),
        "stacks/model/sample-model/model.json": "{}\n",
        "stacks/score/score.py": "def init():\n    pass\n\n\ndef run(data):\n    return data\n",
        f"{EP}/endpoint.yml": endpoint(traffic, mirror),
    }
    files.update({f"{EP}/{name}.yml": text for name, text in deployments.items()})
    return files


def write(root: Path, files: Files) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


BLUE, GREEN = deployment("blue"), deployment("green")
BLUE_ONLY = project({"blue": 100}, {"blue": BLUE})
GREEN_AT_0 = project({"blue": 100, "green": 0}, {"blue": BLUE, "green": GREEN})
MIRROR_10 = project({"blue": 100, "green": 0}, {"blue": BLUE, "green": GREEN}, {"green": 10})
SPLIT_90_10 = project({"blue": 90, "green": 10}, {"blue": BLUE, "green": GREEN})
SPLIT_0_100 = project({"blue": 0, "green": 100}, {"blue": BLUE, "green": GREEN})
GREEN_ONLY = project({"green": 100}, {"green": GREEN})
TEN = project({"blue": 100}, {"blue": deployment("blue", 10)})
TEN_K8S = project({"blue": 100}, {"blue": deployment("blue", 10)},
                  stack=stack_file("kubernetes"))
TEN_K8S_NEW_IMAGE = project({"blue": 100}, {"blue": deployment("blue", 10, IMAGE_2)},
                            stack=stack_file("kubernetes"))

# (name, base files or None, head files or None, extra args, golden, exit code)
SCENARIOS: list[tuple[str, Files | None, Files | None, list[str], str, int]] = [
    ("add green at 0%", BLUE_ONLY, GREEN_AT_0, [], "add-green-at-0.md", 2),
    ("mirror 10% to green", GREEN_AT_0, MIRROR_10, [], "mirror-10.md", 2),
    ("canary 90/10", MIRROR_10, SPLIT_90_10, [], "split-90-10.md", 2),
    ("promote 0/100", SPLIT_90_10, SPLIT_0_100, [], "split-0-100.md", 2),
    ("delete blue after promotion", SPLIT_0_100, GREEN_ONLY, [], "delete-blue.md", 2),
    ("delete blue with live traffic in one step", SPLIT_90_10, GREEN_ONLY, [],
     "delete-blue-live.md", 2),
    ("image change on 10 instances (docker)", TEN,
     project({"blue": 100}, {"blue": deployment("blue", 10, IMAGE_2)}), [],
     "image-change-10.md", 2),
    ("image change on 10 instances (kubernetes)", TEN_K8S, TEN_K8S_NEW_IMAGE, [],
     "image-change-10-kubernetes.md", 2),
    ("scale 3 -> 10", BLUE_ONLY, project({"blue": 100}, {"blue": deployment("blue", 10)}), [],
     "scale-3-10.md", 2),
    ("scale 3 -> 10 with an image change", BLUE_ONLY,
     project({"blue": 100}, {"blue": deployment("blue", 10, IMAGE_2)}), [],
     "scale-and-image.md", 2),
    ("instance type CPU -> GPU", BLUE_ONLY,
     project({"blue": 100}, {"blue": deployment("blue", sku="Standard_NC6s_v3")}), [],
     "cpu-to-gpu.md", 2),
    ("over-quota change", SPLIT_90_10,
     project({"blue": 90, "green": 10}, {"blue": deployment("blue", 12), "green": GREEN}), [],
     "over-quota.md", 1),
    ("broken split", SPLIT_90_10,
     project({"blue": 90, "green": 20}, {"blue": BLUE, "green": GREEN}), [],
     "broken-split.md", 1),
    ("renamed deployment", SPLIT_0_100,
     project({"blue": 0, "green2": 100}, {"blue": BLUE, "green": deployment("green2")}), [],
     "rename.md", 2),
    ("new stack", None, SPLIT_90_10, [], "new-stack.md", 2),
    ("removed stack", SPLIT_90_10, None, [], "removed-stack.md", 2),
    ("no changes", SPLIT_90_10, SPLIT_90_10, [], "no-changes.md", 0),
    ("canary 90/10 as text", MIRROR_10, SPLIT_90_10, ["--format", "text"], "split-90-10.txt", 2),
    ("canary 90/10 as json", MIRROR_10, SPLIT_90_10, ["--format", "json"], "split-90-10.json",
     2),
    ("scale and image as text", BLUE_ONLY,
     project({"blue": 100}, {"blue": deployment("blue", 10, IMAGE_2)}), ["--format", "text"],
     "scale-and-image.txt", 2),
]


def _setup(tmp_path: Path, base: Files | None, head: Files | None) -> Path:
    """base/ and head/ projects; a missing side keeps only Pulumi.yaml (the stack is gone)."""
    for side, files in (("base", base), ("head", head)):
        write(tmp_path / side, files or {"Pulumi.yaml": "name: t\nruntime: python\n"
                                                        "stackConfigDir: stacks\n"})
    return tmp_path / "head"


def review(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(["review", *args])
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("name", "base", "head", "args", "golden_name", "expected"), SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_golden_reviews(name: str, base: Files | None, head: Files | None, args: list[str],
                        golden_name: str, expected: int, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                        golden) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(_setup(tmp_path, base, head))
    code, out, err = review(["--base-dir", "../base", "--detailed-exitcode",
                             "--format", "markdown", *args], capsys)
    assert "Traceback" not in err
    text = out + (f"--- stderr ---\n{err}" if err and "--format" in args
                  and args[args.index("--format") + 1] == "text" else "")
    golden(f"review/{golden_name}", text)
    assert code == expected, err


PREVIEWS = [
    ("preview --json, markdown", "docker-image-change.json", "markdown",
     "preview-docker-image-change.md"),
    ("streaming events with a policy event, markdown", "docker-image-change.events.jsonl",
     "markdown", "preview-docker-image-change-events.md"),
    ("streaming events, json", "docker-image-change.events.jsonl", "json",
     "preview-docker-image-change-events.json"),
    ("recorded from the real engine: the sample on Kubernetes, markdown",
     "kubernetes-dev.recorded.json", "markdown", "preview-kubernetes-dev-recorded.md"),
]


@pytest.mark.parametrize(("name", "fixture", "fmt", "golden_name"), PREVIEWS,
                         ids=[p[0] for p in PREVIEWS])
def test_preview_fixtures_render(name: str, fixture: str, fmt: str, golden_name: str,
                                 monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str],
                                 golden) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(PREVIEW)
    code, out, _err = review(["--preview-json", fixture, "--format", fmt,
                              "--detailed-exitcode"], capsys)
    assert code == 2
    golden(f"review/{golden_name}", out)


def test_preview_groups_blue_by_batch_and_reads_the_policy_event(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(PREVIEW)
    _code, out, _err = review(["--preview-json", "docker-image-change.events.jsonl",
                               "--format", "json"], capsys)
    (stack,) = json.loads(out)["stacks"]
    (endpoint,) = stack["endpoints"]
    blue, green = endpoint["deployments"]
    assert (blue["name"], blue["actions"], green["actions"]) == (
        "blue", ["delete", "create"], ["no-op"])
    (roll,) = blue["steps"]
    assert [[i["name"] for i in b["instances"]] for b in roll["batches"]] == [
        ["my-endpoint-blue-0"], ["my-endpoint-blue-1"], ["my-endpoint-blue-2"]]
    assert endpoint["traffic"]["live"] == {"before": {"blue": 90, "green": 10},
                                           "after": {"blue": 90, "green": 10}}
    (policy,) = stack["diagnostics"]
    assert (policy["code"], policy["severity"]) == ("MLP501", "warning")
    assert stack["summary"]["quota"] == {"before": 28, "after": 28, "limit": 100, "over": [],
                                         "peak_over": []}


def test_both_preview_forms_give_the_same_changes(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(PREVIEW)
    stacks = []
    for fixture in ("docker-image-change.json", "docker-image-change.events.jsonl"):
        _code, out, _err = review(["--preview-json", fixture, "--format", "json"], capsys)
        stacks.append(json.loads(out)["stacks"][0])
    a, b = stacks
    assert a["endpoints"] == b["endpoints"]
    assert a["other_resources"] == b["other_resources"]
    assert a["quota"] == b["quota"]


# --- git -------------------------------------------------------------------------------------


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True)
    return done.stdout


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose project lives in ``project/`` (not the top), two commits:
    blue only at 100%, then green added at 10% with blue at 90%."""
    root = tmp_path / "repo"
    project_dir = root / "project"
    project_dir.mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "config", "user.name", "mlplan test")
    git(root, "config", "user.email", "test@mlplan.invalid")
    git(root, "config", "commit.gpgsign", "false")
    write(project_dir, BLUE_ONLY)
    commit_all(root, "base: blue at 100%")
    write(project_dir, SPLIT_90_10)
    commit_all(root, "head: green at 10%")
    return project_dir


def test_review_against_head_1_in_a_git_repository(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(repo / "stacks")  # anywhere inside the project
    code, out, err = review(["--base", "HEAD~1", "--format", "json", "--detailed-exitcode"],
                            capsys)
    assert (code, err) == (2, "")
    doc = json.loads(out)
    sha = git(repo, "rev-parse", "--short=7", "HEAD~1").strip()
    assert doc["base"] == f"HEAD~1 ({sha})"
    (stack,) = doc["stacks"]
    (endpoint,) = stack["endpoints"]
    assert endpoint["actions"] == ["update"]
    assert [(d["name"], d["actions"]) for d in endpoint["deployments"]] == [
        ("blue", ["no-op"]), ("green", ["create"])]
    assert endpoint["traffic"]["stages"] == [{"stage": "canary", "deployment": "green"}]
    assert stack["summary"]["quota"] == {"before": 16, "after": 32, "limit": 100, "over": [],
                                         "peak_over": []}


def test_git_base_reads_the_same_as_a_folder_copy(repo: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The review from ``--base HEAD~1`` equals the one from a folder holding HEAD~1's files."""
    base_dir = tmp_path / "base-copy"
    write(base_dir, BLUE_ONLY)
    monkeypatch.chdir(repo)
    _c, from_git, _e = review(["--base", "HEAD~1", "--format", "json"], capsys)
    _c, from_dir, _e = review(["--base-dir", str(base_dir), "--format", "json"], capsys)
    a, b = json.loads(from_git), json.loads(from_dir)
    assert a["stacks"] == b["stacks"]


def test_git_tree_loads_like_the_working_tree(repo: Path) -> None:
    """``load_stack_at`` (git, no checkout) and ``io.load_stack`` (disk) agree, also on errors."""
    (repo / "stacks" / "Pulumi.broken.yaml").write_text(
        "config:\n  mlplan:endpoints: [stacks/endpoints, stacks/nowhere]\n  mlplan:qouta: {}\n")
    (repo / EP / "bad.yml").write_text(
        "name: bad\nendpoint_name: my-endpoint\ninstance_type: Standard_DS3v2\n"
        "instance_count: 1\nmodel: {path: missing}\n")
    commit_all(repo.parent, "a broken stack")
    tree = review_io.GitTree.open(repo, "HEAD")
    assert review_io.stack_names_at(tree) == review_io.stack_names_in(repo) == ["broken", "dev"]
    for stack in ("dev", "broken"):
        at_git, on_disk = review_io.load_stack_at(tree, stack), io.load_stack(repo, stack)
        assert at_git is not None
        assert at_git.endpoints == on_disk.endpoints
        assert at_git.settings == on_disk.settings
        assert [str(d) for d in at_git.diagnostics] == [
            str(d).replace(f"(looked in {repo})", "(looked in .)") for d in on_disk.diagnostics]
    assert review_io.load_stack_at(tree, "nope") is None


TRICKY_NAMES = ["stacks/endpoints/a/b.yml", "stacks/endpoints/a-c.yml", "stacks/endpoints/a.yml",
                "stacks/endpoints/a/a/z.yaml", "stacks/endpoints/B.yml", "stacks/endpoints/.yml",
                "stacks/endpoints/..yml", "stacks/endpoints/x.yml.txt", "stacks/endpoints/y.",
                "stacks/endpoints/dir.yml/inner.yaml", "stacks/endpoints/ä.yml",
                "stacks/other.yml", "stacks/endpoints2/c.yml", "top.yaml"]


@pytest.mark.parametrize("folder", [".", "stacks", "stacks/endpoints", "stacks/endpoints/a"])
def test_git_tree_lists_folder_files_as_rglob_does(repo: Path, folder: str) -> None:
    """``TreePath.files_below`` (one pass over the tree's file list, used by ``io``) is the
    sorted ``rglob`` of YAML files, whatever the names."""
    for name in TRICKY_NAMES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x: 1\n")
    commit_all(repo.parent, "tricky names")
    path = review_io.GitTree.open(repo, "HEAD").path() / folder
    suffixes = (".yml", ".yaml")
    expected = sorted(p for p in path.rglob("*") if p.suffix in suffixes and p.is_file())
    assert path.files_below(suffixes) == expected  # type: ignore[attr-defined]
    assert len(expected) > (1 if folder.endswith("/a") else 5)


def test_unknown_git_ref_is_an_error(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(repo)
    code, out, err = review(["--base", "no-such-branch"], capsys)
    assert (code, out) == (1, "")
    assert "unknown git ref 'no-such-branch'" in err


# --- exit codes and usage --------------------------------------------------------------------

EXIT_CODES = [
    ("no changes, detailed", SPLIT_90_10, SPLIT_90_10, ["--detailed-exitcode"], 0),
    ("changes, not detailed", SPLIT_90_10, SPLIT_0_100, [], 0),
    ("changes, detailed", SPLIT_90_10, SPLIT_0_100, ["--detailed-exitcode"], 2),
    ("head errors win over changes", SPLIT_90_10,
     project({"blue": 90, "green": 20}, {"blue": BLUE, "green": GREEN}),
     ["--detailed-exitcode"], 1),
    ("base errors alone are not an error", project({"blue": 90, "green": 20},
                                                    {"blue": BLUE, "green": GREEN}),
     SPLIT_90_10, [], 0),
    ("unknown stack", SPLIT_90_10, SPLIT_90_10, ["--stack", "prod"], 1),
    ("one stack by name", SPLIT_90_10, SPLIT_0_100, ["--stack", "dev", "--detailed-exitcode"], 2),
    ("--base and --base-dir together is a usage error", SPLIT_90_10, SPLIT_90_10,
     ["--base", "HEAD"], 1),
    ("bad format is a usage error", SPLIT_90_10, SPLIT_90_10, ["--format", "html"], 1),
]


@pytest.mark.parametrize(("name", "base", "head", "args", "expected"), EXIT_CODES,
                         ids=[e[0] for e in EXIT_CODES])
def test_exit_codes(name: str, base: Files, head: Files, args: list[str], expected: int,
                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(_setup(tmp_path, base, head))
    code, _out, err = review(["--base-dir", "../base", *args], capsys)
    assert code == expected, err
    assert "Traceback" not in err


def test_a_base_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = review([], capsys)
    assert code == 1 and "one of the arguments --base --base-dir --preview-json" in err


def test_missing_base_dir_and_bad_preview_are_errors(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(_setup(tmp_path, SPLIT_90_10, SPLIT_90_10))
    assert review(["--base-dir", "../nowhere"], capsys)[0] == 1
    (tmp_path / "bad.json").write_text("{not json\n")
    code, _out, err = review(["--preview-json", str(tmp_path / "bad.json")], capsys)
    assert code == 1 and "line 1: not JSON" in err
    (tmp_path / "other.json").write_text('{"hello": 1}\n')
    assert review(["--preview-json", str(tmp_path / "other.json")], capsys)[0] == 1


def test_secrets_never_reach_the_review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    base = project({"blue": 100}, {"blue": deployment(
        "blue", extra="environment_variables:\n  API_KEY: old-secret-value\n  MODE: a\n")})
    head = project({"blue": 100}, {"blue": deployment(
        "blue", extra="environment_variables:\n  API_KEY: new-secret-value\n  MODE: b\n")})
    monkeypatch.chdir(_setup(tmp_path, base, head))
    for fmt in ("markdown", "text", "json"):
        _code, out, err = review(["--base-dir", "../base", "--format", fmt], capsys)
        assert "secret-value" not in out + err
        assert "(sensitive)" in out and "MODE" in out


def test_review_never_imports_pulumi(tmp_path: Path) -> None:
    probe = ("import sys; from mlplan.edge.cli import main; "
             "code = main(['review', '--preview-json', sys.argv[1], '--format', 'json']); "
             "assert code == 0, code; "
             "assert not [m for m in sys.modules if m.startswith('pulumi')], 'pulumi imported'")
    done = subprocess.run([sys.executable, "-c", probe,
                           str(PREVIEW / "docker-image-change.events.jsonl")], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_colour_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI colours text only on a tty (never under pytest); the renderer on request."""
    from mlplan.render import review_text

    monkeypatch.chdir(_setup(tmp_path, MIRROR_10, SPLIT_0_100))
    _code, out, _err = review(["--base-dir", "../base", "--format", "json"], capsys)
    doc = json.loads(out)
    assert "\033[" not in review_text.render_review(doc)
    assert "\033[33m~\033[0m endpoint" in review_text.render_review(doc, colour=True)
    _code, text, _err = review(["--base-dir", "../base"], capsys)
    assert "\033[" not in text


RELATIVE_NAMES = ["a.yml", "sub/dir/a.yml", "sub/dir", "sub/dirx/a.yml", "sub/a.yml", "./a",
                  "a/./b", "a//b", "a/../b", "..", "../x", "/abs", "sub/dir/", ".", "a/",
                  "sub/dir/x/../y", "sub/dir/.hidden"]


@pytest.mark.parametrize("top", [".", "sub/dir", "sub"])
def test_tree_names_relative_to_the_project_as_relpath(top: str) -> None:
    """``GitTree.open`` names files relative to the project folder as ``relpath`` does; the
    usual name (normal, below the folder) without ``relpath``'s ``abspath`` calls."""
    import posixpath

    assert {n: review_io._relative(n, top) for n in RELATIVE_NAMES} == {
        n: posixpath.relpath(n, top) for n in RELATIVE_NAMES}

"""README.md cannot drift: every fenced block is checked against the bundled stacks.

Each block is one of (the marker is an HTML comment on the line before the fence; GitHub does
not show it):

- a block starting with ``$ mlplan ...``: the command runs on a copy of the project and its
  stdout must be the rest of the block, exactly;
- ``<!-- readme-test: stdout CMD [| excerpt] [| edit FILE OLD -> NEW] -->`` /
  ``<!-- readme-test: stderr ... -->``: the block is CMD's stdout (stderr), whole or, with
  ``excerpt``, a run of its lines; ``edit`` first replaces OLD by NEW in FILE of the copy;
- ``<!-- readme-test: usage mlplan SUB -->``: a synopsis; its options are exactly SUB's;
- ``<!-- readme-test: run -->``: shell commands, run in a git copy of the project (with
  ``origin/main`` at its commit) with the virtualenv on PATH; each must exit 0;
- ``<!-- readme-test: paths -->``: a file listing; the first word of each unindented line exists;
- ``<!-- readme-test: not here: REASON -->``: not executable in this suite (a Docker host, the
  Pulumi engine, the network); the reason says why and where it is covered. These are listed by
  ``test_blocks_not_run_here_say_why`` and reviewed like code.

A block without a marker fails ``test_every_block_is_checked``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlplan.domain.codes import catalogue
from mlplan.edge.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
MARKER = re.compile(r"^<!-- readme-test: (.+?) -->$")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    body: str
    marker: str  # "" when none

    @property
    def name(self) -> str:
        return f"README.md:{self.line}"


def blocks() -> list[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            lang = lines[i][3:].strip()
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            prev = lines[i - 1] if i else ""
            match = MARKER.match(prev.strip())
            found.append(Block(i + 1, lang, "\n".join(lines[i + 1:end]) + "\n",
                               match.group(1) if match else ""))
            i = end + 1
        else:
            i += 1
    return found


BLOCKS = blocks()


def kind(block: Block) -> str:
    if block.body.startswith("$ "):
        return "session"
    return block.marker.split(":", 1)[0].split(" ", 1)[0] if block.marker else ""


def of_kind(*kinds: str) -> list[Block]:
    return [b for b in BLOCKS if kind(b) in kinds]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git copy of the tracked files (with the working tree's edits), origin/main at HEAD."""
    root = tmp_path_factory.mktemp("readme") / "project"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
    git = ["git", "-C", str(root), "-c", "user.email=readme@example.com", "-c", "user.name=readme"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "readme"], check=True)
    subprocess.run([*git, "update-ref", "refs/remotes/origin/main", "HEAD"], check=True)
    return root


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "NO_COLOR": "1",
            "COLUMNS": "200"}


def mlplan(project: Path, command: str, edit: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``command`` (an ``mlplan ...`` line) in a fresh copy of ``project``."""
    work = project.parent / f"run-{abs(hash((command, edit)))}"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(project, work, symlinks=True)
    if edit:
        file, change = edit.split(" ", 1)
        old, new = (part.strip() for part in change.split("->"))
        text = (work / file).read_text(encoding="utf-8")
        assert old in text, f"edit: {old!r} not in {file}"
        (work / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    args = shlex.split(command)
    assert args[0] == "mlplan", command
    return subprocess.run([str(BIN / "mlplan"), *args[1:]], cwd=work, env=env(),
                          capture_output=True, text=True, timeout=60, check=False)


def test_every_block_is_checked() -> None:
    known = {"session", "stdout", "stderr", "usage", "run", "paths", "not"}
    unchecked = [f"{b.name} ({b.body.splitlines()[0][:60]!r})" for b in BLOCKS
                 if kind(b) not in known]
    assert unchecked == [], (
        "README blocks that no test checks; put a marker on the line before the fence, e.g. "
        "'<!-- readme-test: not here: needs a Docker host -->' (see tests/test_readme.py)")


def test_blocks_not_run_here_say_why() -> None:
    skipped = {b.name: b.marker.split(":", 2)[-1].strip() for b in of_kind("not")}
    for name, reason in skipped.items():
        assert len(reason) >= 20, f"{name}: say why it cannot run here and what covers it"
    print("README blocks not executed here:", *(f"{n}: {r}" for n, r in skipped.items()),
          sep="\n  ")


@pytest.mark.parametrize("block", of_kind("session"), ids=lambda b: b.name)
def test_sessions_print_what_the_readme_shows(project: Path, block: Block) -> None:
    command, _, expected = block.body.partition("\n")
    proc = mlplan(project, command.removeprefix("$ ").split("  #")[0])
    assert proc.stdout == expected, proc.stderr


@pytest.mark.parametrize("block", of_kind("stdout", "stderr"), ids=lambda b: b.name)
def test_outputs_are_what_the_commands_print(project: Path, block: Block) -> None:
    stream, _, spec = block.marker.partition(" ")
    command, *options = (part.strip() for part in spec.split("|"))
    edit = next((o.removeprefix("edit ") for o in options if o.startswith("edit ")), "")
    proc = mlplan(project, command, edit)
    printed = proc.stdout if stream == "stdout" else proc.stderr
    if "excerpt" in options:
        lines, want = printed.splitlines(), block.body.splitlines()
        assert any(lines[i:i + len(want)] == want for i in range(len(lines))), printed
    else:
        assert printed == block.body


@pytest.mark.parametrize("block", of_kind("usage"), ids=lambda b: b.name)
def test_synopses_list_exactly_the_options(block: Block) -> None:
    sub = block.marker.split()[-1]
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    subparser = dict(getattr(commands, "choices", {}))[sub]
    options = {o for a in subparser._actions
               for o in a.option_strings if o.startswith("--") and o != "--help"}
    assert set(re.findall(r"--[a-z][a-z0-9-]*", block.body)) == options


@pytest.mark.parametrize("block", of_kind("run"), ids=lambda b: b.name)
def test_shell_examples_run(project: Path, block: Block) -> None:
    for line in block.body.splitlines():
        command = line.split("  #")[0].strip()
        if not command:
            continue
        proc = subprocess.run(["bash", "-c", command], cwd=project, env=env(),
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, f"{command}: {proc.stderr}"
        target = re.search(r">\s*(\S+)\s*$", command)
        if target:
            assert (project / target.group(1)).read_text().strip(), f"{command}: empty output"


@pytest.mark.parametrize("block", of_kind("paths"), ids=lambda b: b.name)
def test_listed_paths_exist(block: Block) -> None:
    listed = [line.split()[0].rstrip(",") for line in block.body.splitlines()
              if line and not line[0].isspace()]
    missing = [path for path in listed if not (ROOT / path).exists()]
    assert missing == []


def test_rule_table_matches_the_catalogue() -> None:
    rows = re.findall(r"^\| (MLP\d+) \| ([\w-]+) \| (.+?) \| (\w+) \|$", README.read_text(),
                      re.M)
    assert [(code, title, severity) for code, title, _checks, severity in rows] == [
        (r.code, r.title, r.severity) for r in catalogue()]

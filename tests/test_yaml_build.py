"""``tests/engine/yaml/build.sh`` (the YAML language host) keeps the build conventions: a start
line with the usual time, a heartbeat, a done line; "up to date" when its stamp matches; exit 1
with the log's last lines when the compiler fails; exit 2, with the reason written to
``bin/unavailable/pulumi-language-yaml.txt``, when the module proxy refuses.

It runs for real against a fake ``go`` on PATH and a cache in a temporary folder: nothing is
compiled or downloaded and the shared cache is not touched.
"""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "tests" / "engine" / "yaml" / "build.sh"
NAME = "pulumi-language-yaml"

#: `go version` and `go build -o OUT PKG`; FAKE_GO_ERROR makes the build print it and fail.
FAKE_GO = r"""#!/usr/bin/env bash
case "$1" in
  version) echo "go version go1.25.11 linux/amd64" ;;
  build)
    [[ -n "${FAKE_GO_SLEEP:-}" ]] && sleep "$FAKE_GO_SLEEP"
    if [[ -n "${FAKE_GO_ERROR:-}" ]]; then echo "$FAKE_GO_ERROR" >&2; exit 1; fi
    out=""; prev=""
    for a in "$@"; do [[ $prev == -o ]] && out="$a"; prev="$a"; done
    echo "$*" > "$out.args"
    printf '#!/bin/sh\nexit 0\n' > "$out"; chmod +x "$out" ;;
  *) echo "fake go: unexpected: $*" >&2; exit 3 ;;
esac
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text(FAKE_GO)
    go.chmod(go.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path),
            "MLPLAN_ENGINE_CACHE": str(tmp_path / "cache"), "MLPLAN_HEARTBEAT_S": "1"}


def build(env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(BUILD)], env={**env, **extra}, capture_output=True,
                          text=True, timeout=60, check=False, cwd=ROOT)


def bin_dir(env: dict[str, str]) -> Path:
    return Path(env["MLPLAN_ENGINE_CACHE"]) / "v3.272.0" / "bin"


def test_builds_with_progress_then_is_up_to_date(env: dict[str, str]) -> None:
    proc = build(env, FAKE_GO_SLEEP="2.5")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{NAME}: started (usually about 250 s on a quiet 2-core machine)"
    assert any(re.fullmatch(rf"{NAME}: still working \(\d+ s so far, usually about 250 s\)", x)
               for x in lines), proc.stdout
    assert re.fullmatch(rf"{NAME}: done in \d+ s", lines[-1]), proc.stdout
    assert (bin_dir(env) / NAME).is_file() and not (bin_dir(env) / f"{NAME}.tmp").exists()
    args = (bin_dir(env) / f"{NAME}.tmp.args").read_text()
    assert "github.com/pulumi/pulumi-yaml/pkg/version.Version=1.25.0" in args
    assert args.rstrip().endswith("github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml")

    again = build(env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == [NAME, "up", "to", "date"]


@pytest.mark.parametrize(("error", "code", "says"), [
    ("main.go:1: syntax error", 1, "main.go:1: syntax error"),
    ("go: github.com/pulumi/pulumi-yaml@v1.25.0: reading https://proxy.golang.org/x: "
     "403 Forbidden", 2, "the Go module proxy"),
], ids=["compiler error exits 1", "proxy refusal exits 2"])
def test_a_failed_build_says_why(env: dict[str, str], error: str, code: int, says: str) -> None:
    proc = build(env, FAKE_GO_ERROR=error)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert re.search(rf"^{NAME}: FAILED after \d+ s \(exit 1\)$", proc.stdout, re.M), proc.stdout
    assert error in proc.stderr  # the log's last lines
    assert says in proc.stderr
    note = bin_dir(env) / "unavailable" / f"{NAME}.txt"
    assert note.is_file() == (code == 2)
    assert not (bin_dir(env) / f".stamp-{NAME}").exists()


def test_without_go_it_cannot_be_built_here(env: dict[str, str]) -> None:
    proc = build(env, PATH="/usr/bin:/bin")  # the fake go's folder left out
    if Path("/usr/bin/go").exists():
        pytest.skip("a go in /usr/bin")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "go: not on PATH" in proc.stderr
    assert (bin_dir(env) / "unavailable" / f"{NAME}.txt").is_file()

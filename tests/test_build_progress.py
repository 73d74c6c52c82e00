"""The engine build shows progress (issue 17, item 2): every step that builds says what it
starts and how long it usually takes, beats at least every 30 s (1 s here), and ends with a
done or FAILED line; steps whose stamp matches say "up to date". Exit codes are kept.

``tests/engine/build.sh`` runs for real, against a fake ``go`` on PATH (it answers ``version``,
``build -o``, ``mod download`` and ``list -m`` the way the build uses them) and a cache in a
temporary folder, so nothing is compiled or downloaded and the shared cache is not touched.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "tests" / "engine" / "build.sh"
_SUM = re.search(r'^PY_SDK_SUM="([^"]+)"', BUILD.read_text(), re.M)
assert _SUM is not None, "build.sh pins PY_SDK_SUM"
PY_SDK_SUM = _SUM.group(1)
STEPS = ["pulumi", "pulumi-language-python", "pulumi-language-python-exec",
         "pulumi-resource-kubernetes", "pulumi-resource-random", "pulumi-resource-docker"]
USUAL = {"pulumi": 244, "pulumi-resource-kubernetes": 413, "pulumi-resource-random": 96,
         "pulumi-resource-docker": 165}

FAKE_GO = r"""#!/usr/bin/env bash
# A stand-in for `go`, enough for tests/engine/build.sh.
case "$1" in
  version) echo "go version go1.25.11 linux/amd64"; exit 0 ;;
  build)
    out=""; prev=""
    for a in "$@"; do [[ $prev == -o ]] && out="$a"; prev="$a"; done
    name="$(basename "$out")"
    [[ "$name" == "${FAKE_GO_SLOW:-}" ]] && sleep "${FAKE_GO_SLEEP:-0}"
    if [[ "$name" == "${FAKE_GO_FAIL:-}" ]]; then echo "main.go:1: syntax error" >&2; exit 1; fi
    printf '#!/bin/sh\nexit 0\n' > "$out"; chmod +x "$out"; exit 0 ;;
  mod)
    if [[ "$3" == -json ]]; then
      printf '{"Dir": "%s", "Sum": "%s"}\n' "$FAKE_MOD" "$FAKE_SUM"
    fi
    exit 0 ;;
  list)
    case "$*" in
      *Replace.Version*) echo "v0.0.0-20260916201441-96d331c98ff4" ;;
      *Dir*) echo "$FAKE_MOD" ;;
      *Version*) echo "v4.0.0" ;;
    esac
    exit 0 ;;
esac
echo "fake go: unexpected: $*" >&2; exit 3
"""


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text(FAKE_GO)
    go.chmod(go.stat().st_mode | stat.S_IEXEC)
    module = tmp_path / "module"
    for script in ("python/cmd/pulumi-language-python-exec",
                   "python/dist/pulumi-resource-pulumi-python"):
        (module / script).parent.mkdir(parents=True, exist_ok=True)
        (module / script).write_text("#!/bin/sh\n")
    schema_dir = module / "cmd" / "pulumi-resource-kubernetes"
    schema_dir.mkdir(parents=True)
    (schema_dir / "schema.json").write_text("{}")
    (schema_dir / "terraform-mapping.json").write_text("{}")
    python_dir = Path(shutil.which("python3") or "/usr/bin/python3").parent
    return {"PATH": f"{bin_dir}:{python_dir}:/usr/bin:/bin", "HOME": str(tmp_path),
            "MLPLAN_ENGINE_CACHE": str(tmp_path / "cache"), "MLPLAN_HEARTBEAT_S": "1",
            "FAKE_MOD": str(module), "FAKE_SUM": PY_SDK_SUM}


def build(env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(BUILD)], env={**env, **extra}, capture_output=True,
                          text=True, timeout=60, check=False, cwd=ROOT)


def test_every_step_says_what_it_starts_beats_and_ends(fake: dict[str, str]) -> None:
    proc = build(fake, FAKE_GO_SLOW="pulumi", FAKE_GO_SLEEP="2.5")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith("build.sh: Pulumi engine and providers into ")
    assert "about 16 min on a quiet 2-core machine" in out[0]
    for name in STEPS:
        usual = USUAL.get(name, 3)
        started = f"{name}: started (usually about {usual} s on a quiet 2-core machine)"
        assert started in out, proc.stdout
        done = [line for line in out if re.fullmatch(rf"{re.escape(name)}: done in \d+ s", line)]
        assert len(done) == 1, proc.stdout
        assert out.index(started) < out.index(done[0])
    beats = [line for line in out if line.startswith("pulumi: still working (")]
    assert len(beats) >= 2, proc.stdout
    assert re.fullmatch(r"pulumi: still working \(\d+ s so far, usually about 244 s\)", beats[0])
    assert out[-1].startswith("engine binaries in ")


def test_a_second_run_is_up_to_date_and_silent_about_progress(fake: dict[str, str]) -> None:
    assert build(fake).returncode == 0
    proc = build(fake)
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()
            if line.endswith("up to date")] == STEPS
    assert "started" not in proc.stdout and "still working" not in proc.stdout


def test_a_failed_step_says_failed_and_exits_1(fake: dict[str, str]) -> None:
    proc = build(fake, FAKE_GO_FAIL="pulumi-resource-kubernetes")
    assert proc.returncode == 1
    assert re.search(r"^pulumi-resource-kubernetes: FAILED after \d+ s \(exit 1\)$",
                     proc.stdout, re.M), proc.stdout
    assert "build.sh: FAILED: pulumi-resource-kubernetes: command failed" in proc.stderr
    assert "main.go:1: syntax error" in proc.stderr  # the last lines of its log
    assert "pulumi-resource-random: started" not in proc.stdout  # the build stopped there


def test_a_step_that_ends_is_not_held_until_the_next_heartbeat() -> None:
    """With the default 30 s heartbeat, a 0.2 s command returns at once (the helper used to
    wait for its sleeping heartbeat, up to 30 s per step)."""
    script = f'source "{ROOT}/tests/lib/progress.sh"; progress_run quick 1 sleep 0.2'
    env = {k: v for k, v in os.environ.items() if k != "MLPLAN_HEARTBEAT_S"}
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=20,
                          check=False, env=env)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == "quick: started (usually about 1 s on a quiet 2-core machine)"
    assert len(lines) == 2 and re.fullmatch(r"quick: done in [01] s", lines[1])


def test_readme_and_build_sh_quote_the_same_usual_times() -> None:
    text = BUILD.read_text()
    table = dict(re.findall(r"\[([\w-]+)\]=(\d+)", text[text.index("declare -A USUAL_S"):]))
    assert {k: int(v) for k, v in table.items() if k in USUAL} == USUAL
    quoted = ", ".join(f"{name.removeprefix('pulumi-resource-')} {USUAL[name]} s"
                       for name in USUAL)  # "pulumi 244 s, kubernetes 413 s, ..."
    for doc in (ROOT / "README.md", BUILD):
        assert quoted in " ".join(doc.read_text().replace("#", " ").split()), doc
    assert f"about {math.ceil(sum(USUAL.values()) / 60)} min" in " ".join(text.split())  # 16

"""The project skeleton both benchmarks generate: Pulumi.yaml, a model, a scoring script and
the ``bench`` stack file; each benchmark adds its own endpoint files under stacks/endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def scaffold(root: Path, stack_config: str) -> Path:
    """Write the skeleton under ``root``; returns the ``stacks`` folder.

    ``stack_config`` is the YAML under ``config:`` after ``mlplan:endpoints``, e.g.
    ``"  mlplan:quota: {total: 3000}\\n"``.
    """
    (root / "Pulumi.yaml").write_text("name: bench\nruntime: python\nstackConfigDir: stacks\n")
    stacks = root / "stacks"
    (stacks / "model").mkdir(parents=True)
    (stacks / "model" / "model.json").write_text("{}")
    (stacks / "score").mkdir()
    (stacks / "score" / "score.py").write_text("def init(): pass\ndef run(d): return d\n")
    (stacks / "Pulumi.bench.yaml").write_text(
        "config:\n  mlplan:endpoints: [stacks/endpoints]\n" + stack_config)
    return stacks


def program_in_child(script: Path, size: int) -> tuple[float, str, float]:
    """Run ``script --one SIZE`` (``program_scale.py``) in its own process, which prints
    ``seconds registrations``: returns (seconds, registrations, peak RSS in MiB of the child)."""
    child = subprocess.Popen([sys.executable, str(script), "--one", str(size)],
                             stdout=subprocess.PIPE, text=True)
    _pid, status, usage = os.wait4(child.pid, 0)
    assert child.stdout is not None
    output = child.stdout.read().split()
    if os.waitstatus_to_exitcode(status) != 0 or len(output) != 2:
        raise SystemExit(f"{size} endpoints: the program failed")
    return float(output[0]), output[1], usage.ru_maxrss / 1024

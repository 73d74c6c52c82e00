"""The project skeleton both benchmarks generate: Pulumi.yaml, a model, a scoring script and
the ``bench`` stack file; each benchmark adds its own endpoint files under stacks/endpoints."""

from __future__ import annotations

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

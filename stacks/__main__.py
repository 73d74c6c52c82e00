"""mlplan's Pulumi program: everything lives in components.targets.program (kept thin here)."""

from components.targets.program import run

run()

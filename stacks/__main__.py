"""mlplan's Pulumi program: everything lives in mlplan.edge.program (kept thin here)."""

from mlplan.edge.program import run

run()

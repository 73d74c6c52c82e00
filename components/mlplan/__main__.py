"""``python -m mlplan``: the command line (``mlplan.edge.cli``)."""

from mlplan.edge.cli import run

run()
